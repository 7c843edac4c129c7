"""Softmax cross-entropy, fused and numerically stable: validate once, call the kernels.

``logits (N, K)``, integer ``labels (N,)`` in ``[0, K)``:

    loss = (1/N) sum_n ( log sum_k exp(z[n, k]) - z[n, labels[n]] )     (log-sum-exp form)
    dloss/dlogits = (softmax(z) - onehot(labels)) / N

Fusing the softmax with the logarithm avoids ``log(0)`` and ``exp`` overflow: logits of
1000 are fine.
"""

from __future__ import annotations

import numpy as np

from ..typing import Array
from ._check import as_float_array
from ._dispatch import kernels_for


def _labels(labels, n, k, where):
    lab = np.asarray(labels)
    if lab.dtype == np.bool_ or not np.issubdtype(lab.dtype, np.integer):
        raise TypeError(f"{where}: labels must be integers (class indices), got dtype {lab.dtype}")
    if lab.shape != (n,):
        raise ValueError(f"{where}: expected labels of shape ({n},) (one per row), got {lab.shape}")
    if n and (lab.min() < 0 or lab.max() >= k):
        bad = lab[(lab < 0) | (lab >= k)][0]
        raise ValueError(f"{where}: labels must lie in [0, {k}), got {int(bad)}")
    return np.ascontiguousarray(lab, dtype=np.int64)


def softmax_cross_entropy(logits: Array, labels: Array) -> tuple[float, Array]:
    """``(loss, probs)``: the mean cross-entropy (a Python float) and ``softmax(logits) (N, K)``."""
    where = "softmax_cross_entropy"
    z = as_float_array(logits, "logits", where, 2, "(N, K)")
    if z.shape[0] == 0 or z.shape[1] == 0:
        raise ValueError(f"{where}: expected at least one row and one class, got shape {z.shape}")
    lab = _labels(labels, z.shape[0], z.shape[1], where)
    loss, probs = kernels_for("losses", 8 * z.size).softmax_cross_entropy_forward(z, lab)
    return float(loss), probs


def softmax_cross_entropy_backward(probs: Array, labels: Array) -> Array:
    """``dlogits (N, K) = (probs - onehot(labels)) / N``, from the forward's ``probs``."""
    where = "softmax_cross_entropy_backward"
    p = as_float_array(probs, "probs", where, 2, "(N, K)")
    if p.shape[0] == 0:
        raise ValueError(f"{where}: expected at least one row, got shape {p.shape}")
    lab = _labels(labels, p.shape[0], p.shape[1], where)
    return kernels_for("losses", p.size).softmax_cross_entropy_backward(p, lab)
