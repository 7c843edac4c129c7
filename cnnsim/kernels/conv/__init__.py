"""Direct 2-D convolution (cross-correlation, as every CNN library computes it).

Arrays in, arrays out; no validation (``cnnsim.functional.conv`` validates once). The
package, read in this order:

* :mod:`~cnnsim.kernels.conv.direct`: the plain loops (forward, ``dx``, ``dw``): what is
  computed. They run for small calls (:func:`use_direct`).
* :mod:`~cnnsim.kernels.conv.layouts`: batch lanes and phase planes, the rearrangements
  that make every kernel tap a constant offset into one flat array.
* :mod:`~cnnsim.kernels.conv.blocked`: the register-blocked micro-kernels over those
  layouts, each documented with the direct loop it replaces.
* :mod:`~cnnsim.kernels.conv.regtile`: the register tile (outputs held in vector
  registers across the whole reduction, :mod:`~cnnsim.kernels.conv.simd`) that runs the
  forward and ``dw`` (any stride) and the stride-1 ``dx`` of layers with enough maps
  (``regtile.applies``); a strided layer's ``dx`` runs there as one stride-1 problem per
  stride phase (``_dx_phases``).
* :mod:`~cnnsim.kernels.conv.pointwise`: 1x1 layers (no padding) as the matrix product
  they are: packed panels and a 6 x 16 register-tile micro-kernel (a strided 1x1 layer
  is that product over the pixels it reads).
* :mod:`~cnnsim.kernels.conv.pooled`: the ends of the batch-lane path when a 2x2 average
  pooling follows (LeNet-5's C1 -> S2): the activated map and its pooling in one pass,
  and back (:func:`conv2d_act_avgpool`, :func:`conv2d_act_avgpool_backward`).
* this module: the entry points, choosing the path from the shapes only.

The entry points and the paths are plain Python: each path calls the compiled pieces of
the modules above one after another (a microsecond per call), so Numba compiles
only what a model's layers use, at their first call: LeNet-5's forward pass at batch 1
compiles the phase-plane and full-window pieces with the 3-map block and nothing of the
batch lanes, the 5-map block, the plain loops or the backward passes. (When the choice
was made inside one ``@njit`` function, its first call compiled every path: about
10 s of a 22 s first run; see docs/performance.md, "The first run".)

Shapes: ``x (N, C, H, W)``, ``w (F, C, KH, KW)``, ``b (F,)``, ``y (N, F, H_out, W_out)``;
``mask (F, C)`` uint8 connection table (1 = filter f reads map c).

    y[n, f, i, j] = b[f] + sum_{c: mask[f,c]} sum_{u<KH, v<KW}
                    w[f, c, u, v] * xp[n, c, i*sh + u, j*sw + v]

where ``xp`` is ``x`` zero-padded by ``(top, bottom, left, right)``.

How it is fast while staying *direct* (no im2col matrix): the input is laid out once per
call so that every kernel tap becomes a constant offset into one flat array, and the hot
loop (:func:`cnnsim.kernels.conv.blocked.plane_conv`) updates a block of 5 output maps
from 3 taps per pass over contiguous positions (3 maps x 4 taps for layers with few maps),
so each loaded input feeds several multiply-adds from registers. Two layouts:

* **batch lanes** (stride 1, ``N * W_out >= LANES_MIN``: training batches): the images are
  the innermost axis, ``xt[c, I, J, n]``; one output row of the whole batch is one
  contiguous run of ``W_out * N`` positions, with nothing wasted (short rows are taken a
  few at a time, with a little junk between them: ``layouts.lane_rows``);
* **phase planes** (strided layers, single images): each image's zero-padded planes are
  split into their stride phases (stride folded away) and stored flat at a fixed row
  pitch; the few "junk" columns between rows are computed and dropped.

The two backward passes reuse the same machinery:

* ``dx`` is a stride-1 direct convolution of the zero-padded ``dy`` with the flipped
  kernels (in phase planes: one output "map" per input channel and stride phase), or, in
  batch lanes where the padding would waste much of that work, a scatter of each ``dy``
  row into the input rows it came from
  (:func:`~cnnsim.kernels.conv.blocked.lanes_input_grad`: only the useful multiply-adds;
  ``_scatter_dx`` decides);
* ``dw[f, c, u, v] = sum_{n,i,j} dy[n, f, i, j] xp[n, c, i*sh+u, j*sw+v]`` is a blocked
  set of dot products (2 filters x 4 taps per work item) over either layout.

Which layout and block a call uses depends on the shapes only, never on the thread count
or the machine load. Every output element is written by exactly one thread and summed in
a fixed order, so results do not depend on the thread count (determinism is a contract).
Masked-off (filter, channel) pairs get weight 0 in the blocked layout, and junk positions
meet real inputs with a zero ``dy`` in the weight gradient; ``0 * inf`` would be NaN, so
a call whose inputs hold inf or NaN runs ``direct.py`` instead: the fast paths return
None for it (the register tile finds out while copying its inputs, the others check
first), and the entry points below fall back.
"""

import functools

import numpy as np

from . import regtile
from .blocked import (
    FBW,
    GW,
    WIDE_MIN_MAPS,
    big_enough,
    block_shape,
    blocked_weight_grad,
    full_window_dw,
    full_window_dx,
    full_window_forward,
    lanes_input_grad,
    plane_conv,
    tiles_pay,
)
from .direct import all_finite, bias_grad
from .direct import backward_input as direct_backward_input
from .direct import backward_weight as direct_backward_weight
from .direct import forward as direct_forward
from .layouts import (
    crop_rows,
    dx_taps_and_weights,
    flat_rows,
    forward_taps,
    forward_weights,
    lane_rows,
    lanes_dx_weights,
    lanes_to_rows,
    mask_rows,
    masked_rows,
    phase_geometry,
    round_up,
    rows_to_lanes,
    scatter_phases,
    to_lanes,
    to_phase_planes,
    zeros_like_bias,
)
from .pointwise import backward_input as pointwise_backward_input
from .pointwise import backward_weight as pointwise_backward_weight
from .pointwise import forward as pointwise_forward
from .pooled import lanes_to_rows_pool, pool_act_grad_lanes
from .regtile_tiles import dx_tile_3x4, dx_tile_6x4
from .simd import VEC_BITS, VEC_REGS, lanes

# the batch-lane dx scatter's register tile: (input maps per block, its kernel)
DX_TILE = (6, dx_tile_6x4) if VEC_REGS >= 32 else (3, dx_tile_3x4)
LANES_MIN = 64  # batch-lane layout when stride 1 and N * W_out >= this (8 AVX2 vectors)
NARROW_COST = 1.15  # time per multiply-add of the 3-map block relative to the 5-map one
DIRECT_MAX_MACS = 1_000  # calls with fewer multiply-adds run the plain loops (direct.py)


# ---- the choice of path: shapes only, so a given call always takes the same path ----


def use_direct(macs):
    """Run the plain loops of ``direct.py``? Only for calls of fewer than ``DIRECT_MAX_MACS``
    multiply-adds, where the fast path's fixed cost (layout copies, several parallel
    regions: about 17 us) exceeds the loops' ~3.5 ns per multiply-add for forward + dx +
    dw. Measured, one thread, fwd+bwd: 576 MACs direct 14 us / fast 18 us; 1,296 MACs 22 /
    20 us; 23,328 MACs 227 / 24 us. Shapes only, so a call always takes the same path."""
    return macs < DIRECT_MAX_MACS


def _macs(n_, f_, c_, kh, kw, ho, wo):
    return n_ * f_ * c_ * kh * kw * ho * wo


def _lanes(n_, wo, sh, sw):
    """Use the batch-lane layout (``layouts.to_lanes``): stride 1 and enough images
    times output columns to fill the vector loop. Depends on the shapes only, so a given
    call always takes the same path (determinism)."""
    return sh == 1 and sw == 1 and n_ >= 2 and n_ * wo >= LANES_MIN


def _full_window(x_shape, w_shape, top, bottom, left, right):
    """The kernel covers the whole unpadded input (output 1x1: LeNet-5's C5)."""
    return (
        top == 0
        and bottom == 0
        and left == 0
        and right == 0
        and x_shape[2] == w_shape[2]
        and x_shape[3] == w_shape[3]
    )


def _pointwise(kh, kw, sh, sw, top, bottom, left, right):
    """A 1x1 kernel, no padding: a matrix product (``pointwise.py``). With a stride it
    reads every ``sh``-th row and ``sw``-th column only (ResNet's downsampling shortcuts):
    the same product over that subsampled input, taken by :func:`_every`. Not on a CPU
    without FMA vectors (``VEC_BITS = 0``), as for the register tile: the product's
    explicit fused multiply-adds would be a library call per element there (the
    inception 1x1 forward took 52 ms, measured with FMA switched off), so 1x1 layers take
    the blocked paths."""
    return VEC_BITS > 0 and kh == 1 and kw == 1 and top + bottom + left + right == 0


def _every(x, sh, sw):
    """``x[:, :, ::sh, ::sw]`` as a C-contiguous array (``x`` itself at stride 1): the
    pixels a 1x1 kernel with stride ``(sh, sw)`` reads."""
    if sh == 1 and sw == 1:
        return x
    return np.ascontiguousarray(x[:, :, ::sh, ::sw])


def _phases_on_tile(c_, n_, ho, wo, itemsize, sh, sw, kh, kw):
    """A strided layer's ``dx`` as ``s x s`` stride-1 problems (:func:`_dx_phases`) when
    the largest of them runs on the register tile."""
    if sh != sw or sh < 2 or kh < sh or kw < sw:
        return False
    qh = -(-kh // sh)
    qw = -(-kw // sw)
    return regtile.applies_dx(c_, wo + qw - 1, n_, itemsize, 1, 1, qh, qw, 0, 0, 0, 0)


def _scatter_dx(dy_positions, dx_positions, c_):
    """Batch-lane ``dx``: scatter the ``dy`` rows (useful multiply-adds only, 3-map blocks)
    rather than correlate the zero-padded ``dy`` (every ``dx`` position times every tap,
    in 5-map blocks when there are enough maps)? Whichever does less work, counting the
    3-map block as ``NARROW_COST`` times slower per multiply-add (measured). Scatter wins
    where the padding is large (LeNet-5 C3: 100 dy vs 196 dx positions per map, 2x);
    "same" layers (AlexNet C3/C5, ResNet) correlate, 7-15 % faster there."""
    corr = dx_positions * (1.0 if c_ >= WIDE_MIN_MAPS else NARROW_COST)
    return dy_positions * NARROW_COST < corr


# ---- the three entry points ----


def conv2d_forward(x, w, b, mask, sh, sw, top, bottom, left, right, save=False):
    """``y (N, F, H_out, W_out)`` from ``x (N, C, H, W)``, ``w (F, C, KH, KW)``, ``b (F,)``:
    :func:`direct.forward` for small calls and for inputs holding inf or NaN, else
    :func:`fast_forward`. ``save``: ``(y, saved)`` instead, ``saved`` what
    :func:`conv2d_backward_weight` of the same call can reuse: ``x`` in the register
    tile's batch lanes (:class:`regtile.InputLanes`), or None where this forward did not
    lay it out so."""
    n_, c_, h, wd = x.shape
    f_, _, kh, kw = w.shape
    ho = (h + top + bottom - kh) // sh + 1
    wo = (wd + left + right - kw) // sw + 1
    if not use_direct(_macs(n_, f_, c_, kh, kw, ho, wo)):
        r = fast_forward(x, w, b, mask, sh, sw, top, bottom, left, right, save)
        if r is not None:
            return r
    y = direct_forward(x, w, b, mask, sh, sw, top, bottom, left, right)
    return (y, None) if save else y


def conv2d_backward_input(dy, w, mask, in_h, in_w, sh, sw, top, bottom, left, right):
    """``dx (N, C, H, W)`` from ``dy (N, F, H_out, W_out)`` and ``w (F, C, KH, KW)``:
    :func:`direct.backward_input` for small calls and for inputs holding inf or NaN, else
    :func:`fast_backward_input`."""
    n_, f_, ho, wo = dy.shape
    _, c_, kh, kw = w.shape
    if not use_direct(_macs(n_, f_, c_, kh, kw, ho, wo)):
        dx = fast_backward_input(dy, w, mask, in_h, in_w, sh, sw, top, bottom, left, right)
        if dx is not None:
            return dx
    return direct_backward_input(dy, w, mask, in_h, in_w, sh, sw, top, bottom, left, right)


def conv2d_bias_grad(dy):
    """``db (F,)``, ``db[f] = sum_{n,i,j} dy[n, f, i, j]`` (:func:`direct.bias_grad`): its
    own entry point, so layers without a bias skip it (ResNet-18: 12 ms a step)."""
    return bias_grad(dy)


def conv2d_backward_weight(dy, x, mask, kh, kw, sh, sw, top, bottom, left, right, saved=None):
    """``dw (F, C, KH, KW)`` from ``dy (N, F, H_out, W_out)`` and ``x``:
    :func:`direct.backward_weight` for small calls and for inputs holding inf or NaN, else
    :func:`fast_backward_weight`. ``saved``: what :func:`conv2d_forward` of this call
    saved (or None); the register tile reads ``x``'s batch lanes from it instead of laying
    ``x`` out again."""
    n_, f_, ho, wo = dy.shape
    c_ = x.shape[1]
    pads = (top, bottom, left, right)
    if not use_direct(_macs(n_, f_, c_, kh, kw, ho, wo)):
        dw = fast_backward_weight(dy, x, mask, kh, kw, sh, sw, *pads, saved)
        if dw is not None:
            return dw
    return direct_backward_weight(dy, x, mask, kh, kw, sh, sw, *pads)


# ---- a convolution, its activation and a 2x2/2 average pooling in one pass (pooled.py) ----


@functools.lru_cache(maxsize=256)
def _pooled_lanes(n_, c_, f_, h, wd, kh, kw, top, bottom, left, right, itemsize):
    """The geometry ``phase_geometry(...)`` when a stride-1 layer's forward and ``dw`` take
    the batch-lane path with one output row per group (the layout of :mod:`.pooled`),
    exactly as :func:`fast_forward` and :func:`fast_backward_weight` would route them;
    else None. Shapes only, so the answer is kept (a training step asks four times)."""
    pads = (top, bottom, left, right)
    geometry = phase_geometry(h, wd, kh, kw, 1, 1, *pads)
    ho, wo, _, _, _, wq = geometry
    if (
        ho < 2
        or wo < 2
        or use_direct(_macs(n_, f_, c_, kh, kw, ho, wo))
        or _full_window((n_, c_, h, wd), (f_, c_, kh, kw), *pads)
        or _pointwise(kh, kw, 1, 1, *pads)
        or regtile.applies(f_, wo * n_, itemsize, 1, 1, kh, kw)
        or regtile.applies_dw(f_, c_, kh, kw, itemsize, 1, 1)
        or not _lanes(n_, wo, 1, 1)
        or lane_rows(ho, wo, wq, n_)[0] != 1
    ):
        return None
    return geometry


def conv2d_act_avgpool(x, w, b, mask, act, top, bottom, left, right):
    """``(y, p, saved)``: ``y = act(conv2d_forward(x, w, b, ...))`` at stride 1 and ``p`` its
    2x2 average pooling with stride 2 (``y (N, F, Ho, Wo)``, ``p (N, F, Ho//2, Wo//2)``),
    the same numbers as the three kernels one after another: the convolution applies the
    activation as it stores its output in batch lanes, and one pass
    (:func:`pooled.lanes_to_rows_pool`) writes ``y`` and ``p``. ``saved = (xt, yl)``: the
    input and ``y`` in batch lanes, what :func:`conv2d_act_avgpool_backward` reads.
    ``act``: ``activations.ACT_CODES``.
    None when the layer does not take the batch-lane path (:func:`_pooled_lanes`) or an
    input holds inf or NaN: the caller then runs the three steps."""
    n_, c_, h, wd = x.shape
    f_, _, kh, kw = w.shape
    geometry = _pooled_lanes(n_, c_, f_, h, wd, kh, kw, top, bottom, left, right, x.itemsize)
    if geometry is None or not all_finite(w):
        return None
    ho, wo, _, _, hq, wq = geometry
    xt, ok = to_lanes(x, top, left, hq, wq, 0)  # one row per group: no slack needed
    if not ok:
        return None
    yl = _conv_lanes(xt, n_, w, b, mask, geometry, 1, act)
    y, p = lanes_to_rows_pool(yl, f_, ho, wo, n_)
    return y, p, (xt, yl)


def conv2d_act_avgpool_backward(dp, saved, x, w, mask, act, top, bottom, left, right, input_grad):
    """``(dx, dw, db)`` of :func:`conv2d_act_avgpool` from the pooled map's gradient ``dp``
    and what it ``saved`` (the input ``x`` and the activated map, in batch lanes): the pooling's and the activation's backward, then
    :func:`conv2d_backward_input` / :func:`conv2d_backward_weight` /
    :func:`conv2d_bias_grad`, the same numbers, with ``dz`` written once, straight into
    batch lanes (:func:`pooled.pool_act_grad_lanes`). ``input_grad=False``: ``dx`` is
    None. None when the layer does not take the batch-lane paths (``dx``: the scatter,
    :func:`_scatter_dx`) or a number is inf or NaN."""
    n_, c_, h, wd = x.shape
    f_, _, kh, kw = w.shape
    pads = (top, bottom, left, right)
    geometry = _pooled_lanes(n_, c_, f_, h, wd, kh, kw, *pads, x.itemsize)
    if geometry is None:
        return None
    ho, wo, _, _, hq, wq = geometry
    if input_grad and (
        regtile.applies_dx(c_, wd, n_, x.itemsize, 1, 1, kh, kw, *pads)
        or not _lanes(n_, wd, 1, 1)
        or not _scatter_dx(ho * wo, h * wd, c_)
        or not all_finite(w)
    ):
        return None
    # the scatter reads maps in fours, the weight gradient in pairs (FBW): zero maps
    # beyond F change neither (each sum is its own work item)
    xt, yl = saved
    dzt, db, ok = pool_act_grad_lanes(dp, yl, act, round_up(f_, 4 if input_grad else FBW))
    if not ok:
        return None
    dw = _unblock_dw(_dwg_from_lanes(dzt, xt, n_, c_, kh, kw, geometry, 1), mask, kh, kw)
    dx = _dx_scatter_from_lanes(dzt, n_, w, mask, h, wd, top, left) if input_grad else None
    return dx, dw, db


def _finite(*arrays):
    """No inf or NaN in any of ``arrays`` (:func:`direct.all_finite`, one pass each): the
    check before the fast paths that do not make it while copying their input (the
    register tile does, ``layouts.finite``)."""
    return all(all_finite(a) for a in arrays)


def _finite_result(out):
    """``out``, or None when it holds inf or NaN: the check of a 1x1 product's forward pass
    and weight gradient, made after the product instead of on both inputs before it.
    Forward, every input element and every weight enters some output term (a
    disconnected weight as a 0, and ``0 * inf`` is NaN); for ``dw``, every element of
    ``x`` and ``dy`` enters the sum of some ``dw[f, c]``, and the entries outside the
    connection table are set to 0 afterwards, as the plain loops leave them. An inf or
    NaN in a term leaves that output non-finite, so a finite ``out`` means every term was
    finite and ``out`` is what the plain loops compute. Reads the output: 1/3 of the
    input for the inception 1x1 forward, 48 KB instead of ``x`` and ``dy`` for its
    ``dw``. A non-finite ``out`` from finite inputs (an overflow) also falls back to the
    plain loops: the rare case pays twice."""
    return out if all_finite(out) else None


# ---- the fast path: layouts + blocked micro-kernels (same results to rounding) ----


def fast_forward(x, w, b, mask, sh, sw, top, bottom, left, right, save=False):
    """``y (N, F, H_out, W_out)`` from ``x (N, C, H, W)``, ``w (F, C, KH, KW)``, ``b (F,)``.

    ``y[n,f,i,j] = b[f] + sum_{c,u,v} mask[f,c] w[f,c,u,v] xp[n,c,i*sh+u,j*sw+v]``.
    ``save``: ``(y, saved)`` as in :func:`conv2d_forward`.
    None when ``x`` or ``w`` holds inf or NaN: these paths multiply padding, junk
    positions and disconnected weights by 0, and ``0 * inf`` is NaN (``direct.py`` visits
    none of them).
    """
    pads = (top, bottom, left, right)
    h, wd = x.shape[2:]
    kh, kw = w.shape[2:]
    full = _full_window(x.shape, w.shape, *pads)
    pointwise = _pointwise(kh, kw, sh, sw, *pads)
    geometry = phase_geometry(h, wd, kh, kw, sh, sw, *pads)
    ho, wo = geometry[:2]
    # small calls keep off the register tile (compile time, blocked.TILE_MIN_WORK); the
    # paths below give the forward the same bits. Not for dx and dw: those are training
    # calls, and dw's blocked dot products round differently from the tile's
    tiles = big_enough(x.shape[0] * w.size * ho * wo)  # multiply-adds of the call
    if (
        not (full or pointwise)
        and tiles
        and regtile.applies(w.shape[0], wo * x.shape[0], x.itemsize, sh, sw, kh, kw)
    ):
        return regtile.forward(x, w, b, mask, *pads, sh, save)  # checks while it copies
    y = _forward_off_tile(x, w, b, mask, sh, sw, top, left, full, pointwise, geometry)
    return (y, None) if save and y is not None else y


def _forward_off_tile(x, w, b, mask, sh, sw, top, left, full, pointwise, geometry):
    """:func:`fast_forward` on the paths other than the register tile."""
    if pointwise:  # checked after: see _finite_result
        return _finite_result(pointwise_forward(_every(x, sh, sw), w, b, mask))
    if not _finite(x, w):
        return None
    if full:
        return _forward_full_window(x, w, b, mask)
    if _lanes(x.shape[0], geometry[1], sh, sw):
        return _forward_lanes(x, w, b, mask, top, left, geometry)
    return _forward_planes(x, w, b, mask, sh, sw, top, left, geometry)


def fast_backward_input(dy, w, mask, in_h, in_w, sh, sw, top, bottom, left, right):
    """``dx (N, C, H, W)`` from ``dy (N, F, H_out, W_out)`` and ``w (F, C, KH, KW)``.

    ``dxp[n, c, i*sh + u, j*sw + v] += w[f, c, u, v] * dy[n, f, i, j]``, then the padding is
    cut. Computed as a stride-1 direct convolution of ``dy`` (zero-padded by
    ``ceil(K/s) - 1``) with the flipped kernels, one output map per (channel, stride phase).
    None when ``dy`` or ``w`` holds inf or NaN (see :func:`fast_forward`).
    """
    n_, _, ho, wo = dy.shape
    c_ = w.shape[1]
    kh, kw = w.shape[2:]
    pads = (top, bottom, left, right)
    full = _full_window((n_, c_, in_h, in_w), w.shape, *pads)
    pointwise = _pointwise(kh, kw, sh, sw, *pads)
    if not (full or pointwise):  # the tile's paths check while they copy
        if regtile.applies_dx(c_, in_w, n_, dy.itemsize, sh, sw, kh, kw, *pads):
            return regtile.backward_input(dy, w, mask, *pads)
        if _phases_on_tile(c_, n_, ho, wo, dy.itemsize, sh, sw, kh, kw):
            return _dx_phases(dy, w, mask, in_h, in_w, sh, top, left)
    if not _finite(dy, w):
        return None
    if full:
        return _dx_full_window(dy, w, mask, in_h, in_w)
    if pointwise:
        if sh == 1 and sw == 1:
            return pointwise_backward_input(dy, w, mask)
        dx = np.zeros((n_, c_, in_h, in_w), dtype=dy.dtype)  # unread pixels get no gradient
        dx[:, :, ::sh, ::sw] = pointwise_backward_input(dy, w, mask)
        return dx
    if _lanes(n_, in_w, sh, sw):
        if _scatter_dx(ho * wo, in_h * in_w, c_):
            return _dx_lanes_scatter(dy, w, mask, in_h, in_w, top, left)
        return _dx_lanes_correlate(dy, w, mask, in_h, in_w, top, left)
    return _dx_planes(dy, w, mask, in_h, in_w, sh, sw, top, bottom, left, right)


def fast_backward_weight(dy, x, mask, kh, kw, sh, sw, top, bottom, left, right, saved=None):
    """``dw (F, C, KH, KW)`` from ``dy (N, F, H_out, W_out)`` and ``x``.

    dw[f, c, u, v] = sum_{n, i, j} dy[n, f, i, j] * xp[n, c, i*sh + u, j*sw + v]; entries
    outside the connection table are 0. ``saved`` as in :func:`conv2d_backward_weight`.
    None when ``dy`` or ``x`` holds inf or NaN (see :func:`fast_forward`).
    """
    n_, c_, h, wd = x.shape
    f_ = dy.shape[1]
    pads = (top, bottom, left, right)
    full = _full_window(x.shape, (f_, c_, kh, kw), *pads)
    pointwise = _pointwise(kh, kw, sh, sw, *pads)
    if not (full or pointwise) and regtile.applies_dw(f_, c_, kh, kw, x.itemsize, sh, sw):
        # checks as it copies (x's numbers: the forward that saved them checked them)
        return regtile.backward_weight(dy, x, mask, kh, kw, *pads, sh, saved)
    if pointwise:  # checked after: see _finite_result
        return _finite_result(pointwise_backward_weight(dy, _every(x, sh, sw), mask))
    if not _finite(dy, x):
        return None
    if full:
        return _dw_full_window(dy, x, mask, kh, kw)
    geometry = phase_geometry(h, wd, kh, kw, sh, sw, *pads)
    if _lanes(n_, geometry[1], sh, sw):
        dwg = _dwg_lanes(dy, x, kh, kw, top, left, geometry)
    else:
        dwg = _dwg_planes(dy, x, kh, kw, sh, sw, top, left, geometry)
    return _unblock_dw(dwg, mask, kh, kw)


def _unblock_dw(dwg, mask, kh, kw):
    """Blocked rows ``dwg`` (filters rounded up, taps ``(c, u, v)`` rounded up) -> ``dw (F,
    C, KH, KW)``; 0 where the connection table has no ``(f, c)`` pair (``np.where`` copies
    the sums bit for bit)."""
    f_, c_ = mask.shape
    dw = dwg[:f_, : c_ * kh * kw].reshape(f_, c_, kh, kw)
    return np.where(mask[:, :, None, None] != 0, dw, dw.dtype.type(0))


# ---- forward, one function per path ----


def _weight_rows(w, mask):
    """``w`` as rows ``(F, C*KH*KW)`` with disconnected pairs 0 (:func:`masked_rows`); a
    view of ``w`` itself when every pair is connected (no copy)."""
    if mask.all():
        return w.reshape(w.shape[0], -1)
    return masked_rows(w, mask)


def _forward_full_window(x, w, b, mask):
    n_, c_, h, wd = x.shape
    wt = np.ascontiguousarray(_weight_rows(w, mask).T)
    y2 = full_window_forward(x.reshape(n_, c_ * h * wd), wt, b)
    return y2.reshape(n_, w.shape[0], 1, 1)


def _padded_bias(b, fb, dtype):
    bias = np.zeros(round_up(b.shape[0], fb), dtype=dtype)
    bias[: b.shape[0]] = b
    return bias


def _forward_lanes(x, w, b, mask, top, left, geometry):
    """One group per output row (or a few short ones), positions ``(j, n)``."""
    n_ = x.shape[0]
    ho, wo, _, _, hq, wq = geometry
    rows, _, slack = lane_rows(ho, wo, wq, n_)
    xt, _ = to_lanes(x, top, left, hq, wq, slack)  # checked before (_finite)
    yt = _conv_lanes(xt, n_, w, b, mask, geometry, rows)
    return lanes_to_rows(yt, w.shape[0], ho, wo, n_, rows, wq * n_)


def _conv_lanes(xt, n_, w, b, mask, geometry, rows, act=0):
    """The output of ``n_`` images in batch lanes (``yt (groups, F_pad, run)``,
    :func:`rows_to_lanes`'s layout) from their input already in them (``xt``,
    :func:`to_lanes`); ``act``: an activation applied as it is stored (``plane_conv``)."""
    f_, c_, kh, kw = w.shape
    ho, wo, _, _, hq, wq = geometry
    run = (rows - 1) * wq * n_ + wo * n_
    tiles = tiles_pay(n_ * w.size * ho * wo, run, xt.itemsize)
    fb, g = block_shape(f_, tiles)
    ng = -(-ho // rows)
    offs = forward_taps(c_, kh, kw, 1, 1, hq, wq, g) * n_
    wg = forward_weights(w, mask, offs.shape[0], fb)
    bias = _padded_bias(b, fb, xt.dtype)
    return plane_conv(xt, rows * wq * n_, ng, offs, wg, bias, run, act, tiles)


def _forward_planes(x, w, b, mask, sh, sw, top, left, geometry):
    """Each image's stride phases as flat planes at row pitch ``wq``; junk columns cut."""
    n_, c_ = x.shape[:2]
    f_, _, kh, kw = w.shape
    ho, wo, _, qw, hq, wq = geometry
    tiles = tiles_pay(n_ * w.size * ho * wo, ho * wq, x.itemsize)
    fb, g = block_shape(f_, tiles)
    xf = to_phase_planes(x, sh, sw, top, left, hq, wq, qw + 8)
    offs = forward_taps(c_, kh, kw, sh, sw, hq, wq, g)
    wg = forward_weights(w, mask, offs.shape[0], fb)
    bias = _padded_bias(b, fb, x.dtype)
    yf = plane_conv(xf.reshape(-1), xf.shape[1], n_, offs, wg, bias, ho * wq, 0, tiles)
    return crop_rows(yf, f_, ho, wo, wq)


# ---- dx, one function per path ----


def _dx_full_window(dy, w, mask, in_h, in_w):
    n_, f_ = dy.shape[:2]
    dx2 = full_window_dx(dy.reshape(n_, f_), _weight_rows(w, mask))
    return dx2.reshape(n_, w.shape[1], in_h, in_w)


def _dx_lanes_scatter(dy, w, mask, in_h, in_w, top, left):
    n_, f_ = dy.shape[:2]
    dyt = rows_to_lanes(dy, round_up(f_, 4), 1, 0)
    return _dx_scatter_from_lanes(dyt, n_, w, mask, in_h, in_w, top, left)


def _dx_scatter_from_lanes(dyt, n_, w, mask, in_h, in_w, top, left):
    """``dx`` from ``dy`` already in batch lanes, one row per group (``dyt (Ho, F4, Wo*N)``,
    maps rounded up to a multiple of 4): :func:`lanes_input_grad`, or the same sums in
    registers (``regtile_tiles.dx_tile_*``) when each column's images fill whole vectors."""
    c_ = w.shape[1]
    lanes_ = lanes(dyt.dtype)
    if lanes_ and n_ % lanes_ == 0:
        cb, tile = DX_TILE
        wx = lanes_dx_weights(w, mask, dyt.shape[1], cb)
        dxt = tile(dyt, wx, n_, in_h, in_w, top, left, lanes_)
    else:
        wx = lanes_dx_weights(w, mask, dyt.shape[1], 3)
        dxt = lanes_input_grad(dyt, wx, n_, in_h, in_w, top, left)
    return lanes_to_rows(dxt, c_, in_h, in_w, n_, 1, 0)


def _dx_lanes_correlate(dy, w, mask, in_h, in_w, top, left):
    """Correlate ``dy``, zero-padded by ``K-1-pad`` (negative: cropped), over ``dx``'s own
    rows and columns only (not the padding that would be cut afterwards)."""
    n_ = dy.shape[0]
    _, c_, kh, kw = w.shape
    hd = in_h + kh - 1
    wd = in_w + kw - 1
    rows, ng, slack = lane_rows(in_h, in_w, wd, n_)
    dyt, _ = to_lanes(dy, kh - 1 - top, kw - 1 - left, hd, wd, slack)  # checked before
    run = (rows - 1) * wd * n_ + in_w * n_
    tiles = tiles_pay(dy.size * c_ * kh * kw, run, dy.itemsize)
    offs, wg = dx_taps_and_weights(w, mask, 1, 1, kh, kw, hd, wd, tiles)
    bias = zeros_like_bias(wg)
    yt = plane_conv(dyt, rows * wd * n_, ng, offs * n_, wg, bias, run, 0, tiles)
    return lanes_to_rows(yt, c_, in_h, in_w, n_, rows, wd * n_)


def _dx_planes(dy, w, mask, in_h, in_w, sh, sw, top, bottom, left, right):
    """Phase planes of ``dxp``: a stride-1 correlation of the padded ``dy`` per phase."""
    n_ = dy.shape[0]
    _, c_, kh, kw = w.shape
    qh = (kh + sh - 1) // sh
    qw = (kw + sw - 1) // sw
    hx = (in_h + top + bottom + sh - 1) // sh  # rows of each phase plane of dxp
    wx = (in_w + left + right + sw - 1) // sw
    hd = hx + qh - 1  # padded dy plane: qh-1 zero rows on top
    wd = wx + qw - 1
    dyf = to_phase_planes(dy, 1, 1, qh - 1, qw - 1, hd, wd, qw + 8)
    tiles = tiles_pay(dy.size * c_ * kh * kw, hx * wd, dy.itemsize)
    offs, wg = dx_taps_and_weights(w, mask, sh, sw, qh, qw, hd, wd, tiles)
    yf = plane_conv(
        dyf.reshape(-1), dyf.shape[1], n_, offs, wg, zeros_like_bias(wg), hx * wd, 0, tiles
    )
    return scatter_phases(yf, c_, in_h, in_w, sh, sw, top, left, hx, wx, wd)


def _dx_phases(dy, w, mask, in_h, in_w, s, top, left):
    """``dx`` of a layer of stride ``s`` as ``s x s`` stride-1 problems, one per stride
    phase ``(a, b)`` of the padded input ``xp``. The rows ``xp[s*I + a]`` are read only by
    the taps ``u = a + s*t``, so that phase is the input of a stride-1 valid convolution
    with the kernel ``w[:, :, a::s, b::s]``:

        y[n, f, i, j] = ... + sum_{c,t,t'} w[f, c, a + s*t, b + s*t'] xq[n, c, i + t, j + t']
        with xq[n, c, I, J] = xp[n, c, s*I + a, s*J + b]

    and its ``dx`` (:func:`fast_backward_input` at stride 1: the register tile, or the
    matrix product for a 1x1 phase kernel) is ``dxp`` at those rows and columns. Every
    multiply-add is a useful one, as in the scatter; the phases then go to their places
    in ``dx`` (rows ``s*I + a - top``), and pixels no window reads keep 0. ResNet-18's
    3x3/2 layers at batch 8, 2 threads: 13.1 / 13.7 / 22.2 ms on the phase planes ->
    10.0 / 6.8 / 11.3 ms."""
    n_, _, ho, wo = dy.shape
    f_, c_, kh, kw = w.shape
    dx = np.zeros((n_, c_, in_h, in_w), dtype=dy.dtype)
    for a in range(s):
        r0 = (a - top) % s  # first row of dx in phase a
        qh = len(range(a, kh, s))
        i0 = (r0 + top - a) // s
        rows = min(len(range(r0, in_h, s)), ho + qh - 1 - i0)
        for b in range(s):
            c0 = (b - left) % s
            qw = len(range(b, kw, s))
            j0 = (c0 + left - b) // s
            cols = min(len(range(c0, in_w, s)), wo + qw - 1 - j0)
            if rows <= 0 or cols <= 0:
                continue
            wq = np.ascontiguousarray(w[:, :, a::s, b::s])
            dxq = fast_backward_input(dy, wq, mask, ho + qh - 1, wo + qw - 1, 1, 1, 0, 0, 0, 0)
            if dxq is None:  # inf or NaN in dy or w
                return None
            dx[:, :, r0 : r0 + s * rows : s, c0 : c0 + s * cols : s] = dxq[
                :, :, i0 : i0 + rows, j0 : j0 + cols
            ]
    return dx


# ---- dw, one function per path (blocked rows dwg (F2, R); fast_backward_weight unblocks) ----


def _dw_full_window(dy, x, mask, kh, kw):
    n_, c_, h, wd = x.shape
    f_ = dy.shape[1]
    dy2t = np.ascontiguousarray(dy.reshape(n_, f_).T)
    dw2 = full_window_dw(dy2t, x.reshape(n_, c_ * h * wd), mask_rows(mask, kh, kw))
    return dw2.reshape(f_, c_, kh, kw)


def _dwg_lanes(dy, x, kh, kw, top, left, geometry):
    n_, c_ = x.shape[:2]
    ho, wo, _, _, hq, wq = geometry
    rows, _, slack = lane_rows(ho, wo, wq, n_)
    xt, _ = to_lanes(x, top, left, hq, wq, slack)  # checked before (_finite)
    dyt = rows_to_lanes(dy, round_up(dy.shape[1], FBW), rows, wq * n_)
    return _dwg_from_lanes(dyt, xt, n_, c_, kh, kw, geometry, rows)


def _dwg_from_lanes(dyt, xt, n_, c_, kh, kw, geometry, rows):
    """Blocked ``dw`` rows from ``dy`` and ``x`` already in batch lanes (``dyt``:
    :func:`rows_to_lanes`'s layout, maps a multiple of ``FBW``; ``xt``: :func:`to_lanes`)."""
    wq = geometry[5]
    hq = geometry[4]
    offs = forward_taps(c_, kh, kw, 1, 1, hq, wq, GW) * n_
    return blocked_weight_grad(dyt, xt, rows * wq * n_, offs, dyt.shape[2])


def _dwg_planes(dy, x, kh, kw, sh, sw, top, left, geometry):
    c_ = x.shape[1]
    ho, _, _, qw, hq, wq = geometry
    xf = to_phase_planes(x, sh, sw, top, left, hq, wq, qw + 8)
    offs = forward_taps(c_, kh, kw, sh, sw, hq, wq, GW)
    dyf = flat_rows(dy, round_up(dy.shape[1], FBW), wq)
    return blocked_weight_grad(dyf, xf.reshape(-1), xf.shape[1], offs, ho * wq)
