"""``cnnsim experiment``: the lecture's training experiments beyond ``gradflow``.

Each command parses its options, calls ``cnnsim.experiments`` (plain data back), prints a
table (or ``--json``) and, with ``--out``, a figure. Progress goes to stderr, one line per
epoch, naming the network being trained.
"""

import json
import textwrap

import click

from .options import FIGURE_EXTS, POSITIVE, SEED, check_output_file, stack_options, target_option

EXAMPLES = """\b
  cnnsim experiment degradation    deeper plain nets train worse; residual ones don't
  cnnsim experiment skip-span      shortcuts over 0, 1 or 2 layers (the slide's claim)
  cnnsim experiment lenet-gap      sigmoid/tanh/ReLU and little data: LeNet-5's gap
  cnnsim experiment wide-deep      the same parameters as 2 wide or 8 narrow layers
  cnnsim experiment dropout        dropout on and off on few images
  cnnsim experiment aux-heads      GoogLeNet's auxiliary classifiers feed early layers"""


@click.group(help="Experiments from the papers, scaled down to run on a laptop.\n\n" + EXAMPLES)
def experiment():
    pass


def _ints(text, option):
    try:
        return tuple(int(v) for v in str(text).split(","))
    except ValueError:
        raise click.BadParameter(
            f"expected comma-separated integers, got {text!r}", param_hint=option
        ) from None


def _progress(quiet):
    """The progress callback (stderr); on a first run (Numba's cache holds none of cnnsim's
    kernels) it says at once that the kernels compile before the first epoch line."""
    if quiet:
        return None
    from .warm_up import COMPILING, _cache_empty, _kernel_dispatchers

    if _cache_empty(_kernel_dispatchers()):
        click.echo(f"{COMPILING}: the first epoch line comes after it (a minute or so)", err=True)
    return lambda line: click.echo(line, err=True)


def _run(fn, *args, **kw):
    from ..data import DataError

    try:
        return fn(*args, **kw)
    except ValueError as e:
        raise click.UsageError(str(e).splitlines()[0]) from None
    except DataError as e:
        raise click.ClickException(str(e).splitlines()[0]) from None


def curves_table(runs, key="train_error", last=6):
    """Lines: net, parameters, the last ``last`` values of ``key`` per epoch, the final
    test error."""
    n = len(next(iter(runs.values()))[key])
    shown = min(last, n)
    skip = "... " if n > shown else ""
    col = len(skip) + 6 * shown
    head = f"{key.replace('_', ' ')} per epoch" + (f" (last {shown})" if skip else "")
    lines = [f"{'net':<20}{'params':>9}  {head:<{col}}  test error"]
    for name, r in runs.items():
        curve = skip + " ".join(f"{v:.3f}" for v in r[key][-shown:])
        test = "" if r.get("test_error") is None else f"{r['test_error'][-1]:.3f}"
        lines.append(f"{name:<20}{r['params']:>9,}  {curve:<{col}}  {test}")
    return lines


def _finish(res, show, title, lines):
    """Print the result (or ``--json``) and, with ``--out``, write the training-error
    figure; ``show`` is the ``(as_json, out)`` pair ``_train`` returns."""
    as_json, out = show
    if out:
        from .._atomic import save_figure
        from ..plotting.training import curves_figure

        save_figure(
            curves_figure(
                {k: v["train_error"] for k, v in res["runs"].items()}, title, "training error"
            ),
            out,
        )
    if as_json:
        click.echo(json.dumps(res, indent=1))
        return
    click.echo(f"data: {res['config']['data']}")
    for line in lines:
        click.echo(line)
    if out:
        click.echo(f"figure written to {out}")


def _training(epochs, lr, limit=None, size=None, batch_size=None):
    """Decorator: the options every training experiment shares, with this experiment's
    defaults: ``--epochs``, ``--limit`` (when ``limit`` is given), ``--test-limit``,
    ``--size`` (when ``size`` is given), ``--batch-size`` (when ``batch_size``, its default,
    is given), ``--lr``, then ``--data``, ``--data-dir``, ``--seed``, ``--quiet``,
    ``--json``, ``--out``. The
    command receives them as keyword arguments and hands them to ``_train`` whole."""
    opts = [
        click.option("--epochs", default=epochs, show_default=True, type=click.IntRange(1, 200))
    ]
    if limit is not None:
        opts.append(
            click.option(
                "--limit",
                default=limit,
                show_default=True,
                type=click.IntRange(10),
                help="training images",
            )
        )
    opts.append(
        click.option("--test-limit", default=500, show_default=True, type=click.IntRange(10))
    )
    if size is not None:
        opts.append(
            click.option(
                "--size",
                default=size,
                show_default=True,
                type=click.Choice(["7", "14", "28"]),
                callback=lambda c, p, v: int(v),
                help="image size (28x28 digits block-averaged)",
            )
        )
    if batch_size is not None:
        opts.append(
            click.option(
                "--batch-size", default=batch_size, show_default=True, type=click.IntRange(1, 4096)
            )
        )
    opts += [
        click.option("--lr", default=lr, show_default=True, type=POSITIVE),
        click.option(
            "--data",
            default="synthetic",
            show_default=True,
            type=click.Choice(["synthetic", "mnist", "fashion-mnist"]),
        ),
        click.option("--data-dir", type=click.Path(file_okay=False)),
        click.option("--seed", default=0, show_default=True, type=SEED),
        click.option("--quiet", is_flag=True, help="no progress lines on stderr"),
        click.option("--json", "as_json", is_flag=True, help="print the curves as JSON"),
        click.option(
            "--out",
            type=click.Path(dir_okay=False),
            callback=lambda c, p, v: v and check_output_file(v, "--out", FIGURE_EXTS),
            help="write the training-error figure (PNG)",
        ),
    ]
    return stack_options(opts)


def _train(fn, training, **own):
    """Run the experiment ``fn`` with its own arguments ``own`` and the shared options
    ``training`` (from ``_training``); returns ``(result, (as_json, out))``. Progress
    lines go to stderr unless ``--quiet`` or ``--json``."""
    training = dict(training)
    quiet, as_json, out = training.pop("quiet"), training.pop("as_json"), training.pop("out")
    res = _run(fn, **own, **training, progress=_progress(quiet or as_json))
    return res, (as_json, out)


_cifar_width = click.option(
    "--width",
    default=0.25,
    show_default=True,
    type=POSITIVE,
    help="map multiplier of the 16/32/64 CIFAR widths",
)


@experiment.command()
@target_option
@click.option(
    "--depths",
    default="8,32",
    show_default=True,
    help="comma-separated 6n+2 depths (8, 14, 20, 32, 44, 56, ...)",
)
@_cifar_width
@_training(epochs=16, lr=0.05, limit=500, size=14, batch_size=16)
@click.option(
    "--lr-step",
    default=12,
    show_default=True,
    type=click.IntRange(0),
    help="divide the learning rate by 10 every this many epochs (0 = never)",
)
def degradation(depths, width, **training):
    """Plain vs residual nets of several depths (He et al. 2015, fig. 1 and 6).

    Trains each net on the same images with the same seed, prints the training error per
    epoch, the final training errors side by side and a verdict computed from them: does
    the deeper plain net end higher than the shallower one (degradation), and its residual
    twin not? Scaled down (4/8/16 maps, 500 digits at 14x14, 16 epochs, the learning rate
    divided by 10 for the last 4): expect the trend, not the paper's numbers.
    """
    from ..experiments.degradation import degradation as run

    res, show = _train(run, training, depths=_ints(depths, "--depths"), width=width)
    _finish(res, show, "Degradation: training error", _degradation_lines(res))


def _degradation_lines(res):
    """The curves, then the final training errors as plain/residual x depth, then the
    verdict (``cnnsim.experiments.degradation.verdict``)."""
    from ..experiments.degradation import CHANCE, final_errors

    depths, epochs = res["config"]["depths"], res["config"]["epochs"]
    final = final_errors(res["runs"], depths)
    lines = curves_table(res["runs"]) + [
        "",
        f"final training error (epoch {epochs}; lower is better, {CHANCE} is guessing)",
        f"{'':<10}" + "".join(f"{f'{d} layers':>11}" for d in depths),
    ]
    for kind, errs in final.items():
        lines.append(f"{kind:<10}" + "".join(f"{e:>11.3f}" for e in errs))
    v = res["verdict"]
    lines.append("")
    text = "verdict: " + (v["text"] if v else "one depth only: nothing to compare")
    return lines + textwrap.wrap(text, 100, subsequent_indent=" " * 9)


@experiment.command("skip-span")
@target_option
@click.option(
    "--span",
    "spans",
    default="0,1,2",
    show_default=True,
    help="layers each shortcut skips: 0 (plain), 1, 2 (comma-separated)",
)
@click.option(
    "--depth", "depths", default="20,56", show_default=True, help="comma-separated 6n+2 depths"
)
@_cifar_width
@_training(epochs=10, lr=0.1, limit=500, size=14, batch_size=32)
def skip_span(spans, depths, width, **training):
    """Shortcuts over 0 (plain), 1 or 2 layers: "skipping a single layer didn't give much
    improvement" (He et al. 2015, sec. 3.1), measured.

    The same conv + batch-norm layers (cnnsim.models.skip_cifar), the same data, seed and
    batch order; only the span of the skip connections differs. Prints the training error
    per epoch and the final test error of each; what it shows is what these small nets do
    on these digits in a few epochs.
    """
    from ..experiments.skip_span import skip_span as run

    res, show = _train(
        run,
        training,
        spans=_ints(spans, "--span"),
        depths=_ints(depths, "--depth"),
        width=width,
    )
    _finish(res, show, "Skip span: training error", curves_table(res["runs"]))


def _gap_lines(res):
    lines = curves_table(res["runs"])
    lines += [
        "",
        "per layer after each epoch: saturated units (sigmoid, tanh: output within 1% "
        "of an asymptote)",
        "or dead units (ReLU: 0 for every probe image), in %",
    ]
    for name, r in res["runs"].items():
        what = "dead" if name.startswith("relu") else "saturated"
        lines.append(f"  {name} ({what})")
        for k, layer in enumerate(r["layers"]):
            vals = [ep[k] for ep in r[what]]
            lines.append(
                f"    {layer:<4}"
                + " ".join("   -" if v is None else f"{100 * v:4.0f}" for v in vals)
            )
    return lines


@experiment.command("lenet-gap")
@target_option
@click.option("--activations", default="sigmoid,tanh,relu", show_default=True)
@click.option(
    "--limits",
    default="100,1000",
    show_default=True,
    help="training-set sizes (small vs larger), comma-separated",
)
@_training(epochs=3, lr=0.05, batch_size=32)
def lenet_gap(activations, limits, **training):
    """LeNet-5's gap: slow to train, hard to train, neurons die, lack of data.

    Trains LeNet-5 (modern variant) with each activation on a small and a larger training
    set, same seed, and prints per epoch the training error and, per layer, the saturated
    (sigmoid/tanh) or dead (ReLU) fraction of units on a probe batch.
    """
    from ..experiments.lenet_gap import lenet_gap as run

    acts = tuple(a.strip() for a in activations.split(",") if a.strip())
    res, show = _train(run, training, activations=acts, limits=_ints(limits, "--limits"))
    _finish(res, show, "LeNet-5: training error", _gap_lines(res))


def _per_run(res, line):
    """The curves table, a blank line, then ``line(name, run)`` for each run."""
    return curves_table(res["runs"]) + [""] + [line(n, r) for n, r in res["runs"].items()]


@experiment.command("wide-deep")
@target_option
@_training(epochs=8, lr=0.05, limit=500)
def wide_deep(**training):
    """The same number of parameters as 2 wide layers (32 maps) or 8 narrow ones (12 maps).

    Both are 3x3 conv + batch norm + ReLU towers ending in global average pooling; the deep
    one sees a 17x17 patch per output, the wide one 5x5.
    """
    from ..experiments.capacity import wide_vs_deep

    res, show = _train(wide_vs_deep, training)
    lines = _per_run(
        res,
        lambda name, r: f"{name}: receptive field {r['receptive_field']}x{r['receptive_field']}",
    )
    _finish(res, show, "Wide vs deep: training error", lines)


@experiment.command("dropout")
@target_option
@click.option("--rate", default=0.5, show_default=True, type=click.FloatRange(0, 0.95))
@_training(epochs=12, lr=0.05, limit=200)
def dropout(rate, **training):
    """Dropout on and off: a small CNN with a 256-unit dense layer on few images.

    Without dropout the training error falls toward 0 while the test error stays higher
    (overfitting); with dropout the two stay closer.
    """
    from ..experiments.capacity import dropout_on_off

    res, show = _train(dropout_on_off, training, rate=rate)
    lines = _per_run(
        res, lambda name, r: f"{name}: test - training error at the end {r['gap'][-1]:+.3f}"
    )
    _finish(res, show, "Dropout on/off: training error", lines)


@experiment.command("aux-heads")
@target_option
@click.option("--width", default=0.125, show_default=True, type=POSITIVE)
@click.option("--input-size", default=96, show_default=True, type=click.IntRange(32, 224))
@click.option("--batch", default=8, show_default=True, type=click.IntRange(1, 256))
@click.option("--seed", default=0, show_default=True, type=SEED)
@click.option("--json", "as_json", is_flag=True)
def aux_heads(width, input_size, batch, seed, as_json):
    """Gradient reaching each GoogLeNet layer with and without the auxiliary classifiers.

    Same network, same batch: the main loss alone, then main + 0.3 x (aux1 + aux2), the
    heads sitting on the 3rd and 6th inception modules (4a and 4d). Layers above 4d get
    exactly the same gradient; below the taps the heads' gradient is added to the main
    one, which most often makes it larger but can partly cancel it (gain < 1): the table
    says which layers gain and which do not.
    """
    from ..experiments.aux_heads import aux_gradient_effect, gain_groups

    res = aux_gradient_effect(width, input_size, batch, seed)
    if as_json:
        click.echo(json.dumps(res, indent=1))
        return
    click.echo(
        f"GoogLeNet width {width}, {input_size}x{input_size}, batch {batch}: ||dL/dW|| per layer"
    )
    click.echo(f"{'layer':<34}{'main only':>11}{'+ aux':>11}{'gain':>7}")
    for l, a, b, g in zip(res["layers"], res["without_aux"], res["with_aux"], res["gain"]):
        click.echo(f"{l:<34}{a:>11.3e}{b:>11.3e}{g:>7.2f}")
    groups = gain_groups(res)
    click.echo("")
    click.echo(
        f"unchanged (gain 1.00): {len(groups['unchanged'])} layers, from "
        f"{groups['unchanged'][0][0]} on (above the taps)"
        if groups["unchanged"]
        else "unchanged (gain 1.00): none"
    )
    more = [g for _, g in groups["more"]]
    if more:
        click.echo(
            f"more gradient: {len(more)} layers below the taps, x{min(more):.2f} to "
            f"x{max(more):.2f}"
        )
    for layer, g in groups["less"]:
        click.echo(
            f"less gradient: {layer} x{g:.2f} (the heads' gradient partly cancels the main one)"
        )
