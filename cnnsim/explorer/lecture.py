"""The lecture's arithmetic figures as interactive pages: one convolution or pooling layer
on a small input, in the explorer, so a student can click any output neuron and see its
window slide over the (zero-padded) input, with the products and the sum.

    conv_page((5, 7), (3, 3), (2, 2), "same")   # Géron fig. 14-4: 5x7 -> 3x4
    pool_page((4, 4), (2, 2), None, "valid", "max")
"""

import numpy as np

from .. import layers as L
from ..engine import record
from ..graph import Input
from ..layers.model import Model
from . import render_html


def _one_layer_trace(layer, x, name):
    x = np.asarray(x, dtype=np.float32)[None, None]
    inp = Input((1,) + x.shape[2:])
    net = Model(inp, layer(inp), name=name)
    return net, record(net, x)


def conv_page(input_hw, kernel, stride=(1, 1), padding="valid", neuron=(0, 0), seed=0):
    """A one-filter convolution on seeded small integers (inputs 0..9, weights -1..1, bias
    0), so every product and sum can be checked by hand; opens on ``neuron`` (row, col)."""
    rng = np.random.default_rng(seed)
    h, w = (int(v) for v in input_hw)
    conv = L.Conv2D(1, tuple(kernel), stride=tuple(stride), padding=padding, name="conv")
    x = rng.integers(0, 10, size=(h, w))
    net, _ = _one_layer_trace(conv, x, "explain conv")
    conv.params["w"][...] = rng.integers(-1, 2, size=conv.params["w"].shape)
    conv.params["b"][...] = 0
    tr = record(net, x[None, None].astype(np.float32))
    return render_html(
        tr, neurons=[("conv", 0) + tuple(int(v) for v in neuron)], title="cnnsim explain conv"
    )


def pool_page(input_hw, size, stride=None, padding="valid", kind="max", values=None, seed=0):
    """A pooling layer on the values of ``cnnsim explain pool`` (given or seeded)."""
    from ..arithmetic import _pool_input

    x = _pool_input(input_hw, values, seed, "explain pool")
    cls = L.MaxPool2D if kind == "max" else L.AvgPool2D
    layer = cls(
        tuple(size),
        stride=None if stride is None else tuple(stride),
        padding=padding,
        name=f"{kind}pool",
    )
    _, tr = _one_layer_trace(layer, x, "explain pool")
    return render_html(tr, neurons=[(layer.name, 0, 0, 0)], title="cnnsim explain pool")
