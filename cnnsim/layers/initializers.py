"""Seeded weight initializers (fan-in/fan-out of dense and convolution weights).

* LeCun  normal, var = 1 / fan_in               (LeNet-5, SELU; good for scaled tanh)
* Glorot uniform, limit = sqrt(6 / (fan_in + fan_out))   (sigmoid, tanh, softmax)
* He     normal, var = 2 / fan_in               (ReLU)
* ``normal:STD``  normal, std = STD whatever the fan-in (the "small random numbers" of early
  nets: ``normal:0.01`` shrinks the signal at every layer of a deep net)

For a convolution ``w (F, C, KH, KW)``: fan_in = C*KH*KW, fan_out = F*KH*KW
(with a connection table, fan_in counts only the connected maps).
"""

import contextlib

import numpy as np

INITIALIZERS = ("lecun", "glorot", "he", "zeros")

DEFAULT_FOR_ACTIVATION = {
    "relu": "he",
    "sigmoid": "glorot",
    "tanh": "glorot",
    "scaled_tanh": "lecun",
    "softmax": "glorot",
    "linear": "glorot",
    None: "glorot",
}


_SHAPES_ONLY: list = []


def parse_init(spec, where="init"):
    """Check an initializer name: one of ``INITIALIZERS`` or ``"normal:STD"`` (STD > 0).

    Returns ``spec`` normalised (``"normal:0.01"``); raises ``ValueError`` with one line
    naming ``where``, what was expected and what came.
    """
    s = str(spec).strip().lower()
    if s in INITIALIZERS:
        return s
    if s.startswith("normal:"):
        try:
            std = float(s[len("normal:") :])
        except ValueError:
            std = float("nan")
        if not (std > 0 and np.isfinite(std)):
            raise ValueError(f"{where}: normal:STD needs a standard deviation > 0, got {spec!r}")
        return f"normal:{std:g}"
    raise ValueError(
        f"{where}: unknown initializer {spec!r}; expected normal:STD (e.g. "
        f"normal:0.01), {', '.join(INITIALIZERS[:-1])}"
    )


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
    # Draw directly in the target dtype and scale in place: AlexNet's F8 (177M weights in
    # the lecture variant) would otherwise need a float64 temporary twice its size.
    draw = np.float32 if np.dtype(dtype) == np.float32 else np.float64
    if kind in ("lecun", "he"):
        w = rng.standard_normal(shape, dtype=draw)
        w *= draw(np.sqrt((1.0 if kind == "lecun" else 2.0) / fan_in))
    elif kind == "glorot":
        lim = np.sqrt(6.0 / (fan_in + fan_out))
        w = rng.random(shape, dtype=draw)  # U[0, 1) -> U[-lim, lim)
        w *= draw(2 * lim)
        w -= draw(lim)
    elif str(kind).startswith("normal:"):
        w = rng.standard_normal(shape, dtype=draw)
        w *= draw(float(parse_init(kind).split(":")[1]))
    elif kind == "zeros":
        w = np.zeros(shape, dtype=draw)
    else:
        parse_init(kind)  # raises the one-line error
    return np.ascontiguousarray(w, dtype=dtype)
