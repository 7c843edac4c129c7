"""Helpers shared by the model builders: width scaling and the lecture's reference table.

A builder attaches ``net.reference`` (a ``Reference``) describing what the lecture's (or the
paper's) table *declares*: the maps and size of named layers, the total parameter count.
``cnnsim.models.summary`` compares those declarations with the shapes and counts the
network really has, and turns every disagreement into a note.
"""

import math
from dataclasses import dataclass, field
from typing import Optional


@dataclass
class Reference:
    #: where the declared numbers come from, e.g. "Géron (2017), Table 14-2"
    source: str
    #: the input the table is written for, (C, H, W)
    input_shape: tuple
    #: layer name -> declared output shape without the batch: (C, H, W) or (D,)
    layers: dict = field(default_factory=dict)
    #: layer name -> sentence appended to that layer's note when it disagrees
    hints: dict = field(default_factory=dict)
    #: declared number of trainable parameters (None: the source gives none)
    total_params: Optional[int] = None
    #: sentence appended when the total disagrees
    total_hint: str = ""
    #: facts always shown with the table (counting conventions, mappings of constants)
    remarks: list = field(default_factory=list)


def scaled(maps, width, multiple=1):
    """``maps * width`` rounded, at least ``multiple``, a multiple of ``multiple`` (groups)."""
    if width <= 0:
        raise ValueError(f"width multiplier must be positive, got {width!r}")
    m = int(round(maps * width / multiple)) * multiple
    return max(m, multiple)


def check_width(width, where):
    if (
        not isinstance(width, (int, float))
        or isinstance(width, bool)
        or not math.isfinite(width)
        or width <= 0
    ):
        raise ValueError(f"{where}: width must be a positive number, got {width!r}")
    return float(width)


def check_input_shape(input_shape, where, channels=None):
    try:
        shape = tuple(int(s) for s in input_shape)
    except (TypeError, ValueError):
        raise TypeError(f"{where}: input_shape must be (C, H, W), got {input_shape!r}") from None
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(
            f"{where}: input_shape must be (C, H, W) of positive ints, got {input_shape!r}"
        )
    if channels is not None and shape[0] != channels:
        raise ValueError(f"{where}: expected {channels} input channel(s), got input_shape {shape}")
    return shape


def check_choice(value, choices, what, where):
    if value not in choices:
        raise ValueError(
            f"{where}: unknown {what} {value!r}; expected one of {', '.join(map(repr, choices))}"
        )
    return value
