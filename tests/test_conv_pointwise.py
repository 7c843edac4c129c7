"""The 1x1 convolution as a matrix product (kernels/conv/pointwise.py): against the slow
reference, finite differences, thread-count determinism, and the shape test that sends
1x1 layers there."""

import numpy as np
import pytest
from cases import same_bits_at_every_thread_count

from cnnsim import functional as F
from cnnsim.functional.conv import connection_mask
from cnnsim.kernels import conv as conv_kernels
from cnnsim.kernels.conv import pointwise
from cnnsim.kernels.conv.direct import bias_grad
from cnnsim.testing import naive
from cnnsim.testing.gradcheck import gradcheck, probe_for

# (N, C, F, H, W): tile-sized and awkward (F, C, positions not multiples of the 6 x 16
# tile), C > KC (two reduction blocks forward), H*W > KC (two position blocks in dw),
# a run of positions longer than NC (two work items per image), a single position.
SHAPES = [
    (2, 16, 12, 4, 8),
    (3, 19, 13, 5, 7),
    (1, 300, 7, 3, 3),
    (2, 5, 8, 17, 17),
    (1, 3, 2, 1, 1),
    (4, 1, 1, 2, 3),
    # whole panels read in place with more channels (forward) or maps (dx) than one block
    # of the reduction (KC = 128 with AVX-512, 256 otherwise), and a partial panel after
    (2, 300, 7, 6, 9),
    (1, 5, 270, 8, 8),
]


def _case(rng, shape, dtype, masked):
    n, c, f, h, w = shape
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = rng.standard_normal((f, c, 1, 1)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    conn = rng.random((f, c)) > 0.3 if masked else None
    return x, wt, b, conn


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
def test_pointwise_kernels_match_reference(shape, masked, dtype, rng):
    x, w, b, conn = _case(rng, shape, dtype, masked)
    mask = connection_mask(conn, w.shape[0], w.shape[1])
    tol = 1e-4 if dtype == np.float32 else 1e-10
    y = pointwise.forward(x, w, b, mask)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, naive.conv2d(x, w, b, 1, "valid", conn), rtol=tol, atol=tol)
    dy = rng.standard_normal(y.shape).astype(dtype)
    want = naive.conv2d_backward(dy, x, w, 1, "valid", conn)
    dx = pointwise.backward_input(dy, w, mask)
    dw = pointwise.backward_weight(dy, x, mask)
    db = bias_grad(dy)
    for got, ref in zip((dx, dw, db), want):
        assert got.dtype == dtype and got.shape == ref.shape
        np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)
    if conn is not None:  # weights outside the connection table: gradient exactly 0
        assert np.all(dw[~conn] == 0)


def test_pointwise_hand_worked():
    # y[0, f, p] = b[f] + sum_c w[f, c] x[0, c, p]: two maps, three filters, one masked
    x = np.array([[[[1.0, 2.0]], [[3.0, 4.0]]]])  # (1, 2, 1, 2)
    w = np.array([[1.0, 10.0], [2.0, 0.5], [-1.0, 1.0]]).reshape(3, 2, 1, 1)
    b = np.array([0.0, 1.0, 100.0])
    mask = np.array([[1, 1], [1, 0], [1, 1]], dtype=np.uint8)  # filter 1 ignores map 1
    y = pointwise.forward(x, w, b, mask)
    np.testing.assert_array_equal(y[0, :, 0], [[31.0, 42.0], [3.0, 5.0], [102.0, 102.0]])
    dy = np.ones((1, 3, 1, 2))
    dx = pointwise.backward_input(dy, w, mask)
    np.testing.assert_array_equal(dx[0, :, 0], [[2.0, 2.0], [11.0, 11.0]])
    dw = pointwise.backward_weight(dy, x, mask)
    db = bias_grad(dy)
    np.testing.assert_array_equal(dw[:, :, 0, 0], [[3.0, 7.0], [3.0, 0.0], [3.0, 7.0]])
    np.testing.assert_array_equal(db, [2.0, 2.0, 2.0])


@pytest.mark.parametrize("shape", [(2, 7, 5, 3, 6), (1, 17, 9, 4, 5)])
def test_pointwise_backward_finite_differences(shape, rng):
    x, w, b, conn = _case(rng, shape, np.float64, True)
    mask = connection_mask(conn, w.shape[0], w.shape[1])

    def fn(x, w, b):
        return pointwise.forward(x, w, b, mask)

    y = fn(x, w, b)
    dy = probe_for(y.shape)
    grads = (
        pointwise.backward_input(dy, w, mask),
        pointwise.backward_weight(dy, x, mask),
        bias_grad(dy),
    )
    rep = gradcheck(fn, x, w, b, grads=grads)
    assert rep.ok, str(rep)


def test_pointwise_deterministic_across_threads(rng):
    x, w, b, conn = _case(rng, (3, 40, 20, 9, 11), np.float32, True)
    mask = connection_mask(conn, w.shape[0], w.shape[1])
    dy = rng.standard_normal((3, 20, 9, 11)).astype(np.float32)
    same_bits_at_every_thread_count(
        lambda: (
            pointwise.forward(x, w, b, mask),
            pointwise.backward_input(dy, w, mask),
            pointwise.backward_weight(dy, x, mask),
        )
    )


NO_FMA = "this CPU has no FMA vectors: 1x1 layers take the blocked paths"


@pytest.mark.skipif(conv_kernels.VEC_BITS == 0, reason=NO_FMA)
def test_one_by_one_layers_take_the_matrix_product():
    assert conv_kernels._pointwise(1, 1, 1, 1, 0, 0, 0, 0)
    assert conv_kernels._pointwise(1, 1, 2, 2, 0, 0, 0, 0)  # strided: subsampled product
    assert not conv_kernels._pointwise(1, 1, 1, 1, 1, 1, 1, 1)  # padded
    assert not conv_kernels._pointwise(3, 3, 1, 1, 0, 0, 0, 0)
    # through the public API (above the direct loops' size): the same numbers, bit for bit
    rng = np.random.default_rng(3)
    x, w, b, conn = _case(rng, (2, 24, 10, 6, 7), np.float32, True)
    mask = connection_mask(conn, w.shape[0], w.shape[1])
    assert not conv_kernels.use_direct(2 * 24 * 10 * 6 * 7)
    np.testing.assert_array_equal(
        F.conv2d(x, w, b, connections=conn), pointwise.forward(x, w, b, mask)
    )
    dy = rng.standard_normal((2, 10, 6, 7)).astype(np.float32)
    dx, dw, db = F.conv2d_backward(dy, x, w, connections=conn)
    np.testing.assert_array_equal(dx, pointwise.backward_input(dy, w, mask))
    np.testing.assert_array_equal(dw, pointwise.backward_weight(dy, x, mask))
    np.testing.assert_array_equal(db, bias_grad(dy))


def _matches_reference(x, w, b, stride, conn, rng):
    """A valid 1x1 layer's forward and gradients through the public API against the slow
    reference (float32 tolerances); returns ``(dx, dw, db)``."""
    y = F.conv2d(x, w, b, stride, connections=conn)
    np.testing.assert_allclose(
        y, naive.conv2d(x, w, b, stride, "valid", conn), rtol=1e-5, atol=1e-5
    )
    dy = rng.standard_normal(y.shape).astype(np.float32)
    got = F.conv2d_backward(dy, x, w, stride, connections=conn)
    want = naive.conv2d_backward(dy, x, w, stride, "valid", conn)
    for g, r in zip(got, want):
        assert g.shape == r.shape
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-4)
    return got


@pytest.mark.parametrize("stride", [(2, 2), (3, 2), (2, 1)])
@pytest.mark.parametrize("hw", [(8, 8), (7, 9)])
def test_strided_one_by_one_layers_match_reference(stride, hw, rng):
    """A strided 1x1 layer (ResNet's downsampling shortcut) reads every s-th pixel: the
    matrix product over those pixels forward and for dw; dx puts its result on them and
    0 on the pixels never read. Through the public API, against the slow reference, odd
    sizes included (the last row/column read or not)."""
    h, w_ = hw
    x, w, b, conn = _case(rng, (3, 20, 12, h, w_), np.float32, True)
    assert conv_kernels._pointwise(1, 1, *stride, 0, 0, 0, 0) == (conv_kernels.VEC_BITS > 0)
    got = _matches_reference(x, w, b, stride, conn, rng)
    skipped = np.ones(x.shape[2:], bool)
    skipped[:: stride[0], :: stride[1]] = False
    assert np.all(got[0][:, :, skipped] == 0)


def test_without_fma_vectors_one_by_one_layers_take_the_blocked_paths(monkeypatch, rng):
    """Where the CPU has no FMA vectors the tile's explicit fused multiply-adds would be a
    library call each: 1x1 layers then go to the blocked paths, with the reference's
    numbers (strided and with a connection table)."""
    monkeypatch.setattr(conv_kernels, "VEC_BITS", 0)
    assert not conv_kernels._pointwise(1, 1, 1, 1, 0, 0, 0, 0)
    x, w, b, conn = _case(rng, (4, 24, 10, 7, 9), np.float32, True)
    for stride in (1, 2):
        _matches_reference(x, w, b, stride, conn, rng)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_both_tiles_compute_the_plain_loop(dtype, rng):
    """The 6 x 16 (256-bit) and 8 x 32 (512-bit) micro-kernels: one of them runs on a given
    CPU; both must add the same terms in the same order. ``B``'s rows are read ``pitch``
    apart, as the forward pass reads the input in place (here 40 numbers apart, from
    column 3). The wide tile equals the narrow one on each 6 x 16 piece it covers (rows
    0-5 and 2-7, each half of the columns) bit for bit, and both the float64 plain loop."""
    k_, ka, kb, kc, pitch, col = 40, 3, 5, 31, 40, 3
    a = rng.standard_normal((k_, 8)).astype(dtype)
    b = rng.standard_normal((k_, pitch)).astype(dtype)
    c0 = rng.standard_normal((8, 32)).astype(dtype)
    wide = c0.copy()
    pointwise.tile_8x32(a, ka, b, kb * pitch + col, pitch, kc, wide)
    for rows in (slice(0, 6), slice(2, 8)):
        for half in (0, 16):
            piece = np.ascontiguousarray(c0[rows, half : half + 16])
            a6 = np.ascontiguousarray(a[:, rows])
            pointwise.tile_6x16(a6, ka, b, kb * pitch + col + half, pitch, kc, piece)
            np.testing.assert_array_equal(wide[rows, half : half + 16], piece)
    bk = b[kb : kb + kc, col : col + 32].astype(np.float64)
    want = c0.astype(np.float64) + a[ka : ka + kc].T.astype(np.float64) @ bk
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(wide, want, rtol=tol, atol=tol)
