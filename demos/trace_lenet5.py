"""Trace LeNet-5 on a handwritten digit: every layer's output, one neuron rebuilt from
its inputs, and its receptive field in the image.

Lecture question: what does each layer of LeNet-5 compute, and which pixels can one C3
neuron see?

    python demos/trace_lenet5.py --out figs/trace            # sample digit 3
    python demos/trace_lenet5.py --digit 7 --quick
"""

from _common import out_dir, parse, save


def main(argv=None):
    args = parse(
        __doc__,
        argv,
        lambda ap: ap.add_argument(
            "--digit", type=int, default=3, choices=range(10), help="which shipped sample digit"
        ),
    )
    folder = out_dir(args, "trace_lenet5")

    from cnnsim import display, models
    from cnnsim.data import fit_to, load_sample
    from cnnsim.engine import record
    from cnnsim.engine.connections import connections
    from cnnsim.engine.receptive_field import effective_receptive_field, receptive_field
    from cnnsim.plotting.maps import feature_maps_figure
    from cnnsim.plotting.neuron import neuron_figure
    from cnnsim.plotting.receptive import receptive_field_figure

    net = models.build("lenet5")  # the paper's LeNet-5, untrained
    x, note = fit_to(load_sample(f"digit{args.digit}"), net.input_shape)
    x = x[None]  # a batch of one: (1, 1, 32, 32)
    print(f"input: digit {args.digit} ({note})")
    trace = record(net, x)
    print(display.trace_text(trace))

    # one C3 neuron: C3 map 2 reads S2 maps 2, 3, 4 only (LeNet-5's connection table)
    c = connections(trace, "C3", 2, 4, 4)
    print(
        f"\nC3 neuron (map 2, row 4, col 4) reads S2 maps {list(c.channels)}, rows "
        f"{c.rows[0]}..{c.rows[-1]}, cols {c.cols[0]}..{c.cols[-1]}"
    )
    print(
        f"sum of products + bias = {c.sum:.6f}; {c.activation} -> {c.output:.6f}; "
        f"the kernel computed {c.recorded:.6f} (agree: {c.ok})"
    )
    rf = receptive_field(trace, "C3", 4, 4)
    print(
        f"its receptive field in the 32x32 image: rows {rf.top}..{rf.bottom}, cols "
        f"{rf.left}..{rf.right} ({rf.size[0]}x{rf.size[1]}, jump {rf.jump})"
    )

    layers = ["C1"] if args.quick else ["C1", "S2", "C3", "S4"]
    for name in layers:
        save(feature_maps_figure(trace[name]), folder, f"maps_{name}.png")
    save(neuron_figure(c), folder, "neuron_C3.png")
    erf = None if args.quick else effective_receptive_field(net, x, "C3", 2, 4, 4)
    save(receptive_field_figure(x[0], rf, erf), folder, "receptive_field_C3.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
