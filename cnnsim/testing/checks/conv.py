"""Checkers for a student's convolution (forward, backward) and output-size formula."""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import numpy as np

from ... import functional as F
from ... import geometry
from ...typing import Padding
from .. import naive
from .report import (
    ATOL,
    RTOL,
    Case,
    CaseResult,
    CheckReport,
    _alt_strides,
    _run,
    _span,
    _window_pattern,
    _window_text,
)


# ---- convolution -------------------------------------------------------------------------
class _ConvCase(Case):
    def call_args(self):
        a, p = self.arrays, self.params
        return a["x"], a["w"], a["b"], p["stride"], p["padding"]


def conv2d_cases(seed: int = 0) -> list[Case]:
    """The lecture's 5x7 -> 3x4 example and a few seeded random cases."""
    rng = np.random.default_rng(seed)

    def rnd(*shape):
        return np.round(rng.standard_normal(shape), 2)

    lecture_x = np.arange(35, dtype=np.float64).reshape(1, 1, 5, 7)
    lecture_w = np.array(
        [[[[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]]]]
    )  # Sobel, asymmetric
    return [
        _ConvCase(
            "lecture 5x7 -> 3x4 (3x3 fields, stride 2, SAME)",
            {"x": lecture_x, "w": lecture_w, "b": np.array([0.5])},
            {"stride": 2, "padding": "same"},
        ),
        _ConvCase(
            "valid, stride 1",
            {"x": rnd(1, 1, 6, 6), "w": rnd(1, 1, 3, 3), "b": rnd(1)},
            {"stride": 1, "padding": "valid"},
        ),
        _ConvCase(
            "2 images, 3 maps in, 2 filters, stride 2, SAME (odd padding)",
            {"x": rnd(2, 3, 6, 7), "w": rnd(2, 3, 3, 3), "b": rnd(2)},
            {"stride": 2, "padding": "same"},
        ),
        _ConvCase(
            "padding 1 on every side, stride 1",
            {"x": rnd(1, 2, 5, 5), "w": rnd(3, 2, 3, 3), "b": rnd(3)},
            {"stride": 1, "padding": 1},
        ),
        _ConvCase(
            "rectangular 2x3 kernel, stride (1, 2), valid",
            {"x": rnd(1, 2, 5, 8), "w": rnd(2, 2, 2, 3), "b": rnd(2)},
            {"stride": (1, 2), "padding": "valid"},
        ),
        _ConvCase(
            "stride 3 leaves input columns unused, valid",
            {"x": rnd(1, 1, 7, 8), "w": rnd(2, 1, 2, 2), "b": rnd(2)},
            {"stride": 3, "padding": "valid"},
        ),
    ]


def _conv_window(case):
    x, w = case.arrays["x"], case.arrays["w"]
    return geometry.window(
        x.shape[2:], w.shape[2:], case.params["stride"], case.params["padding"], "check_conv2d"
    )


def _conv_hypotheses(case, fn):
    """(mistake, candidate output) pairs; ``fn(x, w, b, stride, padding)`` computes them."""
    x, w, b = case.arrays["x"], case.arrays["w"], case.arrays["b"]
    s, p = case.params["stride"], case.params["padding"]
    win = _conv_window(case)
    hyps = [
        (
            "the kernel is flipped: that is the true (mathematical) convolution; a CNN "
            "layer computes cross-correlation, y[i, j] = sum w[u, v] x[i*s + u, j*s + v], "
            "with no flip",
            lambda: fn(x, w[:, :, ::-1, ::-1], b, s, p),
        ),
        (
            "the kernel is transposed: you read w[f, c, v, u] where the formula has "
            "w[f, c, u, v] (u = kernel row, v = kernel column)",
            lambda: fn(x, w.transpose(0, 1, 3, 2), b, s, p) if w.shape[2] == w.shape[3] else None,
        ),
    ]
    if any(win.pads):
        hyps.append(
            (
                "the zero padding is missing: your output equals padding='valid'",
                lambda: fn(x, w, b, s, "valid"),
            )
        )
        t, bo, l, r = win.pads
        if (t, l) != (bo, r):
            hyps.append(
                (
                    "SAME's odd extra row/column went to the top/left; TensorFlow's "
                    "rule puts it at the bottom/right",
                    lambda: fn(x, w, b, s, (bo, t, r, l)),
                )
            )
    for alt in _alt_strides(s):
        hyps.append(
            (
                f"the stride is off: your output equals stride {alt[0] if alt[0] == alt[1] else alt} "
                f"instead of {s} (window (i, j) starts at row i*s - p_top, col j*s - p_left)",
                lambda alt=alt: fn(
                    x,
                    w,
                    b,
                    alt,
                    p
                    if not isinstance(p, str)
                    else geometry.window(x.shape[2:], w.shape[2:], s, p).pads,
                ),
            )
        )
    if b is not None and np.any(b):
        hyps.append(("the bias is missing", lambda: fn(x, w, None, s, p)))
        hyps.append(("the bias is added twice", lambda: fn(x, w, b, s, p) + b[None, :, None, None]))
    hyps.append(
        (
            "input maps are not summed: each filter must add up all C input maps",
            lambda: fn(x[:, :1], w[:, :1], b, s, p) if x.shape[1] > 1 else None,
        )
    )
    return hyps


def _naive_conv(x, w, b, s, p):
    if not isinstance(p, str) and not isinstance(p, int):
        p = tuple(p)
    return naive.conv2d(x, w, b, s, p)


def check_conv2d(
    student_fn: Callable[..., Any],
    cases: Optional[Sequence[Case]] = None,
    seed: int = 0,
    max_positions: int = 5,
    rtol: float = RTOL,
    atol: float = ATOL,
) -> CheckReport:
    """Compare ``student_fn(x, w, b, stride, padding) -> y`` with ``cnnsim.functional.conv2d``.

    ``x (N, C, H, W)``, ``w (F, C, KH, KW)``, ``b (F,)``, ``y (N, F, H_out, W_out)``.
    Returns a ``CheckReport`` (``report.ok``, ``print(report)``).
    """
    cases = conv2d_cases(seed) if cases is None else cases

    def expected(case):
        a = case.arrays
        return F.conv2d(a["x"], a["w"], a["b"], case.params["stride"], case.params["padding"])

    def parts(case):
        win = _conv_window(case)
        c = case.arrays["x"].shape[1]
        maps = f"map{'s' if c > 1 else ''} {_span(list(range(c)))}"
        return [
            (
                "y",
                _conv_hypotheses(case, _naive_conv),
                lambda p: _window_text(win, p[2], p[3], maps),
                _window_pattern(win),
            )
        ]

    return _run("check_conv2d", cases, student_fn, expected, parts, max_positions, rtol, atol)


class _ConvBackCase(Case):
    def call_args(self):
        a, p = self.arrays, self.params
        return a["dy"], a["x"], a["w"], p["stride"], p["padding"]


def conv2d_backward_cases(seed: int = 0) -> list[Case]:
    out: list[Case] = []
    rng = np.random.default_rng(seed + 1)
    for c in conv2d_cases(seed):
        y = F.conv2d(
            c.arrays["x"], c.arrays["w"], c.arrays["b"], c.params["stride"], c.params["padding"]
        )
        dy = np.round(rng.standard_normal(y.shape), 2)
        out.append(
            _ConvBackCase(
                c.name, {"dy": dy, "x": c.arrays["x"], "w": c.arrays["w"]}, dict(c.params)
            )
        )
    return out


def _readers(win, r, c):
    """Output positions (i, j) whose window contains input cell (r, c)."""
    oh, ow = win.out_hw
    rows = [i for i in range(oh) if r in win.rows(i)]
    cols = [j for j in range(ow) if c in win.cols(j)]
    return rows, cols


def check_conv2d_backward(
    student_fn: Callable[..., Any],
    cases: Optional[Sequence[Case]] = None,
    seed: int = 0,
    max_positions: int = 5,
    rtol: float = RTOL,
    atol: float = ATOL,
) -> CheckReport:
    """Compare ``student_fn(dy, x, w, stride, padding) -> (dx, dw, db)`` with
    ``cnnsim.functional.conv2d_backward``: ``dx (N, C, H, W)``, ``dw (F, C, KH, KW)``, ``db (F,)``.
    """
    cases = conv2d_backward_cases(seed) if cases is None else cases

    def expected(case):
        a = case.arrays
        return F.conv2d_backward(
            a["dy"], a["x"], a["w"], case.params["stride"], case.params["padding"]
        )

    def parts(case):
        a, s, p = case.arrays, case.params["stride"], case.params["padding"]
        dy, x, w = a["dy"], a["x"], a["w"]
        win = geometry.window(x.shape[2:], w.shape[2:], s, p)
        pads = win.pads

        def naive_part(k, **kw):
            dyy, xx, ww = kw.get("dy", dy), kw.get("x", x), kw.get("w", w)
            return lambda: naive.conv2d_backward(dyy, xx, ww, s, pads)[k]

        def locate_dx(pos):
            rows, cols = _readers(win, pos[2], pos[3])
            if not rows or not cols:
                return "no output window reads this input cell (its gradient is 0)"
            return f"input cell read by output rows {_span(rows)}, cols {_span(cols)}"

        def locate_dw(pos):
            return (
                f"weight (filter {pos[0]}, map {pos[1]}, u={pos[2]}, v={pos[3]}) "
                f"= sum over n, i, j of dy[n, {pos[0]}, i, j] * x_padded[n, {pos[1]}, "
                f"i*s + {pos[2]}, j*s + {pos[3]}]"
            )

        flipped = w[:, :, ::-1, ::-1]
        hyp_dx = [
            (
                "dx used the kernel without flipping it: dx is the full correlation of dy "
                "with the kernel rotated by 180 degrees",
                naive_part(0, w=flipped),
            )
        ]
        hyp_dw = [
            (
                "dw is flipped by 180 degrees",
                lambda: naive.conv2d_backward(dy, x, w, s, pads)[1][:, :, ::-1, ::-1],
            )
        ]
        hyp_db = [
            (
                "db is not summed over the batch and positions: db[f] = sum_{n,i,j} dy[n, f, i, j]",
                lambda: dy.sum(axis=(2, 3)),
            ),
            (
                "db comes from the first image only: db[f] = sum over the batch n and "
                "positions i, j of dy[n, f, i, j]",
                lambda: dy[0].sum(axis=(1, 2)) if dy.shape[0] > 1 else None,
            ),
        ]
        return [
            ("dx", hyp_dx, locate_dx, None),
            ("dw", hyp_dw, locate_dw, None),
            ("db", hyp_db, None, None),
        ]

    return _run(
        "check_conv2d_backward", cases, student_fn, expected, parts, max_positions, rtol, atol
    )


# ---- output size ------------------------------------------------------------------------
def _output_size_mistakes(n, f, s, p):
    """(mistake, what a function with that mistake returns) for one case; None where the
    mistake would give the right answer or does not apply."""
    pb, pa = geometry.pad_amounts(n, f, s, p)
    out = [
        (
            "forgot the + 1 in floor((n + p - f) / s) + 1",
            None if p == "same" else (n + pb + pa - f) // s,
        ),
        (
            "the padding is ignored: the size uses n + p_before + p_after (with SAME, it "
            "is ceil(n / s))",
            None if p == "valid" else (n - f) // s + 1,
        ),
        ("rounded up: the formula uses floor((n + p - f) / s)", -(-(n + pb + pa - f) // s) + 1),
        (
            "SAME gives ceil(n / s), not n, when the stride is above 1",
            n if p == "same" and s > 1 else None,
        ),
    ]
    return out


def check_output_size(student_fn: Callable[..., Any]) -> CheckReport:
    """Compare ``student_fn(n, f, s, padding) -> int`` with ``cnnsim.geometry.output_size``
    on the lecture's sizes (5x7 -> 3x4, AlexNet's 227 -> 55 and 224 -> 56, LeNet-5's 32 ->
    28) and a few more. ``padding`` is "valid", "same" or an int.

    A mistake is named from the whole table, not one case alone: when two mistakes give
    the same wrong number in a case (ignoring a padding of 1 at stride 2 loses exactly
    one, like forgetting the + 1), the one that explains the most failing cases wins."""
    table: list[tuple[int, int, int, Padding]] = [
        (5, 3, 2, "same"),
        (7, 3, 2, "same"),
        (227, 11, 4, "valid"),
        (224, 11, 4, "same"),
        (32, 5, 1, "valid"),
        (28, 2, 2, "valid"),
        (7, 3, 2, "valid"),
        (8, 3, 3, "valid"),
        (5, 3, 1, 1),
        (6, 4, 2, 1),
        (13, 3, 2, "valid"),
        (5, 2, 2, "same"),
    ]
    report = CheckReport("check_output_size")
    failing = []
    for n, f, s, p in table:
        case = Case(f"n={n}, f={f}, s={s}, padding={p!r}", {}, {})
        want = geometry.output_size(n, f, s, p)
        try:
            got = student_fn(n, f, s, p)
        except Exception as e:  # noqa: BLE001
            report.results.append(CaseResult(case, "ERROR", [f"raised {type(e).__name__}: {e}"]))
            continue
        if got == want:
            report.results.append(CaseResult(case, "ok"))
            continue
        matches = [
            m
            for m, v in _output_size_mistakes(n, f, s, p)
            if v is not None and v != want and got == v
        ]
        pb, pa = geometry.pad_amounts(n, f, s, p)
        lines = [f"expected {want}, got {got!r}"]
        res = CaseResult(case, "FAIL", lines)
        failing.append((res, matches))
        lines.append(
            f"formula: floor(({n} + {pb} + {pa} - {f}) / {s}) + 1 = {want}"
            if p != "same"
            else f"formula: ceil({n} / {s}) = {want}"
        )
        report.results.append(res)
    score: dict[str, int] = {}
    for _, matches in failing:
        for m in matches:
            score[m] = score.get(m, 0) + 1
    for res, matches in failing:
        if matches:
            res.mistake = max(matches, key=lambda m: score[m])  # first on ties
            res.lines.insert(1, f"likely mistake: {res.mistake}")
    return report
