"""A network as a flat list of leaf calls (an execution plan), so it can be run one leaf
at a time and differentiated from any leaf downwards.

Containers are unrolled in the order their own ``forward`` runs them (the stated order of
the steps of a trace): ``Sequential`` child after child; ``Concat`` (inception) branch 0,
1, ... left to right, then the ``DepthConcat`` merge; ``ResidualUnit`` the main path, then
the shortcut (nothing for the identity), then the ``Add``. Each op reads value slots and
writes one slot; slot 0 is the network input. A container of another type, or one whose
``forward`` is overridden, is kept as one opaque op (run whole, its leaves still observed).
"""
from dataclasses import dataclass, field

from ..layers.base import Layer
from ..layers.containers import Concat, ResidualUnit, Sequential


@dataclass
class Op:
    layer: Layer
    inputs: object          # slot (int) or list of slots (merge leaves)
    output: int
    opaque: bool = False
    leaves: list = field(default_factory=list)   # leaf paths this op runs

    @property
    def name(self):
        return self.layer.path


def _plain(layer, cls):
    t = type(layer)
    return isinstance(layer, cls) and t.forward is cls.forward and t.backward is cls.backward


class Plan:
    """``Plan(net)``: ``ops`` in execution order; ``forward(x)`` / ``backward_from``."""

    def __init__(self, net):
        if not net.built:
            raise ValueError(f"Plan: network {net.name!r} is not built; call "
                             f"net.build(input_shape) first")
        self.net = net
        self.ops = []
        self._n = 1
        self.output = self._unroll(net, 0)
        self.leaf_names = [p for op in self.ops for p in op.leaves]

    def _slot(self):
        self._n += 1
        return self._n - 1

    def _add(self, layer, inputs, opaque=False):
        out = self._slot()
        leaves = [l.path for l in layer.leaves()]
        self.ops.append(Op(layer, inputs, out, opaque, leaves))
        return out

    def _unroll(self, layer, src):
        if not layer.is_container:
            return self._add(layer, src)
        if _plain(layer, Sequential):
            for child in layer.layers:
                src = self._unroll(child, src)
            return src
        if _plain(layer, Concat):
            outs = [self._unroll(b, src) for b in layer.branches]
            return self._add(layer.merge, outs)
        if _plain(layer, ResidualUnit):
            a = self._unroll(layer.main, src)
            s = self._unroll(layer.shortcut, src) if layer.shortcut is not None else src
            return self._add(layer.add, [a, s])
        return self._add(layer, src, opaque=True)

    # ---- running ---------------------------------------------------------------------
    def run_op(self, k, values, training=False):
        """Run op ``k`` reading/writing the ``values`` dict of slots; returns its output."""
        op = self.ops[k]
        x = [values[s] for s in op.inputs] if isinstance(op.inputs, list) else values[op.inputs]
        values[op.output] = op.layer(x, training)
        return values[op.output]

    def forward(self, x, until=None, training=False):
        """Run ops ``0 .. until`` (all by default); returns the slot values."""
        self.net._check_input(x)
        values = {0: x}
        last = len(self.ops) - 1 if until is None else until
        for k in range(last + 1):
            self.run_op(k, values, training)
        return values

    def op_of(self, leaf_path):
        """Index of the op that runs the leaf ``leaf_path``."""
        for k, op in enumerate(self.ops):
            if leaf_path in op.leaves:
                return k
        raise KeyError(leaf_path)

    def backward_from(self, k, dy):
        """Backpropagate ``dy`` (the gradient of the output of op ``k``) down to the
        network input, through the ops that feed op ``k``; needs the caches of a forward
        pass that ran at least ops ``0..k``. Returns ``dx`` (the input's gradient).

        Leaves' ``grads`` are restored afterwards: this is a probe, not a training step.
        """
        saved = [(l, dict(l.grads)) for op in self.ops[:k + 1] for l in op.layer.leaves()]
        try:
            grads = {self.ops[k].output: dy}
            for j in range(k, -1, -1):
                op = self.ops[j]
                g = grads.pop(op.output, None)
                if g is None:
                    continue
                dx = op.layer.backprop(g)
                ins = op.inputs if isinstance(op.inputs, list) else [op.inputs]
                dxs = dx if isinstance(op.inputs, list) else [dx]
                for s, d in zip(ins, dxs):
                    grads[s] = d if s not in grads else grads[s] + d
            return grads.get(0)
        finally:
            for l, g in saved:
                l.grads.clear()
                l.grads.update(g)
