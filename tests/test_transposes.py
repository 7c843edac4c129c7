"""Transpositions in vector registers (simd.transpose_block through kernels.conv.transposes) and
the layout changes built on them, against NumPy's transpose: every block side, both
dtypes, offsets and pitches (negative too), rectangles whose sides are not multiples of a
block (the overlapping last blocks), too narrow for blocks, and non-contiguous inputs."""

import numpy as np
import pytest

from cnnsim.kernels.conv import layouts, regtile, transposes

DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("side", [4, 8, 16])
def test_transpose_block_is_numpys_transpose(side, dtype):
    rng = np.random.default_rng(side)
    ss, ds = side + 3, side + 5  # row pitches wider than the block
    src = rng.standard_normal(7 + side * ss).astype(dtype)
    dst = np.full(11 + side * ds, -1.0, dtype=dtype)
    transposes.square(src, 7, ss, dst, 11, ds, side)
    a = src[7 : 7 + side * ss].reshape(side, ss)[:, :side]
    got = dst[11 : 11 + side * ds].reshape(side, ds)
    np.testing.assert_array_equal(got[:, :side], a.T)
    assert (got[:, side:] == -1).all() and (dst[:11] == -1).all()  # nothing else written


@pytest.mark.parametrize("dtype", DTYPES)
def test_transpose_block_with_a_negative_pitch_writes_rows_last_to_first(dtype):
    src = np.arange(64, dtype=dtype)
    dst = np.zeros(64, dtype=dtype)
    transposes.square(src, 0, 8, dst, 7 * 8, -8, 8)
    np.testing.assert_array_equal(dst.reshape(8, 8), src.reshape(8, 8).T[::-1])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows, cols", [(4, 4), (5, 9), (16, 16), (17, 33), (40, 13), (3, 50)])
def test_transpose_blocks_on_any_rectangle(rows, cols, dtype):
    rng = np.random.default_rng(rows * 100 + cols)
    ss, ds = cols + 2, rows + 1
    src = rng.standard_normal(5 + rows * ss).astype(dtype)
    dst = np.full(3 + cols * ds, -1.0, dtype=dtype)
    done = transposes.transpose_blocks(src, 5, ss, dst, 3, ds, rows, cols)
    if min(rows, cols) < 4:  # too narrow: nothing written, the caller loops
        assert not done and (dst == -1).all()
        return
    assert done
    a = src[5 : 5 + rows * ss].reshape(rows, ss)[:, :cols]
    got = dst[3 : 3 + cols * ds].reshape(cols, ds)
    np.testing.assert_array_equal(got[:, :rows], a.T)
    assert (got[:, rows:] == -1).all() and (dst[:3] == -1).all()


def test_block_side_is_the_widest_block_that_fits():
    side32 = transposes.LANES32
    assert transposes.block_side(3, 4) == 0
    for n in (4, 7, 8, 15, 16, 100):
        side = transposes.block_side(n, 4)
        assert side in (0, 4, 8, 16) and side <= min(n, side32)
        if side32:
            assert side == max(s for s in (4, 8, 16) if s <= min(n, side32))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n, maps, live, wo", [(8, 40, 32, 13), (3, 7, 7, 56), (2, 5, 3, 9)])
def test_lanes_to_maps(n, maps, live, wo, dtype):
    rng = np.random.default_rng(live)
    fbw, f0, ho, i = 32, maps - live, 3, 1
    row = rng.standard_normal(wo * n * fbw + 24).astype(dtype)
    y = np.zeros((n, maps, ho, wo), dtype=dtype)
    transposes.lanes_to_maps(row, fbw, y, f0, live, i)
    want = np.zeros_like(y)
    # row[(j*N + n)*fbw + m] -> y[n, f0 + m, i, j]
    want[:, f0 : f0 + live, i, :] = (
        row[: wo * n * fbw].reshape(wo, n, fbw)[:, :, :live].transpose(1, 2, 0)
    )
    np.testing.assert_array_equal(y, want)


def _to_lanes_reference(x, top, left, hp, wp):
    n, c, h, w = x.shape
    xp = np.zeros((n, c, hp, wp), dtype=x.dtype)
    xp[:, :, top : top + h, left : left + w] = x
    return xp.transpose(1, 2, 3, 0).reshape(-1)  # [c, I, J, n]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("view", ["contiguous", "every other map", "columns reversed"])
def test_to_lanes_on_contiguous_and_strided_inputs(view, dtype):
    rng = np.random.default_rng(0)
    base = rng.standard_normal((9, 6, 7, 20)).astype(dtype)
    x = {
        "contiguous": base,
        "every other map": base[:, ::2],  # unit-stride rows, wider map stride
        "columns reversed": base[:, :, :, ::-1],  # rows of stride -1: one number at a time
    }[view]
    xt, ok = layouts.to_lanes(x, 1, 2, 9, 24, 5)
    assert ok
    np.testing.assert_array_equal(xt[:-5], _to_lanes_reference(x, 1, 2, 9, 24))
    assert (xt[-5:] == 0).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 8, 13])
def test_rows_to_lanes_and_back(n, dtype):
    rng = np.random.default_rng(n)
    dy = rng.standard_normal((n, 5, 7, 11)).astype(dtype)
    rows, pitch = 3, 11 * n + 4
    dyt = layouts.rows_to_lanes(dy, 8, rows, pitch)
    np.testing.assert_array_equal(layouts.lanes_to_rows(dyt, 5, 7, 11, n, rows, pitch), dy)
    for i in range(7):  # where each row landed: group i // rows, offset (i % rows) * pitch
        got = dyt[i // rows, :5, (i % rows) * pitch : (i % rows) * pitch + 11 * n]
        np.testing.assert_array_equal(got, dy[:, :, i, :].transpose(1, 2, 0).reshape(5, -1))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("view", ["contiguous", "every other map"])
def test_to_tiles(view, dtype):
    rng = np.random.default_rng(1)
    base = rng.standard_normal((4, 74, 5, 9)).astype(dtype)
    dy = base if view == "contiguous" else base[:, ::2]
    fbw = 16
    dyb, ok = regtile.to_tiles(dy, fbw)
    assert ok
    n, f, ho, wo = dy.shape
    want = np.zeros((-(-f // fbw) * fbw, ho, wo, n), dtype=dtype)
    want[:f] = dy.transpose(1, 2, 3, 0)  # [f, i, j, n]
    want = want.reshape(-1, fbw, ho, wo * n).transpose(0, 2, 3, 1)  # [blk, i, j*N + n, m]
    np.testing.assert_array_equal(dyb, want)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize(
    "f, c, kh, kw",
    # the second: 900 columns (c, u, v), more than one work item of the forward's packing
    # (PACK_COLUMNS), the last one partial and starting inside a channel's taps
    [(37, 21, 3, 2), (20, 100, 3, 3)],
)
def test_pack_weights(f, c, kh, kw, flip, dtype):
    rng = np.random.default_rng(2)
    fbw = 16
    w = rng.standard_normal((f, c, kh, kw)).astype(dtype)
    mask = (rng.random((f, c)) > 0.2).astype(np.uint8)
    holes = np.argwhere(mask == 0)
    w[tuple(holes[0])] = np.nan  # outside the table: packed as 0, not a reason to refuse
    wp, ok = regtile.pack_weights(w, mask, fbw, flip)
    assert ok
    wm = np.where(mask[:, :, None, None] == 1, w, 0)
    if flip:  # maps = input channels, the kernel turned by 180 degrees
        wm = wm[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
    m, k = wm.shape[:2]
    want = np.zeros((-(-m // fbw) * fbw, k, kh * kw), dtype=dtype)
    want[:m] = wm.reshape(m, k, kh * kw)
    want = want.reshape(-1, fbw, k, kh * kw).transpose(0, 2, 3, 1)  # [blk, k, r, m]
    np.testing.assert_array_equal(wp, want)
    live = tuple(np.argwhere(mask == 1)[-1])
    w[live] = np.inf
    assert not regtile.pack_weights(w, mask, fbw, flip)[1]  # a weight in use: refused


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "f, c, kh, kw, fbw",
    # one work item per map: 34 maps in blocks of 16 (a last block of 2 maps), 5 maps in
    # one short block of 8, 48 maps in one full block; 540, 175 and 12 taps (c, u, v)
    [(34, 60, 3, 3, 16), (5, 7, 5, 5, 8), (48, 3, 2, 2, 48)],
)
def test_from_dw_tiles(f, c, kh, kw, fbw, dtype):
    """The weight gradient's tile sums ``dwb[blk, r, m]`` -> ``dw[f, c, u, v]`` (``f = blk*FB
    + m``, ``r = (u*KW + v)*C + c``), copied bit for bit, 0 outside the connection table;
    rows of ``dwb`` past ``C*KH*KW`` (the tile's padding taps) are not read."""
    rng = np.random.default_rng(3)
    nb, r = -(-f // fbw), c * kh * kw
    dwb = rng.standard_normal((nb, r + 5, fbw)).astype(dtype)
    dwb[:, r:] = np.nan  # padding taps
    mask = (rng.random((f, c)) > 0.2).astype(np.uint8)
    dw = regtile.from_dw_tiles(dwb, mask, kh, kw)
    # by its definition, one entry at a time
    want = np.empty((nb * fbw, c, kh, kw), dtype)
    for fb in range(nb * fbw):
        for k in range(c):
            for u in range(kh):
                for v in range(kw):
                    want[fb, k, u, v] = dwb[fb // fbw, (u * kw + v) * c + k, fb % fbw]
    full_want = want[:f].copy()
    want = want[:f]
    want = np.where(mask[:, :, None, None] == 1, want, 0)
    assert dw.dtype == dtype and dw.shape == (f, c, kh, kw)
    np.testing.assert_array_equal(dw, want)
    full = regtile.from_dw_tiles(dwb, np.ones_like(mask), kh, kw)
    np.testing.assert_array_equal(full, full_want)
