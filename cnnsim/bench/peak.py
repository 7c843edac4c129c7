"""The machine's measured peak, printed in ``cnnsim bench``'s header: what "fast" means here.

* ``fma_peak(threads)``: GFLOP/s of a Numba loop that does nothing but multiply-adds on
  values held in registers (16 chained FMAs per element of a 512-float row per thread,
  compiled like the kernels, so at the vector width they use: run with
  ``CNNSIM_VECTOR_WIDTH=512`` for the AVX-512 peak). Best of a few runs: on a
  shared machine the best run is the one that had the cores.
* ``simd_fma_peak(threads)``: the same with the explicit vectors of
  :mod:`cnnsim.kernels.conv.simd` (the CPU's full width, which the register-tiled
  convolution uses whatever LLVM's preferred width is): the peak the tile is measured
  against. 0 on a CPU without FMA vectors.
* ``sgemm_peak()``: GFLOP/s of NumPy's float32 matrix product (its BLAS, with the threads
  it has) on 1024 x 1024 matrices: what a tuned library reaches.
* ``vector_width()``: the bits of the vectors the kernels are compiled for and why
  (``cnnsim.kernels.use_vector_width``).
"""

import time

import numpy as np
from numba import njit, prange

from ..kernels.conv.simd import VEC_BITS, vfma_bcast, vload, vstore
from ..kernels.conv.simd import lanes as simd_lanes

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


SIMD_CHAINS = 10  # independent accumulators: covers 2 FMA units x 4-5 cycles of latency


@njit(cache=True, parallel=True)
def _simd_fma_loop(a, reps, x):
    """``a (T, 10 * L)``: each thread runs 10 independent vector accumulators through
    ``reps * 16`` multiply-adds ``acc = x * w + acc`` (L lanes each, one FMA each)."""
    for t in prange(a.shape[0]):
        row = a[t]
        n = row.shape[0] // SIMD_CHAINS
        w = vload(row, 0)
        c0, c1, c2, c3, c4 = (
            vload(row, 0),
            vload(row, n),
            vload(row, 2 * n),
            vload(row, 3 * n),
            vload(row, 4 * n),
        )
        c5, c6, c7, c8, c9 = (
            vload(row, 5 * n),
            vload(row, 6 * n),
            vload(row, 7 * n),
            vload(row, 8 * n),
            vload(row, 9 * n),
        )
        for _ in range(reps * CHAIN):
            c0 = vfma_bcast(c0, x, w)
            c1 = vfma_bcast(c1, x, w)
            c2 = vfma_bcast(c2, x, w)
            c3 = vfma_bcast(c3, x, w)
            c4 = vfma_bcast(c4, x, w)
            c5 = vfma_bcast(c5, x, w)
            c6 = vfma_bcast(c6, x, w)
            c7 = vfma_bcast(c7, x, w)
            c8 = vfma_bcast(c8, x, w)
            c9 = vfma_bcast(c9, x, w)
        vstore(row, 0, c0)
        vstore(row, n, c1)
        vstore(row, 2 * n, c2)
        vstore(row, 3 * n, c3)
        vstore(row, 4 * n, c4)
        vstore(row, 5 * n, c5)
        vstore(row, 6 * n, c6)
        vstore(row, 7 * n, c7)
        vstore(row, 8 * n, c8)
        vstore(row, 9 * n, c9)
    return a


def simd_fma_peak(threads, runs=5, reps=200000):
    """Best GFLOP/s of :func:`_simd_fma_loop` on ``threads`` threads (0: no FMA vectors)."""
    import numba

    lanes_ = simd_lanes(np.dtype(np.float32))
    if lanes_ == 0:
        return 0.0
    numba.set_num_threads(threads)
    a = np.ones((threads, SIMD_CHAINS * lanes_), np.float32)
    x = np.float32(0.9999)
    _simd_fma_loop(a, 1, x)
    best = 0.0
    for _ in range(runs):
        t0 = time.perf_counter()
        _simd_fma_loop(a, reps, x)
        dt = time.perf_counter() - t0
        best = max(best, 2 * CHAIN * SIMD_CHAINS * lanes_ * reps * threads / dt / 1e9)
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


def peaks(threads, before=None):
    """``{"vector", "fma_gflops", "simd_bits", "simd_fma_gflops", "peak_gflops",
    "sgemm_gflops"}`` for the bench header; ``peak_gflops`` (the larger FMA figure) is what
    each row's share of peak is taken against. ``before``: an earlier result, and each
    figure is the better of the two (the bench measures before and after its rows: a
    peak measured while the VM was busy read 117 GFLOP/s instead of 230, and rows came
    out at 125-139 % "of peak")."""
    fma = fma_peak(threads)
    simd = simd_fma_peak(threads)
    sgemm = sgemm_peak()
    if before is not None:
        fma = max(fma, before["fma_gflops"])
        simd = max(simd, before["simd_fma_gflops"])
        sgemm = max(sgemm, before["sgemm_gflops"])
    return {
        "vector": vector_width(),
        "fma_gflops": fma,
        "simd_bits": VEC_BITS,
        "simd_fma_gflops": simd,
        "peak_gflops": max(fma, simd),
        "sgemm_gflops": sgemm,
    }
