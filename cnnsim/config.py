"""The one home of cnnsim's tunables.

``dtype``            default floating dtype of new parameters and inputs (float32).
``target``           "cpu" (Numba ``@njit(parallel=True)``) or "cuda" (numba.cuda twins).
``fastmath``         kept False: results must match the references to float tolerance.
``threads_per_block`` launch size of 1-D CUDA kernels and of block reductions (a power of two).
``tile``             side of the square shared-memory tiles of the CUDA dense kernels.
``serial_work``      CPU calls estimated below this many nanoseconds of one core's work run
                     on one thread (see ``functional._dispatch.kernels_for``); 0 = never.
                     The call's size alone decides (measured crossover, docs/performance.md).
                     Env: CNNSIM_SERIAL_WORK.
``vector_width``     "auto" or "256" (256-bit loops on every AVX-512 CPU: the same sums, in the
                     same order, on Intel and AMD), or "512"
                     (512-bit vectors on AVX-512 CPUs; measured slower for cnnsim's fwd+bwd,
                     see docs/performance.md). Applied once, before the first kernel
                     compiles (``cnnsim.kernels.use_vector_width``). Env: CNNSIM_VECTOR_WIDTH.
                     (The register tile, ``kernels.conv.regtile``, writes its vectors
                     explicitly and always uses the CPU's full width.)
``keep_freed_memory`` True: glibc keeps freed memory (up to 256 MiB) for the next kernel
                     outputs instead of mapping fresh pages per call (measured and
                     explained in ``cnnsim.kernels.keep_freed_memory``). Applied when
                     ``cnnsim.kernels`` is imported. Env: CNNSIM_KEEP_FREED_MEMORY=0 (or false, no, off).

``fuse_layers``      True: a stride-1 convolution followed by a 2x2 average pooling (LeNet-5's
                     C1 -> S2) runs as one kernel pass, with the same numbers and the same
                     trace (``cnnsim.layers.fusion``); False: every layer on its own, to
                     compare. Env: CNNSIM_FUSE_LAYERS=0 (or false, no, off).

The target may also be set with the ``CNNSIM_TARGET`` environment variable.
"""

import os

import numpy as np

dtype = np.float32
fastmath = False
threads_per_block = 128
tile = 16
serial_work = int(os.environ.get("CNNSIM_SERIAL_WORK", 2_000_000))
vector_width = os.environ.get("CNNSIM_VECTOR_WIDTH", "auto").strip().lower() or "auto"
_OFF = ("0", "false", "no", "off")
keep_freed_memory = os.environ.get("CNNSIM_KEEP_FREED_MEMORY", "1").strip().lower() not in _OFF
fuse_layers = os.environ.get("CNNSIM_FUSE_LAYERS", "1").strip().lower() not in _OFF
TARGETS = ("cpu", "cuda")

target = os.environ.get("CNNSIM_TARGET", "cpu").strip().lower() or "cpu"
if target not in TARGETS:
    raise ValueError(f"CNNSIM_TARGET: expected one of {TARGETS}, got {target!r}")
# CNNSIM_TARGET=cuda without a GPU is reported (one line) when a kernel is first needed:
# importing cnnsim.kernels.cuda checks cuda_available(). Checking here would import
# numba.cuda on every `import cnnsim`.


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
