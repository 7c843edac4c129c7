"""conv2d against the independent reference, the lecture's example, finite differences."""

import numpy as np
import pytest
from cases import padding_st
from hypothesis import given
from hypothesis import strategies as st

from cnnsim import functional as F
from cnnsim import geometry
from cnnsim.kernels import conv as conv_kernels
from cnnsim.testing import naive
from cnnsim.testing.gradcheck import gradcheck, probe_for


def test_lecture_5x7_to_3x4():
    # Géron fig. 14-4: 5x7 input, zero padding, 3x3 fields, stride 2 -> 3x4 layer
    x = np.arange(35, dtype=np.float64).reshape(1, 1, 5, 7)
    w = np.ones((1, 1, 3, 3))
    y = F.conv2d(x, w, stride=2, padding="same")
    assert y.shape == (1, 1, 3, 4)
    win = geometry.window((5, 7), 3, 2, "same")
    assert win.pads == (1, 1, 1, 1) and win.out_hw == (3, 4)
    # neuron (1, 2) reads rows 1*2-1 .. 1*2+1 = 1..3 and columns 3..5 of the input
    assert win.rows(1) == [1, 2, 3] and win.cols(2) == [3, 4, 5]
    assert y[0, 0, 1, 2] == x[0, 0, 1:4, 3:6].sum()
    # corner neuron (0, 0): the padding contributes zeros
    assert y[0, 0, 0, 0] == x[0, 0, 0:2, 0:2].sum()
    np.testing.assert_array_equal(y, naive.conv2d(x, w, None, 2, "same"))


def test_same_padding_puts_odd_extra_bottom_right():
    assert geometry.pad_amounts(6, 3, 2, "same") == (0, 1)
    assert geometry.pad_amounts(224, 11, 4, "same") == (3, 4)
    assert geometry.output_size(224, 11, 4, "same") == 56


def _table_dtype_seed(draw, c, f):
    """The tail of every conv case: a connection table (or None), a dtype, a seed."""
    table = draw(
        st.one_of(
            st.none(),
            st.lists(st.lists(st.booleans(), min_size=c, max_size=c), min_size=f, max_size=f),
        )
    )
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    seed = draw(st.integers(0, 2**31))
    return table, dtype, seed


@st.composite
def conv_case(draw):
    n, c, f = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    fh, fw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    pad = draw(padding_st)
    h, w = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    t, b, l, r = geometry.normalize_padding(pad, (h, w), (fh, fw), (sh, sw))
    if h + t + b < fh or w + l + r < fw:
        h, w = fh + 1, fw + 2  # keep the geometry possible (impossible ones are tested apart)
    table, dtype, seed = _table_dtype_seed(draw, c, f)
    return n, c, f, h, w, (fh, fw), (sh, sw), pad, table, dtype, seed


@st.composite
def lane_case(draw):
    """Stride-1 batches wide enough for the batch-lane layout (kernels.conv._lanes)."""
    n, c, f = draw(st.integers(8, 20)), draw(st.integers(1, 5)), draw(st.integers(1, 10))
    fh, fw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    pad = draw(padding_st)
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    t, b, l, r = geometry.normalize_padding(pad, (h, w), (fh, fw), (1, 1))
    if h + t + b < fh or w + l + r < fw:
        h, w = fh + 1, fw + 2
    wo = w + l + r - fw + 1
    n = max(n, -(-conv_kernels.LANES_MIN // wo))
    table, dtype, seed = _table_dtype_seed(draw, c, f)
    return n, c, f, h, w, (fh, fw), (1, 1), pad, table, dtype, seed


@pytest.mark.thorough
@given(lane_case())
def test_conv_batch_lane_path_matches_reference_thorough(case):
    _check_lane_case(case)


@given(lane_case())
def test_conv_batch_lane_path_matches_reference(case):
    _check_lane_case(case)


def _check_lane_case(case):
    n, w, k = case[0], case[4], case[5]
    pads = geometry.normalize_padding(case[7], (case[3], w), k, (1, 1))
    wo = w + pads[2] + pads[3] - k[1] + 1
    assert conv_kernels._lanes(n, wo, 1, 1)  # the path under test
    _check_against_reference(case)


@pytest.mark.parametrize(
    "n,c,f,hw,k,s,pad,lanes,scatter,wide",
    [
        (8, 20, 21, 8, 3, 1, "same", True, False, True),  # lanes; 5-map blocks; dx correlates
        (16, 3, 5, 8, 3, 1, "valid", True, True, False),  # lanes; 3-map blocks; dx scatters
        (16, 2, 4, 6, 3, 1, 3, True, False, False),  # lanes; pad > K-1: dy cropped
        (1, 20, 21, 9, 3, 2, "same", False, None, True),  # phase planes, strided, 5-map
    ],
)
def test_conv_every_kernel_path_matches_reference(n, c, f, hw, k, s, pad, lanes, scatter, wide):
    from cnnsim.kernels.conv.blocked import block_shape
    from cnnsim.kernels.conv.simd import VEC_REGS

    t, b, l, r = geometry.normalize_padding(pad, (hw, hw), (k, k), (s, s))
    ho = (hw + t + b - k) // s + 1
    assert conv_kernels._lanes(n, ho, s, s) == lanes
    if scatter is not None:
        assert conv_kernels._scatter_dx(ho * ho, hw * hw, c) == scatter
    if VEC_REGS == 0:  # the blocked loops: 5-map blocks from WIDE_MIN_MAPS maps
        assert (block_shape(f)[0] == 5) == wide
    else:  # the register tiles: the width that pads the fewest maps
        fb = block_shape(f)[0]
        assert fb in ((6, 8) if VEC_REGS >= 32 else (3, 4))
        assert -(-f // fb) * fb == min(
            -(-f // a) * a for a in ((6, 8) if VEC_REGS >= 32 else (3, 4))
        )
    _check_against_reference((n, c, f, hw, hw, (k, k), (s, s), pad, None, np.float32, 7))
    table = (np.arange(f * c).reshape(f, c) % 3 != 0).tolist()  # a connection table
    _check_against_reference((n, c, f, hw, hw, (k, k), (s, s), pad, table, np.float64, 8))


@pytest.mark.thorough
@given(conv_case())
def test_conv_matches_reference_thorough(case):
    _check_against_reference(case)


@given(conv_case())
def test_conv_matches_reference(case):
    _check_against_reference(case)


def _check_against_reference(case):
    n, c, f, h, w, k, s, pad, table, dtype, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = rng.standard_normal((f, c) + k).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    conn = None if table is None else np.array(table, dtype=bool)
    y = F.conv2d(x, wt, b, s, pad, conn)
    ref = naive.conv2d(x, wt, b, s, pad, conn)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    assert y.dtype == dtype and y.shape == ref.shape
    np.testing.assert_allclose(y, ref, rtol=tol, atol=tol)
    dy = rng.standard_normal(y.shape).astype(dtype)
    grads_ref = naive.conv2d_backward(dy, x, wt, s, pad, conn)
    for got, want in zip(F.conv2d_backward(dy, x, wt, s, pad, conn), grads_ref):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    # both kernel paths, whichever the dispatch chose for this size
    for path in PATHS:
        fwd, bwd = _path_fns(path, s, pad, conn, x.shape[2:], wt.shape)
        np.testing.assert_allclose(fwd(x, wt, b), ref, rtol=tol, atol=tol)
        for got, want in zip(bwd(dy, x, wt), grads_ref):
            np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


PATHS = ("direct", "fast")


def _path_fns(path, stride, padding, conn, hw, wshape):
    """Forward and backward through one path of ``cnnsim.kernels.conv`` (``direct``: the
    plain loops of direct.py; ``fast``: layouts + blocked micro-kernels), bypassing the
    size-based choice so each path is tested on every shape."""
    from cnnsim.functional.conv import connection_mask
    from cnnsim.kernels.conv import direct

    win = geometry.window(hw, wshape[2:], stride, padding)
    mask = connection_mask(conn, wshape[0], wshape[1])
    if path == "direct":
        f, dxf, dwf = direct.forward, direct.backward_input, direct.backward_weight
    else:
        f, dxf, dwf = (
            conv_kernels.fast_forward,
            conv_kernels.fast_backward_input,
            conv_kernels.fast_backward_weight,
        )

    def fwd(x, w, b):
        return f(x, w, b, mask, *win.stride, *win.pads)

    def bwd(dy, x, w):
        dx = dxf(dy, w, mask, x.shape[2], x.shape[3], *win.stride, *win.pads)
        dw = dwf(dy, x, mask, w.shape[2], w.shape[3], *win.stride, *win.pads)
        return dx, dw, direct.bias_grad(dy)

    return fwd, bwd


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    "stride,padding,n",
    [(1, "valid", 2), (2, "same", 2), ((2, 1), (1, 0, 2, 1), 2), (1, (2, 0, 1, 2), 16)],
)  # batch-lane path
def test_conv_path_backward_finite_differences(path, stride, padding, n, rng):
    x = rng.standard_normal((n, 3, 6, 5))
    w = rng.standard_normal((4, 3, 3, 2))
    b = rng.standard_normal(4)
    conn = rng.random((4, 3)) > 0.3
    fn, bwd = _path_fns(path, stride, padding, conn, x.shape[2:], w.shape)
    y = fn(x, w, b)
    rep = gradcheck(fn, x, w, b, grads=bwd(probe_for(y.shape), x, w))
    assert rep.ok, str(rep)


def test_small_calls_take_the_direct_loops():
    assert conv_kernels.use_direct(conv_kernels.DIRECT_MAX_MACS - 1)
    assert not conv_kernels.use_direct(conv_kernels.DIRECT_MAX_MACS)
    assert conv_kernels.use_direct(1 * 2 * 1 * 9 * 3 * 3)  # the small determinism case


@pytest.mark.parametrize(
    "stride,padding,n",
    [(1, "valid", 2), (2, "same", 2), ((2, 1), (1, 0, 2, 1), 2), (1, (2, 0, 1, 2), 16)],
)  # batch-lane path
def test_conv_backward_finite_differences(stride, padding, n, rng):
    x = rng.standard_normal((n, 3, 6, 5))
    w = rng.standard_normal((4, 3, 3, 2))
    b = rng.standard_normal(4)
    conn = rng.random((4, 3)) > 0.3
    fn = lambda x, w, b: F.conv2d(x, w, b, stride, padding, conn)
    y = fn(x, w, b)
    dx, dw, db = F.conv2d_backward(probe_for(y.shape), x, w, stride, padding, conn)
    rep = gradcheck(fn, x, w, b, grads=(dx, dw, db))
    assert rep.ok, str(rep)


@pytest.mark.parametrize(
    "call,exc,msg",
    [
        (lambda: F.conv2d(np.zeros((3, 5, 5)), np.zeros((1, 3, 3, 3))), ValueError, "rank 4"),
        (lambda: F.conv2d(np.zeros((1, 2, 5, 5)), np.zeros((1, 3, 3, 3))), ValueError, "channels"),
        (
            lambda: F.conv2d(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 3, 3))),
            ValueError,
            "larger than the padded input",
        ),
        (
            lambda: F.conv2d(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), stride=0),
            ValueError,
            "stride must be positive",
        ),
        (
            lambda: F.conv2d(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), padding="full"),
            ValueError,
            "unknown padding",
        ),
        (
            lambda: F.conv2d(np.zeros((1, 1, 5, 5), dtype=int), np.zeros((1, 1, 3, 3))),
            TypeError,
            "float32 or float64",
        ),
        (
            lambda: F.conv2d(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), np.zeros(2)),
            ValueError,
            "b of shape",
        ),
        (
            lambda: F.conv2d(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3), np.float32)),
            TypeError,
            "one float dtype",
        ),
        (
            lambda: F.conv2d(
                np.zeros((1, 2, 5, 5)), np.zeros((3, 2, 3, 3)), connections=np.ones((2, 2), bool)
            ),
            ValueError,
            "connection table",
        ),
    ],
)
def test_conv_bad_input_one_line_errors(call, exc, msg):
    with pytest.raises(exc, match=msg) as e:
        call()
    assert "\n" not in str(e.value) and str(e.value).startswith("conv2d")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_full_window_path_matches_reference(dtype, rng):
    # kernel == input size, no padding (LeNet-5's C5): the 1x1-output path, with a table
    x = rng.standard_normal((3, 4, 5, 5)).astype(dtype)
    w = rng.standard_normal((6, 4, 5, 5)).astype(dtype)
    b = rng.standard_normal(6).astype(dtype)
    conn = rng.random((6, 4)) > 0.4
    y = F.conv2d(x, w, b, 1, "valid", conn)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(y, naive.conv2d(x, w, b, 1, "valid", conn), rtol=tol, atol=tol)
    dy = rng.standard_normal(y.shape).astype(dtype)
    for got, want in zip(
        F.conv2d_backward(dy, x, w, 1, "valid", conn),
        naive.conv2d_backward(dy, x, w, 1, "valid", conn),
    ):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    if dtype == np.float64:
        fn = lambda x, w, b: F.conv2d(x, w, b, 1, "valid", conn)
        grads = F.conv2d_backward(probe_for(y.shape), x, w, 1, "valid", conn)
        assert gradcheck(fn, x, w, b, grads=grads).ok


def test_conv_deterministic_across_threads(monkeypatch):
    import numba

    from cnnsim import config

    monkeypatch.setattr(config, "serial_work", 0)  # small calls must really run in parallel
    rng = np.random.default_rng(0)
    for n, c, f, hw in ((1, 1, 2, 5), (3, 4, 9, 9), (12, 4, 9, 9)):  # direct, image, lanes
        x = rng.standard_normal((n, c, hw, hw)).astype(np.float32)
        w = rng.standard_normal((f, c, 3, 3)).astype(np.float32)
        dy = rng.standard_normal((n, f, hw - 2, hw - 2)).astype(np.float32)
        before = numba.get_num_threads()
        outs = []
        for t in sorted({1, 2, before}):
            numba.set_num_threads(t)
            outs.append((F.conv2d(x, w), *F.conv2d_backward(dy, x, w)))
        numba.set_num_threads(before)
        for out in outs[1:]:
            for a, b in zip(outs[0], out):
                np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("size", [0, 1, 5, (1 << 16) + 3, 3 * (1 << 16)])
def test_all_finite_finds_one_bad_number_anywhere(size):
    """The finiteness check that sends non-finite inputs to the definition loops: one NaN
    or inf anywhere (first, last, a chunk border) in arrays of one or several chunks."""
    from cnnsim.kernels.conv.direct import FINITE_CHUNK, all_finite

    a = np.linspace(-3e38, 3e38, size).astype(np.float32)
    assert all_finite(a.reshape(-1, 1))
    for bad in (np.nan, np.inf, -np.inf):
        for where in {0, size // 2, FINITE_CHUNK - 1, FINITE_CHUNK, size - 1}:
            if 0 <= where < size:
                b = a.copy()
                b[where] = bad
                assert not all_finite(b), (bad, where)


@pytest.mark.parametrize("use_bias", [True, False])
def test_layer_without_bias_skips_the_bias_gradient(use_bias, rng, monkeypatch):
    """``F.conv2d_backward(bias_grad=False)`` returns ``db = None`` and the same ``dx`` and
    ``dw`` bits; a ``Conv2D`` without a bias never calls the bias-gradient kernel."""
    from cnnsim import layers as L

    x = rng.standard_normal((4, 8, 9, 9)).astype(np.float32)
    w = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)
    dy = rng.standard_normal((4, 16, 9, 9)).astype(np.float32)
    full = F.conv2d_backward(dy, x, w, 1, "same")
    part = F.conv2d_backward(dy, x, w, 1, "same", bias_grad=False)
    assert part[2] is None and full[2].shape == (16,)
    for got, want in zip(part[:2], full[:2]):
        np.testing.assert_array_equal(got, want)
    calls = []
    real = conv_kernels.conv2d_bias_grad
    monkeypatch.setattr(conv_kernels, "conv2d_bias_grad", lambda d: calls.append(1) or real(d))
    layer = L.Conv2D(16, 3, padding="same", use_bias=use_bias)
    layer.build((8, 9, 9), rng=0)
    layer.forward(x, training=True)
    layer.backward(dy)
    assert len(calls) == int(use_bias)
    assert ("b" in layer.grads) == use_bias


# (what, N, C, F, H, K, stride, pads): one case per fast path of kernels.conv
FAST_PATHS = [
    ("register tile", 4, 40, 48, 12, 3, 1, (1, 1, 1, 1)),
    ("register tile, stride 2 (dx by stride phases)", 4, 48, 40, 11, 3, 2, (1, 1, 1, 1)),
    ("1x1 product", 2, 24, 10, 6, 1, 1, (0, 0, 0, 0)),
    ("batch lanes", 16, 3, 5, 8, 3, 1, (0, 0, 0, 0)),
    ("phase planes", 1, 20, 21, 9, 3, 2, (1, 1, 1, 1)),
    ("full window", 8, 6, 30, 5, 5, 1, (0, 0, 0, 0)),
]


@pytest.mark.parametrize("bad", [np.inf, np.nan])
@pytest.mark.parametrize("where", ["x", "w", "dy"])
@pytest.mark.parametrize("case", FAST_PATHS, ids=[c[0] for c in FAST_PATHS])
def test_non_finite_inputs_leave_every_fast_path_for_the_definition(case, where, bad, rng):
    """An inf or NaN anywhere in an input of a fast path: the path declines (None: the
    register tile notices while copying, the others check first) and the entry point
    returns the definition loops' numbers (``direct.py``, which visits no padding, junk
    position or disconnected weight), NaN for NaN."""
    from cnnsim.kernels.conv import direct

    _, n, c, f, h, k, s, pads = case
    x = rng.standard_normal((n, c, h, h)).astype(np.float32)
    w = rng.standard_normal((f, c, k, k)).astype(np.float32)
    b = rng.standard_normal(f).astype(np.float32)
    mask = (rng.random((f, c)) < 0.8).astype(np.uint8)
    ho = (h + pads[0] + pads[1] - k) // s + 1
    dy = rng.standard_normal((n, f, ho, ho)).astype(np.float32)
    if case[0].startswith("register tile"):  # the paths that check while they copy
        from cnnsim.kernels.conv import regtile

        assert regtile.applies(f, ho * n, 4, s, s, k, k) and regtile.applies_dw(f, c, k, k, 4, s, s)
        assert regtile.applies_dx(c, h, n, 4, s, s, k, k, *pads) or conv_kernels._phases_on_tile(
            c, n, ho, ho, 4, s, s, k, k
        )
    target = {"x": x, "w": w, "dy": dy}[where]
    if where == "w":  # a weight inside the connection table (no path reads one outside it)
        fi, ci = np.argwhere(mask == 1)[rng.integers(int(mask.sum()))]
        target[fi, ci].reshape(-1)[rng.integers(k * k)] = bad
    else:
        target.reshape(-1)[rng.integers(target.size)] = bad
    geo = (s, s, *pads)
    calls = {
        "forward": (
            lambda: conv_kernels.fast_forward(x, w, b, mask, *geo),
            lambda: conv_kernels.conv2d_forward(x, w, b, mask, *geo),
            lambda: direct.forward(x, w, b, mask, *geo),
            ("x", "w"),
        ),
        "dx": (
            lambda: conv_kernels.fast_backward_input(dy, w, mask, h, h, *geo),
            lambda: conv_kernels.conv2d_backward_input(dy, w, mask, h, h, *geo),
            lambda: direct.backward_input(dy, w, mask, h, h, *geo),
            ("dy", "w"),
        ),
        "dw": (
            lambda: conv_kernels.fast_backward_weight(dy, x, mask, k, k, *geo),
            lambda: conv_kernels.conv2d_backward_weight(dy, x, mask, k, k, *geo),
            lambda: direct.backward_weight(dy, x, mask, k, k, *geo),
            ("dy", "x"),
        ),
    }
    for name, (fast, entry, definition, reads) in calls.items():
        if where not in reads:
            continue
        assert fast() is None, f"{name}: the fast path ran on an input holding {bad}"
        np.testing.assert_array_equal(entry(), definition(), err_msg=name)
