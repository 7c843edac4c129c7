"""CUDA twins of ``cnnsim.kernels.lrn``: local response normalization across maps.

With ``h = r // 2`` and, at each pixel, ``s_i = k + alpha sum_{j=max(0,i-h)}^{min(i+h,C-1)} a_j^2``:

    b_i  = a_i s_i^(-beta)                                             (the lecture's formula)
    dx_j = dy_j s_j^(-beta) - 2 alpha beta a_j sum_{i in window(j)} dy_i a_i s_i^(-beta-1)

Launch: one thread per element ``(n, c, h, w)``; the thread sums its own window directly
(``O(r)`` forward, ``O(r^2)`` backward: small for AlexNet's r = 5) in float64, instead of
the CPU kernel's running sum, which needs a per-thread buffer of C values. Adjacent threads
read adjacent columns, so loads coalesce. Results agree with the CPU to float tolerance.
"""

import math

from numba import cuda

from ._util import empty, grid1d, nchw, to_device


@cuda.jit(device=True)
def _base(x, n, i, row, q, hw, k, alpha):
    """``s_i`` at pixel (row, q) of image n, in float64."""
    c_ = x.shape[1]
    lo = i - hw if i - hw > 0 else 0
    hi = i + hw if i + hw < c_ - 1 else c_ - 1
    acc = 0.0
    for j in range(lo, hi + 1):
        v = float(x[n, j, row, q])
        acc += v * v
    return k + alpha * acc


@cuda.jit
def _forward(x, r, k, alpha, beta, y):
    t = cuda.grid(1)
    if t >= y.size:
        return
    n, i, row, q = nchw(t, x.shape[1], x.shape[2], x.shape[3])
    s = _base(x, n, i, row, q, r // 2, k, alpha)
    y[n, i, row, q] = x[n, i, row, q] * math.pow(s, -beta)


@cuda.jit
def _backward(dy, x, r, k, alpha, beta, dx):
    t = cuda.grid(1)
    if t >= dx.size:
        return
    c_ = x.shape[1]
    n, j, row, q = nchw(t, c_, x.shape[2], x.shape[3])
    hw = r // 2
    sj = _base(x, n, j, row, q, hw, k, alpha)
    lo = j - hw if j - hw > 0 else 0
    hi = j + hw if j + hw < c_ - 1 else c_ - 1
    acc = 0.0
    for i in range(lo, hi + 1):
        si = _base(x, n, i, row, q, hw, k, alpha)
        acc += float(dy[n, i, row, q]) * float(x[n, i, row, q]) * math.pow(si, -beta) / si
    dx[n, j, row, q] = (
        dy[n, j, row, q] * math.pow(sj, -beta) - 2.0 * alpha * beta * x[n, j, row, q] * acc
    )


def lrn_forward(x, r, k, alpha, beta):
    """``y (N, C, H, W)``, ``y_i = x_i * (k + alpha * window sum of x^2)^(-beta)``."""
    x = to_device(x)
    y = empty(x.shape, x.dtype)
    if y.size:
        _forward[grid1d(y.size)](x, r, float(k), float(alpha), float(beta), y)
    return y


def lrn_backward(dy, x, r, k, alpha, beta):
    """``dx (N, C, H, W)`` from ``dy (N, C, H, W)`` and ``x`` (formula in the module doc)."""
    dy, x = to_device(dy), to_device(x)
    dx = empty(x.shape, dy.dtype)
    if dx.size:
        _backward[grid1d(dx.size)](dy, x, r, float(k), float(alpha), float(beta), dx)
    return dx
