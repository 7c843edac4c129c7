"""Layout changes that are transpositions, done in vector registers.

The fast convolutions keep images innermost (batch lanes, ``layouts.to_lanes``) or maps
in vector lanes (the register tile, :mod:`.regtile`); a network's arrays are ``(N, C, H,
W)``. Moving numbers between these layouts is a transposition. One number at a time it
ran at ~4 cycles a number (the register tile's output took 1.0 ms of the ResNet 3x3
layer's ~11 ms forward at batch 8); in ``L x L`` blocks loaded as vectors, transposed by
shuffles and stored as vectors (:func:`.simd.transpose_block`), about 5x faster.
Nothing here computes: the same numbers land in the same places either way.
"""

from numba import njit

from .simd import LANES32, LANES64, transpose_block


@njit(cache=True)
def block_side(n, itemsize):
    """The side of the blocks for a transposition whose shorter edge is ``n``: the widest
    of 16, 8, 4 that is at most ``n`` and a register's lanes; 0 (too short for blocks)
    when ``n < 4`` or the CPU has no FMA vectors."""
    widest = LANES32 if itemsize == 4 else LANES64  # one register a row
    for side in (16, 8, 4):
        if side <= n and side <= widest:
            return side
    return 0


@njit(cache=True)
def transpose_blocks(src, s0, ss, dst, d0, ds, rows, cols):
    """``dst[d0 + a*ds + b] = src[s0 + b*ss + a]`` for ``b < rows``, ``a < cols``: a
    ``rows x cols`` matrix at element offset ``s0`` of ``src``'s data (row pitch ``ss``)
    written transposed at ``d0`` of ``dst``'s (row pitch ``ds``); offsets count elements
    from each array's first one, so a C-contiguous array's are its flat indices.

    In ``L x L`` blocks (:func:`block_side`); the last block of the rows and of the
    columns starts ``L`` before their end, overlapping the one before it (those numbers
    are written twice, the same both times). Returns False, having done nothing, when the
    matrix is too narrow for blocks: the caller moves it one number at a time."""
    side = block_side(min(rows, cols), src.itemsize)
    if side == 0:
        return False
    for b in range(0, rows, side):
        b0 = min(b, rows - side)
        for a in range(0, cols, side):
            a0 = min(a, cols - side)
            square(src, s0 + b0 * ss + a0, ss, dst, d0 + a0 * ds + b0, ds, side)
    return True


@njit(cache=True)
def square(src, s0, ss, dst, d0, ds, side):
    """One ``side x side`` block (16, 8 or 4) of :func:`transpose_blocks`:
    :func:`.simd.transpose_block` wants its side as a constant."""
    if side == 16:
        transpose_block(src, s0, ss, dst, d0, ds, 16)
    elif side == 8:
        transpose_block(src, s0, ss, dst, d0, ds, 8)
    else:
        transpose_block(src, s0, ss, dst, d0, ds, 4)


@njit(cache=True)
def lanes_to_maps(row, fbw, y, f0, live, i):
    """Output row ``i`` of maps ``f0 .. f0 + live - 1`` from a register tile's row of
    sums: ``y[n, f0 + m, i, j] = row[(j*N + n)*fbw + m]`` for ``y (N, F, Ho, Wo)`` and
    ``row`` (positions x ``fbw`` maps), both C-contiguous. Image by image, a ``Wo x live``
    transposition (:func:`transpose_blocks`)."""
    n_, maps, ho, wo = y.shape
    for n in range(n_):
        d0 = ((n * maps + f0) * ho + i) * wo
        if not transpose_blocks(row, n * fbw, n_ * fbw, y, d0, ho * wo, wo, live):
            for m in range(live):
                for j in range(wo):
                    y[n, f0 + m, i, j] = row[(j * n_ + n) * fbw + m]
