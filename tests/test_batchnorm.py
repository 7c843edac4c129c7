"""Batch normalization: training (batch statistics, gradient through them), inference
(running statistics), the running-average update, bad input."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnnsim import functional as F
from cnnsim.testing import naive
from cnnsim.testing.gradcheck import gradcheck, probe_for


def _params(c, rng, dtype=np.float64):
    return (1 + 0.5 * rng.standard_normal(c)).astype(dtype), rng.standard_normal(c).astype(dtype)


def test_training_normalizes_each_channel(rng):
    x = (5 + 3 * rng.standard_normal((4, 3, 5, 5))).astype(np.float32)
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    y, cache = F.batch_norm(x, np.ones(3, np.float32), np.zeros(3, np.float32), rm, rv, True)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, atol=1e-3)
    assert cache.training and y.dtype == np.float32


def test_running_averages_update_as_documented():
    # one channel, values 1, 2, 3, 6: mean 3, biased var 3.5, unbiased var 14/3
    x = np.array([1.0, 2.0, 3.0, 6.0]).reshape(2, 1, 1, 2)
    rm, rv = np.array([1.0]), np.array([2.0])
    rm_id, rv_id = id(rm), id(rv)
    y, cache = F.batch_norm(x, np.ones(1), np.zeros(1), rm, rv, True, momentum=0.9, eps=0.0 + 1e-5)
    assert rm[0] == pytest.approx(0.9 * 1.0 + 0.1 * 3.0)
    assert rv[0] == pytest.approx(0.9 * 2.0 + 0.1 * 14.0 / 3.0)
    assert id(rm) == rm_id and id(rv) == rv_id  # updated in place
    np.testing.assert_allclose(y.ravel(), (np.array([1, 2, 3, 6]) - 3) / np.sqrt(3.5 + 1e-5))
    assert cache.var[0] == pytest.approx(3.5)  # batch normalized with biased var
    # inference uses (and leaves alone) the running statistics
    before = rm.copy(), rv.copy()
    y_eval, c_eval = F.batch_norm(x, np.ones(1), np.zeros(1), rm, rv, False)
    np.testing.assert_array_equal(rm, before[0])
    np.testing.assert_array_equal(rv, before[1])
    np.testing.assert_allclose(
        y_eval.ravel(), (np.array([1, 2, 3, 6]) - rm[0]) / np.sqrt(rv[0] + 1e-5)
    )
    assert not c_eval.training
    # float32 running buffers are updated in place too
    rm32, rv32 = np.zeros(1, np.float32), np.ones(1, np.float32)
    F.batch_norm(x, np.ones(1), np.zeros(1), rm32, rv32, True, momentum=0.5)
    assert rm32[0] == pytest.approx(1.5) and rv32[0] == pytest.approx(0.5 + 0.5 * 14 / 3, rel=1e-6)


@st.composite
def bn_case(draw):
    rank4 = draw(st.booleans())
    n, c = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    shape = (n, c, draw(st.integers(1, 3)), draw(st.integers(1, 3))) if rank4 else (n, c)
    if np.prod(shape) // c < 2:
        shape = (n + 1,) + shape[1:]
    return (
        shape,
        draw(st.booleans()),
        draw(st.sampled_from([np.float32, np.float64])),
        draw(st.integers(0, 2**31)),
    )


def _check(case):
    shape, training, dtype, seed = case
    rng = np.random.default_rng(seed)
    c = shape[1]
    x = (2 + 3 * rng.standard_normal(shape)).astype(dtype)
    gamma, beta = _params(c, rng, dtype)
    rm = rng.standard_normal(c).astype(dtype)
    rv = (0.5 + rng.random(c)).astype(dtype)
    stats = (None, None) if training else (rm.copy(), rv.copy())
    y, cache = F.batch_norm(x, gamma, beta, rm, rv, training)
    tol = 2e-4 if dtype == np.float32 else 1e-9
    ref_y, _, _ = naive.batch_norm(x, gamma, beta, *stats)
    assert y.shape == shape and y.dtype == dtype
    np.testing.assert_allclose(y, ref_y, rtol=tol, atol=tol)
    dy = rng.standard_normal(shape).astype(dtype)
    got = F.batch_norm_backward(dy, cache)
    want = naive.batch_norm_backward(dy, x, gamma, *stats)
    for g, w in zip(got, want):
        assert g.dtype == dtype
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)


@given(bn_case())
def test_matches_reference(case):
    _check(case)


@pytest.mark.thorough
@given(bn_case())
def test_matches_reference_thorough(case):
    _check(case)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(3, 2, 3, 2), (5, 4)])
def test_backward_finite_differences(training, shape, rng):
    c = shape[1]
    x = rng.standard_normal(shape)
    gamma, beta = _params(c, rng)
    rm, rv = rng.standard_normal(c), 0.5 + rng.random(c)

    def fn(x, gamma, beta):  # fresh copies: the running buffers must not drift between calls
        return F.batch_norm(x, gamma, beta, rm.copy(), rv.copy(), training)[0]

    y, cache = F.batch_norm(x, gamma, beta, rm.copy(), rv.copy(), training)
    grads = F.batch_norm_backward(probe_for(y.shape), cache)
    rep = gradcheck(fn, x, gamma, beta, grads=grads)
    assert rep.ok, str(rep)


def _bn(x=None, **kw):
    args = dict(
        x=np.zeros((2, 3, 2, 2)),
        gamma=np.ones(3),
        beta=np.zeros(3),
        running_mean=np.zeros(3),
        running_var=np.ones(3),
        training=True,
    )
    if x is not None:
        args["x"] = x
    args.update(kw)
    return F.batch_norm(**args)


@pytest.mark.parametrize(
    "call,exc,msg",
    [
        (lambda: _bn(np.zeros((2, 3, 4))), ValueError, r"rank 2 \(N, D\) or 4"),
        (lambda: _bn(np.zeros((2, 3, 2, 2), int)), TypeError, "float32 or float64"),
        (lambda: _bn(gamma=np.ones(4)), ValueError, "gamma of shape"),
        (lambda: _bn(beta=np.zeros(3, np.float32)), TypeError, "one float dtype"),
        (
            lambda: _bn(running_mean=[0.0, 0.0, 0.0]),
            TypeError,
            "running_mean must be a float32/float64 NumPy array",
        ),
        (lambda: _bn(running_var=np.ones(2)), ValueError, "running_var of shape"),
        (lambda: _bn(np.zeros((1, 3))), ValueError, "at least 2 values per channel"),
        (lambda: _bn(momentum=1.5), ValueError, "momentum must lie in"),
        (lambda: _bn(eps=0), ValueError, "eps must be > 0"),
        (
            lambda: F.batch_norm_backward(np.zeros((2, 3)), {"x_hat": 0}),
            TypeError,
            "cache must be the BatchNormCache",
        ),
        (lambda: F.batch_norm_backward(np.zeros((2, 3)), _bn()[1]), ValueError, "dy of shape"),
    ],
)
def test_bad_input_one_line_errors(call, exc, msg):
    with pytest.raises(exc, match=msg) as e:
        call()
    assert "\n" not in str(e.value) and str(e.value).startswith("batch_norm")
