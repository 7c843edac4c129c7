"""Layer objects over the functional API, and the containers that wire them.

Uniform contract (``cnnsim.layers.base.Layer``): ``build``, ``__call__`` (forward),
``backprop`` (backward), ``params``/``grads``, ``output_shape``, ``param_count()``,
``macs()``, ``geometry()``, ``get_config()``.
"""

from ..graph import Input  # noqa: F401
from .activation import Activation, LeakyReLU, ReLU, ScaledTanh, Sigmoid, Softmax, Tanh  # noqa: F401
from .base import Layer, LayerError, observe  # noqa: F401
from .containers import Concat, Container, ResidualUnit, Sequential  # noqa: F401
from .conv import Conv2D  # noqa: F401
from .dense import Dense, Flatten  # noqa: F401
from .lenet import RBF, Subsampling  # noqa: F401
from .lrn import LRN  # noqa: F401
from .merge import Add, DepthConcat  # noqa: F401
from .model import Model  # noqa: F401
from .normalization import BatchNorm  # noqa: F401
from .pool import AvgPool2D, GlobalAvgPool, MaxPool2D  # noqa: F401
from .regularization import Dropout  # noqa: F401
