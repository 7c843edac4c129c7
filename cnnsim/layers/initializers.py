"""Seeded weight initializers (fan-in/fan-out of dense and convolution weights).

* LeCun  normal, var = 1 / fan_in               (LeNet-5, SELU; good for scaled tanh)
* Glorot uniform, limit = sqrt(6 / (fan_in + fan_out))   (sigmoid, tanh, softmax)
* He     normal, var = 2 / fan_in               (ReLU)

For a convolution ``w (F, C, KH, KW)``: fan_in = C*KH*KW, fan_out = F*KH*KW
(with a connection table, fan_in counts only the connected maps).
"""
import contextlib

import numpy as np

INITIALIZERS = ("lecun", "glorot", "he", "zeros")

DEFAULT_FOR_ACTIVATION = {"relu": "he", "sigmoid": "glorot", "tanh": "glorot",
                          "scaled_tanh": "lecun", "softmax": "glorot", "linear": "glorot",
                          None: "glorot"}


_SHAPES_ONLY = []


@contextlib.contextmanager
def shapes_only():
    """Within the block, weights are zeros (no random draws): building a full-size model
    only to read its shapes and counts (``cnnsim summary``) costs no more than allocation."""
    _SHAPES_ONLY.append(True)
    try:
        yield
    finally:
        _SHAPES_ONLY.pop()


def init_weights(kind, shape, fan_in, fan_out, rng, dtype):
    if _SHAPES_ONLY:
        return np.zeros(shape, dtype=dtype)
    if kind == "lecun":
        w = rng.standard_normal(shape) * np.sqrt(1.0 / fan_in)
    elif kind == "glorot":
        lim = np.sqrt(6.0 / (fan_in + fan_out))
        w = rng.uniform(-lim, lim, size=shape)
    elif kind == "he":
        w = rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)
    elif kind == "zeros":
        w = np.zeros(shape)
    else:
        raise ValueError(f"unknown initializer {kind!r}; expected one of {INITIALIZERS}")
    return np.ascontiguousarray(w, dtype=dtype)
