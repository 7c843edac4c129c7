"""What one neuron is connected to, and its output rebuilt from those parts.

    c = connections(trace, "C1", map=0, row=3, col=5, sample=0)
    c.rows, c.cols            input rows/columns read (unpadded coordinates; outside = padding)
    c.inputs, c.weights       (C', f_h, f_w) patch (padding cells hold 0) and kernel
    c.products, c.bias, c.sum, c.activation, c.output
    c.recorded                what the layer computed; c.ok: rebuilt == recorded (float tol.)

Everything is recomputed in float64 from the recorded arrays, with NumPy, independently
of the Numba kernels, following the lecture's formulas. Each layer class explains its own
neurons (``Layer.explain(step, c)``, in ``cnnsim/layers/``); what they give:

* Conv2D      ``z = b[f] + sum_{c in table[f]} sum_{u,v} w[f,c,u,v] xp[c, i*s_h - p_t + u,
              j*s_w - p_l + v]``, ``y = act(z)``; ``sum`` is z.
* MaxPool2D   the window's real cells and the winner (first maximum, row-major); ``sum`` the max.
* AvgPool2D   the window's real cells and their mean (padding not counted); ``sum`` the mean.
* GlobalAvgPool  the whole map and its mean.
* LRN         the maps ``j = max(0, i - r//2) .. min(i + r//2, C - 1)`` at (row, col);
              ``sum`` is the normalizer ``s = k + alpha sum a_j^2``, ``y = a_i s^-beta``.
* Subsampling LeNet-5's S2/S4: ``act(coef * mean(window) + bias)``.
* RBF         LeNet-5's output ``y_k = sum_j (x_j - w_kj)^2``; products are the squares.
* Dense       every input with its weight ``w[:, j]``; products ``x_k w[k, j]``;
              ``ranked()`` orders them by |contribution|.
* Add         the two terms (main path, shortcut), ``sum = a + b``, ``y = act(sum)``.
* DepthConcat the branch the map came from (``branch``, ``source``, ``channel``).
* Flatten / Dropout (inference) / Activation / BatchNorm (inference): the input(s) and the
  function applied.

Vector layers (``(D,)`` outputs) take ``map`` = the unit and ``row = col = 0``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Protocol, Sequence, Union

import numpy as np

from ..layers.explain import ExplainError
from ..layers.explain import at as _at
from .trace import Step, Trace, TraceError


class NeuronOwner(Protocol):
    """What ``check_neuron`` reads: a Step, or anything with its name and output shape."""

    name: str
    output_shape: tuple


@dataclass
class Connections:
    layer: str
    kind: str
    sample: int
    map: int
    row: int
    col: int
    recorded: float
    output: Optional[float] = None
    rows: Optional[list] = None
    cols: Optional[list] = None
    channels: Optional[list] = None  # input maps read
    inputs: Optional[np.ndarray] = None  # (C', f_h, f_w) for conv, window (f_h, f_w) for pools
    padded: Optional[np.ndarray] = None  # bool (f_h, f_w): True where the window is in padding
    weights: Optional[np.ndarray] = None
    products: Optional[np.ndarray] = None
    bias: Optional[float] = None
    sum: Optional[float] = None
    activation: Optional[str] = None
    details: dict = field(default_factory=dict)
    scale: float = 1.0  # magnitude of what was summed (for the tolerance)
    form: str = "point"  # layout: "patches", "vector", "window", "maps", "point"
    dtype: str = "float32"
    sources: Optional[list] = None  # names of the layers feeding each input ("input")
    cls: Optional[type] = None  # the layer class that explained it (its describe())

    @property
    def tolerance(self):
        eps = np.finfo(np.dtype(self.dtype)).eps
        return 64 * eps * (abs(self.scale) + abs(self.recorded) + 1e-3)

    @property
    def error(self):
        return abs(self.output - self.recorded)

    @property
    def ok(self):
        """The rebuilt output equals what the layer computed, to float tolerance."""
        return bool(self.error <= self.tolerance)

    def __repr__(self):
        from ..display import connections_repr

        return connections_repr(self)

    def __str__(self):
        from ..display import neuron_text  # what `cnnsim step --neuron` prints

        return neuron_text(self)

    def _repr_html_(self):
        from ..display import neuron_text, pre_html

        return pre_html(neuron_text(self))

    def ranked(self):
        """Indices of the inputs by decreasing |product| (the biggest contributions first)."""
        if self.products is None:
            raise TraceError(f"connections: {self.kind} {self.layer!r} has no products to rank")
        p = np.abs(np.asarray(self.products).reshape(-1))
        return np.argsort(-p, kind="stable")

    def lines(self, top=10, width=100):
        """The explanation as text lines: header, the layer type's own layout
        (``Layer.describe``; number grids side by side while they fit ``width``), and the
        check against the recorded value."""
        head = (
            f"neuron {self.layer} ({self.kind}) map {self.map}, row {self.row}, col "
            f"{self.col} (sample {self.sample})"
        )
        return [head] + list(self.cls.describe(self, top=top, width=width)) + [self.check_line()]

    def check_line(self):
        return (
            f"  rebuilt output {self.output:.7g} {'equals' if self.ok else 'DIFFERS from'} "
            f"the recorded value {self.recorded:.7g} within {self.tolerance:.1g}"
        )

    def to_dict(self, top=10):
        """The JSON view (docs/trace-format.md, "neuron")."""

        def lst(a):
            return None if a is None else np.asarray(a, dtype=np.float64).tolist()

        return {
            "layer": self.layer,
            "type": self.kind,
            "form": self.form,
            "sample": self.sample,
            "map": self.map,
            "row": self.row,
            "col": self.col,
            "sources": self.sources,
            "channels": self.channels,
            "rows": self.rows,
            "cols": self.cols,
            "inputs": lst(self.inputs),
            "padded": None if self.padded is None else np.asarray(self.padded).tolist(),
            "weights": lst(self.weights),
            "products": lst(self.products),
            "bias": self.bias,
            "sum": self.sum,
            "activation": self.activation,
            "output": self.output,
            "recorded": self.recorded,
            "error": float(self.error),
            "tolerance": float(self.tolerance),
            "equal": self.ok,
            "details": _plain(self.details),
            "text": self.lines(top),
        }


def _plain(v):
    """JSON-safe copy (tuples -> lists, NumPy scalars -> Python)."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    return v


def neuron_ranges(shape: Sequence[int]) -> str:
    """``"map 0..5, row 0..27, col 0..27"`` for a step output shape (no batch)."""
    if len(shape) == 3:
        return f"map 0..{shape[0] - 1}, row 0..{shape[1] - 1}, col 0..{shape[2] - 1}"
    return f"map (unit) 0..{shape[0] - 1}, row 0, col 0"


def check_neuron(
    step: NeuronOwner, map: int, row: int, col: int, sample: int = 0, batch: Optional[int] = None
) -> None:
    """One-line ValueError when (sample, map, row, col) is outside ``step``'s output."""
    shp = step.output_shape
    dims = (shp + (1, 1))[:3] if len(shp) == 1 else shp
    if len(shp) not in (1, 3):
        raise ValueError(
            f"layer {step.name!r}: neurons of an output of shape {shp} cannot "
            f"be addressed as map:row:col"
        )
    bad = [not (0 <= v < d) for v, d in zip((map, row, col), dims)]
    if any(bad):
        raise ValueError(
            f"neuron (map {map}, row {row}, col {col}) is outside layer "
            f"{step.name!r} with output {shp}: valid {neuron_ranges(shp)}"
        )
    if batch is not None and not 0 <= sample < batch:
        raise ValueError(f"sample {sample} is outside the batch of {batch}: valid 0..{batch - 1}")


def source_name(trace, index):
    """Name of step ``index`` of ``trace`` ("the input image" for -1, "?" when unknown)."""
    if index is None:
        return "?"
    return "the input image" if index < 0 else trace.steps[index].name


def connections(
    trace: Trace, layer: Union[str, Step], map: int, row: int, col: int, sample: int = 0
) -> Connections:
    """The connections of output neuron ``(map, row, col)`` of ``layer`` for ``sample``."""
    step = trace.step(layer) if isinstance(layer, str) else layer
    check_neuron(step, map, row, col, sample, trace.batch)
    if not step.kept:
        raise TraceError(
            f"connections: layer {step.name!r} was recorded without its arrays "
            f"(light mode); record it with keep=[{step.name!r}]"
        )
    y = step.y
    c = Connections(
        layer=step.name,
        kind=step.kind,
        sample=int(sample),
        map=int(map),
        row=int(row),
        col=int(col),
        recorded=float(_at(y, sample, map, row, col)),
        activation=step.activation,
        dtype=str(y.dtype),
        form=step.cls.explain_form,
        sources=[source_name(trace, s) for s in step.sources],
        cls=step.cls,
    )
    try:
        step.cls.explain(step, c)
    except ExplainError as e:
        raise TraceError(str(e)) from None
    return c
