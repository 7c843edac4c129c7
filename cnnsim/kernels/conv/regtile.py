"""Register-tiled direct convolution (``cnnsim.kernels.conv``): forward and ``dw`` at any
stride, ``dx`` at stride 1.

The loop it replaces is :func:`direct.forward <cnnsim.kernels.conv.direct.forward>`:

    for n, f, i, j:                        # every output
        acc = b[f]
        for c, u, v:                       # the reduction, in this order
            acc += w[f, c, u, v] * xp[n, c, i + u, j + v]
        y[n, f, i, j] = acc

The blocked kernels (:mod:`.blocked`) keep their partial sums in memory and stream them
through the core once per 3 taps; they run at 31-35 % of an AVX-512 core's FMA peak,
bound by those loads and stores. Here, as in oneDNN, a **tile** of outputs stays in
vector registers for the whole reduction over ``(c, u, v)``:

    for each (block of FB maps, output row i):       # a prange work item: a band of rows
        for each tile of RW consecutive positions p of that row:
            a[k, :] = b[block]        for k < RW      # RW x FB sums: RW*NV registers
            for c, u, v:                               # same order as direct.forward
                wv = w[block, c, u, v]                 # NV vectors of FB maps, loaded once
                for k < RW:
                    a[k, :] += xp[c, i + u, p + k + v] * wv   # one input broadcast, NV FMAs
            row[p + k] = a[k, :]
        y[:, block, i, :] = row                        # transposed (lanes_to_maps)

Taps that read only zero padding are skipped (:func:`live_taps`): the kernel rows over
the padding of output row ``i``, and at the ends of a row the kernel columns that no
position of a tile reads. Their terms would be ``w * 0``, so the sums stay what they were;
AlexNet C3 and C5 do 7.6 and 9.9 % fewer multiply-adds (oneDNN's kernels skip them too); their tiles
took 0.91-0.95 of the time (docs/performance.md, nineteenth session).

Each step of the reduction loads NV weight vectors and RW input scalars for RW * NV
vector multiply-adds, and no accumulator moves. Tiles (``regtile_tiles``, written by
``tools/gen_regtile.py``, each by its ``(RW, NV)`` in ``FORWARD_TILES`` and ``DW_TILES``;
every one of them runs on any vector CPU, so the tests run both ISAs' tiles wherever
they run): with 32 vector registers (AVX-512) **8 x 3** (24 accumulators,
FB = 48 float32 maps) or **12 x 2** (FB = 32); with 16 (AVX2) **3 x 4** or **6 x 2**
(``dw``: **4 x 3** or 6 x 2), whose tap loop, for 3x3 kernels, is compiled for exactly 9
taps (``UNROLL_TAPS``): LLVM unrolls it whole, which pays where a tap is only 12
multiply-adds. With fewer positions than vectors (3 x 4) a step loads the RW inputs
first and then one weight vector at a time: 12 sums + 3 inputs + 1 weight fill the 16
registers exactly, where a 4 x 3 forward tile's unrolled loop spilled a sum to the stack
every tap (its 12 + 3 + 1 leave LLVM no register to spare).
:func:`tile_for` picks, from the shapes only, the one that computes the fewest padded
outputs. The vectors are written with :mod:`.simd` (Numba has no vector type); the
compiled reduction loop is ``vfmadd231ps`` with a broadcast operand on ``zmm``/``ymm``
registers and no accumulator load or store (docs/performance.md, round three).
The AVX-512 tiles also ask for each tap's input 32 positions (3-4 tiles) ahead
(:func:`.simd.prefetch`): a channel block's rows are dozens of streams, more than the
hardware prefetcher follows (ResNet 3x3's tile ~10 % faster at one thread, 0-8 % at two;
the AVX2 tiles were slower with it at two threads and run without).

**Layouts.** Inputs in batch lanes (``layouts.to_lanes``: ``xt[c, I, J, n]``, images
innermost), so position ``p = j*N + n`` of output row ``i`` reads ``xt`` at ``c*plane +
i*pitch + p + toff[u, v]`` with ``toff = (u*Wp + v)*N``: every tap is a constant offset.
A row has ``Wo*N`` positions, rounded up to whole tiles (the extra ones read the next
columns or the slack and are dropped). Weights ``wp[block, c, u*KW + v, FB]`` (FB maps
contiguous; maps beyond F and pairs outside the connection table are 0). The channels
are taken in blocks whose weights fill ~16 KiB (they stay in L1 while the tiles of the
row pass) and, on AVX2, whose tiles do not prefetch, whose input rows take at most 48 KiB
(:func:`_channel_block`); between blocks a tile's sums go to the work item's ``y``
(its rows' positions x maps, in L2) and come back, which does not change the order of
the additions. A work item takes a band of output rows (:func:`_band`) channel block by
channel block, so a block's input rows, read by ``KH`` output rows, come from L2 after the
first time. At the end each row goes to ``y (N, F, Ho, Wo)``, transposed in register
blocks while it is in cache (:func:`.transposes.lanes_to_maps`; a separate pass over a
whole ``yb`` array after the tiles cost 8 % of the ResNet 3x3 forward more).

**Same numbers everywhere.** Every output is owned by one work item and summed over
``(c, u, v)`` in order, from the bias, one fused multiply-add per term (less the terms over
the padding, which add 0): the result does not depend on the thread count, the band, the
tile, the channel block or the vector width.

**Strided layers** read their input as the ``s x s`` stride phases of the padded maps in
batch lanes (``layouts.to_phase_lanes``, :func:`_lanes_of`): tap ``(u, v)`` of output
``(i, j)`` is phase ``(u % s, v % s)`` at ``(i + u // s, j + v // s)``, again a constant
offset, so the same tiles run them with no wasted multiply-add.

``dx`` of a stride-1 layer is the same loop on ``dy`` padded by ``K - 1 - pad`` with the
flipped kernels, input channels as the output maps (:func:`backward_input`); ``dw`` the
same tile with the taps as outputs and the positions as the reduction
(:func:`backward_weight`; it skips the positions where its taps read padding,
:func:`dw_taps`), which reads the forward's layout of the input when a training
step kept it (:class:`InputLanes`). Used where :func:`applies` (chosen in the entry points
of ``cnnsim.kernels.conv``); inputs holding inf/NaN go to ``direct.py`` before that
(padding and junk positions would multiply them by 0).
"""

from typing import NamedTuple

import numpy as np
from numba import njit, prange

from .layouts import finite, forward_taps, to_lanes, to_phase_lanes
from .regtile_tiles import DW_TILES, FORWARD_TILES
from .simd import LANES32, LANES64, VEC_BITS, VEC_REGS, lanes
from .transposes import transpose_blocks

# the forward and dx tiles A and B, and dw's (RW taps in place of positions). On AVX2 the
# forward's A is 3 x 4 and dw's 4 x 3: a 4 x 3 forward tile holds 12 sums, 3 weight
# vectors and a broadcast, all 16 registers, and its unrolled 3x3 tap loop spilled a sum
# to the stack; 3 x 4 holds its 3 broadcast inputs and one weight vector at a time
# (AlexNet C5's forward took 0.92-0.96 of the 4 x 3's time, its dx 0.95-0.99 of the
# 6 x 2's). dw's 3 x 4 ran 1.11-1.15x its 4 x 3 and 6 x 2 (4 dy vectors a step, not 3)
# (the tiles themselves: regtile_tiles.FORWARD_TILES and DW_TILES, by (RW, NV))
if VEC_REGS >= 32:
    RW_A, NV_A, DW_RW_A, DW_NV_A = 8, 3, 8, 3
    RW_B, NV_B = 12, 2
else:
    RW_A, NV_A, DW_RW_A, DW_NV_A = 3, 4, 4, 3
    RW_B, NV_B = 6, 2
# kernels (taps a channel) whose tap offsets the forward tile gets as a tuple: its tap loop
# then has a trip count known when compiling (one compiled copy per count), which LLVM
# unrolls whole. On AVX2, 3x3 kernels: a tap is 12 multiply-adds there, and the loop's own
# instructions weigh (the forward on ResNet 3x3 and AlexNet C4/C5 took 0.84-1.00 of the
# time, AVX2-class); with AVX-512's 24 a tap 0.97-1.02, and 5x5 gained nothing either
UNROLL_TAPS = () if VEC_REGS >= 32 else (9,)
# use the tile when it computes at most this many outputs per real one: the AVX-512 tile
# is ~2x the blocked path's speed, the AVX2 one 1.2-1.5x (docs/performance.md)
MAX_WASTE = 1.6 if VEC_REGS >= 32 else 1.25
# tile_for takes the AVX2 6 x 2 tile where it computes at most 1 % more outputs than tile
# A: against the 4 x 3 it was as fast or faster there (Zen 1, 2 threads, alternated:
# AlexNet C3's dx, a tie, 1.00; C5's dx, 0.7 % more, 0.96), while at 4 % more it was not
# (C5 and C4 forward 0.99-1.00, ResNet-18's 512-map layer 1.01-1.02); against the
# forward's 3 x 4, on the ties (C3, ResNet 3x3), 3 x 4 took 0.95-1.02 of 6 x 2's forward
# and 0.99-1.05 of its dx (twenty-first session). AVX-512: not measured, no lean
TIE_B = 1.01 if VEC_REGS < 32 else 1.0
BLOCK_BYTES = 16384  # weights of one channel block (L1 holds them while the tiles pass)
# the AVX2 tiles, which do not prefetch, also take at most this many bytes of input rows
# (channels x KH rows) per channel block: ResNet's 3x3 layers at 56x56 / 28x28 ran 2-8 % faster
# with 5 / 11 channels a block than with 28 (on AVX-512, with the prefetch, 0-5 % slower).
# Since a work item takes a band of rows (_band), 48 KiB: ResNet 3x3 (8 channels, not 5)
# forward and dx 0.97-0.99 of the time with 32 KiB, AlexNet C3 0.99-1.00, C5 1.00; 64 KiB
# and no limit gave less (Zen 1, 2 threads, alternated, twenty-first session)
BLOCK_ROWS_BYTES = 49152 if VEC_REGS < 32 else 0
# a work item of the forward tile takes a band of output rows whose sums and a channel
# block's input rows fill at most this (half of a 512 KiB L2): with one row a work item,
# the KH rows' input of all channels (AlexNet C3: 476 KiB) passed through L2 for each
# output row, and the rows it shares with the next came back from L3 (_band). AlexNet C3
# forward and dx took 0.96-0.97 of the time, ResNet 3x3 0.98 (2 threads, Zen 1)
BAND_BYTES = 262144
# work items (maps blocks x bands) at least, for two threads to share evenly: with 8,
# AlexNet C5's dx ran 11 whole-image items and was 5 % slower; with 32, C3's dx gained none
MIN_ITEMS = 16


@njit(cache=True)
def tile_for(maps, positions, itemsize, dw=False):
    """``(RW, NV, FB, work)``: the tile for ``maps`` output maps and ``positions = Wo*N``
    per output row (``dw``: the weight gradient's tiles, taps in place of positions) that
    computes the fewest outputs (``work``, padding included), but tile B where its work
    is under ``TIE_B`` times A's. FB = NV vectors of maps. ``(0, 0, 0, 0)`` on a CPU
    without FMA vectors. Depends on the shapes and the CPU only."""
    lanes_ = LANES32 if itemsize == 4 else LANES64
    if lanes_ == 0:
        return 0, 0, 0, 0
    rw_a, nv_a = (DW_RW_A, DW_NV_A) if dw else (RW_A, NV_A)
    fa = nv_a * lanes_
    fb = NV_B * lanes_
    work_a = -(-maps // fa) * fa * (-(-positions // rw_a) * rw_a)
    work_b = -(-maps // fb) * fb * (-(-positions // RW_B) * RW_B)
    if work_b < TIE_B * work_a:
        return RW_B, NV_B, fb, work_b
    return rw_a, nv_a, fa, work_a


@njit(cache=True)
def applies(maps, positions, itemsize, sh, sw, kh, kw, dw=False):
    """Run a layer (kernels larger than 1x1, the same stride down and across) on the
    register tile? Only when the CPU has FMA vectors and the tile computes at most
    ``MAX_WASTE`` outputs per real one (not LeNet-sized layers: 6 or 16 maps in blocks of
    32 or 48; yes for AlexNet C3's ``dx`` on one image: 256 maps in 288, 13 positions a row
    in 16). Strided layers read their input as stride phases (:func:`_lanes_of`)."""
    if sh != sw or kh * kw < 2:
        return False
    rw, nv, fbw, work = tile_for(maps, positions, itemsize, dw)
    return rw > 0 and work <= MAX_WASTE * maps * positions


def pack_weights(w, mask, fbw, flip):
    """``w (F, C, KH, KW)`` -> ``wp (ceil(M/fbw), K, KH*KW, fbw)``, the weights of the
    correlation the tile runs. ``flip`` False (forward): ``M, K = F, C``, ``wp[f // fbw,
    c, u*KW + v, f % fbw] = w[f, c, u, v]``. ``flip`` True (``dx``): ``M, K = C, F`` and
    the kernel turned by 180 degrees, ``wp[c // fbw, f, (KH-1-u)*KW + KW-1-v, c % fbw] =
    w[f, c, u, v]``. Pairs outside the connection table and the padding maps are 0.
    Returns ``(wp, ok)``, ``ok``: every weight copied is finite (``layouts.finite``)."""
    return _pack_flipped(w, mask, fbw) if flip else _pack_maps(w, mask, fbw)


PACK_COLUMNS = 512  # (c, u, v) columns of one work item of _pack_maps


@njit(cache=True, parallel=True)
def _pack_maps(w, mask, fbw):
    """:func:`pack_weights` for the forward pass. For a block of maps, ``wp[blk]`` read as
    ``(C*KH*KW, fbw)`` is the transpose of ``w``'s ``fbw x C*KH*KW`` rows: one long
    transposition in register blocks, cut into ``PACK_COLUMNS`` columns a work item (each
    reads ``fbw`` rows sequentially; a work item per ``(block, c)`` read ``fbw`` runs of
    ``KH*KW`` numbers ``C*KH*KW`` apart and took 0.9 ms instead of 0.5 for AlexNet C5's
    3.5 MB, caches cold)."""
    f_, c_, kh, kw = w.shape
    taps = kh * kw
    cols = c_ * taps
    nb = -(-f_ // fbw)
    w2 = w.reshape(f_, cols)
    wp = np.empty((nb, c_, taps, fbw), dtype=w.dtype)  # every element written once below
    wf = wp.reshape(-1)
    nch = -(-cols // PACK_COLUMNS)
    bad = np.zeros(nb * nch, dtype=np.uint8)
    holes = (mask == 0).any()  # a connection table (most layers have none)
    for t in prange(nb * nch):
        blk = t // nch
        a0 = (t % nch) * PACK_COLUMNS
        na = min(PACK_COLUMNS, cols - a0)
        live = min(fbw, f_ - blk * fbw)
        d0 = (blk * cols + a0) * fbw  # wf[d0 + a*fbw + m] = w2[blk*fbw + m, a0 + a]
        if not transpose_blocks(w2, blk * fbw * cols + a0, cols, wf, d0, fbw, live, na):
            for m in range(live):
                for a in range(na):
                    wf[d0 + a * fbw + m] = w2[blk * fbw + m, a0 + a]
        for a in range(na):  # the padding maps
            for m in range(live, fbw):
                wf[d0 + a * fbw + m] = 0
        if holes:  # pairs outside the table: 0 (whatever w holds there)
            for c in range(a0 // taps, (a0 + na - 1) // taps + 1):
                for m in range(live):
                    if mask[blk * fbw + m, c] == 0:
                        for a in range(max(0, c * taps - a0), min(na, (c + 1) * taps - a0)):
                            wf[d0 + a * fbw + m] = 0
        bad[t] = not finite(wf[d0 : d0 + na * fbw])
    return wp, not bad.any()


@njit(cache=True, parallel=True)
def _pack_flipped(w, mask, fbw):
    """:func:`pack_weights` for ``dx``: a work item per ``(block of channels, f)`` moves
    ``w[f, block]`` (``fbw x KH*KW``, contiguous) transposed, its rows last to first."""
    f_, c_, kh, kw = w.shape
    nb = -(-c_ // fbw)
    taps = kh * kw
    w3 = w.reshape(f_, c_, taps)  # tap index r = u*KW + v without a division per number
    wp = np.empty((nb, f_, taps, fbw), dtype=w.dtype)  # every element written once below
    bad = np.zeros(nb * f_, dtype=np.uint8)
    for t in prange(nb * f_):
        blk = t // f_
        f = t % f_
        dst = wp[blk, f]
        live = min(fbw, c_ - blk * fbw)
        # w3[f, c, r] -> dst[taps-1-r, c % fbw]: rows written last to first
        done = transpose_blocks(
            w3, (f * c_ + blk * fbw) * taps, taps, dst, (taps - 1) * fbw, -fbw, live, taps
        )
        for mm in range(fbw):
            c = blk * fbw + mm
            if c >= c_ or mask[f, c] == 0:
                for r in range(taps):
                    dst[r, mm] = 0
            elif not done:  # (KH-1-u)*KW + KW-1-v = taps-1-r
                for r in range(taps):
                    dst[taps - 1 - r, mm] = w3[f, c, r]
        bad[t] = not finite(dst.reshape(-1))
    return wp, not bad.any()


def _lanes_of(x, kh, kw, s, top, bottom, left, right, rw=0):
    """``(xt, ok, ho, wo, hq, wq)``: ``x (N, C, H, W)`` zero-padded by ``(top, bottom, left,
    right)`` in batch lanes, for a layer of stride ``s``: the padded maps themselves at
    stride 1 (:func:`~.layouts.to_lanes`, ``hq x wq`` = the padded size), else their ``s x
    s`` stride phases (:func:`~.layouts.to_phase_lanes`, ``hq = ho + (kh-1)//s`` rows of
    ``wq = wo + (kw-1)//s``), each channel's phases one after another. Tap ``(c, u, v)``
    of output ``(i, j)`` is then at ``c*plane + i*wq*N + j*N + off[u, v]`` with
    ``off = forward_taps(...)*N`` (:func:`_tap_offsets`), ``plane = s*s*hq*wq*N``.
    ``rw``: the forward's tile; its last tile of a row reads up to ``ceil(Wo*N / rw)*rw +
    (kw-1)*N`` past the row's start, so that many zeros follow the last plane (``dw``,
    ``rw = 0``, reads no junk positions). ``ok``: every number copied is finite."""
    n_ = x.shape[0]
    ho, wo, hq, wq = _lane_shape(x.shape, kh, kw, s, top, bottom, left, right)
    slack = -(-(wo * n_) // rw) * rw + kw * n_ if rw else 0
    if s == 1:
        xt, ok = to_lanes(x, top, left, hq, wq, slack)
    else:
        xt, ok = to_phase_lanes(x, s, s, top, left, hq, wq, slack)
    return xt, ok, ho, wo, hq, wq


def _lane_shape(shape, kh, kw, s, top, bottom, left, right):
    """``(ho, wo, hq, wq)`` of :func:`_lanes_of` for an input of ``shape (N, C, H, W)``."""
    h, wd = shape[2:]
    ho = (h + top + bottom - kh) // s + 1
    wo = (wd + left + right - kw) // s + 1
    return ho, wo, ho + (kh - 1) // s, wo + (kw - 1) // s


class InputLanes(NamedTuple):
    """A forward pass's input in batch lanes (:func:`_lanes_of`), kept for the same
    layer's ``dw`` (:func:`backward_weight` reads the same layout, and the forward's
    extra zeros at the end are never read): a training step then lays ``x`` out once,
    not twice (ResNet 3x3 fwd+bwd at batch 8, 2-4 % less time). ``key``: the call it
    belongs to, ``(x.shape, x.dtype, kh, kw, s, pads)``; the numbers are ``x``'s as the
    forward read them."""

    xt: np.ndarray
    key: tuple

    def belongs_to(self, shape, dtype, kh, kw, s, pads):
        """Was this laid out by a forward pass of this geometry?"""
        return self.key == lanes_key(shape, dtype, kh, kw, s, pads)


def lanes_key(shape, dtype, kh, kw, s, pads):
    """The :attr:`InputLanes.key` of a call (``pads = (top, bottom, left, right)``)."""
    return (tuple(shape), np.dtype(dtype).str, kh, kw, s, tuple(pads))


def _tap_offsets(c_, kh, kw, s, hq, wq, n_, multiple):
    """Offsets in the layout of :func:`_lanes_of` of the taps ``(c, u, v)`` in this order
    (``(u*wq + v)*N`` plus the channel's planes at stride 1), zero-padded to a multiple of
    ``multiple`` (such padding taps read ``xt[0]``; their results are dropped)."""
    return forward_taps(c_, kh, kw, s, s, hq, wq, multiple) * n_


def _channel_block(kh, kw, fbw, pitch, itemsize):
    """Channels per channel block of the forward tile: their weights fill ``BLOCK_BYTES``,
    and on AVX2 their ``KH`` input rows of ``pitch`` numbers at most ``BLOCK_ROWS_BYTES``.
    (Any block gives the same sums: only how often they go to memory changes.)"""
    cb = BLOCK_BYTES // (kh * kw * fbw * itemsize)
    if BLOCK_ROWS_BYTES:
        cb = min(cb, BLOCK_ROWS_BYTES // (kh * pitch * itemsize))
    return max(1, cb)


def correlate(x, wp, bias, maps, kh, kw, top, bottom, left, right, rw, s=1):
    """``(y, xt)``: ``y (N, maps, Ho, Wo)``, ``y[n, m, i, j] = bias[m] + sum_{k,u,v} wp[m //
    FB, k, u*KW + v, m % FB] * xp[n, k, i*s + u, j*s + v]`` for ``x (N, K, H, W)``
    zero-padded by ``(top, bottom, left, right)`` (each >= 0), with the tile of ``rw``
    positions and ``FB`` maps (``regtile_tiles.FORWARD_TILES``; :func:`tile_for` chooses;
    any tile gives the same bits), and ``xt`` the input in batch lanes it read
    (:func:`_lanes_of`). ``bias (NB, FB)``. None when ``x`` holds inf or NaN."""
    n_ = x.shape[0]
    fbw = wp.shape[3]
    xt, ok, ho, wo, hq, wq = _lanes_of(x, kh, kw, s, top, bottom, left, right, rw)
    if not ok:
        return None
    ntile = -(-(wo * n_) // rw)
    toff = _tap_offsets(1, kh, kw, s, hq, wq, n_, 1)  # channel 0; channels: plane apart
    taps = tuple(toff.tolist()) if kh * kw in UNROLL_TAPS else toff
    rows, cols = live_taps(ho, wo, kh, kw, s, top, left, x.shape[2], x.shape[3], n_, rw)
    offs, tapi, count = tap_lists(toff, rows, cols, kw)
    cb = _channel_block(kh, kw, fbw, wq * n_, x.itemsize)
    band = _band(ho, wp.shape[0], ntile * rw * fbw, kh, cb, wq * n_, x.itemsize)
    y = np.empty((n_, maps, ho, wo), dtype=x.dtype)
    tile = FORWARD_TILES[rw, fbw // lanes(x.dtype)]
    plane = s * s * hq * wq * n_
    tile(xt, plane, wq * n_, wp, taps, cols, offs, tapi, count, bias, cb, band, ntile, y)
    return y, xt


def tap_lists(toff, rows, cols, kw):
    """``(offs, tapi, count)``: the taps each part of a row reads, as the tile runs them.
    Output row ``i``'s positions ``cols[g, 0] .. cols[g, 1] - 1`` (:func:`live_taps`) read
    the ``count[i, g]`` taps ``tapi[i, g, :count]`` (indices ``u*KW + v`` in order) at
    offsets ``offs[i, g, :count] = toff[tapi]``: kernel rows ``rows[i, 0] .. rows[i, 1] -
    1`` and columns ``cols[g, 2] .. cols[g, 3] - 1``. Arrays ``(Ho, G, KH*KW)``, the entries
    past ``count`` unused."""
    kk = toff.shape[0]
    u, v = np.arange(kk) // kw, np.arange(kk) % kw
    live = (
        (u >= rows[:, None, 0:1])
        & (u < rows[:, None, 1:2])
        & (v >= cols[None, :, 2:3])
        & (v < cols[None, :, 3:4])
    )
    tapi = np.argsort(~live, axis=2, kind="stable")  # the live taps first, in order
    return toff[tapi], tapi.astype(np.int64), live.sum(axis=2).astype(np.int64)


def _band(ho, nfb, rowlen, kh, cb, pitch, itemsize):
    """Output rows per work item of the forward tile. A work item runs its rows channel
    block by channel block, so a block's input rows, read by up to ``KH`` output rows,
    come from L2 after the first: as many rows as keep the band's sums (``rowlen``
    numbers a row) and a block's input rows within ``BAND_BYTES``, and at least
    ``MIN_ITEMS`` work items in all (maps blocks x bands) for the threads to share; then
    as few rows as give the same number of bands, so that the bands are of one size
    (AlexNet C5's ``dx``: 7 and 6 rows, not 8 and 5; 1-3 % faster). Any band gives the
    same sums (each output's terms keep their order)."""
    per_row = (rowlen + cb * pitch) * itemsize
    band = max(1, (BAND_BYTES - (kh - 1) * cb * pitch * itemsize) // per_row)
    band = min(band, max(1, ho * nfb // MIN_ITEMS), ho)
    return -(-ho // -(-ho // band))  # bands of equal size: threads share them evenly


def live_taps(ho, wo, kh, kw, s, top, left, h, wd, n_, rw):
    """``(rows, cols)``: the taps of a layer of stride ``s`` that do not read its zero
    padding, as the tile runs them. Output ``(i, j)`` reads input ``(i*s + u - top, j*s +
    v - left)`` with tap ``(u, v)``: padding unless inside the ``h x wd`` input.

    ``rows (Ho, 2)``: output row ``i`` reads kernel rows ``rows[i, 0] <= u < rows[i, 1]``.
    ``cols (G, 4)``: the row's tiles of ``rw`` positions ``p = j*N + n`` in runs ``cols[g,
    0] <= p < cols[g, 1]`` that skip the same kernel columns: ``cols[g, 2] <= v < cols[g,
    3]`` are read by at least one position of every tile in the run (the others by none;
    positions of a tile past ``Wo*N`` are dropped, so they count as column ``Wo - 1``).

    The tile skips the other taps: each term there is ``w * 0``, so the sums keep their
    order and their value. On AlexNet C3 (5x5, 27 x 27 padded by 2, batch 8, tiles of 6)
    that is 4.4 % of the multiply-adds by rows and 3.3 % by columns; on C5 (3x3, 13 x 13
    padded by 1, tiles of 4) 5.1 % and 5.1 %."""
    i = np.arange(ho) * s
    u0 = np.clip(top - i, 0, kh)
    rows = np.stack([u0, np.clip(top + h - i, u0, kh)], axis=1).astype(np.int64)
    p = np.arange(0, -(-(wo * n_) // rw) * rw, rw)
    j_lo = p // n_
    j_hi = np.minimum((p + rw - 1) // n_, wo - 1)
    v0 = np.clip(left - j_hi * s, 0, kw)
    v1 = np.clip(left + wd - j_lo * s, v0, kw)
    new = np.flatnonzero(np.r_[True, (v0[1:] != v0[:-1]) | (v1[1:] != v1[:-1])])
    ends = np.r_[p[new[1:]], p[-1] + rw]
    cols = np.stack([p[new], ends, v0[new], v1[new]], axis=1).astype(np.int64)
    return rows, cols


def forward(x, w, b, mask, top, bottom, left, right, s=1, save=False):
    """``y (N, F, Ho, Wo)`` of a layer of stride ``s`` from ``x (N, C, H, W)``, ``w (F, C,
    KH, KW)``, ``b (F,)``; needs FMA vectors (``VEC_BITS > 0``); fastest where
    :func:`applies`. ``save``: ``(y, InputLanes)`` instead, the input as laid out here,
    for :func:`backward_weight`. None when ``x`` or ``w`` holds inf or NaN
    (``kernels.conv`` then runs the definition loops: here padding and junk positions
    would meet them with 0)."""
    n_, c_, h, wd = x.shape
    f_, _, kh, kw = w.shape
    wo = (wd + left + right - kw) // s + 1
    rw, nv, fbw, work = tile_for(f_, wo * n_, x.itemsize)
    wp, ok = pack_weights(w, mask, fbw, False)
    if not ok:
        return None
    bias = np.zeros((wp.shape[0], fbw), dtype=x.dtype)
    bias.reshape(-1)[:f_] = b
    pads = (top, bottom, left, right)
    r = correlate(x, wp, bias, f_, kh, kw, *pads, rw, s)
    if r is None:
        return None
    y, xt = r
    return (y, InputLanes(xt, lanes_key(x.shape, x.dtype, kh, kw, s, pads))) if save else y


def backward_input(dy, w, mask, top, bottom, left, right):
    """``dx (N, C, H, W)`` of a stride-1 layer: ``dy (N, F, Ho, Wo)`` zero-padded by
    ``K - 1 - pad`` correlated with the flipped kernels, channels as output maps
    (``dx[n, c, r, s] = sum_{f,u,v} w[f, c, u, v] dy[n, f, r + top - u, s + left - v]``,
    the loop of :func:`direct.backward_input`). Needs every pad ``<= K - 1`` and FMA
    vectors; fastest where :func:`applies_dx`. None when ``dy`` or ``w`` holds inf or
    NaN."""
    n_, f_, ho, wo = dy.shape
    _, c_, kh, kw = w.shape
    in_w = wo + kw - 1 - left - right
    rw, nv, fbw, work = tile_for(c_, in_w * n_, dy.itemsize)
    wp, ok = pack_weights(w, mask, fbw, True)
    if not ok:
        return None
    bias = np.zeros((wp.shape[0], fbw), dtype=dy.dtype)
    r = correlate(
        dy, wp, bias, c_, kh, kw, kh - 1 - top, kh - 1 - bottom, kw - 1 - left, kw - 1 - right, rw
    )
    return None if r is None else r[0]


@njit(cache=True)
def applies_dx(c_, in_w, n_, itemsize, sh, sw, kh, kw, top, bottom, left, right):
    """:func:`applies` for ``dx`` (``C`` output maps, ``W*N`` positions per row), when the
    padding leaves ``dy``'s own padding non-negative (every pad ``<= K - 1``); stride 1 only
    (a strided layer's ``dx`` runs the phase planes of ``cnnsim.kernels.conv``)."""
    if sh != 1 or sw != 1 or max(top, bottom) > kh - 1 or max(left, right) > kw - 1:
        return False
    return applies(c_, in_w * n_, itemsize, sh, sw, kh, kw)


# ---- the weight gradient: the same tile, taps in place of positions ----


@njit(cache=True)
def applies_dw(f_, c_, kh, kw, itemsize, sh, sw):
    """Run ``dw`` on the tile: :func:`applies` with the ``C*KH*KW`` taps in place of the
    positions of a row."""
    return applies(f_, c_ * kh * kw, itemsize, sh, sw, kh, kw, True)


@njit(cache=True, parallel=True)
def to_tiles(dy, fbw):
    """``(dyb, ok)``: ``dy (N, F, Ho, Wo)`` -> ``dyb (ceil(F/fbw), Ho, Wo*N, fbw)``, the
    tile's output layout: ``dyb[f // fbw, i, j*N + n, f % fbw] = dy[n, f, i, j]``, padding
    maps 0; ``ok``: every number is finite."""
    n_, f_, ho, wo = dy.shape
    nb = -(-f_ // fbw)
    dyb = np.empty((nb, ho, wo * n_, fbw), dtype=dy.dtype)  # every element written once
    bad = np.zeros(nb * ho, dtype=np.uint8)
    e = dy.itemsize
    blocks = dy.strides[3] == e  # unit-stride rows: transposed in register blocks
    for t in prange(nb * ho):
        blk = t // ho
        i = t % ho
        live = min(fbw, f_ - blk * fbw)
        dst = dyb[blk, i]
        for n in range(n_):
            # image n's live x Wo maps of row i -> positions j*N + n (transposes.py)
            s0 = (n * dy.strides[0] + blk * fbw * dy.strides[1] + i * dy.strides[2]) // e
            if blocks and transpose_blocks(
                dy, s0, dy.strides[1] // e, dst, n * fbw, n_ * fbw, live, wo
            ):
                continue
            for j in range(wo):
                for mm in range(live):
                    dst[j * n_ + n, mm] = dy[n, blk * fbw + mm, i, j]
        for p in range(wo * n_):  # the padding maps
            for mm in range(live, fbw):
                dst[p, mm] = 0
        bad[t] = not finite(dst.reshape(-1))
    return dyb, not bad.any()


def backward_weight(dy, x, mask, kh, kw, top, bottom, left, right, s=1, saved=None):
    """``dw (F, C, KH, KW)`` of a layer of stride ``s``, replacing the loop
    of :func:`direct.backward_weight`
    (``dw[f, c, u, v] = sum_{n, i, j} dy[n, f, i, j] xp[n, c, i*s + u, j*s + v]``)::

        for each (block of FB maps, tile of RW taps r = (u, v, c)):   # one work item
            a[k, :] = 0                       for k < RW              # in registers
            for i, p = (j, n):                # the output positions, in this order, where
                                              # the taps read the input (dw_taps)
                d = dy[block, i, p]           # NV vectors of FB maps, loaded once
                for k < RW:
                    a[k, :] += xp[c_k, i + u_k, p + v_k] * d     # one broadcast, NV FMAs
            dw[block, r + k] = a[k, :]

    The forward's tile with the taps of ``w`` as the outputs and the positions as the
    reduction; ``dy`` in the forward's output layout (:func:`to_tiles`), ``x`` in batch
    lanes: ``saved`` (:class:`InputLanes`) when the forward pass of this call kept them,
    else laid out here. Entries outside the connection table are 0. Needs FMA vectors;
    fastest where :func:`applies_dw`. None when ``dy`` or ``x`` holds inf or NaN."""
    n_, c_ = x.shape[:2]
    f_ = dy.shape[1]
    r_ = c_ * kh * kw
    rw, nv, fbw, work = tile_for(f_, r_, x.itemsize, True)
    pads = (top, bottom, left, right)
    if saved is not None and saved.belongs_to(x.shape, x.dtype, kh, kw, s, pads):
        xt, ok = saved.xt, True  # the forward checked its numbers as it copied them
        ho, wo, hq, wq = _lane_shape(x.shape, kh, kw, s, *pads)
    else:
        xt, ok, ho, wo, hq, wq = _lanes_of(x, kh, kw, s, *pads)
    xoff, live = dw_taps(c_, kh, kw, s, hq, wq, n_, rw, ho, wo, top, left, *x.shape[2:])
    dyb, dy_ok = to_tiles(dy, fbw)
    if not (ok and dy_ok):
        return None
    dwb = np.empty((dyb.shape[0], xoff.shape[0], fbw), dtype=x.dtype)
    zero = np.zeros(fbw, dtype=x.dtype)
    args = (xt, wq * n_, xoff, live, dyb, zero, dwb)
    DW_TILES[rw, nv](*args)
    return from_dw_tiles(dwb, mask, kh, kw)


@njit(cache=True)
def dw_taps(c_, kh, kw, s, hq, wq, n_, rw, ho, wo, top, left, h, wd):
    """``(xoff, live)``: the taps of ``dw``'s tile in the order it takes them, and where
    they read the input and not its zero padding.

    Tap ``r = (u*KW + v)*C + c`` (kernel position major, so that a tile's ``rw`` taps
    mostly share one ``(u, v)`` and with it the padding they would read) is at offset
    ``xoff[r]`` of output ``(0, 0)`` in the layout of :func:`_lanes_of`; ``xoff`` is padded
    with 0s to a multiple of ``rw`` (their sums are dropped). Tap ``(u, v)`` reads the
    input for output rows ``top <= i*s + u < top + H`` and columns ``left <= j*s + v < left
    + W``; ``live (ceil(C*KH*KW / rw), 4)`` holds, per tile, the output rows ``live[t, 0]
    .. live[t, 1] - 1`` and positions ``p = j*N + n`` ``live[t, 2] .. live[t, 3] - 1`` that
    hold what its taps read (the smallest such ranges: where a tile's taps differ in ``(u,
    v)``, some of them still read padding there, adding ``0 * dy`` as before). The terms
    left out are ``xp * dy`` with ``xp = 0``, so each sum keeps its order and its value:
    AlexNet C3 and C5 skip 7.6 and 9.9 % of ``dw``'s multiply-adds; their ``dw`` took
    0.93 of the time, though a tile's taps now read RW channels' rows, not one
    channel's (docs/performance.md, twenty-first session)."""
    kk = kh * kw
    toff = forward_taps(1, kh, kw, s, s, hq, wq, 1)  # channel 0's taps (u, v)
    plane = s * s * hq * wq  # the next channel's
    nt = -(-(c_ * kk) // rw)
    xoff = np.zeros(nt * rw, dtype=np.int64)
    live = np.zeros((nt, 4), dtype=np.int64)
    live[:, 0], live[:, 2] = ho, wo  # each tile's ranges, widened tap by tap below
    r, t, k = 0, 0, 0  # tap r is the k-th of tile t
    for tap in range(kk):
        u, v = tap // kw, tap % kw
        # the output rows i with top <= i*s + u < top + H: ceil((top - u) / s) .. (columns alike)
        a0 = min(max(-((u - top) // s), 0), ho)
        a1 = min(max((top + h - 1 - u) // s + 1, a0), ho)
        b0 = min(max(-((v - left) // s), 0), wo)
        b1 = min(max((left + wd - 1 - v) // s + 1, b0), wo)
        for c in range(c_):
            xoff[r] = (c * plane + toff[tap]) * n_
            if a0 < a1 and b0 < b1:  # a tap that reads only padding adds nothing
                live[t, 0], live[t, 1] = min(live[t, 0], a0), max(live[t, 1], a1)
                live[t, 2], live[t, 3] = min(live[t, 2], b0), max(live[t, 3], b1)
            r, k = r + 1, k + 1
            if k == rw:
                t, k = t + 1, 0
    for t in range(nt):
        if live[t, 0] < live[t, 1] and live[t, 2] < live[t, 3]:
            live[t, 2] *= n_
            live[t, 3] *= n_
        else:
            live[t] = 0
    return xoff, live


@njit(cache=True, parallel=True)
def from_dw_tiles(dwb, mask, kh, kw):
    """``dwb (NB, >= C*KH*KW, FB)`` -> ``dw (F, C, KH, KW)``, ``dw[f, c, u, v] = dwb[f //
    FB, (u*KW + v)*C + c, f % FB]`` (the taps in the order of :func:`dw_taps`) where
    ``mask[f, c]``, else 0 (the sums copied bit for bit; one pass instead of NumPy's
    transpose copy and ``np.where``: ``backward_weight`` of ResNet-18's 512-map 3x3 layer
    at batch 8, 15.9 -> 7.5 ms on 2 threads)."""
    f_, c_ = mask.shape
    fbw = dwb.shape[2]
    taps = kh * kw
    dw = np.empty((f_, c_, kh, kw), dtype=dwb.dtype)
    d3 = dw.reshape(f_, c_, taps)
    for f in prange(f_):
        src = dwb[f // fbw]
        mm = f % fbw
        for c in range(c_):
            if mask[f, c] == 0:
                for r in range(taps):
                    d3[f, c, r] = 0
            else:
                for r in range(taps):
                    d3[f, c, r] = src[r * c_ + c, mm]
    return dw


__all__ = [
    "VEC_BITS",
    "InputLanes",
    "applies",
    "applies_dw",
    "applies_dx",
    "backward_input",
    "backward_weight",
    "forward",
    "tile_for",
]
