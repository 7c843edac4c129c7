"""Inverted dropout (Srivastava et al. 2014; the "inverted" scaling as in Keras/PyTorch).

In training, each entry is kept with probability ``1 - rate`` and the kept ones are scaled
by ``1 / (1 - rate)``, so the expected output equals the input and inference needs no
rescaling:

    mask = keep / (1 - rate),  keep ~ Bernoulli(1 - rate)   (drawn with a NumPy Generator)
    y    = x * mask                 dx = dy * mask

At inference (``training=False``) or with ``rate == 0`` dropout is the identity:
``(x, None)``. The mask is drawn in NumPy from the seeded Generator, so the same seed
gives the same mask on every machine; the kernel only multiplies.
"""

from __future__ import annotations

from typing import Optional, Union

import numpy as np

from ..typing import Array
from ._check import as_float_array, check_shape, finite_number, same_dtype
from ._dispatch import kernels_for, to_target


def _generator(rng, where):
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(
        f"{where}: rng must be a numpy.random.Generator or an int seed, got {type(rng).__name__}"
    )


def dropout(
    x: Array, rate: float, rng: Union[np.random.Generator, int], training: bool = True
) -> tuple[Array, Optional[Array]]:
    """``(y, mask)``: ``y = x * mask`` with ``mask`` of ``x``'s shape and dtype (0 or 1/(1-rate)).

    ``rng`` is a ``numpy.random.Generator`` (advanced by the draw) or an int seed.
    Identity ``(x, None)`` when ``training`` is False or ``rate == 0``.
    """
    where = "dropout"
    x = as_float_array(x, "x", where)
    rate = finite_number(rate, "rate", where)
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout: rate must lie in [0, 1), got {rate!r}")
    if not training or rate == 0.0:
        return x, None
    g = _generator(rng, where)
    keep = g.random(x.shape) >= rate  # P(keep) = 1 - rate
    # drawn on the host (same seed, same mask on every target), then copied once to the
    # device on the "cuda" target so that forward and backward both use it there
    mask = to_target((keep / (1.0 - rate)).astype(x.dtype))
    return kernels_for("merge", x.size).multiply(x, mask), mask


def dropout_backward(dy: Array, mask: Optional[Array]) -> Array:
    """``dx = dy * mask`` (``mask`` None, i.e. identity forward, gives ``dy`` back)."""
    where = "dropout_backward"
    dy = as_float_array(dy, "dy", where)
    if mask is None:
        return dy
    mask = as_float_array(mask, "mask", where)
    same_dtype(where, dy=dy, mask=mask)
    check_shape(dy, mask.shape, "dy", where, "(the shape of mask)")
    return kernels_for("merge", dy.size).multiply(dy, mask)
