"""The network as an explicit graph: nodes are leaf layers, edges are the tensors between them.

Every network is one ``Graph``, compiled once when it is built: a ``Sequential``, ``Concat``
(inception module) or ``ResidualUnit`` (any nesting) wires its children into one (see
``cnnsim.layers.containers``), and ``cnnsim.Model`` does the same for a net written the way
Keras' functional API writes one::

    x = cnnsim.Input((1, 28, 28))
    h = L.Conv2D(6, 5, name="C1")(x)           # calling a layer on a Tensor adds a node
    ...
    net = cnnsim.Model(x, [logits, aux], name="mynet")

Calling a layer on a symbolic ``Tensor`` (or, for the joins ``Add``/``DepthConcat``, on a
list of them) builds it for that shape if needed and returns the Tensor it produces;
calling a container on one inlines its wiring (its leaves become nodes). Nothing runs.

The compiled ``Graph`` holds

* ``edges``: ``Edge(index, shape, producer, consumers)``; ``producer`` is a node index, or
  ``INPUT`` (-1) for the network input; shapes never include the batch;
* ``nodes``: ``Node(index, layer, inputs, output)`` in execution order (the order the
  layers were called: a ``Sequential`` child after child, an inception module's branches
  left to right then its ``DepthConcat``, a residual unit's main path, its shortcut, its
  ``Add``); ``inputs`` are edge indices (a list of several for the joins), ``output`` one;
* ``inputs`` / ``outputs``: edge indices. ``outputs[0]`` is the network's output; the
  others are extra outputs (GoogLeNet's auxiliary classifiers).

Forward and backward of every container, the step-through engine, traces (a step's
``sources`` are its node's input edges), receptive fields and the summary all read this one
structure; the data flow is never inferred from the identity of arrays. This module knows
nothing about layer classes: a node's layer is anything with ``__call__(x, training)``,
``backprop(dy)``, ``grads`` and ``path`` (``cnnsim.layers`` sits above it).
"""

import itertools
from dataclasses import dataclass, field

from .functional import add as _add

INPUT = -1  # producer of an input edge: the network input

_serial = itertools.count()
_scope = []  # containers whose wiring is being inlined (innermost last)


class Tensor:
    """A symbolic tensor of shape ``shape`` (no batch): an ``Input``, or the output of a
    layer called on Tensors. Holds no data; ``Model(inputs, outputs)`` compiles them."""

    _cnnsim_symbolic = True

    def __init__(self, shape, call=None, name=None):
        self.shape = tuple(int(s) for s in shape)
        self.call = call  # the _Call that made it; None for an Input
        self.name = name
        self.serial = next(_serial)

    def __repr__(self):
        by = "input" if self.call is None else f"from {self.call.layer.path!r}"
        return f"Tensor(shape={self.shape}, {by})"

    @staticmethod
    def apply(layer, x):
        """``layer(x)`` on Tensor(s): add a node, return the output Tensor (or, for a
        container, inline its wiring). Called by ``Layer.__call__``."""
        xs = list(x) if isinstance(x, (list, tuple)) else [x]
        for t in xs:
            if not isinstance(t, Tensor):
                raise TypeError(
                    f"layer {layer.path!r}: cannot mix symbolic Tensors and "
                    f"{type(t).__name__} in one call"
                )
        shape = [t.shape for t in xs] if isinstance(x, (list, tuple)) else xs[0].shape
        if not layer.built:
            layer.build(shape)
        else:
            want = layer.input_shape
            if (list(map(tuple, want)) if isinstance(want, list) else tuple(want)) != shape:
                raise ValueError(
                    f"layer {layer.path!r} ({layer.kind}) was built for input "
                    f"{_fmt(want)} and is now called on {_fmt(shape)}"
                )
        if layer.is_container:
            _scope.append(layer)
            try:
                return layer.wire(x)
            finally:
                _scope.pop()
        call = _Call(layer, xs, isinstance(x, (list, tuple)), tuple(_scope))
        call.output = Tensor(layer.output_shape, call)
        return call.output


def _fmt(shape):
    if isinstance(shape, list):
        return "[" + ", ".join(_fmt(s) for s in shape) + "]"
    return "(" + ", ".join(map(str, shape)) + ")"


@dataclass(eq=False)
class _Call:
    """One symbolic call of a leaf layer (becomes a Node when compiled)."""

    layer: object
    inputs: list
    merge: bool
    scope: tuple  # enclosing containers, outermost first
    output: Tensor = None
    serial: int = field(default_factory=lambda: next(_serial))


def Input(shape, name="input"):
    """The network input: a symbolic Tensor of ``shape`` (no batch), e.g. ``(1, 28, 28)``."""
    shape = tuple(shape)
    if not shape or not all(isinstance(s, int) and s > 0 for s in shape):
        raise ValueError(
            f"Input {name!r}: shape must be positive integers without the batch, "
            f"e.g. (1, 28, 28); got {shape!r}"
        )
    return Tensor(shape, None, name)


@dataclass
class Edge:
    """A tensor between layers: its shape (no batch), the node making it (``INPUT`` for
    the network input) and the nodes reading it (in execution order)."""

    index: int
    shape: tuple
    producer: int
    consumers: list = field(default_factory=list)


@dataclass
class Node:
    """One leaf layer in the graph: reads edges ``inputs`` (a list; several for the joins),
    writes edge ``output``. ``merge``: the layer takes a list of arrays. ``scope``: the
    containers it sits in, outermost first."""

    index: int
    layer: object
    inputs: list
    output: int
    merge: bool = False
    scope: tuple = ()

    @property
    def name(self):
        return self.layer.path


class Graph:
    """A compiled DAG of leaf layers (see the module docstring). ``Graph(inputs, outputs)``
    takes symbolic Tensors; a one-line ValueError names the layer(s) when the wiring is
    not a network (see ``_collect``)."""

    def __init__(self, inputs, outputs):
        inputs, outputs = list(inputs), list(outputs)
        calls = _collect(inputs, outputs)
        edge_of = {}
        self.edges, self.nodes = [], []

        def edge(t, producer):
            e = Edge(len(self.edges), t.shape, producer)
            self.edges.append(e)
            edge_of[id(t)] = e.index
            return e.index

        self.inputs = [edge(t, INPUT) for t in inputs]
        self._input_set = set(self.inputs)
        for c in calls:
            ins = [edge_of[id(t)] for t in c.inputs]
            node = Node(len(self.nodes), c.layer, ins, None, c.merge, c.scope)
            self.nodes.append(node)
            node.output = edge(c.output, node.index)
            for e in ins:
                self.edges[e].consumers.append(node.index)
        self.outputs = [edge_of[id(t)] for t in outputs]
        self._by_layer = {id(n.layer): n.index for n in self.nodes}
        # producers of each node's inputs, asked for at every traced leaf call
        self._producers = [tuple(self.edges[e].producer for e in n.inputs) for n in self.nodes]
        self._ran = set()
        self._orders = {}
        self._pairs = None  # node k -> the pair (k, k+1) run as one pass (fused_pairs)
        self._fused = {}  # node k+1 -> that pair, for the pairs the last forward fused

    # ---- questions -------------------------------------------------------------------
    def node_of(self, layer):
        """The Node of a leaf layer, or None."""
        k = self._by_layer.get(id(layer))
        return None if k is None else self.nodes[k]

    def sources(self, node):
        """Producers of a node's inputs: node indices, ``INPUT`` for the network input."""
        return list(self._producers[node.index])

    def order(self, outputs=None):
        """Indices of the nodes needed for ``outputs`` (positions in ``self.outputs``; all
        by default), in execution order."""
        key = None if outputs is None else tuple(outputs)
        if key in self._orders:
            return list(self._orders[key])
        outs = range(len(self.outputs)) if outputs is None else outputs
        need, stack = set(), [self.edges[self.outputs[k]].producer for k in outs]
        while stack:
            k = stack.pop()
            if k == INPUT or k in need:
                continue
            need.add(k)
            stack += [self.edges[e].producer for e in self.nodes[k].inputs]
        self._orders[key] = sorted(need)
        return list(self._orders[key])

    def leaves(self, outputs=None):
        return [self.nodes[k].layer for k in self.order(outputs)]

    def fused_pairs(self):
        """``{k: pair}``: node ``k`` and node ``k + 1`` may run as one pass. Node ``k + 1``
        is the only reader of node ``k``'s output, which is not a network output, and
        ``layer_k.fuse_next(layer_k1)`` returned the pair (an object with ``ready()``,
        ``forward(x, training) -> (y_k, y_k1)`` and ``backward(dy_k1, input_grad) ->
        dx``: ``cnnsim.layers.fusion``). Found once, at the first forward pass."""
        if self._pairs is None:
            self._pairs = {}
            for node in self.nodes[:-1]:
                nxt = self.nodes[node.index + 1]
                fuse = getattr(node.layer, "fuse_next", None)
                if (
                    fuse is None
                    or node.merge
                    or nxt.merge
                    or self.edges[node.output].consumers != [nxt.index]
                    or node.output in self.outputs
                ):
                    continue
                pair = fuse(nxt.layer)
                if pair is not None:
                    self._pairs[node.index] = pair
        return self._pairs

    # ---- running ---------------------------------------------------------------------
    def begin(self):
        """Start a forward pass run node by node (``run_node``): forget the last one."""
        self._ran = set()
        self._fused = {}

    def run_node(self, k, values, training=False):
        """Run node ``k`` reading/writing ``values`` (a dict edge -> array); returns its
        output."""
        node = self.nodes[k]
        x = [values[e] for e in node.inputs] if node.merge else values[node.inputs[0]]
        values[node.output] = node.layer(x, training)
        self._ran.add(k)
        return values[node.output]

    def forward(self, x, training=False, outputs=None, until=None):
        """Run the nodes needed for ``outputs`` (all by default; ``until``: stop after that
        node index). ``x``: the input array (or a list, one per input). Returns the dict
        edge -> array."""
        xs = list(x) if isinstance(x, (list, tuple)) else [x]
        values = dict(zip(self.inputs, xs))
        self.begin()
        pairs = self.fused_pairs()
        for k in self.order(outputs):
            if until is not None and k > until:
                break
            if k in self._ran:  # the second node of a pair run as one pass
                continue
            pair = pairs.get(k)
            if pair is not None and (until is None or k + 1 <= until) and pair.ready():
                node, nxt = self.nodes[k], self.nodes[k + 1]
                values[node.output], values[nxt.output] = pair.forward(
                    values[node.inputs[0]], training
                )
                self._ran.update((k, k + 1))
                self._fused[k + 1] = pair
                continue
            self.run_node(k, values, training)
        return values

    def backward(self, grads, input_grad=True):
        """Backpropagate ``grads`` (dict edge -> dL/d(edge), usually output edges) through
        the nodes of the last forward; returns the input's gradient (a list when the graph
        has several inputs). Each edge's gradient is the sum of its consumers', added in
        execution order (a fixed order: same numbers every run). ``input_grad=False``: the
        caller does not need the input's gradient (a training step); layers that read only
        the graph's inputs may skip it (``Layer.backprop``) and None comes back."""
        parts = {e: [(len(self.nodes), g)] for e, g in grads.items() if g is not None}
        for k in range(len(self.nodes) - 1, -1, -1):
            node = self.nodes[k]
            g = _sum(parts.pop(node.output, None))
            if g is None:
                continue
            if k not in self._ran:
                raise ValueError(
                    f"backward: layer {node.name!r} did not run in the last "
                    f"forward pass; run the forward pass for this output first"
                )
            pair = self._fused.get(k)
            # nodes k-1 and k ran as one pass: their backward is one too, from node k's
            # gradient to node k-1's input
            first = node if pair is None else self.nodes[k - 1]
            skip = not input_grad and all(e in self._input_set for e in first.inputs)
            if pair is None:
                dx = node.layer.backprop(g, input_grad=not skip)
            else:
                dx = pair.backward(g, input_grad=not skip)
            if dx is None:  # skipped: only the graph's inputs would have received it
                continue
            dxs = dx if first.merge else [dx]
            for e, d in zip(first.inputs, dxs):
                parts.setdefault(e, []).append((first.index, d))
        dxs = [_sum(parts.get(e)) for e in self.inputs]
        return dxs[0] if len(dxs) == 1 else dxs

    def backward_from(self, k, dy):
        """The input's gradient when ``dy`` is the gradient of node ``k``'s output (a probe,
        not a training step: every layer's ``grads`` are restored afterwards). Needs a
        forward pass that ran node ``k``."""
        saved = [(n.layer, dict(n.layer.grads)) for n in self.nodes[: k + 1]]
        try:
            return self.backward({self.nodes[k].output: dy})
        finally:
            for layer, g in saved:
                layer.grads.clear()
                layer.grads.update(g)


def graph_of(net):
    """The graph a network runs: a container's own; a lone leaf layer gets a one-node graph."""
    g = getattr(net, "graph", None)
    if g is not None:
        return g
    x = Input(net.input_shape, name=f"{net.name} input")
    return Graph([x], [net(x)])


def _sum(parts):
    """Sum gradients in consumer order (``F.add``: on the cuda target too)."""
    if not parts:
        return None
    parts = sorted(parts, key=lambda p: p[0])
    total = parts[0][1]
    for _, g in parts[1:]:
        total = _add(total, g)
    return total


def _check_ends(inputs, outputs):
    """Inputs are ``Input`` tensors; outputs are Tensors made by layers."""
    for k, t in enumerate(inputs):
        if not isinstance(t, Tensor) or t.call is not None:
            what = (
                f"the output of {t.call.layer.path!r}"
                if isinstance(t, Tensor)
                else type(t).__name__
            )
            raise ValueError(f"Model: input {k} must be a cnnsim.Input(...) tensor, got {what}")
    if not outputs:
        raise ValueError("Model: give at least one output tensor")
    for k, t in enumerate(outputs):
        if not isinstance(t, Tensor):
            raise ValueError(
                f"Model: output {k} must be a Tensor made by calling layers on "
                f"an Input, got {type(t).__name__}"
            )
        if t.call is None:
            raise ValueError(
                f"Model: output {k} is an input itself; it does not depend on "
                f"the input through any layer"
            )


def _collect(inputs, outputs):
    """The calls between ``inputs`` and ``outputs`` in call order, after checking that the
    wiring is a network; a one-line ValueError names the layer(s) otherwise."""
    _check_ends(inputs, outputs)
    input_ids = {id(t) for t in inputs}
    calls, seen, stack = [], set(), [t.call for t in outputs]
    while stack:
        c = stack.pop()
        if id(c) in seen:
            continue
        seen.add(id(c))
        calls.append(c)
        stack += [t.call for t in c.inputs if t.call is not None]
    calls.sort(key=lambda c: c.serial)
    reach = {}  # call -> the Inputs it depends on
    for c in calls:
        reach[id(c)] = set().union(
            *({id(t)} if t.call is None else reach[id(t.call)] for t in c.inputs)
        )
    for k, t in enumerate(outputs):
        if not reach[id(t.call)] & input_ids:
            raise ValueError(
                f"Model: output {k} (layer {t.call.layer.path!r}) does not depend on the input"
            )
    for c in calls:
        for t in c.inputs:
            if t.call is None and id(t) not in input_ids:
                raise ValueError(
                    f"Model: layer {c.layer.path!r} reads a tensor from another "
                    f"graph (input {t.name!r}, not an input of this model)"
                )
    _check_once(calls)
    return calls


def _check_once(calls):
    """A layer is one node: called twice is a cycle (its output feeds back into it) or
    shared weights, which a layer with one forward cache cannot do."""
    by_layer = {}
    for c in calls:
        first = by_layer.setdefault(id(c.layer), c)
        if first is not c:
            if _reaches(first, c):
                raise ValueError(
                    f"Model: cycle through layer {c.layer.path!r}: its output "
                    f"feeds back into it; a layer can appear once in a network"
                )
            raise ValueError(
                f"Model: layer {c.layer.path!r} is called twice; a layer can "
                f"appear once in a network (shared weights are not supported): "
                f"create a second layer"
            )


def _reaches(a, b):
    """True when call ``b`` depends on the output of call ``a``."""
    stack, seen = [b], set()
    while stack:
        c = stack.pop()
        if c is a:
            return True
        if id(c) in seen:
            continue
        seen.add(id(c))
        stack += [t.call for t in c.inputs if t.call is not None]
    return False
