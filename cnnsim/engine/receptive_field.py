"""Receptive fields: the theoretical box in the input image, and the effective one.

**Theoretical** (``receptive_field(trace, layer, row, col)``): the input-image box that can
influence output position ``(row, col)`` of ``layer`` (any map), composed through every
step below it using the recorded data flow (``Step.sources``), so through an inception
module or a residual unit it is the union over the paths. Per window layer (kernel f,
stride s, top/left padding p), output rows ``r0..r1`` read input rows
``r0*s - p .. r1*s - p + f - 1``; layers without a window (LRN, activations, Add,
DepthConcat, BatchNorm, Dropout) keep the box; Flatten / Dense / GlobalAvgPool see all of
their input. Two boxes are reported:

* ``unclipped``: the classical arithmetic (it runs into the zero padding);
* clipped (``top``, ``bottom``, ``left``, ``right``): at every layer the box is cut to the
  real neurons of that layer (padding cells depend on nothing), so this is exactly the
  bounding box of the image pixels that can change the neuron.

``size``, ``jump`` (effective stride) and ``start`` summarize the unclipped field as an
affine map: output row ``i`` sees input rows ``start + i*jump .. start + i*jump + size - 1``
(the recurrence ``size' = size + (f-1) jump``, ``start' = start - p jump``,
``jump' = jump s``, ``cnnsim.geometry.compose_receptive_field``); through branches the
union of the paths' intervals, and ``jump = None`` if the paths' jumps differ.

**Effective** (``effective_receptive_field(net, x, layer, map, row, col)``): the gradient
of that one neuron with respect to the input image, computed by the layers' own backward
passes from that neuron down (Luo et al. 2016); its heat map is ``sum_c |grad[c]|``.
"""
from dataclasses import dataclass

import numpy as np

from .connections import check_neuron
from ..graph import INPUT, graph_of
from .trace import TraceError

_GLOBAL_KINDS = ("Flatten", "Dense", "GlobalAvgPool")
ALL = "all"


@dataclass
class ReceptiveField:
    layer: str
    row: int
    col: int
    top: int
    bottom: int
    left: int
    right: int
    unclipped: tuple            # (top, bottom, left, right), may run outside the image
    size: tuple                 # (h, w) of the unclipped box
    jump: tuple                 # (h, w) effective stride, None where paths differ / global
    start: tuple                # (h, w) unclipped top/left of neuron (0, 0), None likewise
    image_shape: tuple          # (H, W)

    @property
    def clipped(self):
        return (self.top, self.bottom, self.left, self.right)

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


def _kind(step):
    if step.geometry is not None:
        return "window"
    ins = step.input_shape if step.merge else [step.input_shape]
    if step.kind in _GLOBAL_KINDS or len(step.output_shape) == 1:
        return "global"
    if all(len(s) == 3 and tuple(s[1:]) == tuple(step.output_shape[1:]) for s in ins):
        return "identity"
    raise TraceError(f"receptive_field: layer {step.name!r} ({step.kind}) changes the map "
                     f"size without a window geometry; cannot compose its receptive field")


def _through(step, box):
    """The box (r0, r1, c0, c1) in the step's input coordinates read by ``box``."""
    if box is ALL:
        return ALL
    k = _kind(step)
    if k == "global":
        return ALL
    if k == "identity":
        return box
    (fh, fw), (sh, sw), (t, _, l, _) = (step.geometry[n] for n in ("kernel", "stride", "padding"))
    r0, r1, c0, c1 = box
    return (r0 * sh - t, r1 * sh - t + fh - 1, c0 * sw - l, c1 * sw - l + fw - 1)


def _hw(shape):
    return (shape[1], shape[2]) if len(shape) == 3 else None


def _clip(box, hw):
    if box is ALL or hw is None:
        return box
    r0, r1, c0, c1 = max(box[0], 0), min(box[1], hw[0] - 1), max(box[2], 0), min(box[3], hw[1] - 1)
    return None if r0 > r1 or c0 > c1 else (r0, r1, c0, c1)


def _full(box, hw):
    if box is ALL and hw is not None:
        return (0, hw[0] - 1, 0, hw[1] - 1)
    return box


def _union(a, b):
    if a is None:
        return b
    if b is None:
        return a
    if a is ALL or b is ALL:
        return ALL
    return (min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3]))


def _source_shapes(step):
    return step.input_shape if step.merge else [step.input_shape]


def _propagate(trace, target, box, clip):
    boxes = {target.index: box}
    image = None
    for k in range(target.index, -1, -1):
        step = trace.steps[k]
        b = boxes.pop(k, None)
        if b is None:
            continue
        inner = _through(step, b)
        for src, shp in zip(step.sources, _source_shapes(step)):
            if src is None:
                raise TraceError(f"receptive_field: the input of {step.name!r} was not produced "
                                 f"by a recorded layer; cannot follow it")
            hw = _hw(shp)
            ib = _full(inner, hw)
            if clip:
                ib = _clip(ib, hw)
            if src == INPUT:
                image = _union(image, ib)
            else:
                boxes[src] = _union(boxes.get(src), ib)
    return image


def _affine(trace, target):
    """Per axis, ``{jump: (start, end)}`` of output index 0 of each step, or None (global)."""
    aff = {}
    for step in trace.steps[:target.index + 1]:
        parts = [aff.get(s, "?") if s != INPUT else ({1: (0, 0)}, {1: (0, 0)})
                 for s in step.sources]
        if any(p == "?" for p in parts):
            raise TraceError(f"receptive_field: the input of {step.name!r} was not produced by "
                             f"a recorded layer; cannot follow it")
        if any(p is None for p in parts) or _kind(step) == "global":
            aff[step.index] = None
            continue
        merged = ({}, {})
        for p in parts:
            for a in range(2):
                for j, (st, en) in p[a].items():
                    if _kind(step) == "window":
                        f = step.geometry["kernel"][a]
                        s = step.geometry["stride"][a]
                        pad = step.geometry["padding"][2 * a]
                        j, st, en = j * s, st - pad * j, en + (f - 1 - pad) * j
                    old = merged[a].get(j)
                    merged[a][j] = (st, en) if old is None else (min(old[0], st), max(old[1], en))
        aff[step.index] = merged
    return aff[target.index]


def receptive_field(trace, layer, row, col):
    """The theoretical receptive field of output position ``(row, col)`` of ``layer``."""
    step = trace.step(layer) if isinstance(layer, str) else layer
    check_neuron(step, 0, row, col)
    hw_img = _hw(trace.input_shape)
    if hw_img is None:
        raise TraceError("receptive_field: the network input is not an image (C, H, W)")
    start_box = ALL if len(step.output_shape) == 1 else (row, row, col, col)
    clipped = _propagate(trace, step, start_box, clip=True)
    unclipped = _propagate(trace, step, start_box, clip=False)
    clipped = _full(clipped, hw_img) if clipped is not None else None
    unclipped = _full(unclipped, hw_img)
    if clipped is None:   # every path ran into padding only: nothing influences it
        clipped = (0, -1, 0, -1)
    aff = _affine(trace, step)
    jump = start = None
    if aff is not None and len(aff[0]) == 1 and len(aff[1]) == 1:
        (jh, (sh, _)), = aff[0].items()
        (jw, (sw, _)), = aff[1].items()
        jump, start = (jh, jw), (sh, sw)
    u = unclipped
    return ReceptiveField(layer=step.name, row=int(row), col=int(col), top=clipped[0],
                          bottom=clipped[1], left=clipped[2], right=clipped[3],
                          unclipped=tuple(u), size=(u[1] - u[0] + 1, u[3] - u[2] + 1),
                          jump=jump, start=start, image_shape=hw_img)


@dataclass
class EffectiveRF:
    layer: str
    map: int
    row: int
    col: int
    grad: np.ndarray            # (C, H, W): d neuron / d input image
    heat: np.ndarray            # (H, W): sum over channels of |grad|

    def support(self):
        """Bounding box (top, bottom, left, right) of the nonzero gradient, or None."""
        r, c = np.nonzero(self.heat)
        if r.size == 0:
            return None
        return int(r.min()), int(r.max()), int(c.min()), int(c.max())


def effective_receptive_field(net, x, layer, map, row, col, sample=0):
    """Gradient of output neuron ``(map, row, col)`` of ``layer`` with respect to the input
    image ``x[sample]`` (``x (N, C, H, W)`` or one image ``(C, H, W)``), by the backward
    passes of the layers from that neuron down. Layer gradients are left as they were."""
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[None]
    if not 0 <= sample < x.shape[0]:
        raise ValueError(f"sample {sample} is outside the batch of {x.shape[0]}")
    x1 = np.ascontiguousarray(x[sample:sample + 1])
    graph = graph_of(net)
    node = next((n for n in graph.nodes if n.layer.path == layer), None)
    if node is None:
        raise KeyError(f"no layer named {layer!r} in {net.name!r}; valid names: "
                       f"{', '.join(n.layer.path for n in graph.nodes)}")
    net._check_input(x1)
    values = graph.forward(x1, until=node.index)
    y = values[node.output]
    shp = tuple(y.shape[1:])

    class _S:  # the shape facts check_neuron needs
        name, output_shape = layer, shp
    check_neuron(_S, map, row, col)
    dy = np.zeros_like(y)
    if y.ndim == 2:
        dy[0, map] = 1
    else:
        dy[0, map, row, col] = 1
    g = graph.backward_from(node.index, dy)[0].astype(np.float64)
    return EffectiveRF(layer=layer, map=int(map), row=int(row), col=int(col), grad=g,
                       heat=np.abs(g).sum(axis=0))
