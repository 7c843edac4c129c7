"""Conv2D: the convolutional layer (weights, bias, optional connection table, fused activation).

``x (N, C, H, W) -> z = conv2d(x, w, b) (N, F, H_out, W_out) -> y = act(z)``
"""

from __future__ import annotations

from typing import Any, Optional, Tuple, cast

import numpy as np
import numpy.typing as npt

from .. import config, geometry
from .. import functional as F
from ..functional._check import positive_int
from ..typing import Array, ConnectionsLike, Maps, Padding, Shape, Size, StepLike, Term
from .base import ALL, Layer
from .describe import act_line, grid, num, ranges, side_by_side, source
from .explain import ExplainError, act64, dz_of, fmt_pos, term, window_patch, window_readers
from .fusion import ConvAvgPool
from .initializers import DEFAULT_FOR_ACTIVATION, init_weights, parse_init
from .pool import AvgPool2D


class Conv2D(Layer):
    """``Conv2D(filters, kernel_size, stride=1, padding="valid", activation=None)``.

    ``connections (F, C)`` bool: which input maps each filter reads (LeNet-5's C3, grouped
    convolution); weights outside the table are held at zero and not counted as parameters.
    ``groups=g`` is a shorthand for the block-diagonal table of a g-way grouped convolution.
    """

    kind = "Conv2D"
    skips_input_grad = True
    field = "window"
    title = "Convolution"
    explain_form = "patches"

    def __init__(
        self,
        filters: int,
        kernel_size: Size,
        stride: Size = 1,
        padding: Padding = "valid",
        activation: Optional[str] = None,
        use_bias: bool = True,
        connections: Optional[npt.ArrayLike] = None,
        groups: int = 1,
        init: Optional[str] = None,
        name: Optional[str] = None,
    ) -> None:
        super().__init__(name)
        where = f"Conv2D {self.name!r}"
        self.filters = positive_int(filters, "filters", where)
        self.kernel_size = geometry.pair(kernel_size, "kernel size", f"Conv2D {self.name!r}")
        self.stride = geometry.pair(stride, "stride", f"Conv2D {self.name!r}")
        self.padding = padding
        self.activation = activation if activation not in (None, "linear") else None
        if self.activation is not None and self.activation not in F.ACTIVATIONS:
            raise ValueError(
                f"Conv2D {self.name!r}: unknown activation {activation!r}; "
                f"expected one of {F.ACTIVATIONS}"
            )
        self.use_bias = use_bias
        self.connections = None if connections is None else np.asarray(connections, dtype=bool)
        self.groups = positive_int(groups, "groups", where)
        self.init = (
            parse_init(init, f"Conv2D {self.name!r}: init")
            if init
            else DEFAULT_FOR_ACTIVATION.get(self.activation, "glorot")
        )

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        where = f"layer {self.path!r} (Conv2D)"
        if len(input_shape) != 3:
            raise ValueError(f"{where}: expected input maps (C, H, W), got shape {input_shape}")
        c = input_shape[0]
        self._table = self._make_table(c, where)
        self.window = geometry.window(
            input_shape[1:], self.kernel_size, self.stride, self.padding, where
        )
        return (self.filters,) + self.window.out_hw

    def _make_table(self, c, where):
        if self.connections is not None:
            if self.connections.shape != (self.filters, c):
                raise ValueError(
                    f"{where}: connection table must be (filters, input maps) = "
                    f"{(self.filters, c)}, got {self.connections.shape}"
                )
            return self.connections
        if self.groups > 1:
            g = self.groups
            if c % g or self.filters % g:
                raise ValueError(
                    f"{where}: groups={g} must divide both the input maps ({c}) "
                    f"and the filters ({self.filters})"
                )
            t = np.zeros((self.filters, c), dtype=bool)
            fo, ci = self.filters // g, c // g
            for k in range(g):
                t[k * fo : (k + 1) * fo, k * ci : (k + 1) * ci] = True
            return t
        return None

    def _build_params(self, input_shape, rng):
        c = input_shape[0]
        fh, fw = self.kernel_size
        per_filter = c if self._table is None else self._table.sum(axis=1).max()
        fan_in = max(int(per_filter) * fh * fw, 1)
        fan_out = self.filters * fh * fw
        w = init_weights(self.init, (self.filters, c, fh, fw), fan_in, fan_out, rng, config.dtype)
        if self._table is not None:
            w *= self._table[:, :, None, None]
        self.params = {"w": w}
        if self.use_bias:
            self.params["b"] = np.zeros(self.filters, dtype=config.dtype)
        self._alloc_grads()

    def forward(self, x: Array, training: bool = False) -> Array:
        w = self.params["w"]
        args = (x, w, self.params.get("b"), self.stride, self.padding, self._table)
        # training: keep the input as the kernels laid it out, for the weight gradient
        z, saved = F.conv2d(*args, save=True) if training else (F.conv2d(*args), None)
        y = F.activation_forward(self.activation or "linear", z)
        self._cache = (x, z, y, saved)
        return y

    def backward(self, dy: Array, input_grad: bool = True) -> Optional[Array]:
        x, z, y, saved = self._cache
        dz = F.activation_backward(self.activation or "linear", dy, z, y)
        dx, dw, db = F.conv2d_backward(
            dz,
            x,
            self.params["w"],
            self.stride,
            self.padding,
            self._table,
            input_grad,
            self.use_bias,
            saved,
        )
        self.grads["w"] = dw
        if db is not None:  # computed only for a layer with a bias
            self.grads["b"] = db
        return dx

    def fuse_next(self, nxt: Layer) -> Optional[Any]:
        """The pair ``(self, nxt)`` as one pass (``cnnsim.layers.fusion``) when ``nxt`` is a
        2x2 average pooling with stride 2 and no padding, this layer has stride 1 and an
        activation whose backward reads its output (linear, tanh, sigmoid); else None."""
        from ..kernels.activations import ACT_CODES  # the kernels load at the first call

        if (
            isinstance(nxt, AvgPool2D)
            and nxt.size == (2, 2)
            and nxt.stride == (2, 2)
            and nxt.window.pads == (0, 0, 0, 0)
            and self.stride == (1, 1)
            and (self.activation or "linear") in ACT_CODES
        ):
            return ConvAvgPool(self, nxt)
        return None

    def connected(self) -> int:
        """Number of (filter, input map) pairs connected."""
        c = self.input_shape[0]
        return self.filters * c if self._table is None else int(self._table.sum())

    def param_count(self) -> int:
        fh, fw = self.kernel_size
        return self.connected() * fh * fw + (self.filters if self.use_bias else 0)

    def macs(self) -> int:
        fh, fw = self.kernel_size
        ho, wo = cast(Shape, self.output_shape)[1:]
        return self.connected() * fh * fw * ho * wo

    def geometry(self) -> Optional[dict]:
        return {
            "kernel": self.kernel_size,
            "stride": self.stride,
            "padding": self.window.pads,
            "padding_spec": self.padding,
        }

    def engine_params(self) -> dict[str, Array]:
        p = super().engine_params()
        if self._table is not None:
            p["table"] = np.asarray(self._table, dtype=bool)
        return p

    @classmethod
    def input_maps(cls, step: StepLike, maps: Maps, k: int = 0) -> Maps:
        """The input maps the filters ``maps`` read: all, or their rows of the connection
        table (LeNet-5's C3, a grouped convolution)."""
        table = cls._step_table(step)
        if table is None:
            return ALL
        rows = range(table.shape[0]) if maps is ALL else sorted(maps)
        return {int(c) for f in rows for c in np.flatnonzero(table[f])}

    @classmethod
    def _step_table(cls, step):
        """The connection table of a recorded step: kept with the arrays, else rebuilt from
        its settings (a light or loaded trace keeps ``connections`` / ``groups``)."""
        table = step.params.get("table")
        if table is not None:
            return table
        f = step.facts or {}
        if f.get("connections") is not None:
            return np.asarray(f["connections"], dtype=bool)
        g = int(f.get("groups") or 1)
        if g > 1:
            fo, ci = step.output_shape[0] // g, step.input_shape[0] // g
            t = np.zeros((step.output_shape[0], step.input_shape[0]), dtype=bool)
            for k in range(g):
                t[k * fo : (k + 1) * fo, k * ci : (k + 1) * ci] = True
            return t
        return None

    @classmethod
    def explain(cls, step: StepLike, c: ConnectionsLike) -> None:
        """``z = b[f] + sum_{c in table[f]} sum_{u,v} w[f,c,u,v] xp[c, i*s_h - p_t + u,
        j*s_w - p_l + v]``, ``y = act(z)``; ``sum`` is z."""
        x = step.x[c.sample]
        w = step.params["w"]
        table = step.params.get("table")
        chans = [k for k in range(x.shape[0]) if table is None or table[c.map, k]]
        patch = (
            np.stack([window_patch(step, c, x[k]) for k in chans])
            if chans
            else np.zeros((0,) + tuple(step.geometry["kernel"]))
        )
        wk = w[c.map, chans].astype(np.float64)
        prod = patch * wk
        bias = float(step.params["b"][c.map]) if "b" in step.params else 0.0
        z = float(prod.sum()) + bias
        c.channels, c.inputs, c.weights, c.products, c.bias, c.sum = chans, patch, wk, prod, bias, z
        if step.activation == "softmax":
            raise ExplainError(
                f"connections: softmax fused into a convolution ({step.name!r}) is not supported"
            )
        c.output = act64(step.activation, z)
        c.scale = float(np.abs(prod).sum() + abs(bias))
        n_in, groups = x.shape[0], int((step.facts or {}).get("groups") or 1)
        if table is None:
            c.details["reads"] = (
                "input map 0 (the only one)" if n_in == 1 else f"all {n_in} input maps"
            )
        elif groups > 1:
            g = c.map // (step.output_shape[0] // groups)
            c.details["reads"] = (
                f"group {g} of {groups}: input maps {ranges(chans)} ({len(chans)} of {n_in})"
            )
        else:
            c.details["reads"] = (
                f"connection table row {c.map}: input maps {ranges(chans)} ({len(chans)} of {n_in})"
            )

    @classmethod
    def grad_terms(cls, step: StepLike, k: int, sample: int, pos: Tuple[int, ...]) -> list[Term]:
        """``dL/dx[c,i,j] = sum_f sum_{u,v} w[f,c,u,v] dL/dz[f, (i+p_t-u)/s_h, (j+p_l-v)/s_w]``
        (integer positions only): the gradient map correlated with the *flipped* kernel."""
        c, i, j = pos
        dz = dz_of(step, sample)
        w = step.params["w"]
        table = step.params.get("table")
        out = []
        for oi, oj, u, v in window_readers(step, i, j):
            for f in range(w.shape[0]):
                if table is None or table[f, c]:
                    out.append(
                        term(
                            f"{step.name} map {f} ({oi},{oj})",
                            w[f, c, u, v],
                            dz[f, oi, oj],
                            f"w[{f},{c},{u},{v}]",
                        )
                    )
        return out

    @classmethod
    def weight_of(cls, c: ConnectionsLike, k: int) -> Optional[tuple[int, ...]]:
        """Product k of the (C', f_h, f_w) patch is weight ``w[map, channels[k'], u, v]``."""
        kk, u, v = np.unravel_index(int(k), np.shape(c.products))
        return (c.map, int(c.channels[kk]), int(u), int(v))

    @classmethod
    def weight_grad_terms(cls, step: StepLike, index: Tuple[int, ...]) -> list[Term]:
        """``dL/dw[f,c,u,v] = sum_n sum_{i,j} xp[n, c, i s_h - p_t + u, j s_w - p_l + v]
        dL/dz[n, f, i, j]`` (padding reads 0 and is left out)."""
        f, c, u, v = index
        table = step.params.get("table")
        if table is not None and not table[f, c]:
            return []  # not in the connection table: held at 0
        (sh, sw), (t, _, l, _) = step.geometry["stride"], step.geometry["padding"]
        ho, wo = step.output_shape[1:]
        h, w_ = step.input_shape[1:]
        out = []
        for n in range(step.y.shape[0]):
            dz = dz_of(step, n)
            for i in range(ho):
                a = i * sh - t + u
                for j in range(wo):
                    b = j * sw - l + v
                    if 0 <= a < h and 0 <= b < w_ and dz[f, i, j] != 0:
                        out.append(
                            term(
                                f"input map {c} ({a},{b}) -> {fmt_pos((f, i, j))}"
                                + (f" sample {n}" if n else ""),
                                step.x[n, c, a, b],
                                dz[f, i, j],
                            )
                        )
        return out

    @classmethod
    def describe(
        cls, c: ConnectionsLike, top: Optional[int] = 10, width: int = 100, maps: int = 3
    ) -> list[str]:
        """The maps read (by name), each patch x kernel = products, the sum, bias and
        activation."""
        lines = [
            f"  reads {c.details['reads']} of {source(c)}, rows {c.rows[0]}..{c.rows[-1]}, "
            f"cols {c.cols[0]}..{c.cols[-1]}"
        ]
        if c.padded is not None and c.padded.any():
            lines.append(
                f"  {int(c.padded.sum())} of {c.padded.size} window cells are zero "
                f"padding (shown as pad, value 0)"
            )
        shown = range(len(c.channels)) if top is None else range(min(maps, len(c.channels)))
        for k in shown:
            lines.append(
                f"  input map {c.channels[k]}: patch x kernel w[{c.map},{c.channels[k]}]"
                f" = products (sum {num(c.products[k].sum())})"
            )
            lines += side_by_side(
                [
                    ["patch"] + grid(c.inputs[k], padded=c.padded),
                    ["kernel"] + grid(c.weights[k]),
                    ["products"] + grid(c.products[k]),
                ],
                width,
            )
        if len(c.channels) > len(shown):
            rest = np.asarray(c.products)[len(shown) :].sum()
            lines.append(
                f"  ... {len(c.channels) - len(shown)} more input maps, products "
                f"summing to {num(rest)} (--all shows them)"
            )
        lines.append(
            f"  z = sum of products {num(c.sum - c.bias)} + bias {num(c.bias)} = {num(c.sum)}"
        )
        return lines + act_line(c, c.sum)

    @property
    def table(self) -> Optional[Array]:
        """The (F, C) connection table in force (None = fully connected)."""
        return self._table

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "stride": self.stride,
            "padding": self.padding,
            "activation": self.activation,
            "use_bias": self.use_bias,
            "groups": self.groups,
            "connections": None if self.connections is None else self.connections.tolist(),
        }
