"""Homework checkers name the right mistake for student code as students write it (issue 16,
item 9): each function below is a complete student answer, loops and all."""

import numpy as np

from cnnsim.testing.checks import check_conv2d, check_conv2d_backward, check_output_size


def _pads(H, W, KH, KW, sh, sw, padding):
    if padding == "valid":
        return 0, 0, 0, 0
    if padding == "same":
        oh, ow = -(-H // sh), -(-W // sw)
        ph, pw = max((oh - 1) * sh + KH - H, 0), max((ow - 1) * sw + KW - W, 0)
        return ph // 2, ph - ph // 2, pw // 2, pw - pw // 2
    if isinstance(padding, int):
        return padding, padding, padding, padding
    return tuple(padding)


def _strides(stride):
    return (stride, stride) if isinstance(stride, int) else tuple(stride)


# ---- a student's conv2d, and the same with one mistake each --------------------------------
def conv2d(x, w, b, stride, padding):
    sh, sw = _strides(stride)
    F, C, KH, KW = w.shape
    N, _, H, W = x.shape
    pt, pb, pl, pr = _pads(H, W, KH, KW, sh, sw, padding)
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    oh, ow = (H + pt + pb - KH) // sh + 1, (W + pl + pr - KW) // sw + 1
    y = np.zeros((N, F, oh, ow))
    for n in range(N):
        for f in range(F):
            for i in range(oh):
                for j in range(ow):
                    y[n, f, i, j] = (
                        np.sum(xp[n, :, i * sh : i * sh + KH, j * sw : j * sw + KW] * w[f]) + b[f]
                    )
    return y


def conv2d_no_return(x, w, b, stride, padding):
    sh, sw = _strides(stride)
    F, C, KH, KW = w.shape
    N, _, H, W = x.shape
    pt, pb, pl, pr = _pads(H, W, KH, KW, sh, sw, padding)
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    oh, ow = (H + pt + pb - KH) // sh + 1, (W + pl + pr - KW) // sw + 1
    y = np.zeros((N, F, oh, ow))
    for n in range(N):
        for f in range(F):
            for i in range(oh):
                for j in range(ow):
                    y[n, f, i, j] = (
                        np.sum(xp[n, :, i * sh : i * sh + KH, j * sw : j * sw + KW] * w[f]) + b[f]
                    )


def conv2d_nhwc(x, w, b, stride, padding):
    sh, sw = _strides(stride)
    F, C, KH, KW = w.shape
    N, _, H, W = x.shape
    pt, pb, pl, pr = _pads(H, W, KH, KW, sh, sw, padding)
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    oh, ow = (H + pt + pb - KH) // sh + 1, (W + pl + pr - KW) // sw + 1
    y = np.zeros((N, oh, ow, F))  # channels last
    for n in range(N):
        for i in range(oh):
            for j in range(ow):
                for f in range(F):
                    y[n, i, j, f] = (
                        np.sum(xp[n, :, i * sh : i * sh + KH, j * sw : j * sw + KW] * w[f]) + b[f]
                    )
    return y


def conv2d_transposed_kernel(x, w, b, stride, padding):
    sh, sw = _strides(stride)
    F, C, KH, KW = w.shape
    N, _, H, W = x.shape
    pt, pb, pl, pr = _pads(H, W, KH, KW, sh, sw, padding)
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    oh, ow = (H + pt + pb - KH) // sh + 1, (W + pl + pr - KW) // sw + 1
    y = np.zeros((N, F, oh, ow))
    for n in range(N):
        for f in range(F):
            for i in range(oh):
                for j in range(ow):
                    s = b[f]
                    for c in range(C):
                        for u in range(KH):
                            for v in range(KW):
                                s += xp[n, c, i * sh + u, j * sw + v] * w[f, c, v, u]  # v, u
                    y[n, f, i, j] = s
    return y


def test_missing_return_is_named():
    report = check_conv2d(conv2d_no_return)
    assert not report.ok
    assert report.mistakes == ["returned None: the function has no `return y`"], str(report)
    assert "not summed" not in str(report)


def test_correct_conv_passes():
    assert check_conv2d(conv2d).ok


def test_nhwc_layout_is_named():
    report = check_conv2d(conv2d_nhwc)
    assert report.mistakes and all("NHWC" in m for m in report.mistakes), str(report)
    assert "(0, 3, 1, 2)" in str(report)


def test_transposed_kernel_is_named():
    report = check_conv2d(conv2d_transposed_kernel)
    assert not report.ok
    assert any("transposed" in m for m in report.mistakes), str(report)
    assert not any("flipped" in m for m in report.mistakes), str(report)


# ---- output size -----------------------------------------------------------------------------
def output_size_ignores_padding(n, f, s, padding):
    if padding == "same":
        return -(-n // s)
    return (n - f) // s + 1  # forgot the padding p


def output_size_no_plus_one(n, f, s, padding):
    if padding == "same":
        return -(-n // s)
    p = 0 if padding == "valid" else 2 * padding
    return (n + p - f) // s


def test_output_size_ignoring_padding_is_not_called_a_missing_plus_one():
    report = check_output_size(output_size_ignores_padding)
    assert report.mistakes and all("padding" in m for m in report.mistakes), str(report)
    assert "+ 1" not in " ".join(report.mistakes)
    report = check_output_size(output_size_no_plus_one)
    assert report.mistakes and all("+ 1" in m for m in report.mistakes), str(report)


# ---- conv2d backward ---------------------------------------------------------------------------
def conv2d_backward_scatter(dy, x, w, stride, padding):
    """Each output's gradient scattered back onto the window it read: correct."""
    sh, sw = _strides(stride)
    F, C, KH, KW = w.shape
    N, _, H, W = x.shape
    pt, pb, pl, pr = _pads(H, W, KH, KW, sh, sw, padding)
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for n in range(N):
        for f in range(F):
            for i in range(dy.shape[2]):
                for j in range(dy.shape[3]):
                    g = dy[n, f, i, j]
                    dxp[n, :, i * sh : i * sh + KH, j * sw : j * sw + KW] += g * w[f]
                    dw[f] += g * xp[n, :, i * sh : i * sh + KH, j * sw : j * sw + KW]
    db = dy.sum(axis=(0, 2, 3))
    return dxp[:, :, pt : pt + H, pl : pl + W], dw, db


def conv2d_backward_flip_gather(dy, x, w, stride, padding):
    """dx as the full correlation of the (dilated) dy with the kernel rotated by 180 degrees,
    the textbook formula: correct, and it does flip the kernel."""
    sh, sw = _strides(stride)
    F, C, KH, KW = w.shape
    N, _, H, W = x.shape
    pt, pb, pl, pr = _pads(H, W, KH, KW, sh, sw, padding)
    Hp, Wp = H + pt + pb, W + pl + pr
    oh, ow = dy.shape[2:]
    dil = np.zeros((N, F, (oh - 1) * sh + 1, (ow - 1) * sw + 1))
    dil[:, :, ::sh, ::sw] = dy
    full = np.pad(
        dil,
        (
            (0, 0),
            (0, 0),
            (KH - 1, KH - 1 + Hp - ((oh - 1) * sh + KH)),
            (KW - 1, KW - 1 + Wp - ((ow - 1) * sw + KW)),
        ),
    )
    rot = w[:, :, ::-1, ::-1]
    dxp = np.zeros((N, C, Hp, Wp))
    for n in range(N):
        for c in range(C):
            for r in range(Hp):
                for q in range(Wp):
                    dxp[n, c, r, q] = np.sum(full[n, :, r : r + KH, q : q + KW] * rot[:, c])
    dw = np.zeros_like(w)
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    for f in range(F):
        for c in range(C):
            for u in range(KH):
                for v in range(KW):
                    dw[f, c, u, v] = np.sum(
                        dy[:, f]
                        * xp[:, c, u : u + (oh - 1) * sh + 1 : sh, v : v + (ow - 1) * sw + 1 : sw]
                    )
    return dxp[:, :, pt : pt + H, pl : pl + W], dw, dy.sum(axis=(0, 2, 3))


def conv2d_backward_db_one_image(dy, x, w, stride, padding):
    dx, dw, _ = conv2d_backward_scatter(dy, x, w, stride, padding)
    db = dy[0].sum(axis=(1, 2))  # the first image only
    return dx, dw, db


def test_correct_scatter_and_flipping_backwards_are_accepted():
    r1 = check_conv2d_backward(conv2d_backward_scatter)
    assert r1.ok, str(r1)
    r2 = check_conv2d_backward(conv2d_backward_flip_gather)
    assert r2.ok, str(r2)


def test_bias_gradient_from_one_image_is_named():
    report = check_conv2d_backward(conv2d_backward_db_one_image)
    assert not report.ok
    assert report.mistakes == [
        "db comes from the first image only: db[f] = sum over the "
        "batch n and positions i, j of dy[n, f, i, j]"
    ], str(report)
