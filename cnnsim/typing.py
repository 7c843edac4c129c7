"""Type names shared by the public API's annotations (for readers and mypy).

``Array`` is any NumPy array; the docstrings say the shape (``x (N, C, H, W)``) and the
dtype (float32 or float64), which the type cannot. ``Shape`` is a shape without the batch
axis, ``Padding`` every padding form ``cnnsim.geometry`` accepts.
"""

from __future__ import annotations

from typing import Any, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]
FloatArray = npt.NDArray[np.floating]
Shape = Tuple[int, ...]
IntPair = Tuple[int, int]
Size = Union[int, Sequence[int]]
Padding = Union[str, int, Sequence[int]]

__all__ = ["Array", "FloatArray", "Shape", "IntPair", "Size", "Padding"]
