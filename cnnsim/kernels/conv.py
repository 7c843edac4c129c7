"""Direct 2-D convolution (cross-correlation, as every CNN library computes it).

Arrays in, arrays out; no validation (``cnnsim.functional.conv`` validates once).

Shapes: ``x (N, C, H, W)``, ``w (F, C, KH, KW)``, ``b (F,)``, ``y (N, F, H_out, W_out)``;
``mask (F, C)`` uint8 connection table (1 = filter f reads map c).

    y[n, f, i, j] = b[f] + sum_{c: mask[f,c]} sum_{u<KH, v<KW}
                    w[f, c, u, v] * xp[n, c, i*sh + u, j*sw + v]

where ``xp`` is ``x`` zero-padded by ``(top, bottom, left, right)``.

How it is fast while staying *direct* (no im2col matrix): the input is laid out once per
call so that every kernel tap becomes a constant offset into one flat array, and the hot
loop (:func:`cnnsim.kernels.conv_blocked.plane_conv`) updates a block of 5 output maps
from 3 taps per pass over contiguous positions (3 maps x 4 taps for layers with few maps),
so each loaded input feeds several multiply-adds from registers. Two layouts:

* **batch lanes** (stride 1, ``N * W_out >= LANES_MIN``: training batches): the images are
  the innermost axis, ``xt[c, I, J, n]``; one output row of the whole batch is one
  contiguous run of ``W_out * N`` positions, with nothing wasted (short rows are taken a
  few at a time, with a little junk between them: ``_lane_rows``);
* **phase planes** (strided layers, single images): each image's zero-padded planes are
  split into their stride phases (stride folded away) and stored flat at a fixed row
  pitch; the few "junk" columns between rows are computed and dropped.

The two backward passes reuse the same machinery:

* ``dx`` is a stride-1 direct convolution of the zero-padded ``dy`` with the flipped
  kernels (in phase planes: one output "map" per input channel and stride phase), or, in
  batch lanes where the padding would waste much of that work, a scatter of each ``dy``
  row into the input rows it came from
  (:func:`~cnnsim.kernels.conv_blocked.lanes_input_grad`: only the useful multiply-adds;
  ``_scatter_dx`` decides);
* ``dw[f, c, u, v] = sum_{n,i,j} dy[n, f, i, j] xp[n, c, i*sh+u, j*sw+v]`` is a blocked
  set of dot products (2 filters x 4 taps per work item) over either layout.

Which layout and block a call uses depends on the shapes only, never on the thread count
or the machine load. Every output element is written by exactly one thread and summed in
a fixed order, so results do not depend on the thread count (determinism is a contract).
Masked-off (filter, channel) pairs get weight 0 in the blocked layout, and junk positions
meet real inputs with a zero ``dy`` in the weight gradient (so an infinite or NaN input
could still reach a NaN there; inputs are finite in use, and training stops at the first
non-finite value anyway).
"""
import numpy as np
from numba import njit, prange

from .conv_blocked import (FBW, GW, WIDE_MIN_MAPS, block_shape, blocked_weight_grad,
                           lanes_input_grad, lanes_to_rows, phase_geometry, plane_conv,
                           rows_to_lanes, to_lanes, to_phase_planes)

LANES_MIN = 64      # batch-lane layout when stride is 1 and N * W_out >= this (8 AVX2 vectors)
LANE_RUN = 192     # batch lanes: take output rows together until a run is this long
NARROW_COST = 1.15  # time per multiply-add of the 3-map block relative to the 5-map one


@njit(cache=True)
def pad_nchw(x, top, bottom, left, right):
    """Zero-pad the two spatial axes of ``x (N, C, H, W)``."""
    n, c, h, w = x.shape
    if top == 0 and bottom == 0 and left == 0 and right == 0:
        return x
    xp = np.zeros((n, c, h + top + bottom, w + left + right), dtype=x.dtype)
    xp[:, :, top:top + h, left:left + w] = x
    return xp


@njit(cache=True)
def _round_up(a, m):
    return (a + m - 1) // m * m


@njit(cache=True)
def forward_taps(c_, kh, kw, sh, sw, hq, wq, multiple):
    """Offsets of the taps ``r = (c*KH + u)*KW + v`` in the phase layout, padded with 0s
    (which the zero weights make harmless) to a multiple of ``multiple``."""
    r_ = c_ * kh * kw
    offs = np.zeros(_round_up(r_, multiple), dtype=np.int64)
    plane = hq * wq
    for c in range(c_):
        for u in range(kh):
            for v in range(kw):
                ph = (c * sh + u % sh) * sw + v % sw
                offs[(c * kh + u) * kw + v] = ph * plane + (u // sh) * wq + v // sw
    return offs


@njit(cache=True)
def forward_weights(w, mask, r_pad, FB):
    """``w (F, C, KH, KW)`` -> ``wg (ceil(F/FB), r_pad, FB)``: taps in the order of
    :func:`forward_taps`, FB consecutive filters contiguous, disconnected pairs 0."""
    f_, c_, kh, kw = w.shape
    nb = (f_ + FB - 1) // FB
    wg = np.zeros((nb, r_pad, FB), dtype=w.dtype)
    for f in range(f_):
        for c in range(c_):
            if mask[f, c] == 0:
                continue
            for u in range(kh):
                for v in range(kw):
                    wg[f // FB, (c * kh + u) * kw + v, f % FB] = w[f, c, u, v]
    return wg


@njit(cache=True)
def _lanes(n_, wo, sh, sw):
    """Use the batch-lane layout (``conv_blocked.to_lanes``): stride 1 and enough images
    times output columns to fill the vector loop. Depends on the shapes only, so a given
    call always takes the same path (determinism)."""
    return sh == 1 and sw == 1 and n_ >= 2 and n_ * wo >= LANES_MIN


# ---- full-window layers (LeNet-5's C5: the kernel covers the whole input, output 1x1) ----
# Then y[n, f] = b[f] + sum_d x[n, d] wm[f, d] over the flattened window d = (c, u, v): the
# definition itself, read straight from x (no copy). The phase-plane machinery would compute
# one useful position per plane plus junk, so these loops run over contiguous rows instead,
# vectorised over outputs (lanes = different outputs, every sum in increasing order).

@njit(cache=True)
def _full_window(x_shape, w_shape, top, bottom, left, right):
    return (top == 0 and bottom == 0 and left == 0 and right == 0
            and x_shape[2] == w_shape[2] and x_shape[3] == w_shape[3])


@njit(cache=True)
def _masked_rows(w, mask):
    """``w (F, C, KH, KW)`` -> ``(F, C*KH*KW)`` with disconnected (f, c) pairs zeroed."""
    f_, c_, kh, kw = w.shape
    wm = np.empty((f_, c_ * kh * kw), dtype=w.dtype)
    for f in range(f_):
        for c in range(c_):
            keep = mask[f, c] != 0
            for u in range(kh):
                for v in range(kw):
                    wm[f, (c * kh + u) * kw + v] = w[f, c, u, v] if keep else 0.0
    return wm


@njit(cache=True, parallel=True)
def _full_window_forward(x2, wt, b):
    """``y (N, F) = b + x2 (N, D) @ wt (D, F)``; one image per iteration, sum over d in order."""
    n_, d_ = x2.shape
    f_ = wt.shape[1]
    y = np.empty((n_, f_), dtype=x2.dtype)
    for n in prange(n_):
        acc = y[n]
        acc[:] = b
        for d in range(d_):
            xv = x2[n, d]
            row = wt[d]
            for f in range(f_):
                acc[f] += xv * row[f]
    return y


@njit(cache=True, parallel=True)
def _full_window_dx(dy2, wm):
    """``dx (N, D) = dy2 (N, F) @ wm (F, D)``; one image per iteration, sum over f in order."""
    n_, f_ = dy2.shape
    d_ = wm.shape[1]
    dx = np.zeros((n_, d_), dtype=dy2.dtype)
    for n in prange(n_):
        acc = dx[n]
        for f in range(f_):
            g = dy2[n, f]
            row = wm[f]
            for d in range(d_):
                acc[d] += g * row[d]
    return dx


@njit(cache=True, parallel=True)
def _full_window_dw(dy2, x2, mask_rows):
    """``dw (F, D) = dy2.T @ x2`` (sum over n in order), ``db[f] = sum_n dy2[n, f]``;
    one filter per iteration; rows outside the connection table stay 0."""
    n_, f_ = dy2.shape
    d_ = x2.shape[1]
    dw = np.zeros((f_, d_), dtype=dy2.dtype)
    db = np.zeros(f_, dtype=dy2.dtype)
    for f in prange(f_):
        acc = dw[f]
        s = 0.0
        for n in range(n_):
            g = dy2[n, f]
            s += g
            row = x2[n]
            for d in range(d_):
                acc[d] += g * row[d]
        db[f] = s
        keep = mask_rows[f]
        for d in range(d_):
            if keep[d] == 0:
                acc[d] = 0.0
    return dw, db


@njit(cache=True)
def _mask_rows(mask, kh, kw):
    """``mask (F, C)`` -> ``(F, C*KH*KW)``: the table repeated over each kernel window."""
    f_, c_ = mask.shape
    m = np.empty((f_, c_ * kh * kw), dtype=np.uint8)
    for f in range(f_):
        for c in range(c_):
            m[f, c * kh * kw:(c + 1) * kh * kw] = mask[f, c]
    return m


@njit(cache=True, parallel=True)
def _crop_rows(yf, f_, ho, wo, pitch):
    """``yf (N, F', ho*pitch)`` flat -> ``y (N, f_, ho, wo)`` (drop junk columns and maps)."""
    n_ = yf.shape[0]
    y = np.empty((n_, f_, ho, wo), dtype=yf.dtype)
    for nf in prange(n_ * f_):
        n = nf // f_
        f = nf % f_
        for i in range(ho):
            y[n, f, i, :] = yf[n, f, i * pitch:i * pitch + wo]
    return y


@njit(cache=True)
def conv2d_forward(x, w, b, mask, sh, sw, top, bottom, left, right):
    """``y (N, F, H_out, W_out)`` from ``x (N, C, H, W)``, ``w (F, C, KH, KW)``, ``b (F,)``.

    ``y[n,f,i,j] = b[f] + sum_{c,u,v} mask[f,c] w[f,c,u,v] xp[n,c,i*sh+u,j*sw+v]``.
    """
    n_, c_, h, wd = x.shape
    f_, _, kh, kw = w.shape
    if _full_window(x.shape, w.shape, top, bottom, left, right):
        wt = np.ascontiguousarray(_masked_rows(w, mask).T)
        y2 = _full_window_forward(x.reshape(n_, c_ * h * wd), wt, b)
        return y2.reshape(n_, f_, 1, 1)
    ho, wo, qh, qw, hq, wq = phase_geometry(h, wd, kh, kw, sh, sw, top, bottom, left, right)
    fb, g = block_shape(f_)
    bias = np.zeros(_round_up(f_, fb), dtype=x.dtype)
    bias[:f_] = b
    if _lanes(n_, wo, sh, sw):
        # one group per output row (or a few short ones), positions (j, n)
        rows, ng, slack = _lane_rows(ho, wo, wq, n_)
        xt = to_lanes(x, top, left, hq, wq, slack)
        offs = forward_taps(c_, kh, kw, 1, 1, hq, wq, g) * n_
        wg = forward_weights(w, mask, offs.shape[0], fb)
        yt = plane_conv(xt, rows * wq * n_, ng, offs, wg, bias, (rows - 1) * wq * n_ + wo * n_)
        return lanes_to_rows(yt, f_, ho, wo, n_, rows, wq * n_)
    xf = to_phase_planes(x, sh, sw, top, left, hq, wq, qw + 8)
    offs = forward_taps(c_, kh, kw, sh, sw, hq, wq, g)
    wg = forward_weights(w, mask, offs.shape[0], fb)
    yf = plane_conv(xf.reshape(-1), xf.shape[1], n_, offs, wg, bias, ho * wq)
    return _crop_rows(yf, f_, ho, wo, wq)


@njit(cache=True)
def _dx_taps_and_weights(w, mask, sh, sw, qh, qw, hd, wd):
    """Tap offsets and blocked weights of ``dx`` as a stride-1 convolution of ``dy``.

    Output "map" ``co = (c*sh + a)*sw + b`` is input channel c at stride phase (a, b);
    tap ``r = (f*qh + q')*qw + t'`` reads the padded ``dy`` plane f shifted by (q', t')
    and carries ``w[f, c, a + sh*(qh-1-q'), b + sw*(qw-1-t')]`` (the flipped kernel; 0
    where that index falls outside the kernel).
    """
    f_, c_, kh, kw = w.shape
    co_ = c_ * sh * sw
    FB, G = block_shape(co_)
    r_ = f_ * qh * qw
    offs = np.zeros(_round_up(r_, G), dtype=np.int64)
    for f in range(f_):
        for q in range(qh):
            for t in range(qw):
                offs[(f * qh + q) * qw + t] = f * hd * wd + q * wd + t
    nb = (co_ + FB - 1) // FB
    wg = np.zeros((nb, offs.shape[0], FB), dtype=w.dtype)
    for c in range(c_):
        for a in range(sh):
            for b in range(sw):
                co = (c * sh + a) * sw + b
                for f in range(f_):
                    if mask[f, c] == 0:
                        continue
                    for q in range(qh):
                        u = a + sh * (qh - 1 - q)
                        if u >= kh:
                            continue
                        for t in range(qw):
                            v = b + sw * (qw - 1 - t)
                            if v < kw:
                                wg[co // FB, (f * qh + q) * qw + t, co % FB] = w[f, c, u, v]
    return offs, wg


@njit(cache=True, parallel=True)
def _scatter_phases(yf, c_, in_h, in_w, sh, sw, top, left, hx, wx, pitch):
    """Phase planes of ``dxp`` (flat, row pitch ``pitch``) -> ``dx (N, C, H, W)``, cutting
    the padding: ``dx[n, c, I*sh + a - top, J*sw + b - left] = yf[n, co, I*pitch + J]``."""
    n_ = yf.shape[0]
    dx = np.empty((n_, c_, in_h, in_w), dtype=yf.dtype)
    for nc in prange(n_ * c_):
        n = nc // c_
        c = nc % c_
        for a in range(sh):
            for b in range(sw):
                src = yf[n, (c * sh + a) * sw + b]
                for i in range(hx):
                    r = i * sh + a - top
                    if r < 0 or r >= in_h:
                        continue
                    for j in range(wx):
                        s = j * sw + b - left
                        if 0 <= s < in_w:
                            dx[n, c, r, s] = src[i * pitch + j]
    return dx


@njit(cache=True)
def _lane_rows(ho, wo, pitch, n_):
    """``(rows, groups, slack)``: output rows per group of the batch-lane hot loop. One
    row is ``wo*N`` positions; when that is short (AlexNet C5 at batch 8: 104), the loop's
    fixed cost per pass (weights, offsets) dominates, so consecutive rows are taken
    together as one run at the row pitch, with ``(pitch - wo)*N`` junk positions between
    them (16 of 224 for C5). ``slack`` zeros let the last group read past the input."""
    rows = 1
    while rows < ho and ((rows - 1) * pitch + wo) * n_ < LANE_RUN:
        rows += 1
    ng = (ho + rows - 1) // rows
    return rows, ng, (ng * rows - ho) * pitch * n_


@njit(cache=True)
def _scatter_dx(dy_positions, dx_positions, c_):
    """Batch-lane ``dx``: scatter the ``dy`` rows (useful multiply-adds only, 3-map blocks)
    rather than correlate the zero-padded ``dy`` (every ``dx`` position times every tap,
    in 5-map blocks when there are enough maps)? Whichever does less work, counting the
    3-map block as ``NARROW_COST`` times slower per multiply-add (measured). Scatter wins
    where the padding is large (LeNet-5 C3: 100 dy vs 196 dx positions per map, 2x);
    "same" layers (AlexNet C3/C5, ResNet) correlate, 7-15 % faster there."""
    corr = dx_positions * (1.0 if c_ >= WIDE_MIN_MAPS else NARROW_COST)
    return dy_positions * NARROW_COST < corr


@njit(cache=True)
def _lanes_dx_weights(w, mask, f4):
    """``w (F, C, KH, KW)`` -> ``wx (ceil(C/3), KH, KW, f4, 3)`` for
    :func:`~cnnsim.kernels.conv_blocked.lanes_input_grad`; disconnected pairs and the
    padding maps 0."""
    f_, c_, kh, kw = w.shape
    wx = np.zeros(((c_ + 2) // 3, kh, kw, f4, 3), dtype=w.dtype)
    for f in range(f_):
        for c in range(c_):
            if mask[f, c] != 0:
                for u in range(kh):
                    for v in range(kw):
                        wx[c // 3, u, v, f, c % 3] = w[f, c, u, v]
    return wx


@njit(cache=True)
def _zeros_like_bias(wg):
    """A zero bias for every map of the blocked weights ``wg (NB, R, FB)`` (``dx`` has none)."""
    return np.zeros(wg.shape[0] * wg.shape[2], dtype=wg.dtype)


@njit(cache=True)
def conv2d_backward_input(dy, w, mask, in_h, in_w, sh, sw, top, bottom, left, right):
    """``dx (N, C, H, W)`` from ``dy (N, F, H_out, W_out)`` and ``w (F, C, KH, KW)``.

    ``dxp[n, c, i*sh + u, j*sw + v] += w[f, c, u, v] * dy[n, f, i, j]``, then the padding is
    cut. Computed as a stride-1 direct convolution of ``dy`` (zero-padded by
    ``ceil(K/s) - 1``) with the flipped kernels, one output map per (channel, stride phase).
    """
    n_, f_, ho, wo = dy.shape
    _, c_, kh, kw = w.shape
    if _full_window((n_, c_, in_h, in_w), w.shape, top, bottom, left, right):
        dx2 = _full_window_dx(dy.reshape(n_, f_), _masked_rows(w, mask))
        return dx2.reshape(n_, c_, in_h, in_w)
    if _lanes(n_, in_w, sh, sw):
        if _scatter_dx(ho * wo, in_h * in_w, c_):
            dyt = rows_to_lanes(dy, _round_up(f_, 4), 1, 0)
            dxt = lanes_input_grad(dyt, _lanes_dx_weights(w, mask, dyt.shape[1]), n_,
                                   in_h, in_w, top, left)
            return lanes_to_rows(dxt, c_, in_h, in_w, n_, 1, 0)
        # correlate dy, zero-padded by K-1-pad (negative: cropped), over dx's own rows
        # and columns only (not the padding that would be cut afterwards)
        hd = in_h + kh - 1
        wd = in_w + kw - 1
        rows, ng, slack = _lane_rows(in_h, in_w, wd, n_)
        dyt = to_lanes(dy, kh - 1 - top, kw - 1 - left, hd, wd, slack)
        offs, wg = _dx_taps_and_weights(w, mask, 1, 1, kh, kw, hd, wd)
        yt = plane_conv(dyt, rows * wd * n_, ng, offs * n_, wg, _zeros_like_bias(wg),
                        (rows - 1) * wd * n_ + in_w * n_)
        return lanes_to_rows(yt, c_, in_h, in_w, n_, rows, wd * n_)
    hp = in_h + top + bottom
    wp = in_w + left + right
    qh = (kh + sh - 1) // sh
    qw = (kw + sw - 1) // sw
    hx = (hp + sh - 1) // sh           # rows of each phase plane of dxp
    wx = (wp + sw - 1) // sw
    hd = hx + qh - 1                   # padded dy plane: qh-1 zero rows on top
    wd = wx + qw - 1
    dyf = to_phase_planes(dy, 1, 1, qh - 1, qw - 1, hd, wd, qw + 8)
    offs, wg = _dx_taps_and_weights(w, mask, sh, sw, qh, qw, hd, wd)
    yf = plane_conv(dyf.reshape(-1), dyf.shape[1], n_, offs, wg, _zeros_like_bias(wg), hx * wd)
    return _scatter_phases(yf, c_, in_h, in_w, sh, sw, top, left, hx, wx, wd)


@njit(cache=True, parallel=True)
def _flat_rows(dy, f_pad, pitch):
    """``dy (N, F, ho, wo)`` -> ``dyf (N, f_pad, ho*pitch)``: rows at pitch ``pitch``,
    junk columns and extra maps 0 (so they add nothing to a dot product)."""
    n_, f_, ho, wo = dy.shape
    dyf = np.zeros((n_, f_pad, ho * pitch), dtype=dy.dtype)
    for nf in prange(n_ * f_):
        n = nf // f_
        f = nf % f_
        for i in range(ho):
            dyf[n, f, i * pitch:i * pitch + wo] = dy[n, f, i, :]
    return dyf


@njit(cache=True)
def conv2d_backward_weight(dy, x, mask, kh, kw, sh, sw, top, bottom, left, right):
    """``dw (F, C, KH, KW)`` and ``db (F,)`` from ``dy (N, F, H_out, W_out)`` and ``x``.

    dw[f, c, u, v] = sum_{n, i, j} dy[n, f, i, j] * xp[n, c, i*sh + u, j*sw + v];
    db[f] = sum_{n, i, j} dy[n, f, i, j]. Entries outside the connection table are 0.
    """
    n_, c_, h, wd = x.shape
    f_ = dy.shape[1]
    if _full_window(x.shape, (f_, c_, kh, kw), top, bottom, left, right):
        dw2, db = _full_window_dw(dy.reshape(n_, f_), x.reshape(n_, c_ * h * wd),
                                  _mask_rows(mask, kh, kw))
        return dw2.reshape(f_, c_, kh, kw), db
    ho, wo, qh, qw, hq, wq = phase_geometry(h, wd, kh, kw, sh, sw, top, bottom, left, right)
    if _lanes(n_, wo, sh, sw):
        rows, ng, slack = _lane_rows(ho, wo, wq, n_)
        xt = to_lanes(x, top, left, hq, wq, slack)
        offs = forward_taps(c_, kh, kw, 1, 1, hq, wq, GW) * n_
        dyt = rows_to_lanes(dy, _round_up(f_, FBW), rows, wq * n_)
        dwg = blocked_weight_grad(dyt, xt, rows * wq * n_, offs, dyt.shape[2])
    else:
        xf = to_phase_planes(x, sh, sw, top, left, hq, wq, qw + 8)
        offs = forward_taps(c_, kh, kw, sh, sw, hq, wq, GW)
        dyf = _flat_rows(dy, _round_up(f_, FBW), wq)
        dwg = blocked_weight_grad(dyf, xf.reshape(-1), xf.shape[1], offs, ho * wq)
    dw = np.zeros((f_, c_, kh, kw), dtype=dy.dtype)
    for f in range(f_):
        for c in range(c_):
            if mask[f, c] == 0:
                continue
            for u in range(kh):
                for v in range(kw):
                    dw[f, c, u, v] = dwg[f, (c * kh + u) * kw + v]
    db = _bias_grad(dy)
    return dw, db


@njit(cache=True, parallel=True)
def _bias_grad(dy):
    """``db[f] = sum_{n,i,j} dy[n, f, i, j]``, one thread per f, fixed order."""
    n_, f_, ho, wo = dy.shape
    db = np.zeros(f_, dtype=dy.dtype)
    for f in prange(f_):
        s = 0.0
        for n in range(n_):
            for i in range(ho):
                for j in range(wo):
                    s += dy[n, f, i, j]
        db[f] = s
    return db
