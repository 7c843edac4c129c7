"""Pick the kernel module family for the current target (``cnnsim.config.target``).

``kernels_for("conv")`` returns ``cnnsim.kernels.conv`` on the CPU and
``cnnsim.kernels.cuda.conv`` on the "cuda" target: same function names, same signatures.
"""
import importlib

from .. import config


def kernels_for(family):
    if config.target == "cuda":
        return importlib.import_module(f"cnnsim.kernels.cuda.{family}")
    return importlib.import_module(f"cnnsim.kernels.{family}")
