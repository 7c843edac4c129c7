"""The two LeNet-5 leaves that modern libraries no longer have (LeCun et al. 1998, sec. II-B).

* ``Subsampling`` (S2, S4): each output is the *mean* of a 2x2 block of its map, times one
  trainable coefficient, plus one trainable bias, through the squashing function:

      y[n, c, i, j] = act(coef[c] * mean(x[n, c, 2i:2i+2, 2j:2j+2]) + bias[c])

  The paper *adds* the four inputs; a mean is the same thing with ``coef`` four times
  smaller, so the parameter count (2 per map) and the model are the same.
  ``x (N, C, H, W) -> y (N, C, H // 2, W // 2)``.

* ``RBF`` (the output layer): one Euclidean radial-basis unit per class,

      y[n, k] = sum_j (x[n, j] - w[k, j])^2          x (N, D), w (K, D), y (N, K)

  ``y`` is a *penalty*: the predicted class is ``argmin_k y[n, k]``. In the paper the
  prototypes ``w[k]`` are hand-drawn +-1 bitmaps (7x12 = 84 pixels) "kept fixed", which is
  why its count of 60,000 trainable parameters leaves the RBF's 840 weights out. Here
  the prototypes are seeded random +-1 codes (the paper's bitmaps are not reproduced);
  ``trainable=False`` (default) keeps them in ``buffers`` (not counted, no gradient),
  ``trainable=True`` moves them to ``params``.

Both are small element-wise NumPy expressions around the Numba pooling kernels (no Python
loop over pixels).
"""

from __future__ import annotations

from typing import Any, Optional, Tuple, cast

import numpy as np

from .. import config, geometry
from .. import functional as F
from ..typing import Array, ConnectionsLike, Shape, Size, StepLike, Term
from .base import Layer
from .describe import act_line, grid, num, source
from .explain import act64, dz_of, term, window_patch, window_readers


class Subsampling(Layer):
    """LeNet-5's trainable subsampling: ``act(coef * avgpool2x2(x) + bias)`` per map."""

    kind = "Subsampling"
    field = "window"
    explain_form = "window"

    @classmethod
    def explain(cls, step: StepLike, c: ConnectionsLike) -> None:
        """LeNet-5's S2/S4: ``y = act(coef[c] * mean(window) + bias[c])``."""
        xmap = step.x[c.sample, c.map].astype(np.float64)
        win = window_patch(step, c, xmap)
        vals = win[~c.padded]
        mean = float(vals.sum() / vals.size)
        coef, bias = float(step.params["coef"][c.map]), float(step.params["bias"][c.map])
        c.channels, c.inputs, c.weights, c.bias = [c.map], win, np.array([coef]), bias
        c.products = np.array([coef * mean])
        c.sum = coef * mean + bias
        c.details.update(mean=mean, coef=coef, count=int(vals.size))
        c.output = act64(step.activation, c.sum)
        c.scale = float(abs(coef) * np.abs(vals).mean() + abs(bias))

    @classmethod
    def grad_terms(cls, step: StepLike, k: int, sample: int, pos: Tuple[int, ...]) -> list[Term]:
        """Each window reading the input passes back ``coef / count`` of its dL/dz."""
        ch, i, j = pos
        dz = dz_of(step, sample)
        coef = float(step.params["coef"][ch])
        n = step.geometry["kernel"][0] * step.geometry["kernel"][1]
        return [
            term(f"{step.name} map {ch} ({oi},{oj})", coef / n, dz[ch, oi, oj], f"coef/{n}")
            for oi, oj, _, _ in window_readers(step, i, j)
        ]

    @classmethod
    def describe(cls, c: ConnectionsLike, top: Optional[int] = 10, width: int = 100) -> list[str]:
        """The window, its mean, ``coef * mean + bias``, the squashing function."""
        d = c.details
        lines = [
            f"  window of map {c.map} of {source(c)}, rows {c.rows[0]}..{c.rows[-1]}, cols "
            f"{c.cols[0]}..{c.cols[-1]}:"
        ]
        lines += ["    " + row for row in grid(c.inputs, padded=c.padded)]
        lines.append(f"  mean of {d['count']} inputs = {num(d['mean'])}")
        lines.append(
            f"  z = coef {num(d['coef'])} * mean {num(d['mean'])} + bias {num(c.bias)}"
            f" = {num(c.sum)}"
        )
        return lines + act_line(c, c.sum)

    def __init__(
        self, size: Size = 2, activation: Optional[str] = "scaled_tanh", name: Optional[str] = None
    ) -> None:
        super().__init__(name)
        where = f"Subsampling {self.name!r}"
        self.size = geometry.pair(size, "pool size", where)
        self.stride = self.size  # non-overlapping, as in the paper
        self.activation = activation if activation not in (None, "linear") else None
        if self.activation is not None and self.activation not in F.ACTIVATIONS:
            raise ValueError(
                f"{where}: unknown activation {activation!r}; expected one of {F.ACTIVATIONS}"
            )

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        where = f"layer {self.path!r} (Subsampling)"
        if len(input_shape) != 3:
            raise ValueError(f"{where}: expected input maps (C, H, W), got shape {input_shape}")
        self.window = geometry.window(input_shape[1:], self.size, self.stride, "valid", where)
        return (input_shape[0],) + self.window.out_hw

    def _build_params(self, input_shape, rng):
        c = input_shape[0]
        # coef = 1, bias = 0: the layer starts as a plain average pool followed by act
        self.params = {
            "coef": np.ones(c, dtype=config.dtype),
            "bias": np.zeros(c, dtype=config.dtype),
        }
        self._alloc_grads()

    def forward(self, x: Array, training: bool = False) -> Array:
        p = F.avg_pool2d(x, self.size, self.stride, "valid")
        coef = self.params["coef"].astype(x.dtype, copy=False)
        bias = self.params["bias"].astype(x.dtype, copy=False)
        z = p * coef[None, :, None, None] + bias[None, :, None, None]
        y = F.activation_forward(self.activation or "linear", z)
        self._cache = (x, p, z, y)
        return y

    def backward(self, dy: Array) -> Array:
        x, p, z, y = self._cache
        dz = F.activation_backward(self.activation or "linear", dy, z, y)
        self.grads["coef"] = np.einsum("nchw,nchw->c", dz, p).astype(self.params["coef"].dtype)
        self.grads["bias"] = dz.sum(axis=(0, 2, 3)).astype(self.params["bias"].dtype)
        dp = np.ascontiguousarray(dz * self.params["coef"].astype(dz.dtype)[None, :, None, None])
        return F.avg_pool2d_backward(dp, x, self.size, self.stride, "valid")

    def macs(self) -> int:
        # one multiply-add (coef * mean + bias) per output; the averaging adds are not counted
        return int(np.prod(cast(Shape, self.output_shape)))

    def geometry(self) -> Optional[dict]:
        return {
            "kernel": self.size,
            "stride": self.stride,
            "padding": self.window.pads,
            "padding_spec": "valid",
        }

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "size": self.size, "activation": self.activation}


class RBF(Layer):
    """Euclidean radial-basis output units: ``y[n, k] = sum_j (x[n, j] - w[k, j])^2``."""

    kind = "RBF"
    field = "global"
    explain_form = "vector"
    penalty_output = True

    @classmethod
    def explain(cls, step: StepLike, c: ConnectionsLike) -> None:
        """LeNet-5's output: ``y_k = sum_j (x_j - w[k, j])^2`` (a penalty: the class is
        argmin); the products are the squares."""
        x = step.x[c.sample].astype(np.float64)
        w = step.params["w"][c.map].astype(np.float64)
        d = x - w
        c.inputs, c.weights, c.products = x, w, d * d
        c.sum = c.output = float((d * d).sum())
        c.activation = None
        c.scale = c.output
        y = step.y[c.sample].astype(np.float64)
        c.details.update(
            rank=int((y < y[c.map]).sum()), prediction=int(np.argmin(y)), penalties=y.tolist()
        )

    @classmethod
    def grad_terms(cls, step: StepLike, k: int, sample: int, pos: Tuple[int, ...]) -> list[Term]:
        """``dy_k/dx_j = 2 (x_j - w[k, j])``, for every class k."""
        j = pos[0]
        x = float(step.x[sample, j])
        w = step.params["w"]
        dy = np.asarray(step.grad_y[sample], dtype=np.float64)
        return [
            term(f"{step.name} unit {q}", 2 * (x - float(w[q, j])), dy[q], "2 (x_j - w_j)")
            for q in range(dy.size)
        ]

    @classmethod
    def describe(cls, c: ConnectionsLike, top: Optional[int] = 10, width: int = 100) -> list[str]:
        """sum_j (x_j - w_j)^2 with the prototype w, and what the penalty means."""
        order = c.ranked()
        shown = order if top is None else order[:top]
        lines = [
            f"  y_{c.map} = sum_j (x_j - w_j)^2: the squared distance from the input "
            f"({len(c.inputs)} values of {source(c)}) to class {c.map}'s prototype w",
            f"  the {'' if top is None else f'{len(shown)} '}largest terms "
            f"(j: x_j - w_j, squared):",
        ]
        for j in shown:
            lines.append(
                f"    {int(j):4d}: ({num(c.inputs[j], 9)} - {num(c.weights[j], 6)})^2 = "
                f"{num(c.products[j], 9)}"
            )
        rest = order[len(shown) :]
        if len(rest):
            lines.append(
                f"    the other {len(rest)}: sum {num(np.asarray(c.products)[rest].sum())}"
                f" (--all lists them)"
            )
        d = c.details
        lines.append(
            f"  penalty {num(c.output)}: a penalty, not a score: the smallest wins. "
            f"Class {c.map} ranks {d['rank'] + 1} of {len(d['penalties'])}; prediction: "
            f"class {d['prediction']} (the closest prototype)"
        )
        return lines

    def __init__(self, units: int, trainable: bool = False, name: Optional[str] = None) -> None:
        super().__init__(name)
        self.units = int(units)
        self.trainable = bool(trainable)
        self.activation = "rbf"
        self.buffers: dict[str, Array] = {}

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 1:
            raise ValueError(
                f"layer {self.path!r} (RBF): expected a vector input (D,), got "
                f"shape {input_shape}; put a Flatten layer before it"
            )
        return (self.units,)

    def _build_params(self, input_shape, rng):
        d = input_shape[0]
        # stand-ins for the paper's +-1 bitmaps: seeded random +-1 codes, one row per class
        w = np.where(rng.random((self.units, d)) < 0.5, -1.0, 1.0).astype(config.dtype)
        if self.trainable:
            self.params, self.buffers = {"w": w}, {}
            self.grads = {"w": np.zeros_like(w)}
        else:
            self.params, self.grads, self.buffers = {}, {}, {"w": w}

    @property
    def prototypes(self) -> Array:
        """``w (K, D)``: the prototype (target code) of each class, one per row."""
        return self.params["w"] if self.trainable else self.buffers["w"]

    def forward(self, x: Array, training: bool = False) -> Array:
        w = self.prototypes.astype(x.dtype, copy=False)
        d = x[:, None, :] - w[None, :, :]  # (N, K, D)
        self._cache = d
        return np.ascontiguousarray((d * d).sum(axis=2))

    def backward(self, dy: Array) -> Array:
        d = self._cache
        g = 2.0 * dy[:, :, None] * d  # d y[n,k] / d x[n,j] = 2 (x - w)
        if self.trainable:
            self.grads["w"] = (-g.sum(axis=0)).astype(self.params["w"].dtype)
        return np.ascontiguousarray(g.sum(axis=1))

    def macs(self) -> int:
        return self.input_shape[0] * self.units  # one (x - w)^2 accumulate each

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "units": self.units, "trainable": self.trainable}
