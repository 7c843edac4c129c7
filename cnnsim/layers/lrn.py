"""Local response normalization across maps (AlexNet after C1 and C3; GoogLeNet).

    b_i = a_i (k + alpha * sum_{j=max(0, i - r//2)}^{min(i + r//2, f_n - 1)} a_j^2)^(-beta)

TensorFlow: ``depth_radius = r // 2``, ``bias = k``; PyTorch: ``LocalResponseNorm(size=r,
alpha=alpha * r, beta=beta, k=k)`` (PyTorch divides alpha by the window size).
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from .. import functional as F
from ..typing import Array, ConnectionsLike, Maps, Shape, StepLike, Term
from .base import ALL, Layer
from .describe import num, source
from .explain import term


class LRN(Layer):
    kind = "LRN"
    explain_form = "maps"

    @classmethod
    def input_maps(cls, step: StepLike, maps: Maps, k: int = 0) -> Maps:
        """Map i reads maps ``max(0, i - r//2) .. min(i + r//2, C - 1)``."""
        if maps is ALL:
            return ALL
        r, n = step.facts["r"], step.input_shape[0]
        return {j for i in maps for j in range(max(0, i - r // 2), min(i + r // 2, n - 1) + 1)}

    @classmethod
    def explain(cls, step: StepLike, c: ConnectionsLike) -> None:
        """The maps ``j = max(0, i - r//2) .. min(i + r//2, C - 1)`` at (row, col); ``sum``
        is the normalizer ``s = k + alpha sum a_j^2``, ``y = a_i s^-beta``."""
        f = step.facts
        r, k, alpha, beta = f["r"], f["k"], f["alpha"], f["beta"]
        x = step.x[c.sample, :, c.row, c.col].astype(np.float64)
        chans = sorted(cls.input_maps(step, {c.map}))
        a = x[chans]
        s = k + alpha * float((a * a).sum())
        c.channels, c.inputs, c.rows, c.cols = chans, a, [c.row], [c.col]
        c.sum = s
        c.details.update(
            normalizer=s,
            formula="b_i = a_i (k + alpha sum a_j^2)^(-beta)",
            r=r,
            k=k,
            alpha=alpha,
            beta=beta,
            a=float(x[c.map]),
        )
        c.output = float(x[c.map] * s ** (-beta))
        c.scale = abs(c.output)
        c.details.update(
            j_low=chans[0],
            j_high=chans[-1],
            a_j=a.tolist(),
            a_j_squared=(a * a).tolist(),
            sum_squares=float((a * a).sum()),
            power=float(s ** (-beta)),
        )

    @classmethod
    def grad_terms(cls, step: StepLike, k: int, sample: int, pos: Tuple[int, ...]) -> list[Term]:
        """Map j is read by every b_i with |i - j| <= r//2:
        ``db_i/da_j = [i = j] s_i^-beta - 2 alpha beta a_i a_j s_i^(-beta-1)``."""
        f = step.facts
        r, kk, alpha, beta = f["r"], f["k"], f["alpha"], f["beta"]
        j, row, col = pos
        a = step.x[sample, :, row, col].astype(np.float64)
        dy = np.asarray(step.grad_y[sample], dtype=np.float64)
        n = a.size
        out = []
        for i in range(max(0, j - r // 2), min(j + r // 2, n - 1) + 1):
            lo, hi = max(0, i - r // 2), min(i + r // 2, n - 1)
            s = kk + alpha * float((a[lo : hi + 1] ** 2).sum())
            d = (s**-beta if i == j else 0.0) - 2 * alpha * beta * a[i] * a[j] * s ** (-beta - 1)
            out.append(
                term(
                    f"{step.name} map {i} ({row},{col})",
                    d,
                    dy[i, row, col],
                    "own map: scale and normaliser" if i == j else "normaliser",
                )
            )
        return out

    @classmethod
    def describe(cls, c: ConnectionsLike, top: Optional[int] = 10, width: int = 100) -> list[str]:
        """The lecture's formula with the numbers in it."""
        d = c.details
        lines = [
            f"  b_i = a_i (k + alpha * sum_j a_j^2)^(-beta), i = map {c.map}, r = {d['r']}, "
            f"k = {num(d['k'])}, alpha = {num(d['alpha'])}, beta = {num(d['beta'])}",
            f"  a_i = {num(d['a'])} (map {c.map} of {source(c)} at row {c.row}, col {c.col})",
            f"  window of maps j = {d['j_low']}..{d['j_high']} "
            f"(max(0, i - r//2) .. min(i + r//2, C - 1)):",
        ]
        shown = len(c.channels) if top is None else min(len(c.channels), max(top, 5))
        for j, a, a2 in list(zip(c.channels, d["a_j"], d["a_j_squared"]))[:shown]:
            lines.append(
                f"    j = {j:4d}: a_j = {num(a, 10)}   a_j^2 = {num(a2, 10)}"
                + ("   <- the neuron's own map" if j == c.map else "")
            )
        if shown < len(c.channels):
            lines.append(f"    ... {len(c.channels) - shown} more maps (--all)")
        lines += [
            f"  sum a_j^2 = {num(d['sum_squares'])}",
            f"  k + alpha * sum = {num(d['k'])} + {num(d['alpha'])} * {num(d['sum_squares'])}"
            f" = {num(d['normalizer'])}",
            f"  ({num(d['normalizer'])})^(-{num(d['beta'])}) = {num(d['power'])}",
            f"  b_i = {num(d['a'])} * {num(d['power'])} = {num(c.output)}",
        ]
        return lines

    def __init__(
        self,
        r: int = 5,
        k: float = 2.0,
        alpha: float = 1e-4,
        beta: float = 0.75,
        name: Optional[str] = None,
    ) -> None:
        super().__init__(name)
        self.r, self.k, self.alpha, self.beta = int(r), float(k), float(alpha), float(beta)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 3:
            raise ValueError(
                f"layer {self.path!r} (LRN): expected input maps (C, H, W), got shape {input_shape}"
            )
        return input_shape

    def forward(self, x: Array, training: bool = False) -> Array:
        self._x = x
        return F.lrn(x, self.r, self.k, self.alpha, self.beta)

    def backward(self, dy: Array) -> Array:
        return F.lrn_backward(dy, self._x, self.r, self.k, self.alpha, self.beta)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "r": self.r, "k": self.k, "alpha": self.alpha, "beta": self.beta}
