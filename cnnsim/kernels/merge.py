"""Kernels that join maps: element-wise add and multiply, depth concatenation (global
average pooling lives with pooling, in ``kernels.pool``).

Arrays in, arrays out; no validation (``cnnsim.functional.merge`` validates once).

    add(a, b)            y = a + b                  (a residual unit's skip connection)
    multiply(a, b)       y = a * b                  (dropout applies its mask with it)
    copy_channels(dst, src, c0)   dst[:, c0:c0+C_i] = src       (depth concatenation)
    take_channels(src, c0, c)     src[:, c0:c0+c] as a new array (its backward)

Every output element is written by one prange iteration (sums in a fixed order), so
results do not depend on the thread count.
"""

import numpy as np
from numba import prange

from ._twins import parallel_kernel


@parallel_kernel()
def add(a, b):
    """``a + b`` element-wise (same shape, C-contiguous)."""
    fa = a.ravel()
    fb = b.ravel()
    y = np.empty_like(fa)
    for i in prange(fa.size):
        y[i] = fa[i] + fb[i]
    return y.reshape(a.shape)


@parallel_kernel()
def multiply(a, b):
    """``a * b`` element-wise (same shape, C-contiguous)."""
    fa = a.ravel()
    fb = b.ravel()
    y = np.empty_like(fa)
    for i in prange(fa.size):
        y[i] = fa[i] * fb[i]
    return y.reshape(a.shape)


@parallel_kernel()
def copy_channels(dst, src, c0):
    """Write ``src (N, C_i, H, W)`` into ``dst[:, c0:c0 + C_i]`` of ``dst (N, C, H, W)``."""
    n_, ci = src.shape[0], src.shape[1]
    for t in prange(n_ * ci):
        n = t // ci
        c = t % ci
        dst[n, c0 + c] = src[n, c]


@parallel_kernel()
def take_channels(src, c0, c):
    """``src[:, c0:c0 + c]`` of ``src (N, C, H, W)`` as a new C-contiguous array."""
    n_, _, h_, w_ = src.shape
    out = np.empty((n_, c, h_, w_), dtype=src.dtype)
    for t in prange(n_ * c):
        n = t // c
        k = t % c
        out[n, k] = src[n, c0 + k]
    return out
