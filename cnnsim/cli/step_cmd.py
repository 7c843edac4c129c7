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

from .options import target_option
from .view_cmd import html_option

SAT_HELP = ("sat = fraction of outputs within 1% of a bounded activation's asymptote "
            "(sigmoid/softmax/tanh/scaled_tanh); '-' where it means nothing (ReLU, linear)")


# ---- formatting ------------------------------------------------------------------------
def _shape(s):
    if isinstance(s, list):
        return "+".join(_shape(t) for t in s)
    return "x".join(str(v) for v in s)


def _geom(g):
    if not g:
        return "-"
    (fh, fw), (sh, sw), pads = g["kernel"], g["stride"], g["padding"]
    k = f"{fh}x{fw}" if fh != fw else f"{fh}"
    s = f"{sh}x{sw}" if sh != sw else f"{sh}"
    p = f"{pads[0]}" if len(set(pads)) == 1 else ",".join(map(str, pads))
    return f"k{k} s{s} p{p}"


def _num(v, frac=False):
    if v is None:
        return "-"
    if frac:
        return f"{100 * v:.1f}%"
    return f"{v:.4g}"


COLUMNS = [("#", ">"), ("layer", "<"), ("type", "<"), ("input -> output", "<"),
           ("kernel/stride/pad", "<"), ("activation", "<"), ("min", ">"), ("mean", ">"),
           ("max", ">"), ("zeros", ">"), ("sat", ">"), ("ms", ">")]


def _row(step):
    st = step.stats
    return [str(step.index), step.name, step.kind,
            f"{_shape(step.input_shape)} -> {_shape(step.output_shape)}", _geom(step.geometry),
            step.activation or "-", _num(st.get("min")), _num(st.get("mean")),
            _num(st.get("max")), _num(st.get("zeros"), True), _num(st.get("saturated"), True),
            f"{1000 * step.seconds:.2f}"]


class Table:
    """Rows printed as they come, in columns wide enough for every row to come."""

    def __init__(self, widths):
        self.widths = [max(w, len(c[0])) for w, c in zip(widths, COLUMNS)]

    def fmt(self, cells):
        return "  ".join(f"{c:{a}{w}}" for c, (_, a), w in zip(cells, COLUMNS, self.widths)).rstrip()

    def header(self):
        return self.fmt([c[0] for c in COLUMNS])


def _widths(names, kinds, shapes):
    return [4, max(map(len, names), default=5), max(map(len, kinds), default=4),
            max(map(len, shapes), default=15), 17, 11, 10, 10, 10, 6, 6, 8]


# ---- neuron ----------------------------------------------------------------------------
def _parse_neuron(value):
    parts = value.rsplit(":", 3)
    if len(parts) != 4:
        raise click.BadParameter(f"expected LAYER:MAP:ROW:COL, got {value!r}", param_hint="--neuron")
    try:
        m, r, c = (int(p) for p in parts[1:])
    except ValueError:
        raise click.BadParameter(f"MAP, ROW and COL must be integers, got {value!r}",
                                 param_hint="--neuron") from None
    return parts[0], m, r, c


def _neuron_text(conn, rf):
    lines = [f"neuron {conn.layer} ({conn.kind}) map {conn.map}, row {conn.row}, col {conn.col}"
             f" (sample {conn.sample})"]
    if conn.rows is not None and conn.form != "vector":
        lines.append(f"  reads input rows {conn.rows[0]}..{conn.rows[-1]}, cols "
                     f"{conn.cols[0]}..{conn.cols[-1]}"
                     + (f" of maps {_ranges(conn.channels)}" if conn.channels else ""))
        if conn.padded is not None and conn.padded.any():
            lines.append(f"  {int(conn.padded.sum())} of {conn.padded.size} window cells are "
                         f"zero padding (value 0)")
    if conn.form == "patches":
        for k, ch in enumerate(conn.channels[:3]):
            lines.append(f"  input map {ch}: patch x weights = products (sum {conn.products[k].sum():.5g})")
            for u in range(conn.inputs.shape[1]):
                lines.append("    " + " ".join(f"{v:8.4f}" for v in conn.inputs[k, u]) + "  |  "
                             + " ".join(f"{v:8.4f}" for v in conn.weights[k, u]) + "  |  "
                             + " ".join(f"{v:8.4f}" for v in conn.products[k, u]))
        if len(conn.channels) > 3:
            lines.append(f"  ... and {len(conn.channels) - 3} more input maps "
                         f"(--json prints them all)")
    if conn.form == "vector":
        order = conn.ranked()[:8]
        lines.append(f"  {len(conn.inputs)} inputs; largest contributions (input: value x "
                     f"weight = product):")
        for i in order:
            lines.append(f"    {int(i):6d}: {conn.inputs[i]:9.4f} x {conn.weights[i]:9.4f} = "
                         f"{conn.products[i]:9.4f}")
    for k, v in conn.details.items():
        if k not in ("formula",):
            lines.append(f"  {k}: {v:.6g}" if isinstance(v, float) else f"  {k}: {v}")
    if conn.bias is not None and conn.products is not None and conn.form != "window":
        lines.append(f"  sum of products {conn.sum - conn.bias:.6g} + bias {conn.bias:.6g} = "
                     f"{conn.sum:.6g}")
    elif conn.sum is not None:
        lines.append(f"  sum {conn.sum:.6g}")
    lines.append(f"  activation {conn.activation or 'none'} -> output {conn.output:.6g}; "
                 f"the layer computed {conn.recorded:.6g} "
                 f"({'equal' if conn.ok else 'DIFFERENT'} within {conn.tolerance:.1g})")
    if rf is not None:
        jump = "" if rf.jump is None else f", jump {rf.jump[0]}x{rf.jump[1]}"
        lines.append(f"  receptive field in the input image: rows {rf.top}..{rf.bottom}, cols "
                     f"{rf.left}..{rf.right} (unclipped rows {rf.unclipped[0]}..{rf.unclipped[1]}, "
                     f"cols {rf.unclipped[2]}..{rf.unclipped[3]}; size {rf.size[0]}x{rf.size[1]}{jump})")
    return "\n".join(lines)


def _ranges(chans):
    if chans == list(range(chans[0], chans[-1] + 1)):
        return f"{chans[0]}..{chans[-1]}" if len(chans) > 1 else f"{chans[0]}"
    return ",".join(map(str, chans))


# ---- input -----------------------------------------------------------------------------
def _input(net, image, sample, seed):
    from cnnsim.data import samples
    shape = net.input_shape
    if image is not None:
        try:
            img = samples.load_image(image)
            x, note = samples.fit_to(img, shape)
        except ValueError as e:
            raise click.BadParameter(f"{e} (the model needs {_shape(shape)})",
                                     param_hint="--image") from None
        return x, f"image {image}" + (f": {note}" if note else "")
    if seed is not None:
        x = np.random.default_rng(seed).random(shape, dtype=np.float32)
        return x, f"random input, uniform in [0, 1), seed {seed}"
    name = sample or ("digit3" if len(shape) == 3 and shape[0] == 1 else "color")
    try:
        img = samples.load_sample(name)
        x, note = samples.fit_to(img, shape)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--sample") from None
    return x, f"sample {name!r}" + (f": {note}" if note else "")


# ---- interactive -----------------------------------------------------------------------
INTERACTIVE_HELP = "Enter = next step, r NAME = run to a layer, n LAYER:MAP:ROW:COL = show a neuron, q = quit"


def interactive_loop(stepper, read, echo, show_step, show_neuron):
    """Drive ``stepper`` from commands returned by ``read()`` (None = end of input)."""
    echo(INTERACTIVE_HELP)
    while not stepper.done:
        cmd = read()
        if cmd is None:
            break
        cmd = cmd.strip()
        try:
            if cmd == "":
                show_step(stepper.next())
            elif cmd == "q":
                break
            elif cmd.startswith("r "):
                target = cmd[2:].strip()
                stop = stepper.names().index(stepper._leaves_of(target)[-1])
                if stop < stepper.position:
                    raise ValueError(f"layer {target!r} has already run")
                while stepper.position <= stop:
                    show_step(stepper.next())
            elif cmd.startswith("n "):
                show_neuron(*_parse_neuron(cmd[2:].strip()))
            else:
                echo(f"unknown command {cmd!r}; {INTERACTIVE_HELP}")
        except (KeyError, ValueError, click.BadParameter) as e:
            echo(f"error: {e.args[0] if e.args else e}")
        except Exception as e:  # noqa: BLE001 - keep the session alive
            echo(f"error: {type(e).__name__}: {e}")
    return stepper


# ---- the command -----------------------------------------------------------------------
@click.command("step")
@click.argument("model", required=False)
@click.option("--image", type=click.Path(dir_okay=False), help="PNG, JPEG or .npy image (converted and resized to the model's input).")
@click.option("--sample", help="a shipped sample image: digit0..digit9, color.")
@click.option("--seed", type=int, help="random input (uniform in [0, 1)) with this seed.")
@click.option("--layer", help="stop after this layer (a container name: after its last leaf).")
@click.option("--neuron", help="LAYER:MAP:ROW:COL: print that neuron's connections and receptive field.")
@click.option("--interactive", is_flag=True, help="Enter = next step, r NAME, n LAYER:MAP:ROW:COL, q.")
@click.option("--save", type=click.Path(dir_okay=False), help="write the trace to this .npz file.")
@html_option
@click.option("--plot", "plot_dir", type=click.Path(file_okay=False), help="write figures (PNG) into this folder.")
@click.option("--json", "as_json", is_flag=True, help="print the same facts as JSON.")
@click.option("--light", is_flag=True, help="keep statistics only (arrays only for --neuron's layer).")
@click.option("--load", "load_path", type=click.Path(dir_okay=False), help="show a saved trace instead of running MODEL.")
@click.option("--variant", help="model variant, e.g. lenet5: paper | modern; alexnet: lecture | paper.")
@click.option("--checkpoint", type=click.Path(dir_okay=False),
              help="load trained weights (checkpoint.npz from `cnnsim train`) before tracing.")
@target_option
def step(model, image, sample, seed, layer, neuron, interactive, save, html_path, plot_dir,
         as_json, light, load_path, variant, checkpoint):
    """Trace MODEL's forward pass, one layer at a time.

    \b
    Examples:
      cnnsim step lenet5
      cnnsim step lenet5 --sample digit7 --neuron C3:2:4:4
      cnnsim step alexnet --layer S2 --light
      cnnsim step lenet5 --variant modern --checkpoint runs/train/checkpoint.npz
      cnnsim step lenet5 --html lenet5.html      (open it in a browser)
    """
    given = [n for n, v in (("--image", image), ("--sample", sample), ("--seed", seed)) if v is not None]
    if len(given) > 1:
        raise click.UsageError(f"choose one input: {' or '.join(given)}")
    if load_path is None and model is None:
        raise click.UsageError("missing argument MODEL (or give --load TRACE.npz)")
    if load_path is not None and (model or given or interactive or light or variant or checkpoint):
        raise click.UsageError("--load shows a saved trace: it takes no MODEL, input, "
                               "--variant, --checkpoint, --interactive or --light")
    if as_json and interactive:
        raise click.UsageError("--json and --interactive do not go together")
    nspec = _parse_neuron(neuron) if neuron else None
    if save is not None:
        parent = pathlib.Path(save).resolve().parent
        if not parent.is_dir():
            raise click.BadParameter(f"folder {str(parent)!r} does not exist", param_hint="--save")
    if plot_dir is not None and pathlib.Path(plot_dir).exists() and not pathlib.Path(plot_dir).is_dir():
        raise click.BadParameter(f"{plot_dir!r} is not a folder", param_hint="--plot")
    out = (lambda s: click.echo(s, err=True)) if as_json else click.echo

    if load_path is not None:
        _show_loaded(load_path, layer, nspec, save, plot_dir, as_json, out, html_path)
        return

    from cnnsim import models
    from cnnsim.engine import Stepper
    from cnnsim.engine.connections import check_neuron
    try:
        net = models.build(model, **({"variant": variant} if variant else {}))
    except (ValueError, TypeError) as e:
        raise click.BadParameter(str(e).splitlines()[0], param_hint="MODEL") from None
    if checkpoint is not None:
        from cnnsim.train.checkpoint import CheckpointError, load_checkpoint
        try:
            meta = load_checkpoint(checkpoint, net)
        except (CheckpointError, OSError) as e:
            raise click.BadParameter(str(e).splitlines()[0], param_hint="--checkpoint") from None
        out(f"loaded trained weights from {checkpoint} (epoch {meta.get('epoch', '?')})")
    leaf_names = [l.path for l in net.leaves()]
    all_names = [l.path for l in net.walk() if l is not net]

    def known(name, hint):
        if name not in all_names:
            raise click.BadParameter(f"no layer named {name!r} in {model}; valid names: "
                                     f"{', '.join(leaf_names)}", param_hint=hint)
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
            raise click.BadParameter(f"{lname!r} is a container; name one of its layers: "
                                     f"{', '.join(l.path for l in target.leaves())}",
                                     param_hint="--neuron")

        class _S:
            name, output_shape = lname, tuple(target.output_shape)
        try:
            check_neuron(_S, m, r, c)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--neuron") from None
        if stop is not None and leaf_names.index(lname) > stop:
            raise click.BadParameter(f"layer {lname!r} runs after --layer {layer!r}",
                                     param_hint="--neuron")

    x, note = _input(net, image, sample, seed)
    keep = [nspec[0]] if (light and nspec) else None
    stepper = Stepper(net, x[None], light=light, keep=keep, model=model)
    shapes = [f"{_shape(l.input_shape)} -> {_shape(l.output_shape)}" for l in net.leaves()]
    table = Table(_widths(leaf_names, [l.kind for l in net.leaves()], shapes))
    out(f"{model}: input {_shape(net.input_shape)} ({note}); {len(leaf_names)} steps, "
        f"{net.param_count():,} parameters")
    out(table.header())

    def show_step(s):
        out(table.fmt(_row(s)))

    def show_neuron(lname, m, r, c):
        conn, rf = _neuron(stepper.trace, lname, m, r, c)
        out(_neuron_text(conn, rf))

    if interactive and sys.stdin.isatty():
        interactive_loop(stepper, lambda: _readline(), out, show_step, show_neuron)
    else:
        if interactive:
            out("standard input is not a terminal: running through without pausing")
        while not stepper.done and (stop is None or stepper.position <= stop):
            show_step(stepper.next())
    out(SAT_HELP)
    tr = stepper.trace
    if stepper.done:
        y = stepper.output[0]
        if y.ndim == 1 and y.size > 1:
            penalty = tr.steps[-1].cls.penalty_output
            best = int(np.argmin(y)) if penalty else int(np.argmax(y))
            rule = "argmin of the RBF penalties" if penalty else "argmax"
            weights = "trained weights" if checkpoint else "untrained weights: see --checkpoint"
            out(f"prediction: class {best} ({rule}; {weights})")
    _finish(tr, nspec, save, plot_dir, as_json, out, net=net, x=x, html_path=html_path)


def _readline():
    try:
        return input("> ")
    except EOFError:
        return None


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


def _finish(tr, nspec, save, plot_dir, as_json, out, net=None, x=None, html_path=None):
    conn = rf = None
    if nspec is not None:
        if nspec[0] not in tr.names():
            raise click.BadParameter(f"layer {nspec[0]!r} has not run", param_hint="--neuron")
        conn, rf = _neuron(tr, *nspec)
        if not as_json:
            out(_neuron_text(conn, rf))
    if as_json:
        d = tr.to_dict()
        d["neuron"] = None
        if conn is not None:
            d["neuron"] = conn.to_dict()
            d["neuron"]["receptive_field"] = None if rf is None else rf.to_dict()
        click.echo(json.dumps(d))
    if plot_dir is not None:
        files = _plots(tr, conn, rf, plot_dir, net, x)
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


def _plots(tr, conn, rf, plot_dir, net, x):
    """Render every figure into a temporary folder, then move them in: all or nothing."""
    from cnnsim.plotting.maps import feature_maps_figure, input_figure
    from cnnsim.plotting.neuron import neuron_figure
    from cnnsim.plotting.receptive import receptive_field_figure
    figs = []
    if tr.input is not None:
        figs.append(("input.png", lambda: input_figure(tr.input[0])))
    for s in tr:
        if s.kept and len(s.output_shape) == 3:
            fname = f"maps_{s.index:03d}_{s.name.replace('/', '_')}.png"
            figs.append((fname, lambda s=s: feature_maps_figure(s)))
    if conn is not None:
        figs.append(("neuron_connections.png", lambda: neuron_figure(conn)))
        if rf is not None and tr.input is not None:
            def rf_fig():
                erf = None
                if net is not None:
                    from cnnsim.engine.receptive_field import effective_receptive_field
                    erf = effective_receptive_field(net, x, conn.layer, conn.map, conn.row, conn.col)
                return receptive_field_figure(tr.input[0], rf, erf)
            figs.append(("receptive_field.png", rf_fig))
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


def _show_loaded(path, layer, nspec, save, plot_dir, as_json, out, html_path=None):
    from cnnsim.engine import Trace, TraceError
    try:
        tr = Trace.load(path)
    except TraceError as e:
        raise click.BadParameter(str(e), param_hint="--load") from None
    names = tr.names()
    stop = len(tr) - 1
    if layer is not None:
        if layer not in names:
            raise click.BadParameter(f"no layer named {layer!r} in this trace; valid names: "
                                     f"{', '.join(names)}", param_hint="--layer")
        stop = names.index(layer)
    if nspec is not None and nspec[0] not in names:
        raise click.BadParameter(f"no layer named {nspec[0]!r} in this trace; valid names: "
                                 f"{', '.join(names)}", param_hint="--neuron")
    table = Table(_widths(names, [s.kind for s in tr],
                          [f"{_shape(s.input_shape)} -> {_shape(s.output_shape)}" for s in tr]))
    out(f"trace of {tr.model} from {path}: input {_shape(tr.input_shape)}, {len(tr)} steps")
    out(table.header())
    for s in tr.steps[:stop + 1]:
        out(table.fmt(_row(s)))
    out(SAT_HELP)
    _finish(tr, nspec, save, plot_dir, as_json, out, html_path=html_path)
