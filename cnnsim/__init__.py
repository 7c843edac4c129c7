"""cnnsim: a Numba-accelerated educational simulator of convolutional neural networks.

import cnnsim
from cnnsim import functional as F      # forward/backward array functions
from cnnsim import layers as L          # Conv2D, MaxPool2D, LRN, Dense, Sequential, ...
from cnnsim import models               # lenet5, alexnet, googlenet, resnet, towers
x = cnnsim.Input((1, 28, 28)); ...; net = cnnsim.Model(x, [y, aux])   # any DAG
"""

from .config import get_target, set_target  # noqa: F401


def to_host(a):
    """Bring results back from the GPU: a device array becomes a NumPy array (copied);
    lists, tuples and dicts are converted element by element; anything else is returned
    as is. On the "cpu" target everything already lives on the host (no copy)."""
    if hasattr(a, "copy_to_host"):
        return a.copy_to_host()
    if isinstance(a, (list, tuple)):
        return type(a)(to_host(v) for v in a)
    if isinstance(a, dict):
        return {k: to_host(v) for k, v in a.items()}
    return a


def __getattr__(name):
    # Input and Model load the layers (and Numba) only when asked for
    if name in ("Input", "Model"):
        from . import layers

        return getattr(layers, name)
    raise AttributeError(f"module 'cnnsim' has no attribute {name!r}")


__version__ = "0.1.0"
