"""``Model(inputs, outputs)``: a network written the way Keras' functional API writes one.

    x = cnnsim.Input((1, 28, 28))
    c1 = L.Conv2D(6, 5, activation="relu", name="C1")(x)
    s2 = L.MaxPool2D(2, name="S2")(c1)
    c3 = L.Conv2D(6, 3, padding="same", activation="relu", name="C3")(s2)
    j = L.Add(name="skip")([s2, c3])                  # a skip of any span
    m = L.DepthConcat(name="cat")([s2, j])            # concatenate any earlier tensors
    logits = L.Dense(10, activation="softmax", name="out")(L.Flatten(name="flat")(m))
    aux = L.Dense(10, activation="softmax", name="aux")(L.Flatten(name="aux_flat")(s2))
    net = cnnsim.Model(x, [logits, aux], name="mynet")

``outputs[0]`` is the network's output: ``net(x)`` and ``net.backprop(dy)`` run only the
layers it needs (inference, traces, the step-through engine, parameter counts). The other
outputs are *extra outputs* (auxiliary classifiers, as GoogLeNet's): ``forward_all`` /
``backward_all`` run them too, and the training loss adds them with a weight (0.3 by
default, Szegedy et al. 2014). Their leaves are in ``all_leaves()`` and ``parameters()``,
so optimizers and checkpoints cover them; ``aux_heads`` names them.

``seed``: every leaf's parameters are drawn again, in call order, from
``numpy.random.default_rng(seed)`` (``None`` keeps what the layers hold), so a Model
written like a ``Sequential`` gets the same weights as the ``Sequential``.

Bad wiring (a cycle, a tensor of another graph, two layers with one name, a layer used
twice or with another shape, an output not depending on the input) raises a one-line
``ValueError`` naming the layer(s), before anything is changed.
"""

from __future__ import annotations

from typing import Any, Iterator, Optional, Sequence, Union, cast

import numpy as np

from ..graph import Graph, Tensor
from ..typing import Array, Shape
from .base import Layer
from .containers import Container


class Model(Container):
    kind = "Model"

    def __init__(self, inputs: Any, outputs: Any, name: str = "model", seed: int = 0) -> None:
        ins = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        outs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        if len(ins) != 1:
            raise ValueError(f"Model {name!r}: exactly one input is supported, got {len(ins)}")
        graph = Graph(ins, outs)
        main = set(graph.order([0]))
        ordered = sorted(range(len(graph.nodes)), key=lambda k: (k not in main, k))
        tops: list[Layer] = []
        paths: dict[str, Layer] = {}
        for k in ordered:
            node = graph.nodes[k]
            top = node.scope[0] if node.scope else node.layer
            if not any(t is top for t in tops):
                tops.append(top)
            path = "/".join([c.name for c in node.scope] + [node.layer.name])
            other = paths.setdefault(path, node.layer)
            if other is not node.layer:
                raise ValueError(
                    f"Model {name!r}: two layers named {path!r} "
                    f"({other.kind} and {node.layer.kind}); names must be unique"
                )
        names: dict[str, Layer] = {}
        for t in tops:
            other = names.setdefault(t.name, t)
            if other is not t:
                raise ValueError(
                    f"Model {name!r}: two layers named {t.name!r} "
                    f"({other.kind} and {t.kind}); names must be unique"
                )
        super().__init__(name)
        self._tops = tops
        self._main = main
        self.graph = graph
        self.input_shape = tuple(ins[0].shape)
        self.output_shape = tuple(outs[0].shape)
        self.built = True
        self._parent = None
        self._repath()
        if seed is not None:
            rng = np.random.default_rng(seed)
            for node in graph.nodes:
                node.layer.build(node.layer.input_shape, rng)

    # ---- the container contract ------------------------------------------------------
    def children(self) -> list[Layer]:
        """Top-level layers: those the main output needs, then the extra outputs' heads."""
        return list(self._tops)

    def leaves(self) -> Iterator[Layer]:
        """The leaves ``net(x)`` runs (the main output's), in execution order."""
        yield from self.graph.leaves([0])

    def all_leaves(self) -> list[Layer]:
        """Every leaf: the main output's, then the extra outputs' (``aux_heads``)."""
        return [
            self.graph.nodes[k].layer
            for k in sorted(range(len(self.graph.nodes)), key=lambda k: (k not in self._main, k))
        ]

    def build(self, input_shape: Shape, rng: Union[np.random.Generator, int, None] = None) -> Shape:
        """Already built (its weights are kept); inside a container its names are
        qualified again (``block/C1``)."""
        if tuple(int(s) for s in input_shape) != self.input_shape:
            raise ValueError(
                f"Model {self.name!r} takes input {self.input_shape}; it cannot be "
                f"rebuilt for {tuple(input_shape)}"
            )
        self._repath()
        return cast(Shape, self.output_shape)

    def wire(self, x: Tensor) -> Tensor:
        """Inline the main output's layers on ``x`` (a Model used as a block inside a
        container or another Model); extra outputs are left out."""
        values = {self.graph.inputs[0]: x}
        for k in self.graph.order([0]):
            node = self.graph.nodes[k]
            ins = [values[e] for e in node.inputs]
            values[node.output] = node.layer(ins if node.merge else ins[0])
        return values[self.graph.outputs[0]]

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "outputs": len(self.graph.outputs)}

    # ---- several outputs -------------------------------------------------------------
    @property
    def aux_heads(self) -> dict[str, Layer]:
        """``{name: layer}``: the top-level layer making each extra output, in output order."""
        heads = {}
        for e in self.graph.outputs[1:]:
            node = self.graph.nodes[self.graph.edges[e].producer]
            top = node.scope[0] if node.scope else node.layer
            heads[top.name] = top
        return heads

    def output_leaves(self) -> list[Layer]:
        """The leaf making each output, in output order."""
        return [self.graph.nodes[self.graph.edges[e].producer].layer for e in self.graph.outputs]

    def aux_param_count(self) -> int:
        main = {id(l) for l in self.leaves()}
        return sum(l.param_count() for l in self.all_leaves() if id(l) not in main)

    def parameters(self, include_aux: bool = True) -> list[tuple[Layer, str, Array]]:
        leaves = self.all_leaves() if include_aux else list(self.leaves())
        return [(l, k, v) for l in leaves for k, v in l.params.items()]

    def forward_all(self, x: Array, training: bool = False) -> list[Array]:
        """Every output, ``[main, extra 1, ...]``, from one pass."""
        self._check_input(x)
        values = self.graph.forward(x, training)
        return [values[e] for e in self.graph.outputs]

    def backward_all(self, dys: Sequence[Optional[Array]], input_grad: bool = True) -> Any:
        """Backward from every output at once: ``dys`` in output order (None: no gradient
        reaches that output); returns dx (None with ``input_grad=False``: see
        ``Layer.backprop``). Needs a ``forward_all`` pass."""
        dys = list(dys)
        if len(dys) != len(self.graph.outputs):
            raise ValueError(
                f"Model {self.name!r}: expected {len(self.graph.outputs)} output "
                f"gradients, got {len(dys)}"
            )
        grads = {e: d for e, d in zip(self.graph.outputs, dys) if d is not None}
        return self.graph.backward(grads, input_grad=input_grad)

    def forward_with_aux(self, x: Array, training: bool = True) -> tuple[Array, list[Array]]:
        """``(y, [extra outputs])`` (GoogLeNet's name for ``forward_all``)."""
        ys = self.forward_all(x, training)
        return ys[0], ys[1:]

    def backward_with_aux(
        self,
        dy: Array,
        daux: Union[Sequence[Optional[Array]], dict[str, Optional[Array]]],
        input_grad: bool = True,
    ) -> Any:
        """``backward_all`` with the extra outputs' gradients as a list in output order, or
        a dict by head name (``aux_heads``)."""
        where = f"{type(self).__name__}.backward_with_aux"
        heads = list(self.aux_heads)
        if isinstance(daux, dict):
            missing = set(heads) - set(daux)
            if missing:
                raise ValueError(
                    f"{where}: missing gradients for heads {sorted(missing)}; "
                    f"expected {sorted(heads)}"
                )
            daux = [daux[h] for h in heads]
        else:
            daux = list(daux)
            if len(daux) != len(heads):
                raise ValueError(
                    f"{where}: expected {len(heads)} head gradients "
                    f"({', '.join(heads)}), got {len(daux)}"
                )
        return self.backward_all([dy] + daux, input_grad)
