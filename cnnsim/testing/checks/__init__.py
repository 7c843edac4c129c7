"""Check a student's own layer functions against cnnsim's, with a diff a student can act on.

One module per topic: ``conv`` (conv2d, its backward, the output-size formula), ``pool``,
``lrn``; ``report`` holds the cases, the report and the comparison they share.

    from cnnsim.testing import check_conv2d
    report = check_conv2d(my_conv2d)        # my_conv2d(x, w, b, stride, padding)
    print(report)                           # which cases fail, where, and the likely mistake
    assert report.ok, report

Each ``check_*`` runs the student's function on the lecture's hand-worked cases and on a few
random ones (seeded), compares with cnnsim's own function (``cnnsim.functional``, float64)
and returns a ``CheckReport``. For every failing case it lists:

* the output positions that differ, expected vs got, and the input window that position
  reads (rows/columns from ``cnnsim.geometry.window``; cells outside the input are marked
  as zero padding), or for LRN the maps summed over;
* a **symptom**: where the differences are (only windows touching the padding, only the
  last row/column, everywhere), and, when the student's output equals a known mistake
  exactly, which one (padding forgotten, stride off by one, kernel flipped = true
  convolution, padded cells counted in an average, ...).

The student function is called positionally, with cnnsim's argument order:

====================  =============================================  ==================
checker               student function                               returns
====================  =============================================  ==================
check_conv2d          ``fn(x, w, b, stride, padding)``               ``y``
check_conv2d_backward ``fn(dy, x, w, stride, padding)``              ``(dx, dw, db)``
check_max_pool2d      ``fn(x, size, stride, padding)``               ``y``
check_avg_pool2d      ``fn(x, size, stride, padding)``               ``y``
check_lrn             ``fn(x, r, k, alpha, beta)``                   ``y``
check_output_size     ``fn(n, f, s, padding)``                       ``int``
====================  =============================================  ==================

Inputs are float64 NumPy arrays in NCHW layout; ``stride`` is an int, or an ``(s_h, s_w)``
pair for rectangular cases; ``padding`` is ``"valid"``, ``"same"`` or an int (pooling
cases also use ``stride=None``, meaning stride = size). To check a function that supports
less, pick the cases: ``check_conv2d(fn, cases=[c for c in conv2d_cases() if
c.params["padding"] != "same"])``.
"""

from .conv import (  # noqa: F401
    check_conv2d,
    check_conv2d_backward,
    check_output_size,
    conv2d_backward_cases,
    conv2d_cases,
)
from .lrn import check_lrn, lrn_cases  # noqa: F401
from .pool import check_avg_pool2d, check_max_pool2d, pool_cases  # noqa: F401
from .report import ATOL, RTOL, Case, CaseResult, CheckReport  # noqa: F401

__all__ = [
    "Case",
    "CaseResult",
    "CheckReport",
    "check_conv2d",
    "check_conv2d_backward",
    "check_max_pool2d",
    "check_avg_pool2d",
    "check_lrn",
    "check_output_size",
    "conv2d_cases",
    "conv2d_backward_cases",
    "pool_cases",
    "lrn_cases",
]
