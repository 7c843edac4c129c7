"""Checkers for a student's max and average pooling."""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import numpy as np

from ... import functional as F
from ... import geometry
from .. import naive
from .report import ATOL, RTOL, Case, CheckReport, _alt_strides, _run, _window_pattern, _window_text


# ---- pooling -------------------------------------------------------------------------------
class _PoolCase(Case):
    def call_args(self):
        p = self.params
        return self.arrays["x"], p["size"], p["stride"], p["padding"]


def pool_cases(seed: int = 0) -> list[Case]:
    """The lecture's 2x2 pooling (75% dropped), overlapping 3x3/2 pooling (AlexNet), SAME
    padding on odd inputs, all-negative inputs (padding must not win a max), ties."""
    rng = np.random.default_rng(seed)

    def rnd(*shape):
        return np.round(rng.standard_normal(shape), 2)

    lecture = np.array(
        [[[[1.0, 3.0, 2.0, 1.0], [4.0, 2.0, 0.0, 1.0], [5.0, 1.0, 3.0, 2.0], [0.0, 2.0, 4.0, 6.0]]]]
    )
    negative = -np.abs(rnd(1, 2, 5, 5)) - 0.1
    ties = np.array([[[[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [2.0, 2.0, 2.0]]]])
    return [
        _PoolCase(
            "lecture 4x4, 2x2 pooling, stride 2 (keeps 1 input in 4)",
            {"x": lecture},
            {"size": 2, "stride": 2, "padding": "valid"},
        ),
        _PoolCase(
            "stride=None means stride = size",
            {"x": rnd(1, 2, 6, 6)},
            {"size": 3, "stride": None, "padding": "valid"},
        ),
        _PoolCase(
            "overlapping 3x3 stride 2 (AlexNet)",
            {"x": rnd(2, 2, 7, 7)},
            {"size": 3, "stride": 2, "padding": "valid"},
        ),
        _PoolCase(
            "SAME on a 5x5 input: padding at the bottom/right",
            {"x": rnd(1, 3, 5, 5) + 1.0},
            {"size": 2, "stride": 2, "padding": "same"},
        ),
        _PoolCase(
            "all negative inputs, padding 1",
            {"x": negative},
            {"size": 3, "stride": 2, "padding": 1},
        ),
        _PoolCase("ties", {"x": ties}, {"size": 2, "stride": 1, "padding": "valid"}),
        _PoolCase(
            "rectangular 2x3 window, stride (2, 1)",
            {"x": rnd(1, 1, 6, 7)},
            {"size": (2, 3), "stride": (2, 1), "padding": "valid"},
        ),
    ]


def _pool_window(case):
    p = case.params
    return geometry.window(case.arrays["x"].shape[2:], p["size"], p["stride"], p["padding"])


def _pool_padded_zero(x, size, stride, padding, reduce):
    """Pooling that (wrongly) treats padded cells as real zeros."""
    win = geometry.window(x.shape[2:], size, stride, padding)
    t, b, l, r = win.pads
    xp = np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)))
    kh, kw = win.kernel
    sh, sw = win.stride
    oh, ow = win.out_hw
    y = np.empty(x.shape[:2] + (oh, ow))
    for i in range(oh):
        for j in range(ow):
            y[:, :, i, j] = reduce(
                xp[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw], axis=(2, 3)
            )
    return y


def _pool_hypotheses(case, kind):
    x, p = case.arrays["x"], case.params
    size, stride, padding = p["size"], p["stride"], p["padding"]
    ref = naive.max_pool2d if kind == "max" else naive.avg_pool2d
    win = _pool_window(case)
    hyps = []
    if any(win.pads):
        if kind == "avg":
            hyps.append(
                (
                    "padded cells are counted in the average: divide by the number of "
                    "real input cells in the window, not by the window size",
                    lambda: _pool_padded_zero(x, size, stride, padding, np.mean),
                )
            )
        else:
            hyps.append(
                (
                    "padded cells took part in the max as zeros: padding must never win "
                    "(only real input cells are candidates)",
                    lambda: _pool_padded_zero(x, size, stride, padding, np.max),
                )
            )
        hyps.append(
            (
                "the padding is missing: your output equals padding='valid'",
                lambda: ref(x, size, stride, "valid"),
            )
        )
    if stride is None:
        hyps.append(
            (
                "stride=None was taken as stride 1; it means stride = pool size",
                lambda: ref(x, size, 1, padding),
            )
        )
    for alt in _alt_strides(win.stride):
        hyps.append(
            (
                f"the stride is off: your output equals stride "
                f"{alt[0] if alt[0] == alt[1] else alt} instead of "
                f"{win.stride[0] if win.stride[0] == win.stride[1] else win.stride}",
                lambda alt=alt: ref(x, size, alt, win.pads),
            )
        )
    other = naive.avg_pool2d if kind == "max" else naive.max_pool2d
    hyps.append(
        (
            f"this is {'average' if kind == 'max' else 'max'} pooling",
            lambda: other(x, size, stride, padding),
        )
    )
    return hyps


def _check_pool(function, kind, student_fn, cases, seed, max_positions, rtol, atol):
    cases = pool_cases(seed) if cases is None else cases
    fwd = F.max_pool2d if kind == "max" else F.avg_pool2d

    def expected(case):
        p = case.params
        return fwd(case.arrays["x"], p["size"], p["stride"], p["padding"])

    def parts(case):
        win = _pool_window(case)
        return [
            (
                "y",
                _pool_hypotheses(case, kind),
                lambda pos: _window_text(win, pos[2], pos[3], f"map {pos[1]}"),
                _window_pattern(win),
            )
        ]

    return _run(function, cases, student_fn, expected, parts, max_positions, rtol, atol)


def check_max_pool2d(
    student_fn: Callable[..., Any],
    cases: Optional[Sequence[Case]] = None,
    seed: int = 0,
    max_positions: int = 5,
    rtol: float = RTOL,
    atol: float = ATOL,
) -> CheckReport:
    """Compare ``student_fn(x, size, stride, padding) -> y`` with
    ``cnnsim.functional.max_pool2d``: ``x (N, C, H, W) -> y (N, C, H_out, W_out)``."""
    return _check_pool(
        "check_max_pool2d", "max", student_fn, cases, seed, max_positions, rtol, atol
    )


def check_avg_pool2d(
    student_fn: Callable[..., Any],
    cases: Optional[Sequence[Case]] = None,
    seed: int = 0,
    max_positions: int = 5,
    rtol: float = RTOL,
    atol: float = ATOL,
) -> CheckReport:
    """Compare ``student_fn(x, size, stride, padding) -> y`` with
    ``cnnsim.functional.avg_pool2d`` (mean over the real cells only)."""
    return _check_pool(
        "check_avg_pool2d", "avg", student_fn, cases, seed, max_positions, rtol, atol
    )
