"""CUDA twins of ``cnnsim.kernels.merge``: add, multiply (dropout's mask), depth
concatenation and its backward (global average pooling: ``cuda.pool``).

    add(a, b) = a + b      multiply(a, b) = a * b       (one thread per element)
    copy_channels(dst, src, c0): dst[:, c0:c0+C_i] = src  (in place, one thread per src value)
    take_channels(src, c0, c) -> src[:, c0:c0+c]          (one thread per output value)
"""

from numba import cuda

from ._util import elementwise, empty, grid1d, nchw, to_device


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


def add(a, b):
    """``a + b`` element-wise (same shape, C-contiguous)."""
    return elementwise(_add, a, b)


def multiply(a, b):
    """``a * b`` element-wise (same shape, C-contiguous)."""
    return elementwise(_mul, a, b)


@cuda.jit
def _copy_channels(dst, src, c0):
    t = cuda.grid(1)
    if t >= src.size:
        return
    _, ci, h_, w_ = src.shape
    n, c, i, j = nchw(t, ci, h_, w_)
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
    n, k, i, j = nchw(t, c_, h_, w_)
    out[n, k, i, j] = src[n, c0 + k, i, j]


def take_channels(src, c0, c):
    """``src[:, c0:c0 + c]`` of ``src (N, C, H, W)`` as a new device array."""
    src = to_device(src)
    n_, _, h_, w_ = src.shape
    out = empty((n_, c, h_, w_), src.dtype)
    if out.size:
        _take_channels[grid1d(out.size)](src, c0, out)
    return out
