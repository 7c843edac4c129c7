"""1x1 convolution (stride 1, no padding) as the matrix product it is.

With ``P = H * W`` positions, ``x (N, C, P)``, ``w (F, C)`` (the 1x1 kernels), ``b (F,)``
and ``mask (F, C)``:

    forward  y[n, f, p] = b[f] + sum_c mask[f, c] w[f, c] x[n, c, p]     (F x C) . (C x P)
    input    dx[n, c, p] = sum_f mask[f, c] w[f, c] dy[n, f, p]          (C x F) . (F x P)
    weight   dw[f, c] = mask[f, c] sum_(n, p) dy[n, f, p] x[n, c, p]     (F x NP) . (NP x C)
    bias     db[f] = sum_(n, p) dy[n, f, p]

the same loops as :mod:`cnnsim.kernels.conv.direct` with ``KH = KW = 1``. Each is one
product ``out[m, j] = sum_k A[m, k] B[k, j]`` computed the way fast matrix-product
libraries do it (GotoBLAS), in plain Numba, with no BLAS call:

* **packing**: ``A`` is copied into panels of ``MR`` rows, stored ``k``-major
  (``ap[block, k, m]``), and ``B`` into panels of ``NR`` columns (``bp[k, j]``), so the
  micro-kernel reads both as contiguous streams; rows and columns past the edge are zero.
* **micro-kernel** (:func:`tile_kernel`): an ``MR x NR`` tile of ``out`` (6 x 16: 12
  vector registers of 8 float32 lanes) stays in registers for the whole reduction over
  ``k``; each step loads ``NR`` numbers of ``B`` (2 vectors) and ``MR`` of ``A``
  (broadcasts) for ``MR * NR`` multiply-adds.
* **cache blocking**: the reduction is cut into blocks of ``KC`` so a ``B`` panel
  (``KC x NR``, 16 KiB in float32) stays in L1 while every ``A`` panel streams past it.

The tile lives in scalar variables (``c0_0 ... c5_15``) because LLVM keeps only scalars
in registers; its SLP vectorizer, which Numba leaves off unless asked
(:func:`cnnsim.kernels.use_slp_vectorizer` turns it on), packs each row of 16 into
vectors. Every output element is summed by one thread in a fixed order (``KC`` blocks in
order, ``k`` in order within each), so results do not depend on the thread count.
"""

import numpy as np
from numba import njit, prange

MR = 6  # rows of the register tile (filters forward, channels for dx, filters for dw)
NR = 16  # columns (positions forward and for dx, channels for dw): 2 AVX2 vectors
KC = 256  # reduction block: a KC x NR panel of B is 16 KiB in float32 (L1 is 32-48 KiB)
NC = 256  # positions per work item of the forward pass and dx (16 panels of NR)
CW = 1  # channel panels of NR per work item of dw (2 measured no faster on inception)


@njit(cache=True)
def _blocks(n, size):
    return (n + size - 1) // size


@njit(cache=True)
def pack_rows(a2, mask):
    """``ap (ceil(M/MR), K, MR)``: ``ap[i, k, m] = mask[r, k] a2[r, k]`` with ``r = i*MR + m``
    (zero past ``M``), from ``a2 (M, K)``, ``mask (M, K)``."""
    m_, k_ = a2.shape
    ap = np.zeros((_blocks(m_, MR), k_, MR), dtype=a2.dtype)
    for r in range(m_):
        for k in range(k_):
            if mask[r, k] != 0:
                ap[r // MR, k, r % MR] = a2[r, k]
    return ap


@njit(cache=True)
def pack_columns(src, n, p0, np_, bp):
    """``bp[q, k, j] = src[n, k, p0 + q*NR + j]`` for the ``np_`` positions from ``p0``
    (``bp (ceil(np_/NR), K, NR)``, zeros left in place past ``np_``): the ``B`` panels of
    :func:`product_over_channels`, one contiguous ``K x NR`` panel per ``NR`` positions."""
    # Row views, indexed from 0 by loop counters: Numba then knows every index is
    # non-negative and drops its negative-index fix-up, so the copies vectorize.
    k_ = src.shape[1]
    full = np_ // NR
    for k in range(k_):
        row = src[n, k, p0 : p0 + np_]
        for q in range(full):
            seg = row[q * NR : q * NR + NR]
            dst = bp[q, k]
            for j in range(NR):  # fixed length: two vector moves
                dst[j] = seg[j]
        seg = row[full * NR :]
        for j in range(np_ - full * NR):
            bp[full, k, j] = seg[j]


@njit(cache=True, parallel=True)
def product_over_channels(ap, src, bias, m_):
    """``out (N, M, P)``: ``out[n, r, p] = bias[r] + sum_k A[r, k] src[n, k, p]`` with ``A``
    packed as ``ap`` (:func:`pack_rows`), ``src (N, K, P)``, ``bias (M,)``. The forward
    pass (``A = w``, ``src = x``) and ``dx`` (``A = w.T``, ``src = dy``, zero bias).

    One ``prange`` item per (image, run of at most ``NC`` positions): it packs its ``B`` panels
    (``src[n, :, p0:p0+NC]`` as ``NC / NR`` panels of ``K x NR``) and, one ``KC`` block of
    ``k`` at a time, runs every ``MR``-row panel of ``A`` over every ``B`` panel (the ``B``
    panel stays in L1 while the ``A`` panels stream past it from L2), then writes its
    ``M x NC`` slice of ``out``."""
    n_, k_, p_ = src.shape
    nb = _blocks(p_, NC)
    run = _blocks(_blocks(p_, nb), NR) * NR  # equal runs of whole panels (784 -> 4 x 196)
    mb_ = ap.shape[0]
    out = np.empty((n_, m_, p_), dtype=src.dtype)
    for t in prange(n_ * nb):
        n = t // nb
        p0 = (t % nb) * run
        np_ = min(run, p_ - p0)
        nq = _blocks(np_, NR)
        bp = np.zeros((nq, k_, NR), dtype=src.dtype)
        pack_columns(src, n, p0, np_, bp)
        acc = np.zeros((nq, mb_, MR, NR), dtype=src.dtype)
        for k0 in range(0, k_, KC):
            kc = min(KC, k_ - k0)
            for q in range(nq):
                for i in range(mb_):
                    tile_kernel(ap[i], k0, bp[q], k0, kc, acc[q, i])
        for r in range(m_):
            orow = out[n, r, p0 : p0 + np_]
            for q in range(nq):
                seg = orow[q * NR :]
                tile_row = acc[q, r // MR, r % MR]
                for j in range(min(NR, np_ - q * NR)):
                    seg[j] = tile_row[j] + bias[r]
    return out


@njit(cache=True, parallel=True)
def pack_positions(dy3):
    """``dp (ceil(F/MR), N*P, MR)``: ``dp[i, n*P + p, m] = dy[n, i*MR + m, p]`` (zero past
    ``F``), the ``A`` panels of the weight gradient, from ``dy3 (N, F, P)``."""
    n_, f_, p_ = dy3.shape
    dp = np.zeros((_blocks(f_, MR), n_ * p_, MR), dtype=dy3.dtype)
    for i in prange(dp.shape[0]):
        for m in range(min(MR, f_ - i * MR)):
            for n in range(n_):
                row = dy3[n, i * MR + m]
                dst = dp[i, n * p_ : n * p_ + p_]
                for p in range(p_):
                    dst[p, m] = row[p]
    return dp


@njit(cache=True, parallel=True)
def product_over_positions(dp, x3, f_):
    """``g (F, C)``: ``g[f, c] = sum_(n, p) dy[n, f, p] x[n, c, p]``, from ``dp`` (the
    packed ``dy``, :func:`pack_positions`) and ``x3 (N, C, P)``.

    One ``prange`` item per ``CW * NR`` channels: image by image, for each block of at
    most ``KC`` positions it packs ``x`` transposed (``bp[q, k, j] = x[n, c0 + q*NR + j,
    p0 + k]``, ``CW`` panels) and runs every ``MR``-filter panel of ``dy`` over them (each
    ``dy`` panel, read from L2 or further, then feeds ``CW`` tiles from L1), adding into
    its ``F x CW*NR`` slice of ``g`` (images and blocks in order: a fixed summation order).
    """
    n_, c_, p_ = x3.shape
    cb = _blocks(c_, CW * NR)
    fb = dp.shape[0]
    nkb = _blocks(p_, KC)
    kb = _blocks(p_, nkb)  # equal blocks of at most KC positions
    g = np.zeros((f_, c_), dtype=x3.dtype)
    for t in prange(cb):
        c0 = t * CW * NR
        nc = min(CW * NR, c_ - c0)
        nq = _blocks(nc, NR)
        acc = np.zeros((nq, fb, MR, NR), dtype=x3.dtype)
        bp = np.zeros((nq, kb, NR), dtype=x3.dtype)
        for n in range(n_):
            for p0 in range(0, p_, kb):
                kc = min(kb, p_ - p0)
                if nc == nq * NR:  # whole panels: one position at a time, 16 channels
                    for q in range(nq):  # (a contiguous 16-number store per position)
                        xs = x3[n, c0 + q * NR : c0 + q * NR + NR, p0 : p0 + kc]
                        dst = bp[q]
                        for k in range(kc):
                            d = dst[k]
                            for j in range(NR):
                                d[j] = xs[j, k]
                else:  # the last, partial panel: channel by channel
                    for c in range(nc):
                        row = x3[n, c0 + c, p0 : p0 + kc]
                        dst = bp[c // NR]
                        j = c % NR
                        for k in range(kc):
                            dst[k, j] = row[k]
                for i in range(fb):
                    for q in range(nq):
                        tile_kernel(dp[i], n * p_ + p0, bp[q], 0, kc, acc[q, i])
        for f in range(f_):
            for c in range(nc):
                g[f, c0 + c] = acc[c // NR, f // MR, f % MR, c % NR]
    return g


@njit(cache=True)
def forward(x, w, b, mask):
    """``y (N, F, H, W)`` from ``x (N, C, H, W)``, ``w (F, C, 1, 1)``, ``b (F,)``."""
    n_, c_, h, wd = x.shape
    f_ = w.shape[0]
    ap = pack_rows(w.reshape(f_, c_), mask)
    y = product_over_channels(ap, x.reshape(n_, c_, h * wd), b, f_)
    return y.reshape(n_, f_, h, wd)


@njit(cache=True)
def backward_input(dy, w, mask):
    """``dx (N, C, H, W)`` from ``dy (N, F, H, W)`` and ``w (F, C, 1, 1)``."""
    n_, f_, h, wd = dy.shape
    c_ = w.shape[1]
    ap = pack_rows(np.ascontiguousarray(w.reshape(f_, c_).T), np.ascontiguousarray(mask.T))
    dx = product_over_channels(ap, dy.reshape(n_, f_, h * wd), np.zeros(c_, dtype=dy.dtype), c_)
    return dx.reshape(n_, c_, h, wd)


@njit(cache=True)
def backward_weight(dy, x, mask):
    """``dw (F, C, 1, 1)`` from ``dy (N, F, H, W)`` and ``x (N, C, H, W)``; entries outside
    the connection table are 0."""
    n_, f_, h, wd = dy.shape
    c_ = x.shape[1]
    dp = pack_positions(dy.reshape(n_, f_, h * wd))
    g = product_over_positions(dp, x.reshape(n_, c_, h * wd), f_)
    for f in range(f_):
        for c in range(c_):
            if mask[f, c] == 0:
                g[f, c] = 0
    return g.reshape(f_, c_, 1, 1)


# ---- generated by tools/gen_pointwise.py: do not edit by hand ----


@njit(cache=True, fastmath={"contract"})
def tile_kernel(a, ka, b, kb, kc, c):
    """``c[m, j] += sum_(k<kc) a[ka+k, m] * b[kb+k, j]`` for a 6 x 16 tile ``c``.

    ``a (K, MR)`` and ``b (K, NR)`` are packed panels (C-contiguous), ``c (MR, NR)``.
    Replaces the plain loop (same terms, same order for every element)::

        for k in range(kc):
            for m in range(MR):
                for j in range(NR):
                    c[m, j] += a[ka + k, m] * b[kb + k, j]

    with the tile in registers across the whole ``k`` loop (generated code).
    """
    c0_0 = c[0, 0]
    c0_1 = c[0, 1]
    c0_2 = c[0, 2]
    c0_3 = c[0, 3]
    c0_4 = c[0, 4]
    c0_5 = c[0, 5]
    c0_6 = c[0, 6]
    c0_7 = c[0, 7]
    c0_8 = c[0, 8]
    c0_9 = c[0, 9]
    c0_10 = c[0, 10]
    c0_11 = c[0, 11]
    c0_12 = c[0, 12]
    c0_13 = c[0, 13]
    c0_14 = c[0, 14]
    c0_15 = c[0, 15]
    c1_0 = c[1, 0]
    c1_1 = c[1, 1]
    c1_2 = c[1, 2]
    c1_3 = c[1, 3]
    c1_4 = c[1, 4]
    c1_5 = c[1, 5]
    c1_6 = c[1, 6]
    c1_7 = c[1, 7]
    c1_8 = c[1, 8]
    c1_9 = c[1, 9]
    c1_10 = c[1, 10]
    c1_11 = c[1, 11]
    c1_12 = c[1, 12]
    c1_13 = c[1, 13]
    c1_14 = c[1, 14]
    c1_15 = c[1, 15]
    c2_0 = c[2, 0]
    c2_1 = c[2, 1]
    c2_2 = c[2, 2]
    c2_3 = c[2, 3]
    c2_4 = c[2, 4]
    c2_5 = c[2, 5]
    c2_6 = c[2, 6]
    c2_7 = c[2, 7]
    c2_8 = c[2, 8]
    c2_9 = c[2, 9]
    c2_10 = c[2, 10]
    c2_11 = c[2, 11]
    c2_12 = c[2, 12]
    c2_13 = c[2, 13]
    c2_14 = c[2, 14]
    c2_15 = c[2, 15]
    c3_0 = c[3, 0]
    c3_1 = c[3, 1]
    c3_2 = c[3, 2]
    c3_3 = c[3, 3]
    c3_4 = c[3, 4]
    c3_5 = c[3, 5]
    c3_6 = c[3, 6]
    c3_7 = c[3, 7]
    c3_8 = c[3, 8]
    c3_9 = c[3, 9]
    c3_10 = c[3, 10]
    c3_11 = c[3, 11]
    c3_12 = c[3, 12]
    c3_13 = c[3, 13]
    c3_14 = c[3, 14]
    c3_15 = c[3, 15]
    c4_0 = c[4, 0]
    c4_1 = c[4, 1]
    c4_2 = c[4, 2]
    c4_3 = c[4, 3]
    c4_4 = c[4, 4]
    c4_5 = c[4, 5]
    c4_6 = c[4, 6]
    c4_7 = c[4, 7]
    c4_8 = c[4, 8]
    c4_9 = c[4, 9]
    c4_10 = c[4, 10]
    c4_11 = c[4, 11]
    c4_12 = c[4, 12]
    c4_13 = c[4, 13]
    c4_14 = c[4, 14]
    c4_15 = c[4, 15]
    c5_0 = c[5, 0]
    c5_1 = c[5, 1]
    c5_2 = c[5, 2]
    c5_3 = c[5, 3]
    c5_4 = c[5, 4]
    c5_5 = c[5, 5]
    c5_6 = c[5, 6]
    c5_7 = c[5, 7]
    c5_8 = c[5, 8]
    c5_9 = c[5, 9]
    c5_10 = c[5, 10]
    c5_11 = c[5, 11]
    c5_12 = c[5, 12]
    c5_13 = c[5, 13]
    c5_14 = c[5, 14]
    c5_15 = c[5, 15]
    # unsigned row indices: no negative-index fix-up inside the loop
    ua = np.uint64(ka)
    ub = np.uint64(kb)
    for k in range(np.uint64(kc)):
        b0 = b[ub + k, 0]
        b1 = b[ub + k, 1]
        b2 = b[ub + k, 2]
        b3 = b[ub + k, 3]
        b4 = b[ub + k, 4]
        b5 = b[ub + k, 5]
        b6 = b[ub + k, 6]
        b7 = b[ub + k, 7]
        b8 = b[ub + k, 8]
        b9 = b[ub + k, 9]
        b10 = b[ub + k, 10]
        b11 = b[ub + k, 11]
        b12 = b[ub + k, 12]
        b13 = b[ub + k, 13]
        b14 = b[ub + k, 14]
        b15 = b[ub + k, 15]
        a0 = a[ua + k, 0]
        c0_0 += a0 * b0
        c0_1 += a0 * b1
        c0_2 += a0 * b2
        c0_3 += a0 * b3
        c0_4 += a0 * b4
        c0_5 += a0 * b5
        c0_6 += a0 * b6
        c0_7 += a0 * b7
        c0_8 += a0 * b8
        c0_9 += a0 * b9
        c0_10 += a0 * b10
        c0_11 += a0 * b11
        c0_12 += a0 * b12
        c0_13 += a0 * b13
        c0_14 += a0 * b14
        c0_15 += a0 * b15
        a1 = a[ua + k, 1]
        c1_0 += a1 * b0
        c1_1 += a1 * b1
        c1_2 += a1 * b2
        c1_3 += a1 * b3
        c1_4 += a1 * b4
        c1_5 += a1 * b5
        c1_6 += a1 * b6
        c1_7 += a1 * b7
        c1_8 += a1 * b8
        c1_9 += a1 * b9
        c1_10 += a1 * b10
        c1_11 += a1 * b11
        c1_12 += a1 * b12
        c1_13 += a1 * b13
        c1_14 += a1 * b14
        c1_15 += a1 * b15
        a2 = a[ua + k, 2]
        c2_0 += a2 * b0
        c2_1 += a2 * b1
        c2_2 += a2 * b2
        c2_3 += a2 * b3
        c2_4 += a2 * b4
        c2_5 += a2 * b5
        c2_6 += a2 * b6
        c2_7 += a2 * b7
        c2_8 += a2 * b8
        c2_9 += a2 * b9
        c2_10 += a2 * b10
        c2_11 += a2 * b11
        c2_12 += a2 * b12
        c2_13 += a2 * b13
        c2_14 += a2 * b14
        c2_15 += a2 * b15
        a3 = a[ua + k, 3]
        c3_0 += a3 * b0
        c3_1 += a3 * b1
        c3_2 += a3 * b2
        c3_3 += a3 * b3
        c3_4 += a3 * b4
        c3_5 += a3 * b5
        c3_6 += a3 * b6
        c3_7 += a3 * b7
        c3_8 += a3 * b8
        c3_9 += a3 * b9
        c3_10 += a3 * b10
        c3_11 += a3 * b11
        c3_12 += a3 * b12
        c3_13 += a3 * b13
        c3_14 += a3 * b14
        c3_15 += a3 * b15
        a4 = a[ua + k, 4]
        c4_0 += a4 * b0
        c4_1 += a4 * b1
        c4_2 += a4 * b2
        c4_3 += a4 * b3
        c4_4 += a4 * b4
        c4_5 += a4 * b5
        c4_6 += a4 * b6
        c4_7 += a4 * b7
        c4_8 += a4 * b8
        c4_9 += a4 * b9
        c4_10 += a4 * b10
        c4_11 += a4 * b11
        c4_12 += a4 * b12
        c4_13 += a4 * b13
        c4_14 += a4 * b14
        c4_15 += a4 * b15
        a5 = a[ua + k, 5]
        c5_0 += a5 * b0
        c5_1 += a5 * b1
        c5_2 += a5 * b2
        c5_3 += a5 * b3
        c5_4 += a5 * b4
        c5_5 += a5 * b5
        c5_6 += a5 * b6
        c5_7 += a5 * b7
        c5_8 += a5 * b8
        c5_9 += a5 * b9
        c5_10 += a5 * b10
        c5_11 += a5 * b11
        c5_12 += a5 * b12
        c5_13 += a5 * b13
        c5_14 += a5 * b14
        c5_15 += a5 * b15
    c[0, 0] = c0_0
    c[0, 1] = c0_1
    c[0, 2] = c0_2
    c[0, 3] = c0_3
    c[0, 4] = c0_4
    c[0, 5] = c0_5
    c[0, 6] = c0_6
    c[0, 7] = c0_7
    c[0, 8] = c0_8
    c[0, 9] = c0_9
    c[0, 10] = c0_10
    c[0, 11] = c0_11
    c[0, 12] = c0_12
    c[0, 13] = c0_13
    c[0, 14] = c0_14
    c[0, 15] = c0_15
    c[1, 0] = c1_0
    c[1, 1] = c1_1
    c[1, 2] = c1_2
    c[1, 3] = c1_3
    c[1, 4] = c1_4
    c[1, 5] = c1_5
    c[1, 6] = c1_6
    c[1, 7] = c1_7
    c[1, 8] = c1_8
    c[1, 9] = c1_9
    c[1, 10] = c1_10
    c[1, 11] = c1_11
    c[1, 12] = c1_12
    c[1, 13] = c1_13
    c[1, 14] = c1_14
    c[1, 15] = c1_15
    c[2, 0] = c2_0
    c[2, 1] = c2_1
    c[2, 2] = c2_2
    c[2, 3] = c2_3
    c[2, 4] = c2_4
    c[2, 5] = c2_5
    c[2, 6] = c2_6
    c[2, 7] = c2_7
    c[2, 8] = c2_8
    c[2, 9] = c2_9
    c[2, 10] = c2_10
    c[2, 11] = c2_11
    c[2, 12] = c2_12
    c[2, 13] = c2_13
    c[2, 14] = c2_14
    c[2, 15] = c2_15
    c[3, 0] = c3_0
    c[3, 1] = c3_1
    c[3, 2] = c3_2
    c[3, 3] = c3_3
    c[3, 4] = c3_4
    c[3, 5] = c3_5
    c[3, 6] = c3_6
    c[3, 7] = c3_7
    c[3, 8] = c3_8
    c[3, 9] = c3_9
    c[3, 10] = c3_10
    c[3, 11] = c3_11
    c[3, 12] = c3_12
    c[3, 13] = c3_13
    c[3, 14] = c3_14
    c[3, 15] = c3_15
    c[4, 0] = c4_0
    c[4, 1] = c4_1
    c[4, 2] = c4_2
    c[4, 3] = c4_3
    c[4, 4] = c4_4
    c[4, 5] = c4_5
    c[4, 6] = c4_6
    c[4, 7] = c4_7
    c[4, 8] = c4_8
    c[4, 9] = c4_9
    c[4, 10] = c4_10
    c[4, 11] = c4_11
    c[4, 12] = c4_12
    c[4, 13] = c4_13
    c[4, 14] = c4_14
    c[4, 15] = c4_15
    c[5, 0] = c5_0
    c[5, 1] = c5_1
    c[5, 2] = c5_2
    c[5, 3] = c5_3
    c[5, 4] = c5_4
    c[5, 5] = c5_5
    c[5, 6] = c5_6
    c[5, 7] = c5_7
    c[5, 8] = c5_8
    c[5, 9] = c5_9
    c[5, 10] = c5_10
    c[5, 11] = c5_11
    c[5, 12] = c5_12
    c[5, 13] = c5_13
    c[5, 14] = c5_14
    c[5, 15] = c5_15


# ---- end of generated code ----
