"""Tools for checking: slow references (``naive``), gradient checks, student checkers."""

from . import naive  # noqa: F401
from .checks import (  # noqa: F401,E402
    CheckReport,
    check_avg_pool2d,
    check_conv2d,
    check_conv2d_backward,
    check_lrn,
    check_max_pool2d,
    check_output_size,
)
from .gradcheck import gradcheck  # noqa: F401,E402
