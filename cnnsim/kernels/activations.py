"""Activation kernels: element-wise prange loops, plus a row-wise softmax.

Arrays in, arrays out; no validation (``cnnsim.functional.activations`` validates once).
The element-wise kernels take any C-contiguous array and return one of the same shape
(they loop over the flattened view). Each output element is written by one iteration,
so results do not depend on the thread count.

    relu(x)        = max(x, 0)                       relu'(x) = 1 if x > 0 else 0
    sigmoid(x)     = 1 / (1 + exp(-x))               sigmoid' = y (1 - y)
    tanh(x)                                          tanh'    = 1 - y^2
    scaled_tanh(x) = A tanh(S x), A = 1.7159, S = 2/3 (LeCun 1998, LeNet-5)
                                                     derivative A S (1 - tanh(S x)^2)
    softmax(x)[n, k] = exp(x[n, k] - m_n) / sum_j exp(x[n, j] - m_n),  m_n = max_j x[n, j]
"""
import math

import numpy as np
from numba import njit, prange

#: LeNet-5's squashing function f(a) = A tanh(S a) (LeCun et al. 1998, appendix A)
SCALED_TANH_A = 1.7159
SCALED_TANH_S = 2.0 / 3.0


@njit(cache=True, parallel=True)
def relu_forward(x):
    f = x.ravel()
    y = np.empty_like(f)
    for i in prange(f.size):
        v = f[i]
        y[i] = 0.0 if v <= 0 else v     # NaN passes through, as in NumPy's maximum
    return y.reshape(x.shape)


@njit(cache=True, parallel=True)
def relu_backward(dy, x):
    """dx = dy where x > 0, else 0 (the subgradient at exactly 0 is taken as 0)."""
    g = dy.ravel()
    f = x.ravel()
    dx = np.empty_like(g)
    for i in prange(g.size):
        dx[i] = g[i] if f[i] > 0 else 0.0
    return dx.reshape(dy.shape)


@njit(cache=True, parallel=True)
def sigmoid_forward(x):
    """Stable for large |x|: exp is only ever taken of a non-positive number."""
    f = x.ravel()
    y = np.empty_like(f)
    for i in prange(f.size):
        v = f[i]
        if v >= 0:
            y[i] = 1.0 / (1.0 + math.exp(-v))
        else:
            e = math.exp(v)
            y[i] = e / (1.0 + e)
    return y.reshape(x.shape)


@njit(cache=True, parallel=True)
def sigmoid_backward(dy, y):
    g = dy.ravel()
    f = y.ravel()
    dx = np.empty_like(g)
    for i in prange(g.size):
        dx[i] = g[i] * f[i] * (1.0 - f[i])
    return dx.reshape(dy.shape)


@njit(cache=True, parallel=True)
def tanh_forward(x):
    f = x.ravel()
    y = np.empty_like(f)
    for i in prange(f.size):
        y[i] = math.tanh(f[i])
    return y.reshape(x.shape)


@njit(cache=True, parallel=True)
def tanh_backward(dy, y):
    g = dy.ravel()
    f = y.ravel()
    dx = np.empty_like(g)
    for i in prange(g.size):
        dx[i] = g[i] * (1.0 - f[i] * f[i])
    return dx.reshape(dy.shape)


@njit(cache=True, parallel=True)
def scaled_tanh_forward(x):
    f = x.ravel()
    y = np.empty_like(f)
    for i in prange(f.size):
        y[i] = SCALED_TANH_A * math.tanh(SCALED_TANH_S * f[i])
    return y.reshape(x.shape)


@njit(cache=True, parallel=True)
def scaled_tanh_backward(dy, x):
    """dx = dy * A S (1 - tanh(S x)^2), from the pre-activation x."""
    g = dy.ravel()
    f = x.ravel()
    dx = np.empty_like(g)
    for i in prange(g.size):
        t = math.tanh(SCALED_TANH_S * f[i])
        dx[i] = g[i] * (SCALED_TANH_A * SCALED_TANH_S) * (1.0 - t * t)
    return dx.reshape(dy.shape)


@njit(cache=True, parallel=True)
def softmax_forward(x):
    """Row-wise softmax of ``x (N, K)``; the row max is subtracted so exp never overflows."""
    n_, k_ = x.shape
    y = np.empty_like(x)
    for n in prange(n_):
        m = x[n, 0]
        for k in range(1, k_):
            if x[n, k] > m:
                m = x[n, k]
        s = 0.0
        for k in range(k_):
            e = math.exp(x[n, k] - m)
            y[n, k] = e
            s += e
        inv = 1.0 / s
        for k in range(k_):
            y[n, k] = y[n, k] * inv
    return y


@njit(cache=True, parallel=True)
def softmax_backward(dy, y):
    """dx[n, k] = y[n, k] (dy[n, k] - sum_j dy[n, j] y[n, j])  (the softmax Jacobian-vector product)."""
    n_, k_ = y.shape
    dx = np.empty_like(dy)
    for n in prange(n_):
        s = 0.0
        for k in range(k_):
            s += dy[n, k] * y[n, k]
        for k in range(k_):
            dx[n, k] = y[n, k] * (dy[n, k] - s)
    return dx
