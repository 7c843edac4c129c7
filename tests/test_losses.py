"""Fused softmax cross-entropy: reference, stability, finite differences, bad labels."""

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
    loss, p = F.softmax_cross_entropy(np.zeros((2, 4)), [0, 3])
    assert loss == pytest.approx(math.log(4)) and np.allclose(p, 0.25)
    d = F.softmax_cross_entropy_backward(p, [0, 3])
    np.testing.assert_allclose(d, [[-0.375, 0.125, 0.125, 0.125], [0.125, 0.125, 0.125, -0.375]])
    # a confident right answer costs ~0, a confident wrong one ~ the logit gap
    loss, _ = F.softmax_cross_entropy(np.array([[10.0, 0.0], [0.0, 10.0]]), np.array([0, 0]))
    assert loss == pytest.approx((math.log1p(math.exp(-10)) + 10 + math.log1p(math.exp(-10))) / 2)


def test_huge_logits_no_overflow():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for dt in (np.float32, np.float64):
            z = np.array([[1000.0, 0.0, -1000.0], [1000.0, 1000.0, 0.0]], dt)
            loss, p = F.softmax_cross_entropy(z, [1, 0])
            assert math.isfinite(loss)
            assert loss == pytest.approx((1000.0 + math.log(2)) / 2, rel=1e-6)
            np.testing.assert_allclose(p, [[1, 0, 0], [0.5, 0.5, 0]], atol=1e-7)
            d = F.softmax_cross_entropy_backward(p, [1, 0])
            assert np.all(np.isfinite(d))


@st.composite
def ce_case(draw):
    n, k = draw(st.integers(1, 6)), draw(st.integers(1, 8))
    labels = draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n))
    return (
        n,
        k,
        labels,
        draw(st.sampled_from([np.float32, np.float64])),
        draw(st.integers(0, 2**31)),
    )


def _check(case):
    n, k, labels, dtype, seed = case
    z = (5 * np.random.default_rng(seed).standard_normal((n, k))).astype(dtype)
    labels = np.array(labels)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    loss, p = F.softmax_cross_entropy(z, labels)
    ref_loss, ref_p = naive.softmax_cross_entropy(z, labels)
    assert isinstance(loss, float) and p.dtype == dtype
    assert loss == pytest.approx(ref_loss, rel=tol, abs=tol)
    np.testing.assert_allclose(p, ref_p, rtol=tol, atol=tol)
    np.testing.assert_allclose(
        F.softmax_cross_entropy_backward(p, labels),
        naive.softmax_cross_entropy_backward(ref_p, labels),
        rtol=tol,
        atol=tol,
    )


@given(ce_case())
def test_matches_reference(case):
    _check(case)


@pytest.mark.thorough
@given(ce_case())
def test_matches_reference_thorough(case):
    _check(case)


def test_backward_finite_differences(rng):
    z = rng.standard_normal((4, 5)) * 3
    labels = np.array([0, 4, 2, 2])
    _, p = F.softmax_cross_entropy(z, labels)
    scale = probe_for(())  # gradcheck weighs a scalar output by this probe
    d = F.softmax_cross_entropy_backward(p, labels) * scale
    rep = gradcheck(lambda z: F.softmax_cross_entropy(z, labels)[0], z, grads=(d,))
    assert rep.ok, str(rep)


@pytest.mark.parametrize(
    "call,exc,msg",
    [
        (
            lambda: F.softmax_cross_entropy(np.zeros((2, 3)), [0, 3]),
            ValueError,
            r"labels must lie in \[0, 3\), got 3",
        ),
        (
            lambda: F.softmax_cross_entropy(np.zeros((2, 3)), [-1, 0]),
            ValueError,
            r"\[0, 3\), got -1",
        ),
        (
            lambda: F.softmax_cross_entropy(np.zeros((2, 3)), np.array([0.0, 1.0])),
            TypeError,
            "labels must be integers",
        ),
        (
            lambda: F.softmax_cross_entropy(np.zeros((2, 3)), np.array([True, False])),
            TypeError,
            "labels must be integers",
        ),
        (
            lambda: F.softmax_cross_entropy(np.zeros((2, 3)), [0, 1, 2]),
            ValueError,
            r"labels of shape \(2,\)",
        ),
        (lambda: F.softmax_cross_entropy(np.zeros(3), [0]), ValueError, "rank 2"),
        (
            lambda: F.softmax_cross_entropy(np.zeros((2, 3), int), [0, 1]),
            TypeError,
            "float32 or float64",
        ),
        (
            lambda: F.softmax_cross_entropy_backward(np.zeros((2, 3)), [0, 5]),
            ValueError,
            r"\[0, 3\)",
        ),
    ],
)
def test_bad_input_one_line_errors(call, exc, msg):
    with pytest.raises(exc, match=msg) as e:
        call()
    assert "\n" not in str(e.value) and str(e.value).startswith("softmax_cross_entropy")
