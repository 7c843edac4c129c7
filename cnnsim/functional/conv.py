"""Convolution, the functional way: validate once, then call the Numba kernels.

``conv2d(x (N, C, H, W), w (F, C, KH, KW), b (F,)) -> y (N, F, H_out, W_out)``

    y[n, f, i, j] = b[f] + sum_c sum_{u, v} w[f, c, u, v] * xp[n, c, i*s_h + u, j*s_w + v]

with ``xp`` the zero-padded input (see ``cnnsim.geometry`` for the padding forms).
``connections (F, C)`` bool restricts which input maps each filter reads
(LeNet-5's C3 table; grouped convolution as in the two-GPU AlexNet).
"""

from __future__ import annotations

import functools
from typing import Any, Optional

import numpy as np

from .. import config, geometry
from ..typing import Array, Padding, Size
from ._check import as_float_array, check_shape, same_dtype
from ._dispatch import kernels_for


def _prepare(x, w, stride, padding, connections, where, x_name="x"):
    x = as_float_array(x, x_name, where, 4, "(N, C, H, W)")
    w = as_float_array(w, "w", where, 4, "(F, C, KH, KW)")
    same_dtype(where, **{x_name: x, "w": w})
    if w.shape[1] != x.shape[1]:
        raise ValueError(
            f"{where}: input has {x.shape[1]} channels but the weights expect "
            f"{w.shape[1]} (w has shape {w.shape} = (F, C, KH, KW))"
        )
    win = geometry.window(
        x.shape[2:], w.shape[2:], stride if stride is not None else 1, padding, where
    )
    mask = connection_mask(connections, w.shape[0], w.shape[1], where)
    return x, w, win, mask


def _bias(b, x, w, where):
    """``b (F,)`` checked against ``x`` and ``w``; zeros for a layer without a bias."""
    if b is None:
        return np.zeros(w.shape[0], dtype=x.dtype)
    b = as_float_array(b, "b", where, 1, "(F,)")
    check_shape(b, (w.shape[0],), "b", where, "(F,)")
    same_dtype(where, x=x, b=b)
    return b


def connection_mask(
    connections: Optional[Array], f: int, c: int, where: str = "conv2d"
) -> Optional[Array]:
    """``connections`` (bool (F, C) or None) -> uint8 (F, C) table for the kernels (the
    kernels only read it; the full table of a shape is made once)."""
    if connections is None:
        return _full_mask(f, c)
    m = np.asarray(connections)
    if m.shape != (f, c):
        raise ValueError(
            f"{where}: connection table must have shape (F, C) = {(f, c)}, got {m.shape}"
        )
    if m.dtype != np.bool_ and not np.isin(m, (0, 1)).all():
        raise ValueError(f"{where}: connection table must hold booleans (or 0/1)")
    return np.ascontiguousarray(m.astype(np.uint8))


@functools.lru_cache(maxsize=64)
def _full_mask(f, c):
    return np.ones((f, c), dtype=np.uint8)


def _work(x, w, win):
    # nanoseconds of one core, roughly: 0.2 per multiply-add (blocked, vectorized kernel)
    return x.shape[0] * w.size * win.out_hw[0] * win.out_hw[1] // 5


def conv2d(
    x: Array,
    w: Array,
    b: Optional[Array] = None,
    stride: Size = 1,
    padding: Padding = "valid",
    connections: Optional[Array] = None,
    save: bool = False,
) -> Any:
    """Direct 2-D convolution. ``x (N, C, H, W)``, ``w (F, C, KH, KW)``, ``b (F,)`` or None.

    Returns ``y (N, F, H_out, W_out)`` with ``H_out = floor((H + p_top + p_bottom - KH)/s_h) + 1``.
    ``save=True`` (training): returns ``(y, saved)``, where ``saved`` is what the forward
    pass can hand to :func:`conv2d_backward` for the same ``x`` (the input as the kernels
    laid it out; None when there is nothing to reuse), so the backward pass does not lay
    ``x`` out a second time. The results are the same bits either way.
    """
    where = "conv2d"
    x, w, win, mask = _prepare(x, w, stride, padding, connections, where)
    b = _bias(b, x, w, where)
    k = kernels_for("conv", _work(x, w, win))
    return k.conv2d_forward(x, w, b, mask, *win.kernel_stride, *win.pads, save)


def conv2d_backward(
    dy: Array,
    x: Array,
    w: Array,
    stride: Size = 1,
    padding: Padding = "valid",
    connections: Optional[Array] = None,
    input_grad: bool = True,
    bias_grad: bool = True,
    saved: Any = None,
) -> tuple[Optional[Array], Array, Optional[Array]]:
    """Gradients of ``conv2d``: returns ``(dx (N, C, H, W), dw (F, C, KH, KW), db (F,))``.

    ``dx = full correlation of dy with the flipped kernel`` (cut to the unpadded input),
    ``dw[f, c, u, v] = sum_{n,i,j} dy[n, f, i, j] xp[n, c, i*s_h + u, j*s_w + v]``,
    ``db[f] = sum_{n,i,j} dy[n, f, i, j]``. Weights outside the connection table get 0.
    ``input_grad=False``: ``dx`` is not computed (None), e.g. for a network's first layer;
    ``bias_grad=False``: ``db`` is not computed (None), for a layer without a bias.
    ``saved``: what ``conv2d(x, ..., save=True)`` returned with ``y`` for this ``x`` and
    layer (or None); ``dw`` then reads ``x`` as that forward pass laid it out.
    """
    where = "conv2d_backward"
    x, w, win, mask = _prepare(x, w, stride, padding, connections, where)
    dy = as_float_array(dy, "dy", where, 4, "(N, F, H_out, W_out)")
    same_dtype(where, dy=dy, x=x)
    check_shape(dy, (x.shape[0], w.shape[0]) + win.out_hw, "dy", where, "(N, F, H_out, W_out)")
    _check_saved(saved, x, w, win, where)
    k = kernels_for("conv", 2 * _work(x, w, win))
    dx = None
    if input_grad:
        dx = k.conv2d_backward_input(
            dy, w, mask, x.shape[2], x.shape[3], *win.kernel_stride, *win.pads
        )
    dw = k.conv2d_backward_weight(
        dy, x, mask, w.shape[2], w.shape[3], *win.kernel_stride, *win.pads, saved
    )
    db = k.conv2d_bias_grad(dy) if bias_grad else None
    return dx, dw, db


def _check_saved(saved, x, w, win, where):
    """``saved`` is None or what ``conv2d(..., save=True)`` kept for this ``x`` and layer."""
    if saved is None:
        return
    how = "pass what conv2d(x, ..., save=True) returned with y, or None"
    if not hasattr(saved, "belongs_to"):
        raise ValueError(
            f"{where}: saved must come from conv2d(..., save=True); got a "
            f"{type(saved).__name__}; {how}"
        )
    sh, sw = win.kernel_stride
    if sh != sw or not saved.belongs_to(x.shape, x.dtype, *w.shape[2:], sh, win.pads):
        shape, dtype, kh, kw, s, pads = saved.key
        raise ValueError(
            f"{where}: saved does not belong to this layer and input: it was kept for x of "
            f"shape {shape}, {np.dtype(dtype)}, a {kh}x{kw} kernel, stride {(s, s)}, padding "
            f"{pads}; this call has x of shape {x.shape}, {x.dtype}, a {w.shape[2]}x"
            f"{w.shape[3]} kernel, stride {(sh, sw)}, padding {win.pads}; {how}"
        )


# ---- a convolution, its activation and 2x2 average pooling in one pass ----------------


def conv2d_avgpool(
    x: Array,
    w: Array,
    b: Optional[Array],
    padding: Padding = "valid",
    connections: Optional[Array] = None,
    activation: Optional[str] = None,
) -> Optional[tuple[Array, Array, tuple[Array, Array]]]:
    """``(y, p, saved)``: ``y = activation(conv2d(x, w, b, 1, padding, connections))`` and
    ``p`` its 2x2 average pooling with stride 2, in one pass after the convolution
    (LeNet-5's C1 -> S2), the same numbers as ``conv2d``, ``activation_forward`` and
    ``avg_pool2d`` one after another; ``saved``: ``x`` and ``y`` in the kernels' batch-lane
    layout, what :func:`conv2d_avgpool_backward` reads. None when that pass does not
    apply, and the caller runs the three:
    an activation other than linear/tanh/sigmoid, a layer off the batch-lane path (small
    batches, many maps: ``cnnsim.kernels.conv.conv2d_act_avgpool``), inf/NaN in the
    input, or the cuda target."""
    code = _act_code(activation)
    if code is None:
        return None
    where = "conv2d_avgpool"
    x, w, win, mask = _prepare(x, w, 1, padding, connections, where)
    b = _bias(b, x, w, where)
    k = kernels_for("conv", _work(x, w, win) + _pooled_work(x, w, win))
    return k.conv2d_act_avgpool(x, w, b, mask, code, *win.pads)


def conv2d_avgpool_backward(
    dp: Array,
    saved: tuple[Array, Array],
    x: Array,
    w: Array,
    padding: Padding = "valid",
    connections: Optional[Array] = None,
    activation: Optional[str] = None,
    input_grad: bool = True,
    bias_grad: bool = True,
) -> Optional[tuple[Optional[Array], Array, Optional[Array]]]:
    """``(dx, dw, db)`` of :func:`conv2d_avgpool` from ``dp``, the gradient of the pooled
    map ``p``, and what :func:`conv2d_avgpool` ``saved`` for it (``x`` and the activated map
    in batch lanes): the same numbers as ``avg_pool2d_backward``,
    ``activation_backward`` and ``conv2d_backward`` one after another. ``input_grad`` /
    ``bias_grad`` as in :func:`conv2d_backward`. None when the one pass does not apply
    (as for :func:`conv2d_avgpool`; also a layer whose ``dx`` does not take the batch-lane
    scatter)."""
    code = _act_code(activation)
    if code is None:
        return None
    where = "conv2d_avgpool_backward"
    x, w, win, mask = _prepare(x, w, 1, padding, connections, where)
    ho, wo = win.out_hw
    dp = as_float_array(dp, "dp", where, 4, "(N, F, H_out//2, W_out//2)")
    same_dtype(where, dp=dp, x=x)
    yl = saved[1]
    if yl.dtype != x.dtype or yl.ndim != 3 or yl.shape[0] != ho or yl.shape[2] != wo * x.shape[0]:
        raise ValueError(
            f"{where}: saved does not belong to this layer and batch (its map in batch lanes "
            f"has shape {yl.shape}, dtype {yl.dtype}; expected ({ho}, F, {wo * x.shape[0]}) = "
            f"(H_out, F, W_out*N), {x.dtype}); pass what conv2d_avgpool returned"
        )
    check_shape(
        dp, (x.shape[0], w.shape[0], ho // 2, wo // 2), "dp", where, "(N, F, H_out//2, W_out//2)"
    )
    k = kernels_for("conv", 2 * _work(x, w, win) + _pooled_work(x, w, win))
    r = k.conv2d_act_avgpool_backward(dp, saved, x, w, mask, code, *win.pads, input_grad)
    if r is None:
        return None
    dx, dw, db = r
    return dx, dw, (db if bias_grad else None)


def _pooled_work(x, w, win):
    # the element-wise part of the fused pass: the activation (8 per element, as in
    # functional.activations) and the pooling's reads and writes
    return 10 * x.shape[0] * w.shape[0] * win.out_hw[0] * win.out_hw[1]


def _act_code(activation):
    """The fused kernels' code of ``activation`` (``kernels.activations.ACT_CODES``), or
    None where they do not apply (another activation; the cuda target, which has no
    fused kernels)."""
    from ..kernels.activations import ACT_CODES

    if config.target != "cpu":
        return None
    return ACT_CODES.get(activation or "linear")
