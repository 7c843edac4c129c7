"""``cnnsim experiment``: the lecture's training experiments beyond ``gradflow``."""
import json

import click

from .options import FIGURE_EXTS, POSITIVE, SEED, check_output_file, target_option


@click.group()
def experiment():
    """Experiments from the papers, scaled down to run on a laptop.

    \b
      cnnsim experiment degradation    deeper plain nets train worse; residual ones don't
      cnnsim experiment aux-heads      GoogLeNet's auxiliary classifiers feed early layers
    """


@experiment.command()
@target_option
@click.option("--depths", default="20,56", show_default=True,
              help="comma-separated 6n+2 depths (20, 32, 44, 56, ...)")
@click.option("--width", default=0.25, show_default=True, type=POSITIVE,
              help="map multiplier of the 16/32/64 CIFAR widths")
@click.option("--epochs", default=3, show_default=True, type=click.IntRange(1, 200))
@click.option("--limit", default=1000, show_default=True, type=click.IntRange(10),
              help="training images")
@click.option("--test-limit", default=500, show_default=True, type=click.IntRange(10))
@click.option("--data", default="synthetic", show_default=True,
              type=click.Choice(["synthetic", "mnist", "fashion-mnist"]))
@click.option("--data-dir", type=click.Path(file_okay=False))
@click.option("--lr", default=0.05, show_default=True, type=POSITIVE)
@click.option("--seed", default=0, show_default=True, type=SEED)
@click.option("--json", "as_json", is_flag=True, help="print the curves as JSON")
@click.option("--out", type=click.Path(dir_okay=False), help="write the training-error figure (PNG)")
def degradation(depths, width, epochs, limit, test_limit, data, data_dir, lr, seed, as_json, out):
    """Plain vs residual nets of several depths (He et al. 2015, fig. 1 and 6).

    Trains each net on the same images with the same seed and reports training error per
    epoch: with enough epochs the deeper plain net ends higher than the shallower one,
    while the residual nets do not degrade. Scaled down (narrow, few images, few epochs):
    expect the trend, not the paper's numbers.
    """
    from ..data import DataError
    from ..experiments.degradation import degradation as run
    if out:
        check_output_file(out, "--out", FIGURE_EXTS)
    try:
        ds = tuple(int(d) for d in depths.split(","))
        res = run(ds, width, limit, test_limit, epochs, 64, lr, seed, data, data_dir,
                  progress=not as_json)
    except (ValueError, DataError) as e:
        raise click.UsageError(str(e).splitlines()[0])
    if out:
        from .._atomic import save_figure
        from ..plotting.training import curves_figure
        save_figure(curves_figure({k: v["train_error"] for k, v in res["runs"].items()},
                                  "Degradation: training error", "training error"), out)
    if as_json:
        click.echo(json.dumps(res, indent=1))
        return
    click.echo(f"data: {res['config']['data']}")
    click.echo(f"{'net':<12}{'params':>9}  train error per epoch{'':<12}test error  seconds")
    for k, v in res["runs"].items():
        curve = " ".join(f"{e:.3f}" for e in v["train_error"])
        click.echo(f"{k:<12}{v['params']:>9,}  {curve:<33} {v['test_error'][-1]:.3f}  {v['seconds']:7.1f}")
    if out:
        click.echo(f"figure written to {out}")


@experiment.command("aux-heads")
@target_option
@click.option("--width", default=0.125, show_default=True, type=POSITIVE)
@click.option("--input-size", default=96, show_default=True, type=click.IntRange(32, 224))
@click.option("--batch", default=8, show_default=True, type=click.IntRange(1, 256))
@click.option("--seed", default=0, show_default=True, type=SEED)
@click.option("--json", "as_json", is_flag=True)
def aux_heads(width, input_size, batch, seed, as_json):
    """Gradient reaching each GoogLeNet layer with and without the auxiliary classifiers.

    Same network, same batch: the main loss alone, then main + 0.3 x (aux1 + aux2). Layers
    below inception 4d receive more gradient (the heads' share); layers above are unchanged.
    """
    from ..experiments.aux_heads import aux_gradient_effect
    res = aux_gradient_effect(width, input_size, batch, seed)
    if as_json:
        click.echo(json.dumps(res, indent=1))
        return
    click.echo(f"GoogLeNet width {width}, {input_size}x{input_size}, batch {batch}: ||dL/dW|| per layer")
    click.echo(f"{'layer':<34}{'main only':>11}{'+ aux':>11}{'gain':>7}")
    for l, a, b, g in zip(res["layers"], res["without_aux"], res["with_aux"], res["gain"]):
        click.echo(f"{l:<34}{a:>11.3e}{b:>11.3e}{g:>7.2f}")
