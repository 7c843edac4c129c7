"""CUDA twins of ``cnnsim.kernels.dense``: fully connected layers as tiled matrix products.

Shapes: ``x (N, D_in)``, ``w (D_in, D_out)``, ``b (D_out,)``, ``y (N, D_out)``.

    y  = x w + b            dx = dy w^T            dw = x^T dy            db = sum_n dy

One kernel does all three products: the classic shared-memory tiling. A block of
``T x T`` threads (``T = cnnsim.config.tile``) owns a ``T x T`` tile of the output; for each
step along the summed axis it loads one ``T x T`` tile of each operand into shared memory
(each value read from global memory once per block instead of once per thread), syncs,
and every thread adds ``T`` products to its own register accumulator. Each output is owned
by one thread and summed in increasing index order (as on the CPU), so results are
deterministic; the tiles are built per dtype (shared arrays need their type at compile
time). ``db`` is a column sum over the batch: one thread per column, in increasing n.
"""

import numpy as np
from numba import cuda, from_dtype

from ._util import empty, grid1d, per_threads, tile, to_device, zero_of


@per_threads
def _matmul(dtype, t_, trans_a, trans_b, with_bias):
    """``C (M, P) = op(A) (M, K) @ op(B) (K, P) [+ bias (P,)]``; op = transpose when asked."""
    nbt = from_dtype(np.dtype(dtype))

    @cuda.jit
    def kernel(a, b, bias, c, zero):
        sa = cuda.shared.array((t_, t_), nbt)
        sb = cuda.shared.array((t_, t_), nbt)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        row = cuda.blockIdx.y * t_ + ty
        col = cuda.blockIdx.x * t_ + tx
        m, p = c.shape
        kk = a.shape[0] if trans_a else a.shape[1]
        acc = zero
        for k0 in range(0, kk, t_):
            ka = k0 + tx
            if row < m and ka < kk:
                sa[ty, tx] = a[ka, row] if trans_a else a[row, ka]
            else:
                sa[ty, tx] = zero
            kb = k0 + ty
            if kb < kk and col < p:
                sb[ty, tx] = b[col, kb] if trans_b else b[kb, col]
            else:
                sb[ty, tx] = zero
            cuda.syncthreads()
            for q in range(t_):
                acc += sa[ty, q] * sb[q, tx]  # padded entries are 0 * 0: no effect
            cuda.syncthreads()
        if row < m and col < p:
            if with_bias:
                acc += bias[col]
            c[row, col] = acc

    return kernel


def _launch(a, b, bias, out, trans_a, trans_b):
    t_ = tile()
    k = _matmul(out.dtype.str, t_, trans_a, trans_b, bias is not None)
    m, p = out.shape
    grid = (max(1, -(-p // t_)), max(1, -(-m // t_)))
    k[grid, (t_, t_)](a, b, out if bias is None else bias, out, zero_of(out))


def dense_forward(x, w, b):
    """``y (N, D_out) = x (N, D_in) @ w (D_in, D_out) + b (D_out,)``."""
    x, w, b = to_device(x), to_device(w), to_device(b)
    y = empty((x.shape[0], w.shape[1]), x.dtype)
    if y.size:
        _launch(x, w, b, y, False, False)
    return y


def dense_backward_input(dy, w):
    """``dx (N, D_in) = dy (N, D_out) @ w.T``."""
    dy, w = to_device(dy), to_device(w)
    dx = empty((dy.shape[0], w.shape[0]), dy.dtype)
    if dx.size:
        _launch(dy, w, None, dx, False, True)
    return dx


@cuda.jit
def _column_sums(dy, zero, db):
    j = cuda.grid(1)
    if j >= db.size:
        return
    s = zero
    for n in range(dy.shape[0]):
        s += dy[n, j]
    db[j] = s


def dense_backward_weight(dy, x):
    """``dw (D_in, D_out) = x.T @ dy`` and ``db (D_out,) = sum_n dy[n, :]``."""
    dy, x = to_device(dy), to_device(x)
    dw = empty((x.shape[1], dy.shape[1]), dy.dtype)
    db = empty((dy.shape[1],), dy.dtype)
    if dw.size:
        _launch(x, dy, None, dw, True, False)
    if db.size:
        _column_sums[grid1d(db.size)](dy, zero_of(dy), db)
    return dw, db
