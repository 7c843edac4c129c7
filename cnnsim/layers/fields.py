"""Receptive fields over a graph of layers, per map: the box a neuron can see, and the
affine summary (size, jump, start) of every map of every layer.

Works on a list of *steps* in execution order, each with ``cls`` (its Layer class),
``geometry``, ``input_shape`` (a list for the joins), ``output_shape``, ``sources``
(indices into the list; ``cnnsim.graph.INPUT`` for the network input), ``facts`` and
``params``: a trace's steps (``cnnsim.engine.trace``), or ``static_steps(net)`` for a built
network that has not run (the summary).

Routing is the layer class's (``Layer.route``): a window layer maps output rows
``r0..r1`` to input rows ``geometry.window_span(r0, r1, f, s, p)``; through a depth concat
only the branch that made the map is followed; through an add every term; through a
grouped convolution or a connection table only the input maps the filter reads.
The affine summary follows ``geometry.rf_through`` (the recurrence
``size' = size + (f-1) jump``, ``start' = start - p jump``, ``jump' = jump s``); where paths
with different fields meet (an inception module's concat) the maps keep their own field,
and an add takes the union of its terms' (same jump: ``min`` start, ``max`` end).
"""

from dataclasses import dataclass, field

from .. import geometry
from ..graph import INPUT, graph_of
from .explain import ALL


class FieldError(ValueError):
    """A receptive field that cannot be composed (the layer's behaviour is unknown)."""


# ---- boxes: (r0, r1, c0, c1), ALL (every position), or None (nothing) -----------------
def hw_of(shape):
    return (shape[1], shape[2]) if len(shape) == 3 else None


def clip(box, hw):
    if box is ALL or hw is None or box is None:
        return box
    r0, r1, c0, c1 = max(box[0], 0), min(box[1], hw[0] - 1), max(box[2], 0), min(box[3], hw[1] - 1)
    return None if r0 > r1 or c0 > c1 else (r0, r1, c0, c1)


def full(box, hw):
    if box is ALL and hw is not None:
        return (0, hw[0] - 1, 0, hw[1] - 1)
    return box


def union(a, b):
    if a is None:
        return b
    if b is None:
        return a
    if a is ALL or b is ALL:
        return ALL
    return (min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3]))


def window_box(step, box):
    """The input box a window layer's output ``box`` reads (``geometry.window_span``)."""
    if box is ALL:
        return ALL
    (fh, fw), (sh, sw), (t, _, l, _) = (step.geometry[n] for n in ("kernel", "stride", "padding"))
    return geometry.window_span(box[0], box[1], fh, sh, t) + geometry.window_span(
        box[2], box[3], fw, sw, l
    )


def _inputs(step):
    return step.input_shape if isinstance(step.input_shape, list) else [step.input_shape]


def _key(maps):
    return ALL if maps is ALL else frozenset(maps)


# ---- the box of one neuron --------------------------------------------------------------
def box_back(steps, target, maps, box, clipped):
    """The input-image box (r0, r1, c0, c1) that output ``maps`` (a set, or ALL) at ``box``
    of step ``target`` can see, following only the paths that reach those maps.
    ``clipped``: cut the box to the real neurons at every layer (padding depends on
    nothing), so the result is exactly the bounding box of the pixels that matter; None
    when only padding feeds it. Unclipped: the classical arithmetic."""
    want = {target: {_key(maps): box}}
    image = None
    for k in range(target, -1, -1):
        reqs = want.pop(k, None)
        if not reqs:
            continue
        step = steps[k]
        for mkey, b in reqs.items():
            if b is None:
                continue
            for src, shp, parts in zip(step.sources, _inputs(step), step.cls.route(step, mkey, b)):
                if src is None:
                    raise FieldError(
                        f"receptive_field: the input of {step.name!r} was not "
                        f"produced by a recorded layer; cannot follow it"
                    )
                hw = hw_of(shp)
                for m, ib in parts:
                    if m is not ALL and not m:
                        continue  # not this branch
                    ib = full(ib, hw)
                    if clipped:
                        ib = clip(ib, hw)
                    if ib is None:
                        continue
                    if src == INPUT:
                        image = union(image, ib)
                    else:
                        slot = want.setdefault(src, {})
                        slot[_key(m)] = union(slot.get(_key(m)), ib)
    return image


# ---- the affine summary of every map ----------------------------------------------------
@dataclass
class MapFields:
    """The fields of one step's output maps: ``of_map[m]`` indexes ``fields``; a field is
    per axis ``{jump: (start, end)}`` of neuron index 0 (several jumps where paths with
    different strides meet), or None (a vector output, or one that sees everything)."""

    fields: list
    of_map: list = field(default_factory=list)

    def field_of(self, m):
        return self.fields[self.of_map[m]] if self.of_map else self.fields[0]

    def summary(self, m=None):
        """``(size, jump, start)`` per axis (h, w) of map ``m`` (None: the range over maps:
        ``[(size_min, size_max), ...]`` lists), or None where it is not one affine map."""
        fs = [self.field_of(m)] if m is not None else self.fields
        out = []
        for f in fs:
            if f is None or any(len(a) != 1 for a in f):
                return None
            ((jh, (sh, eh)),) = f[0].items()
            ((jw, (sw, ew)),) = f[1].items()
            out.append(((eh - sh + 1, ew - sw + 1), (jh, jw), (sh, sw)))
        return out[0] if m is not None else out


_IMAGE = ({1: (0, 0)}, {1: (0, 0)})


def _merge_into(acc, f):
    for a in range(2):
        for j, (st, en) in f[a].items():
            old = acc[a].get(j)
            acc[a][j] = (st, en) if old is None else (min(old[0], st), max(old[1], en))


def map_fields(steps, upto=None):
    """``[MapFields]`` for steps ``0 .. upto`` (all by default)."""
    last = len(steps) - 1 if upto is None else upto
    out = []
    for step in steps[: last + 1]:
        ins = []
        for src in step.sources:
            if src is None:
                raise FieldError(
                    f"receptive_field: the input of {step.name!r} was not "
                    f"produced by a recorded layer; cannot follow it"
                )
            ins.append(MapFields([_IMAGE]) if src == INPUT else out[src])
        kind = step.cls.field
        if kind in ("global", "flatten") or len(step.output_shape) != 3:
            out.append(MapFields([None]))
            continue
        cache, fields, of_map = {}, [], []
        for m in range(step.output_shape[0]):
            sig = []
            for k, mf in enumerate(ins):
                maps = step.cls.input_maps(step, {m}, k)
                if maps is ALL or not mf.of_map:
                    ids = frozenset(range(len(mf.fields)))
                else:
                    ids = frozenset(mf.of_map[i] for i in maps)
                sig.append(ids)
            sig = tuple(sig)
            if sig not in cache:
                acc = ({}, {})
                dead = False
                for ids, mf in zip(sig, ins):
                    for i in ids:
                        f = mf.fields[i]
                        if f is None:
                            dead = True
                            break
                        _merge_into(acc, _through(step, f) if kind == "window" else f)
                cache[sig] = len(fields)
                fields.append(None if dead else acc)
            of_map.append(cache[sig])
        out.append(MapFields(fields, of_map))
    return out


def _through(step, f):
    """A field through a window layer (``geometry.rf_through`` per axis and jump)."""
    g = step.geometry
    res = ({}, {})
    for a in range(2):
        fk, s, p = g["kernel"][a], g["stride"][a], g["padding"][2 * a]
        for j, (st, en) in f[a].items():
            st2, en2, j2 = geometry.rf_through(st, en, j, fk, s, p)
            old = res[a].get(j2)
            res[a][j2] = (st2, en2) if old is None else (min(old[0], st2), max(old[1], en2))
    return res


# ---- a built network, without running it ------------------------------------------------
@dataclass
class StaticStep:
    """What the field arithmetic needs of one graph node (the facts a trace step holds)."""

    index: int
    name: str
    cls: type
    geometry: dict
    input_shape: object
    output_shape: tuple
    sources: list
    facts: dict
    params: dict


def static_steps(net):
    """One ``StaticStep`` per node of ``net``'s graph, every output's nodes included."""
    g = graph_of(net)
    out = []
    for node in g.nodes:
        layer = node.layer
        geo = layer.geometry()
        out.append(
            StaticStep(
                index=node.index,
                name=layer.path,
                cls=type(layer),
                geometry=None
                if not geo
                else {k: tuple(geo[k]) for k in ("kernel", "stride", "padding")},
                input_shape=layer.input_shape,
                output_shape=tuple(layer.output_shape),
                sources=g.sources(node),
                facts=layer.get_config(),
                params=layer.engine_params(),
            )
        )
    return out
