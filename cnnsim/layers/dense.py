"""Dense (fully connected) and Flatten. ``x (N, D_in) -> y = act(x @ w + b) (N, D_out)``."""

from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from .. import config
from .. import functional as F
from ..functional._check import positive_int
from ..typing import Array, Box, ConnectionsLike, Maps, Shape, StepLike, Term
from .base import ALL, Layer
from .describe import act_line, num, source, top_products
from .explain import act64, dz_of, same_position_terms, term
from .initializers import DEFAULT_FOR_ACTIVATION, init_weights, parse_init


class Dense(Layer):
    """``Dense(units, activation=None)``, ``w (D_in, D_out)``, ``b (D_out,)``.

    With ``activation="softmax"`` on the output layer, training fuses the softmax with the
    cross-entropy loss (``emit_logits`` is set by the trainer): numerically stable.
    """

    kind = "Dense"
    skips_input_grad = True
    field = "global"
    title = "Fully connected"
    explain_form = "vector"

    @classmethod
    def explain(cls, step: StepLike, c: ConnectionsLike) -> None:
        """Every input with its weight ``w[:, j]``; products ``x_k w[k, j]``."""
        x = step.x[c.sample].astype(np.float64)
        w = step.params["w"].astype(np.float64)
        b = step.params["b"].astype(np.float64) if "b" in step.params else np.zeros(w.shape[1])
        prod = x * w[:, c.map]
        z = float(prod.sum() + b[c.map])
        c.inputs, c.weights, c.products, c.bias, c.sum = x, w[:, c.map], prod, float(b[c.map]), z
        all_z = x @ w + b if step.activation == "softmax" else None
        c.output = act64(step.activation, z, all_z)
        c.scale = float(np.abs(prod).sum() + abs(b[c.map]))
        if all_z is not None:
            e = np.exp(all_z - all_z.max())
            c.details.update(
                logits=all_z.tolist(),
                shift=float(all_z.max()),
                exp=e.tolist(),
                normalizer=float(e.sum()),
                probabilities=(e / e.sum()).tolist(),
                prediction=int(np.argmax(all_z)),
            )

    @classmethod
    def grad_terms(cls, step: StepLike, k: int, sample: int, pos: Tuple[int, ...]) -> list[Term]:
        """``dL/dx[d] = sum_j w[d, j] dL/dz[j]``."""
        dz = dz_of(step, sample)
        w = step.params["w"]
        return [
            term(f"{step.name} unit {j}", w[pos[0], j], dz[j], f"w[{pos[0]},{j}]")
            for j in range(w.shape[1])
        ]

    @classmethod
    def weight_of(cls, c: ConnectionsLike, k: int) -> Optional[tuple[int, ...]]:
        """Product k is ``x_k w[k, map]``."""
        return (int(k), c.map)

    @classmethod
    def weight_grad_terms(cls, step: StepLike, index: Tuple[int, ...]) -> list[Term]:
        """``dL/dw[d, j] = sum_n x[n, d] dL/dz[n, j]``."""
        d, j = index
        return [
            term(
                f"input {d} -> unit {j}" + (f" sample {n}" if n else ""),
                step.x[n, d],
                dz_of(step, n)[j],
            )
            for n in range(step.y.shape[0])
        ]

    @classmethod
    def describe(cls, c: ConnectionsLike, top: Optional[int] = 10, width: int = 100) -> list[str]:
        """The largest contributions x * w (top ``top``, None: all), the rest in one line,
        the bias, the activation; a softmax output: logits, exp, normaliser, probability."""
        lines = top_products(c, lambda i: f"input {i}", top)
        lines.append(
            f"  z = sum of products {num(c.sum - c.bias)} + bias {num(c.bias)} = {num(c.sum)}"
        )
        d = c.details
        if "logits" not in d:
            return lines + act_line(c, c.sum)
        lines.append(
            f"  softmax over the {len(d['logits'])} units (logits shifted by their "
            f"max {num(d['shift'])} so exp cannot overflow):"
        )
        for j, (z, e, q) in enumerate(zip(d["logits"], d["exp"], d["probabilities"])):
            if (
                top is not None
                and len(d["logits"]) > 20
                and j != c.map
                and j not in np.argsort(d["logits"])[-5:]
            ):
                continue
            lines.append(
                f"    unit {j:4d}: logit {num(z, 9)}  exp(logit - max) {num(e, 9)}  "
                f"p = {num(q, 9)}" + ("   <- this neuron" if j == c.map else "")
            )
        lines.append(
            f"  normaliser sum exp = {num(d['normalizer'])}; p = {num(d['exp'][c.map])}"
            f" / {num(d['normalizer'])} = {num(c.output)}"
        )
        lines.append(f"  prediction: class {d['prediction']} (largest probability)")
        return lines

    def __init__(
        self,
        units: int,
        activation: Optional[str] = None,
        use_bias: bool = True,
        init: Optional[str] = None,
        name: Optional[str] = None,
    ) -> None:
        super().__init__(name)
        self.units = positive_int(units, "units", f"Dense {self.name!r}")
        self.activation = activation if activation not in (None, "linear") else None
        if self.activation is not None and self.activation not in F.ACTIVATIONS:
            raise ValueError(
                f"Dense {self.name!r}: unknown activation {activation!r}; "
                f"expected one of {F.ACTIVATIONS}"
            )
        self.use_bias = use_bias
        self.init = (
            parse_init(init, f"Dense {self.name!r}: init")
            if init
            else DEFAULT_FOR_ACTIVATION.get(self.activation, "glorot")
        )
        self.emit_logits = False

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 1:
            raise ValueError(
                f"layer {self.path!r} (Dense): expected a vector input (D,), got "
                f"shape {input_shape}; put a Flatten layer before it"
            )
        return (self.units,)

    def _build_params(self, input_shape, rng):
        d = input_shape[0]
        self.params = {
            "w": init_weights(self.init, (d, self.units), d, self.units, rng, config.dtype)
        }
        if self.use_bias:
            self.params["b"] = np.zeros(self.units, dtype=config.dtype)
        self._alloc_grads()

    def _act(self):
        if self.activation is None or (self.emit_logits and self.activation == "softmax"):
            return "linear"
        return self.activation

    def forward(self, x: Array, training: bool = False) -> Array:
        z = F.dense(x, self.params["w"], self.params.get("b"))
        y = F.activation_forward(self._act(), z)
        self._cache = (x, z, y)
        return y

    def backward(self, dy: Array, input_grad: bool = True) -> Optional[Array]:
        x, z, y = self._cache
        dz = F.activation_backward(self._act(), dy, z, y)
        dx, dw, db = F.dense_backward(dz, x, self.params["w"], input_grad)
        self.grads["w"] = dw
        if self.use_bias:
            self.grads["b"] = db
        return dx

    def macs(self) -> int:
        return self.input_shape[0] * self.units

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "units": self.units,
            "activation": self.activation,
            "use_bias": self.use_bias,
        }


class Flatten(Layer):
    """``x (N, C, H, W) -> y (N, C*H*W)`` in C order."""

    kind = "Flatten"
    keeps_range = True
    field = "flatten"

    @classmethod
    def input_maps(cls, step: StepLike, maps: Maps, k: int = 0) -> Maps:
        if isinstance(maps, str) or len(step.input_shape) != 3:  # ALL
            return ALL
        return {int(np.unravel_index(u, step.input_shape)[0]) for u in maps}

    @classmethod
    def route(cls, step: StepLike, maps: Maps, box: Box) -> list[list[tuple[Maps, Box]]]:
        """Unit u reads one position (c, i, j) of its input (C order)."""
        if isinstance(maps, str) or len(step.input_shape) != 3:  # ALL
            return [[(ALL, ALL)]]
        parts: dict[int, tuple[int, int, int, int]] = {}
        for u in sorted(maps):
            c, i, j = (int(v) for v in np.unravel_index(u, step.input_shape))
            b = parts.get(c)
            parts[c] = (
                (i, i, j, j)
                if b is None
                else (min(b[0], i), max(b[1], i), min(b[2], j), max(b[3], j))
            )
        return [[({c}, b) for c, b in parts.items()]]

    @classmethod
    def explain(cls, step: StepLike, c: ConnectionsLike) -> None:
        """Unit u is one input value (C order)."""
        shp = step.input_shape
        idx = np.unravel_index(c.map, shp)
        v = float(step.x[(c.sample,) + tuple(int(i) for i in idx)])
        c.inputs = np.array([v])
        c.details["input_index"] = tuple(int(i) for i in idx)
        if len(shp) == 3:
            c.channels, c.rows, c.cols = [int(idx[0])], [int(idx[1])], [int(idx[2])]
        c.sum = c.output = v
        c.scale = abs(v)

    @classmethod
    def grad_terms(cls, step: StepLike, k: int, sample: int, pos: Tuple[int, ...]) -> list[Term]:
        """Element u is input (c, i, j): its gradient comes back unchanged."""
        u = int(np.ravel_multi_index(tuple(pos), step.input_shape))
        return same_position_terms(step, k, sample, (u,), 1.0, "copied back to its position")

    @classmethod
    def describe(cls, c: ConnectionsLike, top: Optional[int] = 10, width: int = 100) -> list[str]:
        """Which map/row/col of the input the element came from."""
        idx = c.details["input_index"]
        where = (
            f"map {idx[0]}, row {idx[1]}, col {idx[2]}"
            if len(idx) == 3
            else "element " + ",".join(map(str, idx))
        )
        return [
            f"  element {c.map} = {where} of {source(c)} (C order: map by map, row by "
            f"row): value {num(c.output)}, copied unchanged"
        ]

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (int(np.prod(input_shape)),)

    def forward(self, x: Array, training: bool = False) -> Array:
        self._shape = x.shape
        return F.flatten(x)

    def backward(self, dy: Array) -> Array:
        return F.flatten_backward(dy, self._shape)
