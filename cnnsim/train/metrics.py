"""Accuracy and the lecture's top-k error (ILSVRC reports top-5)."""

import numpy as np


def top_k_error(scores, labels, k=5):
    """Fraction of rows whose label is not among the ``k`` highest scores. ``scores (N, K)``."""
    scores = np.asarray(scores)
    k = min(k, scores.shape[1])
    # stable argsort so ties resolve the same way everywhere
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    hit = (top == np.asarray(labels)[:, None]).any(axis=1)
    return float(1.0 - hit.mean())


def accuracy(scores, labels):
    """Top-1 accuracy."""
    return 1.0 - top_k_error(scores, labels, 1)
