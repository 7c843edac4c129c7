"""Containers wire leaves together and add nothing of their own to the counts.

* ``Sequential(layers)``                 one after another (a whole network is one)
* ``Concat(branches)``                    parallel branches joined by ``DepthConcat``
                                          (the inception module)
* ``ResidualUnit(main, shortcut=None)``   ``y = act(main(x) + shortcut(x))``; identity
                                          shortcut when None (He et al. 2015)

Containers only wire: ``wire(t)`` calls the children on a symbolic ``cnnsim.graph.Tensor``,
and ``build`` compiles that once into ``self.graph`` (a ``cnnsim.graph.Graph`` of leaf
nodes); ``forward`` and ``backward`` run the graph. A container called on a Tensor inside
another container or a ``Model`` inlines its wiring, so a whole network is one graph of
leaves however deeply it is nested.

Qualified names: the children of the outermost container keep their own names
(``C1``, ``S2``, ...); deeper leaves are ``parent/child`` (``inception_3a/b2_3x3``).
"""

from __future__ import annotations

from typing import Any, Optional, Sequence, Union

import numpy as np

from ..graph import Graph, Input, Tensor
from ..typing import Array, Shape
from .base import _CLASSES, Layer, LayerError
from .merge import Add, DepthConcat


class Container(Layer):
    is_container = True
    _parent = None
    #: what the lecture / paper declares for a built model (``models._common.Reference``);
    #: set by the model builders only (declared here for the type checker, no default)
    reference: Any

    def _child_path(self, child):
        return child.name if self._parent is None else f"{self.path}/{child.name}"

    def _adopt(self, children):
        seen = {}
        for k, child in enumerate(children):
            if child.name in seen:
                raise ValueError(
                    f"{self.kind} {self.name!r}: two children named {child.name!r} "
                    f"(positions {seen[child.name]} and {k}); names must be unique"
                )
            seen[child.name] = k
            child._parent = self
            child.path = self._child_path(child)

    def _repath(self):
        """Qualify the names of every descendant again (after adoption by a parent)."""
        if self._parent is None:
            self.path = self.name
        self._adopt(self.children())
        for child in self.children():
            if child.is_container:
                child._repath()

    def build(self, input_shape: Any, rng: Union[np.random.Generator, int, None] = None) -> Shape:
        if self._parent is None:
            self.path = self.name
        rng = rng if rng is not None else np.random.default_rng(0)
        self._adopt(self.children())
        self.input_shape = tuple(int(s) for s in input_shape)
        self.output_shape = tuple(self._build_children(self.input_shape, rng))
        self.built = True
        self._compile()
        return self.output_shape

    def _build_children(self, shape, rng):
        """Build the children on ``shape``; returns the output shape (each container)."""
        raise NotImplementedError

    def _compile(self):
        """``self.graph``: this container's wiring over its leaves, compiled once."""
        x = Input(self.input_shape, name=f"{self.name} input")
        self.graph = Graph([x], [self.wire(x)])

    def wire(self, x: Tensor) -> Tensor:
        """Call the children on the symbolic Tensor ``x``; returns the output Tensor."""
        raise NotImplementedError

    def forward(self, x: Array, training: bool = False) -> Array:
        values = self.graph.forward(x, training, outputs=[0])
        return values[self.graph.outputs[0]]

    def backward(self, dy: Array, input_grad: bool = True) -> Any:
        return self.graph.backward({self.graph.outputs[0]: dy}, input_grad=input_grad)

    def _check_input(self, x):
        # containers check the full shape; children check their own
        super()._check_input(x)

    def param_count(self) -> int:
        return sum(l.param_count() for l in self.leaves())

    def macs(self) -> int:
        return sum(l.macs() for l in self.leaves())

    def role_of(self, child: Layer) -> Optional[str]:
        """What a child container is to this one, for tables ("Branch", ...), or None."""
        return None

    def summary(self) -> Any:
        """The lecture's table of this network (prints as text, renders as HTML in
        Jupyter): ``cnnsim.display.summary(net)``."""
        from ..display import summary

        return summary(self)

    def _repr_html_(self):
        return self.summary()._repr_html_()

    def find(self, path: str) -> Layer:
        """The layer (leaf or container) with this qualified name."""
        for l in self.walk():
            if l.path == path:
                return l
        names = [l.path for l in self.walk() if l is not self]
        raise KeyError(f"no layer named {path!r} in {self.name!r}; valid names: {', '.join(names)}")


class Sequential(Container):
    kind = "Sequential"

    def __init__(
        self,
        layers: Sequence[Layer],
        input_shape: Optional[Sequence[int]] = None,
        seed: int = 0,
        name: Optional[str] = None,
    ) -> None:
        super().__init__(name or "sequential")
        self.layers = list(layers)
        if not self.layers:
            raise ValueError(f"Sequential {self.name!r}: needs at least one layer, got none")
        if input_shape is not None:
            self.build(input_shape, np.random.default_rng(seed))

    def children(self) -> list[Layer]:
        return self.layers

    def _build_children(self, shape, rng):
        for child in self.layers:
            shape = child.build(shape, rng)
        return shape

    def wire(self, x: Tensor) -> Tensor:
        for child in self.layers:
            x = child(x)
        return x

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "layers": [l.get_config() | {"class": type(l).__name__} for l in self.layers],
        }


class Concat(Container):
    """Parallel branches on the same input, joined along depth (an inception module)."""

    kind = "Concat"
    #: tables name it after GoogLeNet's module, the one the lecture shows
    title = "Inception"

    def role_of(self, child: Layer) -> Optional[str]:
        return "Branch" if any(child is b for b in self.branches) else None

    def __init__(self, branches: Sequence[Layer], name: Optional[str] = None) -> None:
        super().__init__(name or "concat")
        self.branches = list(branches)
        self.merge = DepthConcat("concat")

    def children(self) -> list[Layer]:
        return self.branches + [self.merge]

    def _build_children(self, shape, rng):
        outs = [b.build(shape, rng) for b in self.branches]
        for k, o in enumerate(outs):
            if len(o) != 3 or o[1:] != outs[0][1:]:
                raise LayerError(
                    f"{self.kind} {self.path!r}: branch {k} ({self.branches[k].name}) "
                    f"gives {o} but branch 0 gives {outs[0]}; maps must share H, W"
                )
        return self.merge.build(outs)

    def wire(self, x: Tensor) -> Tensor:
        return self.merge([b(x) for b in self.branches])


# ``Concat`` reported kind "Inception" until 2026-12; a file naming that kind still finds it
_CLASSES.setdefault("Inception", Concat)


class ResidualUnit(Container):
    """``y = act(main(x) + shortcut(x))`` — the skip connection over (usually) two layers.

    ``shortcut=None`` is the identity; pass a layer (a 1x1 strided Conv2D, maybe with
    BatchNorm) as the projection when the main path changes the shape.
    """

    kind = "ResidualUnit"
    title = "Residual unit"

    def role_of(self, child: Layer) -> Optional[str]:
        return "Shortcut" if child is self.shortcut else "Main path" if child is self.main else None

    def __init__(
        self,
        main: Layer,
        shortcut: Optional[Layer] = None,
        activation: Optional[str] = "relu",
        name: Optional[str] = None,
    ) -> None:
        super().__init__(name or "residual")
        self.main = main if isinstance(main, Layer) else Sequential(main, name="main")
        if shortcut is not None and not isinstance(shortcut, Layer):
            shortcut = Sequential(shortcut, name="shortcut")
        self.shortcut = shortcut
        self.add = Add(activation, "add")
        self.activation = activation

    def children(self) -> list[Layer]:
        return [self.main] + ([self.shortcut] if self.shortcut is not None else []) + [self.add]

    def _build_children(self, shape, rng):
        a = self.main.build(shape, rng)
        b = self.shortcut.build(shape, rng) if self.shortcut is not None else shape
        return self.add.build([a, b])

    def wire(self, x: Tensor) -> Tensor:
        a = self.main(x)
        s = self.shortcut(x) if self.shortcut is not None else x
        return self.add([a, s])
