"""Slow, obviously-correct references, written independently of the kernels.

Plain Python loops over NumPy scalars, straight from the lecture's formulas.
Use them only on small shapes. Homework may compare against them too.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ..typing import Array, Padding, Size


def _pad_amounts_1d(n, f, s, padding):
    # Written again on purpose (not imported from cnnsim.geometry): an independent check.
    if padding == "valid":
        return 0, 0
    if padding == "same":
        out = (n + s - 1) // s
        total = max((out - 1) * s + f - n, 0)
        return total // 2, total - total // 2
    raise ValueError(padding)


def pads(
    h: int, w: int, fh: int, fw: int, sh: int, sw: int, padding: Padding
) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) from any padding form."""
    if isinstance(padding, str):
        t, b = _pad_amounts_1d(h, fh, sh, padding)
        l, r = _pad_amounts_1d(w, fw, sw, padding)
        return t, b, l, r
    if isinstance(padding, int):
        return padding, padding, padding, padding
    if len(padding) == 2:
        return padding[0], padding[0], padding[1], padding[1]
    t, b, l, r = padding
    return t, b, l, r


def conv2d(
    x: Array,
    w: Array,
    b: Optional[Array] = None,
    stride: Size = 1,
    padding: Padding = "valid",
    connections: Optional[Array] = None,
) -> Array:
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
                                row = i * sh + u - t  # position in the unpadded input
                                col = j * sw + v - l
                                if 0 <= row < h and 0 <= col < wd:  # else: zero padding
                                    s += float(w[f, c, u, v]) * float(x[n, c, row, col])
                    y[n, f, i, j] = s
    return y.astype(x.dtype)


def conv2d_backward(
    dy: Array,
    x: Array,
    w: Array,
    stride: Size = 1,
    padding: Padding = "valid",
    connections: Optional[Array] = None,
) -> tuple[Array, Array, Array]:
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


def max_pool2d(
    x: Array, size: Size = 2, stride: Optional[Size] = None, padding: Padding = "valid"
) -> Array:
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


def max_pool2d_backward(
    dy: Array, x: Array, size: Size = 2, stride: Optional[Size] = None, padding: Padding = "valid"
) -> Array:
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


def avg_pool2d(
    x: Array, size: Size = 2, stride: Optional[Size] = None, padding: Padding = "valid"
) -> Array:
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


def avg_pool2d_backward(
    dy: Array, x: Array, size: Size = 2, stride: Optional[Size] = None, padding: Padding = "valid"
) -> Array:
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
        v = float(x[n, j, row, col])
        total += v * v  # not v ** 2: Python's ** raises OverflowError, * gives inf
    return k + alpha * total


def lrn(x: Array, r: int = 5, k: float = 2.0, alpha: float = 1e-4, beta: float = 0.75) -> Array:
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


def lrn_backward(
    dy: Array, x: Array, r: int = 5, k: float = 2.0, alpha: float = 1e-4, beta: float = 0.75
) -> Array:
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
                        # a_i s^(-beta) / s * a_j: the same product, in an order whose
                        # intermediates never overflow (a_i * a_j = inf at 1e200 would
                        # make inf * 0 = NaN where the true value is 0)
                        dx[n, j, row, col] -= g * 2 * alpha * beta * (a_i * s ** (-beta)) / s * a_j
    return dx.astype(x.dtype)


# ---- dense, activations, losses, batch norm, merge (plain loops, float64) -------------

import math as _math  # noqa: E402  (kept beside the plain loops that use it)


def dense(x: Array, w: Array, b: Optional[Array] = None) -> Array:
    """y[n, j] = b[j] + sum_k x[n, k] w[k, j], one product at a time."""
    n_, d_in = x.shape
    d_out = w.shape[1]
    y = np.zeros((n_, d_out), dtype=np.float64)
    for n in range(n_):
        for j in range(d_out):
            s = 0.0 if b is None else float(b[j])
            for k in range(d_in):
                s += float(x[n, k]) * float(w[k, j])
            y[n, j] = s
    return y.astype(x.dtype)


def dense_backward(dy: Array, x: Array, w: Array) -> tuple[Array, Array, Array]:
    """(dx, dw, db) by the chain rule: each product x[n,k] w[k,j] feeds y[n,j]."""
    n_, d_in = x.shape
    d_out = w.shape[1]
    dx = np.zeros(x.shape, dtype=np.float64)
    dw = np.zeros(w.shape, dtype=np.float64)
    db = np.zeros(d_out, dtype=np.float64)
    for n in range(n_):
        for j in range(d_out):
            g = float(dy[n, j])
            db[j] += g
            for k in range(d_in):
                dx[n, k] += g * float(w[k, j])
                dw[k, j] += g * float(x[n, k])
    return dx.astype(x.dtype), dw.astype(x.dtype), db.astype(x.dtype)


def _elementwise(f, *arrays):
    out = np.zeros(arrays[0].shape, dtype=np.float64)
    for pos in np.ndindex(arrays[0].shape):
        out[pos] = f(*(float(a[pos]) for a in arrays))
    return out.astype(arrays[0].dtype)


def _sigmoid1(v):
    # 1/(1+e^-v) written both ways so exp never sees a large positive number
    return 1.0 / (1.0 + _math.exp(-v)) if v >= 0 else _math.exp(v) / (1.0 + _math.exp(v))


def activation(name: str, x: Array) -> Array:
    """The lecture's activation functions, one scalar at a time."""
    f = {
        "linear": lambda v: v,
        "relu": lambda v: v if v > 0 or v != v else 0.0,  # NaN stays NaN (max(NaN, 0))
        "sigmoid": _sigmoid1,
        "tanh": _math.tanh,
        "scaled_tanh": lambda v: 1.7159 * _math.tanh(2.0 * v / 3.0),
    }
    if name == "softmax":
        return softmax(x)
    return _elementwise(f[name], x)


def activation_backward(name: str, dy: Array, x: Array) -> Array:
    """dx = dy * f'(x), with f' written from the pre-activation x (softmax: full Jacobian)."""
    d = {
        "linear": lambda g, v: g,
        "relu": lambda g, v: g if v > 0 else 0.0,
        "sigmoid": lambda g, v: g * _sigmoid1(v) * (1.0 - _sigmoid1(v)),
        "tanh": lambda g, v: g * (1.0 - _math.tanh(v) ** 2),
        "scaled_tanh": lambda g, v: g * 1.7159 * (2.0 / 3.0) / _math.cosh(2.0 * v / 3.0) ** 2,
    }
    if name == "softmax":
        y = softmax(x).astype(np.float64)
        n_, k_ = y.shape
        dx = np.zeros((n_, k_))
        for n in range(n_):
            for i in range(k_):  # dx_i = sum_j dy_j dy_j/dx_i, J_ji = y_j (delta_ij - y_i)
                for j in range(k_):
                    jac = y[n, j] * ((1.0 if i == j else 0.0) - y[n, i])
                    dx[n, i] += float(dy[n, j]) * jac
        return dx.astype(x.dtype)
    return _elementwise(d[name], dy, x)


def softmax(x: Array) -> Array:
    """Row-wise softmax of x (N, K) (row max subtracted: exp never overflows)."""
    n_, k_ = x.shape
    y = np.zeros((n_, k_), dtype=np.float64)
    for n in range(n_):
        m = max(float(v) for v in x[n])
        e = [_math.exp(float(v) - m) for v in x[n]]
        s = sum(e)
        for k in range(k_):
            y[n, k] = e[k] / s
    return y.astype(x.dtype)


def softmax_cross_entropy(logits: Array, labels: Array) -> tuple[float, Array]:
    """(mean_n -log softmax(z_n)[label_n], probs), log-softmax via log-sum-exp."""
    n_, k_ = logits.shape
    total = 0.0
    for n in range(n_):
        z = [float(v) for v in logits[n]]
        m = max(z)
        lse = m + _math.log(sum(_math.exp(v - m) for v in z))
        total += lse - z[int(labels[n])]
    return total / n_, softmax(logits)


def softmax_cross_entropy_backward(probs: Array, labels: Array) -> Array:
    """(probs - onehot) / N."""
    n_, k_ = probs.shape
    d = np.zeros((n_, k_), dtype=np.float64)
    for n in range(n_):
        for k in range(k_):
            d[n, k] = (float(probs[n, k]) - (1.0 if k == int(labels[n]) else 0.0)) / n_
    return d.astype(probs.dtype)


def _channel_values(x, c):
    """All values of channel c of x (N, C, H, W) or feature c of x (N, D), in a list."""
    x4 = x.reshape(x.shape[0], x.shape[1], -1)
    return [float(x4[n, c, p]) for n in range(x4.shape[0]) for p in range(x4.shape[2])]


def batch_norm(
    x: Array,
    gamma: Array,
    beta: Array,
    mean: Optional[Array] = None,
    var: Optional[Array] = None,
    eps: float = 1e-5,
) -> tuple[Array, Array, Array]:
    """Per-channel normalization. mean/var None: batch statistics (biased variance).

    Returns (y, batch_mean, batch_var_biased) -- the statistics actually used."""
    x4 = x.reshape(x.shape[0], x.shape[1], -1).astype(np.float64)
    y = np.zeros_like(x4)
    mus, vs = np.zeros(x.shape[1]), np.zeros(x.shape[1])
    for c in range(x.shape[1]):
        vals = _channel_values(x, c)
        mu = sum(vals) / len(vals) if mean is None else float(mean[c])
        v = sum((t - mu) ** 2 for t in vals) / len(vals) if var is None else float(var[c])
        mus[c], vs[c] = mu, v
        for n in range(x4.shape[0]):
            for p in range(x4.shape[2]):
                y[n, c, p] = float(gamma[c]) * (x4[n, c, p] - mu) / _math.sqrt(v + eps) + float(
                    beta[c]
                )
    return y.reshape(x.shape).astype(x.dtype), mus, vs


def batch_norm_backward(
    dy: Array,
    x: Array,
    gamma: Array,
    mean: Optional[Array] = None,
    var: Optional[Array] = None,
    eps: float = 1e-5,
) -> tuple[Array, Array, Array]:
    """(dx, dgamma, dbeta) by backprop through the graph step by step (Ioffe & Szegedy,
    sec. 3): x_hat -> var -> mean, in training mode (mean/var None), else with fixed stats."""
    x4 = x.reshape(x.shape[0], x.shape[1], -1).astype(np.float64)
    g4 = dy.reshape(x4.shape).astype(np.float64)
    n_, c_, p_ = x4.shape
    m = n_ * p_
    dx = np.zeros_like(x4)
    dgamma, dbeta = np.zeros(c_), np.zeros(c_)
    for c in range(c_):
        vals = _channel_values(x, c)
        train = mean is None
        mu = sum(vals) / m if mean is None else float(mean[c])
        v = sum((t - mu) ** 2 for t in vals) / m if train or var is None else float(var[c])
        s = _math.sqrt(v + eps)
        dxhat = np.zeros((n_, p_))
        for n in range(n_):
            for p in range(p_):
                xh = (x4[n, c, p] - mu) / s
                dgamma[c] += g4[n, c, p] * xh
                dbeta[c] += g4[n, c, p]
                dxhat[n, p] = g4[n, c, p] * float(gamma[c])
        if not train:
            dx[:, c, :] = dxhat / s
            continue
        dvar = sum(
            dxhat[n, p] * (x4[n, c, p] - mu) * -0.5 * (v + eps) ** -1.5
            for n in range(n_)
            for p in range(p_)
        )
        dmu = (
            sum(-dxhat[n, p] / s for n in range(n_) for p in range(p_))
            + dvar * sum(-2.0 * (x4[n, c, p] - mu) for n in range(n_) for p in range(p_)) / m
        )
        for n in range(n_):
            for p in range(p_):
                dx[n, c, p] = dxhat[n, p] / s + dvar * 2.0 * (x4[n, c, p] - mu) / m + dmu / m
    return dx.reshape(x.shape).astype(x.dtype), dgamma.astype(x.dtype), dbeta.astype(x.dtype)


def add(a: Array, b: Array) -> Array:
    return _elementwise(lambda u, v: u + v, a, b)


def depth_concat(xs: Sequence[Array]) -> Array:
    """Stack branch maps along channels, one value at a time."""
    n_, _, h, w = xs[0].shape
    y = np.zeros((n_, sum(x.shape[1] for x in xs), h, w), dtype=xs[0].dtype)
    c0 = 0
    for x in xs:
        for n in range(n_):
            for c in range(x.shape[1]):
                for i in range(h):
                    for j in range(w):
                        y[n, c0 + c, i, j] = x[n, c, i, j]
        c0 += x.shape[1]
    return y


def global_avg_pool(x: Array) -> Array:
    """y[n, c] = mean of map (n, c)."""
    n_, c_, h, w = x.shape
    y = np.zeros((n_, c_), dtype=np.float64)
    for n in range(n_):
        for c in range(c_):
            y[n, c] = sum(float(x[n, c, i, j]) for i in range(h) for j in range(w)) / (h * w)
    return y.astype(x.dtype)
