"""``cnnsim view``: a saved trace as the offline HTML explorer (``cnnsim.explorer``)."""

import click


def html_option(f):
    return click.option(
        "--html",
        "html_path",
        type=click.Path(dir_okay=False),
        help="also write the offline HTML explorer of the trace to this file "
        "(one self-contained page; open it in any browser).",
    )(f)


def write_explorer(
    tr, path, out, layers=None, neurons=(), budget_mb=17.0, effective=None, param_hint="--html"
):
    """Write the page; one-line usage errors for what the trace cannot show."""
    from cnnsim.engine.trace import TraceError
    from cnnsim.explorer import write_html

    try:
        size = write_html(
            tr,
            path,
            layers=layers,
            neurons=neurons,
            budget=int(budget_mb * 2**20),
            effective=effective,
        )
    except TraceError as e:
        raise click.BadParameter(str(e), param_hint=param_hint) from None
    except OSError as e:
        raise click.BadParameter(
            f"cannot write {path!r}: {e.strerror}", param_hint=param_hint
        ) from None
    out(f"wrote the explorer ({size / 2**20:.1f} MB) to {path}: open it in a browser")


def _names(value):
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


@click.command()
@click.argument("trace", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "-o",
    "--out",
    "out_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="the HTML file to write.",
)
@click.option(
    "--layers",
    help="comma-separated layers stored exactly (explainable); "
    "default: every layer while the budget lasts.",
)
@click.option(
    "--neurons",
    help="comma-separated LAYER:MAP:ROW:COL explained in advance (the page opens on the first).",
)
@click.option(
    "--budget-mb",
    type=click.FloatRange(0.1, 1024),
    default=17.0,
    show_default=True,
    help="raw size of the arrays the page may hold (the file is ~4/3 of it).",
)
def view(trace, out_path, layers, neurons, budget_mb):
    """Write a saved trace (from `cnnsim step --save`) as an offline HTML explorer.

    \b
    Click a layer to see its feature maps, click a neuron to see its inputs,
    weights, products, sum, bias and activation, its window in the maps it
    reads and its receptive field on the input image; arrow keys step through
    the layers. The page is one file with no network access.

    \b
    Examples:
      cnnsim step lenet5 --save lenet5.npz && cnnsim view lenet5.npz -o lenet5.html
      cnnsim view alexnet.npz -o a.html --layers C1,N1,S2 --neurons C1:0:27:27
    """
    from cnnsim.engine import Trace, TraceError

    from .options import parse_neuron

    try:
        tr = Trace.load(trace)
    except TraceError as e:
        raise click.BadParameter(
            f"{e}; save a full trace with `cnnsim step MODEL --save FILE.npz`", param_hint="TRACE"
        ) from None
    nspecs = [parse_neuron(n, "--neurons") for n in _names(neurons) or []]
    write_explorer(tr, out_path, click.echo, _names(layers), nspecs, budget_mb, param_hint="--out")
