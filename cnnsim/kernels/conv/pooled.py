"""A convolution, its activation and a 2x2/2 average pooling as one pass over the batch
lanes (LeNet-5's C1 -> S2 and C3 -> S4): the fused ends of the batch-lane path of
:mod:`cnnsim.kernels.conv`.

Unfused, a training step walks each full-size map five times after the convolution: the
output back from batch lanes to ``(N, F, H, W)``, the activation, the pooling; then the
pooling's backward, the activation's backward, the bias sum and ``dy`` into batch lanes
again (LeNet-5 at batch 64: 1.2 MB a pass, about 0.1 ms each). Here

* the convolution applies the activation as it stores its output in batch lanes
  (``blocked.plane_conv(..., act)``), and :func:`lanes_to_rows_pool` writes the activated
  map ``y (N, F, H, W)`` and its pooling ``p (N, F, H//2, W//2)`` in one pass;
* :func:`pool_act_grad_lanes` takes the pooled map's gradient ``dp`` and ``y``, and
  writes ``dz`` (the gradient at the convolution's output, before the activation)
  straight into the batch lanes the weight and input gradients read, with the bias
  gradient and the inf/NaN check on the way.

**Same numbers as the layers one by one**, bit for bit: every element is computed by the
same expression as in the unfused kernels (the activations of
:mod:`cnnsim.kernels.activations`: :func:`act_value`, :func:`act_grad`; the pooling's
float64 sum of the four cells in row-major order, divided by 4; ``dp / 4`` rounded to the
map's dtype, as the pooling's backward stores it), and the bias gradient is summed as
:func:`direct.bias_grad <.direct.bias_grad>` sums it (each image's map row by row in
float64, then the images in order; tests/test_fused.py compares the two paths).

Layout (``rows = 1`` of :func:`~.layouts.lane_rows`): ``yt[i, f, j*N + n]`` is output
``(n, f, i, j)``; maps ``f >= F`` are padding (0 in ``dzt``).
"""

import numpy as np
from numba import prange

from .._twins import parallel_kernel
from ..activations import act_grad, act_value


@parallel_kernel()
def activate(yt, act):
    """``act(yt)`` element by element, in place (any shape, C-contiguous): the activation
    of the convolution's output where the register tiles, which apply it as they store
    (``regtile_tiles.plane_tile_*``), are not used (a CPU without FMA vectors)."""
    f = yt.reshape(-1)
    is32 = yt.itemsize == 4
    for k in prange(f.shape[0]):
        f[k] = act_value(act, f[k], is32)
    return yt


@parallel_kernel()
def lanes_to_rows_pool(yl, f_, ho, wo, n_):
    """``(y, p)``: ``yl (ho, F_pad, wo*N)``, the activated map in batch lanes, out to ``y (N,
    F, ho, wo)``, and ``p (N, F, ho//2, wo//2)`` the mean of each 2x2 block of ``y`` (an odd
    last row or column is read by no window, as in ``pool.avg_pool2d_forward``). One work
    item per (map, pair of rows); the pooling reads the two rows while they are in L1."""
    y = np.empty((n_, f_, ho, wo), dtype=yl.dtype)
    hp = ho // 2
    wp = wo // 2
    p = np.empty((n_, f_, hp, wp), dtype=yl.dtype)
    pairs = (ho + 1) // 2
    for t in prange(f_ * pairs):
        f = t // pairs
        i0 = 2 * (t % pairs)
        i1 = min(ho, i0 + 2)
        pooled = np.empty(wp * n_, dtype=yl.dtype)
        for i in range(i0, i1):
            row = yl[i, f]
            for n in range(n_):
                dst = y[n, f, i]
                for j in range(wo):
                    dst[j] = row[j * n_ + n]
        if i1 - i0 < 2:  # the odd last row: no window reads it
            continue
        # the pooled row in lanes (vectorised over images), then out to each image
        a = yl[i0, f]
        b = yl[i0 + 1, f]
        for jj in range(wp):
            o = 2 * jj * n_
            for n in range(n_):
                s = 0.0  # as avg_pool2d_forward: float64, row-major, then / 4
                s += a[o + n]
                s += a[o + n_ + n]
                s += b[o + n]
                s += b[o + n_ + n]
                pooled[jj * n_ + n] = s / 4
        for n in range(n_):
            dst = p[n, f, i0 // 2]
            for jj in range(wp):
                dst[jj] = pooled[jj * n_ + n]
    return y, p


@parallel_kernel()
def pool_act_grad_lanes(dp, yl, act, f_pad):
    """``(dzt, db, ok)`` from ``dp (N, F, ho//2, wo//2)``, the gradient of the pooled map,
    and ``yl (ho, F_pad, wo*N)``, the activated map in batch lanes:

        dz[n, f, i, j] = act'(y) * dp[n, f, i//2, j//2] / 4   (0 where no window reads)

    in batch lanes, ``dzt (ho, f_pad, wo*N)``, ``dzt[i, f, j*N + n] = dz[n, f, i, j]``
    (maps ``F..f_pad-1`` zero); ``db (F,)`` summed as :func:`direct.bias_grad
    <.direct.bias_grad>` sums it (each image's map row by row in float64, one image per
    lane here, then the images in order); ``ok``: every ``dz`` is finite (an inf or NaN
    leaves its image's sum non-finite; finite float32 numbers cannot overflow a float64
    sum of this length). One work item per map."""
    ho, _, run = yl.shape
    n_, f_ = dp.shape[0], dp.shape[1]
    wo = run // n_
    hp, wp = dp.shape[2], dp.shape[3]
    dzt = np.empty((ho, f_pad, run), dtype=yl.dtype)
    db = np.empty(f_, dtype=yl.dtype)
    bad = np.zeros(f_pad, dtype=np.uint8)
    zero = np.zeros(1, dtype=yl.dtype)[0]  # the pooling's dx where no window reads
    for f in prange(f_pad):
        if f >= f_:
            for i in range(ho):
                dzt[i, f, :] = 0
            continue
        # the pooling's share of dp, dp / 4 in the map's dtype (as avg_pool2d_backward
        # stores it), in batch lanes: share[(ii*wp + jj)*N + n]
        share = np.empty(hp * wp * n_, dtype=yl.dtype)
        for n in range(n_):
            gr = dp[n, f]
            for ii in range(hp):
                for jj in range(wp):
                    share[(ii * wp + jj) * n_ + n] = gr[ii, jj] / 4
        acc = np.zeros(n_)  # each image's sum (float64), over i, j in row-major order
        for i in range(ho):
            for j in range(wo):
                o = j * n_
                y = yl[i, f, o : o + n_]  # one position of every image: contiguous, so the
                d = dzt[i, f, o : o + n_]  # loops below run over vectors of images
                if i // 2 < hp and j // 2 < wp:
                    q = (i // 2 * wp + j // 2) * n_
                    g = share[q : q + n_]
                    for n in range(n_):
                        d[n] = act_grad(act, g[n], y[n])
                else:  # no window reads this position: the pooling's dx is 0
                    for n in range(n_):
                        d[n] = act_grad(act, zero, y[n])
                for n in range(n_):
                    acc[n] += d[n]
        s = 0.0
        for n in range(n_):
            s += acc[n]
        db[f] = s
        bad[f] = not np.isfinite(s)
    return dzt, db, not bad.any()
