"""The public array API (homework imports it as ``F``).

Each function validates its input once, with one-line errors naming the function,
then calls the Numba kernels. Arrays are NCHW; weights ``(F, C, KH, KW)``.
Forward and backward live side by side; backward returns gradients in the order
of the inputs (``dx, dw, db``).
"""
from .conv import conv2d, conv2d_backward  # noqa: F401
from .pool import (max_pool2d, max_pool2d_backward, max_pool2d_argmax,  # noqa: F401
                   avg_pool2d, avg_pool2d_backward)
from .lrn import lrn, lrn_backward  # noqa: F401
