"""Shared helpers of the CUDA twins: host <-> device copies, launch configurations, and
the block-level tree reductions used wherever many values are summed into one.

Launch sizes come from ``cnnsim.config``:

* ``threads_per_block`` (a power of two): 1-D kernels launch ``ceil(n / threads)`` blocks
  of that many threads, one thread per output element; block reductions use one block of
  that many threads per reduced value.
* ``tile``: the side of the square shared-memory tiles of the dense (matrix product)
  kernels; blocks are ``tile x tile`` threads.

Determinism: a block reduction has each thread sum a fixed, strided subset of the terms
(``t, t + T, t + 2T, ...`` in increasing order) and then halves the partial sums in a fixed
tree (``sm[t] += sm[t + s]`` for ``s = T/2, T/4, ..., 1``). No float atomics anywhere, so
the same input and launch size give bit-identical results on every run.
"""

import functools
import math

import numpy as np
from numba import cuda

from ... import config


def is_device(a):
    """True for a numba device array (also the simulator's ``FakeCUDAArray``)."""
    return hasattr(a, "copy_to_host") and hasattr(a, "shape")


def to_device(a):
    """``a`` on the device: device arrays pass through untouched (no copy); other objects
    exposing ``__cuda_array_interface__`` (CuPy, PyTorch) are wrapped; host arrays are
    copied (made C-contiguous first)."""
    if is_device(a):
        return a
    if hasattr(a, "__cuda_array_interface__"):
        return cuda.as_cuda_array(a)
    return cuda.to_device(np.ascontiguousarray(a))


def to_host(a):
    """``a`` as a NumPy array (a copy from the device; host arrays pass through)."""
    return a.copy_to_host() if is_device(a) else a


def empty(shape, dtype):
    """An uninitialised device array."""
    return cuda.device_array(tuple(int(s) for s in shape), dtype=np.dtype(dtype))


def zeros(shape, dtype):
    """A device array of zeros (filled on the device: no host copy)."""
    a = empty(shape, dtype)
    if a.size:
        flat = a.reshape(a.size)
        _fill[grid1d(a.size)](flat, flat.dtype.type(0))
    return a


def copy(a):
    """A new device array holding ``a``'s values (device to device)."""
    a = to_device(a)
    out = empty(a.shape, a.dtype)
    if a.size:
        out.copy_to_device(a)
    return out


def threads():
    """Threads per block (``config.threads_per_block``), checked to be a power of two."""
    t = int(config.threads_per_block)
    if t < 1 or t & (t - 1) or t > 1024:
        raise ValueError(
            f"cnnsim.config.threads_per_block must be a power of two in [1, 1024], "
            f"got {config.threads_per_block!r}"
        )
    return t


def tile():
    """Side of the dense kernels' shared-memory tiles (``config.tile``); tile*tile <= 1024."""
    t = int(config.tile)
    if t < 1 or t * t > 1024:
        raise ValueError(f"cnnsim.config.tile must lie in [1, 32], got {config.tile!r}")
    return t


def grid1d(n):
    """``(blocks, threads)`` covering ``n`` elements, one thread each."""
    t = threads()
    return max(1, -(-int(n) // t)), t


def reduce_launch(blocks):
    """``(blocks, threads)`` for ``blocks`` block reductions."""
    return max(1, int(blocks)), threads()


def zero_of(a):
    """A 0 of ``a``'s dtype, passed to kernels so register accumulators get that type."""
    return np.dtype(a.dtype).type(0)


@cuda.jit
def _fill(a, value):
    i = cuda.grid(1)
    if i < a.size:
        a[i] = value


@cuda.jit(device=True)
def block_sum(sm, t, n):
    """Tree-sum ``sm[0:n]`` (``n`` = blockDim, a power of two) in a fixed order; returns the
    total to every thread. Every thread of the block must call it (it synchronises)."""
    cuda.syncthreads()
    s = n // 2
    while s > 0:
        if t < s:
            sm[t] += sm[t + s]
        cuda.syncthreads()
        s //= 2
    total = sm[0]
    cuda.syncthreads()  # sm may be reused right after
    return total


@cuda.jit(device=True)
def block_max(sm, t, n):
    """Tree-max of ``sm[0:n]``, like ``block_sum`` (a NaN wins, as ``max`` over a row with NaN
    gives NaN in the CPU softmax's sums anyway)."""
    cuda.syncthreads()
    s = n // 2
    while s > 0:
        if t < s:
            o = sm[t + s]
            if o > sm[t] or o != o:
                sm[t] = o
        cuda.syncthreads()
        s //= 2
    total = sm[0]
    cuda.syncthreads()
    return total


@cuda.jit(device=True)
def nchw(t, c_, h_, w_):
    """``(n, c, i, j)`` of flat index ``t`` in a C-contiguous ``(N, c_, h_, w_)`` array."""
    j = t % w_
    q = t // w_
    i = q % h_
    q //= h_
    return q // c_, q % c_, i, j


@cuda.jit(device=True)
def row_max(x, n, sm, t, nt):
    """Max of row ``n`` of ``x (N, K)`` as a float: each of the block's ``nt`` threads
    scans a strided share (a NaN wins), then ``block_max`` over the shared ``sm``."""
    m = -math.inf
    k = t
    while k < x.shape[1]:
        v = float(x[n, k])
        if v > m or v != v:
            m = v
        k += nt
    sm[t] = m
    return block_max(sm, t, nt)


def elementwise(kernel, *arrays):
    """Launch ``kernel(*flat inputs, flat y)`` with one thread per element, ``y`` a new
    device array of the first input's shape and dtype (inputs: same shape, C-contiguous)."""
    arrays = [to_device(a) for a in arrays]
    y = empty(arrays[0].shape, arrays[0].dtype)
    if y.size:
        kernel[grid1d(y.size)](*(a.reshape(a.size) for a in arrays), y.reshape(y.size))
    return y


def per_threads(factory):
    """Cache a kernel factory keyed by its compile-time constants (threads, dtype, ...):
    shared arrays need sizes and types known when the kernel compiles."""
    return functools.lru_cache(maxsize=None)(factory)
