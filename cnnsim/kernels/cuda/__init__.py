"""numba.cuda twins of the CPU kernels: same module family, same function names, same
signatures (``cnnsim.kernels.cuda.conv.conv2d_forward`` mirrors
``cnnsim.kernels.conv.conv2d_forward``, and so on).

The twins accept NumPy arrays (copied to the device) or device arrays (used in place) and
return device arrays, so activations stay on the GPU from layer to layer; bring results
back with ``cnnsim.to_host``. Importing this package without a usable GPU (and without
the simulator, ``NUMBA_ENABLE_CUDASIM=1``) raises a one-line RuntimeError that says so.
"""

from .. import cuda_available as _cuda_available

_ok, _why = _cuda_available()
if not _ok:
    raise RuntimeError(_why)

from ._util import is_device, to_device, to_host  # noqa: E402,F401
