"""CUDA twins of ``cnnsim.kernels.normalization``: batch normalization per channel of
``x (N, C, H, W)`` (``M = N*H*W`` values per channel). Formulas as in the CPU module:

    mu = (1/M) sum x     var = (1/M) sum (x - mu)^2     x_hat = (x - mu) / sqrt(var + eps)
    y = gamma x_hat + beta
    dx = gamma inv_std / M (M dy - sum dy - x_hat sum(dy x_hat))   (training)
    dx = gamma inv_std dy                                          (inference)

Launch: the statistics are block reductions: one block per channel, its threads take
strided shares of the M values and a fixed shared-memory tree (float64) adds them; the
variance takes a second pass over ``(x - mu)^2`` (accurate when |mean| >> std). The same
block then writes its channel. Inference needs no reduction: one thread per element.
"""

import math

from numba import cuda, float64

from ._util import block_sum, empty, grid1d, nchw, per_threads, reduce_launch, threads, to_device


@cuda.jit(device=True)
def _at(k, h_, w_):
    """flat index k over (N, H, W) of one channel -> (n, i, j)"""
    return k // (h_ * w_), (k // w_) % h_, k % w_


@per_threads
def _kernels(nt):
    @cuda.jit
    def train_fwd(x, gamma, beta, eps, y, x_hat, mean, var, inv_std):
        sm = cuda.shared.array(nt, float64)
        t = cuda.threadIdx.x
        c = cuda.blockIdx.x  # one block per channel
        n_, _, h_, w_ = x.shape
        m = n_ * h_ * w_
        s = 0.0
        k = t
        while k < m:
            n, i, j = _at(k, h_, w_)
            s += x[n, c, i, j]
            k += nt
        sm[t] = s
        mu = block_sum(sm, t, nt) / m
        q = 0.0
        k = t
        while k < m:
            n, i, j = _at(k, h_, w_)
            d = x[n, c, i, j] - mu
            q += d * d
            k += nt
        sm[t] = q
        v = block_sum(sm, t, nt) / m
        inv = 1.0 / math.sqrt(v + eps)
        g = gamma[c]
        bt = beta[c]
        k = t
        while k < m:
            n, i, j = _at(k, h_, w_)
            xh = (x[n, c, i, j] - mu) * inv
            x_hat[n, c, i, j] = xh
            y[n, c, i, j] = g * xh + bt
            k += nt
        if t == 0:
            mean[c] = mu
            var[c] = v
            inv_std[c] = inv

    @cuda.jit
    def backward(dy, x_hat, gamma, inv_std, training, dx, dgamma, dbeta):
        sg_sm = cuda.shared.array(nt, float64)
        sgx_sm = cuda.shared.array(nt, float64)
        t = cuda.threadIdx.x
        c = cuda.blockIdx.x
        n_, _, h_, w_ = dy.shape
        m = n_ * h_ * w_
        sg = 0.0
        sgx = 0.0
        k = t
        while k < m:
            n, i, j = _at(k, h_, w_)
            g = dy[n, c, i, j]
            sg += g
            sgx += g * x_hat[n, c, i, j]
            k += nt
        sg_sm[t] = sg
        sgx_sm[t] = sgx
        sg = block_sum(sg_sm, t, nt)
        sgx = block_sum(sgx_sm, t, nt)
        scale = gamma[c] * inv_std[c]
        mean_g = sg / m
        mean_gx = sgx / m
        k = t
        while k < m:
            n, i, j = _at(k, h_, w_)
            if training:
                dx[n, c, i, j] = scale * (dy[n, c, i, j] - mean_g - x_hat[n, c, i, j] * mean_gx)
            else:
                dx[n, c, i, j] = scale * dy[n, c, i, j]
            k += nt
        if t == 0:
            dgamma[c] = sgx
            dbeta[c] = sg

    return train_fwd, backward


def batch_norm_train_forward(x, gamma, beta, eps):
    """``(y, x_hat, mean (C,), var (C,) biased, inv_std (C,))`` from batch statistics."""
    x, gamma, beta = to_device(x), to_device(gamma), to_device(beta)
    c_ = x.shape[1]
    y = empty(x.shape, x.dtype)
    x_hat = empty(x.shape, x.dtype)
    mean, var, inv_std = (empty((c_,), x.dtype) for _ in range(3))
    if c_:
        _kernels(threads())[0][reduce_launch(c_)](
            x, gamma, beta, float(eps), y, x_hat, mean, var, inv_std
        )
    return y, x_hat, mean, var, inv_std


@cuda.jit
def _eval_fwd(x, gamma, beta, mean, var, eps, y, x_hat, inv_std):
    t = cuda.grid(1)
    if t >= x.size:
        return
    _, c_, h_, w_ = x.shape
    n, c, i, j = nchw(t, c_, h_, w_)
    inv = 1.0 / math.sqrt(var[c] + eps)
    xh = (x[n, c, i, j] - mean[c]) * inv
    x_hat[n, c, i, j] = xh
    y[n, c, i, j] = gamma[c] * xh + beta[c]
    if n == 0 and i == 0 and j == 0:
        inv_std[c] = inv


def batch_norm_eval_forward(x, gamma, beta, mean, var, eps):
    """``(y, x_hat, inv_std (C,))`` normalizing with the given ``mean``/``var`` (C,)."""
    x, gamma, beta = to_device(x), to_device(gamma), to_device(beta)
    mean, var = to_device(mean), to_device(var)
    y = empty(x.shape, x.dtype)
    x_hat = empty(x.shape, x.dtype)
    inv_std = empty((x.shape[1],), x.dtype)
    if x.size:
        _eval_fwd[grid1d(x.size)](x, gamma, beta, mean, var, float(eps), y, x_hat, inv_std)
    return y, x_hat, inv_std


def batch_norm_backward(dy, x_hat, gamma, inv_std, training):
    """``(dx, dgamma (C,), dbeta (C,))``; ``training`` selects the formula (see module doc)."""
    dy, x_hat = to_device(dy), to_device(x_hat)
    gamma, inv_std = to_device(gamma), to_device(inv_std)
    c_ = dy.shape[1]
    dx = empty(dy.shape, dy.dtype)
    dgamma = empty((c_,), dy.dtype)
    dbeta = empty((c_,), dy.dtype)
    if c_:
        _kernels(threads())[1][reduce_launch(c_)](
            dy, x_hat, gamma, inv_std, bool(training), dx, dgamma, dbeta
        )
    return dx, dgamma, dbeta
