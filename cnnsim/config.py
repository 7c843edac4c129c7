"""The one home of cnnsim's tunables.

``dtype``            default floating dtype of new parameters and inputs (float32).
``target``           "cpu" (Numba ``@njit(parallel=True)``) or "cuda" (numba.cuda twins).
``fastmath``         kept False: results must match the references to float tolerance.
``threads_per_block`` launch size of 1-D CUDA kernels.

The target may also be set with the ``CNNSIM_TARGET`` environment variable.
"""
import os

import numpy as np

dtype = np.float32
fastmath = False
threads_per_block = 128
target = os.environ.get("CNNSIM_TARGET", "cpu").strip().lower() or "cpu"

TARGETS = ("cpu", "cuda")


def set_target(name):
    """Select where kernels run: ``"cpu"`` or ``"cuda"``."""
    global target
    name = str(name).strip().lower()
    if name not in TARGETS:
        raise ValueError(f"set_target: expected one of {TARGETS}, got {name!r}")
    if name == "cuda":
        from .kernels import cuda_available

        ok, why = cuda_available()
        if not ok:
            raise RuntimeError(why)
    target = name


def get_target():
    return target
