"""The convolution straight from its definition, for inputs that hold ``inf`` or ``NaN``.

Arrays in, arrays out; no validation. Same shapes and signatures as ``kernels.conv``.

Why a second path: the fast kernels (``kernels.conv``) multiply a few zeros they do not
need: the zero padding rows of the phase planes, the taps that round a block up to a
multiple of 3 or 4, and the zero weights of (filter, map) pairs outside the connection
table. With finite numbers a zero term adds nothing, but ``0 * inf = NaN``: one ``inf``
pixel would turn whole windows NaN (the definition gives ``inf``), and a NaN in one map
would reach filters that are not connected to it (LeNet-5's C3, grouped convolution).
Branching on every tap in the hot loop would cost speed on every call, so instead
``functional.conv`` checks once per call (:func:`all_finite`, one pass over the inputs)
and sends the rare non-finite call here, where only the real terms are ever visited:
padded taps are outside the loop bounds and disconnected pairs are skipped, exactly as in
``cnnsim.testing.naive.conv2d``. Each output element is summed in a fixed order (c, u, v).

Merge note: the ``speed`` branch turns ``kernels/conv.py`` into a package whose
``direct.py`` holds the same three definition loops (padding skipped, disconnected maps
skipped). Once it lands, these loops should go: ``functional.conv._finite_or_direct``
then returns that module (its ``forward``/``backward_input``/``backward_weight``), and
``all_finite`` moves beside them.
"""
import numpy as np
from numba import njit, prange

@njit(cache=True, fastmath={"reassoc"})
def all_finite(a):
    """True when every element of ``a`` (any shape, C-contiguous) is finite.

    ``v * 0`` is 0 for a finite ``v`` and NaN for ``inf``/``NaN``, and NaN stays NaN in a
    sum: one branch-free pass. ``reassoc`` (and no other fast-math flag: ``nnan``/``nsz``
    would let LLVM fold ``v * 0`` to 0) lets it vectorize the sum, whose order cannot
    matter here (every term is 0 or NaN). No early exit: a branch in the loop stops the
    vectorization (measured 44 ms vs 2.2 ms for AlexNet's C2 input at batch 128)."""
    f = a.reshape(-1)
    acc = f[0] * 0 if f.shape[0] else a.dtype.type(0) * 0
    for i in range(f.shape[0]):
        acc += f[i] * 0
    return acc == 0


@njit(cache=True)
def _span(i, s, p, k, n):
    """Kernel taps ``u`` of output row ``i`` that land inside the input: ``lo <= u < hi``
    with ``0 <= i*s - p + u < n``."""
    r0 = i * s - p
    lo = max(0, -r0)
    hi = min(k, n - r0)
    return r0, lo, hi


@njit(cache=True, parallel=True)
def conv2d_forward(x, w, b, mask, sh, sw, top, bottom, left, right):
    """``y[n,f,i,j] = b[f] + sum_{c: mask[f,c]} sum_{u,v inside x} w[f,c,u,v] x[n,c,i*sh+u-top,j*sw+v-left]``."""
    n_, c_, h, wd = x.shape
    f_, _, kh, kw = w.shape
    ho = (h + top + bottom - kh) // sh + 1
    wo = (wd + left + right - kw) // sw + 1
    y = np.empty((n_, f_, ho, wo), dtype=x.dtype)
    for nf in prange(n_ * f_):
        n = nf // f_
        f = nf % f_
        for i in range(ho):
            r0, ulo, uhi = _span(i, sh, top, kh, h)
            for j in range(wo):
                c0, vlo, vhi = _span(j, sw, left, kw, wd)
                s = b[f]
                for c in range(c_):
                    if mask[f, c] == 0:
                        continue
                    for u in range(ulo, uhi):
                        for v in range(vlo, vhi):
                            s += w[f, c, u, v] * x[n, c, r0 + u, c0 + v]
                y[n, f, i, j] = s
    return y


@njit(cache=True, parallel=True)
def conv2d_backward_input(dy, w, mask, in_h, in_w, sh, sw, top, bottom, left, right):
    """``dx[n,c,r,s] = sum over (f, i, j, u, v) with r = i*sh+u-top, s = j*sw+v-left of
    w[f,c,u,v] dy[n,f,i,j]`` (connected pairs only)."""
    n_, f_, ho, wo = dy.shape
    _, c_, kh, kw = w.shape
    dx = np.zeros((n_, c_, in_h, in_w), dtype=dy.dtype)
    for nc in prange(n_ * c_):
        n = nc // c_
        c = nc % c_
        for f in range(f_):
            if mask[f, c] == 0:
                continue
            for i in range(ho):
                r0, ulo, uhi = _span(i, sh, top, kh, in_h)
                for j in range(wo):
                    c0, vlo, vhi = _span(j, sw, left, kw, in_w)
                    g = dy[n, f, i, j]
                    for u in range(ulo, uhi):
                        for v in range(vlo, vhi):
                            dx[n, c, r0 + u, c0 + v] += w[f, c, u, v] * g
    return dx


@njit(cache=True, parallel=True)
def conv2d_backward_weight(dy, x, mask, kh, kw, sh, sw, top, bottom, left, right):
    """``dw[f,c,u,v] = sum_{n,i,j: tap inside x} dy[n,f,i,j] x[n,c,i*sh+u-top,j*sw+v-left]``
    (0 outside the connection table), ``db[f] = sum_{n,i,j} dy[n,f,i,j]``."""
    n_, c_, h, wd = x.shape
    _, f_, ho, wo = dy.shape
    dw = np.zeros((f_, c_, kh, kw), dtype=dy.dtype)
    db = np.zeros(f_, dtype=dy.dtype)
    for fc in prange(f_ * c_):
        f = fc // c_
        c = fc % c_
        if c == 0:
            s = 0.0
            for n in range(n_):
                for i in range(ho):
                    for j in range(wo):
                        s += dy[n, f, i, j]
            db[f] = s
        if mask[f, c] == 0:
            continue
        for n in range(n_):
            for i in range(ho):
                r0, ulo, uhi = _span(i, sh, top, kh, h)
                for j in range(wo):
                    c0, vlo, vhi = _span(j, sw, left, kw, wd)
                    g = dy[n, f, i, j]
                    for u in range(ulo, uhi):
                        for v in range(vlo, vhi):
                            dw[f, c, u, v] += g * x[n, c, r0 + u, c0 + v]
    return dw, db
