"""What do 1x1 reductions save in an inception module? Parameters and multiply-adds of each
GoogLeNet module (Szegedy et al. 2014, Table 1) with its 1x1 "reduce" convolutions, and of the
naive module without them, counted by cnnsim's own layers (``param_count()``, ``macs()``).

Lecture question: why does GoogLeNet put 1x1 convolutions before its 3x3 and 5x5 ones?

    python demos/inception_savings.py --out figs/inception
"""

from _common import out_dir, parse, save

# input maps of each module on a 224x224 image: depth, height = width
INPUTS = {
    "3a": (192, 28),
    "3b": (256, 28),
    "4a": (480, 14),
    "4b": (512, 14),
    "4c": (512, 14),
    "4d": (512, 14),
    "4e": (528, 14),
    "5a": (832, 7),
    "5b": (832, 7),
}


def naive_inception(name, n1, n3, n5):
    """The module without reductions: 1x1, 3x3 and 5x5 on the full input, 3x3 max pool."""
    from cnnsim import layers as L

    conv = lambda f, k, nm: L.Conv2D(f, k, 1, "same", activation="relu", name=nm)  # noqa: E731
    return L.Concat(
        [
            conv(n1, 1, "1x1"),
            conv(n3, 3, "3x3"),
            conv(n5, 5, "5x5"),
            L.MaxPool2D(3, 1, "same", name="pool"),
        ],
        name=name,
    )


def counts(module, in_shape):
    from cnnsim import layers as L
    from cnnsim.layers.initializers import shapes_only

    with shapes_only():  # zeros: no random draws needed
        net = L.Sequential([module], input_shape=in_shape)
    return net.param_count(), net.macs(), net.output_shape


def main(argv=None):
    args = parse(__doc__, argv)
    folder = out_dir(args, "inception_savings")

    from cnnsim import layers as L
    from cnnsim.models.googlenet import INCEPTION, inception

    # the textbook example: 32 5x5 filters on 192@28x28, directly or after 16 1x1 filters
    direct = counts(L.Conv2D(32, 5, 1, "same", name="5x5"), (192, 28, 28))
    reduced = counts(
        L.Sequential(
            [L.Conv2D(16, 1, name="reduce"), L.Conv2D(32, 5, 1, "same", name="5x5")], name="b"
        ),
        (192, 28, 28),
    )
    print("32 5x5 filters on 192@28x28:")
    print(f"  directly          {direct[0]:>10,} params {direct[1]:>13,} multiply-adds")
    print(
        f"  after 16 1x1      {reduced[0]:>10,} params {reduced[1]:>13,} multiply-adds "
        f"({direct[1] / reduced[1]:.1f}x fewer)"
    )

    keys = ["3a"] if args.quick else list(INCEPTION)
    print(
        f"\n{'module':8s} {'input':>10s} {'params':>11s} {'no 1x1':>12s} {'MACs':>14s} "
        f"{'no 1x1':>15s} {'out':>6s} {'no 1x1':>7s}"
    )
    rows = []
    for key in keys:
        n1, n3r, n3, n5r, n5, pp = INCEPTION[key]
        d, hw = INPUTS[key]
        shape = (d, hw, hw)
        p, m, out = counts(inception(f"inception_{key}", *INCEPTION[key]), shape)
        pn, mn, outn = counts(naive_inception(f"naive_{key}", n1, n3, n5), shape)
        rows.append((key, p, pn, m, mn))
        print(
            f"{key:8s} {f'{d}@{hw}x{hw}':>10s} {p:>11,} {pn:>12,} {m:>14,} {mn:>15,} "
            f"{out[0]:>6d} {outn[0]:>7d}"
        )
    tp, tpn = sum(r[1] for r in rows), sum(r[2] for r in rows)
    tm, tmn = sum(r[3] for r in rows), sum(r[4] for r in rows)
    print(f"{'total':19s} {tp:>11,} {tpn:>12,} {tm:>14,} {tmn:>15,}")
    print(
        f"the 1x1 reductions save {1 - tp / tpn:.0%} of the parameters and "
        f"{1 - tm / tmn:.0%} of the multiply-adds (each module fed its real input); and "
        f"without the pool projection every module's output is deeper, so the next "
        f"module would cost even more"
    )

    import numpy as np
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3.6), dpi=80)
    ax = fig.add_subplot(1, 1, 1)
    idx = np.arange(len(rows))
    ax.bar(idx - 0.2, [r[4] / 1e6 for r in rows], 0.4, label="no 1x1 reductions", color="tab:red")
    ax.bar(
        idx + 0.2,
        [r[3] / 1e6 for r in rows],
        0.4,
        label="GoogLeNet (1x1 reductions)",
        color="tab:blue",
    )
    ax.set_xticks(idx)
    ax.set_xticklabels([f"inception_{r[0]}" for r in rows], rotation=30, fontsize=8)
    ax.set_ylabel("million multiply-adds")
    ax.set_title("Inception modules: what the 1x1 reductions save")
    ax.legend()
    fig.tight_layout()
    save(fig, folder, "inception_savings.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
