"""Dropout: a layer that behaves differently in training (batch norm: ``normalization``)."""

from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from .. import functional as F
from ..typing import Array, ConnectionsLike, StepLike, Term
from .base import Layer
from .describe import num, source
from .explain import explain_elementwise, same_position_terms


class Dropout(Layer):
    """Inverted dropout: in training keep each unit with probability ``1 - rate`` and scale
    by ``1 / (1 - rate)``; identity at inference. Seeded: the mask stream is drawn from a
    Generator created at build time from the network's seed."""

    kind = "Dropout"
    keeps_range = True

    @classmethod
    def explain(cls, step: StepLike, c: ConnectionsLike) -> None:
        """At inference the identity."""
        explain_elementwise(step, c, lambda v: v)
        c.details["rate"] = float(step.facts.get("rate", 0.0))
        c.activation = None

    @classmethod
    def grad_terms(cls, step: StepLike, k: int, sample: int, pos: Tuple[int, ...]) -> list[Term]:
        """Inference: the identity, the gradient passes unchanged."""
        return same_position_terms(step, k, sample, pos, 1.0, "kept (inference)")

    @classmethod
    def describe(cls, c: ConnectionsLike, top: Optional[int] = 10, width: int = 100) -> list[str]:
        """Kept or dropped, and the scale (inference: every unit kept, scale 1)."""
        rate = c.details["rate"]
        return [
            f"  x = {num(c.sum)} (same position of {source(c)})",
            f"  inference: dropout is off, the unit is kept and scaled by 1: output "
            f"{num(c.output)}",
            f"  (in training each unit is kept with probability {num(1 - rate)} and scaled "
            f"by 1/(1 - {num(rate)}) = {num(1 / (1 - rate))}, or dropped to 0)",
        ]

    def __init__(self, rate: float = 0.5, name: Optional[str] = None) -> None:
        super().__init__(name)
        self.rate = float(rate)
        if not 0.0 <= self.rate < 1.0:
            raise ValueError(f"Dropout {self.name!r}: rate must be in [0, 1), got {rate!r}")

    def _build_params(self, input_shape, rng):
        self.rng = np.random.default_rng(rng.integers(2**63))

    def reseed(self, seed: Optional[int]) -> None:
        self.rng = np.random.default_rng(seed)

    def forward(self, x: Array, training: bool = False) -> Array:
        y, self._mask = F.dropout(x, self.rate, self.rng, training)
        return y

    def backward(self, dy: Array) -> Array:
        return F.dropout_backward(dy, self._mask)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "rate": self.rate}
