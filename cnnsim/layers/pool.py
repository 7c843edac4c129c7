"""Pooling layers: no weights, only a window. ``x (N, C, H, W) -> y (N, C, H_out, W_out)``."""

from __future__ import annotations

from typing import Any, Callable, Optional, Tuple

import numpy as np

from .. import functional as F
from .. import geometry
from ..typing import Array, ConnectionsLike, Maps, Padding, Shape, Size, StepLike, Term
from .base import Layer
from .describe import grid, num, source
from .explain import term, window_patch, window_readers


class _Pool2D(Layer):
    field = "window"
    explain_form = "window"
    # the functional forward / backward of the pool (set by each subclass)
    _fwd: Callable[..., Array]
    _bwd: Callable[..., Array]

    def __init__(
        self,
        size: Size = 2,
        stride: Optional[Size] = None,
        padding: Padding = "valid",
        name: Optional[str] = None,
    ) -> None:
        super().__init__(name)
        where = f"{self.kind} {self.name!r}"
        self.size = geometry.pair(size, "pool size", where)
        self.stride = geometry.pair(self.size if stride is None else stride, "stride", where)
        self.padding = padding

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        where = f"layer {self.path!r} ({self.kind})"
        if len(input_shape) != 3:
            raise ValueError(f"{where}: expected input maps (C, H, W), got shape {input_shape}")
        self.window = geometry.window(input_shape[1:], self.size, self.stride, self.padding, where)
        return (input_shape[0],) + self.window.out_hw

    def forward(self, x: Array, training: bool = False) -> Array:
        self._x = x
        return type(self)._fwd(x, self.size, self.stride, self.padding)

    def backward(self, dy: Array) -> Array:
        return type(self)._bwd(dy, self._x, self.size, self.stride, self.padding)

    def macs(self) -> int:
        # comparisons / additions, counted as operations per output (no multiplies)
        return 0

    def geometry(self) -> Optional[dict]:
        return {
            "kernel": self.size,
            "stride": self.stride,
            "padding": self.window.pads,
            "padding_spec": self.padding,
        }

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "size": self.size,
            "stride": self.stride,
            "padding": self.padding,
        }


class MaxPool2D(_Pool2D):
    """Max pooling; ties send the gradient to the first maximal input (row-major)."""

    kind = "MaxPool2D"
    keeps_range = True
    title = "Max pooling"

    def forward(self, x: Array, training: bool = False) -> Array:
        # training: keep each window's winner, so backward adds dy there without a second
        # scan of x (the numbers are the same either way)
        self._winners: Optional[Array] = None
        if not training:
            return super().forward(x, training)
        self._x = x
        y, self._winners = F.max_pool2d_with_indices(x, self.size, self.stride, self.padding)
        return y

    def backward(self, dy: Array) -> Array:
        if self._winners is None:
            return super().backward(dy)
        return F.max_pool2d_backward(
            dy, self._x, self.size, self.stride, self.padding, self._winners
        )

    @classmethod
    def explain(cls, step: StepLike, c: ConnectionsLike) -> None:
        """The window's real cells and the winner (first maximum, row-major); ``sum`` is
        the max."""
        win = _pool_window(step, c)
        if win is None:
            return
        real = ~c.padded
        masked = np.where(real, win, -np.inf)
        k = int(np.argmax(masked))  # first maximum in row-major order
        u, v = divmod(k, win.shape[1])
        c.details["winner"] = (c.rows[u], c.cols[v])
        c.details["winner_offset"] = (u, v)
        c.details["dropped"] = int(real.sum() - 1)
        c.details["count"] = int(real.sum())
        c.details["ties"] = int((masked == masked.flat[k]).sum())
        c.sum = c.output = float(masked.flat[k])

    @classmethod
    def grad_terms(cls, step: StepLike, k: int, sample: int, pos: Tuple[int, ...]) -> list[Term]:
        """Only the winner of a window receives its gradient (weight 1; the others 0)."""
        ch, i, j = pos
        dy = np.asarray(step.grad_y[sample], dtype=np.float64)
        xmap = step.x[sample, ch].astype(np.float64)
        out = []
        for oi, oj, u, v in window_readers(step, i, j):
            c = _Where(oi, oj)
            win = window_patch(step, c, xmap)
            masked = np.where(~c.padded, win, -np.inf)
            wins = divmod(int(np.argmax(masked)), win.shape[1]) == (u, v)
            out.append(
                term(
                    f"{step.name} map {ch} ({oi},{oj})",
                    1.0 if wins else 0.0,
                    dy[ch, oi, oj],
                    "the winner" if wins else "not the winner",
                )
            )
        return out

    @classmethod
    def describe(cls, c: ConnectionsLike, top: Optional[int] = 10, width: int = 100) -> list[str]:
        """The window (padding marked, winner in [brackets]), "1 of n inputs pass", the tie
        rule when several cells hold the maximum."""
        lines = [
            f"  max over the window of map {c.map} of {source(c)}, rows {c.rows[0]}..{c.rows[-1]},"
            f" cols {c.cols[0]}..{c.cols[-1]} (pad = padding, never chosen; [winner]):"
        ]
        if c.details.get("empty"):
            return lines + ["  the window lies entirely in padding: output 0"]
        lines += ["    " + row for row in grid(c.inputs, c.details["winner_offset"], c.padded)]
        r, q = c.details["winner"]
        lines.append(
            f"  max = {num(c.output)} at input row {r}, col {q}: 1 of "
            f"{c.details['count']} inputs passes, the other {c.details['dropped']} are "
            f"dropped (and get no gradient)"
        )
        if c.details["ties"] > 1:
            lines.append(
                f"  tie: {c.details['ties']} cells hold the maximum; the first in "
                f"row-major order wins (it alone receives the gradient)"
            )
        return lines

    _fwd = staticmethod(F.max_pool2d)
    _bwd = staticmethod(F.max_pool2d_backward)


class AvgPool2D(_Pool2D):
    """Average pooling; padded cells are not counted in the mean (TensorFlow's rule), or,
    with ``count_include_pad=True``, count as zeros (PyTorch's default, ONNX's
    ``count_include_pad=1``): the divisor is then the whole window."""

    kind = "AvgPool2D"
    keeps_range = True
    title = "Avg pooling"

    def __init__(
        self,
        size: Size = 2,
        stride: Optional[Size] = None,
        padding: Padding = "valid",
        count_include_pad: bool = False,
        name: Optional[str] = None,
    ) -> None:
        super().__init__(size, stride, padding, name)
        self.count_include_pad = bool(count_include_pad)

    @classmethod
    def explain(cls, step: StepLike, c: ConnectionsLike) -> None:
        """The window's real cells and their mean (padding not counted unless the layer
        says ``count_include_pad``)."""
        win = _pool_window(step, c)
        if win is None:
            return
        vals = win[~c.padded]
        n = win.size if (step.facts or {}).get("count_include_pad") else vals.size
        c.details["count"] = int(n)
        c.details["include_pad"] = bool(n != vals.size)
        c.details["total"] = float(vals.sum())
        c.sum = c.output = float(vals.sum() / n)

    @classmethod
    def grad_terms(cls, step: StepLike, k: int, sample: int, pos: Tuple[int, ...]) -> list[Term]:
        """Each window that reads the input passes back ``1 / (its divisor)`` (real inputs,
        or the whole window with ``count_include_pad``)."""
        ch, i, j = pos
        dy = np.asarray(step.grad_y[sample], dtype=np.float64)
        h, w = step.input_shape[1:]
        out = []
        for oi, oj, _, _ in window_readers(step, i, j):
            c = _Where(oi, oj)
            window_patch(step, c, np.zeros((h, w)))
            n = int(
                c.padded.size if (step.facts or {}).get("count_include_pad") else (~c.padded).sum()
            )
            out.append(term(f"{step.name} map {ch} ({oi},{oj})", 1.0 / n, dy[ch, oi, oj], f"1/{n}"))
        return out

    @classmethod
    def describe(cls, c: ConnectionsLike, top: Optional[int] = 10, width: int = 100) -> list[str]:
        """The window (padding marked), the count of real inputs, their mean."""
        lines = [
            f"  mean over the window of map {c.map} of {source(c)}, rows {c.rows[0]}..{c.rows[-1]},"
            f" cols {c.cols[0]}..{c.cols[-1]} (pad = padding):"
        ]
        if c.details.get("empty"):
            return lines + ["  the window lies entirely in padding: output 0"]
        lines += ["    " + row for row in grid(c.inputs, padded=c.padded)]
        n = c.details["count"]
        pads = int(c.padded.sum())
        if c.details.get("include_pad"):
            how = f"{n} cells, {pads} of them padding counted as 0 (count_include_pad)"
        else:
            how = f"{n} real inputs" + (f" ({pads} padding cells excluded)" if pads else "")
        lines.append(f"  {how}: sum {num(c.details['total'])} / {n} = mean {num(c.output)}")
        return lines

    def forward(self, x: Array, training: bool = False) -> Array:
        self._x = x
        return F.avg_pool2d(x, self.size, self.stride, self.padding, self.count_include_pad)

    def backward(self, dy: Array) -> Array:
        return F.avg_pool2d_backward(
            dy, self._x, self.size, self.stride, self.padding, self.count_include_pad
        )

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"count_include_pad": self.count_include_pad}


class GlobalAvgPool(Layer):
    """Mean of each map: ``x (N, C, H, W) -> y (N, C)`` (GoogLeNet, ResNet heads)."""

    kind = "GlobalAvgPool"
    keeps_range = True
    field = "global"
    title = "Global avg pooling"
    explain_form = "window"

    @classmethod
    def input_maps(cls, step: StepLike, maps: Maps, k: int = 0) -> Maps:
        return maps  # unit c is the mean of map c

    @classmethod
    def explain(cls, step: StepLike, c: ConnectionsLike) -> None:
        """The whole map and its mean."""
        xmap = step.x[c.sample, c.map].astype(np.float64)
        c.channels, c.inputs = [c.map], xmap
        c.rows, c.cols = list(range(xmap.shape[0])), list(range(xmap.shape[1]))
        c.sum = c.output = float(xmap.mean())
        c.details["count"] = int(xmap.size)
        c.details["total"] = float(xmap.sum())
        c.scale = float(np.abs(xmap).sum())

    @classmethod
    def grad_terms(cls, step: StepLike, k: int, sample: int, pos: Tuple[int, ...]) -> list[Term]:
        """Unit c is the mean of map c: ``1 / (H W)`` of its gradient."""
        h, w = step.input_shape[1:]
        dy = np.asarray(step.grad_y[sample], dtype=np.float64)
        return [term(f"{step.name} unit {pos[0]}", 1.0 / (h * w), dy[pos[0]], f"1/{h * w}")]

    @classmethod
    def describe(cls, c: ConnectionsLike, top: Optional[int] = 10, width: int = 100) -> list[str]:
        """The whole map's size, its sum and mean."""
        h, w = c.inputs.shape
        lines = [f"  unit {c.map} = mean of the whole map {c.map} of {source(c)} ({h}x{w})"]
        if c.inputs.size <= 49:
            lines += ["    " + row for row in grid(c.inputs)]
        return lines + [
            f"  sum {num(c.details['total'])} / {c.details['count']} = mean {num(c.output)}"
        ]

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 3:
            raise ValueError(
                f"layer {self.path!r} (GlobalAvgPool): expected input maps "
                f"(C, H, W), got shape {input_shape}"
            )
        return (input_shape[0],)

    def forward(self, x: Array, training: bool = False) -> Array:
        self._shape = x.shape
        return F.global_avg_pool(x)

    def backward(self, dy: Array) -> Array:
        return F.global_avg_pool_backward(dy, self._shape)


class _Where:
    """The neuron position ``window_patch`` needs (row, col) and what it fills."""

    def __init__(self, row: int, col: int) -> None:
        self.row, self.col = row, col
        self.padded: Any = None  # (fh, fw) bool, filled by window_patch


def _pool_window(step, c):
    """The window of neuron (c.map, c.row, c.col) (``c.rows``, ``c.cols``, ``c.padded``
    filled), or None when it lies entirely in padding (``c.output = 0``)."""
    xmap = step.x[c.sample, c.map].astype(np.float64)
    win = window_patch(step, c, xmap)
    c.channels, c.inputs = [c.map], win
    vals = win[~c.padded]
    if vals.size == 0:
        c.sum = c.output = 0.0
        c.details["empty"] = True
        return None
    c.scale = float(np.abs(vals).sum())
    return win
