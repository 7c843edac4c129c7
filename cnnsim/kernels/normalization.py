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

LANES = 8  # independent running sums per channel (see _sum)


@njit(cache=True)
def _sum(a3, c):
    """``sum a`` over channel ``c`` of ``a3 (N, C, H*W)``, in float64.

    ``LANES`` running sums: element ``k`` of a row goes to sum ``k % LANES`` (a row's tail
    to the first ones), and the sums are added in order at the end. One running sum
    would make every addition wait for the one before (about 4 cycles each); eight
    independent ones fill a vector register. The order is fixed by this code, not by the
    compiler or the thread count, so results are the same on every run."""
    acc = np.zeros(LANES)
    n_, _, hw = a3.shape
    for n in range(n_):
        row = a3[n, c]
        k = 0
        while k + LANES <= hw:
            for lane in range(LANES):
                acc[lane] += row[k + lane]
            k += LANES
        for lane in range(hw - k):
            acc[lane] += row[k + lane]
    return _total(acc)


@njit(cache=True)
def _sum_sq_dev(a3, c, mu):
    """``sum (a - mu)^2`` over channel ``c`` of ``a3 (N, C, H*W)``, in float64, in the
    order of :func:`_sum`."""
    acc = np.zeros(LANES)
    n_, _, hw = a3.shape
    for n in range(n_):
        row = a3[n, c]
        k = 0
        while k + LANES <= hw:
            for lane in range(LANES):
                d = row[k + lane] - mu
                acc[lane] += d * d
            k += LANES
        for lane in range(hw - k):
            d = row[k + lane] - mu
            acc[lane] += d * d
    return _total(acc)


@njit(cache=True)
def _total(acc):
    s = 0.0
    for lane in range(LANES):
        s += acc[lane]
    return s


@njit(cache=True)
def _sum_and_dot(a3, b3, c):
    """``(sum a, sum a * b)`` over channel ``c`` of ``a3, b3 (N, C, H*W)``, in float64, in
    the order of :func:`_sum` (one pass over both)."""
    acc = np.zeros(LANES)
    dot = np.zeros(LANES)
    n_, _, hw = a3.shape
    for n in range(n_):
        ra = a3[n, c]
        rb = b3[n, c]
        k = 0
        while k + LANES <= hw:
            for lane in range(LANES):
                g = np.float64(ra[k + lane])
                acc[lane] += g
                dot[lane] += g * rb[k + lane]
            k += LANES
        for lane in range(hw - k):
            g = np.float64(ra[k + lane])
            acc[lane] += g
            dot[lane] += g * rb[k + lane]
    return _total(acc), _total(dot)


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
