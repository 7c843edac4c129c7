"""Activation functions and their gradients: validate once, call the kernels.

Element-wise ones accept any shape (``(N, D)`` or ``(N, C, H, W)``); softmax is row-wise
over ``x (N, K)``.

    relu(x) = max(x, 0)                      relu_backward(dy, x)        = dy [x > 0]
    sigmoid(x) = 1 / (1 + e^-x)              sigmoid_backward(dy, y)     = dy y (1 - y)
    tanh(x)                                  tanh_backward(dy, y)        = dy (1 - y^2)
    scaled_tanh(x) = 1.7159 tanh(2x/3)       scaled_tanh_backward(dy, x) = dy 1.7159 (2/3) (1 - tanh(2x/3)^2)
    softmax(x)[n, k] = e^{x_nk - m_n} / sum_j e^{x_nj - m_n}   (m_n the row max: no overflow)
    softmax_backward(dy, y) = y (dy - sum_k dy y)   row by row

Note which backward takes the input ``x`` and which the output ``y``: each uses the one
its derivative is cheapest in. ``activation_backward(name, dy, x, y)`` dispatches, so a
layer can keep both and not care. The subgradient of relu at exactly 0 is taken as 0.
"""

from __future__ import annotations

from typing import Optional

from ..typing import Array
from ._check import as_float_array, check_shape, same_dtype
from ._dispatch import kernels_for

ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "scaled_tanh", "softmax")


def _one(x, name, where, rank=None, layout=None):
    return as_float_array(x, name, where, rank, layout)


def _pair(dy, other, other_name, where, rank=None, layout=None):
    dy = as_float_array(dy, "dy", where, rank, layout)
    other = as_float_array(other, other_name, where, rank, layout)
    same_dtype(where, dy=dy, **{other_name: other})
    check_shape(dy, other.shape, "dy", where, f"(the shape of {other_name})")
    return dy, other


def _k(a, per=1):
    # ``per``: rough nanoseconds per element (8 for tanh/exp, 1 for a compare)
    return kernels_for("activations", a.size * per)


def _flat(kernel, *arrays):
    """Run an element-wise kernel on 1-D views of ``arrays`` (same shape, C-contiguous) and
    give the result their shape back: Numba then compiles one version per dtype instead of
    one per rank (a LeNet-5 trace has 4-D maps and a 2-D F6 output; docs/performance.md,
    "The first run"). ``reshape(size)``: a view, also of a CUDA device array."""
    shape = arrays[0].shape
    return kernel(*(a.reshape(a.size) for a in arrays)).reshape(shape)


def relu(x: Array) -> Array:
    """``max(x, 0)`` element-wise."""
    x = _one(x, "x", "relu")
    return _flat(_k(x).relu_forward, x)


def relu_backward(dy: Array, x: Array) -> Array:
    """``dx = dy`` where the pre-activation ``x > 0``, else 0."""
    dy, x = _pair(dy, x, "x", "relu_backward")
    return _flat(_k(dy).relu_backward, dy, x)


def sigmoid(x: Array) -> Array:
    """``1 / (1 + exp(-x))``, computed without overflow for any |x|."""
    x = _one(x, "x", "sigmoid")
    return _flat(_k(x, 8).sigmoid_forward, x)


def sigmoid_backward(dy: Array, y: Array) -> Array:
    """``dx = dy * y * (1 - y)`` from the output ``y``."""
    dy, y = _pair(dy, y, "y", "sigmoid_backward")
    return _flat(_k(dy).sigmoid_backward, dy, y)


def tanh(x: Array) -> Array:
    """``tanh(x)`` element-wise."""
    x = _one(x, "x", "tanh")
    return _flat(_k(x, 8).tanh_forward, x)


def tanh_backward(dy: Array, y: Array) -> Array:
    """``dx = dy * (1 - y^2)`` from the output ``y``."""
    dy, y = _pair(dy, y, "y", "tanh_backward")
    return _flat(_k(dy).tanh_backward, dy, y)


def scaled_tanh(x: Array) -> Array:
    """LeNet-5's squashing function ``1.7159 tanh(2x/3)`` (LeCun et al. 1998)."""
    x = _one(x, "x", "scaled_tanh")
    return _flat(_k(x, 8).scaled_tanh_forward, x)


def scaled_tanh_backward(dy: Array, x: Array) -> Array:
    """``dx = dy * 1.7159 * (2/3) * (1 - tanh(2x/3)^2)`` from the pre-activation ``x``."""
    dy, x = _pair(dy, x, "x", "scaled_tanh_backward")
    return _flat(_k(dy, 8).scaled_tanh_backward, dy, x)


def softmax(x: Array) -> Array:
    """Row-wise softmax of ``x (N, K)`` (the row max is subtracted first)."""
    x = _one(x, "x", "softmax", 2, "(N, K)")
    return _k(x, 8).softmax_forward(x)


def softmax_backward(dy: Array, y: Array) -> Array:
    """``dx = y * (dy - sum_k dy y)`` row by row, from the output ``y (N, K)``."""
    dy, y = _pair(dy, y, "y", "softmax_backward", 2, "(N, K)")
    return _k(dy).softmax_backward(dy, y)


def leaky_relu(x, alpha=0.01):
    """``x if x > 0 else alpha * x`` element-wise (ONNX's LeakyRelu; CPU kernels only)."""
    x = _one(x, "x", "leaky_relu")
    return _leaky_kernels("leaky_relu", x).leaky_relu_forward(x, float(alpha))


def leaky_relu_backward(dy, x, alpha=0.01):
    """``dx = dy`` where ``x > 0``, else ``alpha * dy``."""
    dy, x = _pair(dy, x, "x", "leaky_relu_backward")
    return _leaky_kernels("leaky_relu_backward", dy).leaky_relu_backward(dy, x, float(alpha))


def _leaky_kernels(where, a):
    k = _k(a)
    if not hasattr(k, "leaky_relu_forward"):
        raise NotImplementedError(f"{where}: no kernel on this target (CPU only); use --target cpu")
    return k


_FORWARD = {
    "relu": relu,
    "sigmoid": sigmoid,
    "tanh": tanh,
    "scaled_tanh": scaled_tanh,
    "softmax": softmax,
}
# which of (x, y) each backward needs
_BACKWARD = {
    "relu": (relu_backward, "x"),
    "sigmoid": (sigmoid_backward, "y"),
    "tanh": (tanh_backward, "y"),
    "scaled_tanh": (scaled_tanh_backward, "x"),
    "softmax": (softmax_backward, "y"),
}


def _check_name(name, where):
    if name is None:
        name = "linear"
    if not isinstance(name, str) or name.lower() not in ACTIVATIONS:
        raise ValueError(
            f"{where}: unknown activation {name!r}; expected one of {', '.join(ACTIVATIONS)}"
        )
    return name.lower()


def activation_forward(name: Optional[str], x: Array) -> Array:
    """Apply the activation ``name`` (one of ``ACTIVATIONS``; ``"linear"``/None = identity)."""
    name = _check_name(name, "activation_forward")
    if name == "linear":
        return _one(x, "x", "activation_forward")
    return _FORWARD[name](x)


def activation_backward(
    name: Optional[str], dy: Array, x: Optional[Array], y: Optional[Array]
) -> Array:
    """Gradient of ``activation_forward(name, x) = y``: ``x`` is the pre-activation and ``y``
    the output; only the one the derivative needs must be given (the other may be None)."""
    where = "activation_backward"
    name = _check_name(name, where)
    if name == "linear":
        return as_float_array(dy, "dy", where)
    fn, needs = _BACKWARD[name]
    arg = x if needs == "x" else y
    if arg is None:
        what = "pre-activation x" if needs == "x" else "output y"
        raise ValueError(f"{where}: {name} backward needs the {what}, got None")
    return fn(dy, arg)
