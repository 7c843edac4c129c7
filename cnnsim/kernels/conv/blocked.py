"""Register-blocked micro-kernels of the fast direct convolution (see ``cnnsim.kernels.conv``).

Each kernel here computes exactly one loop of :mod:`cnnsim.kernels.conv.direct`, over the
flat layouts of :mod:`cnnsim.kernels.conv.layouts`; its docstring names the loop it
replaces. No im2col matrix is ever built.

* **Taps as offsets.** In either layout ``y_flat[f, p] = sum_r w[f, r] * xf[p + off[r]]``:
  an inner loop over contiguous ``p`` that LLVM vectorizes (8 float32 lanes with AVX2,
  16 with AVX-512).
* **Register blocking.** One pass of the inner loop updates a block of 5 output maps
  from 3 taps (:func:`block_shape`; 3 maps x 4 taps when a layer has few maps): each
  input vector loaded from memory feeds 5 multiply-adds, each accumulator loaded and
  stored feeds 3, and the 15 weights of the pass are scalars held in registers. (The
  first version used 8 maps x 2 taps: 16 weights plus accumulators and inputs do not
  fit AVX2's 16 vector registers, and the spills made it 20-30 % slower; the shapes were
  chosen by timing 10 variants on the bench layers.) Positions are processed in chunks
  of ``CH`` so the accumulator rows stay in L1 while the taps stream past.
* **Register tiles.** On a CPU with FMA vectors :func:`plane_conv` and the batch-lane
  ``dx`` scatter run the same sums with the accumulators in vector registers for the
  whole sum over taps (``regtile_tiles.plane_tile_*``, ``dx_tile_*``: 6 or 8 maps x 4 or
  3 vectors of positions with AVX-512; :func:`block_shape` then picks 6 or 8 maps), bit
  for bit what the loops above compute; the loops remain for CPUs without them.

Determinism: every output element is owned by one ``prange`` iteration and summed in a
fixed tap order; ``fastmath={'contract'}`` only lets LLVM fuse ``a + w*x`` into one FMA
(one rounding instead of two), which is the same on every run. The weight-gradient
reduction additionally uses ``'reassoc'`` so the dot products over ``p`` vectorize; the
order is fixed by the compiled loop, not by the thread count (each ``dw`` element is
computed by exactly one iteration of one thread).
"""

import numpy as np
from numba import njit, prange

from .._twins import parallel_kernel
from .pooled import activate
from .regtile_tiles import plane_tile_3x4, plane_tile_4x3, plane_tile_6x4, plane_tile_8x3
from .simd import VEC_REGS, lanes

WIDE_MIN_MAPS = 20  # output maps from which the 5-map block pays (see block_shape)
CH = 512  # flat positions per chunk (5 rows x 512 float32 = 10 KiB of accumulators)
FBW = 2  # filters per block in the weight gradient
GW = 4  # taps per block in the weight gradient

_FM = {"contract"}
# the register-held form of plane_conv's loop (regtile_tiles.plane_tile_*), by block width:
# with 32 vector registers 6 maps x 4 vectors of positions or 8 x 3 (24 sums, 4 or 3
# inputs), with 16 registers 3 x 4 or 4 x 3; none without FMA vectors (VEC_REGS = 0)
_PLANE_TILES = (
    {6: plane_tile_6x4, 8: plane_tile_8x3}
    if VEC_REGS >= 32
    else {3: plane_tile_3x4, 4: plane_tile_4x3}
    if VEC_REGS
    else {}
)
_FM_RED = {"contract", "reassoc"}


# multiply-adds of a call from which it takes register tiles (plane_conv's; regtile's for
# the forward, whose other paths give the same bits).
# Below, a call takes tens of microseconds either way (LeNet-5 C1 on one image: tile 7 us,
# loop 11 us), while each tile costs 1-2 s to compile on its first use: `cnnsim step
# lenet5`'s first run compiled two plane-tile widths (3.1 s) where the loop for both
# layers takes 1.0 s, and on AVX2 C3 took regtile's tile, packing and layouts (7 s)
TILE_MIN_WORK = 1_000_000


def big_enough(work):
    """Whether a call of ``work`` multiply-adds may take register tiles at all
    (:data:`TILE_MIN_WORK`)."""
    return work >= TILE_MIN_WORK


def tiles_pay(work, positions, itemsize):
    """Whether a call of ``work`` multiply-adds over rows of ``positions`` outputs runs
    :func:`plane_conv` on the register tiles (the argument ``tiles`` of
    :func:`block_shape`): from :data:`TILE_MIN_WORK`, and when the positions left after
    the whole vectors, which a tile computes one at a time, are at most half as many as
    the whole vectors (``2 * (P % L) <= P // L``, L lanes). Measured, one image, 16
    lanes: LeNet-5 C3's 140 positions (12 left after 8 vectors) took the 8-map tile
    39 us and the loop 13; at 96 or 192 positions the tile 0.6x the loop's time."""
    lanes_ = lanes(np.dtype(f"f{itemsize}"))
    if not big_enough(work) or not lanes_:
        return False
    return 2 * (positions % lanes_) <= positions // lanes_


@njit(cache=True)
def block_shape(maps, tiles=True):
    """``(maps per block, taps per pass)`` of the hot loop for ``maps`` output maps.

    With FMA vectors (the register tiles, :data:`_PLANE_TILES`) and ``tiles`` (a call
    large enough, :func:`tiles_pay`): of the two tile widths for this CPU (6 or 8 maps
    with 32 registers, 3 or 4 with 16), the one that computes the fewest padding maps
    (ties: the wider), one tap per pass (LeNet-5's 6 maps: one block of 6; 16 maps: two
    of 8). Otherwise the loops': the wide block (5 x 3) when there are enough maps to
    fill it, else the narrow one (3 x 4), which wastes less on LeNet-sized layers.
    The blocks only group the work: every sum is the same whatever the block."""
    if VEC_REGS and tiles:
        a, b = (6, 8) if VEC_REGS >= 32 else (3, 4)
        if -(-maps // a) * a < -(-maps // b) * b:
            return a, 1
        return b, 1
    if maps >= WIDE_MIN_MAPS:
        return 5, 3
    return 3, 4


def plane_conv(xflat, gstride, ng, offs, wg, bias, P, act=0, tiles=True):
    """For every group ``g < ng`` (an image, or one output row of the batch-lane layout)
    and position ``p < P``:
    ``yf[g, f, p] = bias[f] + sum_r wg[f // FB, r, f % FB] * xflat[g*gstride + p + offs[r]]``.

    ``xflat (L,)`` flat input planes, ``offs (R,)`` tap offsets, ``wg (NB, R, FB)``
    weights blocked by ``FB`` output maps (``FB, G = block_shape(maps, tiles)``; R a multiple of
    G), ``bias (NB*FB,)``. Returns ``yf (ng, NB*FB, P)``; ``act`` (``activations.ACT_CODES``,
    0: none) applies that activation to every output (a convolution fused with the next
    steps, ``kernels.conv.pooled``). ``tiles``: what ``block_shape`` was given for ``wg``
    (False: the loops, whatever the width; AVX2's 3-map tile has the 3-map loop's width).

    Replaces the loop of :func:`direct.forward <cnnsim.kernels.conv.direct.forward>`
    (``acc = b[f]; acc += w[f, c, u, v] * x[n, c, r, s]`` over ``c, u, v``): in the flat
    layout the output position ``(i, j)`` is ``p`` and the input ``(c, r, s)`` it reads
    through tap ``(c, u, v)`` is ``p + offs[r]``, so the loops over ``i, j`` become one
    contiguous loop over ``p`` and the loop over ``c, u, v`` the loop over taps ``r``. It
    also computes ``dx`` (:func:`direct.backward_input`) as a stride-1 convolution of the
    zero-padded ``dy`` with the flipped kernels (layouts.dx_taps_and_weights).

    Plain Python choosing the compiled micro-kernel by the block's width, so that a model
    whose layers all use one block shape compiles only that one.
    """
    tile = _PLANE_TILES.get(wg.shape[2]) if tiles else None
    if tile is not None:  # the same sums, held in registers (regtile_tiles.plane_tile_*)
        return tile(xflat, gstride, ng, offs, wg, bias, P, lanes(xflat.dtype), act)
    if wg.shape[2] == 5:
        yf = _plane_conv_5x3(xflat, gstride, ng, offs, wg, bias, P)
    else:
        yf = _plane_conv_3x4(xflat, gstride, ng, offs, wg, bias, P)
    return activate(yf, act) if act else yf


@parallel_kernel(fastmath=_FM)
def _plane_conv_5x3(xflat, gstride, ng, offs, wg, bias, P):
    """:func:`plane_conv` with blocks of 5 maps, 3 taps per pass: each loaded input vector
    feeds 5 multiply-adds, each accumulator loaded and stored feeds 3. One ``prange``
    iteration per (group, block of maps)."""
    nb = wg.shape[0]
    r_ = offs.shape[0]
    yf = np.empty((ng, nb * 5, P), dtype=xflat.dtype)
    for t in prange(ng * nb):
        g = t // nb
        fb = t % nb
        base = g * gstride
        acc = np.empty((5, CH), dtype=xflat.dtype)  # one allocation per work item
        a0 = acc[0]
        a1 = acc[1]
        a2 = acc[2]
        a3 = acc[3]
        a4 = acc[4]
        for p0 in range(0, P, CH):
            m = min(CH, P - p0)
            for k in range(5):
                acc[k, :] = bias[fb * 5 + k]
            for r in range(0, r_, 3):
                o0 = base + p0 + offs[r]
                o1 = base + p0 + offs[r + 1]
                o2 = base + p0 + offs[r + 2]
                x0 = xflat[o0 : o0 + m]
                x1 = xflat[o1 : o1 + m]
                x2 = xflat[o2 : o2 + m]
                # the 15 weights of this (block, 3 taps): scalars for the whole loop
                w = wg[fb, r]
                w00, w01, w02, w03, w04 = w[0], w[1], w[2], w[3], w[4]
                w = wg[fb, r + 1]
                w10, w11, w12, w13, w14 = w[0], w[1], w[2], w[3], w[4]
                w = wg[fb, r + 2]
                w20, w21, w22, w23, w24 = w[0], w[1], w[2], w[3], w[4]
                # contiguous in p: vectorized
                for p in range(m):
                    v0 = x0[p]
                    v1 = x1[p]
                    v2 = x2[p]
                    a0[p] = a0[p] + w00 * v0 + w10 * v1 + w20 * v2
                    a1[p] = a1[p] + w01 * v0 + w11 * v1 + w21 * v2
                    a2[p] = a2[p] + w02 * v0 + w12 * v1 + w22 * v2
                    a3[p] = a3[p] + w03 * v0 + w13 * v1 + w23 * v2
                    a4[p] = a4[p] + w04 * v0 + w14 * v1 + w24 * v2
            for k in range(5):  # element loops, not slice copies: see _twins (compile)
                out = yf[g, fb * 5 + k]
                for p in range(m):
                    out[p0 + p] = acc[k, p]
    return yf


@parallel_kernel(fastmath=_FM)
def _plane_conv_3x4(xflat, gstride, ng, offs, wg, bias, P):
    """:func:`plane_conv` with blocks of 3 maps, 4 taps per pass (for few output maps)."""
    nb = wg.shape[0]
    r_ = offs.shape[0]
    yf = np.empty((ng, nb * 3, P), dtype=xflat.dtype)
    for t in prange(ng * nb):
        g = t // nb
        fb = t % nb
        base = g * gstride
        acc = np.empty((3, CH), dtype=xflat.dtype)
        a0 = acc[0]
        a1 = acc[1]
        a2 = acc[2]
        for p0 in range(0, P, CH):
            m = min(CH, P - p0)
            for k in range(3):
                acc[k, :] = bias[fb * 3 + k]
            for r in range(0, r_, 4):
                o0 = base + p0 + offs[r]
                o1 = base + p0 + offs[r + 1]
                o2 = base + p0 + offs[r + 2]
                o3 = base + p0 + offs[r + 3]
                x0 = xflat[o0 : o0 + m]
                x1 = xflat[o1 : o1 + m]
                x2 = xflat[o2 : o2 + m]
                x3 = xflat[o3 : o3 + m]
                w = wg[fb, r]
                w00, w01, w02 = w[0], w[1], w[2]
                w = wg[fb, r + 1]
                w10, w11, w12 = w[0], w[1], w[2]
                w = wg[fb, r + 2]
                w20, w21, w22 = w[0], w[1], w[2]
                w = wg[fb, r + 3]
                w30, w31, w32 = w[0], w[1], w[2]
                for p in range(m):
                    v0 = x0[p]
                    v1 = x1[p]
                    v2 = x2[p]
                    v3 = x3[p]
                    a0[p] = a0[p] + w00 * v0 + w10 * v1 + w20 * v2 + w30 * v3
                    a1[p] = a1[p] + w01 * v0 + w11 * v1 + w21 * v2 + w31 * v3
                    a2[p] = a2[p] + w02 * v0 + w12 * v1 + w22 * v2 + w32 * v3
            for k in range(3):  # element loops, not slice copies: see _twins (compile)
                out = yf[g, fb * 3 + k]
                for p in range(m):
                    out[p0 + p] = acc[k, p]
    return yf


@parallel_kernel(fastmath=_FM_RED)
def blocked_weight_grad(dyf, xflat, gstride, offs, P):
    """``dwg[f, r] = sum_g sum_p dyf[g, f, p] * xflat[g*gstride + p + offs[r]]``.

    ``dyf (ng, F2, P)`` output gradient in the flat layout of :func:`plane_conv`
    (junk positions zero, F2 a multiple of FBW = 2), ``xflat (L,)`` flat input planes,
    ``offs (R,)`` with R a multiple of GW = 4. Returns ``dwg (F2, R)``. One ``prange``
    iteration owns 2 filters x 4 taps of ``dwg``: 8 running dot products (enough to hide
    the multiply-add latency), fed by 6 loads per step.

    Replaces the loop of :func:`direct.backward_weight
    <cnnsim.kernels.conv.direct.backward_weight>` (``dw[f, c, u, v] += dy[n, f, i, j] *
    x[n, c, i*sh+u-top, j*sw+v-left]`` over ``n, i, j``): the loops over ``i, j`` are the
    contiguous ``p``, the loop over ``n`` the groups ``g``; tap ``r = (c, u, v)``.
    """
    ng = dyf.shape[0]
    f2 = dyf.shape[1]
    r_ = offs.shape[0]
    nfb = f2 // FBW
    nrb = r_ // GW
    dwg = np.zeros((f2, r_), dtype=xflat.dtype)
    zero = np.zeros(1, dtype=xflat.dtype)[0]  # 0 of the input's dtype
    for t in prange(nfb * nrb):
        fb = t // nrb  # filter block outer: consecutive items share dy
        r = (t % nrb) * GW
        f = fb * FBW
        s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = zero
        for g in range(ng):
            d0 = dyf[g, f]
            d1 = dyf[g, f + 1]
            base = g * gstride
            x0 = xflat[base + offs[r] : base + offs[r] + P]
            x1 = xflat[base + offs[r + 1] : base + offs[r + 1] + P]
            x2 = xflat[base + offs[r + 2] : base + offs[r + 2] + P]
            x3 = xflat[base + offs[r + 3] : base + offs[r + 3] + P]
            for p in range(P):
                e0 = d0[p]
                e1 = d1[p]
                v0 = x0[p]
                v1 = x1[p]
                v2 = x2[p]
                v3 = x3[p]
                s00 += e0 * v0
                s01 += e0 * v1
                s02 += e0 * v2
                s03 += e0 * v3
                s10 += e1 * v0
                s11 += e1 * v1
                s12 += e1 * v2
                s13 += e1 * v3
        dwg[f, r] = s00
        dwg[f, r + 1] = s01
        dwg[f, r + 2] = s02
        dwg[f, r + 3] = s03
        dwg[f + 1, r] = s10
        dwg[f + 1, r + 1] = s11
        dwg[f + 1, r + 2] = s12
        dwg[f + 1, r + 3] = s13
    return dwg


@parallel_kernel(fastmath=_FM)
def lanes_input_grad(dyt, wx, n_, in_h, in_w, top, left):
    """``dx`` of a stride-1 convolution in the batch-lane layout, by scattering each ``dy``
    row into the input row it came from (the transposed convolution, useful work only):

        dxt[r, c, (j + v - left)*N + n] += w[f, c, u, v] * dyt[r + top - u, f, j*N + n]

    for every tap ``(u, v)``, map ``f`` and column ``j`` that lands inside ``dx``: nothing
    is multiplied by padding, unlike a correlation of the zero-padded ``dy`` (LeNet-5 C3:
    half the multiply-adds). ``dyt (ho, F4, wo*N)`` (:func:`rows_to_lanes`, F4 a multiple
    of 4), ``wx (NB, KH, KW, F4, 3)`` the weights of 3 input maps per block. Replaces the
    loop of :func:`direct.backward_input <cnnsim.kernels.conv.direct.backward_input>`,
    turned from gathering into scattering: each ``dy`` row is added into the ``dx`` rows it
    reaches, a contiguous run of ``(columns x images)`` per tap ``(u, v)``.
    Returns ``dxt (in_h, NB*3, in_w*N)``. One ``prange`` iteration per (input row, block
    of 3 maps); each pass adds 4 ``dy`` maps into the 3 rows, in a fixed order (u, v, f).
    """
    ho, f4, pw = dyt.shape
    wo = pw // n_
    nb, kh, kw = wx.shape[0], wx.shape[1], wx.shape[2]
    dxt = np.empty((in_h, nb * 3, in_w * n_), dtype=dyt.dtype)
    for t in prange(in_h * nb):
        r = t // nb
        cb = t % nb
        a0 = dxt[r, cb * 3]
        a1 = dxt[r, cb * 3 + 1]
        a2 = dxt[r, cb * 3 + 2]
        a0[:] = 0.0
        a1[:] = 0.0
        a2[:] = 0.0
        for u in range(kh):
            i = r + top - u  # the dy row that reaches input row r via u
            if i < 0 or i >= ho:
                continue
            dyrow = dyt[i]
            for v in range(kw):
                j_lo = max(0, left - v)  # dy columns that land inside dx
                j_hi = min(wo, in_w + left - v)
                if j_hi <= j_lo:
                    continue
                m = (j_hi - j_lo) * n_
                ao = (j_lo + v - left) * n_
                b0 = a0[ao : ao + m]
                b1 = a1[ao : ao + m]
                b2 = a2[ao : ao + m]
                xo = j_lo * n_
                for f in range(0, f4, 4):
                    x0 = dyrow[f, xo : xo + m]
                    x1 = dyrow[f + 1, xo : xo + m]
                    x2 = dyrow[f + 2, xo : xo + m]
                    x3 = dyrow[f + 3, xo : xo + m]
                    w = wx[cb, u, v, f]
                    w00, w01, w02 = w[0], w[1], w[2]
                    w = wx[cb, u, v, f + 1]
                    w10, w11, w12 = w[0], w[1], w[2]
                    w = wx[cb, u, v, f + 2]
                    w20, w21, w22 = w[0], w[1], w[2]
                    w = wx[cb, u, v, f + 3]
                    w30, w31, w32 = w[0], w[1], w[2]
                    for p in range(m):
                        v0 = x0[p]
                        v1 = x1[p]
                        v2 = x2[p]
                        v3 = x3[p]
                        b0[p] = b0[p] + w00 * v0 + w10 * v1 + w20 * v2 + w30 * v3
                        b1[p] = b1[p] + w01 * v0 + w11 * v1 + w21 * v2 + w31 * v3
                        b2[p] = b2[p] + w02 * v0 + w12 * v1 + w22 * v2 + w32 * v3
    return dxt


# ---- full-window layers (LeNet-5's C5: the kernel covers the whole input, output 1x1) ----
# Then y[n, f] = b[f] + sum_d x[n, d] wm[f, d] over the flattened window d = (c, u, v): the
# loops of direct.py with i = j = 0 and no padding, read straight from x (no copy). The
# phase-plane machinery would compute one useful position per plane plus junk, so these
# loops run over contiguous rows instead, vectorised over outputs (lanes = different
# outputs, every sum in increasing order). All three are one loop (:func:`_rows_axpy`).

FW_ROWS = 4  # output rows per work item of the full-window kernels (rows of m read once)


@njit(cache=True)
def _rows_axpy(acc, c, m):
    """``acc[a, :] += c[a, k] * m[k, :]`` for every row ``a``, ``k`` in increasing order:
    the loop ``for k: acc[a] += c[a, k] * m[k]`` (one rounding for the product, one for
    the sum, as written). ``acc (A, D)``, ``c (A, K)``, ``m (K, D)``. Four ``k`` per pass
    and, for ``A = FW_ROWS = 4``, the four rows in the same pass: each row of ``m`` loaded
    feeds four rows, each accumulator loaded and stored takes four products (still added
    one ``k`` after another: the same numbers). LeNet-5's C5 forward at batch 64, one
    thread: 0.21 -> 0.09 ms."""
    a_, k_ = c.shape
    d_ = m.shape[1]
    k4 = (k_ // 4) * 4
    if a_ == 4:
        r0 = acc[0]
        r1 = acc[1]
        r2 = acc[2]
        r3 = acc[3]
        for k in range(0, k4, 4):
            m0 = m[k]
            m1 = m[k + 1]
            m2 = m[k + 2]
            m3 = m[k + 3]
            c00, c01, c02, c03 = c[0, k], c[0, k + 1], c[0, k + 2], c[0, k + 3]
            c10, c11, c12, c13 = c[1, k], c[1, k + 1], c[1, k + 2], c[1, k + 3]
            c20, c21, c22, c23 = c[2, k], c[2, k + 1], c[2, k + 2], c[2, k + 3]
            c30, c31, c32, c33 = c[3, k], c[3, k + 1], c[3, k + 2], c[3, k + 3]
            for d in range(d_):  # contiguous: vectorised over outputs
                v0 = m0[d]
                v1 = m1[d]
                v2 = m2[d]
                v3 = m3[d]
                r0[d] = r0[d] + c00 * v0 + c01 * v1 + c02 * v2 + c03 * v3
                r1[d] = r1[d] + c10 * v0 + c11 * v1 + c12 * v2 + c13 * v3
                r2[d] = r2[d] + c20 * v0 + c21 * v1 + c22 * v2 + c23 * v3
                r3[d] = r3[d] + c30 * v0 + c31 * v1 + c32 * v2 + c33 * v3
    else:
        for k in range(0, k4, 4):
            m0 = m[k]
            m1 = m[k + 1]
            m2 = m[k + 2]
            m3 = m[k + 3]
            for a in range(a_):
                c0 = c[a, k]
                c1 = c[a, k + 1]
                c2 = c[a, k + 2]
                c3 = c[a, k + 3]
                row = acc[a]
                for d in range(d_):
                    row[d] = row[d] + c0 * m0[d] + c1 * m1[d] + c2 * m2[d] + c3 * m3[d]
    for k in range(k4, k_):
        mk = m[k]
        for a in range(a_):
            ck = c[a, k]
            row = acc[a]
            for d in range(d_):
                row[d] = row[d] + ck * mk[d]


@parallel_kernel()
def full_window_forward(x2, wt, b):
    """``y (N, F) = b + x2 (N, D) @ wt (D, F)``; each ``y[n, f]`` starts from ``b[f]`` and
    adds the terms in increasing ``d``; ``FW_ROWS`` images per iteration."""
    n_ = x2.shape[0]
    f_ = wt.shape[1]
    y = np.empty((n_, f_), dtype=x2.dtype)
    for t in prange((n_ + FW_ROWS - 1) // FW_ROWS):
        n0 = t * FW_ROWS
        n1 = min(n_, n0 + FW_ROWS)
        for n in range(n0, n1):
            for f in range(f_):
                y[n, f] = b[f]
        _rows_axpy(y[n0:n1], x2[n0:n1], wt)
    return y


@parallel_kernel()
def full_window_dx(dy2, wm):
    """``dx (N, D) = dy2 (N, F) @ wm (F, D)``; sums over f in order, ``FW_ROWS`` images per
    iteration."""
    n_ = dy2.shape[0]
    d_ = wm.shape[1]
    dx = np.zeros((n_, d_), dtype=dy2.dtype)
    for t in prange((n_ + FW_ROWS - 1) // FW_ROWS):
        n0 = t * FW_ROWS
        n1 = min(n_, n0 + FW_ROWS)
        _rows_axpy(dx[n0:n1], dy2[n0:n1], wm)
    return dx


@parallel_kernel()
def full_window_dw(dy2t, x2, mask_rows):
    """``dw (F, D) = dy2t (F, N) @ x2 (N, D)`` (``dy2t``: ``dy`` as (F, N), contiguous; sum
    over n in order); ``FW_ROWS`` filters per iteration; rows outside the connection table
    stay 0."""
    f_ = dy2t.shape[0]
    d_ = x2.shape[1]
    dw = np.zeros((f_, d_), dtype=x2.dtype)
    for t in prange((f_ + FW_ROWS - 1) // FW_ROWS):
        f0 = t * FW_ROWS
        f1 = min(f_, f0 + FW_ROWS)
        _rows_axpy(dw[f0:f1], dy2t[f0:f1], x2)
        for f in range(f0, f1):
            keep = mask_rows[f]
            acc = dw[f]
            for d in range(d_):
                if keep[d] == 0:
                    acc[d] = 0.0
    return dw
