"""Memory layouts of the fast direct convolution (see ``cnnsim.kernels.conv``).

Each function rearranges arrays once per call so that the hot loops of
:mod:`cnnsim.kernels.conv.blocked` see every kernel tap as a constant offset into one flat
array. Two layouts:

1. **Phase planes** (strided layers, single images). The zero-padded input
   ``xp (N, C, Hp, Wp)`` is rearranged into "phase planes": for stride ``(sh, sw)`` plane
   ``(c, a, b)`` holds ``xp[c, a::sh, b::sw]``. A strided convolution becomes a stride-1
   convolution over ``C*sh*sw`` planes with kernel ``ceil(KH/sh) x ceil(KW/sw)`` (for
   stride 1 the planes *are* ``xp``). Same number of elements as the input: a
   permutation, not a copy per tap. Each plane is stored flat with row pitch ``Wq``;
   output neuron ``(i, j)`` lives at flat position ``p = i*Wq + j`` and kernel tap
   ``(c, u, v)`` reads ``xf[p + off[c, u, v]]``. Columns ``wo <= j < Wq`` of the flat
   output are junk (they straddle two rows) and are dropped (:func:`crop_rows`).
2. **Batch lanes** (stride 1, a batch of images). Images become the innermost axis:
   ``xt[c, I, J, n]``. Tap (c, u, v) of output row i is then one contiguous stretch of
   ``wo*N`` numbers, so each output row is a group of ``P = wo*N`` positions with *no*
   junk columns (the image layout computes ``qw - 1`` junk columns per row: 29 % of
   LeNet-5 C3's work, 13 % of AlexNet C3's). The same hot loops run on it; only the
   offsets and the group stride differ.

Also here: the tap offsets and the blocked weight arrays that go with each layout, and
the sizes of each layout (:func:`phase_geometry`, :func:`lane_rows`: plain Python, used
by the paths of ``cnnsim.kernels.conv`` before any compiled code runs). Nothing in this
module multiplies; it only moves numbers.
"""

import numpy as np
from numba import njit, prange

from .._twins import parallel_kernel
from .blocked import block_shape
from .transposes import transpose_blocks

LANE_RUN = 192  # batch lanes: take output rows together until a run is this long


@njit(cache=True)
def round_up(a, m):
    return (a + m - 1) // m * m


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


@parallel_kernel()
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


@njit(cache=True)
def forward_taps(c_, kh, kw, sh, sw, hq, wq, multiple):
    """Offsets of the taps ``r = (c*KH + u)*KW + v`` in the phase layout, padded with 0s
    (which the zero weights make harmless) to a multiple of ``multiple``."""
    r_ = c_ * kh * kw
    offs = np.zeros(round_up(r_, multiple), dtype=np.int64)
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


@parallel_kernel()
def crop_rows(yf, f_, ho, wo, pitch):
    """``yf (N, F', ho*pitch)`` flat -> ``y (N, f_, ho, wo)`` (drop junk columns and maps)."""
    n_ = yf.shape[0]
    y = np.empty((n_, f_, ho, wo), dtype=yf.dtype)
    for nf in prange(n_ * f_):
        n = nf // f_
        f = nf % f_
        for i in range(ho):
            for j in range(wo):
                y[n, f, i, j] = yf[n, f, i * pitch + j]
    return y


@njit(cache=True)
def dx_taps_and_weights(w, mask, sh, sw, qh, qw, hd, wd, tiles):
    """Tap offsets and blocked weights of ``dx`` as a stride-1 convolution of ``dy``
    (blocks for the register tiles or the loops: ``tiles``, as in ``block_shape``).

    Output "map" ``co = (c*sh + a)*sw + b`` is input channel c at stride phase (a, b);
    tap ``r = (f*qh + q')*qw + t'`` reads the padded ``dy`` plane f shifted by (q', t')
    and carries ``w[f, c, a + sh*(qh-1-q'), b + sw*(qw-1-t')]`` (the flipped kernel; 0
    where that index falls outside the kernel).
    """
    f_, c_, kh, kw = w.shape
    co_ = c_ * sh * sw
    FB, G = block_shape(co_, tiles)
    r_ = f_ * qh * qw
    offs = np.zeros(round_up(r_, G), dtype=np.int64)
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


@njit(cache=True)
def zeros_like_bias(wg):
    """A zero bias for every map of the blocked weights ``wg (NB, R, FB)`` (``dx`` has none)."""
    return np.zeros(wg.shape[0] * wg.shape[2], dtype=wg.dtype)


@parallel_kernel()
def scatter_phases(yf, c_, in_h, in_w, sh, sw, top, left, hx, wx, pitch):
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


@parallel_kernel()
def flat_rows(dy, f_pad, pitch):
    """``dy (N, F, ho, wo)`` -> ``dyf (N, f_pad, ho*pitch)``: rows at pitch ``pitch``,
    junk columns and extra maps 0 (so they add nothing to a dot product)."""
    n_, f_, ho, wo = dy.shape
    dyf = np.zeros((n_, f_pad, ho * pitch), dtype=dy.dtype)
    for nf in prange(n_ * f_):
        n = nf // f_
        f = nf % f_
        for i in range(ho):
            for j in range(wo):
                dyf[n, f, i * pitch + j] = dy[n, f, i, j]
    return dyf


# ---- the batch-lane layout (stride 1, a batch of images) ----


def lane_rows(ho, wo, pitch, n_):
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


@njit(cache=True, fastmath={"reassoc"})
def finite(a):
    """No inf or NaN in ``a`` (1-D): ``v * 0`` is 0 for a finite ``v`` and NaN otherwise,
    and NaN stays NaN in a sum (the test of ``direct.all_finite``). The layout copies
    below run it on each piece they have just written, still in L1, so the check the
    fast kernels need (``kernels.conv``: inf/NaN inputs go to ``direct.py``) costs no
    pass of its own over the arrays (one was 17 ms of a ResNet-18 step)."""
    s = 0.0
    for k in range(a.shape[0]):
        s += a[k] * 0
    return s == 0


@parallel_kernel()
def to_lanes(x, top, left, hp, wp, slack):
    """``(xt, ok)``: ``x (N, C, H, W)`` -> ``xt (C*hp*wp*N + slack,)`` flat,
    ``xt[((c*hp + I)*wp + J)*N + n] = x[n, c, I - top, J - left]`` (0 outside ``x``;
    ``top``/``left`` may be negative, which crops). ``slack`` trailing zeros let the last
    group's junk positions read past the last plane. ``ok``: every number copied is
    finite (:func:`finite`)."""
    n_, c_, h, w = x.shape
    body = c_ * hp * wp * n_
    xt = np.empty(body + slack, dtype=x.dtype)  # every element written once below
    xt[body:] = 0
    j0 = max(0, left)  # columns of the row that hold x: jj in [j0, j1)
    j1 = min(wp, w + left)
    bad = np.zeros(c_ * hp, dtype=np.uint8)
    for ci in prange(c_ * hp):
        c = ci // hp
        r = ci % hp - top
        dst = xt[ci * wp * n_ : (ci + 1) * wp * n_]
        if r < 0 or r >= h or j0 >= j1:
            dst[:] = 0
            continue
        dst[: j0 * n_] = 0
        dst[j1 * n_ :] = 0
        _transpose_in(x, c, r, j0 - left, 1, j1 - j0, dst, j0 * n_)
        bad[ci] = not finite(dst)
    return xt, not bad.any()


@njit(cache=True)
def _transpose_in(src, f, i, j0, step, count, dst, off):
    """``dst[off + j*N + n] = src[n, f, i, j0 + j*step]`` for ``j < count``: one row of every
    image (every ``step``-th column) into batch lanes. At step 1 an ``N x count``
    transposition in register blocks (:func:`.transposes.transpose_blocks`); else, or
    with fewer than 4 images or columns, eight images at a time, so each ``j`` stores
    eight adjacent numbers (one vector store; 1.5-2.5x faster than image by image)."""
    n_ = src.shape[0]
    e = src.itemsize
    if step == 1 and src.strides[3] == e and dst.strides[0] == e:
        s0 = (f * src.strides[1] + i * src.strides[2]) // e + j0
        if transpose_blocks(src, s0, src.strides[0] // e, dst, off, n_, n_, count):
            return
    n0 = 0
    while n0 + 8 <= n_:
        for j in range(count):
            o = off + j * n_ + n0
            for k in range(8):
                dst[o + k] = src[n0 + k, f, i, j0 + j * step]
        n0 += 8
    for n in range(n0, n_):
        for j in range(count):
            dst[off + j * n_ + n] = src[n, f, i, j0 + j * step]


@parallel_kernel()
def to_phase_lanes(x, sh, sw, top, left, hq, wq, slack):
    """``x (N, C, H, W)`` -> ``xt (C*sh*sw*hq*wq*N + slack,)``: the stride phases of the
    zero-padded ``x`` (as :func:`to_phase_planes`) in batch lanes (as :func:`to_lanes`),
    ``xt[((((c*sh + a)*sw + b)*hq + I)*wq + J)*N + n] = x[n, c, I*sh + a - top, J*sw + b -
    left]`` (0 outside ``x``). A strided layer's tap ``(u, v)`` of output ``(i, j)`` is then
    phase ``(u % sh, v % sw)`` at ``(i + u // sh, j + v // sw)``: a constant offset, as in
    a stride-1 layer (the register tile runs strided layers on it). Returns ``(xt, ok)``,
    ``ok`` as in :func:`to_lanes`."""
    n_, c_, h, w = x.shape
    body = c_ * sh * sw * hq * wq * n_
    xt = np.empty(body + slack, dtype=x.dtype)  # every element written once below
    xt[body:] = 0
    bad = np.zeros(c_ * sh * sw * hq, dtype=np.uint8)
    for t in prange(c_ * sh * sw * hq):
        i = t % hq
        ph = t // hq
        b = ph % sw
        a = (ph // sw) % sh
        c = ph // (sh * sw)
        r = i * sh + a - top
        dst = xt[t * wq * n_ : (t + 1) * wq * n_]
        # columns J with 0 <= J*sw + b - left < w: J in [j0, j1)
        j0 = max(0, -((b - left) // sw))
        j1 = min(wq, (w - 1 + left - b) // sw + 1)
        if r < 0 or r >= h or j0 >= j1:
            dst[:] = 0
            continue
        dst[: j0 * n_] = 0
        dst[j1 * n_ :] = 0
        _transpose_in(x, c, r, j0 * sw + b - left, sw, j1 - j0, dst, j0 * n_)
        bad[t] = not finite(dst)
    return xt, not bad.any()


@njit(cache=True)
def _transpose_out(src, off, count, dst, f, i):
    """The inverse of :func:`_transpose_in`: ``dst[n, f, i, j] = src[off + j*N + n]``, in
    register blocks where it can."""
    n_ = dst.shape[0]
    e = dst.itemsize
    if dst.strides[3] == e and src.strides[0] == e:
        d0 = (f * dst.strides[1] + i * dst.strides[2]) // e
        if transpose_blocks(src, off, n_, dst, d0, dst.strides[0] // e, count, n_):
            return
    n0 = 0
    while n0 + 8 <= n_:
        for j in range(count):
            o = off + j * n_ + n0
            for k in range(8):
                dst[n0 + k, f, i, j] = src[o + k]
        n0 += 8
    for n in range(n0, n_):
        for j in range(count):
            dst[n, f, i, j] = src[off + j * n_ + n]


@parallel_kernel()
def rows_to_lanes(dy, f_pad, rows, pitch):
    """``dy (N, F, ho, wo)`` -> ``dyt (ceil(ho/rows), f_pad, (rows-1)*pitch + wo*N)``, the
    layout of :func:`plane_conv`'s output in lanes: output row ``i`` is group
    ``i // rows`` at offset ``(i % rows) * pitch``, ``dyt[g, f, off + j*N + n] = dy[n, f, i,
    j]``; junk positions between rows and extra maps are 0."""
    n_, f_, ho, wo = dy.shape
    ng = (ho + rows - 1) // rows
    run = (rows - 1) * pitch + wo * n_
    dyt = np.empty((ng, f_pad, run), dtype=dy.dtype)  # every element written once below
    for t in prange(ng * f_pad):
        g = t // f_pad
        f = t % f_pad
        dst = dyt[g, f]
        if f >= f_:
            dst[:] = 0
            continue
        for r in range(rows):
            i = g * rows + r
            off = r * pitch
            if i >= ho:  # past the last row: junk
                dst[off:] = 0
                break
            if r + 1 < rows:  # junk between this row and the next
                dst[off + wo * n_ : off + pitch] = 0
            _transpose_in(dy, f, i, 0, 1, wo, dst, off)
    return dyt


@parallel_kernel()
def lanes_to_rows(yt, f_, ho, wo, n_, rows, pitch):
    """``yt`` in the layout of :func:`rows_to_lanes` -> ``y (N, f_, ho, wo)`` (junk
    positions and maps beyond ``f_`` dropped)."""
    y = np.empty((n_, f_, ho, wo), dtype=yt.dtype)
    for fi in prange(f_ * ho):
        f = fi // ho
        i = fi % ho
        _transpose_out(yt[i // rows, f], (i % rows) * pitch, wo, y, f, i)
    return y


@njit(cache=True)
def lanes_dx_weights(w, mask, f4, cb):
    """``w (F, C, KH, KW)`` -> ``wx (ceil(C/cb), KH, KW, f4, cb)``, the weights of ``cb``
    input maps per block, for :func:`~cnnsim.kernels.blocked.lanes_input_grad` (``cb =
    3``) and its register tiles (``regtile_tiles.dx_tile_*``); disconnected pairs and the
    padding maps 0."""
    f_, c_, kh, kw = w.shape
    wx = np.zeros(((c_ + cb - 1) // cb, kh, kw, f4, cb), dtype=w.dtype)
    for f in range(f_):
        for c in range(c_):
            if mask[f, c] != 0:
                for u in range(kh):
                    for v in range(kw):
                        wx[c // cb, u, v, f, c % cb] = w[f, c, u, v]
    return wx


@njit(cache=True)
def masked_rows(w, mask):
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


@njit(cache=True)
def mask_rows(mask, kh, kw):
    """``mask (F, C)`` -> ``(F, C*KH*KW)``: the table repeated over each kernel window."""
    f_, c_ = mask.shape
    m = np.empty((f_, c_ * kh * kw), dtype=np.uint8)
    for f in range(f_):
        for c in range(c_):
            m[f, c * kh * kw : (c + 1) * kh * kw] = mask[f, c]
    return m
