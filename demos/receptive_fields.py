"""Watch receptive fields grow layer by layer: the box of input pixels one neuron can see,
for every layer of LeNet-5 (and, without --quick, of the lecture's AlexNet).

Lecture question: a C1 neuron sees 5x5 pixels; how much of the image does a neuron of a
deeper layer see? (size' = size + (f - 1) * jump, jump' = jump * s)

    python demos/receptive_fields.py --out figs/rf
"""

from _common import out_dir, parse, save


def _geometry_table(net):
    """(layer, kernel, stride, RF size, jump) for each window layer, via cnnsim.geometry."""
    from cnnsim import geometry

    rows, stack = [], []
    for leaf in net.leaves():
        g = leaf.geometry()
        if not g:
            continue
        stack.append((g["kernel"], g["stride"], (g["padding"][0], g["padding"][2])))
        size, jump, _ = geometry.compose_receptive_field(stack)
        rows.append((leaf.path, g["kernel"], g["stride"], size, jump))
    return rows


def _print_table(title, rows):
    print(title)
    print(f"  {'layer':8s} {'kernel':>7s} {'stride':>7s} {'RF size':>9s} {'jump':>6s}")
    for name, k, s, size, jump in rows:
        print(
            f"  {name:8s} {k[0]:>4d}x{k[1]:<2d} {s[0]:>7d} {size[0]:>5d}x{size[1]:<3d} {jump[0]:>6d}"
        )


def main(argv=None):
    args = parse(__doc__, argv)
    folder = out_dir(args, "receptive_fields")

    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    from cnnsim import models
    from cnnsim.data import fit_to, load_sample
    from cnnsim.engine import record
    from cnnsim.engine.receptive_field import receptive_field
    from cnnsim.models.summary import shapes_only

    net = models.build("lenet5")
    _print_table(
        "LeNet-5 (32x32 input): receptive field of one neuron, per layer", _geometry_table(net)
    )

    # the same from a trace: the box in the image of the centre neuron of each layer
    x, _ = fit_to(load_sample("digit5"), net.input_shape)
    trace = record(net, x[None])
    fig = Figure(figsize=(5, 5), dpi=80)
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(x[0], cmap="gray")
    colors = ["tab:red", "tab:orange", "tab:green", "tab:cyan", "tab:purple"]
    print("\ncentre neuron of each layer, its box in the 32x32 image (from the trace):")
    for name, color in zip(["C1", "S2", "C3", "S4", "C5"], colors):
        _, h, w = trace[name].output_shape
        rf = receptive_field(trace, name, (h - 1) // 2, (w - 1) // 2)
        print(
            f"  {name} ({(h - 1) // 2}, {(w - 1) // 2}): rows {rf.top}..{rf.bottom}, cols "
            f"{rf.left}..{rf.right}  ({rf.size[0]}x{rf.size[1]})"
        )
        ax.add_patch(
            Rectangle(
                (rf.left - 0.5, rf.top - 0.5),
                rf.right - rf.left + 1,
                rf.bottom - rf.top + 1,
                fill=False,
                lw=2,
                edgecolor=color,
                label=f"{name}: {rf.size[0]}x{rf.size[1]}",
            )
        )
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("LeNet-5: receptive field of the centre neuron")
    fig.tight_layout()
    save(fig, folder, "lenet5_receptive_fields.png")

    if not args.quick:
        with shapes_only():  # AlexNet's geometry without its weights
            alex = models.build("alexnet")
        print()
        _print_table("AlexNet (lecture, 224x224 input)", _geometry_table(alex))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
