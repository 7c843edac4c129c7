"""CUDA twins of ``cnnsim.kernels.pool``: max and average pooling, forward and backward.

Same rules as the CPU kernels (see that module): only real cells of a window take part;
max ties go to the FIRST maximal cell in row-major order (with ``nan_aware``, which
the functional API passes when ``x`` holds a NaN, a NaN wins); an all-padding
window outputs 0, has argmax -1 and passes no gradient; avg divides by the real-cell count.

Launches: one thread per output element for the forwards (with or without the argmax); one thread per
*input* element for the backwards, which gathers from every window containing its cell
(windows in increasing ``(i, j)``, the CPU order) instead of scattering, so overlapping
windows (AlexNet's 3x3/2) need no atomics and the sums are deterministic.

    global_avg_pool_forward(x) -> y[n, c] = mean of map (n, c): one block per map, a
        shared-memory tree reduction in float64 (fixed order)
    global_avg_pool_backward(dy, h, w): one thread per dx value, dy[n, c] / (H W)
"""

from numba import cuda, float64

from ._util import (
    block_sum,
    empty,
    grid1d,
    nchw,
    per_threads,
    reduce_launch,
    threads,
    to_device,
    zero_of,
)


@cuda.jit(device=True)
def _span(o, s, p, k, n):
    start = o * s - p
    lo = 0 if start >= 0 else -start
    hi = k if start + k <= n else n - start
    return start, lo, hi


@cuda.jit(device=True)
def _better(v, best, nan_aware):
    # strict > keeps the first maximum; with nan_aware a NaN beats all but an earlier NaN
    return v > best or (nan_aware and v != v and best == best)


@cuda.jit(device=True)
def _winner(x, n, c, i, j, kh, kw, sh, sw, top, left, nan_aware):
    """(row, col) of the winning cell of window (i, j), or (-1, -1) for all padding."""
    h, w = x.shape[2], x.shape[3]
    r0, u0, u1 = _span(i, sh, top, kh, h)
    c0, v0, v1 = _span(j, sw, left, kw, w)
    if u0 >= u1 or v0 >= v1:
        return -1, -1
    best = x[n, c, r0 + u0, c0 + v0]
    br = r0 + u0
    bc = c0 + v0
    for u in range(u0, u1):
        for v in range(v0, v1):
            val = x[n, c, r0 + u, c0 + v]
            if _better(val, best, nan_aware):
                best = val
                br = r0 + u
                bc = c0 + v
    return br, bc


@cuda.jit(device=True)
def _windows(p, s, pad, k, nout):
    """Output indices ``[lo, hi)`` whose window covers input index ``p``."""
    a = p + pad - k + 1
    lo = 0 if a <= 0 else (a + s - 1) // s
    hi = (p + pad) // s + 1
    if hi > nout:
        hi = nout
    return lo, hi


@cuda.jit
def _max_forward(x, kh, kw, sh, sw, top, left, nan_aware, y):
    t = cuda.grid(1)
    if t >= y.size:
        return
    n, c, i, j = nchw(t, y.shape[1], y.shape[2], y.shape[3])
    br, bc = _winner(x, n, c, i, j, kh, kw, sh, sw, top, left, nan_aware)
    if br < 0:
        y[n, c, i, j] = 0
    else:
        y[n, c, i, j] = x[n, c, br, bc]


@cuda.jit
def _max_backward(dy, x, kh, kw, sh, sw, top, left, nan_aware, zero, dx):
    t = cuda.grid(1)
    if t >= dx.size:
        return
    n, c, r, q = nchw(t, dx.shape[1], dx.shape[2], dx.shape[3])
    i0, i1 = _windows(r, sh, top, kh, dy.shape[2])
    j0, j1 = _windows(q, sw, left, kw, dy.shape[3])
    acc = zero
    for i in range(i0, i1):
        for j in range(j0, j1):
            br, bc = _winner(x, n, c, i, j, kh, kw, sh, sw, top, left, nan_aware)
            if br == r and bc == q:
                acc += dy[n, c, i, j]
    dx[n, c, r, q] = acc


@cuda.jit
def _max_forward_argmax(x, kh, kw, sh, sw, top, left, nan_aware, y, idx):
    t = cuda.grid(1)
    if t >= y.size:
        return
    n, c, i, j = nchw(t, y.shape[1], y.shape[2], y.shape[3])
    br, bc = _winner(x, n, c, i, j, kh, kw, sh, sw, top, left, nan_aware)
    if br < 0:
        y[n, c, i, j] = 0
        idx[n, c, i, j] = -1
    else:
        y[n, c, i, j] = x[n, c, br, bc]
        idx[n, c, i, j] = br * x.shape[3] + bc


@cuda.jit
def _max_backward_argmax(dy, idx, kh, kw, sh, sw, top, left, zero, dx):
    t = cuda.grid(1)
    if t >= dx.size:
        return
    n, c, r, q = nchw(t, dx.shape[1], dx.shape[2], dx.shape[3])
    i0, i1 = _windows(r, sh, top, kh, dy.shape[2])
    j0, j1 = _windows(q, sw, left, kw, dy.shape[3])
    cell = r * dx.shape[3] + q
    acc = zero
    for i in range(i0, i1):
        for j in range(j0, j1):
            if idx[n, c, i, j] == cell:
                acc += dy[n, c, i, j]
    dx[n, c, r, q] = acc


@cuda.jit
def _avg_forward(x, kh, kw, sh, sw, top, left, zero, y):
    t = cuda.grid(1)
    if t >= y.size:
        return
    n, c, i, j = nchw(t, y.shape[1], y.shape[2], y.shape[3])
    h, w = x.shape[2], x.shape[3]
    r0, u0, u1 = _span(i, sh, top, kh, h)
    c0, v0, v1 = _span(j, sw, left, kw, w)
    if u0 >= u1 or v0 >= v1:
        y[n, c, i, j] = 0
        return
    s = zero
    for u in range(u0, u1):
        for v in range(v0, v1):
            s += x[n, c, r0 + u, c0 + v]
    y[n, c, i, j] = s / ((u1 - u0) * (v1 - v0))


@cuda.jit
def _avg_backward(dy, kh, kw, sh, sw, top, left, zero, dx):
    t = cuda.grid(1)
    if t >= dx.size:
        return
    n, c, r, q = nchw(t, dx.shape[1], dx.shape[2], dx.shape[3])
    h, w = dx.shape[2], dx.shape[3]
    i0, i1 = _windows(r, sh, top, kh, dy.shape[2])
    j0, j1 = _windows(q, sw, left, kw, dy.shape[3])
    acc = zero
    for i in range(i0, i1):
        _, u0, u1 = _span(i, sh, top, kh, h)
        for j in range(j0, j1):
            _, v0, v1 = _span(j, sw, left, kw, w)
            acc += dy[n, c, i, j] / ((u1 - u0) * (v1 - v0))
    dx[n, c, r, q] = acc


def _out(x, kh, kw, sh, sw, top, bottom, left, right):
    n_, c_, h, w = x.shape
    return n_, c_, (h + top + bottom - kh) // sh + 1, (w + left + right - kw) // sw + 1


def max_pool2d_forward(x, kh, kw, sh, sw, top, bottom, left, right, nan_aware=False):
    """``y (N, C, H_out, W_out)``: the max over the real cells of each window."""
    x = to_device(x)
    y = empty(_out(x, kh, kw, sh, sw, top, bottom, left, right), x.dtype)
    if y.size:
        _max_forward[grid1d(y.size)](x, kh, kw, sh, sw, top, left, bool(nan_aware), y)
    return y


def max_pool2d_backward(dy, x, kh, kw, sh, sw, top, bottom, left, right, nan_aware=False):
    """``dx (N, C, H, W)``: each ``dy[n, c, i, j]`` goes to its window's winner only."""
    dy, x = to_device(dy), to_device(x)
    dx = empty(x.shape, dy.dtype)
    if dx.size:
        _max_backward[grid1d(dx.size)](
            dy, x, kh, kw, sh, sw, top, left, bool(nan_aware), zero_of(dy), dx
        )
    return dx


def max_pool2d_forward_argmax(x, kh, kw, sh, sw, top, bottom, left, right, nan_aware=False):
    """``(y, idx)`` from one pass: the max and the flat index of its cell."""
    import numpy as np

    x = to_device(x)
    shape = _out(x, kh, kw, sh, sw, top, bottom, left, right)
    y = empty(shape, x.dtype)
    idx = empty(shape, np.int64)
    if y.size:
        _max_forward_argmax[grid1d(y.size)](x, kh, kw, sh, sw, top, left, bool(nan_aware), y, idx)
    return y, idx


def max_pool2d_backward_argmax(dy, idx, in_h, in_w, kh, kw, sh, sw, top, bottom, left, right):
    """``dx (N, C, H, W)`` from the forward's winners ``idx``: each input cell gathers the
    ``dy`` of the windows (increasing ``(i, j)``) whose winner it is."""
    dy, idx = to_device(dy), to_device(idx)
    dx = empty((dy.shape[0], dy.shape[1], in_h, in_w), dy.dtype)
    if dx.size:
        _max_backward_argmax[grid1d(dx.size)](dy, idx, kh, kw, sh, sw, top, left, zero_of(dy), dx)
    return dx


def avg_pool2d_forward(x, kh, kw, sh, sw, top, bottom, left, right):
    """``y (N, C, H_out, W_out)``: the mean of the real cells of each window."""
    x = to_device(x)
    y = empty(_out(x, kh, kw, sh, sw, top, bottom, left, right), x.dtype)
    if y.size:
        _avg_forward[grid1d(y.size)](x, kh, kw, sh, sw, top, left, zero_of(x), y)
    return y


def avg_pool2d_backward(dy, in_h, in_w, kh, kw, sh, sw, top, bottom, left, right):
    """``dx (N, C, H, W)``: each real cell of a window receives ``dy / count``."""
    dy = to_device(dy)
    dx = empty((dy.shape[0], dy.shape[1], in_h, in_w), dy.dtype)
    if dx.size:
        _avg_backward[grid1d(dx.size)](dy, kh, kw, sh, sw, top, left, zero_of(dy), dx)
    return dx


# ---- global average pooling ------------------------------------------------------------
@per_threads
def _gap_kernel(nt):
    @cuda.jit
    def gap(x, y):
        sm = cuda.shared.array(nt, float64)
        t = cuda.threadIdx.x
        b = cuda.blockIdx.x  # one block per map (n, c)
        c_, h_, w_ = x.shape[1], x.shape[2], x.shape[3]
        n = b // c_
        c = b % c_
        m = h_ * w_
        s = 0.0
        k = t
        while k < m:
            s += x[n, c, k // w_, k % w_]
            k += nt
        sm[t] = s
        s = block_sum(sm, t, nt)
        if t == 0:
            y[n, c] = s * (1.0 / m)

    return gap


def global_avg_pool_forward(x):
    """``y (N, C)``: the mean of each map of ``x (N, C, H, W)``."""
    x = to_device(x)
    n_, c_ = x.shape[0], x.shape[1]
    y = empty((n_, c_), x.dtype)
    if n_ * c_:
        _gap_kernel(threads())[reduce_launch(n_ * c_)](x, y)
    return y


@cuda.jit
def _gap_backward(dy, inv, dx):
    t = cuda.grid(1)
    if t >= dx.size:
        return
    _, c_, h_, w_ = dx.shape
    q = t // (h_ * w_)
    dx[q // c_, q % c_, (t // w_) % h_, t % w_] = dy[q // c_, q % c_] * inv


def global_avg_pool_backward(dy, h, w):
    """``dx (N, C, H, W)``: each input of a map gets ``dy[n, c] / (H W)``."""
    dy = to_device(dy)
    dx = empty((dy.shape[0], dy.shape[1], h, w), dy.dtype)
    if dx.size:
        _gap_backward[grid1d(dx.size)](dy, 1.0 / (h * w), dx)
    return dx
