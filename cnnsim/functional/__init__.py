"""The public array API (homework imports it as ``F``).

Each function validates its input once, with one-line errors naming the function,
then calls the Numba kernels. Arrays are NCHW; weights ``(F, C, KH, KW)``.
Forward and backward live side by side; backward returns gradients in the order
of the inputs (``dx, dw, db``).
"""
from .conv import conv2d, conv2d_backward  # noqa: F401
