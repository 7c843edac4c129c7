"""Batch normalization kernels (Ioffe & Szegedy 2015), per channel of ``x (N, C, H, W)``.

Arrays in, arrays out; no validation (``cnnsim.functional.normalization`` validates once
and views a ``(N, D)`` input as ``(N, D, 1, 1)``). ``M = N * H * W`` values per channel.

Training (batch statistics):

    mu_c    = (1/M) sum x                 var_c = (1/M) sum (x - mu_c)^2   (biased)
    inv_std = 1 / sqrt(var_c + eps)       x_hat = (x - mu_c) inv_std
    y       = gamma_c x_hat + beta_c

    backward, through the batch statistics:
    dx = gamma_c inv_std / M * (M dy - sum(dy) - x_hat sum(dy x_hat))
    dgamma_c = sum(dy x_hat)              dbeta_c = sum(dy)

Inference uses given (running) mean and var instead; then mu and var are constants and
``dx = gamma_c inv_std dy``.

One prange iteration owns one channel and sums in float64 in an order fixed by the code
(eight running sums, :func:`_sum`), so results do not depend on the thread count. The variance is computed in two
passes (mean first, then squared deviations), which stays accurate when |mean| >> std.
"""

import math

import numpy as np
from numba import njit, prange

from ._twins import parallel_kernel

# Eight running sums per channel, in eight scalar variables: element k of a row goes to
# sum k % 8 (a row's tail to the first ones) and the sums are added in order at the end.
# One running sum makes every addition wait for the one before (about 4 cycles); eight
# independent ones fill a vector register. Scalars rather than an 8-element array, so that
# they stay in registers: the array version (the same numbers) was 1.8-2.5x slower, its
# sums going through memory at every step. The order is fixed by this code, not by the
# compiler or the thread count, so results are the same on every run.


@njit(cache=True)
def _sum(a3, c):
    """``sum a`` over channel ``c`` of ``a3 (N, C, H*W)``, in float64 (eight running sums,
    see above)."""
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    for n in range(a3.shape[0]):
        r = a3[n, c]
        k = 0
        while k + 8 <= r.shape[0]:
            s0 += r[k]
            s1 += r[k + 1]
            s2 += r[k + 2]
            s3 += r[k + 3]
            s4 += r[k + 4]
            s5 += r[k + 5]
            s6 += r[k + 6]
            s7 += r[k + 7]
            k += 8
        t = r.shape[0]  # the tail, 0-7 numbers from k on, to the first sums (adding
        # 0.0 leaves a sum unchanged bit for bit: none here is ever -0.0)
        s0 += r[k] if k < t else 0.0
        s1 += r[k + 1] if k + 1 < t else 0.0
        s2 += r[k + 2] if k + 2 < t else 0.0
        s3 += r[k + 3] if k + 3 < t else 0.0
        s4 += r[k + 4] if k + 4 < t else 0.0
        s5 += r[k + 5] if k + 5 < t else 0.0
        s6 += r[k + 6] if k + 6 < t else 0.0
    return s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7


@njit(cache=True)
def _sum_sq_dev(a3, c, mu):
    """``sum (a - mu)^2`` over channel ``c`` of ``a3 (N, C, H*W)``, in float64, in the
    order of :func:`_sum`."""
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    for n in range(a3.shape[0]):
        r = a3[n, c]
        k = 0
        while k + 8 <= r.shape[0]:
            s0 += _sq(r[k] - mu)
            s1 += _sq(r[k + 1] - mu)
            s2 += _sq(r[k + 2] - mu)
            s3 += _sq(r[k + 3] - mu)
            s4 += _sq(r[k + 4] - mu)
            s5 += _sq(r[k + 5] - mu)
            s6 += _sq(r[k + 6] - mu)
            s7 += _sq(r[k + 7] - mu)
            k += 8
        t = r.shape[0]
        s0 += _sq(r[k] - mu) if k < t else 0.0
        s1 += _sq(r[k + 1] - mu) if k + 1 < t else 0.0
        s2 += _sq(r[k + 2] - mu) if k + 2 < t else 0.0
        s3 += _sq(r[k + 3] - mu) if k + 3 < t else 0.0
        s4 += _sq(r[k + 4] - mu) if k + 4 < t else 0.0
        s5 += _sq(r[k + 5] - mu) if k + 5 < t else 0.0
        s6 += _sq(r[k + 6] - mu) if k + 6 < t else 0.0
    return s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7


@njit(cache=True)
def _sq(d):
    return d * d


@njit(cache=True)
def _sum_and_dot(a3, b3, c):
    """``(sum a, sum a * b)`` over channel ``c`` of ``a3, b3 (N, C, H*W)``, in float64, both
    in the order of :func:`_sum` (one pass over the two arrays)."""
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    d0 = d1 = d2 = d3 = d4 = d5 = d6 = d7 = 0.0
    for n in range(a3.shape[0]):
        r = a3[n, c]
        q = b3[n, c]
        k = 0
        while k + 8 <= r.shape[0]:
            s0 += r[k]
            s1 += r[k + 1]
            s2 += r[k + 2]
            s3 += r[k + 3]
            s4 += r[k + 4]
            s5 += r[k + 5]
            s6 += r[k + 6]
            s7 += r[k + 7]
            d0 += np.float64(r[k]) * q[k]
            d1 += np.float64(r[k + 1]) * q[k + 1]
            d2 += np.float64(r[k + 2]) * q[k + 2]
            d3 += np.float64(r[k + 3]) * q[k + 3]
            d4 += np.float64(r[k + 4]) * q[k + 4]
            d5 += np.float64(r[k + 5]) * q[k + 5]
            d6 += np.float64(r[k + 6]) * q[k + 6]
            d7 += np.float64(r[k + 7]) * q[k + 7]
            k += 8
        t = r.shape[0]
        s0 += r[k] if k < t else 0.0
        s1 += r[k + 1] if k + 1 < t else 0.0
        s2 += r[k + 2] if k + 2 < t else 0.0
        s3 += r[k + 3] if k + 3 < t else 0.0
        s4 += r[k + 4] if k + 4 < t else 0.0
        s5 += r[k + 5] if k + 5 < t else 0.0
        s6 += r[k + 6] if k + 6 < t else 0.0
        d0 += np.float64(r[k]) * q[k] if k < t else 0.0
        d1 += np.float64(r[k + 1]) * q[k + 1] if k + 1 < t else 0.0
        d2 += np.float64(r[k + 2]) * q[k + 2] if k + 2 < t else 0.0
        d3 += np.float64(r[k + 3]) * q[k + 3] if k + 3 < t else 0.0
        d4 += np.float64(r[k + 4]) * q[k + 4] if k + 4 < t else 0.0
        d5 += np.float64(r[k + 5]) * q[k + 5] if k + 5 < t else 0.0
        d6 += np.float64(r[k + 6]) * q[k + 6] if k + 6 < t else 0.0
    return (
        s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7,
        d0 + d1 + d2 + d3 + d4 + d5 + d6 + d7,
    )


@njit(cache=True)
def _normalize_channel(x3, c, mu, inv, g, bt, x_hat3, y3):
    """Channel ``c`` of ``(N, C, H*W)`` views: ``x_hat = (x - mu) inv`` and ``y = g x_hat +
    bt``, written in place (training passes the batch's mu, inference the running one)."""
    for n in range(x3.shape[0]):
        row = x3[n, c]
        hrow = x_hat3[n, c]
        yrow = y3[n, c]
        for k in range(row.shape[0]):
            xh = (row[k] - mu) * inv
            hrow[k] = xh
            yrow[k] = g * xh + bt


@parallel_kernel()
def batch_norm_train_forward(x, gamma, beta, eps):
    """``(y, x_hat, mean (C,), var (C,) biased, inv_std (C,))`` from batch statistics."""
    n_, c_, h_, w_ = x.shape
    m = n_ * h_ * w_
    y = np.empty_like(x)
    x_hat = np.empty_like(x)
    x3 = x.reshape(n_, c_, h_ * w_)
    xh3 = x_hat.reshape(x3.shape)
    y3 = y.reshape(x3.shape)
    mean = np.empty(c_, dtype=x.dtype)
    var = np.empty(c_, dtype=x.dtype)
    inv_std = np.empty(c_, dtype=x.dtype)
    for c in prange(c_):
        mu = _sum(x3, c) / m
        v = _sum_sq_dev(x3, c, mu) / m
        inv = 1.0 / math.sqrt(v + eps)
        _normalize_channel(x3, c, mu, inv, gamma[c], beta[c], xh3, y3)
        mean[c] = mu
        var[c] = v
        inv_std[c] = inv
    return y, x_hat, mean, var, inv_std


@parallel_kernel()
def batch_norm_eval_forward(x, gamma, beta, mean, var, eps):
    """``(y, x_hat, inv_std (C,))`` normalizing with the given ``mean``/``var`` (C,)."""
    n_, c_, h_, w_ = x.shape
    y = np.empty_like(x)
    x_hat = np.empty_like(x)
    x3 = x.reshape(n_, c_, h_ * w_)
    xh3 = x_hat.reshape(x3.shape)
    y3 = y.reshape(x3.shape)
    inv_std = np.empty(c_, dtype=x.dtype)
    for c in prange(c_):
        mu = mean[c]
        inv = 1.0 / math.sqrt(var[c] + eps)
        _normalize_channel(x3, c, mu, inv, gamma[c], beta[c], xh3, y3)
        inv_std[c] = inv
    return y, x_hat, inv_std


@parallel_kernel()
def batch_norm_backward(dy, x_hat, gamma, inv_std, training):
    """``(dx, dgamma (C,), dbeta (C,))``; ``training`` selects the formula (see module doc)."""
    n_, c_, h_, w_ = dy.shape
    m = n_ * h_ * w_
    dx = np.empty_like(dy)
    dy3 = dy.reshape(n_, c_, h_ * w_)
    xh3 = x_hat.reshape(dy3.shape)
    dx3 = dx.reshape(dy3.shape)
    dgamma = np.empty(c_, dtype=dy.dtype)
    dbeta = np.empty(c_, dtype=dy.dtype)
    for c in prange(c_):
        sg, sgx = _sum_and_dot(dy3, xh3, c)
        dgamma[c] = sgx
        dbeta[c] = sg
        scale = gamma[c] * inv_std[c]
        mean_g = sg / m
        mean_gx = sgx / m
        for n in range(n_):
            g = dy3[n, c]
            xh = xh3[n, c]
            d = dx3[n, c]
            if training:
                for k in range(g.shape[0]):
                    d[k] = scale * (g[k] - mean_g - xh[k] * mean_gx)
            else:
                for k in range(g.shape[0]):
                    d[k] = scale * g[k]
    return dx, dgamma, dbeta
