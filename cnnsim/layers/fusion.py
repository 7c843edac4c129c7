"""Layer pairs the graph runs as one kernel pass.

LeNet-5's ``C1 -> S2`` and ``C3 -> S4`` are a convolution with tanh followed by 2x2
average pooling. Run one layer at a time, a training step walks each full-size map five
times after the convolution (back from the kernel's layout, tanh, the pooling; the
pooling's and tanh's backward, the bias sum, into the kernel's layout again); fused
(``F.conv2d_avgpool``), once each way. The graph (``cnnsim.graph.Graph.forward``) asks
each node's layer for ``fuse_next(next_layer)`` and runs the pair through the object it
returns, with the same numbers as the layers one by one, bit for bit.

What a student sees does not change. Each layer's cache is left as its own forward would
leave it, so either layer can still be backpropagated alone; and while a trace (or any
observer, ``cnnsim.layers.base.observe``) listens, the pair announces both layers with
the arrays the layers one by one would have given: the convolution's input and output,
the pooling's output; backward, the pooling's ``dy`` and ``dx`` (computed for the trace:
the fused pass never forms it) and the convolution's. The one thing that differs is the
time: the convolution's step carries the pair's whole time and the pooling's 0 s (they
ran as one pass), which the pooling's step says (``facts["timed_with"]``: a trace table
shows "in C1" as its time). ``config.fuse_layers = False`` runs every layer on its own.
"""

from __future__ import annotations

import time
from typing import Any, Optional

from .. import config
from .. import functional as F
from ..typing import Array
from . import base


class ConvAvgPool:
    """``Conv2D`` (stride 1; activation linear, tanh or sigmoid) followed by
    ``AvgPool2D(2, 2)`` without padding, its only reader (``Conv2D.fuse_next``)."""

    def __init__(self, conv: Any, pool: Any) -> None:
        self.conv = conv
        self.pool = pool
        self._saved: Optional[tuple[Array, Array]] = None  # the last fused forward's

    def ready(self) -> bool:
        """Run fused now? Unless ``config.fuse_layers`` is off."""
        return bool(config.fuse_layers)

    def forward(self, x: Array, training: bool = False) -> tuple[Array, Array]:
        """``(y, p)``: the convolution's output and the pooled map."""
        conv, pool = self.conv, self.pool
        conv._check_input(x)
        t0 = time.perf_counter()
        r = F.conv2d_avgpool(
            x, conv.params["w"], conv.params.get("b"), conv.padding, conv._table, conv.activation
        )
        seconds = time.perf_counter() - t0
        if r is None:  # this shape, input or target: one layer at a time
            self._saved = None
            y = conv(x, training)
            return y, pool(y, training)
        y, p, self._saved = r
        # the caches each layer's own forward leaves (tanh's backward needs y, not z)
        conv._cache = (x, None, y, None)
        conv._forward_ran = True
        pool._x = y
        pool._forward_ran = True
        listeners = list(base._observers)  # as the layers one by one announce themselves
        for obs in listeners:
            obs.on_forward(conv, x, y, seconds)
        pool.timed_with = conv.path  # its time is in the convolution's step
        try:
            for obs in listeners:
                obs.on_forward(pool, y, p, 0.0)
        finally:
            pool.timed_with = None
        return y, p

    def backward(self, dp: Array, input_grad: bool = True) -> Optional[Array]:
        """``dx`` from ``dp``, the pooled map's gradient; fills the convolution's grads.
        ``input_grad=False``: None (``Layer.backprop``), unless someone listens."""
        conv, pool = self.conv, self.pool
        x = conv._cache[0]
        listeners = list(base._observers)
        r = None
        if self.ready() and self._saved is not None:
            r = F.conv2d_avgpool_backward(
                dp,
                self._saved,
                x,
                conv.params["w"],
                conv.padding,
                conv._table,
                conv.activation,
                input_grad or bool(listeners),  # a trace records every dx
                conv.use_bias,
            )
        if r is None:  # one layer at a time (observers hear both)
            return conv.backprop(pool.backprop(dp), input_grad=input_grad)
        dx, dw, db = r
        conv.grads["w"] = dw
        if db is not None:
            conv.grads["b"] = db
        if listeners:
            dy = pool.backward(dp)  # the pooling's dx, what its own backward records
            for obs in listeners:
                obs.on_backward(pool, dp, dy)
            for obs in listeners:
                obs.on_backward(conv, dy, dx)
        return dx
