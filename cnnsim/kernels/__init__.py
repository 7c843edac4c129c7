"""Numba kernels: plain functions over arrays, no validation, no classes.

CPU kernels are ``@njit(cache=True)`` (``parallel=True`` where it pays); their
numba.cuda twins live in ``cnnsim.kernels.cuda`` with the same signatures.

Importing this package chooses the vector width of every kernel compiled afterwards
(:func:`use_vector_width`, ``config.vector_width``).
"""
import os

from .. import config


def use_vector_width(width=None):
    """Let LLVM use the CPU's widest vectors: ``(bits, why)``.

    LLVM's tuning for AVX-512 Intel CPUs (Ice Lake on; Rocket Lake and Sapphire Rapids
    here) sets ``prefer-256-bit``: the loop vectorizer then emits 256-bit ``ymm`` code
    although 512-bit ``zmm`` registers exist (on early AVX-512 chips the wide units
    lowered the clock). cnnsim's hot loops are FMA-bound, so on a CPU with ``avx512f``
    this adds ``-prefer-256-bit`` to Numba's target features (checked with
    ``inspect_asm``: the blocked convolution loops then use ``zmm``). It must run before
    Numba builds its code generator (the first compilation in the process); Numba's
    cache keys include the features, so cached code of the other width is not reused.
    ``NUMBA_CPU_FEATURES``, when set, wins. ``width``: "auto" (default,
    ``config.vector_width``), "256" or "512".
    """
    width = str(width or config.vector_width)
    if width not in ("auto", "256", "512"):
        raise ValueError(f"config.vector_width: expected 'auto', '256' or '512', got {width!r}")
    if os.environ.get("NUMBA_CPU_FEATURES"):
        return 0, "NUMBA_CPU_FEATURES set: Numba's features as given"
    try:
        import llvmlite.binding as ll
        from numba.core import config as nconfig
        feats = ll.get_host_cpu_features()
    except Exception as e:   # no host feature map (unusual platform): leave Numba alone
        return 0, f"host features unknown ({type(e).__name__})"
    if not feats.get("avx512f", False):
        return (256 if feats.get("avx2", False) else 128), "no AVX-512 on this CPU"
    if width == "256":
        return 256, "config.vector_width = 256"
    from numba.core.registry import cpu_target
    if "_toplevel_target_context" in vars(cpu_target):   # something compiled before us
        have = cpu_target.target_context.codegen()._tm_features
        if "-prefer-256-bit" in have:
            return 512, "AVX-512: LLVM's prefer-256-bit tuning switched off"
        return 256, ("AVX-512, but Numba compiled before cnnsim was imported: LLVM's "
                     "256-bit preference stays (import cnnsim first)")
    if nconfig.CPU_FEATURES is None:
        nconfig.CPU_FEATURES = feats.flatten() + ",-prefer-256-bit"
    return 512, "AVX-512: LLVM's prefer-256-bit tuning switched off"


VECTOR_BITS, VECTOR_WHY = use_vector_width()


def cuda_available():
    """``(ok, message)``: can the "cuda" target run here? Never raises."""
    try:
        from numba import cuda
    except Exception as e:  # numba-cuda missing or broken
        return False, ("CUDA target: numba.cuda could not be imported "
                       f"({type(e).__name__}: {e}); install it with pip install 'cnnsim[cuda]'")
    try:
        if cuda.is_available():
            return True, "ok"
    except Exception:
        pass
    return False, ("CUDA target: no CUDA GPU or driver found; to run the CUDA kernels "
                   "without a GPU set NUMBA_ENABLE_CUDASIM=1 (slow simulator), or use --target cpu")
