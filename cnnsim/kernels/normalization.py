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

One prange iteration owns one channel and sums in a fixed order (n, then h, w), in
float64, so results do not depend on the thread count. The variance is computed in two
passes (mean first, then squared deviations), which stays accurate when |mean| >> std.
"""

import math

import numpy as np
from numba import njit, prange

from ._twins import parallel_kernel


@njit(cache=True)
def _normalize_channel(x, c, mu, inv, g, bt, x_hat, y):
    """Channel ``c``: ``x_hat = (x - mu) inv`` and ``y = g x_hat + bt``, written in place
    (training passes the batch's mu, inference the running one)."""
    n_, _, h_, w_ = x.shape
    for n in range(n_):
        for i in range(h_):
            for j in range(w_):
                xh = (x[n, c, i, j] - mu) * inv
                x_hat[n, c, i, j] = xh
                y[n, c, i, j] = g * xh + bt


@parallel_kernel()
def batch_norm_train_forward(x, gamma, beta, eps):
    """``(y, x_hat, mean (C,), var (C,) biased, inv_std (C,))`` from batch statistics."""
    n_, c_, h_, w_ = x.shape
    m = n_ * h_ * w_
    y = np.empty_like(x)
    x_hat = np.empty_like(x)
    mean = np.empty(c_, dtype=x.dtype)
    var = np.empty(c_, dtype=x.dtype)
    inv_std = np.empty(c_, dtype=x.dtype)
    for c in prange(c_):
        s = 0.0
        for n in range(n_):
            for i in range(h_):
                for j in range(w_):
                    s += x[n, c, i, j]
        mu = s / m
        q = 0.0
        for n in range(n_):
            for i in range(h_):
                for j in range(w_):
                    d = x[n, c, i, j] - mu
                    q += d * d
        v = q / m
        inv = 1.0 / math.sqrt(v + eps)
        _normalize_channel(x, c, mu, inv, gamma[c], beta[c], x_hat, y)
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
    inv_std = np.empty(c_, dtype=x.dtype)
    for c in prange(c_):
        mu = mean[c]
        inv = 1.0 / math.sqrt(var[c] + eps)
        _normalize_channel(x, c, mu, inv, gamma[c], beta[c], x_hat, y)
        inv_std[c] = inv
    return y, x_hat, inv_std


@parallel_kernel()
def batch_norm_backward(dy, x_hat, gamma, inv_std, training):
    """``(dx, dgamma (C,), dbeta (C,))``; ``training`` selects the formula (see module doc)."""
    n_, c_, h_, w_ = dy.shape
    m = n_ * h_ * w_
    dx = np.empty_like(dy)
    dgamma = np.empty(c_, dtype=dy.dtype)
    dbeta = np.empty(c_, dtype=dy.dtype)
    for c in prange(c_):
        sg = 0.0
        sgx = 0.0
        for n in range(n_):
            for i in range(h_):
                for j in range(w_):
                    g = dy[n, c, i, j]
                    sg += g
                    sgx += g * x_hat[n, c, i, j]
        dgamma[c] = sgx
        dbeta[c] = sg
        scale = gamma[c] * inv_std[c]
        if training:
            mean_g = sg / m
            mean_gx = sgx / m
            for n in range(n_):
                for i in range(h_):
                    for j in range(w_):
                        dx[n, c, i, j] = scale * (
                            dy[n, c, i, j] - mean_g - x_hat[n, c, i, j] * mean_gx
                        )
        else:
            for n in range(n_):
                for i in range(h_):
                    for j in range(w_):
                        dx[n, c, i, j] = scale * dy[n, c, i, j]
    return dx, dgamma, dbeta
