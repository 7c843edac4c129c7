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
def blocked_plane_conv(xflat, gstride, ng, offs, wg, bias, P):
    """The hot loop. For every group ``g < ng`` (an image, or one output row of the batch-lane
    layout) and position ``p < P``:
    ``yf[g, f, p] = bias[f] + sum_r wg[f // FB, r, f % FB] * xflat[g*gstride + p + offs[r]]``.

    ``xflat (L,)`` flat input planes, ``offs (R,)`` tap offsets (R a multiple of G),
    ``wg (NB, R, FB)`` weights blocked by FB output maps, ``bias (NB*FB,)``.
    Returns ``yf (ng, NB*FB, P)``. One ``prange`` iteration per (group, block of FB maps).
    """
    nb = wg.shape[0]
    r_ = offs.shape[0]
    yf = np.empty((ng, nb * FB, P), dtype=xflat.dtype)
    for t in prange(ng * nb):
        g = t // nb
        fb = t % nb
        base = g * gstride
        acc = np.empty((FB, CH), dtype=xflat.dtype)   # one allocation per work item
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
                o0 = base + p0 + offs[r]
                o1 = base + p0 + offs[r + 1]
                x0 = xflat[o0:o0 + m]
                x1 = xflat[o1:o1 + m]
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
                yf[g, fb * FB + k, p0:p0 + m] = acc[k, :m]
    return yf


@njit(cache=True, fastmath=_FM, parallel=True)
def few_maps_plane_conv(xflat, gstride, ng, offs, wg, maps, P):
    """``blocked_plane_conv`` without bias for fewer than FB output maps (a first layer's
    ``dx``: one input map), where the 8-map block would compute 7 zero maps per useful
    one. ``yf[g, f, p] = sum_r wg[0, r, f] * xflat[g*gstride + p + offs[r]]`` for
    ``f < maps``; one prange iteration per (group, map, chunk of CH positions), taps in
    order (the same sums, in the same order, as the blocked kernel)."""
    r_ = offs.shape[0]
    nch = (P + CH - 1) // CH
    yf = np.empty((ng, FB, P), dtype=xflat.dtype)
    for t in prange(ng * maps * nch):
        g = t // (maps * nch)
        f = (t // nch) % maps
        p0 = (t % nch) * CH
        m = min(CH, P - p0)
        base = g * gstride + p0
        acc = yf[g, f, p0:p0 + m]
        acc[:] = 0.0
        for r in range(0, r_, G):
            w0 = wg[0, r, f]
            w1 = wg[0, r + 1, f]
            x0 = xflat[base + offs[r]:base + offs[r] + m]
            x1 = xflat[base + offs[r + 1]:base + offs[r + 1] + m]
            for q in range(m):
                acc[q] = acc[q] + w0 * x0[q] + w1 * x1[q]
    return yf


@njit(cache=True, fastmath=_FM_RED, parallel=True)
def blocked_weight_grad(dyf, xflat, gstride, offs, P):
    """``dwg[f, r] = sum_g sum_p dyf[g, f, p] * xflat[g*gstride + p + offs[r]]``.

    ``dyf (ng, F4, P)`` output gradient in the flat layout of :func:`blocked_plane_conv`
    (junk positions zero, F4 a multiple of FBW), ``xflat (L,)`` flat input planes,
    ``offs (R,)`` with R a multiple of GW. Returns ``dwg (F4, R)``. One ``prange``
    iteration owns FBW x GW entries of ``dwg`` (4 filters x 2 taps = 8 running dot
    products, each fed by one load of dy and of x).
    """
    ng = dyf.shape[0]
    f4 = dyf.shape[1]
    r_ = offs.shape[0]
    nfb = f4 // FBW
    nrb = r_ // GW
    dwg = np.zeros((f4, r_), dtype=xflat.dtype)
    zero = np.zeros(1, dtype=xflat.dtype)[0]   # 0 of the input's dtype
    for t in prange(nfb * nrb):
        fb = t // nrb          # filter block outer: consecutive items share dy
        r = (t % nrb) * GW
        f = fb * FBW
        s00 = s01 = s10 = s11 = s20 = s21 = s30 = s31 = zero
        for g in range(ng):
            d0 = dyf[g, f]
            d1 = dyf[g, f + 1]
            d2 = dyf[g, f + 2]
            d3 = dyf[g, f + 3]
            o0 = g * gstride + offs[r]
            o1 = g * gstride + offs[r + 1]
            x0 = xflat[o0:o0 + P]
            x1 = xflat[o1:o1 + P]
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


# ---- the batch-lane layout (stride 1, a batch of images) ----
# Images become the innermost axis: ``xt[c, I, J, n]``. Tap (c, u, v) of output row i is
# then one contiguous stretch of ``wo*N`` numbers, so each output row is a group of
# ``P = wo*N`` positions with *no* junk columns (the image layout computes ``qw - 1`` junk
# columns per row: 29 % of LeNet-5 C3's work, 13 % of AlexNet C3's). The same hot loops run
# on it; only the offsets and the group stride differ.

@njit(cache=True, parallel=True)
def to_lanes(x, top, left, hp, wp):
    """``x (N, C, H, W)`` -> ``xt (C*hp*wp*N,)`` flat, ``xt[((c*hp + I)*wp + J)*N + n] =
    x[n, c, I - top, J - left]`` (0 outside ``x``; ``top``/``left`` may be negative,
    which crops)."""
    n_, c_, h, w = x.shape
    xt = np.zeros(c_ * hp * wp * n_, dtype=x.dtype)
    for ci in prange(c_ * hp):
        c = ci // hp
        r = ci % hp - top
        if r < 0 or r >= h:
            continue
        row = ci * wp * n_
        for jj in range(wp):
            s = jj - left
            if 0 <= s < w:
                o = row + jj * n_
                for n in range(n_):
                    xt[o + n] = x[n, c, r, s]
    return xt


@njit(cache=True, parallel=True)
def rows_to_lanes(dy, f_pad):
    """``dy (N, F, ho, wo)`` -> ``dyt (ho, f_pad, wo*N)``, ``dyt[i, f, j*N + n] = dy[n, f, i, j]``
    (extra maps 0): the layout of :func:`blocked_plane_conv`'s output in lanes."""
    n_, f_, ho, wo = dy.shape
    dyt = np.zeros((ho, f_pad, wo * n_), dtype=dy.dtype)
    for fi in prange(f_ * ho):
        f = fi // ho
        i = fi % ho
        dst = dyt[i, f]
        for j in range(wo):
            for n in range(n_):
                dst[j * n_ + n] = dy[n, f, i, j]
    return dyt


@njit(cache=True, parallel=True)
def lanes_to_rows(yt, f_, wo):
    """``yt (ho, F', wo*N)`` -> ``y (N, f_, ho, wo)``: the inverse of :func:`rows_to_lanes`
    (maps beyond ``f_`` dropped)."""
    ho = yt.shape[0]
    n_ = yt.shape[2] // wo
    y = np.empty((n_, f_, ho, wo), dtype=yt.dtype)
    for fi in prange(f_ * ho):
        f = fi // ho
        i = fi % ho
        src = yt[i, f]
        for j in range(wo):
            for n in range(n_):
                y[n, f, i, j] = src[j * n_ + n]
    return y
