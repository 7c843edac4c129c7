"""Type names shared by the public API's annotations (for readers and mypy).

``Array`` is any NumPy array; the docstrings say the shape (``x (N, C, H, W)``) and the
dtype (float32 or float64), which the type cannot. ``Shape`` is a shape without the batch
axis, ``Padding`` every padding form ``cnnsim.geometry`` accepts.
"""

from __future__ import annotations

from typing import AbstractSet, Any, Dict, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]
FloatArray = npt.NDArray[np.floating]
Shape = Tuple[int, ...]
IntPair = Tuple[int, int]
Size = Union[int, Sequence[int]]
Padding = Union[str, int, Sequence[int]]

# What the layers' engine hooks (``explain``, ``route``, ``grad_terms``, ...) take. A step
# is a recorded ``cnnsim.engine.trace.Step`` (or a built network's node seen the same
# way) and ``c`` a ``cnnsim.engine.connections.Connections``: the layers sit below the
# engine and never import it, so these two names tell the reader what comes, not mypy.
StepLike = Any
ConnectionsLike = Any
#: a set of map indices, or ``cnnsim.layers.explain.ALL`` ("all": every map)
Maps = Union[AbstractSet[int], str]
#: rows and columns ``(r0, r1, c0, c1)`` of a map, or ALL (the whole map)
Box = Union[Tuple[int, int, int, int], str]
#: one term of a gradient sum (``cnnsim.layers.explain.term``: reader, weight, upstream,
#: product, note)
Term = Dict[str, Any]

__all__ = [
    "Array",
    "FloatArray",
    "Shape",
    "IntPair",
    "Size",
    "Padding",
    "StepLike",
    "ConnectionsLike",
    "Maps",
    "Box",
    "Term",
]
