"""``cnnsim step MODEL``: trace a forward pass layer by layer (and one neuron in detail).

Prints, per step, the layer's name, type, input -> output shape, kernel/stride/padding,
activation and statistics of its output (min / mean / max, fraction of zeros, fraction
saturated). Usage errors (unknown model, layer or sample, neuron out of range, unreadable
image, corrupt trace file) are one line on stderr with exit code 2; nothing is written
unless the whole run succeeded.
"""

import json
import os
import pathlib
import shutil
import sys
import tempfile

import click
import numpy as np

from .._text import safe_filename
from ..display import (  # noqa: F401
    MAX_WIDTH,
    SAT_HELP,
    StepTable,
    prediction,
    prediction_text,
    step_cells,
    terminal_width,
    wrap,
)
from ..display import neuron_text as _neuron_text
from .options import (
    MAX_LOAD_HELP,
    check_output_dir,
    check_output_file,
    is_onnx,
    load_onnx,
    target_option,
)
from .view_cmd import html_option


def _shape(s):
    if isinstance(s, list):
        return "+".join(_shape(t) for t in s)
    return "x".join(str(v) for v in s)


class _LeafRow:
    """The cells a leaf's row will have, known before it runs (to size the columns)."""

    def __init__(self, i, layer):
        from cnnsim.engine.trace import _geometry, _layer_activation

        self.index, self.name, self.kind = i, layer.path, layer.kind
        self.input_shape, self.output_shape = layer.input_shape, layer.output_shape
        self.geometry, self.activation = _geometry(layer), _layer_activation(layer)
        self.stats, self.seconds = {}, 0.0


def _table(leaves, wide, width=None):
    return StepTable([step_cells(_LeafRow(i, l)) for i, l in enumerate(leaves)], width, wide)


# ---- neuron ----------------------------------------------------------------------------
def _parse_neuron(value):
    parts = value.rsplit(":", 3)
    if len(parts) != 4:
        raise click.BadParameter(
            f"expected LAYER:MAP:ROW:COL, got {value!r}", param_hint="--neuron"
        )
    try:
        m, r, c = (int(p) for p in parts[1:])
    except ValueError:
        raise click.BadParameter(
            f"MAP, ROW and COL must be integers, got {value!r}", param_hint="--neuron"
        ) from None
    return parts[0], m, r, c


# ---- input -----------------------------------------------------------------------------
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


def _input(net, image, sample, seed, spec=None, why="", invert=None):
    """-> (x (C, H, W), description lines, true label or None, warning or None)."""
    from cnnsim.data import prepare, samples
    from cnnsim.data.preprocess import apply_preprocess, describe_preprocess

    shape = tuple(net.input_shape)
    if seed is not None:
        x = np.random.default_rng(seed).random(shape, dtype=np.float32)
        return x, [f"random input, uniform in [0, 1), seed {seed}"], None, None
    label, notes, warning = None, [], None
    try:
        if image is not None:
            hint = "--image"
            img, notes = prepare.read_image(image)
            what = f"image {image}"
        else:
            hint = "--sample"
            name = sample or ("digit3" if shape[0] == 1 else "color")
            img = samples.load_sample(name)
            info = samples.sample_info(name)
            label = info.get("label")
            what = f"sample {name!r}"
            if info.get("index") is not None:
                what += f" (MNIST test image #{info['index']}, true label {label})"
        if spec is not None:
            g, more, warning = prepare.digit_like(img, invert)
            notes += more
            x = apply_preprocess(g[None], spec)[0]
            notes.append(f"{describe_preprocess(spec)} ({why})")
        elif image is not None and _imagenet_input(net):
            from cnnsim.interop import imagenet

            pre = net.preprocess
            x, note = imagenet.preprocess(img, pre["resize"], pre["crop"], pre["mean"], pre["std"])
            extra = getattr(net, "preprocess_note", None)
            notes.append(note + (f" ({extra})" if extra else ""))
        else:
            x, note = samples.fit_to(img, shape)
            notes += [note] if note else []
    except ValueError as e:
        raise click.BadParameter(
            f"{e} (the model needs {_shape(shape)})", param_hint=hint
        ) from None
    return x, [what] + notes, label, warning


def _imagenet_input(net):
    """True for a torchvision-compatible model (it states its ImageNet preprocessing)."""
    pre = getattr(net, "preprocess", None)
    return pre is not None and tuple(net.input_shape) == (3, pre["crop"], pre["crop"])


# ---- compiling ---------------------------------------------------------------------------
COMPILING = "compiling kernels for this machine, first run only"
PREPARING = "preparing kernels (compiling any this model needs for the first time)"


def _kernel_dispatchers():
    """Every cached Numba function of the CPU kernel modules (imported: cheap, no compiling)."""
    import importlib
    import pkgutil

    from numba.core.dispatcher import Dispatcher

    import cnnsim.kernels as K

    found = []
    for m in pkgutil.iter_modules(K.__path__):
        if m.ispkg or m.name.startswith("_"):
            continue
        try:
            mod = importlib.import_module(f"cnnsim.kernels.{m.name}")
        except Exception:  # noqa: BLE001 - a module that cannot load is not ours to report
            continue
        found += [
            v
            for v in vars(mod).values()
            if isinstance(v, Dispatcher) and getattr(v, "_cache", None) is not None
        ]
    return found


def _cache_empty(dispatchers):
    """True when Numba's cache holds nothing of cnnsim's kernels yet (a first run)."""
    import os

    try:
        return not any(os.path.exists(d._cache._cache_file._index_path) for d in dispatchers)
    except AttributeError:  # Numba's cache internals moved: fall back to timing
        return False


def _counts(dispatchers):
    """(kernel signatures compiled, loaded from the cache) by this process so far."""
    try:
        return (
            sum(len(d.stats.cache_misses) for d in dispatchers),
            sum(len(d.stats.cache_hits) for d in dispatchers),
        )
    except AttributeError:
        return None, None


def warm_up(net, x, echo, after=1.0):
    """Run ``net`` once on ``x`` so that every kernel the trace calls is compiled (or loaded
    from Numba's cache) before anything is timed; returns the seconds taken.

    Numba compiles a kernel at its first call, for the dtypes and paths actually used (here
    the model's dtype and the layers it has), and caches the machine code on disk. When
    the cache is empty the message says "compiling ... first run only" at once, with the
    layers done so far; otherwise it speaks only when preparing takes longer than
    ``after`` seconds (new kernels for this model, or a busy machine), and the last line
    counts what was compiled and what was loaded."""
    import threading
    import time

    from cnnsim import config
    from cnnsim.layers.base import observe

    leaves = [l.path for l in net.leaves()]
    disps = _kernel_dispatchers() if config.target == "cpu" else []
    first = _cache_empty(disps)
    state = {"told": False, "done": 0, "lock": threading.Lock()}
    t0 = time.perf_counter()

    def tell(what):
        with state["lock"]:
            if state["done"] < len(leaves) and not state["told"]:
                state["told"] = True
                echo(f"{what} ...")

    from cnnsim.engine.stats import array_stats

    class _Progress:
        def on_forward(self, layer, xin, y, dt):
            if not state["done"]:
                array_stats(y)  # the trace's statistics kernel: compiled here, not later
            with state["lock"]:
                state["done"] += 1
                if state["told"]:
                    echo(
                        f"  {layer.path} ready ({state['done']}/{len(leaves)}, "
                        f"{time.perf_counter() - t0:.1f} s)"
                    )

        def on_backward(self, *a):
            pass

    if first:
        tell(COMPILING)
    timer = threading.Timer(after, tell, (PREPARING,))
    timer.daemon = True
    timer.start()
    try:
        with observe(_Progress()):
            net.forward(x)
    finally:
        timer.cancel()
    took = time.perf_counter() - t0
    if state["told"]:
        made, loaded = _counts(disps)
        what = (
            "kernels ready"
            if made is None
            else f"{made} kernel(s) compiled, {loaded} loaded from the cache"
        )
        echo(f"{what}, in {took:.1f} s; the ms column times warm calls")
    return took


# ---- interactive -----------------------------------------------------------------------
INTERACTIVE_HELP = """commands:
  Enter or next      run the next layer (after b: show the next one already run)
  r NAME             run on to layer NAME
  b, back            show the previous layer again
  l, list            the layers run so far
  s NAME             show a layer that has run (its row)
  n LAYER:MAP:ROW:COL  a neuron's connections and receptive field (a layer that has run)
  p                  the prediction (once the last layer has run)
  ?, help            this help
  q, quit            leave"""


def interactive_loop(stepper, read, echo, show_step, show_neuron, show_end=None):  # noqa: C901  (a command table would split it: open, issue 21)
    """Drive ``stepper`` from commands returned by ``read()`` (None = end of input).

    The session stays open after the last layer until ``q`` (or the end of the input), so
    every layer and neuron can still be inspected. ``b`` moves a cursor back over the steps
    already run; Enter moves it forward again, running a new layer only at the frontier."""
    echo("interactive: Enter = next layer, ? = help, q = quit")
    cursor = stepper.position  # index of the next step Enter shows
    names = stepper.names()

    def reached(name):
        leaves = stepper._leaves_of(name)
        idx = names.index(leaves[-1])
        if idx >= stepper.position:
            raise ValueError(
                f"layer {name!r} not reached yet (it is step {idx}; "
                f"{stepper.position} of {len(names)} steps have run): "
                f"'r {name}' runs on to it"
            )
        return idx

    def forward():
        nonlocal cursor
        if cursor < stepper.position:
            show_step(stepper.trace.steps[cursor])
        elif stepper.done:
            echo("the forward pass is complete: b, l, s NAME, n ..., p, or q to leave")
            return
        else:
            show_step(stepper.next())
            if stepper.done and show_end is not None:
                show_end()
        cursor += 1

    while True:
        cmd = read()
        if cmd is None:
            break
        cmd = cmd.strip()
        word, _, arg = cmd.partition(" ")
        arg = arg.strip()
        try:
            if cmd in ("", "next"):
                forward()
            elif cmd in ("q", "quit", "exit"):
                break
            elif cmd in ("?", "h", "help"):
                echo(INTERACTIVE_HELP)
            elif cmd in ("b", "back"):
                if cursor <= 1:
                    echo("already at the first layer")
                    cursor = min(cursor, 1)
                    if stepper.position:
                        show_step(stepper.trace.steps[0])
                else:
                    cursor -= 1
                    show_step(stepper.trace.steps[cursor - 1])
            elif cmd in ("l", "list"):
                if not stepper.position:
                    echo("no layer has run yet (Enter runs the first)")
                for s in stepper.trace.steps[: stepper.position]:
                    show_step(s)
                rest = len(names) - stepper.position
                if rest:
                    echo(
                        f"({rest} more to run: {', '.join(names[stepper.position :][:6])}"
                        f"{', ...' if rest > 6 else ''})"
                    )
            elif word == "r" and arg:
                stop = names.index(stepper._leaves_of(arg)[-1])
                if stop < stepper.position:
                    raise ValueError(f"layer {arg!r} has already run (s {arg} shows it)")
                cursor = stepper.position
                while stepper.position <= stop:
                    forward()
            elif word in ("s", "show") and arg:
                show_step(stepper.trace.steps[reached(arg)])
            elif word == "n" and arg:
                spec = _parse_neuron(arg)
                reached(spec[0])
                show_neuron(*spec)
            elif cmd == "p":
                if not stepper.done:
                    raise ValueError(
                        f"the last layer has not run yet ('r {names[-1]}' runs on to it)"
                    )
                if show_end is not None:
                    show_end()
            else:
                echo(f"unknown command {cmd!r}; ? lists the commands")
        except (KeyError, ValueError, click.BadParameter) as e:
            msg = e.message if isinstance(e, click.BadParameter) else (e.args[0] if e.args else e)
            echo(f"error: {msg}")
        except Exception as e:  # noqa: BLE001 - keep the session alive
            echo(f"error: {type(e).__name__}: {e}")
    return stepper


def _reader(echo):
    """Commands from a terminal (with a prompt) or from a pipe (echoed, so a transcript
    reads like a session); None at the end of the input."""
    if sys.stdin.isatty():

        def read():
            try:
                return input("> ")
            except EOFError:
                return None

        return read

    def read_pipe():
        line = sys.stdin.readline()
        if not line:
            return None
        echo(f"> {line.rstrip()}")
        return line

    return read_pipe


# ---- the command -----------------------------------------------------------------------
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
def step(  # noqa: C901  (to split into parse, run, print: open, issue 21)
    model,
    image,
    invert,
    sample,
    seed,
    layer,
    neuron,
    interactive,
    save,
    html_path,
    plot_dir,
    as_json,
    light,
    load_path,
    variant,
    weights_file,
    checkpoint,
    untrained,
    wide,
    max_load_bytes,
    show_all,
    down,
    backward,
    grad_label,
):
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
    given = [
        n for n, v in (("--image", image), ("--sample", sample), ("--seed", seed)) if v is not None
    ]
    if len(given) > 1:
        raise click.UsageError(f"choose one input: {' or '.join(given)}")
    if load_path is None and model is None:
        raise click.UsageError("missing argument MODEL (or give --load TRACE.npz)")
    if load_path is not None and (
        model or given or interactive or light or variant or checkpoint or untrained or weights_file
    ):
        raise click.UsageError(
            "--load shows a saved trace: it takes no MODEL, input, "
            "--variant, --weights, --checkpoint, --untrained, --interactive "
            "or --light"
        )
    if weights_file is not None and checkpoint is not None:
        raise click.UsageError("choose one of --weights (torchvision) and --checkpoint (cnnsim)")
    if as_json and interactive:
        raise click.UsageError("--json and --interactive do not go together")
    if checkpoint and untrained:
        raise click.UsageError("--checkpoint and --untrained do not go together")
    view = _neuron_view_options(
        show_all, down, neuron, backward, grad_label, load_path, light, interactive, layer
    )
    view["width"] = None if wide else min(terminal_width(), MAX_WIDTH)
    nspec = _parse_neuron(neuron) if neuron else None
    if save is not None:
        check_output_file(save, "--save")
    if plot_dir is not None:
        check_output_dir(plot_dir, "--plot")
    out = (lambda s: click.echo(s, err=True)) if as_json else click.echo
    width = None if wide else min(terminal_width(), MAX_WIDTH)

    if load_path is not None:
        _show_loaded(
            load_path,
            layer,
            nspec,
            save,
            plot_dir,
            as_json,
            out,
            wide,
            width,
            html_path,
            max_load_bytes,
            view,
        )
        return

    from cnnsim import models
    from cnnsim.engine import Stepper
    from cnnsim.engine.connections import check_neuron

    if is_onnx(model):  # the file carries its weights: nothing shipped replaces them
        net = load_onnx(model, **{"--variant": variant, "--untrained": untrained})
    else:
        try:
            net = models.build(model, **({"variant": variant} if variant else {}))
        except (ValueError, TypeError) as e:
            raise click.BadParameter(str(e).splitlines()[0], param_hint="MODEL") from None
    meta, weights = None, "untrained: initial weights"
    if checkpoint is not None:
        from cnnsim.train.checkpoint import CheckpointError, load_checkpoint
        from cnnsim.train.pretrained import describe

        try:
            meta = load_checkpoint(checkpoint, net, max_bytes=max_load_bytes)
        except (CheckpointError, OSError) as e:
            raise click.BadParameter(str(e).splitlines()[0], param_hint="--checkpoint") from None
        weights = f"loaded trained weights from {checkpoint} (epoch {meta.get('epoch', '?')})" + (
            f": {describe(meta)}" if meta.get("data") else ""
        )
    elif weights_file is not None:
        weights = _load_weights(net, weights_file)
    elif is_onnx(model):
        weights = f"weights from {model}"
    elif not untrained:
        from cnnsim.train.pretrained import describe, load_pretrained

        meta = load_pretrained(net)
        if meta is not None:
            weights = f"{describe(meta)} (shipped weights; --untrained shows the initial ones)"
    weights_from = checkpoint or weights_file or (model if is_onnx(model) else None)
    leaves = list(net.leaves())
    leaf_names = [l.path for l in leaves]
    all_names = [l.path for l in net.walk() if l is not net]

    def known(name, hint):
        if name not in all_names:
            raise click.BadParameter(
                f"no layer named {name!r} in {model}; valid names: {', '.join(leaf_names)}",
                param_hint=hint,
            )
        return name

    stop = None
    if layer is not None:
        known(layer, "--layer")
        stop = leaf_names.index([l.path for l in net.find(layer).leaves()][-1])
    if nspec is not None:
        lname, m, r, c = nspec
        known(lname, "--neuron")
        target = net.find(lname)
        if target.is_container:
            raise click.BadParameter(
                f"{lname!r} is a container; name one of its layers: "
                f"{', '.join(l.path for l in target.leaves())}",
                param_hint="--neuron",
            )

        class _S:
            name, output_shape = lname, tuple(target.output_shape)

        try:
            check_neuron(_S, m, r, c)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--neuron") from None
        if stop is not None and leaf_names.index(lname) > stop:
            raise click.BadParameter(
                f"layer {lname!r} runs after --layer {layer!r}", param_hint="--neuron"
            )

    spec, why = _digit_spec(net, meta)
    if invert is not None and spec is None:
        raise click.UsageError(
            "--invert / --no-invert apply to digit models (1-channel 28x28 or 32x32 input)"
        )
    x, described, label, warning = _input(net, image, sample, seed, spec, why, invert)
    lim = width or 10_000
    variant_name = net.name if net.name != model else model
    out(wrap(f"{model} ({variant_name}): {weights}", lim, "  "))
    out(wrap(f"input {_shape(net.input_shape)}: {described[0]}", lim, "  "))
    for note in described[1:]:
        out(wrap(f"  {note}", lim, "    "))
    if warning:
        click.echo(wrap(f"warning: {warning}", lim, "  "), err=True)
    out(f"{len(leaf_names)} steps, {net.param_count():,} parameters")

    warm_up(net, x[None], lambda s: click.echo(s, err=True))
    keep = [nspec[0]] if (light and nspec) else None
    stepper = Stepper(net, x[None], light=light, keep=keep, model=model)
    table = _table(leaves, wide, width)
    out(table.header())
    state = {"pred": None}

    def show_step(s):
        out(table.fmt(step_cells(s)))

    def show_neuron(lname, m, r, c):
        conn, rf = _neuron(stepper.trace, lname, m, r, c)
        out(_neuron_text(conn, rf, width or 10_000, top=view["top"]))

    def show_end():
        state["pred"] = _prediction(stepper, label, meta, untrained, weights_from)
        if state["pred"] is not None:
            out(prediction_text(state["pred"], lim))

    if interactive:
        interactive_loop(stepper, _reader(out), out, show_step, show_neuron, show_end)
        out(table.footnote())
    else:
        while not stepper.done and (stop is None or stepper.position <= stop):
            show_step(stepper.next())
        out(table.footnote())
        if stepper.done:
            show_end()
    tr = stepper.trace
    if state["pred"] is None and stepper.done:
        state["pred"] = _prediction(stepper, label, meta, untrained, weights_from)
    if backward:
        view["backward"] = (net, grad_label, label)
    _finish(
        tr,
        nspec,
        save,
        plot_dir,
        as_json,
        out,
        net=net,
        x=x,
        pred=state["pred"],
        width=width,
        html_path=html_path,
        view=view,
    )


def _neuron_view_options(
    show_all, down, neuron, backward, grad_label, load_path, light, interactive, layer
):
    """Check --all / --down / --backward / --label; the view dict ``_finish`` reads."""
    if (backward or grad_label is not None) and (
        load_path is not None or light or interactive or layer is not None
    ):
        raise click.UsageError(
            "--backward needs a full forward pass of MODEL: it takes no "
            "--load, --light, --interactive or --layer"
        )
    if grad_label is not None and not backward:
        raise click.UsageError("--label is the class for --backward's loss; add --backward")
    if down and not neuron:
        raise click.UsageError("--down explains one level below --neuron; add --neuron")
    return {"top": None if show_all else 10, "down": down, "width": 10_000}


def _prediction(stepper, label, meta, untrained, given):
    """The prediction dict of a finished run (None when the output is not a class vector).
    ``given``: the file the weights came from (checkpoint, --weights, the .onnx), or None."""
    y = stepper.output[0]
    if y.ndim != 1 or y.size < 2:
        return None
    from cnnsim.data import CLASS_NAMES

    names = CLASS_NAMES.get((meta or {}).get("data")) if y.size == 10 else None
    k = 3
    if y.size == 1000:  # an ImageNet model: the 1000 names, top 5
        from cnnsim.interop import imagenet

        names, k = imagenet.classes(), 5
    penalty = bool(getattr(stepper.trace.steps[-1].cls, "penalty_output", False))
    pred = prediction(y, "RBF" if penalty else stepper.trace.steps[-1].kind, label, names, k=k)
    pred["weights"] = "given" if given else "shipped" if meta else "untrained"
    if pred["weights"] == "untrained":
        pred["rule"] += "; untrained weights: the answer means nothing yet"
    return pred


def _load_weights(net, weights_file):
    """``--weights``: a torchvision state dict into ``net`` (one-line usage error if not);
    returns the line that says what was loaded."""
    from cnnsim.interop import load_torchvision

    try:
        rep = load_torchvision(net, weights_file)
    except (ValueError, OSError, RuntimeError) as e:
        raise click.BadParameter(str(e).splitlines()[0], param_hint="--weights") from None
    skipped = (
        f"; skipped {len(rep['skipped'])} tensors the inference network does not "
        f"use (batch-norm counters, auxiliary heads)"
        if rep["skipped"]
        else ""
    )
    return f"loaded {rep['loaded']} torchvision tensors from {weights_file}{skipped}"


def _neuron(trace, lname, m, r, c):
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


def _finish(
    tr,
    nspec,
    save,
    plot_dir,
    as_json,
    out,
    net=None,
    x=None,
    pred=None,
    width=None,
    html_path=None,
    view=None,
):
    from . import neuron_view as nv

    view = view or {"top": 10, "down": False}
    conn = rf = low = None
    if nspec is not None:
        if nspec[0] not in tr.names():
            raise click.BadParameter(
                f"layer {nspec[0]!r} has not run (not reached yet); valid "
                f"layers: {', '.join(tr.names())}",
                param_hint="--neuron",
            )
        conn, rf = _neuron(tr, *nspec)
        low = nv.down(tr, conn) if view["down"] else None
        if not as_json:
            out(_neuron_text(conn, rf, width or 10_000, top=view["top"]))
            if low is not None:
                out(nv.down_text(low, view["top"]))
    back = nv.backward_report(tr, conn, view, out, as_json)
    if as_json:
        d = tr.to_dict()
        d["prediction"] = pred
        d["neuron"] = None
        if conn is not None:
            d["neuron"] = conn.to_dict(view["top"])
            d["neuron"]["receptive_field"] = None if rf is None else rf.to_dict()
            d["neuron"]["down"] = None if low is None else low.to_dict(view["top"])
        if back is not None:
            d["backward"] = nv.backward_json(*back, view["top"])
        click.echo(json.dumps(d))
    if plot_dir is not None:
        extra = nv.backward_figures(tr, *back[1:]) if back else []
        files = _plots(tr, conn, rf, plot_dir, net, x, pred, extra)
        out(f"wrote {len(files)} figures to {plot_dir}")
    if save is not None:
        tr.save(save)
        out(f"wrote trace ({len(tr)} steps) to {save}")
    if html_path is not None:
        _html(tr, nspec, html_path, out, net, x)


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
    from cnnsim.plotting.maps import feature_maps_figure, input_figure, kernels_figure
    from cnnsim.plotting.neuron import neuron_figure
    from cnnsim.plotting.receptive import receptive_field_figure

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

            def rf_fig():
                erf = None
                if net is not None:
                    from cnnsim.engine.receptive_field import effective_receptive_field

                    erf = effective_receptive_field(
                        net, x, conn.layer, conn.map, conn.row, conn.col
                    )
                return receptive_field_figure(tr.input[0], rf, erf)

            figs.append(("receptive_field.png", rf_fig))
    figs += list(extra)
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


def _show_loaded(
    path,
    layer,
    nspec,
    save,
    plot_dir,
    as_json,
    out,
    wide=False,
    width=None,
    html_path=None,
    max_load_bytes=None,
    view=None,
):
    from cnnsim._npz import DEFAULT_MAX_LOAD_BYTES
    from cnnsim.engine import Trace, TraceError

    try:
        tr = Trace.load(path, max_load_bytes or DEFAULT_MAX_LOAD_BYTES)
    except TraceError as e:
        raise click.BadParameter(str(e), param_hint="--load") from None
    names = tr.names()
    stop = len(tr) - 1
    if layer is not None:
        if layer not in names:
            raise click.BadParameter(
                f"no layer named {layer!r} in this trace; valid names: {', '.join(names)}",
                param_hint="--layer",
            )
        stop = names.index(layer)
    if nspec is not None and nspec[0] not in names:
        raise click.BadParameter(
            f"no layer named {nspec[0]!r} in this trace; valid names: {', '.join(names)}",
            param_hint="--neuron",
        )
    table = StepTable([step_cells(s) for s in tr], width, wide)
    out(f"trace of {tr.model} from {path}: input {_shape(tr.input_shape)}, {len(tr)} steps")
    out(table.header())
    for s in tr.steps[: stop + 1]:
        out(table.fmt(step_cells(s)))
    out(table.footnote())
    _finish(tr, nspec, save, plot_dir, as_json, out, width=width, html_path=html_path, view=view)
