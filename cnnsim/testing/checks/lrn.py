"""Checker for a student's local response normalization (AlexNet's LRN)."""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import numpy as np

from ... import functional as F
from .report import ATOL, RTOL, Case, CheckReport, _run


# ---- LRN --------------------------------------------------------------------------------
class _LRNCase(Case):
    def call_args(self):
        p = self.params
        return self.arrays["x"], p["r"], p["k"], p["alpha"], p["beta"]


def lrn_cases(seed: int = 0) -> list[Case]:
    """AlexNet's constants, and strong normalization (large alpha) so every mistake shows."""
    rng = np.random.default_rng(seed)
    ramp = np.arange(1, 9, dtype=np.float64).reshape(1, 8, 1, 1) * np.ones((1, 8, 2, 2))
    return [
        _LRNCase(
            "8 maps, r=5: first and last maps have clipped windows",
            {"x": ramp},
            {"r": 5, "k": 1.0, "alpha": 0.1, "beta": 0.75},
        ),
        _LRNCase(
            "AlexNet constants (r=5, k=2, alpha=1e-4, beta=0.75), large activations",
            {"x": 30 * rng.standard_normal((2, 7, 3, 3))},
            {"r": 5, "k": 2.0, "alpha": 1e-4, "beta": 0.75},
        ),
        _LRNCase(
            "r=3, strong normalization",
            {"x": rng.standard_normal((1, 6, 3, 4))},
            {"r": 3, "k": 1.0, "alpha": 0.5, "beta": 0.75},
        ),
    ]


def _lrn_general(x, lo_off, hi_off, k, alpha, beta, square=True):
    c = x.shape[1]
    y = np.empty_like(x)
    for i in range(c):
        lo, hi = max(0, i + lo_off), min(c - 1, i + hi_off)
        v = x[:, lo : hi + 1]
        s = k + alpha * np.sum(v * v if square else v, axis=1)
        y[:, i] = x[:, i] * s ** (-beta)
    return y


def check_lrn(
    student_fn: Callable[..., Any],
    cases: Optional[Sequence[Case]] = None,
    seed: int = 0,
    max_positions: int = 5,
    rtol: float = RTOL,
    atol: float = ATOL,
) -> CheckReport:
    """Compare ``student_fn(x, r, k, alpha, beta) -> y`` with ``cnnsim.functional.lrn``:
    ``b_i = a_i (k + alpha * sum_{j=max(0, i-r//2)}^{min(i+r//2, C-1)} a_j^2)^(-beta)``."""
    cases = lrn_cases(seed) if cases is None else cases

    def expected(case):
        p = case.params
        return F.lrn(case.arrays["x"], p["r"], p["k"], p["alpha"], p["beta"])

    def parts(case):
        x, p = case.arrays["x"], case.params
        r, k, a, b = p["r"], p["k"], p["alpha"], p["beta"]
        h = r // 2
        c = x.shape[1]
        hyps = [
            (
                f"the window spans 2r+1 = {2 * r + 1} maps: it should be j = i - r//2 .. i + r//2 "
                f"({2 * h + 1} maps)",
                lambda: _lrn_general(x, -r, r, k, a, b),
            ),
            (
                "alpha was divided by r (PyTorch's LocalResponseNorm does that; the lecture's "
                "formula does not)",
                lambda: _lrn_general(x, -h, h, k, a / r, b),
            ),
            (
                "the window is not centred on map i: it should run from i - r//2 to i + r//2",
                lambda: _lrn_general(x, 0, r - 1, k, a, b),
            ),
            (
                "the exponent sign: the base is raised to -beta (a division), not +beta",
                lambda: _lrn_general(x, -h, h, k, a, -b),
            ),
            (
                "the activations are not squared in the sum",
                lambda: _lrn_general(x, -h, h, k, a, b, square=False),
            ),
        ]

        def locate(pos):
            i = pos[1]
            lo, hi = max(0, i - h), min(c - 1, i + h)
            clip = " (clipped at the edge)" if (i - h < 0 or i + h > c - 1) else ""
            return f"sums a_j^2 over maps {lo}..{hi}{clip} at row {pos[2]}, col {pos[3]}"

        def pattern(pos):
            chans = {p[1] for p in pos}
            edge = {i for i in range(c) if i - h < 0 or i + h > c - 1}
            if chans and chans <= edge:
                return (
                    "only maps near the first/last map differ: check the clipping "
                    "max(0, i - r//2) .. min(i + r//2, C - 1)"
                )
            return None

        return [("y", hyps, locate, pattern)]

    return _run("check_lrn", cases, student_fn, expected, parts, max_positions, rtol, atol)
