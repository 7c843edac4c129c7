"""add (skip connection), depth concatenation, global average pooling."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnnsim import functional as F
from cnnsim.testing import naive
from cnnsim.testing.gradcheck import gradcheck, probe_for


def test_hand_cases():
    a = np.arange(8, dtype=np.float32).reshape(1, 2, 2, 2)
    np.testing.assert_array_equal(F.add(a, a), 2 * a)
    da, db = F.add_backward(a)
    np.testing.assert_array_equal(da, a)
    np.testing.assert_array_equal(db, a)
    da[0, 0, 0, 0] = 99  # independent arrays
    assert db[0, 0, 0, 0] == 0
    y = F.depth_concat([a, a[:, :1] + 100])
    assert y.shape == (1, 3, 2, 2) and y[0, 2, 1, 1] == 103
    np.testing.assert_array_equal(F.global_avg_pool(a), [[1.5, 5.5]])
    np.testing.assert_array_equal(
        F.global_avg_pool_backward(np.array([[4.0, 8.0]]), (1, 2, 2, 2)),
        np.repeat([[1.0, 2.0]], 4, axis=1).reshape(1, 2, 2, 2),
    )


@st.composite
def merge_case(draw):
    n, h, w = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    channels = draw(st.lists(st.integers(1, 3), min_size=1, max_size=4))
    return (
        n,
        h,
        w,
        channels,
        draw(st.sampled_from([np.float32, np.float64])),
        draw(st.integers(0, 2**31)),
    )


def _check(case):
    n, h, w, channels, dtype, seed = case
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal((n, c, h, w)).astype(dtype) for c in channels]
    y = F.depth_concat(xs)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, naive.depth_concat(xs))
    parts = F.depth_concat_backward(y, channels)
    for p, x in zip(parts, xs):
        np.testing.assert_array_equal(p, x)
    other = rng.standard_normal(xs[0].shape).astype(dtype)
    np.testing.assert_array_equal(F.add(xs[0], other), naive.add(xs[0], other))
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(F.global_avg_pool(y), naive.global_avg_pool(y), rtol=tol, atol=tol)


@given(merge_case())
def test_matches_reference(case):
    _check(case)


@pytest.mark.thorough
@given(merge_case())
def test_matches_reference_thorough(case):
    _check(case)


def test_finite_differences(rng):
    a, b = rng.standard_normal((2, 3, 2, 2)), rng.standard_normal((2, 3, 2, 2))
    y = F.add(a, b)
    rep = gradcheck(F.add, a, b, grads=F.add_backward(probe_for(y.shape)))
    assert rep.ok, str(rep)
    c = rng.standard_normal((2, 1, 2, 2))
    cat = lambda a, c: F.depth_concat([a, c])
    y = cat(a, c)
    rep = gradcheck(cat, a, c, grads=F.depth_concat_backward(probe_for(y.shape), [3, 1]))
    assert rep.ok, str(rep)
    x = rng.standard_normal((2, 3, 3, 2))
    y = F.global_avg_pool(x)
    rep = gradcheck(
        F.global_avg_pool, x, grads=(F.global_avg_pool_backward(probe_for(y.shape), x.shape),)
    )
    assert rep.ok, str(rep)


@pytest.mark.parametrize(
    "call,exc,msg",
    [
        (
            lambda: F.add(np.zeros((1, 2, 3, 3)), np.zeros((1, 4, 3, 3))),
            ValueError,
            r"add: shapes must match exactly, got a \(1, 2, 3, 3\) and b \(1, 4, 3, 3\)",
        ),
        (lambda: F.add(np.zeros(3), np.zeros(3, np.float32)), TypeError, "one float dtype"),
        (
            lambda: F.depth_concat(
                [np.zeros((1, 2, 4, 4)), np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 3, 4))]
            ),
            ValueError,
            r"branch 2 has shape \(1, 1, 3, 4\) but branch 0 has \(1, 2, 4, 4\)",
        ),
        (
            lambda: F.depth_concat([np.zeros((1, 2, 4, 4)), np.zeros((2, 2, 4, 4))]),
            ValueError,
            "branch 1",
        ),
        (
            lambda: F.depth_concat([np.zeros((1, 2, 4, 4)), np.zeros((1, 2, 4))]),
            ValueError,
            "branch 1 of rank 4",
        ),
        (
            lambda: F.depth_concat([np.zeros((1, 2, 4, 4)), np.zeros((1, 2, 4, 4), np.float32)]),
            TypeError,
            "branch 1 has dtype",
        ),
        (lambda: F.depth_concat([]), TypeError, "non-empty list"),
        (
            lambda: F.depth_concat_backward(np.zeros((1, 4, 2, 2)), [2, 1]),
            ValueError,
            "sum to dy's 4 channels",
        ),
        (lambda: F.global_avg_pool(np.zeros((2, 3))), ValueError, "rank 4"),
        (
            lambda: F.global_avg_pool_backward(np.zeros((2, 3)), (2, 4, 2, 2)),
            ValueError,
            "does not match x",
        ),
    ],
)
def test_bad_input_one_line_errors(call, exc, msg):
    with pytest.raises(exc, match=msg) as e:
        call()
    assert "\n" not in str(e.value)
