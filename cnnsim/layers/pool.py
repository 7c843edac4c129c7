"""Pooling layers: no weights, only a window. ``x (N, C, H, W) -> y (N, C, H_out, W_out)``."""
from .. import functional as F, geometry
from .base import Layer


class _Pool2D(Layer):
    _fwd = _bwd = None

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
    _fwd = staticmethod(F.max_pool2d)
    _bwd = staticmethod(F.max_pool2d_backward)


class AvgPool2D(_Pool2D):
    """Average pooling; padded cells are not counted in the mean (TensorFlow's rule)."""
    kind = "AvgPool2D"
    _fwd = staticmethod(F.avg_pool2d)
    _bwd = staticmethod(F.avg_pool2d_backward)


class GlobalAvgPool(Layer):
    """Mean of each map: ``x (N, C, H, W) -> y (N, C)`` (GoogLeNet, ResNet heads)."""
    kind = "GlobalAvgPool"

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
