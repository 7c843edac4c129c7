"""Register-blocked building blocks of the direct convolution (see ``kernels.conv``).

The idea, in three steps (no im2col matrix is ever built):

1. **Phase layout.** The zero-padded input ``xp (N, C, Hp, Wp)`` is rearranged once per
   call into "phase planes": for stride ``(sh, sw)`` plane ``(c, a, b)`` holds
   ``xp[c, a::sh, b::sw]``. A strided convolution becomes a stride-1 convolution over
   ``C*sh*sw`` planes with kernel ``ceil(KH/sh) x ceil(KW/sw)`` (for stride 1 the
   planes *are* ``xp``). Same number of elements as the input: a permutation, not a copy
   per tap.
2. **Taps as offsets.** Each plane is stored flat with row pitch ``Wq``. Output neuron
   ``(i, j)`` lives at flat position ``p = i*Wq + j`` and kernel tap ``(c, u, v)`` reads
   ``xf[p + off[c, u, v]]``: every tap is the *same* contiguous stretch of memory shifted
   by a constant. So ``y_flat[f, p] = sum_r w[f, r] * xf[p + off[r]]``, an inner loop over
   contiguous ``p`` that LLVM vectorizes (8 float32 lanes with AVX2). Columns
   ``wo <= j < Wq`` of the flat output are junk (they straddle two rows) and are dropped.
3. **Register blocking.** One pass of the inner loop updates ``FB = 8`` output maps from
   ``G = 2`` taps: each input vector loaded from memory feeds 8 multiply-adds, and each
   accumulator loaded/stored feeds 2. The 16 weights of the block are scalars held in
   registers for the whole loop. Positions are processed in chunks of ``CH`` so the
   8 accumulator rows stay in L1 while the taps stream past.

Determinism: every output element is owned by one ``prange`` iteration and summed in a
fixed tap order; ``fastmath={'contract'}`` only lets LLVM fuse ``a + w*x`` into one FMA
(one rounding instead of two), which is the same on every run. The weight-gradient
reduction additionally uses ``'reassoc'`` so the dot products over ``p`` vectorize; the
order is fixed by the compiled loop, not by the thread count (each ``dw`` element is
computed by exactly one iteration of one thread).
"""
import numpy as np
from numba import njit, prange

FB = 8     # output maps per register block (one AVX2 float32 vector of weights' worth)
G = 2      # taps per pass of the inner loop
CH = 512   # flat positions per chunk (8 rows x 512 float32 = 16 KiB of accumulators)
FBW = 4    # filters per block in the weight gradient
GW = 2     # taps per block in the weight gradient

_FM = {"contract"}
_FM_RED = {"contract", "reassoc"}


@njit(cache=True)
def phase_geometry(h, w, kh, kw, sh, sw, top, bottom, left, right):
    """Sizes of the phase layout: ``(ho, wo, qh, qw, hq, wq)``.

    ``ho, wo`` output size; ``qh = ceil(KH/sh)``, ``qw = ceil(KW/sw)`` the kernel size in
    phase planes; ``hq = ho + qh - 1`` rows and ``wq = wo + qw - 1`` columns per plane.
    """
    hp = h + top + bottom
    wp = w + left + right
    ho = (hp - kh) // sh + 1
    wo = (wp - kw) // sw + 1
    qh = (kh + sh - 1) // sh
    qw = (kw + sw - 1) // sw
    return ho, wo, qh, qw, ho + qh - 1, wo + qw - 1


@njit(cache=True, parallel=True)
def to_phase_planes(x, sh, sw, top, left, hq, wq, slack):
    """``x (N, C, H, W)`` -> ``xf (N, C*sh*sw*hq*wq + slack)``, zero-padded phase planes.

    ``xf[n, ((c*sh + a)*sw + b)*hq*wq + I*wq + J] = x[n, c, I*sh + a - top, J*sw + b - left]``
    (0 outside ``x``). ``slack`` trailing zeros let junk columns read past the last plane.
    """
    n_, c_, h, w = x.shape
    plane = hq * wq
    xf = np.zeros((n_, c_ * sh * sw * plane + slack), dtype=x.dtype)
    for nc in prange(n_ * c_):
        n = nc // c_
        c = nc % c_
        for a in range(sh):
            for b in range(sw):
                base = ((c * sh + a) * sw + b) * plane
                for i in range(hq):
                    r = i * sh + a - top
                    if r < 0 or r >= h:
                        continue
                    row = base + i * wq
                    for j in range(wq):
                        s = j * sw + b - left
                        if 0 <= s < w:
                            xf[n, row + j] = x[n, c, r, s]
    return xf


@njit(cache=True, fastmath=_FM, parallel=True)
def blocked_plane_conv(xf, offs, wg, bias, P):
    """The hot loop. ``yf[n, f, p] = bias[f] + sum_r wg[f // FB, r, f % FB] * xf[n, p + offs[r]]``.

    ``xf (N, L)`` flat input planes, ``offs (R,)`` tap offsets (R a multiple of G),
    ``wg (NB, R, FB)`` weights blocked by FB output maps, ``bias (NB*FB,)``.
    Returns ``yf (N, NB*FB, P)``. One ``prange`` iteration per (image, block of FB maps).
    """
    n_ = xf.shape[0]
    nb = wg.shape[0]
    r_ = offs.shape[0]
    yf = np.empty((n_, nb * FB, P), dtype=xf.dtype)
    for t in prange(n_ * nb):
        n = t // nb
        fb = t % nb
        xn = xf[n]
        acc = np.empty((FB, CH), dtype=xf.dtype)   # one allocation per work item
        a0 = acc[0]
        a1 = acc[1]
        a2 = acc[2]
        a3 = acc[3]
        a4 = acc[4]
        a5 = acc[5]
        a6 = acc[6]
        a7 = acc[7]
        for p0 in range(0, P, CH):
            m = min(CH, P - p0)
            for k in range(FB):
                acc[k, :] = bias[fb * FB + k]
            for r in range(0, r_, G):
                o0 = p0 + offs[r]
                o1 = p0 + offs[r + 1]
                x0 = xn[o0:o0 + m]
                x1 = xn[o1:o1 + m]
                # 16 weights of this (block, tap pair): scalars, kept in registers
                w = wg[fb, r]
                w00, w01, w02, w03, w04, w05, w06, w07 = w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]
                w = wg[fb, r + 1]
                w10, w11, w12, w13, w14, w15, w16, w17 = w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]
                # contiguous in p: vectorized; each loaded x feeds 8 maps
                for p in range(m):
                    v0 = x0[p]
                    v1 = x1[p]
                    a0[p] = a0[p] + w00 * v0 + w10 * v1
                    a1[p] = a1[p] + w01 * v0 + w11 * v1
                    a2[p] = a2[p] + w02 * v0 + w12 * v1
                    a3[p] = a3[p] + w03 * v0 + w13 * v1
                    a4[p] = a4[p] + w04 * v0 + w14 * v1
                    a5[p] = a5[p] + w05 * v0 + w15 * v1
                    a6[p] = a6[p] + w06 * v0 + w16 * v1
                    a7[p] = a7[p] + w07 * v0 + w17 * v1
            for k in range(FB):
                yf[n, fb * FB + k, p0:p0 + m] = acc[k, :m]
    return yf


@njit(cache=True, fastmath=_FM_RED, parallel=True)
def blocked_weight_grad(dyf, xf, offs, P):
    """``dwg[f, r] = sum_n sum_p dyf[n, f, p] * xf[n, p + offs[r]]``.

    ``dyf (N, F4, P)`` output gradient in the flat layout (junk columns zero, F4 a multiple
    of FBW), ``xf (N, L)`` flat input planes, ``offs (R,)`` with R a multiple of GW.
    Returns ``dwg (F4, R)``. One ``prange`` iteration owns FBW x GW entries of ``dwg``
    (4 filters x 2 taps = 8 running dot products, each fed by one load of dy and of x).
    """
    n_ = xf.shape[0]
    f4 = dyf.shape[1]
    r_ = offs.shape[0]
    nfb = f4 // FBW
    nrb = r_ // GW
    dwg = np.zeros((f4, r_), dtype=xf.dtype)
    zero = np.zeros(1, dtype=xf.dtype)[0]   # 0 of the input's dtype
    for t in prange(nfb * nrb):
        fb = t // nrb          # filter block outer: consecutive items share dy
        r = (t % nrb) * GW
        f = fb * FBW
        s00 = s01 = s10 = s11 = s20 = s21 = s30 = s31 = zero
        for n in range(n_):
            d0 = dyf[n, f]
            d1 = dyf[n, f + 1]
            d2 = dyf[n, f + 2]
            d3 = dyf[n, f + 3]
            x0 = xf[n, offs[r]:offs[r] + P]
            x1 = xf[n, offs[r + 1]:offs[r + 1] + P]
            for p in range(P):
                v0 = x0[p]
                v1 = x1[p]
                s00 += d0[p] * v0
                s01 += d0[p] * v1
                s10 += d1[p] * v0
                s11 += d1[p] * v1
                s20 += d2[p] * v0
                s21 += d2[p] * v1
                s30 += d3[p] * v0
                s31 += d3[p] * v1
        dwg[f, r] = s00
        dwg[f, r + 1] = s01
        dwg[f + 1, r] = s10
        dwg[f + 1, r + 1] = s11
        dwg[f + 2, r] = s20
        dwg[f + 2, r + 1] = s21
        dwg[f + 3, r] = s30
        dwg[f + 3, r + 1] = s31
    return dwg
