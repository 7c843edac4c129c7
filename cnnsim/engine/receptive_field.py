"""Receptive fields: the theoretical box in the input image, and the effective one.

**Theoretical** (``receptive_field(trace, layer, map, row, col)``; ``(trace, layer, row,
col)`` for every map at once): the input-image box that can influence neuron
``(map, row, col)`` of ``layer``, composed through the steps below it along the edges of
the network's graph (``Step.sources``) and only along the paths that reach *that map*:
through a depth concat only the branch that made it, through an add every term, through
a grouped convolution or a connection table only the input maps its filter reads (the
routing is each layer class's, ``cnnsim.layers.fields``). A window layer (kernel f,
stride s, top/left padding p) maps output rows ``r0..r1`` to input rows
``r0*s - p .. r1*s - p + f - 1`` (``geometry.window_span``); LRN, activations, Add,
DepthConcat, BatchNorm, Dropout keep the box; Dense / GlobalAvgPool see all of their
input; a Flatten unit is one input position. Two boxes are reported:

* ``unclipped``: the classical arithmetic (it runs into the zero padding);
* clipped (``top``, ``bottom``, ``left``, ``right``): at every layer the box is cut to the
  real neurons of that layer (padding cells depend on nothing), so this is exactly the
  bounding box of the image pixels that can change the neuron.

``size``, ``jump`` (effective stride) and ``start`` summarize the unclipped field of the
map as an affine map: output row ``i`` sees input rows ``start + i*jump .. start + i*jump
+ size - 1`` (``geometry.rf_through``: ``size' = size + (f-1) jump``, ``start' = start - p
jump``, ``jump' = jump s``); where paths meet, the union of their intervals, and
``jump = None`` if their jumps differ. ``maps``: the input maps of the layer's input that
the neuron reads (``connections`` shows the same set).

**Effective** (``effective_receptive_field(net, x, layer, map, row, col)``): the gradient
of that one neuron with respect to the input image, computed by the layers' own backward
passes from that neuron down (Luo et al. 2016); its heat map is ``sum_c |grad[c]|``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Union

import numpy as np

from ..graph import graph_of
from ..layers.base import Layer
from ..layers.explain import ALL
from ..layers.fields import FieldError, box_back, full, hw_of, map_fields
from ..typing import Array
from .connections import check_neuron
from .trace import Step, Trace, TraceError


@dataclass
class ReceptiveField:
    layer: str
    row: int
    col: int
    top: int
    bottom: int
    left: int
    right: int
    unclipped: tuple  # (top, bottom, left, right), may run outside the image
    size: tuple  # (h, w) of the unclipped box
    jump: Optional[tuple]  # (h, w) effective stride, None where paths differ / global
    start: Optional[tuple]  # (h, w) unclipped top/left of neuron (0, 0), None likewise
    image_shape: tuple  # (H, W)
    map: Optional[int] = None  # the map asked about (None: every map)

    @property
    def clipped(self):
        return (self.top, self.bottom, self.left, self.right)

    def __repr__(self):
        from ..display import receptive_field_repr

        return receptive_field_repr(self)

    @property
    def empty(self):
        """True when only padding feeds the neuron (a window entirely in padding): it is a
        constant, no pixel influences it; the clipped box is then (0, -1, 0, -1)."""
        return self.bottom < self.top

    @property
    def whole_image(self):
        return self.clipped == (0, self.image_shape[0] - 1, 0, self.image_shape[1] - 1)

    def to_dict(self):
        return {"top": self.top, "bottom": self.bottom, "left": self.left, "right": self.right}


def receptive_field(trace: Trace, layer: Union[str, Step], *neuron: int) -> ReceptiveField:
    """The theoretical receptive field of neuron ``(map, row, col)`` of ``layer``; with two
    numbers ``(row, col)``, of that position in every map (the union over the maps)."""
    if len(neuron) == 3:
        map, row, col = neuron
    elif len(neuron) == 2:
        (row, col), map = neuron, None
    else:
        raise TypeError(
            "receptive_field(trace, layer, map, row, col) or (trace, layer, row, "
            f"col); got {len(neuron)} numbers"
        )
    step = trace.step(layer) if isinstance(layer, str) else layer
    check_neuron(step, 0 if map is None else map, row, col)
    hw_img = hw_of(trace.input_shape)
    if hw_img is None:
        raise TraceError("receptive_field: the network input is not an image (C, H, W)")
    maps = ALL if map is None else {int(map)}
    start_box = ALL if len(step.output_shape) == 1 else (row, row, col, col)
    try:
        clipped = box_back(trace.steps, step.index, maps, start_box, clipped=True)
        unclipped = full(box_back(trace.steps, step.index, maps, start_box, clipped=False), hw_img)
        fields = map_fields(trace.steps, step.index)[step.index]
    except FieldError as e:
        raise TraceError(str(e)) from None
    clipped = full(clipped, hw_img) if clipped is not None else None
    if clipped is None:  # every path ran into padding only: nothing influences it
        clipped = (0, -1, 0, -1)
    summary = fields.summary(map) if map is not None else _union_summary(fields)
    jump = start = None
    if summary is not None:
        _, jump, start = summary
    u = unclipped
    return ReceptiveField(
        layer=step.name,
        row=int(row),
        col=int(col),
        top=clipped[0],
        bottom=clipped[1],
        left=clipped[2],
        right=clipped[3],
        unclipped=tuple(u),
        size=(u[1] - u[0] + 1, u[3] - u[2] + 1),
        jump=jump,
        start=start,
        image_shape=hw_img,
        map=None if map is None else int(map),
    )


def _union_summary(fields):
    """The affine summary of every map at once (the union of their fields)."""
    if any(f is None for f in fields.fields):
        return None
    acc = ({}, {})
    for f in fields.fields:
        for a in range(2):
            for j, (st, en) in f[a].items():
                old = acc[a].get(j)
                acc[a][j] = (st, en) if old is None else (min(old[0], st), max(old[1], en))
    return type(fields)([acc]).summary(0)


def field_summary(trace: Trace, layer: Union[str, Step]) -> Any:
    """``MapFields`` of ``layer``'s output maps (see ``cnnsim.layers.fields``)."""
    step = trace.step(layer) if isinstance(layer, str) else layer
    return map_fields(trace.steps, step.index)[step.index]


@dataclass
class EffectiveRF:
    layer: str
    map: int
    row: int
    col: int
    grad: np.ndarray  # (C, H, W): d neuron / d input image
    heat: np.ndarray  # (H, W): sum over channels of |grad|

    def support(self):
        """Bounding box (top, bottom, left, right) of the nonzero gradient, or None."""
        r, c = np.nonzero(self.heat)
        if r.size == 0:
            return None
        return int(r.min()), int(r.max()), int(c.min()), int(c.max())


def effective_receptive_field(
    net: Layer, x: Array, layer: str, map: int, row: int, col: int, sample: int = 0
) -> EffectiveRF:
    """Gradient of output neuron ``(map, row, col)`` of ``layer`` with respect to the input
    image ``x[sample]`` (``x (N, C, H, W)`` or one image ``(C, H, W)``), by the backward
    passes of the layers from that neuron down. Layer gradients are left as they were."""
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[None]
    if not 0 <= sample < x.shape[0]:
        raise ValueError(f"sample {sample} is outside the batch of {x.shape[0]}")
    x1 = np.ascontiguousarray(x[sample : sample + 1])
    graph = graph_of(net)
    node = next((n for n in graph.nodes if n.layer.path == layer), None)
    if node is None:
        raise KeyError(
            f"no layer named {layer!r} in {net.name!r}; valid names: "
            f"{', '.join(n.layer.path for n in graph.nodes)}"
        )
    net._check_input(x1)
    values = graph.forward(x1, until=node.index)
    y = values[node.output]
    shp = tuple(y.shape[1:])

    class _S:  # the shape facts check_neuron needs
        name, output_shape = layer, shp

    check_neuron(_S(), map, row, col)
    dy = np.zeros_like(y)
    if y.ndim == 2:
        dy[0, map] = 1
    else:
        dy[0, map, row, col] = 1
    g = graph.backward_from(node.index, dy)[0].astype(np.float64)
    return EffectiveRF(
        layer=layer, map=int(map), row=int(row), col=int(col), grad=g, heat=np.abs(g).sum(axis=0)
    )
