"""Local response normalization (AlexNet), the functional way: validate, call kernels.

The lecture's formula, across maps, at every pixel of ``x (N, C, H, W)``:

    b_i = a_i (k + alpha * sum_{j = max(0, i - r//2)}^{min(i + r//2, f_n - 1)} a_j^2)^(-beta)

with ``f_n = C`` maps; AlexNet used ``r=5, k=2, alpha=1e-4, beta=0.75`` (the defaults).

Mapping to the libraries (same numbers out, checked against PyTorch in the tests):

* TensorFlow: ``tf.nn.local_response_normalization(x_nhwc, depth_radius=r//2, bias=k,
  alpha=alpha, beta=beta)`` (TF sums ``a^2`` over ``i - depth_radius ... i + depth_radius``).
* PyTorch: ``torch.nn.LocalResponseNorm(size=r, alpha=alpha*r, beta=beta, k=k)`` (PyTorch
  divides its ``alpha`` by ``size``), for odd ``r``.

``r`` must be a positive integer. An even ``r`` is accepted and behaves as radius ``r//2``,
i.e. a window of ``r + 1`` maps (TensorFlow's ``depth_radius = r//2`` still matches;
PyTorch's even ``size`` windows are lopsided and do not). ``k > 0`` and ``alpha >= 0``
keep the base of the power positive; ``beta`` is any finite number.
"""

from __future__ import annotations

from ..typing import Array
from ._check import as_float_array, check_shape, finite_number, positive_int, same_dtype
from ._dispatch import kernels_for


def _params(r, k, alpha, beta, where):
    r = positive_int(r, "r (the number of maps in the window)", where)
    k = finite_number(k, "k", where, positive=True)
    alpha = finite_number(alpha, "alpha", where, nonnegative=True)
    beta = finite_number(beta, "beta", where)
    return r, k, alpha, beta


def lrn(x: Array, r: int = 5, k: float = 2.0, alpha: float = 1e-4, beta: float = 0.75) -> Array:
    """Local response normalization across maps: ``x (N, C, H, W) -> y (N, C, H, W)``,
    ``y_i = x_i (k + alpha * sum_{|j - i| <= r//2, 0 <= j < C} x_j^2)^(-beta)``."""
    where = "lrn"
    x = as_float_array(x, "x", where, 4, "(N, C, H, W)")
    r, k, alpha, beta = _params(r, k, alpha, beta, where)
    return kernels_for("lrn", 20 * x.size).lrn_forward(x, r, k, alpha, beta)


def lrn_backward(
    dy: Array, x: Array, r: int = 5, k: float = 2.0, alpha: float = 1e-4, beta: float = 0.75
) -> Array:
    """Gradient of ``lrn``: ``dx (N, C, H, W)``. With ``s_i`` the base of the power,

    ``dx_j = dy_j s_j^(-beta) - 2 alpha beta a_j sum_{i: |i - j| <= r//2} dy_i a_i s_i^(-beta-1)``.
    """
    where = "lrn_backward"
    x = as_float_array(x, "x", where, 4, "(N, C, H, W)")
    dy = as_float_array(dy, "dy", where, 4, "(N, C, H, W)")
    same_dtype(where, dy=dy, x=x)
    check_shape(dy, x.shape, "dy", where, "(N, C, H, W)")
    r, k, alpha, beta = _params(r, k, alpha, beta, where)
    return kernels_for("lrn", 40 * x.size).lrn_backward(dy, x, r, k, alpha, beta)
