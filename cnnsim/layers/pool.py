"""Pooling layers: no weights, only a window. ``x (N, C, H, W) -> y (N, C, H_out, W_out)``."""
from __future__ import annotations

from typing import Callable

import numpy as np

from .. import functional as F
from .. import geometry
from ..typing import Array
from .base import Layer
from .explain import window_patch


class _Pool2D(Layer):
    field = "window"
    explain_form = "window"
    # the functional forward / backward of the pool (set by each subclass)
    _fwd: Callable[..., Array]
    _bwd: Callable[..., Array]

    def __init__(self, size=2, stride=None, padding="valid", name=None):
        super().__init__(name)
        where = f"{self.kind} {self.name!r}"
        self.size = geometry.pair(size, "pool size", where)
        self.stride = geometry.pair(self.size if stride is None else stride, "stride", where)
        self.padding = padding

    def compute_output_shape(self, input_shape):
        where = f"layer {self.path!r} ({self.kind})"
        if len(input_shape) != 3:
            raise ValueError(f"{where}: expected input maps (C, H, W), got shape {input_shape}")
        self.window = geometry.window(input_shape[1:], self.size, self.stride, self.padding, where)
        return (input_shape[0],) + self.window.out_hw

    def forward(self, x, training=False):
        self._x = x
        return type(self)._fwd(x, self.size, self.stride, self.padding)

    def backward(self, dy):
        return type(self)._bwd(dy, self._x, self.size, self.stride, self.padding)

    def macs(self):
        # comparisons / additions, counted as operations per output (no multiplies)
        return 0

    def geometry(self):
        return {"kernel": self.size, "stride": self.stride, "padding": self.window.pads,
                "padding_spec": self.padding}

    def get_config(self):
        return {"name": self.name, "size": self.size, "stride": self.stride, "padding": self.padding}


class MaxPool2D(_Pool2D):
    """Max pooling; ties send the gradient to the first maximal input (row-major)."""
    kind = "MaxPool2D"
    keeps_range = True
    title = "Max pooling"

    @classmethod
    def explain(cls, step, c):
        """The window's real cells and the winner (first maximum, row-major); ``sum`` is
        the max."""
        win = _pool_window(step, c)
        if win is None:
            return
        real = ~c.padded
        masked = np.where(real, win, -np.inf)
        k = int(np.argmax(masked))            # first maximum in row-major order
        u, v = divmod(k, win.shape[1])
        c.details["winner"] = (c.rows[u], c.cols[v])
        c.details["winner_offset"] = (u, v)
        c.details["dropped"] = int(real.sum() - 1)
        c.sum = c.output = float(masked.flat[k])
    _fwd = staticmethod(F.max_pool2d)
    _bwd = staticmethod(F.max_pool2d_backward)


class AvgPool2D(_Pool2D):
    """Average pooling; padded cells are not counted in the mean (TensorFlow's rule), or,
    with ``count_include_pad=True``, count as zeros (PyTorch's default, ONNX's
    ``count_include_pad=1``): the divisor is then the whole window."""
    kind = "AvgPool2D"
    keeps_range = True
    title = "Avg pooling"

    def __init__(self, size=2, stride=None, padding="valid", count_include_pad=False, name=None):
        super().__init__(size, stride, padding, name)
        self.count_include_pad = bool(count_include_pad)

    @classmethod
    def explain(cls, step, c):
        """The window's real cells and their mean (padding not counted unless the layer
        says ``count_include_pad``)."""
        win = _pool_window(step, c)
        if win is None:
            return
        vals = win[~c.padded]
        n = win.size if (step.facts or {}).get("count_include_pad") else vals.size
        c.details["count"] = int(n)
        c.sum = c.output = float(vals.sum() / n)

    def forward(self, x, training=False):
        self._x = x
        return F.avg_pool2d(x, self.size, self.stride, self.padding, self.count_include_pad)

    def backward(self, dy):
        return F.avg_pool2d_backward(dy, self._x, self.size, self.stride, self.padding,
                                     self.count_include_pad)

    def get_config(self):
        return super().get_config() | {"count_include_pad": self.count_include_pad}


class GlobalAvgPool(Layer):
    """Mean of each map: ``x (N, C, H, W) -> y (N, C)`` (GoogLeNet, ResNet heads)."""
    kind = "GlobalAvgPool"
    keeps_range = True
    field = "global"
    title = "Global avg pooling"
    explain_form = "window"

    @classmethod
    def input_maps(cls, step, maps, k=0):
        return maps                       # unit c is the mean of map c

    @classmethod
    def explain(cls, step, c):
        """The whole map and its mean."""
        xmap = step.x[c.sample, c.map].astype(np.float64)
        c.channels, c.inputs = [c.map], xmap
        c.rows, c.cols = list(range(xmap.shape[0])), list(range(xmap.shape[1]))
        c.sum = c.output = float(xmap.mean())
        c.details["count"] = int(xmap.size)
        c.scale = float(np.abs(xmap).sum())

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"layer {self.path!r} (GlobalAvgPool): expected input maps "
                             f"(C, H, W), got shape {input_shape}")
        return (input_shape[0],)

    def forward(self, x, training=False):
        self._shape = x.shape
        return F.global_avg_pool(x)

    def backward(self, dy):
        return F.global_avg_pool_backward(dy, self._shape)


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
