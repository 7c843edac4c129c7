"""``cnnsim explain conv|pool``: the lecture's convolution / pooling arithmetic, in numbers and pictures.

Parses the options, asks :mod:`cnnsim.arithmetic` for the facts and the text and
:mod:`cnnsim.plotting.arithmetic` for the figures, prints and saves them. Everything is validated before anything is written.
"""

import json
import os

import click

from ..geometry import window
from .options import check_output_file, stack_options

PNG_EXTS = (".png", ".svg", ".pdf", ".jpg", ".jpeg")


# -- parameter types -------------------------------------------------------------------------
MAX_SIDE = 1024


class SizeType(click.ParamType):
    """``"5x7"`` -> (5, 7); ``"3"`` -> (3, 3); also ``"5,7"``."""

    name = "HxW"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        text = str(value).strip().lower().replace(" ", "")
        parts = text.replace(",", "x").split("x")
        try:
            nums = [int(p) for p in parts]
        except ValueError:
            self.fail(
                f"expected N or HxW with positive integers (e.g. 3 or 5x7), got {value!r}",
                param,
                ctx,
            )
        if len(nums) not in (1, 2) or min(nums) < 1:
            self.fail(
                f"expected N or HxW with positive integers (e.g. 3 or 5x7), got {value!r}",
                param,
                ctx,
            )
        if max(nums) > MAX_SIDE:
            # explain lists and draws every cell: a 100000x100000 grid would exhaust memory
            self.fail(
                f"at most {MAX_SIDE} per side (explain shows every cell), got {value!r}", param, ctx
            )
        return (nums[0], nums[-1])


class PaddingType(click.ParamType):
    """``valid`` | ``same`` | ``P`` | ``PH,PW`` | ``T,B,L,R``."""

    name = "PADDING"

    def convert(self, value, param, ctx):
        if not isinstance(value, str):
            return value
        text = value.strip().lower()
        if text in ("valid", "same"):
            return text
        try:
            nums = [int(p) for p in text.replace(" ", "").split(",")]
        except ValueError:
            nums = None
        if not nums or len(nums) not in (1, 2, 4) or min(nums) < 0:
            self.fail(
                f"expected valid, same, P, PH,PW or T,B,L,R (non-negative integers), got {value!r}",
                param,
                ctx,
            )
        return nums[0] if len(nums) == 1 else tuple(nums)


class NeuronType(click.ParamType):
    """``"1,2"`` -> (1, 2)."""

    name = "I,J"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            i, j = (int(p) for p in str(value).replace(" ", "").split(","))
        except ValueError:
            self.fail(f"expected ROW,COL (two integers, e.g. 1,2), got {value!r}", param, ctx)
        return i, j


class ValuesType(click.ParamType):
    """``"1 2 3; 4 5 6"`` -> list of rows (';' between rows, spaces or commas between values)."""

    name = "ROWS"

    def convert(self, value, param, ctx):
        if isinstance(value, list):
            return value
        rows = [r for r in str(value).split(";") if r.strip()]
        try:
            out = [[float(v) for v in r.replace(",", " ").split()] for r in rows]
        except ValueError:
            self.fail(
                f"expected numbers, rows separated by ';' (e.g. '1 2; 3 4'), got {value!r}",
                param,
                ctx,
            )
        if not out or len({len(r) for r in out}) != 1 or not out[0]:
            self.fail(
                f"expected a rectangular grid, rows separated by ';' (e.g. '1 2; 3 4'), "
                f"got {value!r}",
                param,
                ctx,
            )
        return out


SIZE, PADDING, NEURON, VALUES = SizeType(), PaddingType(), NeuronType(), ValuesType()


def _check_path(path, exts, option):
    """Fail (exit 2) before anything is computed or written if ``path`` can't be written."""
    if path is None:
        return None
    ext = os.path.splitext(path)[1].lower()
    if ext not in exts:
        raise click.BadParameter(
            f"file must end in {' or '.join(exts)}, got {path!r}", param_hint=option
        )
    d = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(d):
        raise click.BadParameter(f"directory {d!r} does not exist", param_hint=option)
    return check_output_file(path, option)  # a folder in the way, no permission


def _geometry(in_hw, kernel, stride, padding, where):
    try:
        return window(in_hw, kernel, stride, padding, where=where)
    except (ValueError, TypeError) as e:
        raise click.UsageError(str(e)) from None


def _dumps(facts):
    """JSON with one top-level key per line and compact values (grids stay readable)."""
    body = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in facts.items())
    return "{\n" + body + "\n}"


def _write_page(page, path):
    from ..engine.trace import TraceError
    from ..explorer import save_page

    try:
        save_page(page, path)
    except (TraceError, OSError) as e:
        raise click.BadParameter(str(e), param_hint="--html") from None


def _report_files(files, as_json):
    for path in files.values():
        if path:
            click.echo(f"wrote {path}", err=as_json)


def _picture_options(default, what="Picture", gif=None, json_what="the numbers", html=False):
    """Decorator: the output options of an explain command: ``--out`` (the picture, default
    ``default``), ``--no-plot``, ``--gif`` (when ``gif``, its help), ``--json`` (prints
    ``json_what``) and ``--html`` (when ``html``)."""
    opts = [
        click.option(
            "--out",
            "out",
            type=click.Path(dir_okay=False),
            default=default,
            show_default=True,
            help=f"{what} to write (.png, .svg, .pdf, .jpg).",
        ),
        click.option("--no-plot", is_flag=True, help="Write no picture; only print."),
    ]
    if gif:
        opts.append(click.option("--gif", type=click.Path(dir_okay=False), default=None, help=gif))
    json_help = f"Print {json_what} as JSON" + (
        " instead of text ('wrote ...' goes to stderr)." if html else "."
    )
    opts.append(click.option("--json", "as_json", is_flag=True, help=json_help))
    if html:
        opts.append(
            click.option(
                "--html",
                "html_path",
                type=click.Path(dir_okay=False),
                default=None,
                help="Also write the figure as an interactive page: click any output neuron "
                "to see its window, products and sum (offline, one file).",
            )
        )
    return stack_options(opts)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def explain():
    """The lecture's arithmetic, drawn: convolution windows and pooling.

    \b
    cnnsim explain conv            which inputs a convolution neuron reads (Géron fig. 14-4)
    cnnsim explain pool            which inputs a pooling layer passes on, which it drops
    cnnsim explain dense-vs-conv   why CNNs: parameters of a dense layer vs a convolution
    """


@explain.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--input",
    "input_hw",
    type=SIZE,
    required=True,
    help="Input size HxW (e.g. 5x7; 28 means 28x28).",
)
@click.option(
    "--kernel", type=SIZE, required=True, help="Receptive field f or FHxFW (e.g. 3 or 3x5)."
)
@click.option("--stride", type=SIZE, default="1", show_default=True, help="Stride s or SHxSW.")
@click.option(
    "--padding",
    type=PADDING,
    default="valid",
    show_default=True,
    help="valid | same (TensorFlow's rule) | P | PH,PW | T,B,L,R.",
)
@click.option(
    "--neuron",
    type=NEURON,
    default="0,0",
    show_default=True,
    help="Output neuron ROW,COL whose window is highlighted.",
)
@_picture_options(
    "explain_conv.png",
    gif="Also write an animated GIF of the window sliding over every neuron.",
    json_what="the geometry",
    html=True,
)
@click.option(
    "--coverage",
    is_flag=True,
    help="Instead: how many output neurons read each input pixel (overlap when "
    "stride < kernel, gaps when stride > kernel), printed and drawn as a heat map.",
)
@click.option(
    "--flip",
    is_flag=True,
    help="Instead: the network's cross-correlation next to the maths convolution "
    "(kernel flipped) on a seeded integer input; no picture.",
)
def conv(
    input_hw, kernel, stride, padding, neuron, out, no_plot, gif, as_json, html_path, coverage, flip
):
    """Which inputs does a convolution neuron read? Sizes, padding, the formula, a picture.

    A neuron at (i, j) reads input rows i*s_h - p_top ... i*s_h - p_top + f_h - 1
    and columns j*s_w - p_left ... j*s_w - p_left + f_w - 1 (the lecture's
    i*s_h ... i*s_h + f_h - 1 counted in the zero-padded input). Prints the sizes,
    the padding on each side, the formula with the neuron's numbers, and the input
    rows/columns the stride never reaches; draws the input with its zero padding,
    the output, and the neuron's window (default picture: explain_conv.png in the
    current directory; --no-plot for none).

    \b
    Examples:
      # the lecture's example (Géron fig. 14-4): 5x7 -> 3x4
      cnnsim explain conv --input 5x7 --kernel 3 --stride 2 --padding same --neuron 1,2
      # the window sliding, as an animated GIF
      cnnsim explain conv --input 5x7 --kernel 3 --stride 2 --padding same --gif slide.gif
      # a stride that leaves the last row and column unused
      cnnsim explain conv --input 6x6 --kernel 3 --stride 2
      # LeNet-5's C1 layer, machine-readable
      cnnsim explain conv --input 32 --kernel 5 --no-plot --json
      # receptive fields tiling the input: overlap (stride < kernel), gaps (stride > kernel)
      cnnsim explain conv --input 5x7 --kernel 3 --stride 2 --padding same --coverage
      cnnsim explain conv --input 8x8 --kernel 2 --stride 3 --coverage
      # cross-correlation (what the network computes) vs convolution (kernel flipped)
      cnnsim explain conv --input 4x4 --kernel 2 --flip
    """
    from .. import arithmetic as AR
    from ..plotting import arithmetic as A

    where = "explain conv"
    if coverage and flip:
        raise click.UsageError("explain conv: give --coverage or --flip, not both")
    if coverage or flip:
        _coverage_or_flip(
            input_hw, kernel, stride, padding, out, no_plot or flip, as_json, coverage, where
        )
        return
    png = None if no_plot else _check_path(out, PNG_EXTS, "--out")
    gif = _check_path(gif, (".gif",), "--gif")
    html = _check_path(html_path, (".html", ".htm"), "--html")
    win = _geometry(input_hw, kernel, stride, padding, where)
    try:
        AR.check_neuron(win, neuron, where)
    except ValueError as e:
        raise click.BadParameter(
            str(e).replace(f"{where}: ", "", 1), param_hint="--neuron"
        ) from None
    facts = AR.conv_facts(input_hw, kernel, stride, padding, neuron, where=where)
    if png:
        A.save_figure(A.conv_arithmetic_figure(input_hw, kernel, stride, padding, neuron), png)
    if gif:
        A.conv_arithmetic_animation(input_hw, kernel, stride, padding, path=gif)
    if html:
        from ..explorer.lecture import conv_page

        _write_page(conv_page(input_hw, kernel, stride, padding, neuron), html)
    files = {"png": png, "gif": gif, "html": html}
    if as_json:
        click.echo(_dumps({**facts, "files": files}))
    else:
        click.echo(AR.conv_explanation(input_hw, kernel, stride, padding, neuron, where=where))
    _report_files(files, as_json)


def _coverage_or_flip(input_hw, kernel, stride, padding, out, no_plot, as_json, coverage, where):
    from .. import arithmetic as AR
    from ..plotting import coverage as CV

    png = None if no_plot else _check_path(out, PNG_EXTS, "--out")
    _geometry(input_hw, kernel, stride, padding, where)
    if coverage:
        facts = AR.coverage_facts(input_hw, kernel, stride, padding, where)
        text = AR.coverage_explanation(facts)
        if png:
            from ..plotting.arithmetic import save_figure

            save_figure(CV.coverage_figure(facts), png)
    else:
        facts = AR.flip_facts(input_hw, kernel, stride, padding, where=where)
        text = AR.flip_explanation(facts)
    files = {"png": png}
    click.echo(_dumps({**facts, "files": files}) if as_json else text)
    _report_files(files, as_json)


@explain.command("dense-vs-conv", context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--input", "input_chw", default="3x224x224", show_default=True, help="Input C x H x W."
)
@click.option(
    "--units",
    default=1000,
    show_default=True,
    type=click.IntRange(1),
    help="Units of the dense layer compared.",
)
@click.option(
    "--filters",
    default=96,
    show_default=True,
    type=click.IntRange(1),
    help="Filters of the convolution.",
)
@click.option("--kernel", default=11, show_default=True, type=click.IntRange(1))
@click.option("--stride", default=4, show_default=True, type=click.IntRange(1))
@click.option(
    "--padding",
    type=PADDING,
    default="same",
    show_default=True,
    help="valid | same | P | PH,PW | T,B,L,R (the counts of weights do not depend on it).",
)
@_picture_options("dense_vs_conv.png", what="Bar chart", json_what="the numbers")
def dense_vs_conv(input_chw, units, filters, kernel, stride, padding, out, no_plot, as_json):
    """Why CNNs: parameters and multiply-adds of a dense layer vs a convolution.

    A dense layer of --units on the whole input against a convolution of --filters
    kernels; in between, a dense layer with the convolution's outputs and a locally
    connected layer (local windows, no weight sharing), so that the saving from local
    connectivity and the saving from weight sharing are shown separately. The defaults
    are the lecture's: 3x224x224, 1000 units, AlexNet's C1 (96 filters 11x11, stride 4):
    150,529,000 vs 34,944 parameters.

    \b
    Examples:
      cnnsim explain dense-vs-conv
      cnnsim explain dense-vs-conv --input 1x32x32 --units 84 --filters 6 --kernel 5 --stride 1
    """
    from ..experiments.dense_vs_conv import dense_vs_conv as run
    from ..experiments.dense_vs_conv import explanation

    try:
        parts = [int(p) for p in input_chw.lower().replace(",", "x").split("x")]
        if len(parts) != 3 or min(parts) < 1:
            raise ValueError
    except ValueError:
        raise click.BadParameter(
            f"expected CxHxW with positive integers (e.g. 3x224x224), got {input_chw!r}",
            param_hint="--input",
        ) from None
    png = None if no_plot else _check_path(out, PNG_EXTS, "--out")
    try:
        res = run(tuple(parts), units, filters, kernel, stride, padding)
    except (ValueError, TypeError) as e:
        raise click.UsageError(str(e).splitlines()[0]) from None
    if png:
        from ..plotting.arithmetic import save_figure
        from ..plotting.dense_vs_conv import dense_vs_conv_figure

        save_figure(dense_vs_conv_figure(res), png)
    click.echo(_dumps({**res, "files": {"png": png}}) if as_json else explanation(res))
    _report_files({"png": png}, as_json)


@explain.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--input",
    "input_hw",
    type=SIZE,
    default=None,
    help="Input size HxW (e.g. 4x4). Values are seeded random distinct integers "
    "unless --values gives them.",
)
@click.option(
    "--size", type=SIZE, default="2", show_default=True, help="Pooling window f or FHxFW."
)
@click.option("--stride", type=SIZE, default=None, help="Stride (default: the window size).")
@click.option(
    "--padding",
    type=PADDING,
    default="valid",
    show_default=True,
    help="valid | same | P | PH,PW | T,B,L,R (max: padding never wins; avg: not counted).",
)
@click.option("--kind", type=click.Choice(["max", "avg"]), default="max", show_default=True)
@click.option(
    "--values",
    type=VALUES,
    default=None,
    help="The input values, rows separated by ';' (e.g. '1 5 2 0; 3 4 8 6; ...').",
)
@click.option(
    "--seed", type=click.IntRange(0), default=0, show_default=True, help="Seed of the random input."
)
@_picture_options(
    "explain_pool.png",
    gif="Also write an animated GIF of the window sliding, filling the output in.",
    json_what="the facts",
    html=True,
)
def pool(
    input_hw, size, stride, padding, kind, values, seed, out, no_plot, gif, as_json, html_path
):
    """Which inputs does a pooling layer pass on, and which does it drop?

    Prints the input, every window with its max (and where it is) or mean, the
    output, and the fraction of inputs that reach the output, counted: a 2x2,
    stride 2 max pool passes 25% of its inputs and drops 75%. Draws the same
    (default picture: explain_pool.png in the current directory; --no-plot for none).

    \b
    Examples:
      # the lecture's 2x2 max pool, stride 2: which 75% are dropped
      cnnsim explain pool --input 4x4 --size 2 --stride 2
      # your own numbers, average pooling
      cnnsim explain pool --values '1 5 2 0; 3 4 8 6; 0 2 1 1; 7 3 9 4' --kind avg
      # AlexNet's overlapping pooling (3x3, stride 2), as an animated GIF
      cnnsim explain pool --input 7x7 --size 3 --stride 2 --gif pool.gif
    """
    from .. import arithmetic as AR
    from ..plotting import arithmetic as A

    where = "explain pool"
    if input_hw is None and values is None:
        raise click.UsageError("explain pool: give --input HxW or --values")
    if (
        values is not None
        and input_hw is not None
        and tuple(input_hw) != (len(values), len(values[0]))
    ):
        raise click.BadParameter(
            f"--values is {len(values)}x{len(values[0])} but --input says "
            f"{input_hw[0]}x{input_hw[1]}",
            param_hint="--values",
        )
    in_hw = input_hw or (len(values), len(values[0]))
    png = None if no_plot else _check_path(out, PNG_EXTS, "--out")
    gif = _check_path(gif, (".gif",), "--gif")
    html = _check_path(html_path, (".html", ".htm"), "--html")
    _geometry(in_hw, size, stride, padding, where)
    facts = AR.pool_facts(in_hw, size, stride, padding, kind, values, seed, where=where)
    if png:
        A.save_figure(A.pool_figure(in_hw, size, stride, padding, kind, values, seed), png)
    if gif:
        A.pool_animation(in_hw, size, stride, padding, kind, values, seed, path=gif)
    if html:
        from ..explorer.lecture import pool_page

        _write_page(pool_page(in_hw, size, stride, padding, kind, values, seed), html)
    files = {"png": png, "gif": gif, "html": html}
    if as_json:
        click.echo(_dumps({**facts, "files": files}))
    else:
        click.echo(
            AR.pool_explanation(in_hw, size, stride, padding, kind, values, seed, where=where)
        )
    _report_files(files, as_json)
