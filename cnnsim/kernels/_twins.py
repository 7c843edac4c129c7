"""Parallel kernels with a serial twin: ``@parallel_kernel(...)`` instead of
``@njit(cache=True, parallel=True, ...)``.

Why: Numba takes 2-3x longer to compile a ``parallel=True`` function than the same loops
compiled serially (measured, one core: ``dense_forward`` 1.9 s vs 0.6 s,
``to_phase_planes`` 1.4 s vs 0.5 s), and calls too small to gain from threads run on one
thread anyway (``functional._dispatch.kernels_for``, ``config.serial_work``). So each
kernel is two Numba functions over the same Python source, each compiled only at its
first call and cached on disk separately:

* ``kernel.parallel``: ``prange`` loops spread over Numba's threads;
* ``kernel.serial``: the same loops on the calling thread (``prange`` acts as ``range``).

Calling ``kernel(...)`` runs the serial twin inside :func:`serially` (a call too small for
threads: ``functional._dispatch.kernels_for``) or when Numba's thread count is 1 (a
machine or worker limited to one thread), else the parallel one. A batch-1
``cnnsim step`` compiles the serial twins only (docs/performance.md, "The first run").

Results are the same bits either way: ``prange`` only hands whole iterations to threads,
and every output element is computed by one iteration, by the same loop code in the same
order (the determinism contract; the ``*_deterministic_across_threads`` tests compare the
two). Only kernels called from Python are twins; one called from another Numba function
stays a plain ``@njit`` function.
"""

import functools
import threading
import types

import numba
from numba import njit

_local = threading.local()  # .depth: calls of serially() in progress on this thread


def serially(fn, *args):
    """``fn(*args)`` with every parallel kernel it calls running its serial twin. A flag
    instead of ``numba.set_num_threads(1)``: that call, and setting the count back, take
    a process-wide lock each (about 1 us apiece, 16 calls per LeNet-5 training step)."""
    _local.depth = getattr(_local, "depth", 0) + 1
    try:
        return fn(*args)
    finally:
        _local.depth -= 1


class ParallelKernel:
    """A ``parallel=True`` Numba kernel and its serial twin (see the module docstring)."""

    def __init__(self, fn, options):
        self.py_func = fn
        # error_model="numpy": a float division by zero gives inf/NaN instead of raising.
        # Numba compiles prange loop bodies that way in any case; a serial twin left on the
        # default ("python") model pays a zero test before every division, which stops
        # LLVM from vectorising its loops (float32 tanh: 0.28 ms serial vs 0.037 ms for
        # the same loop with the numpy model on 102,400 values). Both twins use it, so they
        # behave the same; the functional layer has validated every divisor already.
        options = {"error_model": "numpy", **options}
        self.parallel = njit(cache=True, parallel=True, **options)(fn)
        # a copy of the function under its own name: Numba names its cache files after
        # the function, so the two compiled versions are cached side by side
        twin = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + "_serial")
        twin.__qualname__ = fn.__qualname__ + "_serial"
        twin.__module__ = fn.__module__
        twin.__doc__ = fn.__doc__
        twin.__defaults__ = fn.__defaults__
        self.serial = njit(cache=True, **options)(twin)
        functools.update_wrapper(self, fn)

    def __call__(self, *args):
        if getattr(_local, "depth", 0) or numba.get_num_threads() == 1:
            return self.serial(*args)
        return self.parallel(*args)

    def dispatchers(self):
        """Both Numba functions (for counting what was compiled or loaded from the cache)."""
        return (self.parallel, self.serial)

    def __repr__(self):
        return f"<parallel kernel {self.__module__}.{self.__qualname__} (and serial twin)>"


def parallel_kernel(**options):
    """Decorator: ``@parallel_kernel(fastmath=...)`` makes a :class:`ParallelKernel` with
    ``options`` passed to both of its Numba functions (``cache=True`` always)."""

    def make(fn):
        return ParallelKernel(fn, options)

    return make
