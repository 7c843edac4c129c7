"""Traces of a forward pass: one ``Step`` per leaf layer call, in execution order.

    from cnnsim.engine import record
    tr = record(net, x)                   # plain forward, watched through layers.observe
    tr["C3"].y, tr["C3"].stats            # a step's output and its statistics
    tr.record_backward(net, dy)           # after backprop: tr["C3"].grad_y, .grad_stats
    tr.save("trace.npz"); Trace.load("trace.npz")   # bit-exact round trip

Order of the steps (the order the containers run them): a ``Sequential`` child after
child; an inception module's branches left to right, then its ``DepthConcat``; a residual
unit's main path, then its shortcut (nothing for the identity), then its ``Add``.

A Step holds the layer's input ``x`` (a list for the merge leaves ``Add``/``DepthConcat``)
and output ``y`` (references, not copies: the forward pass allocates them anyway), its
parameters (references to the layer's arrays: they follow later training updates), its
geometry, activation, statistics (see ``cnnsim.engine.stats``), wall time, and ``sources``:
the indices of the steps that produced its inputs (-1: the network input), read from the
edges of the network's graph (``cnnsim.graph``): never guessed from the identity of the
arrays, so a layer that returns its input unchanged (dropout at inference, an identity
shortcut) does not confuse it. **Light mode** (``light=True``) keeps only statistics and shapes; with
``keep=[names]`` it keeps the arrays of just those layers (a container name keeps all its
leaves). Enough is kept to answer ``connections`` and ``receptive_field`` without re-running.
"""

from __future__ import annotations

import json
import pathlib
import weakref
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

import numpy as np

from .._atomic import atomic_path
from .._npz import DEFAULT_MAX_LOAD_BYTES, read_npz
from .._text import printable
from ..graph import INPUT, graph_of
from ..layers.base import Layer, layer_class, observe
from ..typing import Array
from .stats import array_stats, grad_stats

FORMAT = "cnnsim-trace"
VERSION = 1


class TraceError(ValueError):
    """A trace file that cannot be read, or a question a trace cannot answer."""


def _shape(a):
    return tuple(a.shape[1:])  # a NumPy (or device) array's shape holds Python ints


def _json_safe(d):
    out = {}
    for k, v in (d or {}).items():
        try:
            json.dumps(v)
        except (TypeError, ValueError):
            continue
        out[k] = v
    return out


# layer -> ((its last config, input shape), the __dict__ of the Step its calls record as
# far as that is known before a call: ``layer_step`` plus its settings as JSON ``facts``).
# A trace records each layer's settings at every call; working them out again
# (serializing C3's connection table to check it) was half of the recorder's own time
# for LeNet-5, and building each Step through the dataclass's 21-argument __init__ a
# third of the rest. A layer's settings rarely change between calls, so a step is a copy
# of this prototype with the call's own values filled in (``Recorder._add_step``).
_PROTOS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _prototype(layer):
    """The prototype ``__dict__`` of ``layer``'s steps, reused while the layer's config and
    input shape equal those it was built for. Its ``facts``, ``geometry`` and (merges)
    ``input_shape`` are shared: copy them for a step."""
    key = (layer.get_config(), layer.input_shape)
    hit = _PROTOS.get(layer)
    if hit is None or not _same(hit[0], key):
        proto = layer_step(layer).__dict__
        proto["facts"] = _json_safe(key[0])
        proto["layer"] = None  # a value holding its weak key would keep the layer alive
        hit = _PROTOS[layer] = (key, proto)
    return hit[1]


def _same(a, b):
    try:
        return bool(a == b)
    except ValueError:  # an array among the values: "==" has no single answer
        return False


class Deferred:
    """A value worked out on first read: ``Deferred(fn, *args)`` stands for ``fn(*args)``."""

    __slots__ = ("fn", "args")

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __call__(self):
        return self.fn(*self.args)


class _OnFirstRead:
    """A dataclass field that may hold a ``Deferred``: the first read calls it and keeps
    the result, so later reads (and ``==``, ``save``) see an ordinary value.

    The recorder defers a kept step's statistics this way: they are a pass over the output
    that only someone looking at the step needs, and the arrays they describe stay in the
    step. Computed while recording, they made a LeNet-5 trace at batch 64 cost 43 % more
    than a plain forward pass (docs/performance.md, round three, eighth session)."""

    def __set_name__(self, owner, name):
        self.slot = "_" + name

    def __get__(self, obj, owner=None):
        if obj is None:  # the dataclass asks for the class default
            return None
        v = obj.__dict__[self.slot]
        if isinstance(v, Deferred):
            v = obj.__dict__[self.slot] = v()
        return v

    def __set__(self, obj, value):
        obj.__dict__[self.slot] = {} if value is None else value


@dataclass
class Step:
    """One leaf layer call. Shapes exclude the batch axis.

    The ``stats`` of a step that keeps its output are computed when first read
    (``_OnFirstRead``), from the ``y`` the step holds."""

    index: int
    name: str  # qualified path, e.g. "inception_3a/b2/3x3"
    kind: str  # "Conv2D", "MaxPool2D", ...
    input_shape: Any  # tuple, or list of tuples for merge leaves
    output_shape: tuple
    geometry: Optional[dict] = None  # {"kernel", "stride", "padding" (t, b, l, r)} or None
    activation: Optional[str] = None  # function applied at the end of this layer, or None
    stats: Any = _OnFirstRead()  # dict, or a Deferred one (None given: {})
    seconds: float = 0.0
    sources: list = field(default_factory=list)
    facts: dict = field(default_factory=dict)  # layer settings (JSON), e.g. LRN's r, k
    x: Any = None  # input array (N, ...), list for merges, None when light
    y: Any = None  # output array (N, ...), None when light
    params: dict = field(default_factory=dict)  # "w", "b", "table", BN buffers ...
    grad_y: Any = None  # dL/dy after record_backward (None when light)
    grad_x: Any = None  # dL/dx (list for merges)
    grad_params: dict = field(default_factory=dict)
    grad_stats: Optional[dict] = None  # {"y": {...}, "x": {...}, "w": {...}} norms etc.
    layer: Optional[Layer] = None  # the Layer (None for a loaded trace)

    @property
    def kept(self):
        """True when the arrays (x, y, params) were kept."""
        return self.y is not None

    @property
    def merge(self):
        return isinstance(self.input_shape, list)

    @property
    def cls(self):
        """The Layer class behind this step (what it means to the engine); for a loaded
        trace, the class registered for its ``kind``."""
        return type(self.layer) if self.layer is not None else layer_class(self.kind)

    def __repr__(self):
        from ..display import step_repr  # arrays summarized, a few lines

        return step_repr(self)

    def to_dict(self):
        """The JSON view of ``cnnsim step --json``."""
        g = self.geometry or {}
        return {
            "name": self.name,
            "type": self.kind,
            "input_shape": (
                [list(s) for s in self.input_shape] if self.merge else list(self.input_shape)
            ),
            "output_shape": list(self.output_shape),
            "kernel": list(g["kernel"]) if g else None,
            "stride": list(g["stride"]) if g else None,
            "padding": list(g["padding"]) if g else None,
            "activation": self.activation,
            "stats": dict(self.stats),
        }


# where a Step keeps its statistics (or the Deferred standing for them) in its __dict__
_STATS_SLOT = vars(Step)["stats"].slot


def _layer_activation(layer):
    act = getattr(layer, "_act", None)
    if callable(act):
        a = act()
        return None if a == "linear" else a
    return getattr(layer, "activation", None)


def _geometry(layer):
    g = layer.geometry()
    if not g:
        return None
    return {
        "kernel": tuple(g["kernel"]),
        "stride": tuple(g["stride"]),
        "padding": tuple(g["padding"]),
    }


def layer_step(layer: Layer, index: int = 0) -> Step:
    """The Step a leaf layer's call will record, as far as it is known before the call:
    name, type, shapes (``input_shape`` a list of tuples for a merge), geometry and
    activation; no statistics, arrays or time yet."""
    shape = layer.input_shape
    if shape is None or layer.output_shape is None:
        raise TraceError(f"layer {layer.path!r} has no shapes yet: build the network first")
    return Step(
        index=index,
        name=layer.path,
        kind=layer.kind,
        input_shape=[tuple(s) for s in shape] if isinstance(shape, list) else tuple(shape),
        output_shape=tuple(layer.output_shape),
        geometry=_geometry(layer),
        activation=_layer_activation(layer),
        layer=layer,
    )


def planned_steps(net: Layer) -> list[Step]:
    """The steps ``record(net, x)`` and a ``Stepper`` produce, in the same order, before
    anything runs (``layer_step`` of each leaf): what a table needs to size its columns,
    or a neuron's address to be checked, before there is an input."""
    g = graph_of(net)
    return [layer_step(g.nodes[k].layer, i) for i, k in enumerate(g.order([0]))]


class Recorder:
    """The observer that turns leaf calls into Steps (used by ``record`` and ``Stepper``).

    ``graph``: the graph being run (``cnnsim.graph``); each step's ``sources`` are the
    steps of the nodes that produce its node's input edges."""

    def __init__(self, trace, keep=None, light=False, graph=None):
        self.trace = trace
        self.keep = None if keep is None else set(keep)
        self.light = light
        self.graph = graph
        self._step_of = {INPUT: INPUT}  # node index -> step index
        self._by_layer = {}  # id(layer) -> step index (for backward)
        self._pending = []  # calls whose steps are not built yet (on_forward)

    def _keeps(self, name):
        if self.keep is not None:
            return name in self.keep
        return not self.light

    def _sources(self, layer):
        node = self.graph.node_of(layer) if self.graph is not None else None
        if node is None:
            raise TraceError(
                f"record: layer {layer.path!r} ran but is not a node of the network's graph"
            )
        step_of = self._step_of
        srcs = [step_of.get(p) for p in self.graph.sources(node)]
        return node, srcs

    def on_forward(self, layer, x, y, seconds):
        """A leaf call. A step that keeps its arrays is built after the pass (``flush``):
        its Python work, done between two kernels, slowed both it and the next kernel
        (each evicts the other's data from the caches; LeNet-5 at batch 64: 170-190 us
        added to a forward pass this way, 120-130 us built after it). A step that does not
        keep them is built now, so the arrays can go."""
        keep = self._keeps(layer.path)
        self._pending.append((layer, x, y, seconds, layer.timed_with, keep))
        if not keep:
            self.flush()

    def flush(self):
        """Build the steps of the calls announced so far (in call order)."""
        pending, self._pending = self._pending, []
        for call in pending:
            self._add_step(*call)

    def _add_step(self, layer, x, y, seconds, timed_with, keep):
        tr = self.trace
        merge = isinstance(x, (list, tuple))
        node, srcs = self._sources(layer)
        act = _layer_activation(layer)
        range_act = act
        if act is None and layer.keeps_range:
            ranges = {
                None if s in (INPUT, None) else tr.steps[s].facts.get("range_activation")
                for s in srcs
            }
            if len(ranges) == 1:
                range_act = ranges.pop()
        proto = _prototype(layer)
        facts = dict(proto["facts"])
        facts["range_activation"] = range_act
        if timed_with is not None:  # ran as one pass with that layer, which has the time
            facts["timed_with"] = timed_with
        # a copy of the prototype with this call's values (``_prototype``); the shapes are
        # the layer's, which its call checked the input against
        d = dict(proto)
        d["index"] = len(tr.steps)
        d["name"] = layer.path
        if merge:
            d["input_shape"] = list(proto["input_shape"])
        if proto["geometry"] is not None:
            d["geometry"] = dict(proto["geometry"])
        d["activation"] = act
        d["seconds"] = float(seconds)
        d["sources"] = srcs
        d["facts"] = facts
        d["grad_params"] = {}
        d["layer"] = layer
        # a kept output's statistics wait until someone reads them (_OnFirstRead)
        d[_STATS_SLOT] = Deferred(array_stats, y, range_act) if keep else array_stats(y, range_act)
        if keep:
            d["x"] = list(x) if merge else x
            d["y"] = y
            d["params"] = layer.engine_params()
        else:
            d["params"] = {}
        step = object.__new__(Step)
        step.__dict__ = d
        tr.steps.append(step)
        self._step_of[node.index] = step.index
        self._by_layer[id(layer)] = step.index

    def on_backward(self, layer, dy, dx):
        self.flush()
        k = self._by_layer.get(id(layer))
        if k is None:
            return
        step = self.trace.steps[k]
        dxs = list(dx) if isinstance(dx, (list, tuple)) else [dx]
        gs = {
            "y": grad_stats(dy),
            "x": [grad_stats(d) for d in dxs] if step.merge else grad_stats(dx),
        }
        for name, g in layer.grads.items():
            gs[name] = grad_stats(g)
        step.grad_stats = gs
        if step.kept:
            step.grad_y, step.grad_x = dy, (dxs if step.merge else dx)
            step.grad_params = dict(layer.grads)

    def finish(self, y):
        self.flush()
        self.trace.output = y


@dataclass
class Trace:
    """An ordered list of Steps plus the input, the output and a few facts."""

    model: str
    input_shape: tuple
    steps: list = field(default_factory=list)
    input: Optional[object] = None
    output: Optional[object] = None
    meta: dict = field(default_factory=dict)

    def __len__(self):
        return len(self.steps)

    def __iter__(self):
        return iter(self.steps)

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            return self.steps[key]
        return self.step(key)

    def names(self):
        return [s.name for s in self.steps]

    def step(self, name):
        """The step of the leaf ``name``; a one-line KeyError lists the valid names."""
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(
            f"no layer named {name!r} in this trace of {self.model!r}; valid "
            f"names: {', '.join(self.names())}"
        )

    @property
    def batch(self):
        return self.meta.get("batch")

    def to_dict(self):
        return {
            "model": self.model,
            "input_shape": list(self.input_shape),
            "steps": [s.to_dict() for s in self.steps],
        }

    def __repr__(self):
        from ..display import trace_repr  # at most 20 lines

        return trace_repr(self)

    def _repr_html_(self):
        """Jupyter: the steps as an HTML table (``cnnsim.display.trace_html``)."""
        from ..display import trace_html

        return trace_html(self)

    def explorer(self, **kw):
        """The offline HTML explorer of this trace (``cnnsim.explorer``); in Jupyter it
        shows inline as an ``<iframe srcdoc>``, and ``.save(path)`` writes the page."""
        from ..explorer import Explorer

        return Explorer(self, **kw)

    def show(self, **kw):
        """Display the explorer inline in Jupyter (returns it elsewhere)."""
        ex = self.explorer(**kw)
        try:
            from IPython.display import display
        except ImportError:
            return ex
        display(ex)
        return None

    # ---- backward --------------------------------------------------------------------
    def record_backward(self, net, dy):
        """``net.backprop(dy)`` while recording each step's gradients: ``grad_y`` (dL/dy),
        ``grad_x``, ``grad_params`` (when the step's arrays are kept) and ``grad_stats``
        (always). ``net``'s last forward must be the one this trace recorded. Returns dx."""
        rec = Recorder(self)
        rec._by_layer = {id(s.layer): s.index for s in self.steps if s.layer is not None}
        if not rec._by_layer:
            raise TraceError(
                "record_backward: this trace has no layers attached (a loaded "
                "trace); record a new one with record(net, x)"
            )
        with observe(rec):
            return net.backprop(dy)

    # ---- files -----------------------------------------------------------------------
    def save(self, path):
        """Write the trace to one ``.npz`` file (arrays + JSON metadata), atomically: a
        failure leaves no partial file behind."""
        path = pathlib.Path(path)
        arrays, ids = {}, {}

        def put(a):
            if a is None:
                return None
            if isinstance(a, (list, tuple)):
                return [put(b) for b in a]
            a = np.asarray(a)
            if id(a) not in ids:
                ids[id(a)] = f"a{len(ids)}"
                arrays[ids[id(a)]] = a
            return ids[id(a)]

        steps = []
        for s in self.steps:
            d = {
                "index": s.index,
                "name": s.name,
                "kind": s.kind,
                "input_shape": s.input_shape,
                "output_shape": s.output_shape,
                "geometry": s.geometry,
                "activation": s.activation,
                "stats": s.stats,
                "seconds": s.seconds,
                "sources": s.sources,
                "facts": s.facts,
                "grad_stats": s.grad_stats,
                "arrays": {
                    "x": put(s.x),
                    "y": put(s.y),
                    "grad_y": put(s.grad_y),
                    "grad_x": put(s.grad_x),
                    "params": {k: put(v) for k, v in s.params.items()},
                    "grad_params": {k: put(v) for k, v in s.grad_params.items()},
                },
            }
            steps.append(d)
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "model": self.model,
            "input_shape": self.input_shape,
            "meta": self.meta,
            "input": put(self.input),
            "output": put(self.output),
            "steps": steps,
        }
        arrays["meta"] = np.array(json.dumps(meta))
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
        return path

    @classmethod
    def load(cls, path, max_bytes=DEFAULT_MAX_LOAD_BYTES):
        """Read a trace written by ``save``. A missing, corrupt, foreign or tampered file,
        one from another format version, or one whose arrays would take more than
        ``max_bytes`` of memory (checked from the headers before inflating anything; see
        ``cnnsim._npz``) raises a one-line ``TraceError``. Names and texts from the file
        come back with control characters escaped (``cnnsim._text.printable``)."""
        path = pathlib.Path(path)
        if not path.is_file():
            raise TraceError(f"trace file {str(path)!r}: no such file")
        data = read_npz(path, max_bytes, "trace file", TraceError)
        try:
            if "meta" not in data:
                raise TraceError(f"trace file {str(path)!r}: not a cnnsim trace (no metadata)")
            if data["meta"].dtype.kind != "U" or data["meta"].shape != ():
                raise TraceError(
                    f"trace file {str(path)!r}: not a cnnsim trace (metadata is not text)"
                )
            meta = json.loads(str(data.pop("meta")[()]))
        except TraceError:
            raise
        except (ValueError, RecursionError) as e:
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise TraceError(
                f"trace file {str(path)!r}: not a readable cnnsim trace ({type(e).__name__}: {msg})"
            ) from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise TraceError(
                f"trace file {str(path)!r}: not a cnnsim trace (format "
                f"{meta.get('format') if isinstance(meta, dict) else None!r})"
            )
        if meta.get("version") != VERSION:
            raise TraceError(
                f"trace file {str(path)!r}: written by trace format version "
                f"{meta.get('version')!r}; this cnnsim reads version {VERSION}"
            )
        try:
            tr = cls._from_meta(meta, data)
            _check_loaded(tr)
            return tr
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError) as e:
            raise TraceError(
                printable(f"trace file {str(path)!r}: damaged metadata ({type(e).__name__}: {e})")
            ) from None

    @classmethod
    def _from_meta(cls, meta, data):
        def get(k):
            if k is None:
                return None
            if isinstance(k, list):
                return [get(j) for j in k]
            return data[k]

        def shp(v):
            if v and isinstance(v[0], list):
                return [tuple(s) for s in v]
            return tuple(v)

        tr = cls(
            model=meta["model"],
            input_shape=tuple(meta["input_shape"]),
            input=get(meta["input"]),
            output=get(meta["output"]),
            meta=meta["meta"],
        )
        for d in meta["steps"]:
            g = d["geometry"]
            a = d["arrays"]
            tr.steps.append(
                Step(
                    index=d["index"],
                    name=d["name"],
                    kind=d["kind"],
                    input_shape=shp(d["input_shape"]),
                    output_shape=tuple(d["output_shape"]),
                    geometry=None if g is None else {k: tuple(v) for k, v in g.items()},
                    activation=d["activation"],
                    stats=d["stats"],
                    seconds=d["seconds"],
                    sources=d["sources"],
                    facts=d["facts"],
                    x=get(a["x"]),
                    y=get(a["y"]),
                    params={k: get(v) for k, v in a["params"].items()},
                    grad_y=get(a["grad_y"]),
                    grad_x=get(a["grad_x"]),
                    grad_params={k: get(v) for k, v in a["grad_params"].items()},
                    grad_stats=d["grad_stats"],
                )
            )
        return tr


def _ints(v, what, lo=0, hi=2**31):
    if not isinstance(v, (list, tuple)) or not all(
        isinstance(i, int) and not isinstance(i, bool) and lo <= i < hi for i in v
    ):
        raise ValueError(f"{what} must be a list of integers in [{lo}, {hi}), got {v!r:.80}")
    return tuple(v)


def _number(v, what):
    if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
        raise ValueError(f"{what} must be a number, got {v!r:.80}")
    return v


def _numbers(d, what, depth=0):
    """Statistics: a mapping str -> number, None, or (for gradients of merges) a nested
    mapping or a list of them; at most 3 levels deep."""
    if d is None:
        return None
    if not isinstance(d, dict) or depth > 2:
        raise ValueError(f"{what} must be a mapping of numbers, got {type(d).__name__}")
    out = {}
    for k, v in d.items():
        key = printable(k, 60)
        if isinstance(v, dict):
            out[key] = _numbers(v, what, depth + 1)
        elif isinstance(v, list):
            out[key] = [
                _numbers(e, what, depth + 1)
                if isinstance(e, dict)
                else _number(e, f"{what} {key!r}")
                for e in v
            ]
        else:
            out[key] = _number(v, f"{what} {key!r}")
    return out


def _float_array(a, what, shape=None):
    if a is None:
        return None
    if isinstance(a, list):
        return [_float_array(b, what) for b in a]
    if a.dtype.kind != "f" or a.dtype.itemsize not in (4, 8):
        raise ValueError(f"{what} has dtype {a.dtype}; traces hold float32 or float64")
    if shape is not None and tuple(a.shape[1:]) != tuple(shape):
        raise ValueError(
            f"{what} has shape {a.shape}, but the trace says (N, {', '.join(map(str, shape))})"
        )
    return a


def _check_loaded(tr):
    """Types and consistency of a loaded trace (a tampered file must not display false
    shapes, crash later, or put escape codes on a terminal). Raises ValueError/TypeError
    naming the first bad field; each step goes through ``_STEP_CHECKS`` in order."""
    if not isinstance(tr.model, str) or not isinstance(tr.meta, dict):
        raise ValueError("model must be a name and meta a mapping")
    tr.model = printable(tr.model, 80)
    tr.input_shape = _ints(tr.input_shape, "input_shape", 1)
    tr.input = _float_array(tr.input, "input", tr.input_shape)
    tr.output = _float_array(tr.output, "output")
    for k, s in enumerate(tr.steps):
        if s.index != k:
            raise ValueError(f"step {k}: index {s.index!r:.40}, expected {k}")
        for check in _STEP_CHECKS:
            check(s, f"step {k}", len(tr.steps))


def _check_texts(s, where, n):
    """Name, type and activation: text, made safe to print."""
    if not isinstance(s.name, str) or not isinstance(s.kind, str):
        raise ValueError(f"{where}: name and type must be text")
    s.name, s.kind = printable(s.name, 120), printable(s.kind, 40)
    if s.activation is not None:
        if not isinstance(s.activation, str):
            raise ValueError(f"{where}: activation must be text")
        s.activation = printable(s.activation, 40)


def _check_shapes(s, where, n):
    s.output_shape = _ints(s.output_shape, f"{where} output_shape", 1)
    if s.merge:
        s.input_shape = [_ints(t, f"{where} input_shape", 1) for t in s.input_shape]
    else:
        s.input_shape = _ints(s.input_shape, f"{where} input_shape", 1)


# geometry field -> (length, smallest value, what it must be)
_GEOMETRY = {
    "kernel": (2, 1, "(h, w)"),
    "stride": (2, 1, "(h, w)"),
    "padding": (4, 0, "(top, bottom, left, right)"),
}


def _check_geometry(s, where, n):
    if s.geometry is None:
        return
    if set(s.geometry) != set(_GEOMETRY):
        raise ValueError(f"{where}: geometry must hold kernel, stride and padding")
    for key, (length, lo, form) in _GEOMETRY.items():
        if len(_ints(s.geometry[key], f"{where} {key}", lo)) != length:
            raise ValueError(f"{where}: {key} must be {form}")


def _check_facts(s, where, n):
    """Statistics and settings: numbers, sources in range, facts a mapping."""
    s.stats = _numbers(s.stats, f"{where} stats") or {}
    s.grad_stats = _numbers(s.grad_stats, f"{where} grad_stats")
    s.seconds = _number(s.seconds, f"{where} seconds") or 0.0
    s.sources = list(_ints(s.sources, f"{where} sources", -1, n))
    if not isinstance(s.facts, dict):
        raise ValueError(f"{where}: facts must be a mapping")


def _check_arrays(s, where, n):
    """Outputs and inputs (and their gradients) float arrays of the shapes the step states
    (a merge's inputs: a list of them); parameters real or boolean arrays."""
    s.y = _float_array(s.y, f"{where} y", s.output_shape)
    s.grad_y = _float_array(s.grad_y, f"{where} grad_y", s.output_shape)
    shape = None if s.merge else s.input_shape
    s.x = _float_array(s.x, f"{where} x", shape)
    s.grad_x = _float_array(s.grad_x, f"{where} grad_x", shape)
    for key, a in list(s.params.items()) + list(s.grad_params.items()):
        if not isinstance(a, np.ndarray) or (a.dtype.kind not in "fb"):
            raise ValueError(
                f"{where}: parameter {key!r:.40} has dtype {getattr(a, 'dtype', type(a).__name__)}"
            )


_STEP_CHECKS = (_check_texts, _check_shapes, _check_geometry, _check_facts, _check_arrays)


_DTYPE_NAMES: dict = {}


def _dtype_name(dtype):
    """``str(dtype)``, remembered: NumPy works it out in Python code that took 10-40 us
    when a forward pass had just cooled the caches (a LeNet-5 trace's whole budget is
    about 150 us)."""
    name = _DTYPE_NAMES.get(dtype)
    if name is None:
        name = _DTYPE_NAMES[dtype] = str(dtype)
    return name


def expand_names(net: Layer, names: Iterable[str]) -> set[str]:
    """Leaf paths named by ``names`` (a container name stands for all its leaves); unknown
    names raise a one-line KeyError listing the valid ones."""
    out: set[str] = set()
    for n in names:
        layer: Any = net.find(n) if hasattr(net, "find") else None
        out.update(l.path for l in layer.leaves())
    return out


def record(
    net: Layer,
    x: Array,
    light: bool = False,
    keep: Optional[Iterable[str]] = None,
    model: Optional[str] = None,
    training: bool = False,
    all_outputs: bool = False,
) -> Trace:
    """Run ``net(x)`` once while recording every leaf call; returns the ``Trace``.

    ``light=True``: statistics only (no arrays); ``keep=[names]``: arrays only for those
    layers. ``model``: the name stored in the trace (default ``net.name``).
    ``all_outputs``: a ``Model`` with extra outputs runs them too (``forward_all``); the
    trace's ``output`` is then the list of outputs."""
    x = np.asarray(x)
    keep_set = None if keep is None else expand_names(net, keep)
    tr = Trace(
        model=model or net.name,
        input_shape=_shape(x),
        input=x,
        meta={
            "batch": int(x.shape[0]),
            "dtype": _dtype_name(x.dtype),
            "light": bool(light),
            "training": bool(training),
        },
    )
    rec = Recorder(tr, keep_set, light, graph_of(net))
    with observe(rec):
        y = net.forward_all(x, training) if all_outputs else net(x, training)  # type: ignore[attr-defined]  # Model only
    rec.finish(y)
    return tr
