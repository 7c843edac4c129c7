"""Activations against the independent reference, finite differences, stability, bad input."""

import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnnsim import functional as F
from cnnsim.testing import naive
from cnnsim.testing.gradcheck import gradcheck, probe_for


def test_hand_cases():
    x = np.array([[-2.0, 0.0, 3.0]])
    np.testing.assert_array_equal(F.relu(x), [[0.0, 0.0, 3.0]])
    np.testing.assert_array_equal(
        F.relu_backward(np.ones_like(x), x), [[0.0, 0.0, 1.0]]
    )  # 0 at x == 0
    assert F.sigmoid(np.array([0.0]))[0] == 0.5
    assert F.scaled_tanh(np.array([1.5]))[0] == pytest.approx(1.7159 * math.tanh(1.0))
    # LeCun's choice: f(1) ~ 1 and f(-1) ~ -1
    np.testing.assert_allclose(F.scaled_tanh(np.array([1.0, -1.0])), [1.0, -1.0], atol=2e-4)
    np.testing.assert_allclose(F.softmax(np.array([[0.0, math.log(3.0)]])), [[0.25, 0.75]])
    np.testing.assert_array_equal(F.activation_forward("linear", x), x)
    np.testing.assert_array_equal(F.activation_backward("linear", x, None, None), x)


def test_sigmoid_and_softmax_stable_at_extremes():
    x = np.array([-1e4, -800.0, -50.0, 0.0, 50.0, 800.0, 1e4])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for dt in (np.float32, np.float64):
            s = F.sigmoid(x.astype(dt))
            assert np.all(np.isfinite(s)) and s[0] == 0.0 and s[-1] == 1.0 and s[3] == 0.5
            p = F.softmax(np.array([[1000.0, 999.0, -1000.0]], dt))
            np.testing.assert_allclose(
                p, [[1 / (1 + math.e**-1), 1 / (1 + math.e), 0.0]], rtol=1e-6
            )


NAMES = [a for a in F.ACTIVATIONS]


@st.composite
def act_case(draw):
    name = draw(st.sampled_from(NAMES))
    if name == "softmax":
        shape = (draw(st.integers(1, 4)), draw(st.integers(1, 7)))
    else:
        shape = tuple(draw(st.lists(st.integers(1, 4), min_size=2, max_size=4)))
    return name, shape, draw(st.sampled_from([np.float32, np.float64])), draw(st.integers(0, 2**31))


def _check(case):
    name, shape, dtype, seed = case
    rng = np.random.default_rng(seed)
    x = (3 * rng.standard_normal(shape)).astype(dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    y = F.activation_forward(name, x)
    assert y.dtype == dtype and y.shape == shape
    np.testing.assert_allclose(y, naive.activation(name, x), rtol=tol, atol=tol)
    dy = rng.standard_normal(shape).astype(dtype)
    dx = F.activation_backward(name, dy, x, y)
    assert dx.dtype == dtype
    np.testing.assert_allclose(dx, naive.activation_backward(name, dy, x), rtol=tol, atol=tol)


@given(act_case())
def test_activations_match_reference(case):
    _check(case)


@pytest.mark.thorough
@given(act_case())
def test_activations_match_reference_thorough(case):
    _check(case)


@pytest.mark.parametrize("name", [a for a in F.ACTIVATIONS])
def test_backward_finite_differences(name, rng):
    x = rng.standard_normal((3, 4)) * 2
    x[np.abs(x) < 1e-3] = 0.5  # keep relu away from its kink
    y = F.activation_forward(name, x)
    dx = F.activation_backward(name, probe_for(y.shape), x, y)
    rep = gradcheck(lambda x: F.activation_forward(name, x), x, grads=(dx,))
    assert rep.ok, str(rep)


def test_named_functions_agree_with_dispatch(rng):
    x = rng.standard_normal((2, 3, 2, 2))
    dy = rng.standard_normal(x.shape)
    for fwd, bwd, uses in [
        (F.relu, F.relu_backward, "x"),
        (F.sigmoid, F.sigmoid_backward, "y"),
        (F.tanh, F.tanh_backward, "y"),
        (F.scaled_tanh, F.scaled_tanh_backward, "x"),
    ]:
        y = fwd(x)
        np.testing.assert_array_equal(y, F.activation_forward(fwd.__name__, x))
        np.testing.assert_array_equal(
            bwd(dy, x if uses == "x" else y), F.activation_backward(fwd.__name__, dy, x, y)
        )


@pytest.mark.parametrize(
    "call,exc,msg",
    [
        (
            lambda: F.activation_forward("gelu", np.zeros(3)),
            ValueError,
            "unknown activation 'gelu'; expected one of linear, relu, sigmoid, tanh, scaled_tanh, softmax",
        ),
        (lambda: F.relu(np.zeros(3, dtype=np.int32)), TypeError, "float32 or float64"),
        (lambda: F.softmax(np.zeros((2, 3, 4))), ValueError, "rank 2"),
        (lambda: F.sigmoid_backward(np.zeros((2, 3)), np.zeros((3, 2))), ValueError, "dy of shape"),
        (
            lambda: F.tanh_backward(np.zeros(3), np.zeros(3, np.float32)),
            TypeError,
            "one float dtype",
        ),
        (
            lambda: F.activation_backward("relu", np.zeros(3), None, np.zeros(3)),
            ValueError,
            "needs the pre-activation x",
        ),
        (
            lambda: F.activation_backward("sigmoid", np.zeros(3), np.zeros(3), None),
            ValueError,
            "needs the output y",
        ),
    ],
)
def test_bad_input_one_line_errors(call, exc, msg):
    with pytest.raises(exc, match=msg) as e:
        call()
    assert "\n" not in str(e.value)
