"""Dense (fully connected) and Flatten. ``x (N, D_in) -> y = act(x @ w + b) (N, D_out)``."""
import numpy as np

from .. import config, functional as F
from ..functional._check import positive_int
from .base import ALL, Layer
from .explain import act64
from .initializers import DEFAULT_FOR_ACTIVATION, init_weights, parse_init


class Dense(Layer):
    """``Dense(units, activation=None)``, ``w (D_in, D_out)``, ``b (D_out,)``.

    With ``activation="softmax"`` on the output layer, training fuses the softmax with the
    cross-entropy loss (``emit_logits`` is set by the trainer): numerically stable.
    """
    kind = "Dense"
    field = "global"
    title = "Fully connected"
    explain_form = "vector"

    @classmethod
    def explain(cls, step, c):
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

    def __init__(self, units, activation=None, use_bias=True, init=None, name=None):
        super().__init__(name)
        self.units = positive_int(units, "units", f"Dense {self.name!r}")
        self.activation = activation if activation not in (None, "linear") else None
        if self.activation is not None and self.activation not in F.ACTIVATIONS:
            raise ValueError(f"Dense {self.name!r}: unknown activation {activation!r}; "
                             f"expected one of {F.ACTIVATIONS}")
        self.use_bias = use_bias
        self.init = (parse_init(init, f"Dense {self.name!r}: init") if init else
                     DEFAULT_FOR_ACTIVATION.get(self.activation, "glorot"))
        self.emit_logits = False

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 1:
            raise ValueError(f"layer {self.path!r} (Dense): expected a vector input (D,), got "
                             f"shape {input_shape}; put a Flatten layer before it")
        return (self.units,)

    def _build_params(self, input_shape, rng):
        d = input_shape[0]
        self.params = {"w": init_weights(self.init, (d, self.units), d, self.units, rng, config.dtype)}
        if self.use_bias:
            self.params["b"] = np.zeros(self.units, dtype=config.dtype)
        self.grads = {k: np.zeros(v.shape, v.dtype) for k, v in self.params.items()}  # calloc: no memory until written

    def _act(self):
        if self.activation is None or (self.emit_logits and self.activation == "softmax"):
            return "linear"
        return self.activation

    def forward(self, x, training=False):
        z = F.dense(x, self.params["w"], self.params.get("b"))
        y = F.activation_forward(self._act(), z)
        self._cache = (x, z, y)
        return y

    def backward(self, dy):
        x, z, y = self._cache
        dz = F.activation_backward(self._act(), dy, z, y)
        dx, dw, db = F.dense_backward(dz, x, self.params["w"])
        self.grads["w"] = dw
        if self.use_bias:
            self.grads["b"] = db
        return dx

    def macs(self):
        return self.input_shape[0] * self.units

    def get_config(self):
        return {"name": self.name, "units": self.units, "activation": self.activation,
                "use_bias": self.use_bias}


class Flatten(Layer):
    """``x (N, C, H, W) -> y (N, C*H*W)`` in C order."""
    kind = "Flatten"
    keeps_range = True
    field = "flatten"

    @classmethod
    def input_maps(cls, step, maps, k=0):
        if maps is ALL or len(step.input_shape) != 3:
            return ALL
        return {int(np.unravel_index(u, step.input_shape)[0]) for u in maps}

    @classmethod
    def route(cls, step, maps, box):
        """Unit u reads one position (c, i, j) of its input (C order)."""
        if maps is ALL or len(step.input_shape) != 3:
            return [[(ALL, ALL)]]
        parts = {}
        for u in sorted(maps):
            c, i, j = (int(v) for v in np.unravel_index(u, step.input_shape))
            b = parts.get(c)
            parts[c] = (i, i, j, j) if b is None else (min(b[0], i), max(b[1], i),
                                                       min(b[2], j), max(b[3], j))
        return [[({c}, b) for c, b in parts.items()]]

    @classmethod
    def explain(cls, step, c):
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

    def compute_output_shape(self, input_shape):
        return (int(np.prod(input_shape)),)

    def forward(self, x, training=False):
        self._shape = x.shape
        return F.flatten(x)

    def backward(self, dy):
        return F.flatten_backward(dy, self._shape)
