"""Pick the kernel module family for the current target (``cnnsim.config.target``).

``kernels_for("conv")`` returns ``cnnsim.kernels.conv`` on the CPU and
``cnnsim.kernels.cuda.conv`` on the "cuda" target: same function names, same signatures.
"""
import importlib

import numpy as np

from .. import config


def kernels_for(family):
    if config.target == "cuda":
        return importlib.import_module(f"cnnsim.kernels.cuda.{family}")
    return importlib.import_module(f"cnnsim.kernels.{family}")


def empty(shape, dtype):
    """An uninitialised array for a kernel to fill: on the device on the "cuda" target."""
    if config.target == "cuda":
        from ..kernels.cuda._util import empty as device_empty
        return device_empty(shape, dtype)
    return np.empty(shape, dtype=dtype)


def copy(a):
    """An independent copy of ``a``, where ``a`` lives (device to device on "cuda")."""
    if hasattr(a, "copy_to_host"):
        from ..kernels.cuda._util import copy as device_copy
        return device_copy(a)
    return a.copy()


def to_host(a):
    """``a`` as a NumPy array (copied from the device when it lives there)."""
    return a.copy_to_host() if hasattr(a, "copy_to_host") else a


def to_target(a):
    """``a`` where the kernels of the current target want it (host arrays are copied to
    the device on "cuda"; nothing happens on "cpu")."""
    if config.target == "cuda":
        from ..kernels.cuda._util import to_device
        return to_device(a)
    return a
