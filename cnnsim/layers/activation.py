"""Stand-alone activation layers (the same functions Conv2D/Dense can fuse)."""

from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from .. import functional as F
from ..typing import Array, ConnectionsLike, StepLike, Term
from .base import Layer
from .describe import num, source
from .explain import act64, act_slope64, explain_elementwise, fmt_pos, term


class Activation(Layer):
    """``Activation("relu")`` etc.; see ``cnnsim.functional.ACTIVATIONS``."""

    kind = "Activation"

    @classmethod
    def explain(cls, step: StepLike, c: ConnectionsLike) -> None:
        """The function applied to the same position of the input."""
        all_z = step.x[c.sample].astype("float64") if step.activation == "softmax" else None
        explain_elementwise(step, c, lambda v: act64(step.activation, v, all_z))

    @classmethod
    def grad_terms(cls, step: StepLike, k: int, sample: int, pos: Tuple[int, ...]) -> list[Term]:
        """``f'(x) dL/dy`` (softmax: every output reads every input,
        ``dy_o/dx_c = y_o ([o = c] - y_c)``)."""
        dy = np.asarray(step.grad_y[sample], dtype=np.float64)
        y = np.asarray(step.y[sample], dtype=np.float64)
        if step.activation == "softmax":
            c = pos[0]
            return [
                term(f"{step.name} unit {o}", y[o] * ((o == c) - y[c]), dy[o], "softmax")
                for o in range(y.size)
            ]
        p = tuple(pos)
        return [
            term(
                f"{step.name} {fmt_pos(pos)}",
                act_slope64(step.activation, y[p]),
                dy[p],
                f"{step.activation}' at this input",
            )
        ]

    @classmethod
    def describe(cls, c: ConnectionsLike, top: Optional[int] = 10, width: int = 100) -> list[str]:
        """``f(x) = y`` at the same position."""
        return [
            f"  x = {num(c.sum)} (same position of {source(c)})",
            f"  {c.activation}({num(c.sum)}) = {num(c.output)}",
        ]

    def __init__(self, activation: Optional[str], name: Optional[str] = None) -> None:
        super().__init__(name or activation)
        if activation not in F.ACTIVATIONS:
            raise ValueError(
                f"Activation {self.name!r}: unknown activation {activation!r}; "
                f"expected one of {F.ACTIVATIONS}"
            )
        self.activation = activation

    def forward(self, x: Array, training: bool = False) -> Array:
        y = F.activation_forward(self.activation, x)
        self._cache = (x, y)
        return y

    def backward(self, dy: Array) -> Array:
        x, y = self._cache
        return F.activation_backward(self.activation, dy, x, y)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "activation": self.activation}


class LeakyReLU(Layer):
    """``y = x if x > 0 else alpha * x`` (ONNX's LeakyRelu, default alpha 0.01)."""

    kind = "LeakyReLU"

    @classmethod
    def explain(cls, step: StepLike, c: ConnectionsLike) -> None:
        """The function applied to the same position of the input."""
        a = float((step.facts or {}).get("alpha", 0.01))
        explain_elementwise(step, c, lambda v: v if v > 0 else a * v)

    def __init__(self, alpha: float = 0.01, name: Optional[str] = None) -> None:
        super().__init__(name or "leaky_relu")
        self.alpha = float(alpha)

    def forward(self, x: Array, training: bool = False) -> Array:
        self._x = x
        return F.leaky_relu(x, self.alpha)

    def backward(self, dy: Array) -> Array:
        return F.leaky_relu_backward(dy, self._x, self.alpha)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "alpha": self.alpha}


def ReLU(name: Optional[str] = None) -> Activation:
    return Activation("relu", name)


def Sigmoid(name: Optional[str] = None) -> Activation:
    return Activation("sigmoid", name)


def Tanh(name: Optional[str] = None) -> Activation:
    return Activation("tanh", name)


def ScaledTanh(name: Optional[str] = None) -> Activation:
    return Activation("scaled_tanh", name)


def Softmax(name: Optional[str] = None) -> Activation:
    return Activation("softmax", name)
