"""Fused softmax cross-entropy kernels.

Arrays in, arrays out; no validation (``cnnsim.functional.losses`` validates once).

``logits (N, K)``, ``labels (N,)`` int64 in [0, K):

    lse_n  = m_n + log sum_k exp(z[n, k] - m_n),   m_n = max_k z[n, k]   (log-sum-exp)
    loss   = (1/N) sum_n (lse_n - z[n, labels[n]])
    probs  = exp(z - lse)                                              (the softmax)
    dlogits = (probs - onehot(labels)) / N

exp is only taken of non-positive numbers, so logits like 1000 neither overflow nor
lose the loss to log(0). The mean over N is summed serially in row order (in float64),
so it does not depend on the thread count.
"""

import math

import numpy as np
from numba import prange

from ._twins import parallel_kernel


@parallel_kernel()
def softmax_cross_entropy_forward(logits, labels):
    """``(loss, probs (N, K))``: mean cross-entropy (a float64 scalar) and the softmax."""
    n_, k_ = logits.shape
    probs = np.empty_like(logits)
    row_loss = np.empty(n_, dtype=np.float64)
    for n in prange(n_):
        m = logits[n, 0]
        for k in range(1, k_):
            if logits[n, k] > m:
                m = logits[n, k]
        s = 0.0
        for k in range(k_):
            s += math.exp(logits[n, k] - m)
        lse = m + math.log(s)
        for k in range(k_):
            probs[n, k] = math.exp(logits[n, k] - lse)
        row_loss[n] = lse - logits[n, labels[n]]
    total = 0.0
    for n in range(n_):
        total += row_loss[n]
    return total / n_, probs


@parallel_kernel()
def softmax_cross_entropy_backward(probs, labels):
    """``dlogits (N, K) = (probs - onehot(labels)) / N``."""
    n_, k_ = probs.shape
    d = np.empty_like(probs)
    inv_n = 1.0 / n_
    for n in prange(n_):
        for k in range(k_):
            d[n, k] = probs[n, k] * inv_n
        d[n, labels[n]] = (probs[n, labels[n]] - 1.0) * inv_n
    return d
