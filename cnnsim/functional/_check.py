"""Input validation shared by the functional API: check once, then call kernels.

Every failure is a one-line ``ValueError``/``TypeError`` that names the function
(``where``), what was expected and what came.
"""

import numpy as np

from .. import config

FLOATS = (np.float32, np.float64)


def _is_device(a):
    # a numba device array (or the simulator's FakeCUDAArray); duck-typed so that the
    # CPU target never imports numba.cuda
    return hasattr(a, "copy_to_host") and hasattr(a, "dtype")


def as_float_array(a, name, where, rank=None, layout=None):
    """Return ``a`` as a C-contiguous float32/float64 ndarray of the given rank.

    On the "cuda" target a device array is checked from its attributes (dtype, rank,
    contiguity) and returned as is: no copy to the host. On the "cpu" target a device
    array is copied to the host.
    """
    if _is_device(a):
        if config.target != "cuda":
            a = a.copy_to_host()
        else:
            if a.dtype.type not in FLOATS:
                raise TypeError(f"{where}: {name} must be float32 or float64, got dtype {a.dtype}")
            if rank is not None and a.ndim != rank:
                lay = f" {layout}" if layout else ""
                raise ValueError(
                    f"{where}: expected {name} of rank {rank}{lay}, got shape {tuple(a.shape)}"
                )
            if not a.is_c_contiguous():
                raise ValueError(f"{where}: {name} must be a C-contiguous device array")
            return a
    if not isinstance(a, np.ndarray):
        if isinstance(a, (list, tuple)) or np.isscalar(a):
            a = np.asarray(a)
        else:
            raise TypeError(f"{where}: {name} must be a NumPy array, got {type(a).__name__}")
    if a.dtype.type not in FLOATS:
        raise TypeError(f"{where}: {name} must be float32 or float64, got dtype {a.dtype}")
    if rank is not None and a.ndim != rank:
        lay = f" {layout}" if layout else ""
        raise ValueError(f"{where}: expected {name} of rank {rank}{lay}, got shape {a.shape}")
    if not a.dtype.isnative:
        # big-endian data (">f4" from a file written elsewhere): same numbers, converted
        # once to this machine's byte order (the kernels are compiled for native floats)
        a = a.astype(a.dtype.newbyteorder("="))
    return np.ascontiguousarray(a)


def same_dtype(where, **arrays):
    dts = {k: v.dtype for k, v in arrays.items() if v is not None}
    if len(set(dts.values())) > 1:
        desc = ", ".join(f"{k} {v}" for k, v in dts.items())
        raise TypeError(f"{where}: arrays must share one float dtype, got {desc}")


def check_shape(a, shape, name, where, layout=""):
    if tuple(a.shape) != tuple(shape):
        lay = f" {layout}" if layout else ""
        raise ValueError(
            f"{where}: expected {name} of shape {tuple(shape)}{lay}, got {tuple(a.shape)}"
        )


def positive_int(v, name, where):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{where}: {name} must be an integer, got {v!r}")
    if v < 1:
        raise ValueError(f"{where}: {name} must be positive, got {v}")
    return int(v)


def finite_number(v, name, where, positive=False, nonnegative=False):
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise TypeError(f"{where}: {name} must be a number, got {v!r}") from None
    if not np.isfinite(f):
        raise ValueError(f"{where}: {name} must be finite, got {v!r}")
    if positive and f <= 0:
        raise ValueError(f"{where}: {name} must be > 0, got {v!r}")
    if nonnegative and f < 0:
        raise ValueError(f"{where}: {name} must be >= 0, got {v!r}")
    return f
