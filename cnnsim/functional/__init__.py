"""The public array API (homework imports it as ``F``).

Each function validates its input once, with one-line errors naming the function,
then calls the Numba kernels. Arrays are NCHW; weights ``(F, C, KH, KW)``.
Forward and backward live side by side; backward returns gradients in the order
of the inputs (``dx, dw, db``).
"""

from .activations import (  # noqa: F401
    ACTIVATIONS,
    activation_backward,
    activation_forward,
    leaky_relu,
    leaky_relu_backward,
    relu,
    relu_backward,
    scaled_tanh,
    scaled_tanh_backward,
    sigmoid,
    sigmoid_backward,
    softmax,
    softmax_backward,
    tanh,
    tanh_backward,
)
from .conv import (  # noqa: F401
    conv2d,
    conv2d_avgpool,
    conv2d_avgpool_backward,
    conv2d_backward,
)
from .dense import dense, dense_backward, flatten, flatten_backward  # noqa: F401
from .dropout import dropout, dropout_backward  # noqa: F401
from .losses import softmax_cross_entropy, softmax_cross_entropy_backward  # noqa: F401
from .lrn import lrn, lrn_backward  # noqa: F401
from .merge import add, add_backward, depth_concat, depth_concat_backward  # noqa: F401
from .normalization import BatchNormCache, batch_norm, batch_norm_backward  # noqa: F401
from .pool import (  # noqa: F401
    avg_pool2d,
    avg_pool2d_backward,
    global_avg_pool,
    global_avg_pool_backward,
    max_pool2d,
    max_pool2d_argmax,
    max_pool2d_backward,
    max_pool2d_with_indices,
)
