"""The one layer contract (after Keras' build/call/get_config and micrograd's engine).

A layer maps a batch ``x (N, *input_shape)`` to ``y (N, *output_shape)``; shapes below
never include the batch: ``(C, H, W)`` for maps, ``(D,)`` for vectors.

    layer.build(input_shape, rng)   create parameters (seeded); idempotent
    layer.output_shape              known after build, without running
    y  = layer(x, training=False)   forward; remembers what backward needs
    dx = layer.backprop(dy)         backward; fills layer.grads (same keys as params)
    layer.params / layer.grads      dicts of arrays, updated in place by optimizers
    layer.param_count() / macs()    counts of leaf operations, without running
    layer.geometry()                kernel / stride / padding, or None
    layer.get_config()              constructor arguments (JSON-friendly)

Containers (``Sequential``, ``Concat``, ``ResidualUnit``) hold children and add nothing
of their own to the counts. Every leaf call is announced to the active observers
(``observe``) so the step-through engine can record a trace without the layers knowing it.
"""

from __future__ import annotations

import time
from inspect import getattr_static
from typing import Any, Iterator, Optional, Tuple, Union, cast

import numpy as np
import numpy.typing as npt

from .. import config
from ..graph import Tensor
from ..typing import Array, Box, ConnectionsLike, Maps, Shape, StepLike, Term
from .describe import act_line, num, source
from .explain import ALL, ExplainError
from .fields import FieldError, window_box

_CLASSES: dict[str, type[Layer]] = {}  # kind -> Layer class (for traces read back from files)


def layer_class(kind: str) -> type[Layer]:
    """The Layer class of a ``kind`` name (a step of a loaded trace), or ``Layer``."""
    return _CLASSES.get(kind, Layer)


_observers: list[Any] = []


class observe:
    """``with observe(observer):`` within the block, ``observer.on_forward(layer, x, y,
    seconds)`` and ``observer.on_backward(layer, dy, dx)`` are called for every leaf layer.

    A class rather than a ``contextlib`` generator: entered once per trace, right after a
    forward pass has cooled the caches, the generator's machinery cost 13 us against 7."""

    __slots__ = ("observer",)

    def __init__(self, observer: Any) -> None:
        self.observer = observer

    def __enter__(self) -> Any:
        _observers.append(self.observer)
        return self.observer

    def __exit__(self, *exc: object) -> None:
        _observers.remove(self.observer)


class LayerError(ValueError):
    """A bad input to a layer, named after the layer."""


class Layer:
    #: type name shown in tables and traces
    kind = "Layer"
    #: True for containers: children do the work, the container only wires them
    is_container = False
    #: True when the output stays in the input's value range (pooling, flatten, dropout at
    #: inference, concat): its saturation is judged by the activation before it
    keeps_range = False
    #: what the layer does to a receptive field: "window" (``geometry()``: kernel, stride,
    #: padding), "keep" (each output position reads the same input position), "global"
    #: (every input position), "flatten" (unit u reads one position of its input)
    field = "keep"
    #: the type's name in tables ("Convolution"); None: ``kind``
    title: Optional[str] = None
    #: how one neuron's explanation is laid out: "patches" (a window per input map, with
    #: weights), "vector" (every input with a weight), "window" (one map's window),
    #: "maps" (across maps at one position), "point" (one input value)
    explain_form = "point"
    #: True when the output is a penalty per class (the class is the argmin: LeNet-5's RBF)
    penalty_output = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "kind" in cls.__dict__:
            _CLASSES[cls.kind] = cls

    # ---- what the layer is to the step-through engine (from a recorded step) ---------
    @classmethod
    def input_maps(cls, step: StepLike, maps: Maps, k: int = 0) -> Maps:
        """Maps of input ``k`` that output ``maps`` (a set of map indices, or ``ALL``)
        read. Default: the same maps (pooling, activations, batch norm, dropout, add)."""
        if cls.field == "global":
            return ALL
        return maps

    @classmethod
    def route(cls, step: StepLike, maps: Maps, box: Box) -> list[list[tuple[Maps, Box]]]:
        """Where output ``maps`` (a set or ALL) at ``box`` ((r0, r1, c0, c1) or ALL) read
        from: per input, a list of ``(maps, box)`` (``cnnsim.layers.fields``)."""
        ins = step.input_shape if isinstance(step.input_shape, list) else [step.input_shape]
        n = len(ins)
        if cls.field == "keep" and any(
            len(s) == 3
            and len(step.output_shape) == 3
            and tuple(s[1:]) != tuple(step.output_shape[1:])
            for s in ins
        ):
            raise FieldError(
                f"receptive_field: layer {step.name!r} ({step.kind}) changes the "
                f"map size but says it keeps the field; give its class a 'field' "
                f"(and a geometry())"
            )
        inner = (
            ALL
            if cls.field == "global"
            else window_box(step, box)
            if cls.field == "window"
            else box
        )
        return [[(cls.input_maps(step, maps, k), inner)] for k in range(n)]

    @classmethod
    def explain(cls, step: StepLike, c: ConnectionsLike) -> None:
        """Fill ``c`` (``Connections``) for neuron ``(c.map, c.row, c.col)`` of ``step``."""
        raise ExplainError(
            f"connections: layer {step.name!r} of type {step.kind} is not "
            f"supported; supported: {', '.join(explainable_kinds())}"
        )

    @classmethod
    def describe(cls, c: ConnectionsLike, top: Optional[int] = 10, width: int = 100) -> list[str]:
        """Lines that explain neuron ``c`` (filled by ``explain``) in words and numbers
        (``cnnsim.layers.describe``); default: the input value(s) and the facts."""
        lines = []
        if c.inputs is not None and np.size(c.inputs) == 1:
            lines.append(f"  input {num(np.ravel(c.inputs)[0])} from {source(c)}")
        for k, v in c.details.items():
            lines.append(f"  {k}: {num(v) if isinstance(v, float) else v}")
        lines += act_line(c, c.sum if c.sum is not None else c.output)
        return lines

    @classmethod
    def explain_down(cls, c: ConnectionsLike) -> Optional[tuple[int, int, int, int]]:
        """``(source step index, map, row, col)``: the neuron one level down that neuron
        ``c`` merely copies (a depth concat's branch), or None."""
        return None

    @classmethod
    def weight_of(cls, c: ConnectionsLike, k: int) -> Optional[tuple[int, ...]]:
        """Index into ``w`` of the weight behind ``c.products`` (flat index ``k``), or None
        when the layer has no trainable weights."""
        return None

    @classmethod
    def grad_terms(cls, step: StepLike, k: int, sample: int, pos: Tuple[int, ...]) -> list[Term]:
        """dL/d(input ``k`` at ``pos``) as a list of terms ``weight * upstream`` (one per
        output neuron of ``step`` that reads it; ``cnnsim.layers.explain.term``)."""
        raise ExplainError(
            f"gradient: layer {step.name!r} of type {step.kind} does not explain its backward pass"
        )

    def engine_params(self) -> dict[str, Array]:
        """Arrays a trace keeps for this layer: parameters, buffers and, where one is in
        force, the connection ``table``."""
        p = dict(self.params)
        p.update(getattr(self, "buffers", {}) or {})
        return p

    def __init__(self, name: Optional[str] = None) -> None:
        self.name = name or type(self).__name__.lower()
        self.path = self.name  # qualified name inside a network, set by containers
        self.params: dict[str, Array] = {}
        self.grads: dict[str, Array] = {}
        self.input_shape: Any = None  # (C, H, W) / (D,); a list of them for merges
        self.output_shape: Optional[Shape] = None
        self.built = False
        self.activation: Optional[str] = None  # name of the (fused) activation, for tables

    # ---- contract --------------------------------------------------------------------
    def build(self, input_shape: Any, rng: Union[np.random.Generator, int, None] = None) -> Shape:
        """Check ``input_shape`` (a ``Shape``; merges: a list of them), create parameters with ``rng``, set ``output_shape``."""
        input_shape = tuple(int(s) for s in input_shape)
        self.output_shape = tuple(self.compute_output_shape(input_shape))
        self.input_shape = input_shape
        # an int is a seed; None is seed 0 (reproducible by default)
        self._build_params(input_shape, np.random.default_rng(0 if rng is None else rng))
        self.built = True
        return self.output_shape

    def compute_output_shape(self, input_shape: Any) -> Shape:
        return input_shape

    def _build_params(self, input_shape, rng):
        pass

    def _alloc_grads(self) -> None:
        """``grads``: a zero array per parameter, same shape and dtype (np.zeros is calloc:
        no memory is touched until a gradient is written)."""
        self.grads = {k: np.zeros(v.shape, v.dtype) for k, v in self.params.items()}

    #: ``backward(dy, input_grad=False)`` computes the parameters' gradients only
    #: (see :meth:`backprop`)
    skips_input_grad = False
    #: while this layer's call is announced: the path of the layer whose step carries
    #: its time, when the two ran as one kernel pass (``cnnsim.layers.fusion``); else None
    timed_with: Optional[str] = None

    def forward(self, x: Any, training: bool = False) -> Any:
        """``y`` from ``x (N, *input_shape)`` (merges: a list of arrays, one per input)."""
        raise NotImplementedError

    def backward(self, dy: Array) -> Any:
        """``dx`` (merges: a list, one per input) from ``dy``; fills ``grads``."""
        raise NotImplementedError

    def param_count(self) -> int:
        """Trainable parameters (entries a connection table switches off are not counted)."""
        return int(sum(p.size for p in self.params.values()))

    def macs(self) -> int:
        """Multiply-adds of one forward pass for one sample."""
        return 0

    def geometry(self) -> Optional[dict]:
        """``{"kernel": (fh, fw), "stride": (sh, sw), "padding": (t, b, l, r)}`` or None."""
        return None

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name}

    def children(self) -> list[Layer]:
        return []

    # ---- machinery shared by every layer ---------------------------------------------
    def __call__(self, x: Any, training: bool = False) -> Any:
        first = x[0] if isinstance(x, (list, tuple)) and x else x
        if isinstance(first, Tensor):  # building a graph (cnnsim.graph)
            return Tensor.apply(self, x)
        if not self.built:
            self.build(np.shape(x)[1:])
        self._check_input(x)
        self._forward_ran = True
        if self.is_container or not _observers:
            return self.forward(x, training)
        t0 = time.perf_counter()
        y = self.forward(x, training)
        dt = time.perf_counter() - t0
        for obs in list(_observers):
            obs.on_forward(self, x, y, dt)
        return y

    def backprop(self, dy: Array, input_grad: bool = True) -> Any:
        """``dx`` from ``dy``, filling ``grads`` (and telling trace observers).

        ``input_grad=False`` (a training step: nothing upstream of the network's input
        needs its gradient) lets the first convolution or dense layer skip ``dx``, the
        costliest part of its backward pass (LeNet-5 C1 at batch 64: dx 0.76 ms, dw 0.49
        ms), and returns None. While a trace records gradients every ``dx`` is computed."""
        if not getattr(self, "_forward_ran", False):
            raise LayerError(
                f"layer {self.path!r} ({self.kind}): backprop before any forward "
                f"pass; call the layer (y = layer(x)) first, then backprop(dy)"
            )
        if not input_grad and not _observers:
            # containers, and the leaves that set skips_input_grad, take the keyword
            layer = cast(Any, self)
            if self.is_container:
                return layer.backward(dy, input_grad=False)
            if self.skips_input_grad:
                layer.backward(dy, input_grad=False)
                return None
        dx = self.backward(dy)
        if not self.is_container:
            for obs in list(_observers):
                obs.on_backward(self, dy, dx)
        return dx

    def _check_input(self, x):
        if not isinstance(x, np.ndarray) and not _is_device_array(x):
            raise TypeError(
                f"layer {self.path!r} ({self.kind}): expected a NumPy array, got {type(x).__name__}"
            )
        if x.dtype.type not in (np.float32, np.float64):
            raise TypeError(
                f"layer {self.path!r} ({self.kind}): expected float32 or float64 "
                f"input, got dtype {x.dtype}"
            )
        if len(x.shape) >= 1 and x.shape[0] == 0:
            raise LayerError(
                f"layer {self.path!r} ({self.kind}): the batch is empty (N = 0, "
                f"shape {tuple(x.shape)}); give at least one sample"
            )
        if tuple(x.shape[1:]) != self.input_shape:
            raise LayerError(
                f"layer {self.path!r} ({self.kind}): expected input of shape "
                f"(N, {', '.join(map(str, self.input_shape))}), got {tuple(x.shape)}"
            )

    def all_leaves(self) -> list[Layer]:
        """Every leaf, extra outputs' (auxiliary heads') included (``cnnsim.Model``)."""
        return list(self.leaves())

    def leaves(self) -> Iterator[Layer]:
        """Leaf layers in execution order (depth first)."""
        if not self.is_container:
            yield self
            return
        for child in self.children():
            yield from child.leaves()

    def walk(self) -> Iterator[Layer]:
        """Every layer, containers included, parents before children."""
        yield self
        for child in self.children():
            yield from child.walk()

    def parameters(self) -> list[tuple[Layer, str, Array]]:
        """``[(layer, name, array)]`` for every parameter of every leaf."""
        return [(l, k, v) for l in self.all_leaves() for k, v in l.params.items()]

    def zero_grads(self) -> None:
        for leaf in self.all_leaves():
            for v in leaf.grads.values():
                v[...] = 0

    def astype(self, dtype: npt.DTypeLike) -> Layer:
        """Cast every parameter (and buffer) to ``dtype`` in place; returns self."""
        for leaf in self.all_leaves():
            for d in (leaf.params, leaf.grads, getattr(leaf, "buffers", {})):
                for k in list(d):
                    d[k] = d[k].astype(dtype)
        return self

    def __repr__(self):
        return f"{type(self).__name__}(name={self.path!r}, output_shape={self.output_shape})"


def explainable_kinds() -> list[str]:
    return sorted(
        k
        for k, c in _CLASSES.items()
        if getattr_static(c, "explain") is not getattr_static(Layer, "explain")
    )


def _is_device_array(x):
    # numba device arrays; the CUDA simulator's FakeCUDAArray has copy_to_host but no
    # __cuda_array_interface__
    return hasattr(x, "__cuda_array_interface__") or hasattr(x, "copy_to_host")


def default_dtype() -> npt.DTypeLike:
    return config.dtype
