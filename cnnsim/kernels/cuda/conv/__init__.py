"""CUDA twins of ``cnnsim.kernels.conv``: same entry points, same signatures.

Laid out like the CPU package: :mod:`~cnnsim.kernels.cuda.conv.direct` holds the direct
loops, one GPU thread per output element (the CPU's ``direct.py`` loops with the outer
``prange`` replaced by the thread grid). The GPU needs no ``layouts``/``blocked`` layer to
be fast on these shapes (each thread's loop is short and the grid is large), so every
call takes the direct path.
"""

from .direct import (  # noqa: F401
    conv2d_backward_input,
    conv2d_backward_weight,
    conv2d_bias_grad,
    conv2d_forward,
)
