"""CUDA twins of ``cnnsim.kernels.losses``: fused softmax cross-entropy.

``logits (N, K)``, ``labels (N,)`` int64 in [0, K):

    lse_n = m_n + log sum_k exp(z[n, k] - m_n)      loss = (1/N) sum_n (lse_n - z[n, labels[n]])
    probs = exp(z - lse)                             dlogits = (probs - onehot(labels)) / N

Forward: one block per row (row max and sum of exponentials as shared-memory block
reductions in float64), then one block reduces the N row losses in a fixed tree order;
the scalar loss is the only value copied to the host (the caller wants a number).
Backward: one thread per element.
"""

import math

import numpy as np
from numba import cuda, float64

from ._util import block_sum, empty, grid1d, per_threads, reduce_launch, row_max, threads, to_device


@per_threads
def _kernels(nt):
    @cuda.jit
    def rows(z, labels, probs, row_loss):
        sm = cuda.shared.array(nt, float64)
        t = cuda.threadIdx.x
        n = cuda.blockIdx.x
        k_ = z.shape[1]
        m = row_max(z, n, sm, t, nt)
        s = 0.0
        k = t
        while k < k_:
            s += math.exp(float(z[n, k]) - m)
            k += nt
        sm[t] = s
        s = block_sum(sm, t, nt)
        lse = m + math.log(s)
        k = t
        while k < k_:
            probs[n, k] = math.exp(float(z[n, k]) - lse)
            k += nt
        if t == 0:
            row_loss[n] = lse - z[n, labels[n]]

    @cuda.jit
    def mean(row_loss, out):
        sm = cuda.shared.array(nt, float64)
        t = cuda.threadIdx.x
        n_ = row_loss.size
        s = 0.0
        k = t
        while k < n_:
            s += row_loss[k]
            k += nt
        sm[t] = s
        s = block_sum(sm, t, nt)
        if t == 0:
            out[0] = s / n_

    return rows, mean


def softmax_cross_entropy_forward(logits, labels):
    """``(loss, probs (N, K))``: mean cross-entropy (a float64 scalar, on the host) and the
    softmax (a device array)."""
    z = to_device(logits)
    lab = to_device(labels)
    n_ = z.shape[0]
    probs = empty(z.shape, z.dtype)
    row_loss = empty((n_,), np.float64)
    out = empty((1,), np.float64)
    rows, mean = _kernels(threads())
    rows[reduce_launch(n_)](z, lab, probs, row_loss)
    mean[reduce_launch(1)](row_loss, out)
    return np.float64(out.copy_to_host()[0]), probs


@cuda.jit
def _backward(probs, labels, inv_n, d):
    t = cuda.grid(1)
    if t >= d.size:
        return
    k_ = probs.shape[1]
    n = t // k_
    k = t % k_
    if k == labels[n]:
        d[n, k] = (probs[n, k] - 1.0) * inv_n
    else:
        d[n, k] = probs[n, k] * inv_n


def softmax_cross_entropy_backward(probs, labels):
    """``dlogits (N, K) = (probs - onehot(labels)) / N``."""
    p = to_device(probs)
    lab = to_device(labels)
    d = empty(p.shape, p.dtype)
    if d.size:
        _backward[grid1d(d.size)](p, lab, 1.0 / p.shape[0], d)
    return d
