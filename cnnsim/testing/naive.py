"""Slow, obviously-correct references, written independently of the kernels.

Plain Python loops over NumPy scalars, straight from the lecture's formulas.
Use them only on small shapes. Homework may compare against them too.
"""
import numpy as np


def _pad_amounts_1d(n, f, s, padding):
    # Written again on purpose (not imported from cnnsim.geometry): an independent check.
    if padding == "valid":
        return 0, 0
    if padding == "same":
        out = (n + s - 1) // s
        total = max((out - 1) * s + f - n, 0)
        return total // 2, total - total // 2
    raise ValueError(padding)


def pads(h, w, fh, fw, sh, sw, padding):
    """(top, bottom, left, right) from any padding form."""
    if isinstance(padding, str):
        t, b = _pad_amounts_1d(h, fh, sh, padding)
        l, r = _pad_amounts_1d(w, fw, sw, padding)
        return t, b, l, r
    if isinstance(padding, int):
        return padding, padding, padding, padding
    if len(padding) == 2:
        return padding[0], padding[0], padding[1], padding[1]
    return tuple(padding)


def conv2d(x, w, b=None, stride=1, padding="valid", connections=None):
    """y[n,f,i,j] = b[f] + sum_c sum_u sum_v w[f,c,u,v] * x_padded[n,c,i*sh+u,j*sw+v]."""
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    n_, c_, h, wd = x.shape
    f_, _, fh, fw = w.shape
    t, bo, l, r = pads(h, wd, fh, fw, sh, sw, padding)
    ho = (h + t + bo - fh) // sh + 1
    wo = (wd + l + r - fw) // sw + 1
    y = np.zeros((n_, f_, ho, wo), dtype=np.float64)
    for n in range(n_):
        for f in range(f_):
            for i in range(ho):
                for j in range(wo):
                    s = 0.0 if b is None else float(b[f])
                    for c in range(c_):
                        if connections is not None and not connections[f][c]:
                            continue
                        for u in range(fh):
                            for v in range(fw):
                                row = i * sh + u - t   # position in the unpadded input
                                col = j * sw + v - l
                                if 0 <= row < h and 0 <= col < wd:  # else: zero padding
                                    s += float(w[f, c, u, v]) * float(x[n, c, row, col])
                    y[n, f, i, j] = s
    return y.astype(x.dtype)


def conv2d_backward(dy, x, w, stride=1, padding="valid", connections=None):
    """Backward by the chain rule, one product at a time: (dx, dw, db)."""
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    n_, c_, h, wd = x.shape
    f_, _, fh, fw = w.shape
    t, bo, l, r = pads(h, wd, fh, fw, sh, sw, padding)
    _, _, ho, wo = dy.shape
    dx = np.zeros(x.shape, dtype=np.float64)
    dw = np.zeros(w.shape, dtype=np.float64)
    db = np.zeros(f_, dtype=np.float64)
    for n in range(n_):
        for f in range(f_):
            for i in range(ho):
                for j in range(wo):
                    g = float(dy[n, f, i, j])
                    db[f] += g
                    for c in range(c_):
                        if connections is not None and not connections[f][c]:
                            continue
                        for u in range(fh):
                            for v in range(fw):
                                row, col = i * sh + u - t, j * sw + v - l
                                if 0 <= row < h and 0 <= col < wd:
                                    dx[n, c, row, col] += g * float(w[f, c, u, v])
                                    dw[f, c, u, v] += g * float(x[n, c, row, col])
    return dx.astype(x.dtype), dw.astype(x.dtype), db.astype(x.dtype)


# ---- pooling -------------------------------------------------------------------------
# A window's cells in row-major order; padded cells are simply not part of the window.

def _pool_geometry(x, size, stride, padding):
    kh, kw = (size, size) if isinstance(size, int) else tuple(size)
    if stride is None:
        stride = (kh, kw)
    sh, sw = (stride, stride) if isinstance(stride, int) else tuple(stride)
    h, w = x.shape[2], x.shape[3]
    t, b, l, r = pads(h, w, kh, kw, sh, sw, padding)
    ho = (h + t + b - kh) // sh + 1
    wo = (w + l + r - kw) // sw + 1
    return kh, kw, sh, sw, t, l, ho, wo


def _real_cells(i, j, kh, kw, sh, sw, t, l, h, w):
    """Input positions (row, col) of window (i, j) that lie inside the input, row-major."""
    cells = []
    for u in range(kh):
        for v in range(kw):
            row, col = i * sh + u - t, j * sw + v - l
            if 0 <= row < h and 0 <= col < w:
                cells.append((row, col))
    return cells


def _max_winner(plane, cells):
    """First maximal cell in row-major order (None if the window is all padding)."""
    winner = None
    for row, col in cells:
        if winner is None or plane[row, col] > plane[winner]:
            winner = (row, col)
    return winner


def max_pool2d(x, size=2, stride=None, padding="valid"):
    """y = max over the real (non-padded) cells of each window; 0 for an all-padding one."""
    kh, kw, sh, sw, t, l, ho, wo = _pool_geometry(x, size, stride, padding)
    n_, c_, h, w = x.shape
    y = np.zeros((n_, c_, ho, wo), dtype=x.dtype)
    for n in range(n_):
        for c in range(c_):
            for i in range(ho):
                for j in range(wo):
                    win = _max_winner(x[n, c], _real_cells(i, j, kh, kw, sh, sw, t, l, h, w))
                    if win is not None:
                        y[n, c, i, j] = x[n, c][win]
    return y


def max_pool2d_backward(dy, x, size=2, stride=None, padding="valid"):
    """dx[winner of window (i, j)] += dy[i, j]; the winner is the first maximum."""
    kh, kw, sh, sw, t, l, ho, wo = _pool_geometry(x, size, stride, padding)
    n_, c_, h, w = x.shape
    dx = np.zeros(x.shape, dtype=np.float64)
    for n in range(n_):
        for c in range(c_):
            for i in range(ho):
                for j in range(wo):
                    win = _max_winner(x[n, c], _real_cells(i, j, kh, kw, sh, sw, t, l, h, w))
                    if win is not None:
                        dx[n, c][win] += float(dy[n, c, i, j])
    return dx.astype(x.dtype)


def avg_pool2d(x, size=2, stride=None, padding="valid"):
    """y = sum of the real cells / number of real cells (padding is not counted)."""
    kh, kw, sh, sw, t, l, ho, wo = _pool_geometry(x, size, stride, padding)
    n_, c_, h, w = x.shape
    y = np.zeros((n_, c_, ho, wo), dtype=np.float64)
    for n in range(n_):
        for c in range(c_):
            for i in range(ho):
                for j in range(wo):
                    cells = _real_cells(i, j, kh, kw, sh, sw, t, l, h, w)
                    if cells:
                        y[n, c, i, j] = sum(float(x[n, c, r, q]) for r, q in cells) / len(cells)
    return y.astype(x.dtype)


def avg_pool2d_backward(dy, x, size=2, stride=None, padding="valid"):
    """Each real cell of window (i, j) gets dy[i, j] / (number of real cells)."""
    kh, kw, sh, sw, t, l, ho, wo = _pool_geometry(x, size, stride, padding)
    n_, c_, h, w = x.shape
    dx = np.zeros(x.shape, dtype=np.float64)
    for n in range(n_):
        for c in range(c_):
            for i in range(ho):
                for j in range(wo):
                    cells = _real_cells(i, j, kh, kw, sh, sw, t, l, h, w)
                    for r, q in cells:
                        dx[n, c, r, q] += float(dy[n, c, i, j]) / len(cells)
    return dx.astype(x.dtype)


# ---- local response normalization ----------------------------------------------------

def _lrn_base(x, n, i, row, col, r, k, alpha):
    """s_i = k + alpha * sum_{j=max(0, i - r//2)}^{min(i + r//2, f_n - 1)} a_j^2."""
    f_n = x.shape[1]
    total = 0.0
    for j in range(max(0, i - r // 2), min(i + r // 2, f_n - 1) + 1):
        total += float(x[n, j, row, col]) ** 2
    return k + alpha * total


def lrn(x, r=5, k=2.0, alpha=1e-4, beta=0.75):
    """b_i = a_i (k + alpha * sum_{j=max(0,i-r//2)}^{min(i+r//2, f_n-1)} a_j^2)^(-beta)."""
    n_, c_, h, w = x.shape
    y = np.zeros(x.shape, dtype=np.float64)
    for n in range(n_):
        for i in range(c_):
            for row in range(h):
                for col in range(w):
                    s = _lrn_base(x, n, i, row, col, r, k, alpha)
                    y[n, i, row, col] = float(x[n, i, row, col]) * s ** (-beta)
    return y.astype(x.dtype)


def lrn_backward(dy, x, r=5, k=2.0, alpha=1e-4, beta=0.75):
    """Chain rule term by term: b_i depends on a_i directly and on every a_j of its window.

    db_i/da_j = [i == j] s_i^-beta - 2 alpha beta a_i a_j s_i^(-beta-1)  (j in window(i)).
    """
    n_, c_, h, w = x.shape
    dx = np.zeros(x.shape, dtype=np.float64)
    for n in range(n_):
        for row in range(h):
            for col in range(w):
                for i in range(c_):
                    a_i = float(x[n, i, row, col])
                    g = float(dy[n, i, row, col])
                    s = _lrn_base(x, n, i, row, col, r, k, alpha)
                    dx[n, i, row, col] += g * s ** (-beta)
                    for j in range(max(0, i - r // 2), min(i + r // 2, c_ - 1) + 1):
                        a_j = float(x[n, j, row, col])
                        dx[n, j, row, col] -= g * 2 * alpha * beta * a_i * a_j * s ** (-beta - 1)
    return dx.astype(x.dtype)
