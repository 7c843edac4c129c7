"""Direct 2-D convolution (cross-correlation, as every CNN library computes it).

Arrays in, arrays out; no validation (``cnnsim.functional.conv`` validates once).

Shapes: ``x (N, C, H, W)``, ``w (F, C, KH, KW)``, ``b (F,)``, ``y (N, F, H_out, W_out)``;
``mask (F, C)`` uint8 connection table (1 = filter f reads map c).

    y[n, f, i, j] = b[f] + sum_{c: mask[f,c]} sum_{u<KH, v<KW}
                    w[f, c, u, v] * xp[n, c, i*sh + u, j*sw + v]

where ``xp`` is ``x`` zero-padded by ``(top, bottom, left, right)``.

Every output element is written by exactly one thread and summed in a fixed order,
so results do not depend on the thread count (determinism is a contract).
"""
import numpy as np
from numba import njit, prange


@njit(cache=True)
def pad_nchw(x, top, bottom, left, right):
    """Zero-pad the two spatial axes of ``x (N, C, H, W)``."""
    n, c, h, w = x.shape
    if top == 0 and bottom == 0 and left == 0 and right == 0:
        return x
    xp = np.zeros((n, c, h + top + bottom, w + left + right), dtype=x.dtype)
    xp[:, :, top:top + h, left:left + w] = x
    return xp


@njit(cache=True, parallel=True)
def conv2d_forward(x, w, b, mask, sh, sw, top, bottom, left, right):
    """``y (N, F, H_out, W_out)`` from ``x (N, C, H, W)``, ``w (F, C, KH, KW)``, ``b (F,)``."""
    xp = pad_nchw(x, top, bottom, left, right)
    n_, c_, hp, wp = xp.shape
    f_, _, kh, kw = w.shape
    ho = (hp - kh) // sh + 1
    wo = (wp - kw) // sw + 1
    y = np.empty((n_, f_, ho, wo), dtype=x.dtype)
    for nf in prange(n_ * f_):
        n = nf // f_
        f = nf % f_
        acc = np.empty((ho, wo), dtype=x.dtype)
        acc[:, :] = b[f]
        for c in range(c_):
            if mask[f, c] == 0:
                continue
            for u in range(kh):
                for v in range(kw):
                    wv = w[f, c, u, v]
                    for i in range(ho):
                        r = i * sh + u
                        for j in range(wo):
                            acc[i, j] += wv * xp[n, c, r, j * sw + v]
        y[n, f] = acc
    return y


@njit(cache=True, parallel=True)
def conv2d_backward_input(dy, w, mask, in_h, in_w, sh, sw, top, bottom, left, right):
    """``dx (N, C, H, W)`` from ``dy (N, F, H_out, W_out)`` and ``w (F, C, KH, KW)``.

    dxp[n, c, i*sh + u, j*sw + v] += w[f, c, u, v] * dy[n, f, i, j], then the padding is cut.
    """
    n_, f_, ho, wo = dy.shape
    _, c_, kh, kw = w.shape
    hp = in_h + top + bottom
    wp = in_w + left + right
    dx = np.empty((n_, c_, in_h, in_w), dtype=dy.dtype)
    for nc in prange(n_ * c_):
        n = nc // c_
        c = nc % c_
        acc = np.zeros((hp, wp), dtype=dy.dtype)
        for f in range(f_):
            if mask[f, c] == 0:
                continue
            for u in range(kh):
                for v in range(kw):
                    wv = w[f, c, u, v]
                    for i in range(ho):
                        r = i * sh + u
                        for j in range(wo):
                            acc[r, j * sw + v] += wv * dy[n, f, i, j]
        dx[n, c] = acc[top:top + in_h, left:left + in_w]
    return dx


@njit(cache=True, parallel=True)
def conv2d_backward_weight(dy, x, mask, kh, kw, sh, sw, top, bottom, left, right):
    """``dw (F, C, KH, KW)`` and ``db (F,)`` from ``dy (N, F, H_out, W_out)`` and ``x``.

    dw[f, c, u, v] = sum_{n, i, j} dy[n, f, i, j] * xp[n, c, i*sh + u, j*sw + v];
    db[f] = sum_{n, i, j} dy[n, f, i, j]. Entries outside the connection table are 0.
    """
    xp = pad_nchw(x, top, bottom, left, right)
    n_, f_, ho, wo = dy.shape
    c_ = x.shape[1]
    dw = np.zeros((f_, c_, kh, kw), dtype=dy.dtype)
    for fc in prange(f_ * c_):
        f = fc // c_
        c = fc % c_
        if mask[f, c] == 0:
            continue
        for n in range(n_):
            for u in range(kh):
                for v in range(kw):
                    s = 0.0
                    for i in range(ho):
                        r = i * sh + u
                        for j in range(wo):
                            s += dy[n, f, i, j] * xp[n, c, r, j * sw + v]
                    dw[f, c, u, v] += s
    db = np.zeros(f_, dtype=dy.dtype)
    for f in prange(f_):
        s = 0.0
        for n in range(n_):
            for i in range(ho):
                for j in range(wo):
                    s += dy[n, f, i, j]
        db[f] = s
    return dw, db
