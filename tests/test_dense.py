"""dense / flatten against the independent reference, finite differences, bad input."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnnsim import functional as F
from cnnsim.kernels import dense as K
from cnnsim.testing import naive
from cnnsim.testing.gradcheck import gradcheck, probe_for


def test_hand_case():
    x = np.array([[1.0, 2.0]])
    w = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    b = np.array([1.0, 1.0, 1.0])
    np.testing.assert_array_equal(F.dense(x, w, b), [[10.0, 13.0, 16.0]])
    np.testing.assert_array_equal(F.dense(x, w), [[9.0, 12.0, 15.0]])
    dx, dw, db = F.dense_backward(np.array([[1.0, 0.0, -1.0]]), x, w)
    np.testing.assert_array_equal(dx, [[1 - 3, 4 - 6]])
    np.testing.assert_array_equal(dw, [[1, 0, -1], [2, 0, -2]])
    np.testing.assert_array_equal(db, [1, 0, -1])


@st.composite
def dense_case(draw):
    # sizes cross the kernel's blocks: N_BLOCK rows, J_BLOCK columns, LANES partial sums
    d_out = draw(st.one_of(st.integers(1, 40), st.integers(K.J_BLOCK - 2, K.J_BLOCK + 3)))
    n = draw(st.integers(1, K.N_BLOCK + 2 if d_out <= 40 else 3))  # keep the reference quick
    d_in = draw(st.integers(1, 12))
    return (
        n,
        d_in,
        d_out,
        draw(st.sampled_from([np.float32, np.float64])),
        draw(st.integers(0, 2**31)),
    )


def _check(case):
    n, d_in, d_out, dtype, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d_in)).astype(dtype)
    w = rng.standard_normal((d_in, d_out)).astype(dtype)
    b = rng.standard_normal(d_out).astype(dtype)
    tol = 1e-4 if dtype == np.float32 else 1e-11
    y = F.dense(x, w, b)
    assert y.dtype == dtype and y.shape == (n, d_out)
    np.testing.assert_allclose(y, naive.dense(x, w, b), rtol=tol, atol=tol)
    dy = rng.standard_normal((n, d_out)).astype(dtype)
    for got, want in zip(F.dense_backward(dy, x, w), naive.dense_backward(dy, x, w)):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@given(dense_case())
def test_dense_matches_reference(case):
    _check(case)


@pytest.mark.thorough
@given(dense_case())
def test_dense_matches_reference_thorough(case):
    _check(case)


def test_dense_backward_finite_differences(rng):
    x = rng.standard_normal((3, 5))
    w = rng.standard_normal((5, 19))  # 19 = one full LANES group + a tail
    b = rng.standard_normal(19)
    y = F.dense(x, w, b)
    grads = F.dense_backward(probe_for(y.shape), x, w)
    rep = gradcheck(F.dense, x, w, b, grads=grads)
    assert rep.ok, str(rep)


def test_dense_deterministic_across_threads(monkeypatch):
    from cnnsim import config

    monkeypatch.setattr(config, "serial_work", 0)  # small calls must really run in parallel
    import numba

    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 300)).astype(np.float32)
    w = rng.standard_normal((300, 270)).astype(np.float32)
    dy = rng.standard_normal((20, 270)).astype(np.float32)
    before = numba.get_num_threads()
    outs = []
    try:
        for t in sorted({1, before}):
            numba.set_num_threads(t)
            outs.append((F.dense(x, w), *F.dense_backward(dy, x, w)))
    finally:
        numba.set_num_threads(before)
    for a, b in zip(outs[0], outs[-1]):
        np.testing.assert_array_equal(a, b)


def test_flatten_roundtrip():
    x = np.arange(2 * 3 * 2 * 2, dtype=np.float32).reshape(2, 3, 2, 2)
    y = F.flatten(x)
    assert y.shape == (2, 12)
    assert y[1, 1 * 4 + 1 * 2 + 0] == x[1, 1, 1, 0]  # feature c*H*W + i*W + j
    np.testing.assert_array_equal(F.flatten_backward(y, x.shape), x)


@pytest.mark.parametrize(
    "call,exc,msg",
    [
        (
            lambda: F.dense(np.zeros((2, 120)), np.zeros((84, 10))),
            ValueError,
            "x has 120 features but w expects 84",
        ),
        (lambda: F.dense(np.zeros(120), np.zeros((120, 10))), ValueError, "rank 2"),
        (lambda: F.dense(np.zeros((2, 4), int), np.zeros((4, 3))), TypeError, "float32 or float64"),
        (
            lambda: F.dense(np.zeros((2, 4)), np.zeros((4, 3), np.float32)),
            TypeError,
            "one float dtype",
        ),
        (
            lambda: F.dense(np.zeros((2, 4)), np.zeros((4, 3)), np.zeros(4)),
            ValueError,
            "b of shape",
        ),
        (
            lambda: F.dense_backward(np.zeros((2, 4)), np.zeros((2, 4)), np.zeros((4, 3))),
            ValueError,
            "dy of shape",
        ),
        (
            lambda: F.dense_backward(np.zeros((2, 3)), np.zeros((2, 5)), np.zeros((4, 3))),
            ValueError,
            "5 features but w expects 4",
        ),
        (lambda: F.flatten(np.zeros(3)), ValueError, "rank >= 2"),
        (lambda: F.flatten_backward(np.zeros((2, 5)), (2, 3, 2)), ValueError, "does not flatten"),
    ],
)
def test_bad_input_one_line_errors(call, exc, msg):
    with pytest.raises(exc, match=msg) as e:
        call()
    assert "\n" not in str(e.value) and str(e.value).split(":")[0] in (
        "dense",
        "dense_backward",
        "flatten",
        "flatten_backward",
    )
