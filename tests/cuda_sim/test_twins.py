"""Every CUDA twin against its CPU kernel (same arguments), on tiny shapes."""

import numpy as np
import pytest

from cnnsim import config, to_host
from cnnsim.kernels import activations as CA
from cnnsim.kernels import conv as CC
from cnnsim.kernels import dense as CD
from cnnsim.kernels import losses as CL
from cnnsim.kernels import lrn as CR
from cnnsim.kernels import merge as CM
from cnnsim.kernels import normalization as CN
from cnnsim.kernels import pool as CP
from cnnsim.kernels.cuda import activations as GA
from cnnsim.kernels.cuda import conv as GC
from cnnsim.kernels.cuda import dense as GD
from cnnsim.kernels.cuda import losses as GL
from cnnsim.kernels.cuda import lrn as GR
from cnnsim.kernels.cuda import merge as GM
from cnnsim.kernels.cuda import normalization as GN
from cnnsim.kernels.cuda import pool as GP
from cnnsim.kernels.cuda._util import is_device, to_device


def close(gpu, cpu, dtype=np.float32):
    """The twin returned a device array holding the CPU result (to float tolerance)."""
    assert is_device(gpu), f"expected a device array, got {type(gpu).__name__}"
    g = to_host(gpu)
    assert g.shape == np.shape(cpu) and g.dtype == np.asarray(cpu).dtype
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(g, cpu, rtol=tol, atol=tol)


def arr(rng, shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


# ---- convolution -------------------------------------------------------------------
CONV_CASES = [  # (stride, pads (t, b, l, r), kernel, mask or None, dtype)
    ((1, 1), (0, 0, 0, 0), (3, 3), None, np.float32),  # valid
    ((2, 1), (1, 2, 0, 1), (3, 2), [[1, 0], [1, 1]], np.float32),  # uneven pads + table
    ((2, 2), (1, 1, 1, 1), (2, 2), None, np.float64),  # float64, stride 2
]


@pytest.mark.parametrize("stride,pads,kernel,mask,dtype", CONV_CASES)
def test_conv_twins(rng, stride, pads, kernel, mask, dtype):
    x = arr(rng, (1, 2, 5, 5), dtype)
    w = arr(rng, (2, 2) + kernel, dtype)
    b = arr(rng, (2,), dtype)
    m = np.ones((2, 2), np.uint8) if mask is None else np.array(mask, np.uint8)
    y = CC.conv2d_forward(x, w, b, m, *stride, *pads)
    close(GC.conv2d_forward(x, w, b, m, *stride, *pads), y, dtype)
    dy = arr(rng, y.shape, dtype)
    close(
        GC.conv2d_backward_input(dy, w, m, 5, 5, *stride, *pads),
        CC.conv2d_backward_input(dy, w, m, 5, 5, *stride, *pads),
        dtype,
    )
    close(
        GC.conv2d_backward_weight(dy, x, m, *kernel, *stride, *pads),
        CC.conv2d_backward_weight(dy, x, m, *kernel, *stride, *pads),
        dtype,
    )
    close(GC.conv2d_bias_grad(dy), CC.conv2d_bias_grad(dy), dtype)


def test_conv_lecture_case_and_determinism(rng):
    # the lecture's 5x7 input -> 3x4 output, 3x3 fields, stride 2, "same"-style padding 1
    x = arr(rng, (1, 1, 5, 7))
    w = arr(rng, (1, 1, 3, 3))
    b = np.zeros(1, np.float32)
    m = np.ones((1, 1), np.uint8)
    y = GC.conv2d_forward(x, w, b, m, 2, 2, 1, 1, 1, 1)
    assert y.shape == (1, 1, 3, 4)
    close(y, CC.conv2d_forward(x, w, b, m, 2, 2, 1, 1, 1, 1))
    dy = arr(rng, (1, 1, 3, 4))
    a = [
        to_host(GC.conv2d_backward_weight(dy, x, m, 3, 3, 2, 2, 1, 1, 1, 1)),
        to_host(GC.conv2d_bias_grad(dy)),
    ]
    b2 = [
        to_host(GC.conv2d_backward_weight(dy, x, m, 3, 3, 2, 2, 1, 1, 1, 1)),
        to_host(GC.conv2d_bias_grad(dy)),
    ]
    for u, v in zip(a, b2):  # block reductions in a fixed order: bit-identical
        assert np.array_equal(u, v)


def test_conv_device_inputs(rng):
    x = arr(rng, (1, 2, 3, 4))
    # device arrays in: used in place (no host round trip), same numbers out
    w = arr(rng, (2, 2, 2, 2))
    b = arr(rng, (2,))
    m = np.ones((2, 2), np.uint8)
    dx_, dw_ = to_device(x), to_device(w)
    close(
        GC.conv2d_forward(dx_, dw_, b, m, 1, 1, 0, 0, 0, 0),
        CC.conv2d_forward(x, w, b, m, 1, 1, 0, 0, 0, 0),
    )


# ---- pooling -----------------------------------------------------------------------
POOL_CASES = [  # (kernel, stride, pads)
    ((3, 3), (2, 2), (0, 0, 0, 0)),  # AlexNet's overlapping 3x3/2
    ((2, 2), (2, 2), (0, 1, 0, 1)),  # "same" on an odd input
    ((2, 2), (2, 2), (2, 0, 0, 0)),  # first row of windows entirely in padding
]


@pytest.mark.parametrize("k,s,pads", POOL_CASES)
def test_pool_twins(rng, k, s, pads):
    # small integers: many ties, so the first-maximum rule is exercised
    x = rng.integers(-2, 3, size=(1, 2, 5, 5)).astype(np.float32)
    y = CP.max_pool2d_forward(x, *k, *s, *pads)
    close(GP.max_pool2d_forward(x, *k, *s, *pads), y)
    _, idx = CP.max_pool2d_forward_argmax(x, *k, *s, *pads)
    dy = arr(rng, y.shape)
    close(
        GP.max_pool2d_backward(dy, x, *k, *s, *pads), CP.max_pool2d_backward(dy, x, *k, *s, *pads)
    )
    gy, gidx = GP.max_pool2d_forward_argmax(x, *k, *s, *pads)  # one pass: the same two
    close(gy, y)
    assert np.array_equal(to_host(gidx), idx)
    close(
        GP.max_pool2d_backward_argmax(dy, idx, 5, 5, *k, *s, *pads),
        CP.max_pool2d_backward(dy, x, *k, *s, *pads),
    )
    close(GP.avg_pool2d_forward(x, *k, *s, *pads), CP.avg_pool2d_forward(x, *k, *s, *pads))
    close(
        GP.avg_pool2d_backward(dy, 5, 5, *k, *s, *pads),
        CP.avg_pool2d_backward(dy, 5, 5, *k, *s, *pads),
    )


def test_max_pool_nan_wins(rng):
    x = arr(rng, (1, 1, 4, 4))
    x[0, 0, 1, 1] = np.nan
    geom = (2, 2, 2, 2, 0, 0, 0, 0)
    y = to_host(GP.max_pool2d_forward(x, *geom, True))  # nan_aware, as F passes it
    assert np.isnan(y[0, 0, 0, 0]) and not np.isnan(y[0, 0, 1, 1])
    np.testing.assert_array_equal(y, CP.max_pool2d_forward(x, *geom, True))
    assert np.array_equal(
        to_host(GP.max_pool2d_forward_argmax(x, *geom, True)[1]),
        CP.max_pool2d_forward_argmax(x, *geom, True)[1],
    )
    dy = arr(rng, y.shape)
    close(GP.max_pool2d_backward(dy, x, *geom, True), CP.max_pool2d_backward(dy, x, *geom, True))


# ---- LRN ---------------------------------------------------------------------------
@pytest.mark.parametrize("r,dtype", [(5, np.float32), (3, np.float64)])
def test_lrn_twins(rng, r, dtype):
    x = arr(rng, (1, 5, 2, 3), dtype)  # the window clips at the first and last maps
    args = (r, 2.0, 0.1, 0.75)
    close(GR.lrn_forward(x, *args), CR.lrn_forward(x, *args), dtype)
    dy = arr(rng, x.shape, dtype)
    close(GR.lrn_backward(dy, x, *args), CR.lrn_backward(dy, x, *args), dtype)


# ---- dense -------------------------------------------------------------------------
@pytest.mark.parametrize("n,d_in,d_out,dtype", [(3, 5, 6, np.float32), (2, 9, 3, np.float64)])
def test_dense_twins(rng, n, d_in, d_out, dtype):
    # shapes that are not multiples of the 4x4 simulator tiles: edge tiles are padded
    x, w, b = arr(rng, (n, d_in), dtype), arr(rng, (d_in, d_out), dtype), arr(rng, (d_out,), dtype)
    close(GD.dense_forward(x, w, b), CD.dense_forward(x, w, b), dtype)
    dy = arr(rng, (n, d_out), dtype)
    close(GD.dense_backward_input(dy, w), CD.dense_backward_input(dy, w), dtype)
    dw, db = CD.dense_backward_weight(dy, x)
    gdw, gdb = GD.dense_backward_weight(dy, x)
    close(gdw, dw, dtype)
    close(gdb, db, dtype)


# ---- activations -------------------------------------------------------------------
@pytest.mark.parametrize(
    "name,uses", [("relu", "x"), ("sigmoid", "y"), ("tanh", "y"), ("scaled_tanh", "x")]
)
def test_elementwise_activation_twins(rng, name, uses):
    x = arr(rng, (2, 3, 2, 2)) * 3
    x[0, 0, 0, 0] = 0.0  # relu's subgradient at 0 is 0
    x[0, 0, 0, 1] = -30.0  # sigmoid's stable branch
    fwd_c, fwd_g = getattr(CA, name + "_forward"), getattr(GA, name + "_forward")
    y = fwd_c(x)
    close(fwd_g(x), y)
    dy = arr(rng, x.shape)
    other = x if uses == "x" else y
    close(getattr(GA, name + "_backward")(dy, other), getattr(CA, name + "_backward")(dy, other))


def test_relu_nan_passes(rng):
    x = np.array([[np.nan, -1.0, 2.0]], np.float32)
    y = to_host(GA.relu_forward(x))
    assert np.isnan(y[0, 0]) and y[0, 1] == 0 and y[0, 2] == 2


@pytest.mark.parametrize("k", [3, 19])  # fewer and more classes than threads per block
def test_softmax_twins(rng, k):
    x = arr(rng, (3, k)) * 4
    x[1, 0] = 1000.0  # no overflow
    y = CA.softmax_forward(x)
    close(GA.softmax_forward(x), y)
    dy = arr(rng, x.shape)
    close(GA.softmax_backward(dy, y), CA.softmax_backward(dy, y))


# ---- softmax cross-entropy ---------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_twins(rng, dtype):
    z = arr(rng, (11, 4), dtype) * 3
    z[2, 1] = 1000.0
    lab = rng.integers(0, 4, size=11).astype(np.int64)
    loss, probs = CL.softmax_cross_entropy_forward(z, lab)
    gloss, gprobs = GL.softmax_cross_entropy_forward(z, lab)
    assert isinstance(gloss, (float, np.floating)) and np.isfinite(gloss)
    np.testing.assert_allclose(gloss, loss, rtol=1e-6 if dtype == np.float32 else 1e-12)
    close(gprobs, probs, dtype)
    close(
        GL.softmax_cross_entropy_backward(probs, lab),
        CL.softmax_cross_entropy_backward(probs, lab),
        dtype,
    )


# ---- batch norm --------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_norm_twins(rng, dtype):
    x = arr(rng, (2, 3, 2, 3), dtype) * 2 + 5  # |mean| > std: the two-pass variance
    gamma, beta = arr(rng, (3,), dtype), arr(rng, (3,), dtype)
    out_c = CN.batch_norm_train_forward(x, gamma, beta, 1e-5)
    out_g = GN.batch_norm_train_forward(x, gamma, beta, 1e-5)
    for g, c in zip(out_g, out_c):
        close(g, c, dtype)
    x_hat, inv_std = out_c[1], out_c[4]
    dy = arr(rng, x.shape, dtype)
    for training in (True, False):
        for g, c in zip(
            GN.batch_norm_backward(dy, x_hat, gamma, inv_std, training),
            CN.batch_norm_backward(dy, x_hat, gamma, inv_std, training),
        ):
            close(g, c, dtype)
    mean, var = arr(rng, (3,), dtype), np.abs(arr(rng, (3,), dtype)) + 0.5
    for g, c in zip(
        GN.batch_norm_eval_forward(x, gamma, beta, mean, var, 1e-3),
        CN.batch_norm_eval_forward(x, gamma, beta, mean, var, 1e-3),
    ):
        close(g, c, dtype)


# ---- merge: add, multiply (dropout), concat; global average pooling -------------------
def test_merge_twins(rng):
    a, b = arr(rng, (2, 3, 2, 2)), arr(rng, (2, 3, 2, 2))
    close(GM.add(a, b), CM.add(a, b))
    close(GM.multiply(a, b), CM.multiply(a, b))
    c = arr(rng, (2, 1, 2, 2))
    dst = GM.take_channels(np.zeros((2, 4, 2, 2), np.float32), 0, 4)  # a device array
    GM.copy_channels(dst, a, 0)
    GM.copy_channels(dst, c, 3)
    close(dst, np.concatenate([a, c], axis=1))
    close(GM.take_channels(to_host(dst), 1, 2), CM.take_channels(to_host(dst), 1, 2))


def test_global_avg_pool_twins(rng):
    x = arr(rng, (2, 3, 3, 5))  # 15 values per map: more than one stride
    y = CP.global_avg_pool_forward(x)
    close(GP.global_avg_pool_forward(x), y)
    dy = arr(rng, y.shape)
    close(GP.global_avg_pool_backward(dy, 3, 5), CP.global_avg_pool_backward(dy, 3, 5))


# the contract: the public kernels the functional API calls, with the CPU's signatures
CONTRACT = {
    "conv": [
        "conv2d_forward",
        "conv2d_backward_input",
        "conv2d_backward_weight",
        "conv2d_bias_grad",
    ],
    "pool": [
        "max_pool2d_forward",
        "max_pool2d_backward",
        "max_pool2d_forward_argmax",
        "max_pool2d_backward_argmax",
        "avg_pool2d_forward",
        "avg_pool2d_backward",
        "global_avg_pool_forward",
        "global_avg_pool_backward",
    ],
    "lrn": ["lrn_forward", "lrn_backward"],
    "dense": ["dense_forward", "dense_backward_input", "dense_backward_weight"],
    "activations": [
        f"{a}_{d}"
        for a in ("relu", "sigmoid", "tanh", "scaled_tanh", "softmax")
        for d in ("forward", "backward")
    ],
    "losses": ["softmax_cross_entropy_forward", "softmax_cross_entropy_backward"],
    "normalization": ["batch_norm_train_forward", "batch_norm_eval_forward", "batch_norm_backward"],
    "merge": ["add", "multiply", "copy_channels", "take_channels"],
}


@pytest.mark.parametrize("family", sorted(CONTRACT))
def test_twins_have_the_cpu_signatures(family):
    import importlib
    import inspect

    cpu = importlib.import_module(f"cnnsim.kernels.{family}")
    gpu = importlib.import_module(f"cnnsim.kernels.cuda.{family}")
    for name in CONTRACT[family]:
        c = getattr(cpu, name)
        c = getattr(c, "py_func", c)
        assert inspect.signature(getattr(gpu, name)) == inspect.signature(c), name


def test_launch_size_must_be_a_power_of_two():
    saved = config.threads_per_block
    config.threads_per_block = 12
    try:
        with pytest.raises(ValueError, match="power of two"):
            GM.add(np.ones(3, np.float32), np.ones(3, np.float32))
    finally:
        config.threads_per_block = saved
