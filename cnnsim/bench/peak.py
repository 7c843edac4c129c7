"""The machine's measured peak, printed in ``cnnsim bench``'s header: what "fast" means here.

* ``fma_peak(threads)``: GFLOP/s of a Numba loop that does nothing but multiply-adds on
  values held in registers (16 chained FMAs per element of a 512-float row per thread,
  compiled like the kernels, so at the vector width they use: run with
  ``CNNSIM_VECTOR_WIDTH=512`` for the AVX-512 peak). Best of a few runs: on a
  shared machine the best run is the one that had the cores.
* ``sgemm_peak()``: GFLOP/s of NumPy's float32 matrix product (its BLAS, with the threads
  it has) on 1024 x 1024 matrices: what a tuned library reaches.
* ``vector_width()``: the bits of the vectors the kernels are compiled for and why
  (``cnnsim.kernels.use_vector_width``).
"""

import time

import numpy as np
from numba import njit, prange

ROW = 512  # floats per thread: 2 KiB, in L1
CHAIN = 16  # multiply-adds per element per pass


@njit(cache=True, fastmath={"contract"}, parallel=True)
def _fma_loop(a, reps, x, y):
    """``a (T, ROW)``: each element goes through ``reps * 16`` multiply-adds ``v = v*x + y``."""
    for t in prange(a.shape[0]):
        row = a[t]
        for _ in range(reps):
            for p in range(row.shape[0]):
                v = row[p]
                v = v * x + y
                v = v * x + y
                v = v * x + y
                v = v * x + y
                v = v * x + y
                v = v * x + y
                v = v * x + y
                v = v * x + y
                v = v * x + y
                v = v * x + y
                v = v * x + y
                v = v * x + y
                v = v * x + y
                v = v * x + y
                v = v * x + y
                v = v * x + y
                row[p] = v
    return a


def fma_peak(threads, runs=5, reps=20000):
    """Best GFLOP/s (2 flops per multiply-add) of :func:`_fma_loop` on ``threads`` threads."""
    import numba

    numba.set_num_threads(threads)
    a = np.ones((threads, ROW), np.float32)
    x, y = np.float32(0.9999), np.float32(0.0001)
    _fma_loop(a, 1, x, y)
    best = 0.0
    for _ in range(runs):
        t0 = time.perf_counter()
        _fma_loop(a, reps, x, y)
        dt = time.perf_counter() - t0
        best = max(best, 2 * CHAIN * ROW * reps * threads / dt / 1e9)
    return best


def sgemm_peak(n=1024, runs=5):
    """Best GFLOP/s of NumPy's float32 ``a @ b`` (n x n)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    a @ b
    best = 0.0
    for _ in range(runs):
        t0 = time.perf_counter()
        a @ b
        best = max(best, 2 * n**3 / (time.perf_counter() - t0) / 1e9)
    return best


@njit(fastmath={"contract"})
def _width_probe(a, x):
    for p in range(a.shape[0]):
        a[p] = a[p] * x + x


def vector_width():
    """``{"bits": ..., "why": ...}``: the width of the vectors Numba emits in this process,
    read from the assembly of a small loop compiled like the kernels (``zmm`` registers:
    512, ``ymm``: 256, ``xmm`` only: 128), and why (``cnnsim.kernels.use_vector_width``)."""
    from ..kernels import VECTOR_WHY

    a = np.zeros(64, np.float32)
    _width_probe(a, np.float32(1))
    asm = "".join(_width_probe.inspect_asm().values())
    bits = 512 if "zmm" in asm else 256 if "ymm" in asm else 128
    return {"bits": bits, "why": VECTOR_WHY}


def peaks(threads):
    """``{"vector": ..., "fma_gflops": ..., "sgemm_gflops": ...}`` for the bench header."""
    return {"vector": vector_width(), "fma_gflops": fma_peak(threads), "sgemm_gflops": sgemm_peak()}
