"""The homework checkers: a correct student passes; classic mistakes fail, and the report
names the mistake's symptom and the input window involved."""

import numpy as np
import pytest

from cnnsim import functional as F
from cnnsim import geometry
from cnnsim.testing import (
    check_avg_pool2d,
    check_conv2d,
    check_conv2d_backward,
    check_lrn,
    check_max_pool2d,
    check_output_size,
)
from cnnsim.testing.checks import conv2d_cases, pool_cases


# ---- students: plain NumPy, as a student would write them -------------------------------
def _pads(x_hw, k_hw, stride, padding):
    return geometry.window(x_hw, k_hw, stride, padding).pads


def student_conv2d(
    x, w, b, stride, padding, flip=False, use_padding=True, stride_delta=0, plus_one=True
):
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    sh, sw = sh + stride_delta, sw + stride_delta
    t, bo, l, r = _pads(x.shape[2:], w.shape[2:], stride, padding) if use_padding else (0,) * 4
    xp = np.pad(x, ((0, 0), (0, 0), (t, bo), (l, r)))
    fh, fw = w.shape[2:]
    if flip:
        w = w[:, :, ::-1, ::-1]
    oh = (xp.shape[2] - fh) // sh + (1 if plus_one else 0)
    ow = (xp.shape[3] - fw) // sw + (1 if plus_one else 0)
    y = np.zeros((x.shape[0], w.shape[0], oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * sh : i * sh + fh, j * sw : j * sw + fw]
            y[:, :, i, j] = np.einsum("nchw,fchw->nf", patch, w)
    return y + (0 if b is None else b[None, :, None, None])


def student_pool(x, size, stride, padding, kind="max", count_pad=False, pad_candidates=False):
    kh, kw = (size, size) if isinstance(size, int) else size
    stride = (kh, kw) if stride is None else stride
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    t, b, l, r = _pads(x.shape[2:], (kh, kw), (sh, sw), padding)
    fill = 0.0 if (count_pad or pad_candidates) else np.nan
    xp = np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)), constant_values=fill)
    oh, ow = (xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1
    y = np.zeros(x.shape[:2] + (oh, ow))
    red = {"max": np.nanmax, "avg": np.nanmean}[kind]
    for i in range(oh):
        for j in range(ow):
            y[:, :, i, j] = red(xp[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw], axis=(2, 3))
    return y


def student_lrn(x, r, k, alpha, beta, radius=None, alpha_div=1):
    h = r // 2 if radius is None else radius
    c = x.shape[1]
    y = np.empty_like(x)
    for i in range(c):
        s = k + alpha / alpha_div * np.sum(x[:, max(0, i - h) : min(c, i + h + 1)] ** 2, axis=1)
        y[:, i] = x[:, i] * s**-beta
    return y


# ---- conv2d ------------------------------------------------------------------------------
def test_correct_conv2d_passes():
    report = check_conv2d(student_conv2d)
    assert report.ok, report
    assert "all 6 cases passed" in str(report)
    assert bool(report)


def test_forgot_padding_is_named():
    report = check_conv2d(lambda x, w, b, s, p: student_conv2d(x, w, b, s, p, use_padding=False))
    assert not report.ok
    text = str(report)
    assert "padding is missing" in text and "padding='valid'" in text
    assert "lecture 5x7 -> 3x4" in text
    # the lecture case: a 2x3 output instead of 3x4
    assert "shape (1, 1, 2, 3), expected (1, 1, 3, 4)" in text
    assert any("padding is missing" in m for m in report.mistakes)


def test_flipped_kernel_is_named_with_windows():
    report = check_conv2d(lambda x, w, b, s, p: student_conv2d(x, w, b, s, p, flip=True))
    assert not report.ok
    text = str(report)
    assert "kernel is flipped" in text and "cross-correlation" in text
    # positions, expected vs got, and the window read, with the padding marked
    assert "y[0, 0, 0, 0]: expected" in text
    assert "reads input rows -1..1, cols -1..1 of map 0 (row -1 and col -1 = zero padding)" in text


def test_off_by_one_stride_is_named():
    report = check_conv2d(lambda x, w, b, s, p: student_conv2d(x, w, b, s, p, stride_delta=1))
    assert not report.ok
    assert "the stride is off" in str(report)


def test_missing_plus_one_is_named():
    report = check_conv2d(lambda x, w, b, s, p: student_conv2d(x, w, b, s, p, plus_one=False))
    assert not report.ok
    assert "forget the + 1" in str(report)
    assert "output size off by one (forgot the + 1)" in report.mistakes


def test_missing_bias_and_errors_are_reported():
    report = check_conv2d(lambda x, w, b, s, p: student_conv2d(x, w, None, s, p))
    assert "the bias is missing" in str(report)

    def crashes(x, w, b, s, p):
        if p == "same":
            raise NotImplementedError("no SAME yet")
        return student_conv2d(x, w, b, s, p)

    report = check_conv2d(crashes)
    assert "ERROR" in str(report) and "raised NotImplementedError: no SAME yet" in str(report)
    # a teacher can leave SAME out
    assert check_conv2d(
        crashes, cases=[c for c in conv2d_cases() if c.params["padding"] != "same"]
    ).ok


def test_same_padding_on_the_wrong_side_is_named():
    def tl(x, w, b, s, p):
        if p == "same":
            t, bo, l, r = _pads(x.shape[2:], w.shape[2:], s, p)
            p = (bo, t, r, l)
            return F.conv2d(x, w, b, s, p)
        return F.conv2d(x, w, b, s, p)

    report = check_conv2d(tl)
    text = str(report)
    assert "top/left" in text and "1 of 6 cases FAILED" in text


def test_not_a_function_and_bad_return():
    with pytest.raises(TypeError, match="check_conv2d: expected the student's function"):
        check_conv2d(42)
    report = check_conv2d(lambda *a: "nonsense")
    assert not report.ok and "not an array of numbers" in str(report)


# ---- conv2d backward -----------------------------------------------------------------------
def test_conv2d_backward_correct_and_unflipped():
    assert check_conv2d_backward(F.conv2d_backward).ok

    def unflipped(dy, x, w, s, p):
        dx, dw, db = F.conv2d_backward(dy, x, w[:, :, ::-1, ::-1], s, p)
        _, dw, db = F.conv2d_backward(dy, x, w, s, p)
        return dx, dw, db

    report = check_conv2d_backward(unflipped)
    assert not report.ok
    text = str(report)
    assert "without flipping" in text and "dx[" in text and "read by output rows" in text

    def db_per_image(dy, x, w, s, p):
        dx, dw, _ = F.conv2d_backward(dy, x, w, s, p)
        return dx, dw, dy.sum(axis=(2, 3))

    text = str(check_conv2d_backward(db_per_image))
    assert "db has shape" in text and "not summed over the batch" in text

    assert "expected a tuple of 3 arrays" in str(
        check_conv2d_backward(lambda dy, x, w, s, p: F.conv2d_backward(dy, x, w, s, p)[0])
    )


# ---- pooling -------------------------------------------------------------------------------
def test_correct_pooling_passes():
    assert check_max_pool2d(student_pool).ok
    assert check_avg_pool2d(lambda x, k, s, p: student_pool(x, k, s, p, "avg")).ok


def test_average_over_padded_cells_is_named():
    report = check_avg_pool2d(lambda x, k, s, p: student_pool(x, k, s, p, "avg", count_pad=True))
    assert not report.ok
    text = str(report)
    assert "padded cells are counted in the average" in text
    assert "only outputs whose window reaches into the zero padding differ" in text
    assert "= zero padding" in text


def test_max_pool_padding_winning_is_named():
    report = check_max_pool2d(lambda x, k, s, p: student_pool(x, k, s, p, pad_candidates=True))
    assert not report.ok
    assert "padding must never win" in str(report)


def test_stride_none_and_wrong_kind():
    def stride_one(x, k, s, p):
        return student_pool(x, k, 1 if s is None else s, p)

    assert "stride=None was taken as stride 1" in str(check_max_pool2d(stride_one))
    report = check_max_pool2d(lambda x, k, s, p: student_pool(x, k, s, p, "avg"))
    assert "this is average pooling" in str(report)
    assert len(pool_cases()) == len(report.results)


# ---- LRN ---------------------------------------------------------------------------------
def test_lrn_correct_and_mistakes():
    assert check_lrn(student_lrn).ok
    wide = check_lrn(lambda x, r, k, a, b: student_lrn(x, r, k, a, b, radius=r))
    assert not wide.ok and "2r+1" in str(wide)
    assert "sums a_j^2 over maps" in str(wide)
    torch_alpha = check_lrn(lambda x, r, k, a, b: student_lrn(x, r, k, a, b, alpha_div=r))
    assert "PyTorch" in str(torch_alpha)


# ---- output size -------------------------------------------------------------------------
def test_output_size():
    assert check_output_size(geometry.output_size).ok
    report = check_output_size(
        lambda n, f, s, p: (n + 2 * (p if isinstance(p, int) else 0) - f) // s
    )
    assert not report.ok and "forgot the + 1" in str(report)
    assert "ceil(7 / 2) = 4" in str(report)


def test_report_renders_html():
    html = check_conv2d(student_conv2d)._repr_html_()
    assert html.startswith("<pre") and "all 6 cases passed" in html
