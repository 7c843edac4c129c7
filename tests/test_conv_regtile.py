"""The register-tiled convolution (cnnsim.kernels.conv.regtile: forward, dx, dw; strided
forward and dw) against the slow reference, on shapes that do not fit the tiles (maps and channels not multiples of
a block, rows not multiples of a tile, asymmetric padding, connection tables)."""

import numpy as np
import pytest
from cases import same_bits_at_every_thread_count

from cnnsim import functional as F
from cnnsim.kernels import conv
from cnnsim.kernels.conv import blocked, regtile
from cnnsim.kernels.conv.simd import VEC_BITS
from cnnsim.testing import naive
from cnnsim.testing.gradcheck import gradcheck, probe_for

pytestmark = pytest.mark.skipif(
    VEC_BITS == 0, reason="this CPU has no AVX2+FMA or AVX-512: the register tile is not used"
)

# (N, C, F, H, W, KH, KW, (top, bottom, left, right)): every pad <= K - 1 so dx runs too
SHAPES = [
    (2, 5, 37, 7, 9, 3, 3, (1, 1, 1, 1)),
    (3, 7, 50, 6, 5, 3, 2, (2, 0, 1, 0)),
    (1, 3, 33, 9, 8, 5, 5, (2, 2, 2, 2)),
    (2, 4, 20, 5, 6, 2, 3, (0, 1, 2, 0)),
    (5, 1, 9, 4, 4, 3, 3, (0, 0, 0, 0)),
]
# the forward and dx tiles tile_for chooses from on this CPU (A, B)
CPU_TILES = [(regtile.RW_A, regtile.NV_A), (regtile.RW_B, regtile.NV_B)]
# every tile the generator writes, by (RW, NV), the other kind of CPU's too: a tile for 32
# registers (AVX-512's 8 x 3, 12 x 2) spills on AVX2 and AVX2's tiles use half of
# AVX-512's registers, but each sums the same terms in the same order at this CPU's vector
# width, so CI on either kind of machine checks the tiles the other kind runs
TILES = sorted(regtile.FORWARD_TILES)
DW_TILES = sorted(regtile.DW_TILES)
SHIPPED_TILE_MIN_WORK = blocked.TILE_MIN_WORK  # before the fixture below lowers it


@pytest.fixture(autouse=True)
def _tiles_for_small_calls(monkeypatch):
    """The shapes here are small, to be quick against the slow reference; calls this small
    take no register tile in use (``blocked.TILE_MIN_WORK``: their compile time would
    outweigh their run time), so these tests lower that threshold to reach the tiles."""
    monkeypatch.setattr(blocked, "TILE_MIN_WORK", 0)


def _case(shape, dtype, rng):
    n, c, f, h, w_, kh, kw, pads = shape
    x = rng.standard_normal((n, c, h, w_)).astype(dtype)
    w = rng.standard_normal((f, c, kh, kw)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    conn = rng.random((f, c)) > 0.3
    return x, w, b, conn, pads


def _tile_forward(x, w, b, conn, pads, tile, s=1):
    """The forward (stride ``s``) through one given tile (bypassing regtile.tile_for)."""
    rw, nv = tile
    fbw = nv * (regtile.LANES32 if x.dtype == np.float32 else regtile.LANES64)
    wp, ok = regtile.pack_weights(w, conn.astype(np.uint8), fbw, False)
    assert ok
    bias = np.zeros((wp.shape[0], fbw), dtype=x.dtype)
    bias.reshape(-1)[: w.shape[0]] = b
    return regtile.correlate(x, wp, bias, w.shape[0], *w.shape[2:], *pads, rw, s)[0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_regtile_forward_and_dx_match_reference(shape, dtype, rng):
    x, w, b, conn, pads = _case(shape, dtype, rng)
    mask = conn.astype(np.uint8)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    ref = naive.conv2d(x, w, b, 1, pads, conn)
    y = regtile.forward(x, w, b, mask, *pads)
    assert y.dtype == dtype and y.shape == ref.shape
    np.testing.assert_allclose(y, ref, rtol=tol, atol=tol)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = regtile.backward_input(dy, w, mask, *pads)
    dx_ref, dw_ref, _ = naive.conv2d_backward(dy, x, w, 1, pads, conn)
    assert dx.dtype == dtype and dx.shape == x.shape
    np.testing.assert_allclose(dx, dx_ref, rtol=tol, atol=tol)
    dw = regtile.backward_weight(dy, x, mask, *w.shape[2:], *pads)
    assert dw.dtype == dtype and dw.shape == w.shape
    np.testing.assert_allclose(dw, dw_ref, rtol=tol, atol=tol)
    assert np.all(dw[~conn] == 0)


def test_the_tiles_are_every_ISA_s_and_this_cpu_chooses_from_its_own():
    assert TILES == [(3, 4), (6, 2), (8, 3), (12, 2)]  # AVX2's, then AVX-512's
    assert DW_TILES == [(4, 3), (6, 2), (8, 3), (12, 2)]
    assert set(CPU_TILES) == ({(8, 3), (12, 2)} if regtile.VEC_REGS >= 32 else {(3, 4), (6, 2)})


@pytest.mark.parametrize("shape", SHAPES[:3])
def test_every_tile_gives_the_same_bits(shape, rng, monkeypatch):
    """Every output is summed over (c, u, v) in order from the bias, one FMA per term,
    whatever tile computes it: every generated tile, this CPU's and the other kind's,
    agrees to the last bit in the forward pass and ``dx`` (and matches the reference); so
    do ``dw``'s, whose sums run over the positions in order."""
    x, w, b, conn, pads = _case(shape, np.float32, rng)
    kh, kw, mask = w.shape[2], w.shape[3], conn.astype(np.uint8)
    y_ref = naive.conv2d(x, w, b, 1, pads, conn)
    dy = rng.standard_normal(y_ref.shape).astype(np.float32)
    dx_ref, dw_ref, _ = naive.conv2d_backward(dy, x, w, 1, pads, conn)

    def on(tile):  # every call below through this tile
        fbw = tile[1] * regtile.LANES32
        monkeypatch.setattr(regtile, "tile_for", lambda *a: (*tile, fbw, 0))

    got = {"forward": {}, "dx": {}, "dw": {}}
    for tile in TILES:
        on(tile)
        got["forward"][tile] = regtile.forward(x, w, b, mask, *pads)
        got["dx"][tile] = regtile.backward_input(dy, w, mask, *pads)
    for tile in DW_TILES:
        on(tile)
        got["dw"][tile] = regtile.backward_weight(dy, x, mask, kh, kw, *pads)
    for (name, by_tile), ref in zip(got.items(), (y_ref, dx_ref, dw_ref)):
        first = by_tile[TILES[0] if name != "dw" else DW_TILES[0]]
        for tile, out in by_tile.items():
            np.testing.assert_array_equal(out, first, err_msg=f"{name}, tile {tile}")
        np.testing.assert_allclose(first, ref, rtol=1e-4, atol=1e-4, err_msg=name)


@pytest.mark.parametrize("stride", [1, 2])
def test_taps_as_a_tuple_give_the_same_bits_and_reach_the_tile_for_unrolled_kernels(
    stride, rng, monkeypatch
):
    """Given its tap offsets as a tuple, a tile is compiled for exactly that many taps (a
    loop LLVM unrolls: ``regtile.UNROLL_TAPS``, 3x3 kernels on AVX2) and sums as with an
    array: the same bits, both tiles, at stride 1 and on a strided layer's phases.
    ``correlate`` hands a tuple for the kernel sizes in ``UNROLL_TAPS`` and only those
    (checked here with a recording stand-in, so on every CPU)."""
    x, w, b, conn, pads = _case(SHAPES[0], np.float32, rng)  # 3x3, 37 maps, 5 channels
    x5, w5, b5, conn5, pads5 = _case(SHAPES[2], np.float32, rng)  # 5x5: 25 taps
    got = {}
    for name, key in zip(("a", "b"), CPU_TILES):  # this CPU's tiles A and B
        tile = regtile.FORWARD_TILES[key]
        seen = lambda *a, tile=tile, name=name: got.setdefault(name, []).append(a[4]) or tile(*a)
        monkeypatch.setitem(regtile.FORWARD_TILES, key, seen)
    monkeypatch.setattr(regtile, "UNROLL_TAPS", ())  # arrays only
    want = _tile_forward(x, w, b, conn, pads, CPU_TILES[0], stride)
    _tile_forward(x5, w5, b5, conn5, pads5, CPU_TILES[0], stride)
    monkeypatch.setattr(regtile, "UNROLL_TAPS", (9,))  # 3x3 kernels as tuples
    for t in CPU_TILES:
        np.testing.assert_array_equal(_tile_forward(x, w, b, conn, pads, t, stride), want)
    _tile_forward(x5, w5, b5, conn5, pads5, CPU_TILES[0], stride)
    offsets = got["a"]  # 3x3 array, 5x5 array, 3x3 tuple, 5x5 array
    assert [type(o) for o in offsets] == [np.ndarray, np.ndarray, tuple, np.ndarray]
    assert offsets[2] == tuple(offsets[0]) and len(offsets[2]) == 9
    assert [type(o) for o in got["b"]] == [tuple]


def test_channel_blocks_change_no_bits_and_avx2_blocks_bound_their_input_rows(rng, monkeypatch):
    """A tile's sums leave the registers between channel blocks and come back, in the same
    order: one channel a block or all in one, the same bits. How many channels a block
    takes: weights of ``BLOCK_BYTES``, and on AVX2 input rows of ``BLOCK_ROWS_BYTES``."""
    x, w, b, conn, pads = _case(SHAPES[0], np.float32, rng)  # 5 channels
    mask = conn.astype(np.uint8)
    ys = []
    for block in (64, 1 << 30):  # one channel a block; all five in one
        monkeypatch.setattr(regtile, "BLOCK_BYTES", block)
        ys.append(regtile.forward(x, w, b, mask, *pads))
    np.testing.assert_array_equal(ys[0], ys[1])
    # ResNet 3x3 at 56x56, batch 8, AVX2's 16 maps a block: 28 channels by their weights
    # (16 KiB), 8 by their 3 input rows of 58 x 8 numbers (48 KiB)
    monkeypatch.setattr(regtile, "BLOCK_BYTES", 16384)
    monkeypatch.setattr(regtile, "BLOCK_ROWS_BYTES", 49152)
    assert regtile._channel_block(3, 3, 16, 58 * 8, 4) == 8
    assert regtile._channel_block(3, 3, 16, 16 * 8, 4) == 28  # 14x14 maps: the weights bind
    assert regtile._channel_block(3, 3, 32, 58 * 8, 4) == 8  # the 3 x 4 tile's 32 maps: 14
    monkeypatch.setattr(regtile, "BLOCK_ROWS_BYTES", 0)  # AVX-512: the weights only
    assert regtile._channel_block(3, 3, 16, 58 * 8, 4) == 28


def test_regtile_bit_identical_across_thread_counts(rng):
    x, w, b, conn, pads = _case(SHAPES[0], np.float32, rng)
    mask = conn.astype(np.uint8)
    dy = rng.standard_normal((2, 37, 7, 9)).astype(np.float32)
    same_bits_at_every_thread_count(
        lambda: (
            regtile.forward(x, w, b, mask, *pads),
            regtile.backward_input(dy, w, mask, *pads),
            regtile.backward_weight(dy, x, mask, 3, 3, *pads),
        )
    )


def test_the_tile_is_chosen_by_shape_for_lecture_layers():
    # AlexNet C3 at batch 8 (384 maps, 13 x 8 positions per row): tiled, forward and dx
    assert regtile.applies(384, 13 * 8, 4, 1, 1, 3, 3)
    assert regtile.applies_dx(256, 13, 8, 4, 1, 1, 3, 3, 1, 1, 1, 1)
    assert regtile.applies_dw(384, 256, 3, 3, 4, 1, 1)
    # ResNet's 3x3 layer (64 maps, 56 x 8 positions)
    assert regtile.applies(64, 56 * 8, 4, 1, 1, 3, 3)
    # strided layers (ResNet's 3x3/2 and 7x7/2 stem, AlexNet C1 11x11/4): forward and dw
    # on their stride phases; dx as one stride-1 problem per phase (ResNet's 3x3/2), not
    # where the phases have too few maps for the tile (the stem's 3 channels)
    assert regtile.applies(128, 28 * 8, 4, 2, 2, 3, 3)
    assert regtile.applies(96, 55 * 8, 4, 4, 4, 11, 11)
    assert regtile.applies_dw(128, 64, 3, 3, 4, 2, 2)
    assert not regtile.applies_dx(64, 56, 8, 4, 2, 2, 3, 3, 1, 1, 1, 1)
    assert conv._phases_on_tile(64, 8, 28, 28, 4, 2, 2, 3, 3)
    assert not conv._phases_on_tile(3, 8, 112, 112, 4, 2, 2, 7, 7)
    # not: LeNet-5 C1 (6 maps), unequal strides, 1x1 kernels, padding beyond K - 1 for dx
    assert not regtile.applies(6, 28 * 64, 4, 1, 1, 5, 5)
    assert not regtile.applies(384, 13 * 8, 4, 2, 1, 3, 3)
    assert not regtile.applies(384, 13 * 8, 4, 1, 1, 1, 1)
    assert not regtile.applies_dx(256, 13, 8, 4, 1, 1, 3, 3, 3, 0, 0, 0)


@pytest.mark.parametrize("stride,hw", [(1, 6), (2, 9)])
def test_functional_conv_through_the_tile_matches_reference_and_gradients(stride, hw, rng):
    """F.conv2d / F.conv2d_backward of a 3x3 "same" layer reach the tile (asserted: the
    forward and dw at either stride, dx at stride 1 and by stride phases at stride 2) and
    agree with the reference and with finite differences in float64."""
    n, c, f = 4, 16, 16  # 16 float64 maps x 24 positions a row at stride 1: whole tiles
    x = rng.standard_normal((n, c, hw, hw))
    w = rng.standard_normal((f, c, 3, 3))
    b = rng.standard_normal(f)
    conn = rng.random((f, c)) > 0.2
    wo = -(-hw // stride)
    assert regtile.applies(f, wo * n, 8, stride, stride, 3, 3)
    assert regtile.applies_dx(c, hw, n, 8, stride, stride, 3, 3, 1, 1, 1, 1) == (stride == 1)
    assert conv._phases_on_tile(c, n, wo, wo, 8, stride, stride, 3, 3) == (stride == 2)
    assert regtile.applies_dw(f, c, 3, 3, 8, stride, stride)
    reached = []
    with pytest.MonkeyPatch.context() as mp:  # record which tile paths the calls take
        for mod, name in [
            (regtile, "forward"),
            (regtile, "backward_input"),
            (regtile, "backward_weight"),
            (conv, "_dx_phases"),
        ]:
            fn = getattr(mod, name)
            mp.setattr(mod, name, lambda *a, fn=fn, name=name: reached.append(name) or fn(*a))
        y = F.conv2d(x, w, b, stride, "same", conn)
        dy = rng.standard_normal(y.shape)
        grads = F.conv2d_backward(dy, x, w, stride, "same", conn)
    # stride 2: dx as stride-1 problems per phase, each on the tile (backward_input)
    dx_paths = {"backward_input"} | ({"_dx_phases"} if stride == 2 else set())
    assert set(reached) == {"forward", "backward_weight"} | dx_paths
    want_y = naive.conv2d(x, w, b, stride, "same", conn)
    np.testing.assert_allclose(y, want_y, rtol=1e-10, atol=1e-10)
    for got, want in zip(grads, naive.conv2d_backward(dy, x, w, stride, "same", conn)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    fn = lambda x, w, b: F.conv2d(x, w, b, stride, "same", conn)
    grads = F.conv2d_backward(probe_for(y.shape), x, w, stride, "same", conn)
    assert gradcheck(fn, x, w, b, grads=grads).ok


def _count_layouts_of(x, monkeypatch):
    """A list that grows by one each time the tile lays ``x`` itself out in batch lanes."""
    calls = []
    lanes_of = regtile._lanes_of

    def counted(a, *rest):
        if a is x:
            calls.append(rest)
        return lanes_of(a, *rest)

    monkeypatch.setattr(regtile, "_lanes_of", counted)
    return calls


@pytest.mark.parametrize("stride,hw", [(1, 6), (2, 9)])
def test_a_saved_forward_lays_the_input_out_once_for_the_weight_gradient(
    stride, hw, rng, monkeypatch
):
    """``conv2d(save=True)`` keeps ``x`` as the tile laid it out; ``conv2d_backward(saved=)``
    hands it to ``dw`` instead of laying ``x`` out again (two layouts of ``x`` -> one per
    training step, counted), and every number is the same bits as without."""
    n, c, f = 4, 16, 16  # float64 (as above): whole tiles at either stride
    assert regtile.applies(f, -(-hw // stride) * n, 8, stride, stride, 3, 3)
    x = rng.standard_normal((n, c, hw, hw))
    w = rng.standard_normal((f, c, 3, 3))
    b = rng.standard_normal(f)
    conn = rng.random((f, c)) > 0.2
    calls = _count_layouts_of(x, monkeypatch)
    y = F.conv2d(x, w, b, stride, "same", conn)
    dy = rng.standard_normal(y.shape)
    plain = F.conv2d_backward(dy, x, w, stride, "same", conn)
    assert len(calls) == 2  # the forward's and dw's
    calls.clear()
    y_saved, saved = F.conv2d(x, w, b, stride, "same", conn, save=True)
    assert isinstance(saved, regtile.InputLanes)
    reused = F.conv2d_backward(dy, x, w, stride, "same", conn, saved=saved)
    assert len(calls) == 1  # the forward's only
    np.testing.assert_array_equal(y_saved, y)
    for got, want in zip(reused, plain):
        np.testing.assert_array_equal(got, want)


def test_a_forward_off_the_tile_saves_nothing_and_its_backward_runs(rng):
    """Where the forward does not lay ``x`` out (a 1x1 layer: the matrix product reads it in
    place), ``saved`` is None and the backward is the plain call's."""
    x = rng.standard_normal((2, 8, 5, 5))
    w = rng.standard_normal((16, 8, 1, 1))
    y, saved = F.conv2d(x, w, None, save=True)
    assert saved is None
    np.testing.assert_array_equal(y, F.conv2d(x, w))
    dy = rng.standard_normal(y.shape)
    for got, want in zip(F.conv2d_backward(dy, x, w, saved=saved), F.conv2d_backward(dy, x, w)):
        np.testing.assert_array_equal(got, want)


def test_saved_from_another_layer_or_input_is_refused_by_name(rng):
    x = rng.standard_normal((4, 16, 6, 6))
    w = rng.standard_normal((16, 16, 3, 3))
    y, saved = F.conv2d(x, w, None, 1, "same", save=True)
    assert saved is not None
    dy = np.ones_like(y)
    with pytest.raises(ValueError, match=r"conv2d_backward: saved does not belong.*padding"):
        F.conv2d_backward(np.ones((4, 16, 4, 4)), x, w, 1, "valid", saved=saved)
    with pytest.raises(ValueError, match=r"saved does not belong.*\(4, 16, 6, 6\)"):
        F.conv2d_backward(dy[:2], x[:2], w, 1, "same", saved=saved)
    with pytest.raises(ValueError, match=r"saved does not belong.*float32"):
        f32 = np.float32
        F.conv2d_backward(dy.astype(f32), x.astype(f32), w.astype(f32), 1, "same", saved=saved)
    with pytest.raises(
        ValueError, match=r"saved must come from conv2d\(\.\.\., save=True\); got a tuple"
    ):
        F.conv2d_backward(dy, x, w, 1, "same", saved=(x, y))


@pytest.mark.parametrize("stride", [1, 2])
def test_a_conv_layer_in_training_reuses_its_forward_layout(stride, rng, monkeypatch):
    """``Conv2D.forward(training=True)`` keeps ``saved`` and its backward passes it on; the
    gradients are the bits of a forward that kept nothing."""
    from cnnsim import layers as L

    conv = L.Conv2D(16, 3, stride, "same", activation="relu")
    conv.build((16, 9, 9), rng)
    conv = conv.astype(np.float64)
    x = rng.standard_normal((4, 16, 9, 9))
    calls = _count_layouts_of(x, monkeypatch)
    y = conv.forward(x)  # inference: nothing kept
    dy = rng.standard_normal(y.shape)
    dx = conv.backward(dy)
    grads = {k: g.copy() for k, g in conv.grads.items()}
    assert len(calls) == 2
    calls.clear()
    np.testing.assert_array_equal(conv.forward(x, training=True), y)
    np.testing.assert_array_equal(conv.backward(dy), dx)
    assert len(calls) == 1
    for k, g in grads.items():
        np.testing.assert_array_equal(conv.grads[k], g)


def test_full_window_layers_keep_their_dot_product_path(rng):
    """LeNet-5's C5 (kernel = input, 120 maps): the tile would fit the shapes, but the entry
    points keep the full-window path (same bits as its functions)."""
    from cnnsim.kernels import conv as k

    x = rng.standard_normal((64, 16, 5, 5)).astype(np.float32)
    w = rng.standard_normal((120, 16, 5, 5)).astype(np.float32)
    b = rng.standard_normal(120).astype(np.float32)
    mask = np.ones((120, 16), np.uint8)
    dy = rng.standard_normal((64, 120, 1, 1)).astype(np.float32)
    geo = (1, 1, 0, 0, 0, 0)
    np.testing.assert_array_equal(
        k.conv2d_forward(x, w, b, mask, *geo), k._forward_full_window(x, w, b, mask)
    )
    np.testing.assert_array_equal(
        k.conv2d_backward_input(dy, w, mask, 5, 5, *geo),
        k._dx_full_window(dy, w, mask, 5, 5),
    )
    np.testing.assert_array_equal(
        k.conv2d_backward_weight(dy, x, mask, 5, 5, *geo), k._dw_full_window(dy, x, mask, 5, 5)
    )


# (N, C, F, H, W, K, stride, (top, bottom, left, right)): ResNet's 3x3/2 and 7x7/2 stem,
# AlexNet C1's 11x11/4, 5x5/3; odd sizes, asymmetric and zero padding
STRIDED = [
    (2, 5, 40, 11, 13, 3, 2, (1, 1, 1, 1)),
    (3, 3, 48, 17, 15, 7, 2, (3, 2, 3, 2)),
    (2, 4, 36, 23, 23, 11, 4, (0, 0, 0, 0)),
    (2, 6, 50, 9, 10, 3, 2, (0, 1, 0, 1)),
    (1, 7, 33, 12, 12, 5, 3, (2, 2, 1, 1)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", STRIDED)
def test_strided_forward_and_dw_on_stride_phases_match_reference(shape, dtype, rng):
    """A strided layer on the tile: its input as stride phases in batch lanes
    (``layouts.to_phase_lanes``), where every tap is a constant offset again."""
    n, c, f, h, w_, k, s, pads = shape
    x, w, b, conn, _ = _case((n, c, f, h, w_, k, k, pads), dtype, rng)
    mask = conn.astype(np.uint8)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    ref = naive.conv2d(x, w, b, s, pads, conn)
    y = regtile.forward(x, w, b, mask, *pads, s)
    assert y.dtype == dtype and y.shape == ref.shape
    np.testing.assert_allclose(y, ref, rtol=tol, atol=tol)
    dy = rng.standard_normal(y.shape).astype(dtype)
    _, dw_ref, _ = naive.conv2d_backward(dy, x, w, s, pads, conn)
    dw = regtile.backward_weight(dy, x, mask, k, k, *pads, s)
    assert dw.dtype == dtype and dw.shape == w.shape
    np.testing.assert_allclose(dw, dw_ref, rtol=tol, atol=tol)
    assert np.all(dw[~conn] == 0)


def test_strided_tile_same_bits_for_every_tile_and_thread_count(rng):
    n, c, f, h, w_, k, s, pads = STRIDED[1]
    x, w, b, conn, _ = _case((n, c, f, h, w_, k, k, pads), np.float32, rng)
    mask = conn.astype(np.uint8)
    ys = [_tile_forward(x, w, b, conn, pads, t, s) for t in TILES]  # every ISA's tiles
    for y, tile in zip(ys, TILES):
        np.testing.assert_array_equal(y, ys[0], err_msg=f"tile {tile}")
    dy = rng.standard_normal(ys[0].shape).astype(np.float32)
    same_bits_at_every_thread_count(
        lambda: (
            regtile.forward(x, w, b, mask, *pads, s),
            regtile.backward_weight(dy, x, mask, k, k, *pads, s),
        )
    )


# dx of strided layers with enough input maps for the tile: (N, C, F, H, W, K, stride,
# pads); a phase whose rows or columns no window reads (the 4x4/2 valid layer's last row,
# 5x5/3 with more padding on one side), kernels not a multiple of the stride
STRIDED_DX = [
    (2, 48, 24, 11, 13, 3, 2, (1, 1, 1, 1)),
    (3, 48, 20, 9, 10, 4, 2, (0, 0, 0, 0)),
    (4, 40, 16, 15, 15, 5, 3, (2, 0, 1, 2)),
    (2, 32, 12, 23, 21, 11, 4, (5, 5, 5, 5)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", STRIDED_DX)
def test_strided_dx_by_stride_phases_matches_reference(shape, dtype, rng):
    """``dx`` of a strided layer as one stride-1 problem per stride phase
    (``conv._dx_phases``), taken through the public entry point, against the reference;
    pixels no window reads get exactly 0."""
    n, c, f, h, w_, k, s, pads = shape
    x, w, b, conn, _ = _case((n, c, f, h, w_, k, k, pads), dtype, rng)
    mask = conn.astype(np.uint8)
    ho = (h + pads[0] + pads[1] - k) // s + 1
    wo = (w_ + pads[2] + pads[3] - k) // s + 1
    assert conv._phases_on_tile(c, n, ho, wo, x.itemsize, s, s, k, k)
    dy = rng.standard_normal((n, f, ho, wo)).astype(dtype)
    want, _, _ = naive.conv2d_backward(dy, x, w, s, pads, conn)
    got = conv.conv2d_backward_input(dy, w, mask, h, w_, s, s, *pads)
    assert got.dtype == dtype and got.shape == x.shape
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    np.testing.assert_array_equal(got[want == 0], 0)


def test_strided_dx_by_stride_phases_same_bits_at_every_thread_count(rng):
    n, c, f, h, w_, k, s, pads = STRIDED_DX[0]
    x, w, b, conn, _ = _case((n, c, f, h, w_, k, k, pads), np.float32, rng)
    dy = rng.standard_normal((n, f, 6, 7)).astype(np.float32)
    mask = conn.astype(np.uint8)
    same_bits_at_every_thread_count(lambda: conv._dx_phases(dy, w, mask, h, w_, s, 1, 1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_plane_tiles_give_the_blocked_loops_bits(dtype, rng):
    """``blocked.plane_conv`` with its sums in registers (``regtile_tiles.plane_tile_*``, every
    width, AVX2's too) computes what the loops over memory compute, bit for bit: the
    3-map tile against ``_plane_conv_3x4`` on the same blocked weights, every other tile
    against it map by map; positions run past whole tiles, whole vectors and a last few."""
    from cnnsim.kernels.conv import blocked, regtile_tiles
    from cnnsim.kernels.conv.layouts import forward_taps, forward_weights, to_lanes

    lanes = regtile.LANES32 if dtype == np.float32 else regtile.LANES64
    for n, c, f, h, k in [(7, 3, 11, 9, 3), (16, 1, 6, 12, 5), (3, 6, 16, 8, 2)]:
        x = rng.standard_normal((n, c, h, h)).astype(dtype)
        w = rng.standard_normal((f, c, k, k)).astype(dtype)
        mask = (rng.random((f, c)) > 0.2).astype(np.uint8)
        ho = wq = hq = h  # "same"-like: read the planes at their own pitch
        xt, ok = to_lanes(x, 0, 0, hq + k, wq + k, 0)
        ng, gstride, P = ho, (wq + k) * n, (wq - 1) * n + 3  # not a multiple of a vector
        outs = {}
        for fb, tile in [(3, "3x4"), (4, "4x3"), (6, "6x4"), (8, "8x3")]:
            offs = forward_taps(c, k, k, 1, 1, hq + k, wq + k, 4) * n
            wg = forward_weights(w, mask, offs.shape[0], fb)
            bias = rng.standard_normal(wg.shape[0] * fb).astype(dtype) if fb == 3 else None
            if fb == 3:
                b3 = bias
                ref = blocked._plane_conv_3x4(xt, gstride, ng, offs, wg, bias, P)[:, :f]
            else:
                bias = np.zeros(wg.shape[0] * fb, dtype=dtype)
                bias[:f] = b3[:f]
            fn = getattr(regtile_tiles, f"plane_tile_{tile}")
            outs[tile] = fn(xt, gstride, ng, offs, wg, bias, P, lanes, 0)[:, :f]
        for tile, y in outs.items():
            np.testing.assert_array_equal(y, ref, err_msg=f"tile {tile}, shape {(n, c, f, h, k)}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dx_tiles_give_the_batch_lane_scatters_bits(dtype, rng):
    """The batch-lane ``dx`` scatter with its sums in registers (``regtile_tiles.dx_tile_*``,
    both widths) computes what ``blocked.lanes_input_grad`` computes, bit for bit: same
    terms (the taps that reach each position, padding cut), same order, from 0. Batches
    of whole vectors, one and more tiles per column, maps not multiples of a block."""
    from cnnsim.kernels.conv import blocked, regtile_tiles
    from cnnsim.kernels.conv.layouts import lanes_dx_weights, rows_to_lanes

    lanes = regtile.LANES32 if dtype == np.float32 else regtile.LANES64
    for n, c, f, ho, wo, kh, kw, top, left in [
        (lanes, 6, 16, 10, 10, 5, 5, 0, 0),  # LeNet-5's C3 (valid): dx is 14 x 14
        (4 * lanes, 5, 7, 6, 5, 3, 3, 1, 1),  # "same": the padding cut
        (5 * lanes, 2, 3, 4, 7, 3, 2, 2, 0),  # a column in one tile and one more vector
    ]:
        in_h, in_w = ho + kh - 1 - 2 * top, wo + kw - 1 - 2 * left
        dy = rng.standard_normal((n, f, ho, wo)).astype(dtype)
        w = rng.standard_normal((f, c, kh, kw)).astype(dtype)
        mask = (rng.random((f, c)) > 0.2).astype(np.uint8)
        dyt = rows_to_lanes(dy, -(-f // 4) * 4, 1, 0)
        ref = blocked.lanes_input_grad(
            dyt, lanes_dx_weights(w, mask, dyt.shape[1], 3), n, in_h, in_w, top, left
        )
        for cb, tile in [(6, regtile_tiles.dx_tile_6x4), (3, regtile_tiles.dx_tile_3x4)]:
            wx = lanes_dx_weights(w, mask, dyt.shape[1], cb)
            got = tile(dyt, wx, n, in_h, in_w, top, left, lanes)
            np.testing.assert_array_equal(got[:, :c], ref[:, :c], err_msg=f"{cb} maps, n={n}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "n,c,f,h,k,s,pad",
    [
        (1, 6, 16, 14, 5, 1, "valid"),  # LeNet-5 C3 on one image: phase planes
        (2, 3, 6, 11, 3, 2, "same"),  # strided: planes forward and dx
        (8, 4, 9, 12, 3, 1, "same"),  # batch lanes; dx correlates (same padding)
    ],
)
def test_plane_conv_tiles_or_loops_by_size_give_the_same_bits(n, c, f, h, k, s, pad, dtype, rng):
    """Whether plane_conv runs its loops or the register tiles (``blocked.tiles_pay``: the
    call's size and its last positions), the forward and both gradients are the same
    bits (so the choice changes speed and first-run compile time only)."""
    x = rng.standard_normal((n, c, h, h)).astype(dtype)
    w = rng.standard_normal((f, c, k, k)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    table = rng.random((f, c)) > 0.3
    y = F.conv2d(x, w, b, s, pad, table)
    dy = rng.standard_normal(y.shape).astype(dtype)
    out = {}
    seen = []

    def spy(*args):  # plane_conv as the convolution paths call it; records ``tiles``
        seen.append(args[8])
        return blocked.plane_conv(*args)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(conv, "plane_conv", spy)
        for tiles in ("loops", "tiles"):
            mp.setattr(conv, "tiles_pay", lambda *a, t=tiles == "tiles": t)
            seen.clear()
            out[tiles] = (F.conv2d(x, w, b, s, pad, table),) + F.conv2d_backward(
                dy, x, w, s, pad, table
            )[:2]
            assert seen and set(seen) == {tiles == "tiles"}
    for a, t in zip(out["loops"], out["tiles"]):
        np.testing.assert_array_equal(a, t)
    ref = naive.conv2d(x, w, b, s, pad, table)
    np.testing.assert_allclose(out["loops"][0], ref, rtol=1e-4, atol=1e-4)


def test_plane_conv_takes_the_tiles_for_large_calls_with_few_last_positions(monkeypatch):
    """``blocked.tiles_pay``: from ``TILE_MIN_WORK`` multiply-adds, and when the positions
    left after whole vectors (computed one at a time by a tile) are at most half as many
    as the whole vectors; never without FMA vectors."""
    from cnnsim.kernels.conv.simd import lanes

    monkeypatch.setattr(blocked, "TILE_MIN_WORK", SHIPPED_TILE_MIN_WORK)
    big = SHIPPED_TILE_MIN_WORK
    assert big == 1_000_000  # the figure the docs and the measured comparisons state
    assert not blocked.tiles_pay(big - 1, 4096, 4)
    L = lanes(np.dtype(np.float32))
    if L == 0:
        assert not blocked.tiles_pay(big, 4096, 4)
        return
    assert blocked.tiles_pay(big, 64 * L, 4)  # whole vectors only
    assert blocked.tiles_pay(big, 8 * L + 4, 4)  # 4 left after 8 vectors
    assert not blocked.tiles_pay(big, 8 * L + 5, 4)
    assert blocked.tiles_pay(big, 2 * lanes(np.dtype(np.float64)), 8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "n,c,f,h,s", [(8, 32, 32, 8, 1), (4, 64, 64, 4, 1), (16, 16, 32, 8, 2), (2, 40, 48, 12, 1)]
)
def test_a_forward_kept_off_the_tile_by_its_size_has_the_tiles_bits(n, c, f, h, s, dtype, rng):
    """A forward under ``blocked.TILE_MIN_WORK`` multiply-adds takes the phase-plane or
    batch-lane path instead of the register tile (compile time): the same bits, so the
    threshold never changes a number."""
    x = rng.standard_normal((n, c, h, h)).astype(dtype)
    w = rng.standard_normal((f, c, 3, 3)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    table = rng.random((f, c)) > 0.2
    out, calls = [], []
    with pytest.MonkeyPatch.context() as mp:
        fwd = regtile.forward
        mp.setattr(regtile, "forward", lambda *a: calls.append(1) or fwd(*a))
        for threshold in (0, 10**18):  # the tile, then the other paths
            mp.setattr(blocked, "TILE_MIN_WORK", threshold)
            out.append(F.conv2d(x, w, b, s, "same", table))
    assert len(calls) == 1  # the tile ran for the first call only
    np.testing.assert_array_equal(out[0], out[1])


def test_prefetch_is_a_hint_that_changes_nothing_and_reaches_the_code():
    """``simd.prefetch`` asks for a cache line only: a sum that prefetches every index (and
    indices past the array's end, as the tile's last tiles do) gives the plain sum's
    bits, and the compiled loop holds the prefetch instruction (a hint LLVM dropped would
    leave the forward tile ~10 % slower on ResNet 3x3 and no test would notice)."""
    import platform

    from numba import njit

    from cnnsim.kernels.conv.simd import prefetch

    def total(a, ahead):
        s = 0.0
        for i in range(a.size):
            prefetch(a, i + ahead)
            s += a[i]
        return s

    hinted = njit(total)  # not cached: its generated code is read below
    a = np.random.default_rng(0).standard_normal(1000)
    expected = sum(a.tolist())  # the same additions, in the same order
    for ahead in (0, 32, 10_000):
        assert hinted(a, ahead) == expected
    if platform.machine() in ("x86_64", "AMD64"):
        asm = next(iter(hinted.inspect_asm().values()))
        assert "prefetcht0" in asm, "llvm.prefetch did not reach the generated code"


def _live_by_definition(ho, wo, kh, kw, s, top, left, h, wd, n_, rw):
    """Per output row the kernel rows, per tile the kernel columns, that read the input
    and not its padding (positions past ``Wo*N`` count as column ``Wo - 1``)."""
    rows = [{u for u in range(kh) if 0 <= i * s + u - top < h} for i in range(ho)]
    ntile = -(-(wo * n_) // rw)
    cols = []
    for t in range(ntile):
        js = {min((t * rw + k) // n_, wo - 1) for k in range(rw)}
        cols.append({v for v in range(kw) for j in js if 0 <= j * s + v - left < wd})
    return rows, cols


@pytest.mark.parametrize("seed", range(40))
def test_live_taps_are_the_taps_that_read_the_input(seed):
    """``live_taps`` against its definition, on random geometries (strides 1-3, padding up
    to the kernel's size, batches of 1-9): each row's kernel rows are exactly those that
    read the input; the column runs cover the row's tiles in order, and each tile's range
    holds every kernel column one of its positions reads, and starts and ends on one."""
    r = np.random.default_rng(seed)
    kh, kw, s = int(r.integers(1, 6)), int(r.integers(1, 6)), int(r.integers(1, 4))
    top, left = int(r.integers(0, kh)), int(r.integers(0, kw))
    h, wd = int(r.integers(1, 9)), int(r.integers(1, 9))
    ho = (h + top + int(r.integers(0, kh)) - kh) // s + 1
    wo = (wd + left + int(r.integers(0, kw)) - kw) // s + 1
    ho, wo = max(ho, 1), max(wo, 1)  # at least one output (a layer always has one)
    n_, rw = int(r.integers(1, 10)), int(r.choice([4, 6, 8, 12]))
    rows, cols = regtile.live_taps(ho, wo, kh, kw, s, top, left, h, wd, n_, rw)
    want_rows, want_cols = _live_by_definition(ho, wo, kh, kw, s, top, left, h, wd, n_, rw)
    assert [set(range(a, b)) for a, b in rows] == want_rows
    assert cols[0, 0] == 0 and cols[-1, 1] == len(want_cols) * rw
    assert np.all(cols[1:, 0] == cols[:-1, 1]) and np.all(cols[:, 0] % rw == 0)
    for p0, p1, v0, v1 in cols:
        for t in range(p0 // rw, p1 // rw):
            live = want_cols[t]
            assert live <= set(range(v0, v1))
            assert not live or (v0 in live and v1 - 1 in live)
            assert live or v0 == v1


@pytest.mark.parametrize("seed", range(10))
def test_tap_lists_hold_each_part_of_a_row_s_live_taps_in_order(seed):
    """``tap_lists``: for each output row and run of tiles, exactly the taps inside both
    live ranges of ``live_taps``, in the kernel's order, with their offsets."""
    r = np.random.default_rng(seed)
    kh, kw, s = int(r.integers(1, 6)), int(r.integers(1, 6)), int(r.integers(1, 3))
    top, left, h, wd = int(r.integers(0, kh)), int(r.integers(0, kw)), 6, 7
    ho, wo, n_, rw = (h + 2 * top - kh) // s + 1, (wd + 2 * left - kw) // s + 1, 3, 4
    rows, cols = regtile.live_taps(ho, wo, kh, kw, s, top, left, h, wd, n_, rw)
    toff = r.permutation(1000)[: kh * kw].astype(np.int64)  # any distinct offsets
    offs, tapi, count = regtile.tap_lists(toff, rows, cols, kw)
    assert offs.shape == tapi.shape == (ho, len(cols), kh * kw)
    for i in range(ho):
        for g, (_, _, v0, v1) in enumerate(cols):
            want = [u * kw + v for u in range(rows[i, 0], rows[i, 1]) for v in range(v0, v1)]
            assert tapi[i, g, : count[i, g]].tolist() == want
            assert offs[i, g, : count[i, g]].tolist() == toff[want].tolist()


@pytest.mark.parametrize("shape", [SHAPES[0], SHAPES[2], SHAPES[3]])
def test_bands_of_rows_change_no_bits(shape, rng, monkeypatch):
    """A work item of the forward tile takes a band of output rows, channel block by
    channel block: one row a band, a few, or the whole image, the same bits (forward and
    ``dx``); and the bands the shipped settings give AlexNet C3 (12 rows) and its ``dx``."""
    x, w, b, conn, pads = _case(shape, np.float32, rng)
    mask = conn.astype(np.uint8)
    monkeypatch.setattr(regtile, "BLOCK_BYTES", 64)  # a channel a block: many blocks
    seen, ys, dxs = [], [], []
    band_of = regtile._band
    monkeypatch.setattr(regtile, "_band", lambda *a: seen.append(band_of(*a)) or seen[-1])
    dy = rng.standard_normal(regtile.forward(x, w, b, mask, *pads).shape).astype(np.float32)
    for nbytes, items in ((0, 1), (4096, 1), (1 << 30, 1), (1 << 30, 1 << 30)):
        monkeypatch.setattr(regtile, "BAND_BYTES", nbytes)
        monkeypatch.setattr(regtile, "MIN_ITEMS", items)
        ys.append(regtile.forward(x, w, b, mask, *pads))
        dxs.append(regtile.backward_input(dy, w, mask, *pads))
    for y, dx in zip(ys[1:], dxs[1:], strict=True):
        np.testing.assert_array_equal(y, ys[0])
        np.testing.assert_array_equal(dx, dxs[0])
    ho = ys[0].shape[2]
    assert ho > 1 and seen[1:] == [1, 1, *seen[3:5], ho, x.shape[2], 1, 1]  # fwd, dx each


@pytest.mark.parametrize(
    ("geometry", "want"),  # (Ho, blocks of maps, a row's sums, KH, channels a block, pitch)
    [
        ((27, 16, 36 * 6 * 16, 5, 6, 248), 9),  # AlexNet C3: 12 rows fit, 3 bands of 9
        ((13, 11, 26 * 4 * 24, 3, 18, 120), 7),  # C5's dx: 8 for 16 items, 2 bands: 7, 6
        ((56, 4, 75 * 6 * 16, 3, 5, 464), 6),  # ResNet 3x3: 6 rows fit, 10 bands
    ],
)
def test_a_band_keeps_its_sums_and_a_channel_block_s_rows_within_band_bytes(geometry, want):
    """``_band``: as many bands as the most rows whose sums and a channel block's input
    rows fit ``BAND_BYTES`` need, but enough for ``MIN_ITEMS`` work items; the bands of
    one size, as near as the rows allow (float32)."""
    ho, nfb, rowlen, kh, cb, pitch = geometry
    band = regtile._band(ho, nfb, rowlen, kh, cb, pitch, 4)
    size = lambda rows: (rows * rowlen + (rows + kh - 1) * cb * pitch) * 4
    limit = max(1, ho * nfb // regtile.MIN_ITEMS)  # rows a band, for MIN_ITEMS work items
    most = max(
        r for r in range(1, ho + 1) if r == 1 or (size(r) <= regtile.BAND_BYTES and r <= limit)
    )
    bands = -(-ho // most)
    assert band == want == -(-ho // bands)  # that many bands, none longer than needed
    assert regtile._band(ho, nfb, rowlen, kh, cb, pitch, 1 << 20) == 1  # nothing fits: 1


@pytest.mark.parametrize("dw", [False, True])
def test_tile_for_takes_tile_b_within_tie_b_of_the_least_work(dw):
    """``tile_for``: the tile that computes the fewest outputs, but B (6 x 2 on AVX2) where
    its work is under ``TIE_B`` times A's; dw's A apart (4 x 3 on AVX2, the forward's 3 x
    4). On AVX2 AlexNet C3's ``dx`` (a tie) takes 6 x 2; C5's forward and ``dx`` (6 x 2:
    2.9 % more) 3 x 4; every lecture layer's ``dw`` 6 x 2 (ties)."""
    lanes_ = regtile.LANES32
    a = (regtile.DW_RW_A, regtile.DW_NV_A) if dw else (regtile.RW_A, regtile.NV_A)
    b = (regtile.RW_B, regtile.NV_B)
    for maps, positions in [(256, 104), (384, 104), (96, 216), (512, 56), (64, 448), (37, 9)]:
        rw, nv, fbw, work = regtile.tile_for(maps, positions, 4, dw)
        works = {}
        for r, v in (a, b):
            f = v * lanes_
            works[r] = -(-maps // f) * f * (-(-positions // r) * r)
        assert (rw, nv) in (a, b)
        assert (rw == b[0]) == (works[b[0]] < regtile.TIE_B * works[a[0]])
        assert work == works[rw] and fbw == nv * lanes_
    if regtile.VEC_REGS < 32:  # AVX2
        if dw:  # AlexNet C1, C3, C5, ResNet 3x3: maps x taps (C*KH*KW)
            layers = [(96, 363), (256, 2400), (384, 2304), (64, 576)]
            assert [regtile.tile_for(m, r, 4, True)[:2] for m, r in layers] == [(6, 2)] * 4
        else:  # C5's dx, C3's dx, C5's forward (maps x Wo*N)
            layers = [(256, 104), (96, 216), (384, 104)]
            assert [regtile.tile_for(m, p, 4)[:2] for m, p in layers] == [(3, 4), (6, 2), (3, 4)]


@pytest.mark.parametrize("tile", TILES)
@pytest.mark.parametrize("shape", [SHAPES[0], SHAPES[1], SHAPES[2], SHAPES[3]])
def test_the_tile_never_reads_the_padding_it_skips(shape, tile, rng, monkeypatch):
    """With a tile's positions one column each (batch = the tile's width), no tap the tile
    runs reads zero padding: NaN written into all of it (as the tile sees it, in batch
    lanes) changes no bit of the forward pass or of ``dx``, whose input is ``dy`` padded
    by ``K - 1 - pad``. A tile that ran a padding tap would give NaN."""
    _, c, f, h, w_, kh, kw, pads = shape
    x, w, b, conn, _ = _case((tile[0], c, f, h, w_, kh, kw, pads), np.float32, rng)
    mask = conn.astype(np.uint8)
    fbw = tile[1] * regtile.LANES32
    monkeypatch.setattr(
        regtile, "tile_for", lambda maps, positions, itemsize, dw=0: (*tile, fbw, 0)
    )
    want = regtile.forward(x, w, b, mask, *pads)
    dy = rng.standard_normal(want.shape).astype(np.float32)
    want_dx = regtile.backward_input(dy, w, mask, *pads)
    lanes_of = regtile._lanes_of

    def poisoned(a, kh_, kw_, s, top, bottom, left, right, rw=0):
        xt, ok, ho, wo, hq, wq = lanes_of(a, kh_, kw_, s, top, bottom, left, right, rw)
        n_, c_, hh, ww = a.shape
        planes = xt[: c_ * hq * wq * n_].reshape(c_, hq, wq, n_)
        pad = np.ones((hq, wq), bool)
        pad[top : top + hh, left : left + ww] = False
        planes[:, pad, :] = np.nan
        return xt, ok, ho, wo, hq, wq

    monkeypatch.setattr(regtile, "_lanes_of", poisoned)
    np.testing.assert_array_equal(regtile.forward(x, w, b, mask, *pads), want)
    np.testing.assert_array_equal(regtile.backward_input(dy, w, mask, *pads), want_dx)


@pytest.mark.parametrize("seed", range(20))
def test_dw_taps_are_the_tap_major_offsets_and_each_tile_covers_what_its_taps_read(seed):
    """``dw_taps`` against its definition, on random geometries (strides 1-3, padding up
    to the kernel's size): tap ``r = (u*KW + v)*C + c`` has the forward's offset of ``(c,
    u, v)``, and each tile's rows and positions are the smallest ranges that hold every
    output ``(i, j)`` where one of its taps reads the input (empty where none does)."""
    r = np.random.default_rng(seed)
    kh, kw, s = int(r.integers(1, 6)), int(r.integers(1, 6)), int(r.integers(1, 4))
    top, left = int(r.integers(0, kh)), int(r.integers(0, kw))
    h, wd, c = int(r.integers(1, 9)), int(r.integers(1, 9)), int(r.integers(1, 8))
    ho = max((h + top + int(r.integers(0, kh)) - kh) // s + 1, 1)
    wo = max((wd + left + int(r.integers(0, kw)) - kw) // s + 1, 1)
    n_, rw = int(r.integers(1, 10)), int(r.choice([4, 6, 8, 12]))
    hq, wq = ho + (kh - 1) // s, wo + (kw - 1) // s
    xoff, live = regtile.dw_taps(c, kh, kw, s, hq, wq, n_, rw, ho, wo, top, left, h, wd)
    forward = regtile._tap_offsets(c, kh, kw, s, hq, wq, n_, 1)
    nt = -(-(c * kh * kw) // rw)
    assert xoff.shape == (nt * rw,) and live.shape == (nt, 4)
    assert not xoff[c * kh * kw :].any()
    for t in range(nt):
        read = set()
        for rr in range(t * rw, min((t + 1) * rw, c * kh * kw)):
            (u, v), k = divmod(rr // c, kw), rr % c
            assert xoff[rr] == forward[(k * kh + u) * kw + v]
            read |= {
                (i, j)
                for i in range(ho)
                for j in range(wo)
                if 0 <= i * s + u - top < h and 0 <= j * s + v - left < wd
            }
        i0, i1, p0, p1 = live[t]
        if not read:
            assert i0 == i1 or p0 == p1
            continue
        ii, jj = {i for i, _ in read}, {j for _, j in read}
        assert (i0, i1, p0, p1) == (min(ii), max(ii) + 1, min(jj) * n_, (max(jj) + 1) * n_)


@pytest.mark.parametrize("tile", DW_TILES)
@pytest.mark.parametrize("stride", [1, 2])
def test_dw_never_reads_the_padding_it_skips(tile, stride, rng, monkeypatch):
    """With 24 channels (a multiple of every tile's taps, so that each tile's taps share one
    kernel position), no term ``dw``'s tile sums reads zero padding: NaN written into all
    of it (as the tile sees it, in batch lanes or stride phases) changes no bit of ``dw``.
    A tile that summed over a padding row or column would give NaN."""
    x, w, b, conn, pads = _case((2, 24, 10, 7, 8, 3, 3, (2, 1, 1, 2)), np.float32, rng)
    mask = conn.astype(np.uint8)
    y = regtile.forward(x, w, b, mask, *pads, s=stride)  # on this CPU's tile
    dy = rng.standard_normal(y.shape).astype(np.float32)
    fbw = tile[1] * regtile.LANES32
    monkeypatch.setattr(
        regtile, "tile_for", lambda maps, positions, itemsize, dw=0: (*tile, fbw, 0)
    )
    want = regtile.backward_weight(dy, x, mask, 3, 3, *pads, s=stride)
    dw_ref = naive.conv2d_backward(dy, x, w, stride, pads, conn)[1]
    np.testing.assert_allclose(want, dw_ref, rtol=1e-4, atol=1e-4)
    lanes_of = regtile._lanes_of

    def poisoned(a, kh_, kw_, s, top, bottom, left, right, rw=0):
        xt, ok, ho, wo, hq, wq = lanes_of(a, kh_, kw_, s, top, bottom, left, right, rw)
        n_, c_, hh, ww = a.shape
        if s == 1:
            pad = np.ones((hq, wq), bool)
            pad[top : top + hh, left : left + ww] = False
            xt[: c_ * hq * wq * n_].reshape(c_, hq, wq, n_)[:, pad, :] = np.nan
        else:  # phase (a, b) at (I, J) holds padded row I*s + a, column J*s + b
            ph = xt[: c_ * s * s * hq * wq * n_].reshape(c_, s, s, hq, wq, n_)
            for pa in range(s):
                for pb in range(s):
                    rows = np.arange(hq) * s + pa
                    cols = np.arange(wq) * s + pb
                    out = (
                        ~((rows >= top) & (rows < top + hh))[:, None]
                        | ~((cols >= left) & (cols < left + ww))[None, :]
                    )
                    ph[:, pa, pb][:, out, :] = np.nan
        return xt, ok, ho, wo, hq, wq

    monkeypatch.setattr(regtile, "_lanes_of", poisoned)
    np.testing.assert_array_equal(regtile.backward_weight(dy, x, mask, 3, 3, *pads, s=stride), want)
