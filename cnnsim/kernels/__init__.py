"""Numba kernels: plain functions over arrays, no validation, no classes.

CPU kernels are ``@njit(cache=True)`` (``parallel=True`` where it pays); their
numba.cuda twins live in ``cnnsim.kernels.cuda`` with the same signatures.
"""


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
