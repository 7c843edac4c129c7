"""``cnnsim gradflow``: vanishing gradients in a plain tower, and skip connections fixing them."""

import json

import click

from .options import FIGURE_EXTS, INIT, INIT_HELP, POSITIVE, SEED, check_output_file, target_option


@click.command()
@target_option
@click.option(
    "--depth",
    default=20,
    show_default=True,
    type=click.IntRange(2, 200),
    help="number of conv layers in each tower",
)
@click.option(
    "--activation",
    default="sigmoid",
    show_default=True,
    type=click.Choice(["sigmoid", "tanh", "relu"]),
    help="hidden activation",
)
@click.option(
    "--steps",
    default=0,
    show_default=True,
    type=click.IntRange(0, 10000),
    help="also record after this many SGD steps on the batch",
)
@click.option(
    "--width",
    default=8,
    show_default=True,
    type=click.IntRange(1, 256),
    help="feature maps per conv layer",
)
@click.option("--batch", default=32, show_default=True, type=click.IntRange(1, 4096))
@click.option(
    "--lr", default=0.1, show_default=True, type=POSITIVE, help="learning rate for --steps"
)
@click.option("--seed", default=0, show_default=True, type=SEED)
@click.option("--init", "init", default=None, type=INIT, help=INIT_HELP)
@click.option(
    "--batchnorm",
    is_flag=True,
    help="batch normalization after every conv (conv, batch norm, activation)",
)
@click.option(
    "--unit",
    default="pre",
    show_default=True,
    type=click.Choice(["pre", "post"]),
    help="residual unit: pre = pre-activation, y = x + conv(act(conv(act(x)))) "
    "(He et al. 2016); post = the 2015 unit as the lecture draws it, "
    "y = act(conv(act(conv(x))) + x)",
)
@click.option(
    "--json", "as_json", is_flag=True, help="print the numbers as JSON instead of a table"
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    help="write the side-by-side figure to this file (.png, .svg or .pdf)",
)
def gradflow(depth, activation, steps, width, batch, lr, seed, as_json, out, init, batchnorm, unit):
    """Plot per-layer gradient norms of a plain and a residual tower.

    Both towers have the same DEPTH conv layers, the same activation and the same
    initialization seed, and see the same batch (synthetic digits, offline). In the plain
    tower the gradient shrinks layer after layer on its way back (sigmoid: by about 4x per
    layer at best); the residual twin's skip connections carry it to the first layer.
    --unit picks the residual unit: "pre" (default) leaves the shortcut bare; with "post"
    (the 2015 unit, activation after the addition) a sigmoid still shrinks the gradient
    at every unit.

    \b
    Examples:
      cnnsim gradflow --depth 20 --activation sigmoid --out gradflow.png
      cnnsim gradflow --depth 20 --activation relu --steps 50
      cnnsim gradflow --depth 10 --json
      cnnsim gradflow --depth 20 --activation relu --init normal:0.01
      cnnsim gradflow --depth 20 --activation sigmoid --batchnorm
      cnnsim gradflow --depth 20 --unit post      # the 2015 unit: still vanishes
    """
    from ..experiments.gradflow import compare_plain_residual

    if out:
        check_output_file(out, "--out", FIGURE_EXTS)
    res = compare_plain_residual(
        depth=depth,
        activation=activation,
        steps=steps,
        lr=lr,
        batch=batch,
        width=width,
        seed=seed,
        init=init,
        batchnorm=batchnorm,
        unit=unit,
    )
    if out:
        from .._atomic import save_figure
        from ..plotting.gradflow import gradflow_figure

        save_figure(gradflow_figure(res), out)
    if as_json:
        click.echo(json.dumps(res, indent=1))
        return
    click.echo(
        f"gradient flow, {depth}-layer {activation} towers, batch {res['config']['batch']}, "
        f"seed {seed}, {unit}-activation residual units: ||dL/dW|| per layer at initialization"
    )
    click.echo(
        f"init {res['config']['init']}"
        f"{', batch norm after every conv' if batchnorm else ', no batch norm'}"
    )
    click.echo(f"{'layer':<14}{'plain':>12}{'residual':>12}")
    for name, p, r in zip(
        res["plain"]["layers"], res["plain"]["grad_norm"], res["residual"]["grad_norm"]
    ):
        click.echo(f"{name:<14}{p:>12.3e}{r:>12.3e}")
    for kind in ("plain", "residual"):
        e = res[kind]
        line = f"{kind:>8}: first/last hidden layer gradient ratio {e['first_last_ratio']:.3e}"
        if "trained" in e:
            line += (
                f"; after {steps} steps {e['trained']['first_last_ratio']:.3e}, "
                f"loss {e['trained']['losses'][0]:.3f} -> {e['trained']['loss']:.3f}"
            )
        click.echo(line)
    if out:
        click.echo(f"figure written to {out}")
