"""Batch normalization (Ioffe & Szegedy, 2015): per-channel statistics of the batch in
training, running averages at inference (formulas in ``cnnsim.functional.normalization``)."""

from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from .. import config
from .. import functional as F
from ..typing import Array, ConnectionsLike, StepLike, Term
from .base import Layer
from .describe import num
from .explain import explain_elementwise, same_position_terms


class BatchNorm(Layer):
    """Batch normalization per map (``(N, C, H, W)``) or per feature (``(N, D)``):

        y = gamma * (x - mean) / sqrt(var + eps) + beta

    Training uses the batch statistics and updates the running averages
    (``running = momentum * running + (1 - momentum) * batch``); inference uses the running ones.
    """

    kind = "BatchNorm"
    title = "Batch norm"

    @classmethod
    def explain(cls, step: StepLike, c: ConnectionsLike) -> None:
        """Inference: ``gamma (v - running_mean) / sqrt(running_var + eps) + beta``."""
        p = step.params
        eps = step.facts.get("eps", 1e-5)
        mean, var = float(p["running_mean"][c.map]), float(p["running_var"][c.map])
        g, bt = float(p["gamma"][c.map]), float(p["beta"][c.map])
        c.details.update(
            mean=mean, var=var, gamma=g, beta=bt, eps=eps, statistics="running (inference)"
        )
        explain_elementwise(step, c, lambda v: g * (v - mean) / np.sqrt(var + eps) + bt)
        c.details["x_hat"] = (c.sum - mean) / np.sqrt(var + eps)
        c.activation = None

    @classmethod
    def grad_terms(cls, step: StepLike, k: int, sample: int, pos: Tuple[int, ...]) -> list[Term]:
        """Inference: ``dy/dx = gamma / sqrt(running_var + eps)``."""
        p, m = step.params, pos[0]
        eps = step.facts.get("eps", 1e-5)
        g = float(p["gamma"][m]) / np.sqrt(float(p["running_var"][m]) + eps)
        return same_position_terms(step, k, sample, pos, g, "gamma / sqrt(var + eps)")

    @classmethod
    def describe(cls, c: ConnectionsLike, top: Optional[int] = 10, width: int = 100) -> list[str]:
        """x, the mean and variance used (running averages at inference), gamma, beta."""
        d = c.details
        return [
            f"  y = gamma * (x - mean) / sqrt(var + eps) + beta, map {c.map}; statistics "
            f"used: {d['statistics']} averages",
            f"  x = {num(c.sum)}, mean = {num(d['mean'])}, var = {num(d['var'])}, "
            f"eps = {num(d['eps'])}",
            f"  (x - mean) / sqrt(var + eps) = {num(d['x_hat'])}",
            f"  gamma {num(d['gamma'])} * {num(d['x_hat'])} + beta {num(d['beta'])} = "
            f"{num(c.output)}",
        ]

    def __init__(
        self, momentum: float = 0.9, eps: float = 1e-5, name: Optional[str] = None
    ) -> None:
        super().__init__(name)
        self.momentum, self.eps = float(momentum), float(eps)

    def _build_params(self, input_shape, rng):
        c = input_shape[0]
        self.params = {
            "gamma": np.ones(c, dtype=config.dtype),
            "beta": np.zeros(c, dtype=config.dtype),
        }
        self._alloc_grads()
        self.buffers = {
            "running_mean": np.zeros(c, dtype=config.dtype),
            "running_var": np.ones(c, dtype=config.dtype),
        }

    def forward(self, x: Array, training: bool = False) -> Array:
        y, self._cache = F.batch_norm(
            x,
            self.params["gamma"],
            self.params["beta"],
            self.buffers["running_mean"],
            self.buffers["running_var"],
            training,
            self.momentum,
            self.eps,
        )
        return y

    def backward(self, dy: Array) -> Array:
        dx, dg, db = F.batch_norm_backward(dy, self._cache)
        self.grads["gamma"], self.grads["beta"] = dg, db
        return dx

    def macs(self) -> int:
        return int(np.prod(self.input_shape))  # one multiply-add per element at inference

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "momentum": self.momentum, "eps": self.eps}
