"""Batch normalization (Ioffe & Szegedy 2015): validate once, call the kernels.

``x (N, C, H, W)`` is normalized per channel over ``N, H, W``; ``x (N, D)`` per feature
over ``N``. ``gamma``, ``beta``, ``running_mean``, ``running_var`` all have shape ``(C,)``
(or ``(D,)``). With ``M`` values per channel:

Training (``training=True``): batch statistics

    mu = mean(x),  var = (1/M) sum (x - mu)^2,  x_hat = (x - mu) / sqrt(var + eps)
    y  = gamma x_hat + beta

and the running averages are updated **in place** (Keras' convention for ``momentum``;
PyTorch's ``momentum`` is ``1 - ours``):

    running_mean = momentum running_mean + (1 - momentum) mu
    running_var  = momentum running_var  + (1 - momentum) var * M / (M - 1)

i.e. the running variance tracks the *unbiased* batch variance (as PyTorch does), while
the batch itself is normalized with the biased one (as both libraries do). Training
needs ``M >= 2``.

Inference (``training=False``): ``y = gamma (x - running_mean) / sqrt(running_var + eps) + beta``;
nothing is updated.

``batch_norm_backward(dy, cache)`` differentiates whichever mode ran: in training the
gradient flows through the batch mean and variance,
``dx = gamma / (M sqrt(var + eps)) (M dy - sum dy - x_hat sum(dy x_hat))``;
in inference the statistics are constants, ``dx = gamma dy / sqrt(running_var + eps)``.
Both give ``dgamma = sum dy x_hat`` and ``dbeta = sum dy`` (per channel).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..typing import Array
from ._check import FLOATS, as_float_array, check_shape, finite_number, same_dtype
from ._dispatch import kernels_for, to_host


@dataclass
class BatchNormCache:
    """What ``batch_norm_backward`` needs, plus the statistics used (for traces)."""

    x_hat: np.ndarray  # normalized input, viewed (N, C, H, W)
    inv_std: np.ndarray  # (C,) 1 / sqrt(var + eps) of the statistics used
    gamma: np.ndarray  # (C,)
    mean: np.ndarray  # (C,) batch mean (training) or running mean (inference)
    var: np.ndarray  # (C,) biased batch variance (training) or running variance
    training: bool
    x_shape: tuple  # the caller's shape: (N, C, H, W) or (N, D)


def _as4(a):
    return a.reshape(a.shape[0], a.shape[1], 1, 1) if a.ndim == 2 else a


def _running(a, name, c, where):
    if not isinstance(a, np.ndarray) or a.dtype.type not in FLOATS:
        got = f"dtype {a.dtype}" if isinstance(a, np.ndarray) else type(a).__name__
        raise TypeError(
            f"{where}: {name} must be a float32/float64 NumPy array "
            f"(it is updated in place), got {got}"
        )
    if a.shape != (c,):
        raise ValueError(f"{where}: expected {name} of shape ({c},), got {a.shape}")
    return a


def batch_norm(
    x: Array,
    gamma: Array,
    beta: Array,
    running_mean: Array,
    running_var: Array,
    training: bool,
    momentum: float = 0.9,
    eps: float = 1e-5,
) -> tuple[Array, BatchNormCache]:
    """``(y, cache)``; ``y`` has ``x``'s shape. See the module docstring for the formulas."""
    where = "batch_norm"
    x = as_float_array(x, "x", where)
    if x.ndim not in (2, 4):
        raise ValueError(
            f"{where}: expected x of rank 2 (N, D) or 4 (N, C, H, W), got shape {x.shape}"
        )
    c = x.shape[1]
    gamma = as_float_array(gamma, "gamma", where, 1, "(C,)")
    beta = as_float_array(beta, "beta", where, 1, "(C,)")
    check_shape(gamma, (c,), "gamma", where, "(C,)")
    check_shape(beta, (c,), "beta", where, "(C,)")
    same_dtype(where, x=x, gamma=gamma, beta=beta)
    _running(running_mean, "running_mean", c, where)
    _running(running_var, "running_var", c, where)
    momentum = finite_number(momentum, "momentum", where)
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"{where}: momentum must lie in [0, 1], got {momentum!r}")
    eps = finite_number(eps, "eps", where, positive=True)
    x4 = _as4(x)
    k = kernels_for("normalization", 4 * x4.size)
    if training:
        m = x4.shape[0] * x4.shape[2] * x4.shape[3]
        if m < 2:
            raise ValueError(
                f"{where}: training needs at least 2 values per channel "
                f"(N*H*W), got x of shape {x.shape}"
            )
        y, x_hat, mean, var, inv_std = k.batch_norm_train_forward(x4, gamma, beta, eps)
        unbiased = to_host(var).astype(np.float64) * (m / (m - 1))
        running_mean *= momentum
        # the running statistics live on the host (C numbers; the layer owns them)
        running_mean += (1.0 - momentum) * to_host(mean).astype(np.float64)
        running_var *= momentum
        running_var += (1.0 - momentum) * unbiased
    else:
        mean = np.ascontiguousarray(running_mean, dtype=x.dtype)
        var = np.ascontiguousarray(running_var, dtype=x.dtype)
        if (var < 0).any():
            raise ValueError(f"{where}: running_var must be >= 0, got min {var.min()!r}")
        y, x_hat, inv_std = k.batch_norm_eval_forward(x4, gamma, beta, mean, var, eps)
    cache = BatchNormCache(x_hat, inv_std, gamma, mean, var, bool(training), x.shape)
    return y.reshape(x.shape), cache


def batch_norm_backward(dy: Array, cache: BatchNormCache) -> tuple[Array, Array, Array]:
    """``(dx, dgamma (C,), dbeta (C,))`` for the mode recorded in ``cache``."""
    where = "batch_norm_backward"
    if not isinstance(cache, BatchNormCache):
        raise TypeError(
            f"{where}: cache must be the BatchNormCache returned by batch_norm, "
            f"got {type(cache).__name__}"
        )
    dy = as_float_array(dy, "dy", where)
    check_shape(dy, cache.x_shape, "dy", where, "(the shape of x)")
    same_dtype(where, dy=dy, x=cache.x_hat)
    dx, dgamma, dbeta = kernels_for("normalization", 4 * dy.size).batch_norm_backward(
        _as4(dy), cache.x_hat, cache.gamma, cache.inv_std, cache.training
    )
    return dx.reshape(cache.x_shape), dgamma, dbeta
