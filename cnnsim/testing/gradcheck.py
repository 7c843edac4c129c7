"""Central finite differences in float64, with a readable report of the worst entries.

    report = gradcheck(f, x, w, b, grads=(dx, dw, db))
    assert report.ok, report

``f(*inputs)`` returns a scalar (or an array, reduced as ``sum(f * probe)`` with a fixed
random ``probe``, so every output entry matters). Each input is perturbed entry by entry:
``(f(x + h e_k) - f(x - h e_k)) / 2h``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import numpy as np

from ..typing import Array


@dataclass
class GradReport:
    ok: bool
    max_rel_error: float
    worst: list = field(default_factory=list)  # (input index, position, analytic, numeric)

    def __str__(self):
        head = f"gradcheck {'passed' if self.ok else 'FAILED'}: max relative error {self.max_rel_error:.3g}"
        rows = [
            f"  input {i} at {pos}: analytic {a:.10g}, numeric {n:.10g}"
            for i, pos, a, n in self.worst
        ]
        return "\n".join([head] + rows)


def numeric_grad(
    f: Callable[..., Any], inputs: Sequence[Array], index: int, h: float = 1e-6
) -> Array:
    """d f / d inputs[index] by central differences (inputs are float64 arrays)."""
    x = inputs[index]
    g = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    for _ in it:
        pos = it.multi_index
        old = x[pos].copy()
        x[pos] = old + h
        fp = f(*inputs)
        x[pos] = old - h
        fm = f(*inputs)
        x[pos] = old
        g[pos] = (fp - fm) / (2 * h)
    return g


def gradcheck(
    fn: Callable[..., Any],
    *inputs: Array,
    grads: Sequence[Optional[Array]],
    probe_seed: int = 0,
    h: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-7,
    top: int = 5,
) -> GradReport:
    """Compare analytic ``grads`` (one per input, None to skip) with finite differences.

    ``fn(*inputs)`` may return an array: it is reduced against a fixed random probe, and the
    analytic gradients must then be those of ``sum(fn(*inputs) * probe)`` (use ``probe(fn, ...)``
    to get it). Inputs are cast to float64.
    """
    xs = [np.array(a, dtype=np.float64) for a in inputs]
    out = np.asarray(fn(*xs), dtype=np.float64)
    p = probe_for(out.shape, probe_seed)
    scalar = lambda *a: float(np.sum(np.asarray(fn(*a), dtype=np.float64) * p))
    worst, max_rel, ok = [], 0.0, True
    for i, g in enumerate(grads):
        if g is None:
            continue
        num = numeric_grad(scalar, xs, i, h)
        g = np.asarray(g, dtype=np.float64)
        if g.shape != num.shape:
            return GradReport(
                False, np.inf, [(i, f"shape {g.shape} vs {num.shape}", np.nan, np.nan)]
            )
        err = np.abs(g - num)
        rel = err / np.maximum(np.abs(num) + np.abs(g), 1e-12)
        bad = err > atol + rtol * np.abs(num)
        ok &= not bad.any()
        if rel.size:
            max_rel = max(max_rel, float(np.max(np.where(err > atol, rel, 0.0))))
            for k in np.argsort(err, axis=None)[::-1][:top]:
                pos = np.unravel_index(k, err.shape)
                if err[pos] > atol:
                    worst.append((i, tuple(int(t) for t in pos), float(g[pos]), float(num[pos])))
    return GradReport(bool(ok), max_rel, worst)


def probe_for(shape: Sequence[int], seed: int = 0) -> Array:
    """The fixed random weights ``gradcheck`` reduces array outputs with."""
    return np.random.default_rng(seed).standard_normal(shape)
