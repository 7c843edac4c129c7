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
