"""Vanishing gradients: per-layer gradient norms of a deep plain tower and of its residual
twin (same depth, activation, initialization seed and batch of synthetic digits).

Lecture question: why do gradients vanish in a deep sigmoid network, and how do the skip
connections of ResNet's residual units carry them back to the first layers?

    python demos/vanishing_gradients.py --out figs/gradflow
    python demos/vanishing_gradients.py --activation relu --depth 30
"""

from _common import out_dir, parse, save


def _extra(ap):
    ap.add_argument("--depth", type=int, default=20, help="conv layers per tower")
    ap.add_argument("--activation", default="sigmoid", choices=["sigmoid", "tanh", "relu"])


def main(argv=None):
    args = parse(__doc__, argv, _extra)
    folder = out_dir(args, "vanishing_gradients")

    from cnnsim.experiments.gradflow import compare_plain_residual
    from cnnsim.plotting.gradflow import gradflow_figure

    depth, batch, width = (6, 4, 4) if args.quick else (args.depth, 32, 8)
    res = compare_plain_residual(
        depth=depth, activation=args.activation, batch=batch, width=width, seed=0
    )
    print(f"{depth} conv layers, {args.activation}, batch {batch}: ||dL/dW|| per layer")
    print(f"  {'layer':18s} {'plain':>10s} {'residual':>10s}")
    for name, gp, gr in zip(
        res["plain"]["layers"], res["plain"]["grad_norm"], res["residual"]["grad_norm"]
    ):
        print(f"  {name:18s} {gp:10.3e} {gr:10.3e}")
    for kind in ("plain", "residual"):
        print(
            f"{kind:8s}: first / last hidden layer gradient = {res[kind]['first_last_ratio']:.3g}"
        )
    save(gradflow_figure(res), folder, "gradflow.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
