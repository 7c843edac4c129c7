"""CUDA twins of ``cnnsim.kernels.conv.direct``: the plain direct loops, forward and backward.

Same formulas, shapes and signatures as the CPU kernels (see that module):

    y[n, f, i, j] = b[f] + sum_{c: mask[f,c]} sum_{u, v} w[f, c, u, v] xp[n, c, i*sh + u, j*sw + v]

Launches (no float atomics; every output written by one thread or one block):

* forward: one thread per output element ``(n, f, i, j)``; padding is handled by bounds
  checks (no padded copy), the sum runs over ``c, u, v`` in the CPU kernel's order.
* backward_input: one thread per ``dx`` element, *gathering* the outputs that read it
  (``i*sh + u = row + top``), over ``f, u, v`` in the CPU order: no scatter, no race.
* backward_weight: one block per ``dw[f, c, u, v]`` (bias_grad: per ``db[f]``): the block's
  threads take strided shares of the ``N*H_out*W_out`` products, then a fixed tree
  reduction in shared memory (float64) adds them: deterministic.
"""

from numba import cuda, float64

from .._util import (
    block_sum,
    empty,
    grid1d,
    per_threads,
    reduce_launch,
    threads,
    to_device,
    zero_of,
)


@cuda.jit
def _forward(x, w, b, mask, sh, sw, top, left, y):
    t = cuda.grid(1)
    if t >= y.size:
        return
    _, f_, ho, wo = y.shape
    c_, h, wd = x.shape[1], x.shape[2], x.shape[3]
    kh, kw = w.shape[2], w.shape[3]
    j = t % wo
    q = t // wo
    i = q % ho
    q //= ho
    f = q % f_
    n = q // f_
    acc = b[f]
    for c in range(c_):
        if mask[f, c] == 0:
            continue
        for u in range(kh):
            r = i * sh - top + u
            if r < 0 or r >= h:
                continue
            for v in range(kw):
                s = j * sw - left + v
                if 0 <= s < wd:
                    acc += w[f, c, u, v] * x[n, c, r, s]
    y[n, f, i, j] = acc


def conv2d_forward(x, w, b, mask, sh, sw, top, bottom, left, right, save=False):
    """``y (N, F, H_out, W_out)`` from ``x (N, C, H, W)``, ``w (F, C, KH, KW)``, ``b (F,)``;
    ``save``: ``(y, None)`` (this kernel reads ``x`` in place: nothing to keep for ``dw``)."""
    x, w, b, mask = to_device(x), to_device(w), to_device(b), to_device(mask)
    n_, _, h, wd = x.shape
    f_, _, kh, kw = w.shape
    ho = (h + top + bottom - kh) // sh + 1
    wo = (wd + left + right - kw) // sw + 1
    y = empty((n_, f_, ho, wo), x.dtype)
    if y.size:
        _forward[grid1d(y.size)](x, w, b, mask, sh, sw, top, left, y)
    return (y, None) if save else y


@cuda.jit
def _backward_input(dy, w, mask, sh, sw, top, left, zero, dx):
    t = cuda.grid(1)
    if t >= dx.size:
        return
    _, c_, h, wd = dx.shape
    f_, ho, wo = dy.shape[1], dy.shape[2], dy.shape[3]
    kh, kw = w.shape[2], w.shape[3]
    q0 = t % wd
    q = t // wd
    p0 = q % h
    q //= h
    c = q % c_
    n = q // c_
    p = p0 + top  # row in the padded input
    pc = q0 + left  # column in the padded input
    acc = zero
    for f in range(f_):
        if mask[f, c] == 0:
            continue
        for u in range(kh):
            ri = p - u
            if ri < 0 or ri % sh != 0:
                continue
            i = ri // sh
            if i >= ho:
                continue
            for v in range(kw):
                cj = pc - v
                if cj < 0 or cj % sw != 0:
                    continue
                j = cj // sw
                if j < wo:
                    acc += w[f, c, u, v] * dy[n, f, i, j]
    dx[n, c, p0, q0] = acc


def conv2d_backward_input(dy, w, mask, in_h, in_w, sh, sw, top, bottom, left, right):
    """``dx (N, C, H, W)`` from ``dy (N, F, H_out, W_out)`` and ``w (F, C, KH, KW)``."""
    dy, w, mask = to_device(dy), to_device(w), to_device(mask)
    n_ = dy.shape[0]
    c_ = w.shape[1]
    dx = empty((n_, c_, in_h, in_w), dy.dtype)
    if dx.size:
        _backward_input[grid1d(dx.size)](dy, w, mask, sh, sw, top, left, zero_of(dy), dx)
    return dx


@per_threads
def _weight_kernels(nt):
    @cuda.jit
    def dw_kernel(dy, x, mask, sh, sw, top, left, dw):
        sm = cuda.shared.array(nt, float64)
        t = cuda.threadIdx.x
        g = cuda.blockIdx.x  # one block per dw[f, c, u, v]
        f_, c_, kh, kw = dw.shape
        v = g % kw
        q = g // kw
        u = q % kh
        q //= kh
        c = q % c_
        f = q // c_
        n_, _, ho, wo = dy.shape
        h, wd = x.shape[2], x.shape[3]
        s = 0.0
        if mask[f, c] != 0:
            m = n_ * ho * wo
            k = t
            while k < m:
                j = k % wo
                i = (k // wo) % ho
                n = k // (wo * ho)
                r = i * sh - top + u
                cc = j * sw - left + v
                if 0 <= r < h and 0 <= cc < wd:
                    s += dy[n, f, i, j] * x[n, c, r, cc]
                k += nt
        sm[t] = s
        total = block_sum(sm, t, nt)
        if t == 0:
            dw[f, c, u, v] = total

    @cuda.jit
    def db_kernel(dy, db):
        sm = cuda.shared.array(nt, float64)
        t = cuda.threadIdx.x
        f = cuda.blockIdx.x  # one block per db[f]
        n_, _, ho, wo = dy.shape
        m = n_ * ho * wo
        s = 0.0
        k = t
        while k < m:
            s += dy[k // (ho * wo), f, (k // wo) % ho, k % wo]
            k += nt
        sm[t] = s
        total = block_sum(sm, t, nt)
        if t == 0:
            db[f] = total

    return dw_kernel, db_kernel


def conv2d_backward_weight(dy, x, mask, kh, kw, sh, sw, top, bottom, left, right, saved=None):
    """``dw (F, C, KH, KW)`` from ``dy (N, F, H_out, W_out)`` and ``x`` (``saved``, from the
    CPU's forward, is not used here).

    One block per weight: strided partial sums + a fixed tree reduction.
    """
    dy, x, mask = to_device(dy), to_device(x), to_device(mask)
    f_ = dy.shape[1]
    c_ = x.shape[1]
    dw = empty((f_, c_, kh, kw), dy.dtype)
    dw_kernel, _ = _weight_kernels(threads())
    if dw.size:
        dw_kernel[reduce_launch(dw.size)](dy, x, mask, sh, sw, top, left, dw)
    return dw


def conv2d_bias_grad(dy):
    """``db (F,)``, ``db[f] = sum_{n,i,j} dy[n, f, i, j]``: one block per filter, strided
    partial sums + a fixed tree reduction."""
    dy = to_device(dy)
    f_ = dy.shape[1]
    db = empty((f_,), dy.dtype)
    _, db_kernel = _weight_kernels(threads())
    if f_:
        db_kernel[reduce_launch(f_)](dy, db)
    return db
