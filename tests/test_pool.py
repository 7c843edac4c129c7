"""Max/avg pooling against the independent reference, the lecture's cases, finite differences."""

import numpy as np
import pytest
from cases import padding_st
from hypothesis import given
from hypothesis import strategies as st

from cnnsim import functional as F
from cnnsim import geometry
from cnnsim.testing import naive
from cnnsim.testing.gradcheck import gradcheck, probe_for


def test_2x2_stride_2_max_pooling_passes_25_percent():
    # the lecture: 2x2 max pooling with stride 2 drops 75% of its inputs
    rng = np.random.default_rng(0)
    x = rng.permutation(2 * 3 * 8 * 6).astype(np.float64).reshape(2, 3, 8, 6)  # tie-free
    y = F.max_pool2d(x)
    assert y.shape == (2, 3, 4, 3)
    dx = F.max_pool2d_backward(np.ones_like(y), x)
    assert np.count_nonzero(dx) == x.size // 4
    assert set(np.unique(dx)) == {0.0, 1.0}
    # every 2x2 block passes exactly one input: its max
    blocks = dx.reshape(2, 3, 4, 2, 3, 2).sum(axis=(3, 5))
    np.testing.assert_array_equal(blocks, 1.0)
    np.testing.assert_array_equal(y, x.reshape(2, 3, 4, 2, 3, 2).max(axis=(3, 5)))


def test_hand_worked_max_and_avg():
    x = np.array(
        [[1.0, 3.0, 2.0, 0.0], [4.0, 2.0, 1.0, 5.0], [0.0, 1.0, 7.0, 2.0], [6.0, 2.0, 3.0, 3.0]]
    ).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(F.max_pool2d(x)[0, 0], [[4.0, 5.0], [6.0, 7.0]])
    np.testing.assert_array_equal(F.avg_pool2d(x)[0, 0], [[2.5, 2.0], [2.25, 3.75]])
    # winners as flat indices into the 4x4 map: (1,0)=4, (1,3)=7, (3,0)=12, (2,2)=10
    np.testing.assert_array_equal(F.max_pool2d_argmax(x)[0, 0], [[4, 7], [12, 10]])


def test_ties_send_gradient_to_first_maximum_in_row_major_order():
    x = np.array(
        [[0.0, 5.0, 5.0, 1.0], [5.0, 5.0, 1.0, 1.0], [2.0, 2.0, 3.0, 3.0], [2.0, 2.0, 3.0, 3.0]]
    ).reshape(1, 1, 4, 4)
    dx = F.max_pool2d_backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), x)
    want = np.zeros((4, 4))
    want[0, 1] = 1.0  # window (0,0): maxima at (0,1), (1,0), (1,1): first is (0,1)
    want[0, 2] = 2.0  # window (0,1): maxima at (0,2) only
    want[2, 0] = 3.0  # all four equal: the top-left one
    want[2, 2] = 4.0
    np.testing.assert_array_equal(dx[0, 0], want)
    np.testing.assert_array_equal(F.max_pool2d_argmax(x)[0, 0], [[1, 2], [8, 10]])
    # overlapping windows sharing a tied maximum: each window picks its own first maximum
    z = np.ones((1, 1, 3, 3))
    dz = F.max_pool2d_backward(np.ones((1, 1, 2, 2)), z, size=2, stride=1)
    np.testing.assert_array_equal(dz[0, 0], [[1, 1, 0], [1, 1, 0], [0, 0, 0]])
    np.testing.assert_array_equal(dz, naive.max_pool2d_backward(np.ones((1, 1, 2, 2)), z, 2, 1))


def test_padding_never_wins_a_max():
    rng = np.random.default_rng(1)
    x = -1.0 - rng.random((2, 3, 5, 5))  # all negative: zero padding would win
    for pad in ("same", 1, (1, 0, 2, 1)):
        y = F.max_pool2d(x, 3, 2, pad)
        assert (y < 0).all(), pad
        np.testing.assert_array_equal(y, naive.max_pool2d(x, 3, 2, pad))
        dx = F.max_pool2d_backward(np.ones_like(y), x, 3, 2, pad)
        assert dx.sum() == y.size  # every gradient lands on a real input
    idx = F.max_pool2d_argmax(x, 3, 2, "same")
    assert idx.min() >= 0 and idx.max() < 25


def test_avg_counts_only_real_cells():
    x = np.ones((1, 1, 5, 5))
    y = F.avg_pool2d(x, 3, 2, "same")  # corners overlap the padding
    np.testing.assert_array_equal(y, 1.0)  # zero padding would pull them below 1
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    y = F.avg_pool2d(x, 2, 2, "same")  # 3x3 -> 2x2, padding bottom/right
    np.testing.assert_array_equal(y[0, 0], [[(0 + 1 + 3 + 4) / 4, (2 + 5) / 2], [(6 + 7) / 2, 8.0]])
    dx = F.avg_pool2d_backward(np.ones((1, 1, 2, 2)), x, 2, 2, "same")
    np.testing.assert_array_equal(dx[0, 0], [[0.25, 0.25, 0.5], [0.25, 0.25, 0.5], [0.5, 0.5, 1.0]])


def test_window_entirely_in_padding_outputs_zero_and_passes_nothing():
    # explicit padding >= size can place a window wholly in the padding ("valid"/"same" cannot)
    x = -np.ones((1, 1, 2, 2))
    for fwd, bwd, grad in (
        (F.max_pool2d, F.max_pool2d_backward, [[1.0, 0.0], [0.0, 0.0]]),
        (F.avg_pool2d, F.avg_pool2d_backward, [[0.25, 0.25], [0.25, 0.25]]),
    ):
        y = fwd(x, 2, 2, 2)  # 2x2 input padded to 6x6 -> 3x3 windows
        assert y.shape == (1, 1, 3, 3)
        # only the centre window holds real cells; the eight others lie in the padding
        np.testing.assert_array_equal(y[0, 0], [[0, 0, 0], [0, -1, 0], [0, 0, 0]])
        dx = bwd(np.ones_like(y), x, 2, 2, 2)  # only the centre window's gradient arrives
        np.testing.assert_array_equal(dx[0, 0], grad)
    assert F.max_pool2d_argmax(x, 2, 2, 2)[0, 0, 0, 0] == -1
    np.testing.assert_array_equal(F.max_pool2d(x, 2, 2, 2), naive.max_pool2d(x, 2, 2, 2))


def test_nan_propagates_through_max():
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 1, 1] = np.nan
    x[0, 0, 0, 0] = 5.0
    y = F.max_pool2d(x)
    assert np.isnan(y[0, 0, 0, 0]) and not np.isnan(y[0, 0, 1:, 1:]).any()
    assert F.max_pool2d_argmax(x)[0, 0, 0, 0] == 5


def test_nan_rule_applies_to_the_map_that_holds_the_nan(rng):
    # the CPU kernels look for NaN map by map; the other maps are pooled as usual
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    clean = x.copy()
    x[1, 2, 2, 2] = np.nan  # in all four 3x3/2 windows
    y = F.max_pool2d(x, 3, 2)
    ref = naive.max_pool2d(clean, 3, 2)
    mask = np.ones(y.shape, bool)
    mask[1, 2, :2, :2] = False  # the windows that contain the NaN
    np.testing.assert_array_equal(y[mask], ref[mask])
    assert np.isnan(y[1, 2, :2, :2]).all()
    assert (F.max_pool2d_argmax(x, 3, 2)[1, 2, :2, :2] == 2 * 6 + 2).all()
    dx = F.max_pool2d_backward(np.ones_like(y), x, 3, 2)
    assert dx[1, 2, 2, 2] == 4  # all four windows send their gradient there
    np.testing.assert_array_equal(dx[0], F.max_pool2d_backward(np.ones_like(y), clean, 3, 2)[0])


def test_alexnet_overlapping_pool_shapes():
    x = np.zeros((1, 2, 55, 55), np.float32)
    assert F.max_pool2d(x, 3, 2).shape == (1, 2, 27, 27)
    assert F.max_pool2d(x, 3, 2).dtype == np.float32


@st.composite
def pool_case(draw):
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    size = draw(st.one_of(st.integers(1, 4), st.tuples(st.integers(1, 4), st.integers(1, 4))))
    stride = draw(
        st.one_of(st.none(), st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3)))
    )
    pad = draw(padding_st)
    h, w = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    kh, kw = geometry.pair(size)
    sh, sw = geometry.pair(size if stride is None else stride)
    t, b, l, r = geometry.normalize_padding(pad, (h, w), (kh, kw), (sh, sw))
    if h + t + b < kh or w + l + r < kw:
        h, w = kh + 1, kw + 2  # keep the geometry possible (impossible ones are tested apart)
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    ties = draw(st.booleans())
    seed = draw(st.integers(0, 2**31))
    return n, c, h, w, size, stride, pad, dtype, ties, seed


def _check_pool(case):
    n, c, h, w, size, stride, pad, dtype, ties, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    if ties:
        x = np.round(x)  # many ties: checks the first-maximum rule
    x = x.astype(dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    y = F.max_pool2d(x, size, stride, pad)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, naive.max_pool2d(x, size, stride, pad))
    dy = rng.standard_normal(y.shape).astype(dtype)
    np.testing.assert_allclose(
        F.max_pool2d_backward(dy, x, size, stride, pad),
        naive.max_pool2d_backward(dy, x, size, stride, pad),
        rtol=tol,
        atol=tol,
    )
    idx = F.max_pool2d_argmax(x, size, stride, pad)
    flat = x.reshape(n, c, h * w)
    got = np.where(
        idx >= 0,
        np.take_along_axis(flat, np.maximum(idx, 0).reshape(n, c, -1), 2).reshape(idx.shape),
        0,
    )
    np.testing.assert_array_equal(got, y)
    # the one-pass forward gives the same two, and a backward from its winners the same bits
    y1, idx1 = F.max_pool2d_with_indices(x, size, stride, pad)
    np.testing.assert_array_equal(y1, y)
    np.testing.assert_array_equal(idx1, idx)
    np.testing.assert_array_equal(
        F.max_pool2d_backward(dy, x, size, stride, pad, indices=idx1),
        F.max_pool2d_backward(dy, x, size, stride, pad),
    )
    ya = F.avg_pool2d(x, size, stride, pad)
    assert ya.dtype == dtype
    np.testing.assert_allclose(ya, naive.avg_pool2d(x, size, stride, pad), rtol=tol, atol=tol)
    np.testing.assert_allclose(
        F.avg_pool2d_backward(dy, x, size, stride, pad),
        naive.avg_pool2d_backward(dy, x, size, stride, pad),
        rtol=tol,
        atol=tol,
    )


@given(pool_case())
def test_pool_matches_reference(case):
    _check_pool(case)


@pytest.mark.thorough
@given(pool_case())
def test_pool_matches_reference_thorough(case):
    _check_pool(case)


@pytest.mark.parametrize(
    "size,stride,padding",
    [
        (2, None, "valid"),
        (3, 2, "same"),
        (3, 2, "valid"),
        ((3, 2), (1, 2), (1, 0, 2, 1)),
        (2, 1, 1),
    ],
)
def test_pool_backward_finite_differences(size, stride, padding, rng):
    x = rng.standard_normal((2, 2, 6, 5))  # continuous values: no ties, max is differentiable
    for fwd, bwd in ((F.max_pool2d, F.max_pool2d_backward), (F.avg_pool2d, F.avg_pool2d_backward)):
        fn = lambda x, fwd=fwd: fwd(x, size, stride, padding)
        dx = bwd(probe_for(fn(x).shape), x, size, stride, padding)
        rep = gradcheck(fn, x, grads=(dx,))
        assert rep.ok, f"{fwd.__name__}: {rep}"


@pytest.mark.parametrize("name", ["max_pool2d", "avg_pool2d", "max_pool2d_argmax"])
@pytest.mark.parametrize(
    "kwargs,x,exc,msg",
    [
        ({}, np.zeros((3, 5, 5)), ValueError, "rank 4"),
        ({}, np.zeros((1, 1, 4, 4), dtype=np.int32), TypeError, "float32 or float64"),
        ({"size": 3}, np.zeros((1, 1, 2, 5)), ValueError, "larger than the padded input"),
        ({"stride": 0}, np.zeros((1, 1, 4, 4)), ValueError, "stride must be positive"),
        ({"stride": (1, -1)}, np.zeros((1, 1, 4, 4)), ValueError, "stride must be positive"),
        ({"size": 0}, np.zeros((1, 1, 4, 4)), ValueError, "kernel size must be positive"),
        ({"padding": "full"}, np.zeros((1, 1, 4, 4)), ValueError, "unknown padding"),
        ({"padding": -1}, np.zeros((1, 1, 4, 4)), ValueError, "non-negative"),
        ({"size": 2.5}, np.zeros((1, 1, 4, 4)), TypeError, "integers"),
    ],
)
def test_pool_bad_input_one_line_errors(name, kwargs, x, exc, msg):
    with pytest.raises(exc, match=msg) as e:
        getattr(F, name)(x, **kwargs)
    assert "\n" not in str(e.value) and str(e.value).startswith(name)


@pytest.mark.parametrize("name", ["max_pool2d_backward", "avg_pool2d_backward"])
def test_pool_backward_bad_dy(name):
    x = np.zeros((1, 2, 4, 4))
    with pytest.raises(ValueError, match=r"dy of shape \(1, 2, 2, 2\)") as e:
        getattr(F, name)(np.zeros((1, 2, 3, 3)), x)
    assert str(e.value).startswith(name) and "\n" not in str(e.value)
    with pytest.raises(TypeError, match="one float dtype"):
        getattr(F, name)(np.zeros((1, 2, 2, 2), np.float32), x)


def test_pool_deterministic_across_threads(monkeypatch):
    from cnnsim import config

    monkeypatch.setattr(config, "serial_work", 0)  # small calls must really run in parallel
    import numba

    rng = np.random.default_rng(0)
    x = np.round(rng.standard_normal((2, 4, 9, 9)) * 2).astype(np.float32)
    dy = rng.standard_normal((2, 4, 4, 4)).astype(np.float32)
    before = numba.get_num_threads()
    outs = []
    for t in sorted({1, before}):
        numba.set_num_threads(t)
        outs.append(
            (
                F.max_pool2d(x, 3, 2),
                F.max_pool2d_backward(dy, x, 3, 2),
                F.avg_pool2d(x, 3, 2),
                F.avg_pool2d_backward(dy, x, 3, 2),
            )
        )
    numba.set_num_threads(before)
    for a, b in zip(outs[0], outs[-1]):
        np.testing.assert_array_equal(a, b)


def test_max_pool_backward_from_indices_refuses_wrong_ones():
    x = np.zeros((1, 2, 4, 4))
    dy = np.ones((1, 2, 2, 2))
    for bad in (np.zeros((1, 2, 3, 3), np.int64), np.zeros((1, 2, 2, 2), np.int32)):
        with pytest.raises(ValueError, match="expected indices of shape") as e:
            F.max_pool2d_backward(dy, x, 2, indices=bad)
        assert str(e.value).startswith("max_pool2d_backward") and "\n" not in str(e.value)


def test_max_pool_layer_training_keeps_winners_and_matches_the_scan(rng):
    """In training the layer keeps the forward's winners and its backward uses them; the
    output and the gradient are the bits of the inference-time forward and the scanning
    backward (overlapping 3x3/2 windows, ties, NaN in one map)."""
    from cnnsim import layers as L

    pool = L.MaxPool2D(3, 2, padding="same")
    pool.build((3, 9, 9))
    x = np.round(rng.standard_normal((2, 3, 9, 9)) * 2).astype(np.float32)
    x[1, 2, 4, 4] = np.nan
    y_eval = pool(x, False)
    dy = rng.standard_normal(y_eval.shape).astype(np.float32)
    dx_scan = pool.backprop(dy)
    assert pool._winners is None
    y_train = pool(x, True)
    assert pool._winners is not None
    np.testing.assert_array_equal(y_train, y_eval)
    np.testing.assert_array_equal(pool.backprop(dy), dx_scan)
