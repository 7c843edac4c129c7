"""Pooling drops inputs: a 2x2 max pool with stride 2 passes 1 input in 4 (25%) and drops
75% — in the forward pass (only the window's winner reaches the output) and in the backward
pass (only the winner gets a gradient). Overlapping 3x3/2 pooling (AlexNet) passes even
fewer distinct inputs: one large value can win two overlapping windows.

Lecture question: how much information does a pooling layer throw away?

    python demos/pooling_drops.py --out figs/pool
"""

from _common import out_dir, parse, save


def passed_fraction(x, size, stride):
    """(fraction of inputs that win some window, fraction with a nonzero gradient)."""
    import numpy as np

    from cnnsim import functional as F

    idx = F.max_pool2d_argmax(x, size, stride)  # winner of every window
    n, c, h, w = x.shape
    winners = sum(len(np.unique(idx[i, j])) for i in range(n) for j in range(c))
    dy = np.ones_like(F.max_pool2d(x, size, stride))
    dx = F.max_pool2d_backward(dy, x, size, stride)  # gradient goes to winners only
    return winners / x.size, float(np.count_nonzero(dx)) / x.size


def main(argv=None):
    args = parse(__doc__, argv)
    folder = out_dir(args, "pooling_drops")

    import numpy as np

    from cnnsim import functional as F
    from cnnsim.plotting.arithmetic import pool_figure

    # the lecture's picture: a 4x4 input, 2x2 windows, stride 2
    x = np.array([[1, 3, 2, 1], [4, 2, 0, 1], [5, 1, 3, 2], [0, 2, 4, 6]], dtype=np.float32)
    y = F.max_pool2d(x[None, None], 2, 2)[0, 0]
    print("input:\n", x, "\n2x2 max pool, stride 2:\n", y)
    save(pool_figure((4, 4), 2, 2, x=x), folder, "maxpool_2x2.png")

    n, hw = (2, 16) if args.quick else (16, 64)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 8, hw, hw)).astype(np.float32)  # continuous: no ties
    for size, stride, label in [(2, 2, "2x2 stride 2 (lecture)"), (3, 2, "3x3 stride 2 (AlexNet)")]:
        fwd, bwd = passed_fraction(x, size, stride)
        out = F.max_pool2d(x, size, stride)
        print(
            f"{label:24s}: {x.shape[2]}x{x.shape[3]} -> {out.shape[2]}x{out.shape[3]}; "
            f"inputs reaching the output {fwd:.1%}, dropped {1 - fwd:.1%}; "
            f"inputs with a gradient {bwd:.1%}"
        )
    if not args.quick:
        save(pool_figure((7, 7), 3, 2), folder, "maxpool_3x3_stride2.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
