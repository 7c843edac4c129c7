"""CUDA twins of ``cnnsim.kernels.merge``: add, multiply (dropout's mask), depth
concatenation and its backward, global average pooling.

    add(a, b) = a + b      multiply(a, b) = a * b       (one thread per element)
    copy_channels(dst, src, c0): dst[:, c0:c0+C_i] = src  (in place, one thread per src value)
    take_channels(src, c0, c) -> src[:, c0:c0+c]          (one thread per output value)
    global_avg_pool_forward(x) -> y[n, c] = mean of map (n, c): one block per map, a
        shared-memory tree reduction in float64 (fixed order)
    global_avg_pool_backward(dy, h, w): one thread per dx value, dy[n, c] / (H W)
"""
from numba import cuda, float64

from ._util import block_sum, empty, grid1d, per_threads, reduce_launch, threads, to_device


def _flat(a):
    return a.reshape(a.size)


@cuda.jit
def _add(a, b, y):
    i = cuda.grid(1)
    if i < y.size:
        y[i] = a[i] + b[i]


@cuda.jit
def _mul(a, b, y):
    i = cuda.grid(1)
    if i < y.size:
        y[i] = a[i] * b[i]


def _binary(kernel, a, b):
    a, b = to_device(a), to_device(b)
    y = empty(a.shape, a.dtype)
    if y.size:
        kernel[grid1d(y.size)](_flat(a), _flat(b), _flat(y))
    return y


def add(a, b):
    """``a + b`` element-wise (same shape, C-contiguous)."""
    return _binary(_add, a, b)


def multiply(a, b):
    """``a * b`` element-wise (same shape, C-contiguous)."""
    return _binary(_mul, a, b)


@cuda.jit
def _copy_channels(dst, src, c0):
    t = cuda.grid(1)
    if t >= src.size:
        return
    _, ci, h_, w_ = src.shape
    j = t % w_
    q = t // w_
    i = q % h_
    q //= h_
    c = q % ci
    n = q // ci
    dst[n, c0 + c, i, j] = src[n, c, i, j]


def copy_channels(dst, src, c0):
    """Write ``src (N, C_i, H, W)`` into ``dst[:, c0:c0 + C_i]`` of ``dst`` (a device array)."""
    src = to_device(src)
    if src.size:
        _copy_channels[grid1d(src.size)](dst, src, c0)


@cuda.jit
def _take_channels(src, c0, out):
    t = cuda.grid(1)
    if t >= out.size:
        return
    _, c_, h_, w_ = out.shape
    j = t % w_
    q = t // w_
    i = q % h_
    q //= h_
    k = q % c_
    n = q // c_
    out[n, k, i, j] = src[n, c0 + k, i, j]


def take_channels(src, c0, c):
    """``src[:, c0:c0 + c]`` of ``src (N, C, H, W)`` as a new device array."""
    src = to_device(src)
    n_, _, h_, w_ = src.shape
    out = empty((n_, c, h_, w_), src.dtype)
    if out.size:
        _take_channels[grid1d(out.size)](src, c0, out)
    return out


@per_threads
def _gap_kernel(nt):
    @cuda.jit
    def gap(x, y):
        sm = cuda.shared.array(nt, float64)
        t = cuda.threadIdx.x
        b = cuda.blockIdx.x                  # one block per map (n, c)
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
