"""LRN against the lecture's formula by hand, the reference, finite differences, PyTorch."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnnsim import functional as F
from cnnsim.testing import naive
from cnnsim.testing.gradcheck import gradcheck, probe_for


def test_first_and_last_maps_by_hand():
    # f_n = 4 maps, r = 5 (r//2 = 2): the sum is cut by max(0, i-2) and min(i+2, 3)
    a = np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 4, 1, 1)
    y = F.lrn(a, r=5, k=1.0, alpha=1.0, beta=1.0)[0, :, 0, 0]
    # i=0: j = 0..2 -> 1+4+9;  i=1, i=2: j = 0..3 -> 30;  i=3 (last): j = 1..3 -> 4+9+16
    np.testing.assert_allclose(y, [1 / 15, 2 / 31, 3 / 31, 4 / 30], rtol=1e-15)
    # AlexNet's parameters, r = 3: first map sums a_0, a_1; last map a_2, a_3
    y = F.lrn(a, r=3, k=2.0, alpha=1e-4, beta=0.75)[0, :, 0, 0]
    want = [
        1 * (2 + 1e-4 * (1 + 4)) ** -0.75,
        2 * (2 + 1e-4 * (1 + 4 + 9)) ** -0.75,
        3 * (2 + 1e-4 * (4 + 9 + 16)) ** -0.75,
        4 * (2 + 1e-4 * (9 + 16)) ** -0.75,
    ]
    np.testing.assert_allclose(y, want, rtol=1e-14)
    np.testing.assert_allclose(naive.lrn(a, 3, 2.0, 1e-4, 0.75)[0, :, 0, 0], want, rtol=1e-14)


def test_r_one_normalizes_each_map_by_itself_and_even_r_means_radius_r_over_2():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 6, 2, 3))
    np.testing.assert_allclose(F.lrn(x, 1, 1.0, 0.5, 0.5), x / np.sqrt(1 + 0.5 * x**2), rtol=1e-14)
    # r even: window i - r//2 .. i + r//2 (r + 1 maps): r=4 behaves as r=5
    np.testing.assert_array_equal(F.lrn(x, 4, 1.0, 0.5, 0.5), F.lrn(x, 5, 1.0, 0.5, 0.5))
    # a window wider than the stack covers all maps: every map shares one base
    xs = F.lrn(x, 99, 1.0, 0.5, 1.0)
    np.testing.assert_allclose(xs, x / (1 + 0.5 * (x**2).sum(axis=1, keepdims=True)), rtol=1e-14)


@st.composite
def lrn_case(draw):
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 9))
    h, w = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    r = draw(st.integers(1, 11))
    k = draw(st.sampled_from([2.0, 1.0, 0.5]))
    alpha = draw(st.sampled_from([1e-4, 0.1, 1.0, 0.0]))
    beta = draw(st.sampled_from([0.75, 0.5, 1.0, 2.0]))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    scale = draw(st.sampled_from([1.0, 10.0]))
    seed = draw(st.integers(0, 2**31))
    return n, c, h, w, r, k, alpha, beta, dtype, scale, seed


def _check_lrn(case):
    n, c, h, w, r, k, alpha, beta, dtype, scale, seed = case
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, c, h, w)) * scale).astype(dtype)
    dy = rng.standard_normal(x.shape).astype(dtype)
    tol = 2e-5 if dtype == np.float32 else 1e-11
    y = F.lrn(x, r, k, alpha, beta)
    assert y.dtype == dtype and y.shape == x.shape
    np.testing.assert_allclose(y, naive.lrn(x, r, k, alpha, beta), rtol=tol, atol=tol)
    dx = F.lrn_backward(dy, x, r, k, alpha, beta)
    assert dx.dtype == dtype
    np.testing.assert_allclose(dx, naive.lrn_backward(dy, x, r, k, alpha, beta), rtol=tol, atol=tol)


@given(lrn_case())
def test_lrn_matches_reference(case):
    _check_lrn(case)


@pytest.mark.thorough
@given(lrn_case())
def test_lrn_matches_reference_thorough(case):
    _check_lrn(case)


@pytest.mark.parametrize(
    "r,k,alpha,beta",
    [(5, 2.0, 1e-4, 0.75), (3, 1.0, 0.5, 0.75), (2, 0.5, 1.0, 1.5), (1, 1.0, 2.0, 0.5)],
)
def test_lrn_backward_finite_differences(r, k, alpha, beta, rng):
    x = rng.standard_normal((2, 6, 3, 2)) * 1.5
    fn = lambda x: F.lrn(x, r, k, alpha, beta)
    dx = F.lrn_backward(probe_for(x.shape), x, r, k, alpha, beta)
    rep = gradcheck(fn, x, grads=(dx,))
    assert rep.ok, str(rep)
    np.testing.assert_allclose(
        dx, naive.lrn_backward(probe_for(x.shape), x, r, k, alpha, beta), rtol=1e-11, atol=1e-12
    )


@pytest.mark.parametrize("r", [1, 3, 5, 7])
def test_lrn_matches_pytorch_with_the_documented_mapping(r):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(r)
    x = rng.standard_normal((2, 8, 4, 5)) * 3
    k, alpha, beta = 2.0, 1e-2, 0.75
    xt = torch.from_numpy(x).requires_grad_(True)
    yt = torch.nn.LocalResponseNorm(size=r, alpha=alpha * r, beta=beta, k=k)(xt)
    np.testing.assert_allclose(F.lrn(x, r, k, alpha, beta), yt.detach().numpy(), rtol=1e-10)
    dy = rng.standard_normal(x.shape)
    yt.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(
        F.lrn_backward(dy, x, r, k, alpha, beta), xt.grad.numpy(), rtol=1e-9, atol=1e-12
    )


def test_lrn_running_sum_stays_accurate_in_float32():
    # a huge map early in the stack, tiny ones after it: the running window sum must not
    # leave the huge square behind once the window has moved past it
    x = np.full((1, 12, 1, 3), 1e-2, np.float32)
    x[0, 0] = 3e3
    y = F.lrn(x, 3, 1e-3, 1.0, 0.75)
    np.testing.assert_allclose(y, naive.lrn(x.astype(np.float64), 3, 1e-3, 1.0, 0.75), rtol=1e-5)


@pytest.mark.parametrize(
    "kwargs,exc,msg",
    [
        ({"r": 0}, ValueError, "r .* must be positive"),
        ({"r": 2.0}, TypeError, "r .* must be an integer"),
        ({"k": 0.0}, ValueError, "k must be > 0"),
        ({"k": "two"}, TypeError, "k must be a number"),
        ({"alpha": -1e-4}, ValueError, "alpha must be >= 0"),
        ({"beta": float("nan")}, ValueError, "beta must be finite"),
    ],
)
def test_lrn_bad_params(kwargs, exc, msg):
    x = np.zeros((1, 3, 2, 2))
    for fn, args in ((F.lrn, (x,)), (F.lrn_backward, (x, x))):
        with pytest.raises(exc, match=msg) as e:
            fn(*args, **kwargs)
        assert "\n" not in str(e.value) and str(e.value).startswith(fn.__name__)


@pytest.mark.parametrize(
    "call,exc,msg",
    [
        (lambda: F.lrn(np.zeros((3, 2, 2))), ValueError, "rank 4"),
        (lambda: F.lrn(np.zeros((1, 3, 2, 2), np.int64)), TypeError, "float32 or float64"),
        (
            lambda: F.lrn_backward(np.zeros((1, 3, 2, 1)), np.zeros((1, 3, 2, 2))),
            ValueError,
            "dy of shape",
        ),
        (
            lambda: F.lrn_backward(np.zeros((1, 3, 2, 2), np.float32), np.zeros((1, 3, 2, 2))),
            TypeError,
            "one float dtype",
        ),
    ],
)
def test_lrn_bad_arrays(call, exc, msg):
    with pytest.raises(exc, match=msg) as e:
        call()
    assert "\n" not in str(e.value) and str(e.value).startswith("lrn")


def test_lrn_deterministic_across_threads(monkeypatch):
    from cnnsim import config

    monkeypatch.setattr(config, "serial_work", 0)  # small calls must really run in parallel
    import numba

    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 10, 5, 7)).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    before = numba.get_num_threads()
    outs = []
    for t in sorted({1, before}):
        numba.set_num_threads(t)
        outs.append((F.lrn(x), F.lrn_backward(dy, x)))
    numba.set_num_threads(before)
    for a, b in zip(outs[0], outs[-1]):
        np.testing.assert_array_equal(a, b)
