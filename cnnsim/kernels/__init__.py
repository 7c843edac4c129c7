"""Numba kernels: plain functions over arrays, no validation, no classes.

CPU kernels are ``@njit(cache=True)``; where threads pay they are ``@parallel_kernel``
(:mod:`cnnsim.kernels._twins`: a ``parallel=True`` Numba function and a serial twin,
the twin used for calls run on one thread). Their numba.cuda twins live in
``cnnsim.kernels.cuda`` with the same signatures.

Importing this package chooses the vector width of every kernel compiled afterwards
(:func:`use_vector_width`, ``config.vector_width``) and lets the C allocator keep freed
memory for the next kernel's outputs (:func:`keep_freed_memory`,
``config.keep_freed_memory``).
"""

import os

from .. import config


def use_vector_width(width=None):
    """Choose the vector width of the kernels compiled from now on; returns a one-line why.

    ``width`` (default ``config.vector_width``): "auto" and "256" let LLVM vectorize loops
    with 256-bit vectors on every AVX-512 CPU, "512" lets it use 512-bit ``zmm`` vectors.
    LLVM's tuning for Intel AVX-512 CPUs (Ice Lake on; Rocket Lake and Sapphire Rapids
    class here) sets ``prefer-256-bit``, so the loops use ``ymm`` although ``zmm`` exist;
    its tuning for AMD's Zen 4 does not. Loops whose sums LLVM may reorder (``reassoc``:
    the weight-gradient dot products) then add in another order, and a training run on
    a Zen 4 gave other numbers than on an Intel CPU (the dropout experiment's test error
    0.202 instead of 0.162). So "auto" adds ``+prefer-256-bit`` on every AVX-512 CPU
    (the same bits as an Intel CPU, checked on that experiment), and "512" adds
    ``-prefer-256-bit``. The register tiles' explicit vectors (:mod:`.conv.simd`) keep
    the CPU's full width either way. "512" is not the default because on the one
    AVX-512 machine measured (docs/performance.md, round three) 512-bit code made the forward pass ~10 % faster
    but ``dx`` and ``dw`` 10-25 % slower: fwd+bwd 10-20 % slower overall. It must run
    before Numba builds its code generator (the first compilation in the process); Numba's
    cache keys include the features, so code of the other width is not reused.
    ``NUMBA_CPU_FEATURES``, when set, wins. :func:`cnnsim.bench.peak.vector_width` reports
    the width actually emitted (counted in the generated assembly).
    """
    width = str(width or config.vector_width)
    if width not in ("auto", "256", "512"):
        raise ValueError(f"config.vector_width: expected 'auto', '256' or '512', got {width!r}")
    if os.environ.get("NUMBA_CPU_FEATURES"):
        return "NUMBA_CPU_FEATURES set: Numba's features as given"
    try:
        import llvmlite.binding as ll
        from numba.core import config as nconfig
        from numba.core.registry import cpu_target

        feats = ll.get_host_cpu_features()
    except Exception as e:  # no host feature map (unusual platform): leave Numba alone
        return f"LLVM's choice (host features unknown: {type(e).__name__})"
    if not feats.get("avx512f", False):
        return "LLVM's choice for this CPU (no AVX-512; config.vector_width = %s)" % width
    if "_toplevel_target_context" in vars(cpu_target):  # something compiled before us
        return (
            "LLVM's choice (config.vector_width = %s, but Numba compiled code before "
            "cnnsim was imported; import cnnsim first)" % width
        )
    if nconfig.CPU_FEATURES is None:
        sign = "-" if width == "512" else "+"
        nconfig.CPU_FEATURES = feats.flatten() + f",{sign}prefer-256-bit"
    if width == "512":
        return "512-bit: LLVM's prefer-256-bit tuning switched off (config.vector_width = 512)"
    return "256-bit loops on every AVX-512 CPU: prefer-256-bit (config.vector_width = %s)" % width


VECTOR_WHY = use_vector_width()


def use_slp_vectorizer():
    """Turn on LLVM's SLP (straight-line) vectorizer for the kernels compiled from now on.

    Numba runs only the loop vectorizer by default (``NUMBA_SLP_VECTORIZE=0``). It was
    turned on for the 1x1 convolution's micro-kernel, whose 6 x 16 accumulator tile was
    written as scalar variables that only the SLP vectorizer packs into vector registers
    (13 instead of 100 GFLOP/s on one core without it). That tile now uses explicit
    vectors (``pointwise.tile_6x16``/``tile_8x32``, eighth and twelfth sessions); the setting stays,
    since every kernel since has been timed with it (without it: not re-measured). It
    changes how code is vectorized, never the arithmetic (no reassociation), so results
    are unchanged. Numba reads the setting each time it optimizes a function, so this
    works whenever it is called. ``NUMBA_SLP_VECTORIZE``, when set, wins.
    """
    if os.environ.get("NUMBA_SLP_VECTORIZE"):
        return "NUMBA_SLP_VECTORIZE set: Numba's setting as given"
    from numba.core import config as nconfig

    nconfig.SLP_VECTORIZE = 1
    return "SLP vectorizer on"


SLP_WHY = use_slp_vectorizer()


MMAP_THRESHOLD = 32 << 20  # glibc's largest allowed value (64-bit)
TRIM_THRESHOLD = 256 << 20


def keep_freed_memory(enabled=None):
    """Let the C allocator reuse the memory of freed kernel outputs; returns a one-line why.

    Kernels allocate their outputs inside Numba (``np.empty``), which takes them from the
    C library's ``malloc``. glibc serves blocks over 128 KiB with a fresh ``mmap`` and
    gives them back to the system on ``free``, so every call pays a page fault per 4 KiB
    of output when it first writes it: writing two fresh 8x64x112x112 float32 maps took
    13.7 ms against 1.8 ms into memory used before (measured, 2 threads; NumPy's own
    ``np.empty`` asks for huge pages and pays little). With ``mmap`` reserved for blocks
    over ``MMAP_THRESHOLD`` and freed memory kept up to ``TRIM_THRESHOLD``, the next
    call's outputs land in memory already mapped: a LeNet-5 training step at batch 64 went
    from 6.2 to 5.3-5.4 ms. The cost: a process keeps up to 256 MiB it has freed instead of
    returning it to the system (it is reused by the next allocation). Only the thresholds
    change, never the arithmetic. Glibc only (Linux); elsewhere nothing is changed.
    ``config.keep_freed_memory`` / ``CNNSIM_KEEP_FREED_MEMORY=0`` switch it off.
    """
    if enabled is None:
        enabled = config.keep_freed_memory
    if not enabled:
        return "the C allocator's defaults (config.keep_freed_memory off)"
    import ctypes
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return "the C allocator's defaults (not glibc)"
    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
        ok = libc.mallopt(m_mmap_threshold, MMAP_THRESHOLD) == 1
        ok = libc.mallopt(m_trim_threshold, TRIM_THRESHOLD) == 1 and ok
    except (OSError, AttributeError) as e:
        return f"the C allocator's defaults (mallopt unavailable: {type(e).__name__})"
    if not ok:
        return "the C allocator's defaults (mallopt refused the thresholds)"
    return "freed memory kept for reuse (glibc mmap threshold 32 MiB, trim threshold 256 MiB)"


MEMORY_WHY = keep_freed_memory()


def cuda_available():
    """``(ok, message)``: can the "cuda" target run here? Never raises."""
    try:
        from numba import cuda
    except Exception as e:  # numba-cuda missing or broken
        return False, (
            "CUDA target: numba.cuda could not be imported "
            f"({type(e).__name__}: {e}); install it with pip install 'cnnsim[cuda]'"
        )
    try:
        if cuda.is_available():
            return True, "ok"
    except Exception:
        pass
    return False, (
        "CUDA target: no CUDA GPU or driver found; to run the CUDA kernels "
        "without a GPU set NUMBA_ENABLE_CUDASIM=1 (slow simulator), or use --target cpu"
    )
