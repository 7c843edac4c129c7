"""CUDA twins of ``cnnsim.kernels.activations``.

Element-wise kernels (one thread per element, over the flattened C-contiguous array):

    relu(x) = max(x, 0)            relu'  = [x > 0]          (NaN passes through)
    sigmoid(x) = 1/(1 + e^-x)      sigmoid' = y (1 - y)      (exp of non-positive only)
    tanh                            tanh'    = 1 - y^2
    scaled_tanh(x) = A tanh(S x), A = 1.7159, S = 2/3 (LeCun 1998)

Row-wise softmax of ``x (N, K)``: one block per row; its threads take strided shares of
the row, and the row max and the sum of exponentials are block reductions in shared
memory (fixed tree order, float64), so the whole GPU works even for one long row.
"""

import math

from numba import cuda, float64

from ..activations import SCALED_TANH_A, SCALED_TANH_S
from ._util import (
    block_sum,
    elementwise,
    empty,
    per_threads,
    reduce_launch,
    row_max,
    threads,
    to_device,
)


@cuda.jit
def _relu(x, y):
    i = cuda.grid(1)
    if i < y.size:
        v = x[i]
        y[i] = 0 if v <= 0 else v


@cuda.jit
def _relu_b(dy, x, dx):
    i = cuda.grid(1)
    if i < dx.size:
        dx[i] = dy[i] if x[i] > 0 else 0


@cuda.jit
def _sigmoid(x, y):
    i = cuda.grid(1)
    if i < y.size:
        v = x[i]
        if v >= 0:
            y[i] = 1.0 / (1.0 + math.exp(-v))
        else:
            e = math.exp(v)
            y[i] = e / (1.0 + e)


@cuda.jit
def _sigmoid_b(dy, y, dx):
    i = cuda.grid(1)
    if i < dx.size:
        dx[i] = dy[i] * y[i] * (1.0 - y[i])


@cuda.jit
def _tanh(x, y):
    i = cuda.grid(1)
    if i < y.size:
        y[i] = math.tanh(x[i])


@cuda.jit
def _tanh_b(dy, y, dx):
    i = cuda.grid(1)
    if i < dx.size:
        dx[i] = dy[i] * (1.0 - y[i] * y[i])


@cuda.jit
def _stanh(x, y):
    i = cuda.grid(1)
    if i < y.size:
        y[i] = SCALED_TANH_A * math.tanh(SCALED_TANH_S * x[i])


@cuda.jit
def _stanh_b(dy, x, dx):
    i = cuda.grid(1)
    if i < dx.size:
        t = math.tanh(SCALED_TANH_S * x[i])
        dx[i] = dy[i] * (SCALED_TANH_A * SCALED_TANH_S) * (1.0 - t * t)


def relu_forward(x):
    return elementwise(_relu, x)


def relu_backward(dy, x):
    """dx = dy where x > 0, else 0."""
    return elementwise(_relu_b, dy, x)


def sigmoid_forward(x):
    return elementwise(_sigmoid, x)


def sigmoid_backward(dy, y):
    return elementwise(_sigmoid_b, dy, y)


def tanh_forward(x):
    return elementwise(_tanh, x)


def tanh_backward(dy, y):
    return elementwise(_tanh_b, dy, y)


def scaled_tanh_forward(x):
    return elementwise(_stanh, x)


def scaled_tanh_backward(dy, x):
    """dx = dy * A S (1 - tanh(S x)^2), from the pre-activation x."""
    return elementwise(_stanh_b, dy, x)


@per_threads
def _softmax_kernels(nt):
    @cuda.jit
    def fwd(x, y):
        sm = cuda.shared.array(nt, float64)
        t = cuda.threadIdx.x
        n = cuda.blockIdx.x  # one block per row
        k_ = x.shape[1]
        m = row_max(x, n, sm, t, nt)
        s = 0.0
        k = t
        while k < k_:
            e = math.exp(float(x[n, k]) - m)
            y[n, k] = e
            s += e
            k += nt
        sm[t] = s
        s = block_sum(sm, t, nt)
        inv = 1.0 / s
        k = t
        while k < k_:
            y[n, k] = y[n, k] * inv
            k += nt

    @cuda.jit
    def bwd(dy, y, dx):
        sm = cuda.shared.array(nt, float64)
        t = cuda.threadIdx.x
        n = cuda.blockIdx.x
        k_ = y.shape[1]
        s = 0.0
        k = t
        while k < k_:
            s += float(dy[n, k]) * float(y[n, k])
            k += nt
        sm[t] = s
        s = block_sum(sm, t, nt)
        k = t
        while k < k_:
            dx[n, k] = y[n, k] * (dy[n, k] - s)
            k += nt

    return fwd, bwd


def softmax_forward(x):
    """Row-wise softmax of ``x (N, K)``; the row max is subtracted so exp never overflows."""
    x = to_device(x)
    y = empty(x.shape, x.dtype)
    if y.size:
        _softmax_kernels(threads())[0][reduce_launch(x.shape[0])](x, y)
    return y


def softmax_backward(dy, y):
    """dx[n, k] = y[n, k] (dy[n, k] - sum_j dy[n, j] y[n, j])."""
    dy, y = to_device(dy), to_device(y)
    dx = empty(y.shape, dy.dtype)
    if dx.size:
        _softmax_kernels(threads())[1][reduce_launch(y.shape[0])](dy, y, dx)
    return dx
