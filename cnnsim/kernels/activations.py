"""Activation kernels: element-wise prange loops, plus a row-wise softmax.

Arrays in, arrays out; no validation (``cnnsim.functional.activations`` validates once).
The element-wise kernels take any C-contiguous array and return one of the same shape
(they loop over the flattened view). Each output element is written by one iteration,
so results do not depend on the thread count.

    relu(x)        = max(x, 0)                       relu'(x) = 1 if x > 0 else 0
    sigmoid(x)     = 1 / (1 + exp(-x))               sigmoid' = y (1 - y)
    tanh(x)                                          tanh'    = 1 - y^2
                   (float32: a rational approximation, |error| < 4e-7; see _tanh32)
    scaled_tanh(x) = A tanh(S x), A = 1.7159, S = 2/3 (LeCun 1998, LeNet-5)
                                                     derivative A S (1 - tanh(S x)^2)
    softmax(x)[n, k] = exp(x[n, k] - m_n) / sum_j exp(x[n, j] - m_n),  m_n = max_j x[n, j]
"""

import math

import numpy as np
from numba import njit, prange

from ._twins import parallel_kernel

#: LeNet-5's squashing function f(a) = A tanh(S a) (LeCun et al. 1998, appendix A)
SCALED_TANH_A = 1.7159
SCALED_TANH_S = 2.0 / 3.0
#: beyond this |x| float32 tanh rounds to +-1
_TANH32_CLAMP = 7.90531110763549805


@njit(cache=True, inline="always")
def _tanh32(v):
    """float32 tanh as plain arithmetic (so the loop vectorises; libm's tanhf is a scalar
    call, 15-20 ns per element): the odd rational approximation p(x)/q(x) of degrees 13/6
    used by Eigen, clamped at +-7.905; |error| < 4e-7 (within 6 float32 ulps) on the
    whole line, NaN stays NaN. float64 inputs keep ``math.tanh`` (gradient checks need it)."""
    c = min(max(v, np.float32(-_TANH32_CLAMP)), np.float32(_TANH32_CLAMP))
    x2 = c * c
    p = x2 * np.float32(-2.76076847742355e-16) + np.float32(2.00018790482477e-13)
    p = x2 * p + np.float32(-8.60467152213735e-11)
    p = x2 * p + np.float32(5.12229709037114e-08)
    p = x2 * p + np.float32(1.48572235717979e-05)
    p = x2 * p + np.float32(6.37261928875436e-04)
    p = x2 * p + np.float32(4.89352455891786e-03)
    p = c * p
    q = x2 * np.float32(1.19825839466702e-06) + np.float32(1.18534705686654e-04)
    q = x2 * q + np.float32(2.26843463243900e-03)
    q = x2 * q + np.float32(4.89352518554385e-03)
    return v if abs(v) < np.float32(0.0004) else p / q


@njit(cache=True, inline="always")
def _sigmoid(v):
    """Stable for large |v|: exp is only ever taken of a non-positive number."""
    if v >= 0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)
    return e / (1.0 + e)


@njit(cache=True, inline="always")
def _sigmoid_grad(g, y):
    """``dx`` of the sigmoid from ``dy = g`` and its output ``y``."""
    return g * y * (1.0 - y)


@njit(cache=True, inline="always")
def _tanh_grad(g, y):
    """``dx`` of tanh from ``dy = g`` and its output ``y``."""
    return g * (1.0 - y * y)


#: activations a fused kernel applies per element (``cnnsim.kernels.conv.pooled``): their
#: backward needs the output ``y`` only
ACT_CODES = {"linear": 0, "tanh": 1, "sigmoid": 2}


@njit(cache=True, inline="always")
def act_value(code, v, is32):
    """The activation ``code`` (``ACT_CODES``) of ``v``: the expression of its element-wise
    kernel (``is32``: the array is float32, for tanh's float32 form)."""
    if code == 1:
        if is32:
            return _tanh32(v)
        return math.tanh(v)
    if code == 2:
        return _sigmoid(v)
    return v


@njit(cache=True, error_model="numpy")
def act_run(a, start, stop, code, is32):
    """``a[start:stop] = act(a[start:stop])`` in place (``act_value``), with float32 tanh in
    a loop of its own: a loop whose body may call libm (float64 tanh, the sigmoid's exp)
    is not vectorised, and LeNet-5's tanh would pay for that. A function of its own, not
    inlined into the register tiles that call it: LLVM vectorises it there only alone."""
    if code == 1 and is32:
        for q in range(start, stop):
            a[q] = _tanh32(a[q])
    elif code != 0:
        for q in range(start, stop):
            a[q] = act_value(code, a[q], is32)


@njit(cache=True, inline="always")
def act_grad(code, g, y):
    """``dx`` of the activation ``code`` from ``dy = g`` and the output ``y``: the
    expression of its backward kernel."""
    if code == 1:
        return _tanh_grad(g, y)
    if code == 2:
        return _sigmoid_grad(g, y)
    return g


@parallel_kernel()
def relu_forward(x):
    f = x.ravel()
    y = np.empty_like(f)
    for i in prange(f.size):
        v = f[i]
        y[i] = 0.0 if v <= 0 else v  # NaN passes through, as in NumPy's maximum
    return y.reshape(x.shape)


@parallel_kernel()
def leaky_relu_forward(x, alpha):
    """y = x if x > 0 else alpha x (ONNX LeakyRelu; NaN passes through)."""
    f = x.ravel()
    y = np.empty_like(f)
    a = f.dtype.type(alpha)
    for i in prange(f.size):
        v = f[i]
        y[i] = a * v if v <= 0 else v
    return y.reshape(x.shape)


@parallel_kernel()
def leaky_relu_backward(dy, x, alpha):
    """dx = dy where x > 0, else alpha dy."""
    g = dy.ravel()
    f = x.ravel()
    dx = np.empty_like(g)
    a = g.dtype.type(alpha)
    for i in prange(g.size):
        dx[i] = g[i] if f[i] > 0 else a * g[i]
    return dx.reshape(dy.shape)


@parallel_kernel()
def relu_backward(dy, x):
    """dx = dy where x > 0, else 0 (the subgradient at exactly 0 is taken as 0)."""
    g = dy.ravel()
    f = x.ravel()
    dx = np.empty_like(g)
    for i in prange(g.size):
        dx[i] = g[i] if f[i] > 0 else 0.0
    return dx.reshape(dy.shape)


@parallel_kernel()
def sigmoid_forward(x):
    """Stable for large |x|: exp is only ever taken of a non-positive number."""
    f = x.ravel()
    y = np.empty_like(f)
    for i in prange(f.size):
        y[i] = _sigmoid(f[i])
    return y.reshape(x.shape)


@parallel_kernel()
def sigmoid_backward(dy, y):
    g = dy.ravel()
    f = y.ravel()
    dx = np.empty_like(g)
    for i in prange(g.size):
        dx[i] = _sigmoid_grad(g[i], f[i])
    return dx.reshape(dy.shape)


@parallel_kernel()
def tanh_forward(x):
    f = x.ravel()
    y = np.empty_like(f)
    if f.itemsize == 4:
        for i in prange(f.size):
            y[i] = _tanh32(f[i])
    else:
        for i in prange(f.size):
            y[i] = math.tanh(f[i])
    return y.reshape(x.shape)


@parallel_kernel()
def tanh_backward(dy, y):
    g = dy.ravel()
    f = y.ravel()
    dx = np.empty_like(g)
    for i in prange(g.size):
        dx[i] = _tanh_grad(g[i], f[i])
    return dx.reshape(dy.shape)


@parallel_kernel()
def scaled_tanh_forward(x):
    f = x.ravel()
    y = np.empty_like(f)
    if f.itemsize == 4:
        a32, s32 = np.float32(SCALED_TANH_A), np.float32(SCALED_TANH_S)
        for i in prange(f.size):
            y[i] = a32 * _tanh32(s32 * f[i])
    else:
        for i in prange(f.size):
            y[i] = SCALED_TANH_A * math.tanh(SCALED_TANH_S * f[i])
    return y.reshape(x.shape)


@parallel_kernel()
def scaled_tanh_backward(dy, x):
    """dx = dy * A S (1 - tanh(S x)^2), from the pre-activation x."""
    g = dy.ravel()
    f = x.ravel()
    dx = np.empty_like(g)
    if f.itemsize == 4:
        s32, as32 = np.float32(SCALED_TANH_S), np.float32(SCALED_TANH_A * SCALED_TANH_S)
        for i in prange(g.size):
            t = _tanh32(s32 * f[i])
            dx[i] = g[i] * as32 * (np.float32(1.0) - t * t)
    else:
        for i in prange(g.size):
            t = math.tanh(SCALED_TANH_S * f[i])
            dx[i] = g[i] * (SCALED_TANH_A * SCALED_TANH_S) * (1.0 - t * t)
    return dx.reshape(dy.shape)


@parallel_kernel()
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


@parallel_kernel()
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
