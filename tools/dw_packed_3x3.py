"""Experiment (not used by cnnsim): the 3x3 weight gradient as the packed product of
pointwise.tile_kernel, timed against the current blocked dot products (one thread, CPU
time). See docs/performance.md, "Round three, continued". Run: python tools/dw_packed_3x3.py
"""

import statistics as st
import time

import numba
import numpy as np
from numba import njit, prange

from cnnsim.kernels.conv import fast_backward_weight
from cnnsim.kernels.conv.pointwise import MR, NR, _blocks, pack_positions, tile_kernel


@njit(parallel=True)
def dw_gemm(dp, x, f_, kh, kw, top, left, ho, wo, rows_per_block):
    n_, c_, h, wd = x.shape
    ncol = c_ * kh * kw
    cb = _blocks(ncol, NR)
    fb = dp.shape[0]
    g = np.zeros((f_, ncol), dtype=x.dtype)
    kbmax = rows_per_block * wo
    for t in prange(cb):
        j0 = t * NR
        nc = min(NR, ncol - j0)
        acc = np.zeros((fb, MR, NR), dtype=x.dtype)
        bp = np.zeros((kbmax, NR), dtype=x.dtype)
        for n in range(n_):
            for i0 in range(0, ho, rows_per_block):
                nr = min(rows_per_block, ho - i0)
                kc = nr * wo
                for jj in range(nc):
                    col = j0 + jj
                    c = col // (kh * kw)
                    u = (col // kw) % kh
                    v = col % kw
                    for ii in range(nr):
                        r = i0 + ii + u - top
                        dst = bp[ii * wo : ii * wo + wo]
                        if r < 0 or r >= h:
                            for s in range(wo):
                                dst[s, jj] = 0
                            continue
                        row = x[n, c, r]
                        for s in range(wo):
                            q = s + v - left
                            dst[s, jj] = row[q] if 0 <= q < wd else 0
                for i in range(fb):
                    tile_kernel(dp[i], n * ho * wo + i0 * wo, bp, 0, kc, acc[i])
        for f in range(f_):
            for jj in range(nc):
                g[f, j0 + jj] = acc[f // MR, f % MR, jj]
    return g


def run(n, c, hw, f, k):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, hw, hw)).astype(np.float32)
    dy = rng.standard_normal((n, f, hw, hw)).astype(np.float32)
    mask = np.ones((f, c), np.uint8)
    p = k // 2
    ours = lambda: dw_gemm(
        pack_positions(dy.reshape(n, f, -1)), x, f, k, k, p, p, hw, hw, max(1, 256 // hw)
    ).reshape(f, c, k, k)
    cur = lambda: fast_backward_weight(dy, x, mask, k, k, 1, 1, p, p, p, p)[0]
    a, b_ = ours(), cur()
    print("max diff vs current", np.abs(a - b_).max(), "scale", np.abs(b_).max())
    for name, fn in (("packed", ours), ("current", cur)):
        ts = []
        for _ in range(5):
            s = time.process_time()
            fn()
            ts.append(time.process_time() - s)
        print(
            f"  {name}: {st.median(ts) * 1e3:.1f} ms  ({2 * n * f * c * k * k * hw * hw / st.median(ts) / 1e9:.0f} GFLOP/s)"
        )


if __name__ == "__main__":
    numba.set_num_threads(1)
    print("resnet 3x3 dw")
    run(8, 64, 56, 64, 3)
    print("alexnet c5 dw")
    run(8, 384, 13, 256, 3)
