"""The CUDA twins once at the real launch sizes (``config.threads_per_block`` 128, tiles of
16), on small shapes chosen to cross those sizes: reductions over more values than a block
has threads, dense matrices with partial 16x16 edge tiles, element-wise kernels over more
than one block. The other twin tests shrink the launch sizes (8 threads, 4x4 tiles) to keep
the simulator fast; these check that nothing depends on the shrunk sizes.
"""

import numpy as np
import pytest
from test_twins import arr, close

from cnnsim import config
from cnnsim.kernels import activations as CA
from cnnsim.kernels import conv as CC
from cnnsim.kernels import dense as CD
from cnnsim.kernels import losses as CL
from cnnsim.kernels import lrn as CR
from cnnsim.kernels import normalization as CN
from cnnsim.kernels import pool as CP
from cnnsim.kernels.cuda import activations as GA
from cnnsim.kernels.cuda import conv as GC
from cnnsim.kernels.cuda import dense as GD
from cnnsim.kernels.cuda import losses as GL
from cnnsim.kernels.cuda import lrn as GR
from cnnsim.kernels.cuda import normalization as GN
from cnnsim.kernels.cuda import pool as GP

THREADS, TILE = 128, 16


@pytest.fixture(autouse=True)
def real_launch_sizes(cuda_target):
    config.threads_per_block, config.tile = THREADS, TILE
    yield


def test_the_launch_sizes_are_the_real_ones():
    """THREADS and TILE are config.py's defaults (what a GPU run uses)."""
    import pathlib
    import re

    src = (pathlib.Path(config.__file__)).read_text()
    assert re.search(r"^threads_per_block = (\d+)", src, re.M).group(1) == str(THREADS)
    assert re.search(r"^tile = (\d+)", src, re.M).group(1) == str(TILE)
    assert (config.threads_per_block, config.tile) == (THREADS, TILE)


def test_dense_with_partial_16x16_tiles(rng):
    x, w, b = arr(rng, (3, 20)), arr(rng, (20, 17)), arr(rng, (17,))
    close(GD.dense_forward(x, w, b), CD.dense_forward(x, w, b))
    dy = arr(rng, (3, 17))
    close(GD.dense_backward_input(dy, w), CD.dense_backward_input(dy, w))
    for g, c in zip(GD.dense_backward_weight(dy, x), CD.dense_backward_weight(dy, x)):
        close(g, c)


def test_reductions_over_more_values_than_threads(rng):
    z = arr(rng, (2, 150)) * 3  # 150 classes > 128 threads
    close(GA.softmax_forward(z), CA.softmax_forward(z))
    lab = np.array([3, 149], np.int64)
    loss, probs = CL.softmax_cross_entropy_forward(z, lab)
    gloss, gprobs = GL.softmax_cross_entropy_forward(z, lab)
    np.testing.assert_allclose(gloss, loss, rtol=1e-6)
    close(gprobs, probs)
    x = arr(rng, (2, 2, 9, 9)) * 2 + 5  # 162 values per channel
    gamma, beta = arr(rng, (2,)), arr(rng, (2,))
    for g, c in zip(
        GN.batch_norm_train_forward(x, gamma, beta, 1e-5),
        CN.batch_norm_train_forward(x, gamma, beta, 1e-5),
    ):
        close(g, c)
    m = arr(rng, (1, 2, 12, 12))  # 144 values per map
    close(GP.global_avg_pool_forward(m), CP.global_avg_pool_forward(m))


def test_conv_weight_gradient_reduces_over_many_positions(rng):
    x, w, b = arr(rng, (3, 1, 9, 9)), arr(rng, (2, 1, 3, 3)), arr(rng, (2,))
    mask = np.ones((2, 1), np.uint8)
    y = CC.conv2d_forward(x, w, b, mask, 1, 1, 0, 0, 0, 0)  # 3 x 7 x 7 = 147 positions
    close(GC.conv2d_forward(x, w, b, mask, 1, 1, 0, 0, 0, 0), y)
    dy = arr(rng, y.shape)
    close(
        GC.conv2d_backward_weight(dy, x, mask, 3, 3, 1, 1, 0, 0, 0, 0),
        CC.conv2d_backward_weight(dy, x, mask, 3, 3, 1, 1, 0, 0, 0, 0),
    )
    close(GC.conv2d_bias_grad(dy), CC.conv2d_bias_grad(dy))


def test_elementwise_kernels_over_several_blocks(rng):
    x = arr(rng, (1, 3, 12, 12))  # 432 values: 4 blocks of 128
    close(GA.relu_forward(x), CA.relu_forward(x))
    close(GR.lrn_forward(x, 5, 2.0, 0.1, 0.75), CR.lrn_forward(x, 5, 2.0, 0.1, 0.75))
    close(
        GP.max_pool2d_forward(x, 2, 2, 2, 2, 0, 0, 0, 0),
        CP.max_pool2d_forward(x, 2, 2, 2, 2, 0, 0, 0, 0),
    )
