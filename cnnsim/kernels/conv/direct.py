"""The direct convolution as a student writes it: three plain loops (forward, dx, dw).

This module is the documentation of what the fast path (:mod:`cnnsim.kernels.conv.blocked`
over the layouts of :mod:`cnnsim.kernels.conv.layouts`) computes, and it is what runs for
small calls, where rearranging the arrays would cost more than the arithmetic
(:func:`cnnsim.kernels.conv.use_direct`). Each blocked micro-kernel names the loop here
that it replaces.

Shapes: ``x (N, C, H, W)``, ``w (F, C, KH, KW)``, ``b (F,)``, ``y (N, F, H_out, W_out)``;
``mask (F, C)`` uint8 connection table (1 = filter f reads map c); padding
``(top, bottom, left, right)``, stride ``(sh, sw)``.

    forward  y[n, f, i, j]  = b[f] + sum_{c: mask[f,c]} sum_{u, v} w[f, c, u, v] xp[n, c, i*sh+u, j*sw+v]
    input    dx[n, c, r, s] = sum_{f: mask[f,c]} sum_{u, v: r+top = i*sh+u, s+left = j*sw+v}
                              w[f, c, u, v] dy[n, f, i, j]
    weight   dw[f, c, u, v] = sum_{n, i, j} dy[n, f, i, j] xp[n, c, i*sh+u, j*sw+v]
    bias     db[f]          = sum_{n, i, j} dy[n, f, i, j]

``xp`` is ``x`` zero-padded; padding positions are skipped here, never multiplied. Each
output element is summed by one thread in the order written, so the result does not
depend on the thread count.

These loops are also the path for inputs holding ``inf`` or ``NaN``: the fast kernels
multiply a few zeros they do not need (padding rows of the phase planes, taps that round a
block up, zero weights outside the connection table), and ``0 * inf = NaN`` would turn a
window NaN where the definition gives ``inf``, or let a NaN reach filters not connected to
its map. The entry points of ``kernels.conv`` send the rare non-finite call here, where
only real terms are visited (as ``testing.naive.conv2d``): the register tile finds out
while it copies its inputs (``layouts.finite``), the other fast paths check first
(:func:`all_finite`).
"""

import numpy as np
from numba import prange

from .._twins import parallel_kernel


@parallel_kernel()
def forward(x, w, b, mask, sh, sw, top, bottom, left, right):
    """``y (N, F, H_out, W_out)``: one ``prange`` iteration per (image, filter)."""
    n_, c_, h, wd = x.shape
    f_, _, kh, kw = w.shape
    ho = (h + top + bottom - kh) // sh + 1
    wo = (wd + left + right - kw) // sw + 1
    y = np.empty((n_, f_, ho, wo), dtype=x.dtype)
    for nf in prange(n_ * f_):
        n = nf // f_
        f = nf % f_
        for i in range(ho):
            for j in range(wo):
                acc = b[f]
                for c in range(c_):
                    if mask[f, c] == 0:
                        continue
                    for u in range(kh):
                        r = i * sh + u - top
                        if r < 0 or r >= h:
                            continue  # a padding row: nothing to add
                        for v in range(kw):
                            s = j * sw + v - left
                            if 0 <= s < wd:
                                acc += w[f, c, u, v] * x[n, c, r, s]
                y[n, f, i, j] = acc
    return y


@parallel_kernel()
def backward_input(dy, w, mask, in_h, in_w, sh, sw, top, bottom, left, right):
    """``dx (N, C, H, W)``: each input position gathers the outputs that read it
    (``i*sh + u = r + top``, ``j*sw + v = s + left``); one iteration per (image, channel)."""
    n_, f_, ho, wo = dy.shape
    _, c_, kh, kw = w.shape
    dx = np.zeros((n_, c_, in_h, in_w), dtype=dy.dtype)
    for nc in prange(n_ * c_):
        n = nc // c_
        c = nc % c_
        for r in range(in_h):
            for s in range(in_w):
                acc = dx[n, c, r, s]
                for f in range(f_):
                    if mask[f, c] == 0:
                        continue
                    for u in range(kh):
                        ri = r + top - u
                        if ri < 0 or ri % sh != 0 or ri // sh >= ho:
                            continue
                        for v in range(kw):
                            sj = s + left - v
                            if sj >= 0 and sj % sw == 0 and sj // sw < wo:
                                acc += w[f, c, u, v] * dy[n, f, ri // sh, sj // sw]
                dx[n, c, r, s] = acc
    return dx


@parallel_kernel()
def backward_weight(dy, x, mask, kh, kw, sh, sw, top, bottom, left, right):
    """``dw (F, C, KH, KW)``; one iteration per (filter, channel). Entries outside the
    connection table are 0. (The bias gradient is :func:`bias_grad`.)"""
    n_, c_, h, wd = x.shape
    f_, ho, wo = dy.shape[1], dy.shape[2], dy.shape[3]
    dw = np.zeros((f_, c_, kh, kw), dtype=dy.dtype)
    for fc in prange(f_ * c_):
        f = fc // c_
        c = fc % c_
        if mask[f, c] == 0:
            continue
        for u in range(kh):
            for v in range(kw):
                acc = dw[f, c, u, v]
                for n in range(n_):
                    for i in range(ho):
                        r = i * sh + u - top
                        if r < 0 or r >= h:
                            continue
                        for j in range(wo):
                            s = j * sw + v - left
                            if 0 <= s < wd:
                                acc += dy[n, f, i, j] * x[n, c, r, s]
                dw[f, c, u, v] = acc
    return dw


@parallel_kernel()
def bias_grad(dy):
    """``db[f] = sum_n (sum_{i,j} dy[n, f, i, j])``: each image's map summed row by row in
    float64, then the images' sums added in order; one thread per f. The per-image sums
    (four images at a time, to overlap the additions' latency) are what the batch-lane
    kernels compute too, one image per vector lane (``pooled.pool_act_grad_lanes``): the
    same numbers either way."""
    n_, f_, ho, wo = dy.shape
    db = np.zeros(f_, dtype=dy.dtype)
    n4 = n_ - n_ % 4
    for f in prange(f_):
        s = 0.0
        for n in range(0, n4, 4):
            a0 = a1 = a2 = a3 = 0.0
            for i in range(ho):
                for j in range(wo):
                    a0 += dy[n, f, i, j]
                    a1 += dy[n + 1, f, i, j]
                    a2 += dy[n + 2, f, i, j]
                    a3 += dy[n + 3, f, i, j]
            s += a0
            s += a1
            s += a2
            s += a3
        for n in range(n4, n_):
            a = 0.0
            for i in range(ho):
                for j in range(wo):
                    a += dy[n, f, i, j]
            s += a
        db[f] = s
    return db


FINITE_CHUNK = 1 << 16  # elements per work item of all_finite


@parallel_kernel(fastmath={"reassoc"})
def all_finite(a):
    """True when every element of ``a`` (any shape, C-contiguous) is finite.

    ``v * 0`` is 0 for a finite ``v`` and NaN for ``inf``/``NaN``, and NaN stays NaN in a
    sum: one branch-free pass. ``reassoc`` (and no other fast-math flag: ``nnan``/``nsz``
    would let LLVM fold ``v * 0`` to 0) lets it vectorize the sum, whose order cannot
    matter here (every term is 0 or NaN). No early exit: a branch in the loop stops the
    vectorization (measured 44 ms vs 2.2 ms for AlexNet's C2 input at batch 128). Chunks
    of ``FINITE_CHUNK`` elements are checked in parallel (a ResNet-18 stem output at batch
    8, 6.4 M numbers: 0.89 ms on one thread, 0.47 ms on two); the functional layer runs
    it with the threads of the convolution it guards (``kernels_for``'s size rule)."""
    f = a.reshape(-1)
    n = f.shape[0]
    chunks = (n + FINITE_CHUNK - 1) // FINITE_CHUNK
    bad = np.zeros(chunks, dtype=np.uint8)
    for t in prange(chunks):
        seg = f[t * FINITE_CHUNK : min(n, t * FINITE_CHUNK + FINITE_CHUNK)]
        acc = seg[0] * 0
        for i in range(seg.shape[0]):
            acc += seg[i] * 0
        bad[t] = acc != 0
    return not bad.any()
