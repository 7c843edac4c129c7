"""Leaves that join paths: the residual addition and the depth concatenation.

They take a *list* of arrays and are built by their container (``ResidualUnit``,
``Concat``), which knows the shapes of the paths that meet here.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence, Tuple, Union

import numpy as np

from .. import functional as F
from ..typing import Array, ConnectionsLike, Maps, Shape, StepLike, Term
from .base import ALL, Layer, LayerError
from .describe import act_line, num, source
from .explain import act64, at, same_position_terms


class _Merge(Layer):
    def build(
        self, input_shapes: Sequence[Shape], rng: Union[np.random.Generator, int, None] = None
    ) -> Shape:
        input_shapes = [tuple(int(s) for s in shp) for shp in input_shapes]
        self.output_shape = tuple(self.compute_output_shape(input_shapes))
        self.input_shape = input_shapes
        self.built = True
        return self.output_shape

    def _check_input(self, xs):
        if not isinstance(xs, (list, tuple)) or len(xs) != len(self.input_shape):
            raise LayerError(
                f"layer {self.path!r} ({self.kind}): expected a list of "
                f"{len(self.input_shape)} arrays"
            )
        for k, (x, shp) in enumerate(zip(xs, self.input_shape)):
            if tuple(x.shape[1:]) != shp:
                raise LayerError(
                    f"layer {self.path!r} ({self.kind}): input {k} should have "
                    f"shape (N, {', '.join(map(str, shp))}), got {tuple(x.shape)}"
                )


class Add(_Merge):
    """The skip connection: ``y = act(a + b)`` with ``a`` the main path, ``b`` the shortcut."""

    kind = "Add"

    @classmethod
    def explain(cls, step: StepLike, c: ConnectionsLike) -> None:
        """The two terms (main path, shortcut), ``sum = a + b``, ``y = act(sum)``."""
        a = float(at(step.x[0], c.sample, c.map, c.row, c.col))
        b = float(at(step.x[1], c.sample, c.map, c.row, c.col))
        c.inputs = np.array([a, b])
        c.rows, c.cols, c.channels = [c.row], [c.col], [c.map]
        c.sum = a + b
        c.details["terms"] = {"main": a, "shortcut": b}
        c.details["sources"] = step.sources
        c.output = act64(step.activation, c.sum)
        c.scale = abs(a) + abs(b)

    @classmethod
    def grad_terms(cls, step: StepLike, k: int, sample: int, pos: Tuple[int, ...]) -> list[Term]:
        """``d(a + b)/da = d(a + b)/db = 1``: the gradient is copied to both paths, so the
        shortcut carries it back unchanged, however small the main path's is."""
        return same_position_terms(
            step, k, sample, pos, 1.0, f"copied to the {'main path' if k == 0 else 'shortcut'}"
        )

    @classmethod
    def describe(cls, c: ConnectionsLike, top: Optional[int] = 10, width: int = 100) -> list[str]:
        """Each term with its path (main / shortcut, by layer name), the sum, the
        activation."""
        a, b = c.details["terms"]["main"], c.details["terms"]["shortcut"]
        return [
            f"  main path (from {source(c, 0)}): {num(a, 10)}",
            f"  shortcut  (from {source(c, 1)}): {num(b, 10)}",
            f"  sum = {num(a)} + {num(b)} = {num(c.sum)}",
        ] + act_line(c, c.sum)

    def __init__(self, activation: Optional[str] = None, name: Optional[str] = None) -> None:
        super().__init__(name or "add")
        self.activation = activation if activation not in (None, "linear") else None

    def compute_output_shape(self, input_shapes: Sequence[Shape]) -> Shape:
        a, b = input_shapes
        if a != b:
            raise LayerError(
                f"layer {self.path!r} (Add): the main path gives {a} but the "
                f"shortcut gives {b}; use a projection shortcut (1x1 conv) when "
                f"shapes change"
            )
        return a

    def forward(self, xs: Sequence[Array], training: bool = False) -> Array:
        z = F.add(xs[0], xs[1])
        y = F.activation_forward(self.activation or "linear", z)
        self._cache = (z, y)
        return y

    def backward(self, dy: Array) -> list[Array]:
        z, y = self._cache
        dz = F.activation_backward(self.activation or "linear", dy, z, y)
        return list(F.add_backward(dz))

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "activation": self.activation}


class DepthConcat(_Merge):
    """Stack the branches' maps along the channel axis (the inception module's output)."""

    kind = "DepthConcat"
    keeps_range = True
    title = "Depth concat"

    @classmethod
    def input_maps(cls, step: StepLike, maps: Maps, k: int = 0) -> Maps:
        """Only the maps branch ``k`` made: map m comes from one branch alone."""
        start = sum(s[0] for s in step.input_shape[:k])
        n = step.input_shape[k][0]
        if maps is ALL:
            return set(range(n))
        return {m - start for m in maps if start <= m < start + n}

    @classmethod
    def explain(cls, step: StepLike, c: ConnectionsLike) -> None:
        """The branch the map came from (``branch``, ``source``, ``channel``)."""
        k, ch = _branch_of(step.input_shape, c.map)
        v = float(at(step.x[k], c.sample, ch, c.row, c.col))
        c.inputs = np.array([v])
        c.rows, c.cols, c.channels = [c.row], [c.col], [ch]
        c.details.update(
            branch=k,
            channel=ch,
            source=step.sources[k],
            first_map=sum(s[0] for s in step.input_shape[:k]),
            branch_maps=step.input_shape[k][0],
            branches=len(step.input_shape),
        )
        c.sum = c.output = v
        c.scale = abs(v)

    @classmethod
    def explain_down(cls, c: ConnectionsLike) -> Optional[tuple[int, int, int, int]]:
        """The branch's neuron this map copies."""
        return c.details["source"], c.details["channel"], c.row, c.col

    @classmethod
    def grad_terms(cls, step: StepLike, k: int, sample: int, pos: Tuple[int, ...]) -> list[Term]:
        """Map c of branch k is map ``start_k + c`` of the output: its gradient is routed
        back to that branch alone."""
        start = sum(s[0] for s in step.input_shape[:k])
        return same_position_terms(
            step, k, sample, (start + pos[0],) + tuple(pos[1:]), 1.0, f"routed back to branch {k}"
        )

    @classmethod
    def describe(cls, c: ConnectionsLike, top: Optional[int] = 10, width: int = 100) -> list[str]:
        """Which branch, which of its maps; the value copied."""
        d = c.details
        lo, n = d["first_map"], d["branch_maps"]
        return [
            f"  map {c.map} comes from branch {d['branch']} of {d['branches']} "
            f"({source(c, d['branch'])}), which made maps {lo}..{lo + n - 1} here: it is that "
            f"branch's map {d['channel']}",
            f"  value {num(c.output)} copied unchanged (explain it one level down: "
            f"--neuron {source(c, d['branch'])}:{d['channel']}:{c.row}:{c.col}, or --down)",
        ]

    def __init__(self, name: Optional[str] = None) -> None:
        super().__init__(name or "concat")

    def compute_output_shape(self, input_shapes: Sequence[Shape]) -> Shape:
        hw = {tuple(s[1:]) for s in input_shapes}
        if len(hw) != 1:
            raise LayerError(
                f"layer {self.path!r} (DepthConcat): branches must share the map "
                f"size, got {[tuple(s) for s in input_shapes]}"
            )
        return (sum(s[0] for s in input_shapes),) + tuple(input_shapes[0][1:])

    def forward(self, xs: Sequence[Array], training: bool = False) -> Array:
        return F.depth_concat(list(xs))

    def backward(self, dy: Array) -> list[Array]:
        return F.depth_concat_backward(dy, [s[0] for s in self.input_shape])

    def source_of(self, channel: int) -> tuple[int, int]:
        """``(branch index, channel within that branch)`` of an output map."""
        return _branch_of(self.input_shape, channel)


def _branch_of(input_shapes, channel):
    start = 0
    for k, shp in enumerate(input_shapes):
        if channel < start + shp[0]:
            return k, channel - start
        start += shp[0]
    raise IndexError(channel)
