"""Fully connected layers and flatten, the functional way: validate once, call kernels.

``dense(x (N, D_in), w (D_in, D_out), b (D_out,)) -> y (N, D_out)``:  ``y = x w + b``

    y[n, j] = b[j] + sum_k x[n, k] w[k, j]

Weights are stored ``(D_in, D_out)`` (as in Keras), so each input feature owns one row.
The kernels do not call BLAS, so results are identical for any thread count.

``flatten(x (N, C, H, W)) -> (N, C*H*W)`` in C order: feature ``c*H*W + i*W + j`` is
``x[n, c, i, j]`` (channels-first, as PyTorch's ``nn.Flatten``; Keras with
channels-last orders the same numbers differently).
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ..typing import Array
from ._check import as_float_array, check_shape, same_dtype
from ._dispatch import kernels_for


def _work(x, w):
    # nanoseconds of one core, roughly: 0.25 per multiply-add
    return x.shape[0] * w.shape[0] * w.shape[1] // 4


def _prepare(x, w, where, x_name="x"):
    x = as_float_array(x, x_name, where, 2, "(N, D_in)")
    w = as_float_array(w, "w", where, 2, "(D_in, D_out)")
    same_dtype(where, **{x_name: x, "w": w})
    if x.shape[1] != w.shape[0]:
        raise ValueError(
            f"{where}: {x_name} has {x.shape[1]} features but w expects "
            f"{w.shape[0]} (w has shape {w.shape} = (D_in, D_out))"
        )
    return x, w


def dense(x: Array, w: Array, b: Optional[Array] = None) -> Array:
    """``y (N, D_out) = x (N, D_in) @ w (D_in, D_out) + b (D_out,)``; ``b=None`` means no bias."""
    where = "dense"
    x, w = _prepare(x, w, where)
    if b is None:
        b = np.zeros(w.shape[1], dtype=x.dtype)
    else:
        b = as_float_array(b, "b", where, 1, "(D_out,)")
        check_shape(b, (w.shape[1],), "b", where, "(D_out,)")
        same_dtype(where, x=x, b=b)
    return kernels_for("dense", _work(x, w)).dense_forward(x, w, b)


def dense_backward(
    dy: Array, x: Array, w: Array, input_grad: bool = True
) -> tuple[Optional[Array], Array, Array]:
    """Gradients of ``dense``: ``(dx (N, D_in), dw (D_in, D_out), db (D_out,))``.

    ``dx = dy w^T``, ``dw = x^T dy``, ``db = sum_n dy[n]``. ``input_grad=False``: ``dx`` is
    not computed (None), e.g. for a network's first layer.
    """
    where = "dense_backward"
    x, w = _prepare(x, w, where)
    dy = as_float_array(dy, "dy", where, 2, "(N, D_out)")
    same_dtype(where, dy=dy, x=x)
    check_shape(dy, (x.shape[0], w.shape[1]), "dy", where, "(N, D_out)")
    k = kernels_for("dense", 2 * _work(x, w))
    dx = k.dense_backward_input(dy, w) if input_grad else None
    dw, db = k.dense_backward_weight(dy, x)
    return dx, dw, db


def flatten(x: Array) -> Array:
    """``x (N, ...) -> y (N, D)`` with ``D`` the product of the other axes (C order).

    Returns a view when ``x`` is C-contiguous (no copy, no kernel: the order of the numbers
    in memory does not change).
    """
    x = as_float_array(x, "x", "flatten")
    if x.ndim < 2:
        raise ValueError(f"flatten: expected x of rank >= 2 (N, ...), got shape {x.shape}")
    return x.reshape(x.shape[0], -1)


def flatten_backward(dy: Array, x_shape: Sequence[int]) -> Array:
    """``dy (N, D) -> dx`` of shape ``x_shape`` (the inverse reshape)."""
    where = "flatten_backward"
    dy = as_float_array(dy, "dy", where, 2, "(N, D)")
    x_shape = tuple(int(s) for s in x_shape)
    if len(x_shape) < 2 or x_shape[0] != dy.shape[0] or int(np.prod(x_shape[1:])) != dy.shape[1]:
        raise ValueError(
            f"flatten_backward: dy of shape {dy.shape} does not flatten x of shape {x_shape}"
        )
    return dy.reshape(x_shape)
