"""``cnnsim step MODEL``: trace a forward pass layer by layer (and one neuron in detail).

Prints, per step, the layer's name, type, input -> output shape, kernel/stride/padding,
activation and statistics of its output (min / mean / max, fraction of zeros, fraction
saturated). Usage errors (unknown model, layer or sample, neuron out of range, options
that do not go together) are click's usage errors; a file that cannot be used (unreadable
image, corrupt trace or checkpoint) is one line; both exit with code 2 and nothing is
written unless the whole run succeeded.

The command is three parts, as the other commands: ``parse_request`` turns the options into
a ``StepRequest`` (plain values, checked for consistency); ``trace_model`` /
``show_saved`` call the engine (``cnnsim.engine``: ``planned_steps``, ``Stepper``,
``connections``) and print through ``cnnsim.display`` (the step table, a neuron, the
prediction); ``_finish`` writes what was asked (JSON, figures, trace, HTML).
"""

import json
import os
import pathlib
import shutil
import tempfile
from dataclasses import dataclass
from typing import Optional

import click
import numpy as np

from .._text import safe_filename
from ..display import (
    MAX_WIDTH,
    StepTable,
    neuron_text,
    prediction,
    prediction_text,
    shape_text,
    step_cells,
    terminal_width,
    wrap,
)
from .interactive import interactive_loop, reader
from .options import (
    MAX_LOAD_HELP,
    InputError,
    check_output_dir,
    check_output_file,
    is_onnx,
    load_onnx,
    parse_neuron,
    target_option,
)
from .view_cmd import html_option
from .warm_up import warm_up


# ---- the request -------------------------------------------------------------------------
@dataclass
class StepRequest:
    """What ``cnnsim step`` was asked to do, after the checks that need no model (options
    that do not go together, the form of --neuron, output paths): plain values only."""

    model: Optional[str] = None  # a zoo name or FILE.onnx; None with load_path
    load_path: Optional[str] = None  # --load: show a saved trace instead
    image: Optional[str] = None
    invert: Optional[bool] = None
    sample: Optional[str] = None
    seed: Optional[int] = None
    variant: Optional[str] = None
    weights_file: Optional[str] = None
    checkpoint: Optional[str] = None
    untrained: bool = False
    max_load_bytes: Optional[int] = None
    layer: Optional[str] = None  # stop after this layer
    neuron: Optional[tuple] = None  # (layer, map, row, col)
    interactive: bool = False
    light: bool = False
    save: Optional[str] = None
    html_path: Optional[str] = None
    plot_dir: Optional[str] = None
    as_json: bool = False
    wide: bool = False
    width: Optional[int] = None  # most columns of a line; None: --wide (no limit)
    top: Optional[int] = 10  # a neuron's largest terms listed; None: --all
    down: bool = False
    backward: bool = False
    grad_label: Optional[int] = None

    @property
    def text_width(self):
        """The width prose is wrapped at (no limit with --wide)."""
        return self.width or 10_000


def parse_request(neuron=None, show_all=False, **options):
    """The click options -> a checked ``StepRequest`` (click.UsageError, BadParameter)."""
    req = StepRequest(**options, top=None if show_all else 10)
    for bad, message in _conflicts(req, neuron):
        if bad:
            raise click.UsageError(message)
    req.width = None if req.wide else min(terminal_width(), MAX_WIDTH)
    req.neuron = parse_neuron(neuron) if neuron else None
    if req.save is not None:
        check_output_file(req.save, "--save")
    if req.plot_dir is not None:
        check_output_dir(req.plot_dir, "--plot")
    return req


def _conflicts(r, neuron):
    """(the options are wrong, what to say) for each rule, in the order they are told."""
    inputs = (("--image", r.image), ("--sample", r.sample), ("--seed", r.seed))
    given = [n for n, v in inputs if v is not None]
    loaded = r.load_path is not None
    model_options = (r.variant, r.checkpoint, r.untrained, r.weights_file, r.interactive, r.light)
    backward = r.backward or r.grad_label is not None
    return (
        (len(given) > 1, f"choose one input: {' or '.join(given)}"),
        (not loaded and r.model is None, "missing argument MODEL (or give --load TRACE.npz)"),
        (
            loaded and bool(r.model or given or any(model_options)),
            "--load shows a saved trace: it takes no MODEL, input, --variant, --weights, "
            "--checkpoint, --untrained, --interactive or --light",
        ),
        (
            r.weights_file is not None and r.checkpoint is not None,
            "choose one of --weights (torchvision) and --checkpoint (cnnsim)",
        ),
        (r.as_json and r.interactive, "--json and --interactive do not go together"),
        (bool(r.checkpoint and r.untrained), "--checkpoint and --untrained do not go together"),
        (
            backward and (loaded or r.light or r.interactive or r.layer is not None),
            "--backward needs a full forward pass of MODEL: it takes no "
            "--load, --light, --interactive or --layer",
        ),
        (
            r.grad_label is not None and not r.backward,
            "--label is the class for --backward's loss; add --backward",
        ),
        (r.down and not neuron, "--down explains one level below --neuron; add --neuron"),
    )


@click.command("step")
@click.argument("model", required=False, metavar="MODEL|FILE.onnx")
@click.option(
    "--image",
    type=click.Path(dir_okay=False),
    help="PNG, JPEG or .npy picture (transparency composited; for digit models: inverted if dark on light, centred as MNIST).",
)
@click.option(
    "--invert/--no-invert",
    default=None,
    help="force (or forbid) inverting --image (default: detected from its border).",
)
@click.option(
    "--sample", help="a shipped sample image: digit0..digit9 (real MNIST test digits), color."
)
@click.option(
    "--seed", type=click.IntRange(0), help="random input (uniform in [0, 1)) with this seed."
)
@click.option("--layer", help="stop after this layer (a container name: after its last leaf).")
@click.option(
    "--neuron", help="LAYER:MAP:ROW:COL: print that neuron's connections and receptive field."
)
@click.option(
    "--interactive",
    is_flag=True,
    help="step layer by layer; ? lists the commands (also read from a pipe).",
)
@click.option("--save", type=click.Path(dir_okay=False), help="write the trace to this .npz file.")
@html_option
@click.option(
    "--plot",
    "plot_dir",
    type=click.Path(file_okay=False),
    help="write figures (PNG) into this folder.",
)
@click.option("--json", "as_json", is_flag=True, help="print the same facts as JSON.")
@click.option(
    "--light", is_flag=True, help="keep statistics only (arrays only for --neuron's layer)."
)
@click.option(
    "--load",
    "load_path",
    type=click.Path(dir_okay=False),
    help="show a saved trace instead of running MODEL.",
)
@click.option(
    "--variant",
    help="model variant, e.g. lenet5: paper | modern; alexnet: lecture | paper | torchvision; googlenet: paper | torchvision.",
)
@click.option(
    "--weights",
    "weights_file",
    type=click.Path(dir_okay=False),
    help="load a torchvision state dict (.pth, .safetensors or .npz) into the model "
    "(alexnet/googlenet --variant torchvision, resnet18, resnet34).",
)
@click.option(
    "--checkpoint",
    type=click.Path(dir_okay=False),
    help="load trained weights (checkpoint.npz from `cnnsim train`) before tracing.",
)
@click.option(
    "--untrained",
    is_flag=True,
    help="keep the initial weights (default: the shipped trained weights where there are some).",
)
@click.option("--wide", is_flag=True, help="every column of the table, however wide.")
@click.option(
    "--max-load-bytes",
    type=click.IntRange(1),
    default=None,
    help=MAX_LOAD_HELP + " [default: 1 GiB for --load, 3x the model's parameters for --checkpoint]",
)
@click.option(
    "--all", "show_all", is_flag=True, help="list every input / term, not only the 10 largest."
)
@click.option(
    "--down", is_flag=True, help="with --neuron on a depth concat: explain the branch's neuron too."
)
@click.option(
    "--backward",
    is_flag=True,
    help="then the loss and the backward pass: gradient table, "
    "and --neuron's gradient term by term.",
)
@click.option(
    "--label",
    "grad_label",
    type=int,
    help="class for --backward's loss (default: the sample's true label, else the prediction).",
)
@target_option
def step(**options):
    """Trace MODEL's forward pass, one layer at a time.

    \b
    Examples:
      cnnsim step lenet5                        # trained LeNet-5 on a real MNIST digit
      cnnsim step lenet5 --sample digit7 --neuron C3:2:4:4
      cnnsim step lenet5 --image my_digit.png   # a photo or drawing of a digit
      cnnsim step lenet5 --untrained            # the initial (random) weights
      cnnsim step alexnet --layer S2 --light
      cnnsim step lenet5 --variant modern --checkpoint runs/train/checkpoint.npz
      cnnsim step alexnet --variant torchvision --weights alexnet.pth --image cat.jpg
      cnnsim step mynet.onnx --image x.png --neuron conv1:0:3:3
      cnnsim step lenet5 --html lenet5.html      (open it in a browser)
      cnnsim step lenet5 --sample digit7 --backward --neuron S2:0:5:5
      cnnsim step resnet18 --backward --plot out/
    """
    req = parse_request(**options)
    out = (lambda s: click.echo(s, err=True)) if req.as_json else click.echo
    if req.load_path is not None:
        show_saved(req, out)
    else:
        trace_model(req, out)


# ---- running a model -----------------------------------------------------------------------
def trace_model(req, out):
    """Build the model and its weights, check --layer / --neuron against it, prepare the
    input, then step through it (interactively or on to --layer) printing each row."""
    from cnnsim.engine import Stepper, planned_steps

    net, meta, weights = _model(req)
    plan = planned_steps(net)
    stop = _check_targets(req, net, plan)
    spec, why = _digit_spec(net, meta)
    if req.invert is not None and spec is None:
        raise click.UsageError(
            "--invert / --no-invert apply to digit models (1-channel 28x28 or 32x32 input)"
        )
    x, described, label, warning = _input(net, req, spec, why)
    _print_header(req, out, net, weights, described, warning, len(plan))
    warm_up(net, x[None], lambda s: click.echo(s, err=True))
    keep = [req.neuron[0]] if (req.light and req.neuron) else None
    stepper = Stepper(net, x[None], light=req.light, keep=keep, model=req.model)
    table = StepTable([step_cells(s) for s in plan], req.width, req.wide)
    show = _Show(req, out, stepper, table, label, meta)
    out(show.table.header())
    if req.interactive:
        interactive_loop(stepper, reader(out), out, show.step, show.neuron, show.end)
        out(show.table.footnote())
    else:
        while not stepper.done and (stop is None or stepper.position <= stop):
            show.step(stepper.next())
        out(show.table.footnote())
        if stepper.done:
            show.end()
    backward = (net, req.grad_label, label) if req.backward else None
    _finish(req, stepper.trace, out, net=net, x=x, pred=show.pred, backward=backward)


class _Show:
    """What a run prints as it goes: a step's row, a neuron, the prediction (kept)."""

    def __init__(self, req, out, stepper, table, label, meta):
        self.req, self.out, self.stepper, self.table = req, out, stepper, table
        self.label, self.meta = label, meta  # for the prediction: true label, weights
        self.pred = None

    def step(self, s):
        self.out(self.table.fmt(step_cells(s)))

    def neuron(self, lname, m, r, c):
        conn, rf = _neuron(self.stepper.trace, lname, m, r, c)
        self.out(neuron_text(conn, rf, self.req.text_width, top=self.req.top))

    def end(self):
        self.pred = _prediction(self.stepper, self.label, self.meta, self.req)
        if self.pred is not None:
            self.out(prediction_text(self.pred, self.req.text_width))


def _model(req):
    """(the network, its checkpoint's metadata or None, the line saying which weights)."""
    from cnnsim import models

    if is_onnx(req.model):  # the file carries its weights: nothing shipped replaces them
        net = load_onnx(req.model, **{"--variant": req.variant, "--untrained": req.untrained})
    else:
        try:
            net = models.build(req.model, **({"variant": req.variant} if req.variant else {}))
        except (ValueError, TypeError) as e:
            raise click.BadParameter(str(e).splitlines()[0], param_hint="MODEL") from None
    if req.checkpoint is not None:
        return (net, *_load_checkpoint(net, req))
    if req.weights_file is not None:
        return net, None, _load_weights(net, req.weights_file)
    if is_onnx(req.model):
        return net, None, f"weights from {req.model}"
    if not req.untrained:
        from cnnsim.train.pretrained import describe, load_pretrained

        meta = load_pretrained(net)
        if meta is not None:
            return (
                net,
                meta,
                f"{describe(meta)} (shipped weights; --untrained shows the initial ones)",
            )
    return net, None, "untrained: initial weights"


def _load_checkpoint(net, req):
    """``--checkpoint``: trained weights into ``net``; (metadata, the line that says so)."""
    from cnnsim.train.checkpoint import CheckpointError, load_checkpoint
    from cnnsim.train.pretrained import describe

    try:
        meta = load_checkpoint(req.checkpoint, net, max_bytes=req.max_load_bytes)
    except (CheckpointError, OSError) as e:
        raise InputError(str(e).splitlines()[0], "--checkpoint") from None
    said = f"loaded trained weights from {req.checkpoint} (epoch {meta.get('epoch', '?')})"
    return meta, said + (f": {describe(meta)}" if meta.get("data") else "")


def _load_weights(net, weights_file):
    """``--weights``: a torchvision state dict into ``net`` (one line if it cannot be
    used); returns the line that says what was loaded."""
    from cnnsim.interop import load_torchvision

    try:
        rep = load_torchvision(net, weights_file)
    except (ValueError, OSError, RuntimeError) as e:
        raise InputError(str(e).splitlines()[0], "--weights") from None
    skipped = (
        f"; skipped {len(rep['skipped'])} tensors the inference network does not "
        f"use (batch-norm counters, auxiliary heads)"
        if rep["skipped"]
        else ""
    )
    return f"loaded {rep['loaded']} torchvision tensors from {weights_file}{skipped}"


def _check_targets(req, net, plan):
    """--layer and --neuron against the model before anything runs (``plan``: its
    ``planned_steps``); returns the index of the last step to run (None: all)."""
    names = [s.name for s in plan]
    every = {l.path for l in net.walk() if l is not net}

    def known(name, hint):
        if name not in every:
            raise click.BadParameter(
                f"no layer named {name!r} in {req.model}; valid names: {', '.join(names)}",
                param_hint=hint,
            )

    stop = None
    if req.layer is not None:
        known(req.layer, "--layer")
        stop = names.index([l.path for l in net.find(req.layer).leaves()][-1])
    if req.neuron is not None:
        known(req.neuron[0], "--neuron")
        _check_neuron(req, net, plan, stop)
    return stop


def _check_neuron(req, net, plan, stop):
    """--neuron names a leaf layer, inside its output, that runs (before --layer)."""
    from cnnsim.engine.connections import check_neuron

    lname, m, r, c = req.neuron
    target = net.find(lname)
    if target.is_container:
        raise click.BadParameter(
            f"{lname!r} is a container; name one of its layers: "
            f"{', '.join(l.path for l in target.leaves())}",
            param_hint="--neuron",
        )
    k = [s.name for s in plan].index(lname)
    try:
        check_neuron(plan[k], m, r, c)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--neuron") from None
    if stop is not None and k > stop:
        raise click.BadParameter(
            f"layer {lname!r} runs after --layer {req.layer!r}", param_hint="--neuron"
        )


def _digit_spec(net, meta):
    """The preprocessing of a digit model (LeNet-5 style, 1x32x32 or 1x28x28): the one its
    checkpoint stores, else the one ``cnnsim train`` would use; None for other models."""
    if meta and meta.get("preprocess"):
        return meta["preprocess"], "as in training"
    shape = tuple(net.input_shape)
    if shape in ((1, 32, 32), (1, 28, 28)):
        from cnnsim.data.preprocess import preprocess_spec

        return preprocess_spec(shape), "as `cnnsim train` prepares MNIST"
    return None, ""


def _input(net, req, spec=None, why=""):
    """-> (x (C, H, W), description lines, true label or None, warning or None).

    A --sample that does not fit the model is a usage error; an --image that cannot be
    read or used is one line (``InputError``)."""
    shape = tuple(net.input_shape)
    if req.seed is not None:
        x = np.random.default_rng(req.seed).random(shape, dtype=np.float32)
        return x, [f"random input, uniform in [0, 1), seed {req.seed}"], None, None
    try:
        img, what, notes, label = _picture(req, shape)
        x, more, warning = _prepare(net, img, req, spec, why)
    except ValueError as e:
        msg = f"{e} (the model needs {shape_text(shape)})"
        if req.image is not None:
            raise InputError(msg, "--image") from None
        raise click.BadParameter(msg, param_hint="--sample") from None
    return x, [what] + notes + more, label, warning


def _picture(req, shape):
    """(picture, what it is, notes on reading it, true label or None) of --image or
    --sample (default: digit3 for a 1-channel model, else the colour picture)."""
    from cnnsim.data import prepare, samples

    if req.image is not None:
        img, notes = prepare.read_image(req.image)
        return img, f"image {req.image}", notes, None
    name = req.sample or ("digit3" if shape[0] == 1 else "color")
    img = samples.load_sample(name)
    info = samples.sample_info(name)
    label = info.get("label")
    what = f"sample {name!r}"
    if info.get("index") is not None:
        what += f" (MNIST test image #{info['index']}, true label {label})"
    return img, what, [], label


def _prepare(net, img, req, spec, why):
    """The picture as the model's input: (x (C, H, W), notes, warning or None). Digit models
    get their training preprocessing (``spec``), ImageNet models theirs; other models the
    picture fitted to their input shape."""
    from cnnsim.data import prepare, samples
    from cnnsim.data.preprocess import apply_preprocess, describe_preprocess

    if spec is not None:
        g, notes, warning = prepare.digit_like(img, req.invert)
        x = apply_preprocess(g[None], spec)[0]
        return x, notes + [f"{describe_preprocess(spec)} ({why})"], warning
    if req.image is not None and _imagenet_input(net):
        from cnnsim.interop import imagenet

        pre = net.preprocess
        x, note = imagenet.preprocess(img, pre["resize"], pre["crop"], pre["mean"], pre["std"])
        extra = getattr(net, "preprocess_note", None)
        return x, [note + (f" ({extra})" if extra else "")], None
    x, note = samples.fit_to(img, tuple(net.input_shape))
    return x, [note] if note else [], None


def _imagenet_input(net):
    """True for a torchvision-compatible model (it states its ImageNet preprocessing)."""
    pre = getattr(net, "preprocess", None)
    return pre is not None and tuple(net.input_shape) == (3, pre["crop"], pre["crop"])


# ---- printing ------------------------------------------------------------------------------
def _print_header(req, out, net, weights, described, warning, steps):
    """Which model and weights, what input and how it was prepared, how many steps."""
    lim = req.text_width
    out(wrap(f"{req.model} ({net.name}): {weights}", lim, "  "))
    out(wrap(f"input {shape_text(net.input_shape)}: {described[0]}", lim, "  "))
    for note in described[1:]:
        out(wrap(f"  {note}", lim, "    "))
    if warning:
        click.echo(wrap(f"warning: {warning}", lim, "  "), err=True)
    out(f"{steps} steps, {net.param_count():,} parameters")


def _prediction(stepper, label, meta, req):
    """The prediction dict of a finished run (None when the output is not a class vector)."""
    y = stepper.output[0]
    if y.ndim != 1 or y.size < 2:
        return None
    from cnnsim.data import CLASS_NAMES

    names = CLASS_NAMES.get((meta or {}).get("data")) if y.size == 10 else None
    k = 3
    if y.size == 1000:  # an ImageNet model: the 1000 names, top 5
        from cnnsim.interop import imagenet

        names, k = imagenet.classes(), 5
    last = stepper.trace.steps[-1]
    penalty = bool(getattr(last.cls, "penalty_output", False))
    pred = prediction(y, "RBF" if penalty else last.kind, label, names, k=k)
    given = req.checkpoint or req.weights_file or is_onnx(req.model)  # a file's weights
    pred["weights"] = "given" if given else "shipped" if meta else "untrained"
    if pred["weights"] == "untrained":
        pred["rule"] += "; untrained weights: the answer means nothing yet"
    return pred


def _neuron(trace, lname, m, r, c):
    """(Connections, ReceptiveField or None) of a neuron (usage error if it has none)."""
    from cnnsim.engine.connections import connections
    from cnnsim.engine.receptive_field import receptive_field

    try:
        conn = connections(trace, lname, m, r, c)
    except KeyError as e:
        raise click.BadParameter(e.args[0], param_hint="--neuron") from None
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--neuron") from None
    try:
        rf = receptive_field(trace, lname, m, r, c)
    except ValueError:
        rf = None
    return conn, rf


# ---- after the run: the neuron, JSON, files -------------------------------------------------
def _finish(req, tr, out, net=None, x=None, pred=None, backward=None):
    """--neuron (and --down), --backward, then --json, --plot, --save and --html."""
    from . import neuron_view as nv

    view = {"top": req.top, "down": req.down, "width": req.width, "backward": backward}
    conn, rf, low = _neuron_report(req, tr, out)
    back = nv.backward_report(tr, conn, view, out, req.as_json)
    if req.as_json:
        click.echo(json.dumps(_json(req, tr, pred, conn, rf, low, back)))
    if req.plot_dir is not None:
        extra = nv.backward_figures(tr, *back[1:]) if back else []
        files = _plots(tr, conn, rf, req.plot_dir, net, x, pred, extra)
        out(f"wrote {len(files)} figures to {req.plot_dir}")
    if req.save is not None:
        tr.save(req.save)
        out(f"wrote trace ({len(tr)} steps) to {req.save}")
    if req.html_path is not None:
        _html(tr, req.neuron, req.html_path, out, net, x)


def _neuron_report(req, tr, out):
    """--neuron after the run: (Connections, ReceptiveField, one level down), printed
    unless --json; (None, None, None) without --neuron."""
    from . import neuron_view as nv

    if req.neuron is None:
        return None, None, None
    names = tr.names()
    if req.neuron[0] not in names:  # an interactive session that ended before it
        raise InputError(
            f"layer {req.neuron[0]!r} has not run (not reached yet); layers run: "
            f"{', '.join(names) or 'none'}",
            "--neuron",
        )
    conn, rf = _neuron(tr, *req.neuron)
    low = nv.down(tr, conn) if req.down else None
    if not req.as_json:
        out(neuron_text(conn, rf, req.text_width, top=req.top))
        if low is not None:
            out(nv.down_text(low, req.top))
    return conn, rf, low


def _json(req, tr, pred, conn, rf, low, back):
    """The --json document: the trace, the prediction, the neuron, the backward pass."""
    from . import neuron_view as nv

    d = tr.to_dict()
    d["prediction"] = pred
    d["neuron"] = None
    if conn is not None:
        d["neuron"] = conn.to_dict(req.top)
        d["neuron"]["receptive_field"] = None if rf is None else rf.to_dict()
        d["neuron"]["down"] = None if low is None else low.to_dict(req.top)
    if back is not None:
        d["backward"] = nv.backward_json(*back, req.top)
    return d


def _html(tr, nspec, path, out, net, x):
    from cnnsim.engine.receptive_field import effective_receptive_field

    from .view_cmd import write_explorer

    effective = None
    if nspec is not None and net is not None and len(tr.input_shape) == 3:
        erf = effective_receptive_field(net, x[None] if x.ndim == 3 else x, *nspec)
        effective = {tuple(nspec): erf.heat}
    write_explorer(tr, path, out, neurons=[nspec] if nspec else (), effective=effective)


def _plots(tr, conn, rf, plot_dir, net, x, pred=None, extra=()):
    """Render every figure into a temporary folder, then move them in: all or nothing."""
    figs = _figures(tr, conn, rf, net, x, pred) + list(extra)
    dest = pathlib.Path(plot_dir)
    parent = dest.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=".cnnsim-plots-", dir=parent))
    try:
        for name, make in figs:
            fig = make()
            fig.savefig(tmp / name)
        dest.mkdir(parents=True, exist_ok=True)
        for name, _ in figs:
            os.replace(tmp / name, dest / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [dest / n for n, _ in figs]


def _figures(tr, conn, rf, net, x, pred):
    """(file name, make) pairs: the input, feature maps and kernels of every kept step,
    the prediction, and the neuron's connections and receptive field."""
    from cnnsim.plotting.maps import feature_maps_figure, input_figure, kernels_figure
    from cnnsim.plotting.neuron import neuron_figure

    figs = []
    if tr.input is not None:
        figs.append(("input.png", lambda: input_figure(tr.input[0])))
    for s in tr:
        if s.kept and len(s.output_shape) == 3:
            fname = f"maps_{s.index:03d}_{safe_filename(s.name)}.png"  # names come from files
            figs.append((fname, lambda s=s: feature_maps_figure(s)))
        if s.kind == "Conv2D" and s.params.get("w") is not None:
            fname = f"kernels_{s.index:03d}_{s.name.replace('/', '_')}.png"
            figs.append((fname, lambda s=s: kernels_figure(s)))
    if pred is not None:
        from cnnsim.plotting.prediction import prediction_figure

        figs.append(("prediction.png", lambda: prediction_figure(pred, tr.model)))
    if conn is not None:
        figs.append(("neuron_connections.png", lambda: neuron_figure(conn)))
        if rf is not None and tr.input is not None:
            figs.append(("receptive_field.png", lambda: _rf_figure(tr, conn, rf, net, x)))
    return figs


def _rf_figure(tr, conn, rf, net, x):
    """The receptive field on the input, with the effective one when the net is at hand."""
    from cnnsim.plotting.receptive import receptive_field_figure

    erf = None
    if net is not None:
        from cnnsim.engine.receptive_field import effective_receptive_field

        erf = effective_receptive_field(net, x, conn.layer, conn.map, conn.row, conn.col)
    return receptive_field_figure(tr.input[0], rf, erf)


# ---- a saved trace ---------------------------------------------------------------------------
def show_saved(req, out):
    """--load: the table of a saved trace (on to --layer), then what ``_finish`` writes."""
    from cnnsim._npz import DEFAULT_MAX_LOAD_BYTES
    from cnnsim.engine import Trace, TraceError

    try:
        tr = Trace.load(req.load_path, req.max_load_bytes or DEFAULT_MAX_LOAD_BYTES)
    except TraceError as e:
        raise InputError(str(e), "--load") from None
    names = tr.names()
    for name, hint in ((req.layer, "--layer"), (req.neuron and req.neuron[0], "--neuron")):
        if name is not None and name not in names:
            raise click.BadParameter(
                f"no layer named {name!r} in this trace; valid names: {', '.join(names)}",
                param_hint=hint,
            )
    stop = len(tr) - 1 if req.layer is None else names.index(req.layer)
    table = StepTable([step_cells(s) for s in tr], req.width, req.wide)
    out(
        f"trace of {tr.model} from {req.load_path}: input {shape_text(tr.input_shape)}, {len(tr)} steps"
    )
    out(table.header())
    for s in tr.steps[: stop + 1]:
        out(table.fmt(step_cells(s)))
    out(table.footnote())
    _finish(req, tr, out)
