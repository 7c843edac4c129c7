"""Run a network one leaf at a time: ``next()``, ``run_to(name)``, breakpoints.

    st = Stepper(net, x)            # nothing has run yet
    step = st.next()                # the first leaf (a Step, see cnnsim.engine.trace)
    st.run_to("C3")                 # on to C3 (a container name: to its last leaf)
    st.break_at("F6"); st.run()     # on to the next breakpoint (or the end)
    st.trace, st.output, st.done

No threads, no generators holding a half-run ``forward``: the stepper walks the nodes of
the network's graph (``cnnsim.graph``) in execution order and runs the next one when
asked, through the same observer that ``record`` uses, so a stepped trace equals a
recorded one. ``all_outputs``: a ``Model``'s extra outputs are stepped too.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

import numpy as np

from ..graph import graph_of
from ..layers.base import Layer, observe
from ..typing import Array
from .trace import Recorder, Step, Trace, expand_names


class Stepper:
    def __init__(
        self,
        net: Layer,
        x: Array,
        light: bool = False,
        keep: Optional[Iterable[str]] = None,
        breakpoints: Iterable[str] = (),
        model: Optional[str] = None,
        all_outputs: bool = False,
    ) -> None:
        x = np.asarray(x)
        net._check_input(x)
        self.net = net
        self.graph = graph_of(net)
        self._outputs = None if all_outputs else [0]
        self._order = self.graph.order(self._outputs)
        self._names = [self.graph.nodes[k].layer.path for k in self._order]
        self.trace = Trace(
            model=model or net.name,
            input_shape=tuple(x.shape[1:]),
            input=x,
            meta={
                "batch": int(x.shape[0]),
                "dtype": str(x.dtype),
                "light": bool(light),
                "training": False,
            },
        )
        keep_set = None if keep is None else expand_names(net, keep)
        self._rec = Recorder(self.trace, keep_set, light, self.graph)
        self._values = {self.graph.inputs[0]: x}
        self.graph.begin()
        self._op = 0  # position in _order of the next node to run
        self._given = 0  # steps handed out so far
        self.breakpoints: set[str] = set()
        for b in breakpoints:
            self.break_at(b)
        self.output: Any = None

    # ---- state -----------------------------------------------------------------------
    @property
    def done(self):
        return self._given >= len(self._names)

    @property
    def position(self):
        """Index of the next step to be handed out (= steps done so far)."""
        return self._given

    @property
    def last(self):
        return self.trace.steps[self._given - 1] if self._given else None

    def names(self):
        return list(self._names)

    def leaves_of(self, name: str) -> list[str]:
        """Leaf paths of a layer or container name; one-line KeyError when unknown."""
        if name in self._names:
            return [name]
        net: Any = self.net  # a container (a lone leaf has no find: its name is in _names)
        if hasattr(net, "find"):
            try:
                return [l.path for l in net.find(name).leaves()]
            except KeyError:
                pass
        raise KeyError(
            f"no layer named {name!r} in {self.trace.model!r}; valid names: "
            f"{', '.join(self._names)}"
        )

    def index_of(self, name: str) -> int:
        """Index of the step after which the layer ``name`` has run (a container: its last
        leaf); one-line KeyError when unknown."""
        return self._names.index(self.leaves_of(name)[-1])

    # ---- moving ----------------------------------------------------------------------
    def next(self) -> Step:
        """Run (if needed) and return the next Step; ``StopIteration`` at the end."""
        if self.done:
            raise StopIteration("the forward pass is complete")
        while len(self.trace.steps) <= self._given:
            with observe(self._rec):
                self.graph.run_node(self._order[self._op], self._values)
            self._rec.flush()
            self._op += 1
            if self._op == len(self._order):
                outs = (
                    [self._values[e] for e in self.graph.outputs]
                    if self._outputs is None
                    else [self._values[self.graph.outputs[0]]]
                )
                self.output = outs[0] if len(outs) == 1 else outs
                self._rec.finish(self.output)
                # every node ran: the network has had its forward pass, as if called
                # whole, so backprop (Stepper.backward, Trace.record_backward) may follow
                self.net._forward_ran = True
                self._values = {}
        self._given += 1
        return self.trace.steps[self._given - 1]

    __next__ = next

    def __iter__(self):
        return self

    def run_to(self, name: str) -> Optional[Step]:
        """Step until the layer ``name`` (a container: its last leaf) has run; returns its
        Step. Raises KeyError for unknown names and ValueError if it has already run."""
        idx = self.index_of(name)
        if idx < self._given:
            raise ValueError(
                f"layer {name!r} has already run (step {idx}); the stepper is at step {self._given}"
            )
        step = None
        while self._given <= idx:
            step = self.next()
        return step

    def break_at(self, name: str) -> None:
        """Stop ``run()`` after the layer ``name`` (a container: after its last leaf)."""
        self.breakpoints.add(self.leaves_of(name)[-1])

    def clear_break(self, name: str) -> None:
        self.breakpoints.discard(self.leaves_of(name)[-1])

    def run(self) -> Optional[Step]:
        """Step to the next breakpoint, or to the end; returns the last Step run (None if
        nothing was left)."""
        step = None
        while not self.done:
            step = self.next()
            if step.name in self.breakpoints:
                break
        return step

    def backward(self, label):
        """Finish the forward pass, then the loss for ``label`` (softmax cross-entropy) and
        the kernels' backward, recorded step by step (``cnnsim.engine.backward``); returns
        the ``Loss``. Then ``grad_of(st.trace, ...)`` explains any neuron's gradient."""
        from .backward import backward

        self.finish()
        return backward(self.trace, self.net, label)

    def finish(self) -> Trace:
        """Run to the end (ignoring breakpoints); returns the Trace."""
        while not self.done:
            self.next()
        return self.trace
