"""Pick the kernel module family for the current target (``cnnsim.config.target``).

``kernels_for("conv")`` returns ``cnnsim.kernels.conv`` on the CPU and
``cnnsim.kernels.cuda.conv`` on the "cuda" target: same function names, same signatures.
"""

import functools
import importlib

import numpy as np

from .. import config, to_host  # noqa: F401  (to_host: the one definition, cnnsim.to_host)
from ..kernels._twins import serially

_CPU: dict = {}


def kernels_for(family, work=None):
    """The kernel module ``family`` of the current target.

    ``work``: an estimate of the call's cost in nanoseconds of one core (about one per
    element of a cheap element-wise pass, 8 per tanh/exp, 0.2 per conv multiply-add). Below
    ``config.serial_work`` the CPU kernels run on the calling thread: starting a parallel
    region and waking the worker threads costs more than the work saves (see
    docs/performance.md, "Dispatch", for the measured crossover). The parallel kernels
    then run their serial twins (``cnnsim.kernels._twins.serially``), which also compile
    2-3x faster: a batch-1 trace compiles no parallel code at all. (The register tiles,
    used only for layers with many maps, are parallel functions without a twin.) The
    choice depends on the call's size only, never on the machine's load or what else
    runs, and results are the same either way (every kernel is deterministic across
    thread counts).
    """
    if config.target == "cuda":
        return importlib.import_module(f"cnnsim.kernels.cuda.{family}")
    mod = _CPU.get(family)
    if mod is None:
        mod = _CPU[family] = importlib.import_module(f"cnnsim.kernels.{family}")
    if work is not None and work < config.serial_work:
        return _OneThread(mod)
    return mod


class _OneThread:
    """A kernel module whose functions run on the calling thread (see ``kernels_for``):
    every parallel kernel they call runs its serial twin (``_twins.serially``)."""

    __slots__ = ("_mod",)

    def __init__(self, mod):
        self._mod = mod

    def __getattr__(self, name):
        fn = getattr(self._mod, name)
        return functools.partial(serially, fn)


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


def to_target(a):
    """``a`` where the kernels of the current target want it (host arrays are copied to
    the device on "cuda"; nothing happens on "cpu")."""
    if config.target == "cuda":
        from ..kernels.cuda._util import to_device

        return to_device(a)
    return a
