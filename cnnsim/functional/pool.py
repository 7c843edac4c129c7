"""Max and average pooling, the functional way: validate once, then call the kernels.

``x (N, C, H, W) -> y (N, C, H_out, W_out)``, each map pooled on its own. ``size`` and
``stride`` are ints or ``(h, w)`` pairs; ``stride=None`` means ``stride = size`` (the
lecture's non-overlapping pooling); ``padding`` is any form ``cnnsim.geometry`` accepts.

Output neuron ``(i, j)`` reads input rows ``i*s_h - p_top ... i*s_h - p_top + size_h - 1``
(and the matching columns), keeping only the real cells (inside the input):

* ``max_pool2d``: ``y = max`` of the real cells. Padding never wins a max (it is not a
  candidate at all, as in TensorFlow). **Ties**: the gradient goes to the FIRST maximal
  cell in row-major order within the window, and to no other.
  A NaN wins its window (the first NaN), so NaN propagates.
* ``avg_pool2d``: ``y = mean`` of the real cells only: the divisor counts real cells, not
  padded ones (TensorFlow's rule, PyTorch's ``count_include_pad=False``, ONNX's default).
  ``count_include_pad=True`` divides by the whole window ``size_h * size_w`` instead
  (padded cells count as zeros: PyTorch's default, ONNX's ``count_include_pad=1``); it is
  the same kernel's mean times ``count(i, j) / (size_h * size_w)``.

A window lying entirely in padding (impossible with "valid" or "same", possible with
explicit padding >= size) outputs 0, has argmax -1, and passes no gradient.

``global_avg_pool(x (N, C, H, W)) -> y (N, C)``, ``y[n, c] = mean_{i,j} x[n, c, i, j]``
(GoogLeNet's and ResNet's head); backward ``dx[n, c, i, j] = dy[n, c] / (H W)``.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from .. import geometry
from ..typing import Array, Padding, Size
from ._check import as_float_array, check_shape, same_dtype
from ._dispatch import kernels_for


def _prepare(x, size, stride, padding, where):
    x = as_float_array(x, "x", where, 4, "(N, C, H, W)")
    win = geometry.window(x.shape[2:], size, stride, padding, where)
    return x, win


def _work(x, win):
    # nanoseconds of one core, roughly: one per window cell visited
    return x.shape[0] * x.shape[1] * win.out_hw[0] * win.out_hw[1] * win.kernel[0] * win.kernel[1]


def _geom(win):
    return (*win.kernel, *win.kernel_stride, *win.pads)


def _force_nan_rule(x):
    # ``nan_aware`` for the max kernels: the CPU kernels look for NaN in each map
    # themselves (and apply the NaN rule to those maps only); on the GPU the rule costs
    # nothing, and scanning here would copy x to the host. Same results either way.
    return hasattr(x, "copy_to_host")


def _check_dy(dy, x, win, where):
    dy = as_float_array(dy, "dy", where, 4, "(N, C, H_out, W_out)")
    same_dtype(where, dy=dy, x=x)
    check_shape(dy, x.shape[:2] + win.out_hw, "dy", where, "(N, C, H_out, W_out)")
    return dy


def max_pool2d(
    x: Array, size: Size = 2, stride: Optional[Size] = None, padding: Padding = "valid"
) -> Array:
    """Max pooling: ``x (N, C, H, W) -> y (N, C, H_out, W_out)``,
    ``y[n, c, i, j] = max of the real cells of window (i, j)``.

    2x2 pooling with stride 2 keeps one input in four: 75% are dropped.
    """
    x, win = _prepare(x, size, stride, padding, "max_pool2d")
    return kernels_for("pool", _work(x, win)).max_pool2d_forward(x, *_geom(win), _force_nan_rule(x))


def max_pool2d_with_indices(
    x: Array, size: Size = 2, stride: Optional[Size] = None, padding: Padding = "valid"
) -> tuple[Array, Array]:
    """``(y, idx)``: :func:`max_pool2d` and :func:`max_pool2d_argmax` from one pass over
    ``x`` (PyTorch's ``return_indices``). Give ``idx`` to :func:`max_pool2d_backward` and
    it adds each gradient at the recorded winner instead of finding it again (GoogLeNet's
    13 max pools at batch 8, one training step: forward 48 -> 81 ms, backward 94 -> 21 ms;
    cProfile, 2 threads)."""
    x, win = _prepare(x, size, stride, padding, "max_pool2d_with_indices")
    k = kernels_for("pool", _work(x, win))
    return k.max_pool2d_forward_argmax(x, *_geom(win), _force_nan_rule(x))


def max_pool2d_backward(
    dy: Array,
    x: Array,
    size: Size = 2,
    stride: Optional[Size] = None,
    padding: Padding = "valid",
    indices: Optional[Array] = None,
) -> Array:
    """Gradient of ``max_pool2d``: ``dx (N, C, H, W)``.

    Each ``dy[n, c, i, j]`` goes to the winner of window (i, j) (the first maximal cell in
    row-major order on ties); overlapping windows add up at a shared winner. ``indices``:
    the winners from :func:`max_pool2d_with_indices` on this ``x``, used as they are
    (otherwise each window is scanned again; the result is the same either way).
    """
    where = "max_pool2d_backward"
    x, win = _prepare(x, size, stride, padding, where)
    dy = _check_dy(dy, x, win, where)
    k = kernels_for("pool", _work(x, win))
    if indices is None:
        return k.max_pool2d_backward(dy, x, *_geom(win), _force_nan_rule(x))
    if tuple(indices.shape) != tuple(dy.shape) or np.dtype(indices.dtype) != np.int64:
        raise ValueError(
            f"{where}: expected indices of shape {tuple(dy.shape)} and dtype int64 (from "
            f"max_pool2d_with_indices on the same x), got {tuple(indices.shape)} "
            f"{np.dtype(indices.dtype)}"
        )
    return k.max_pool2d_backward_argmax(dy, indices, x.shape[2], x.shape[3], *_geom(win))


def max_pool2d_argmax(
    x: Array, size: Size = 2, stride: Optional[Size] = None, padding: Padding = "valid"
) -> Array:
    """The winner of every max-pooling window: ``idx (N, C, H_out, W_out)`` int64.

    ``idx`` is the flat index ``row * W + col`` into the (H, W) input map (row-major, the
    same tie rule as the gradient), or -1 for a window entirely in padding. Recover the
    position with ``divmod(idx, W)``.
    """
    x, win = _prepare(x, size, stride, padding, "max_pool2d_argmax")
    k = kernels_for("pool", _work(x, win))
    return k.max_pool2d_forward_argmax(x, *_geom(win), _force_nan_rule(x))[1]


def real_fraction(win):
    """``(H_out, W_out)``: the fraction ``count(i, j) / (size_h * size_w)`` of each window's
    cells that lie inside the input (1 everywhere without padding)."""
    (h, w), (fh, fw) = win.in_hw, win.kernel
    rows = np.array([sum(0 <= r < h for r in win.rows(i)) for i in range(win.out_hw[0])])
    cols = np.array([sum(0 <= c < w for c in win.cols(j)) for j in range(win.out_hw[1])])
    return np.outer(rows, cols) / (fh * fw)


def avg_pool2d(
    x: Array,
    size: Size = 2,
    stride: Optional[Size] = None,
    padding: Padding = "valid",
    count_include_pad: bool = False,
) -> Array:
    """Average pooling: ``x (N, C, H, W) -> y (N, C, H_out, W_out)``,
    ``y[n, c, i, j] = (sum of the real cells of window (i, j)) / (their count)``, or
    ``/ (size_h * size_w)`` with ``count_include_pad=True``.
    """
    x, win = _prepare(x, size, stride, padding, "avg_pool2d")
    y = kernels_for("pool", _work(x, win)).avg_pool2d_forward(x, *_geom(win))
    if count_include_pad and any(win.pads):
        y = y * real_fraction(win).astype(y.dtype)
    return y


def avg_pool2d_backward(
    dy: Array,
    x: Array,
    size: Size = 2,
    stride: Optional[Size] = None,
    padding: Padding = "valid",
    count_include_pad: bool = False,
) -> Array:
    """Gradient of ``avg_pool2d``: ``dx (N, C, H, W)``; every real cell of window (i, j)
    receives ``dy[n, c, i, j] / count(i, j)`` (``/ (size_h * size_w)`` with
    ``count_include_pad=True``). ``x`` supplies the shape (and dtype)."""
    where = "avg_pool2d_backward"
    x, win = _prepare(x, size, stride, padding, where)
    dy = _check_dy(dy, x, win, where)
    if count_include_pad and any(win.pads):
        dy = np.ascontiguousarray(dy * real_fraction(win).astype(dy.dtype))
    return kernels_for("pool", _work(x, win)).avg_pool2d_backward(
        dy, x.shape[2], x.shape[3], *_geom(win)
    )


def global_avg_pool(x: Array) -> Array:
    """``y (N, C)``: the mean of each ``H x W`` map of ``x (N, C, H, W)``."""
    x = as_float_array(x, "x", "global_avg_pool", 4, "(N, C, H, W)")
    if x.shape[2] * x.shape[3] == 0:
        raise ValueError(f"global_avg_pool: maps must not be empty, got x of shape {x.shape}")
    return kernels_for("pool", x.size).global_avg_pool_forward(x)


def global_avg_pool_backward(dy: Array, x_shape: Sequence[int]) -> Array:
    """``dx`` of shape ``x_shape = (N, C, H, W)``: every input gets ``dy[n, c] / (H W)``."""
    where = "global_avg_pool_backward"
    dy = as_float_array(dy, "dy", where, 2, "(N, C)")
    x_shape = tuple(int(s) for s in x_shape)
    if len(x_shape) != 4 or x_shape[:2] != dy.shape or x_shape[2] * x_shape[3] == 0:
        raise ValueError(
            f"{where}: dy of shape {dy.shape} does not match x of shape {x_shape} "
            "(expected x (N, C, H, W) with dy (N, C))"
        )
    return kernels_for("pool", dy.size * x_shape[2] * x_shape[3]).global_avg_pool_backward(
        dy, x_shape[2], x_shape[3]
    )
