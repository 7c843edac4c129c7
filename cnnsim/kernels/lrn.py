"""Local response normalization across maps, forward and backward.

Arrays in, arrays out; no validation (``cnnsim.functional.lrn`` validates once).

Shapes: ``x (N, C, H, W)`` -> ``y (N, C, H, W)``. With ``h = r // 2`` and, at each pixel,

    s_i = k + alpha * sum_{j=max(0, i-h)}^{min(i+h, C-1)} a_j^2
    b_i = a_i * s_i^(-beta)                                  (the lecture's formula)

and the backward (``j`` is in window(i) exactly when ``i`` is in window(j)):

    dx_j = dy_j s_j^(-beta) - 2 alpha beta a_j sum_{i in window(j)} dy_i a_i s_i^(-beta-1)

Parallel over the ``N*H`` image rows: LRN reduces across channels, so one thread owns one
row of every map, squares it once (in float64: float32 inputs never overflow) and sums each
window directly (O(C*r) per pixel; a running sum would compute inf - inf and lose the small
terms at extremes), with the inner loops over contiguous W. Fixed order: results do not depend on the thread count.
"""

import math

import numpy as np
from numba import njit, prange

from ._twins import parallel_kernel


@njit(cache=True, inline="always")
def _window_sum_rows(t, h, out):
    """``out[i, q] = sum_{j=max(0, i-h)}^{min(i+h, C-1)} t[j, q]`` for ``t (C, W)``, summed
    directly in increasing j. Not a running sum (add the entering map, subtract the
    leaving one): with one ``inf`` in a map that computes ``inf - inf = NaN`` for every
    later map, and at finite extremes (1e38 squared) the subtraction cancels away the
    small terms. ``r`` is small (5 in AlexNet), so the direct sum costs little more."""
    c_, w = t.shape
    for i in range(c_):
        lo = max(0, i - h)
        hi = min(i + h, c_ - 1)
        for q in range(w):
            out[i, q] = 0.0
        for j in range(lo, hi + 1):
            for q in range(w):
                out[i, q] += t[j, q]


@njit(cache=True, inline="always")
def _power_neg_beta(s, beta):
    """``s ** (-beta)`` (float64, ``s > 0``). For the papers' ``beta = 0.75`` (AlexNet,
    GoogLeNet) as ``1 / (sqrt(s) sqrt(sqrt(s)))``: square roots are vector instructions
    where ``**`` is a scalar libm ``pow`` call (GoogLeNet's 8x192x56x56 LRN forward 36.6
    -> 17.1 ms). The two agree to a few float64 ulps (1e-16 relative); the
    float32 results they round to are the same but for a rare tie."""
    if beta == 0.75:
        r = math.sqrt(s)
        return 1.0 / (r * math.sqrt(r))
    return s ** (-beta)


@njit(cache=True, inline="always")
def _window_sums(a, r, k, alpha, s):
    """``s (C, W)`` float64 = k + alpha * (window sum of a^2) for one image row ``a (C, W)``."""
    c_, w = a.shape
    sq = np.empty((c_, w), dtype=np.float64)
    for i in range(c_):
        for q in range(w):
            v = np.float64(a[i, q])
            sq[i, q] = v * v
    _window_sum_rows(sq, r // 2, s)
    for i in range(c_):
        for q in range(w):
            s[i, q] = k + alpha * s[i, q]


@parallel_kernel()
def lrn_forward(x, r, k, alpha, beta):
    """``y (N, C, H, W)``, ``y_i = x_i * (k + alpha * window sum of x^2)^(-beta)``."""
    n_, c_, h_, w_ = x.shape
    y = np.empty_like(x)
    for p in prange(n_ * h_):
        n = p // h_
        row = p % h_
        a = x[n, :, row, :]
        s = np.empty((c_, w_), dtype=np.float64)
        _window_sums(a, r, k, alpha, s)
        for i in range(c_):
            for q in range(w_):
                y[n, i, row, q] = a[i, q] * _power_neg_beta(s[i, q], beta)
    return y


@parallel_kernel()
def lrn_backward(dy, x, r, k, alpha, beta):
    """``dx (N, C, H, W)`` from ``dy (N, C, H, W)`` and ``x`` (formula in the module doc)."""
    n_, c_, h_, w_ = x.shape
    hw = r // 2
    dx = np.empty_like(x)
    coef = 2.0 * alpha * beta
    for p in prange(n_ * h_):
        n = p // h_
        row = p % h_
        a = x[n, :, row, :]
        g = dy[n, :, row, :]
        s = np.empty((c_, w_), dtype=np.float64)
        _window_sums(a, r, k, alpha, s)
        # s <- s^(-beta); t_i = dy_i a_i s_i^(-beta-1)
        t = np.empty((c_, w_), dtype=np.float64)
        for i in range(c_):
            for q in range(w_):
                sb = _power_neg_beta(s[i, q], beta)
                t[i, q] = g[i, q] * a[i, q] * sb / s[i, q]
                s[i, q] = sb
        acc = np.empty((c_, w_), dtype=np.float64)
        _window_sum_rows(t, hw, acc)
        for j in range(c_):
            for q in range(w_):
                dx[n, j, row, q] = g[j, q] * s[j, q] - coef * a[j, q] * acc[j, q]
    return dx
