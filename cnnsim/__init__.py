"""cnnsim: a Numba-accelerated educational simulator of convolutional neural networks.

    import cnnsim
    from cnnsim import functional as F      # forward/backward array functions
    from cnnsim import layers as L          # Conv2D, MaxPool2D, LRN, Dense, Sequential, ...
    from cnnsim import models               # lenet5, alexnet, googlenet, resnet, towers
"""
from .config import set_target, get_target  # noqa: F401

__version__ = "0.1.0"
