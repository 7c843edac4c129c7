"""Joining maps: add (skip connection), depth concatenation (inception). Validate once,
call the kernels. (Global average pooling is pooling: ``functional.pool``.)

    add(a, b) = a + b                          add_backward(dy) = (dy, dy)
    depth_concat([x_0 (N, C_0, H, W), ...]) -> (N, C_0 + C_1 + ..., H, W)
        branch i occupies channels sum_{j<i} C_j ... + C_i - 1; backward slices dy back
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..typing import Array
from ._check import as_float_array, same_dtype
from ._dispatch import copy, empty, kernels_for


def _k(work=None):
    return kernels_for("merge", work)


def add(a: Array, b: Array) -> Array:
    """``a + b`` for arrays of exactly the same shape and dtype (no broadcasting)."""
    where = "add"
    a = as_float_array(a, "a", where)
    b = as_float_array(b, "b", where)
    if a.shape != b.shape:
        raise ValueError(
            f"add: shapes must match exactly, got a {a.shape} and b {b.shape} "
            "(a residual shortcut needs a projection when shapes change)"
        )
    same_dtype(where, a=a, b=b)
    return _k(a.size).add(a, b)


def add_backward(dy: Array) -> tuple[Array, Array]:
    """``(da, db) = (dy, dy)``, as two independent arrays (safe to modify either)."""
    dy = as_float_array(dy, "dy", "add_backward")
    return copy(dy), copy(dy)


def depth_concat(xs: Sequence[Array]) -> Array:
    """Concatenate ``xs``, a list of ``(N, C_i, H, W)``, along channels: ``(N, sum C_i, H, W)``."""
    where = "depth_concat"
    if isinstance(xs, np.ndarray) or not isinstance(xs, (list, tuple)) or len(xs) == 0:
        raise TypeError(
            f"{where}: expected a non-empty list of (N, C_i, H, W) arrays, "
            f"got {type(xs).__name__}" + (" (empty)" if isinstance(xs, (list, tuple)) else "")
        )
    xs = [as_float_array(x, f"branch {i}", where, 4, "(N, C, H, W)") for i, x in enumerate(xs)]
    n, _, h, w = xs[0].shape
    for i, x in enumerate(xs[1:], start=1):
        if (x.shape[0], x.shape[2], x.shape[3]) != (n, h, w):
            raise ValueError(
                f"{where}: branch {i} has shape {x.shape} but branch 0 has "
                f"{xs[0].shape}; N, H and W must agree (only C may differ)"
            )
        if x.dtype != xs[0].dtype:
            raise TypeError(
                f"{where}: branch {i} has dtype {x.dtype} but branch 0 has "
                f"{xs[0].dtype}; arrays must share one float dtype"
            )
    y = empty((n, sum(x.shape[1] for x in xs), h, w), xs[0].dtype)
    k, c0 = _k(), 0
    for x in xs:  # a loop over branches, not pixels
        k.copy_channels(y, x, c0)
        c0 += x.shape[1]
    return y


def depth_concat_backward(dy: Array, channels: Sequence[int]) -> list[Array]:
    """Split ``dy (N, sum C_i, H, W)`` back into the branches: a list of ``(N, C_i, H, W)``."""
    where = "depth_concat_backward"
    dy = as_float_array(dy, "dy", where, 4, "(N, C, H, W)")
    try:
        channels = [int(c) for c in channels]
    except (TypeError, ValueError):
        raise TypeError(f"{where}: channels must be a list of ints, got {channels!r}") from None
    if not channels or min(channels) < 1 or sum(channels) != dy.shape[1]:
        raise ValueError(
            f"{where}: channels {channels} must be positive and sum to dy's {dy.shape[1]} channels"
        )
    k, out, c0 = _k(), [], 0
    for c in channels:
        out.append(k.take_channels(dy, c0, c))
        c0 += c
    return out
