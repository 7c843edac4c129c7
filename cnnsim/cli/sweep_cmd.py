"""``cnnsim sweep``: many small experiments over depth x activation x init x seed, on this
machine's cores or on a Dask cluster; results in OUT/results.jsonl, OUT/summary.csv, a figure."""

import os
import sys
import time

import click

from .options import INIT_HELP, InitType, is_onnx, stack_options


# ----------------------------------------------------------------------------- lists
class ListType(click.ParamType):
    """A comma-separated list; integers also as inclusive ranges ``a-b`` or ``a-b:step``."""

    def __init__(self, item, name, minimum=None, choices=None):
        self.item, self.name, self.minimum, self.choices = item, name, minimum, choices

    def _one(self, s, param, ctx):
        if self.choices is not None:
            if s not in self.choices:
                self.fail(
                    f"unknown value {s!r}; expected one of {', '.join(self.choices)}", param, ctx
                )
            return [s]
        if self.item is int and "-" in s[1:]:  # a range a-b (not a negative number)
            rng, _, step = s.partition(":")
            a, _, b = rng.partition("-")
            try:
                a, b, step = int(a), int(b), int(step) if step else 1
            except ValueError:
                self.fail(
                    f"{s!r} is not an integer range (expected e.g. 0-4 or 5-40:5)", param, ctx
                )
            if a > b:
                self.fail(
                    f"range {s} is empty: the start must not exceed the end (e.g. {b}-{a})",
                    param,
                    ctx,
                )
            if step < 1:
                self.fail(f"range {s}: the step must be >= 1", param, ctx)
            vals = list(range(a, b + 1, step))
        else:
            try:
                vals = [self.item(s)]
            except ValueError:
                kind = "an integer" if self.item is int else "a number"
                self.fail(f"{s!r} is not {kind}", param, ctx)
        for v in vals:
            if self.minimum is not None and v < self.minimum:
                self.fail(f"{v} is too small (expected values >= {self.minimum})", param, ctx)
        return vals

    def convert(self, value, param, ctx):
        if isinstance(value, list):
            return value
        parts = [p.strip() for p in str(value).split(",")]
        if not all(parts):
            self.fail(f"{value!r} has an empty item (expected e.g. 5,10,20)", param, ctx)
        out = []
        for p in parts:
            for v in self._one(p, param, ctx):
                if v not in out:
                    out.append(v)
        return out


class InitList(click.ParamType):
    name = "INIT[,INIT...]"

    def convert(self, value, param, ctx):
        if isinstance(value, list):
            return value
        one = InitType()
        out = []
        for p in str(value).split(","):
            v = one.convert(p.strip(), param, ctx)
            if v not in out:
                out.append(v)
        return out


INTS = lambda minimum=None: ListType(int, "N[,N...|A-B]", minimum)
FLOATS = ListType(float, "X[,X...]")

BOTH = {"plain": [False], "residual": [True], "both": [False, True]}
ONOFF = {"off": [False], "on": [True], "both": [False, True]}


# -------------------------------------------------------------------------- running
def where_options(command):
    """--workers, --dask, --scheduler, --out, --retry-failed, --quiet."""
    opts = [
        click.option(
            "--workers",
            type=click.IntRange(1, 4096),
            default=None,
            help="worker processes [default: one per core; 1 = in this process]",
        ),
        click.option(
            "--dask",
            "dask_mode",
            type=click.Choice(["local"]),
            default=None,
            help="run on a dask.distributed LocalCluster of --workers processes "
            "(needs: pip install 'cnnsim[dask]')",
        ),
        click.option(
            "--scheduler",
            metavar="tcp://HOST:8786",
            default=None,
            help="run on the existing Dask cluster of this scheduler",
        ),
        click.option(
            "--retry-failed",
            is_flag=True,
            help="rerun the tasks whose rows in results.jsonl hold an error",
        ),
        click.option("--quiet", is_flag=True, help="no progress bar"),
    ]
    return stack_options(opts)(command)


def _backend(workers, dask_mode, scheduler):
    from ..experiments.executors import (
        Dask,
        DaskMissing,
        Pool,
        Serial,
        cpu_count,
        import_distributed,
    )

    if dask_mode and scheduler:
        raise click.UsageError(
            "--dask local and --scheduler exclude each other: one cluster at a time"
        )
    if scheduler and not scheduler.startswith(("tcp://", "tls://", "inproc://", "ws://", "wss://")):
        raise click.BadParameter(
            f"expected an address like tcp://HOST:8786, got {scheduler!r}",
            param_hint="'--scheduler'",
        )
    if dask_mode or scheduler:
        try:
            import_distributed("--scheduler" if scheduler else "--dask local")
        except DaskMissing as e:
            raise click.ClickException(str(e)) from None
        return Dask(workers or cpu_count(), address=scheduler)
    workers = workers or cpu_count()
    return Serial() if workers == 1 else Pool(workers)


class Progress:
    """``[#####.....] 37/360 done, 12 already there, 1 failed, 1m12s, about 3m05s left`` on
    stderr: redrawn in place on a terminal, a line every 10% otherwise."""

    def __init__(self, total, already, quiet=False):
        self.total, self.already, self.quiet = total, already, quiet
        self.t0, self.failed, self.last = time.monotonic(), 0, -1
        self.tty = sys.stderr.isatty()

    @staticmethod
    def _t(s):
        s = int(round(s))
        return (
            f"{s // 3600}h{s % 3600 // 60:02d}m"
            if s >= 3600
            else (f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s")
        )

    def __call__(self, row, done, total):
        if row.get("error") is not None:
            self.failed += 1
        if self.quiet:
            return
        ran = done - self.already
        now = time.monotonic()
        if ran == 1:  # the rate is measured from the first row on: starting the
            self.t1 = now  # workers and loading the kernels is not part of it
        el = now - self.t0
        left = (now - self.t1) / (ran - 1) * (total - done) if ran > 1 else None
        w = 30
        bar = "#" * int(w * done / total) + "." * (w - int(w * done / total))
        msg = (
            f"[{bar}] {done}/{total} done"
            + (f", {self.already} already there" if self.already else "")
            + (f", {self.failed} failed" if self.failed else "")
            + f", {self._t(el)}"
            + (f", about {self._t(left)} left" if done < total and left is not None else "")
        )
        if self.tty:
            click.echo("\r" + msg.ljust(100), nl=done == total, err=True)
        elif done == total or int(10 * done / total) != self.last:
            self.last = int(10 * done / total)
            click.echo(msg, err=True)


def _run(kind, tasks, out, workers, dask_mode, scheduler, retry_failed, quiet):
    """Run the tasks, write summary.csv and the figure, print where; exit 1 if any failed."""
    from ..experiments.executors import run_sweep
    from ..experiments.results import load_rows, write_csv
    from ..experiments.sweep import summarize, task_key

    backend = _backend(workers, dask_mode, scheduler)
    path = os.path.join(out, "results.jsonl")
    try:
        rows, note = load_rows(path)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    if note:
        click.echo(note, err=True)
    keys = {task_key(t) for t in tasks}
    already = len(
        {
            r["key"]
            for r in rows
            if r["key"] in keys and (r.get("error") is None or not retry_failed)
        }
    )
    click.echo(
        f"sweep {kind}: {len(keys)} tasks, {already} already in {path}; running the "
        f"rest {backend.describe()}",
        err=True,
    )
    from .. import __version__

    other = sorted({r.get("version") for r in rows if r["key"] in keys} - {__version__})
    if other:
        click.echo(
            f"note: rows kept from cnnsim {', '.join(map(str, other))} (this is "
            f"{__version__}); their numbers may differ: use a new --out to redo them",
            err=True,
        )
    prog = Progress(len(keys), already, quiet)
    try:
        rep = run_sweep(kind, tasks, out, backend, on_row=prog, retry_failed=retry_failed)
    except (RuntimeError, OSError, ValueError) as e:
        raise click.ClickException(str(e).splitlines()[0]) from None
    except KeyboardInterrupt:
        raise click.ClickException(
            f"stopped; the finished tasks are in {path}: run the same command again to resume"
        ) from None
    for n in rep["notes"]:
        click.echo(n, err=True)
    summary = summarize(kind, rep["rows"])
    write_csv(os.path.join(out, "summary.csv"), summary)
    fig_path = os.path.join(out, f"{kind}_sweep.png")
    if any(s["seeds"] for s in summary):
        from ..plotting import sweep as P

        fig = (P.gradflow_sweep_figure if kind == "gradflow" else P.train_sweep_figure)(summary)
        fig.savefig(fig_path)
    click.echo(
        f"{rep['ran']} tasks ran in {rep['seconds']:.1f} s, {rep['skipped']} were "
        f"already done; {len(rep['rows']) - rep['failed']} of {rep['total']} rows hold "
        f"numbers"
    )
    click.echo(
        f"wrote {path}, {os.path.join(out, 'summary.csv')}"
        + (f", {fig_path}" if os.path.exists(fig_path) else "")
    )
    if rep["failed"]:
        first = next(r for r in rep["rows"] if r.get("error") is not None)
        click.echo(
            f"Error: {rep['failed']} of {rep['total']} tasks failed (their rows in "
            f"{path} hold the errors; first: {first['error']}); fix and rerun with "
            f"--retry-failed",
            err=True,
        )
        sys.exit(1)


# ------------------------------------------------------------------------ commands
@click.group(short_help="Run many small experiments (depth x activation x init x seed).")
def sweep():
    """Run an experiment over a grid of settings and seeds, in parallel, and summarize it.

    Each task (one setting, one seed) is independent and deterministic. Finished tasks
    are appended to OUT/results.jsonl as they come in; running the same command again
    skips them, so a stopped sweep resumes where it was. OUT/summary.csv holds mean and
    std over seeds per setting, and a figure shows them.

    Runs on a local process pool by default (--workers N), on a Dask LocalCluster with
    --dask local, or on a class's Dask cluster with --scheduler tcp://HOST:8786
    (see docs/sweeps.md). Exit code 1 when some tasks failed.

    Lists take commas (5,10,20); integers also take inclusive ranges (0-4, 5-40:5).
    """


@sweep.command("gradflow")
@click.option(
    "--depth", type=INTS(2), default="5,10,20,40", show_default=True, help="conv layers per tower"
)
@click.option(
    "--activation",
    type=ListType(str, "ACT[,ACT...]", choices=("sigmoid", "tanh", "relu")),
    default="sigmoid,tanh,relu",
    show_default=True,
)
@click.option(
    "--init",
    "inits",
    type=InitList(),
    default="normal:0.01,glorot,he",
    show_default=True,
    help=INIT_HELP.split(" [default")[0],
)
@click.option(
    "--residual",
    type=click.Choice(list(BOTH)),
    default="both",
    show_default=True,
    help="plain towers, residual towers, or both",
)
@click.option(
    "--batchnorm",
    type=click.Choice(list(ONOFF)),
    default="off",
    show_default=True,
    help="batch normalization after every conv",
)
@click.option("--seed", "seeds", type=INTS(0), default="0-4", show_default=True)
@click.option("--width", type=INTS(1), default="8", show_default=True, help="maps per conv")
@click.option("--batch", type=INTS(1), default="32", show_default=True)
@click.option(
    "--dtype",
    type=ListType(str, "DTYPE[,DTYPE...]", choices=("float64", "float32")),
    default="float64",
    show_default=True,
    help="float64: deep gradients are measured down to 1e-308; float32 (as "
    "cnnsim gradflow): they underflow below 1e-38, slowly (subnormal numbers), "
    "to 0",
)
@click.option(
    "--out", default="runs/sweep-gradflow", show_default=True, type=click.Path(file_okay=False)
)
@where_options
def gradflow_sweep(
    depth,
    activation,
    inits,
    residual,
    batchnorm,
    seeds,
    width,
    batch,
    dtype,
    out,
    workers,
    dask_mode,
    scheduler,
    retry_failed,
    quiet,
):
    """Gradient spread at initialization over depth x activation x init x seed.

    One task = one tower (plain or residual) at initialization: its gradient spread
    log10(max / min ||dL/dW||) over the conv layers (0: every layer gets the same
    gradient; 8: the best-fed layer gets 10^8 times more than the worst-fed one).
    The figure OUT/gradflow_sweep.png: heat maps of depth x activation, one row per
    initialization, plain and residual side by side, mean +- std over seeds.

    \b
    Examples:
      cnnsim sweep gradflow                                  # 360 towers, all cores
      cnnsim sweep gradflow --depth 5,10,20,40 --activation sigmoid,tanh,relu \\
          --init normal:0.01,glorot,he --seed 0-4 --residual both
      cnnsim sweep gradflow --batchnorm both --init he --dask local --workers 2
      cnnsim sweep gradflow --scheduler tcp://10.0.0.5:8786 --out runs/class
    """
    from ..experiments.sweep import grid

    tasks = grid(
        {
            "depth": depth,
            "activation": activation,
            "init": inits,
            "batchnorm": ONOFF[batchnorm],
            "residual": BOTH[residual],
            "width": width,
            "batch": batch,
            "dtype": dtype,
            "seed": seeds,
        }
    )
    _run("gradflow", tasks, out, workers, dask_mode, scheduler, retry_failed, quiet)


@sweep.command("train")
@click.argument("models")
@click.option(
    "--variant",
    type=ListType(str, "V[,V...]"),
    default=None,
    help="model variants, e.g. modern,paper for lenet5",
)
@click.option(
    "--depth",
    type=INTS(1),
    default=None,
    help="weight layers: 6n+2 for plain_cifar/resnet_cifar (8,14,20,32,56), conv layers for tower",
)
@click.option(
    "--width",
    type=FLOATS,
    default=None,
    help="width (plain_cifar/resnet_cifar: multiplier, default 0.25; tower: maps)",
)
@click.option(
    "--lr", type=FLOATS, default=None, help="learning rates [default: the model's SGD default]"
)
@click.option("--batch", type=INTS(1), default="64", show_default=True)
@click.option("--epochs", type=INTS(1), default="2", show_default=True)
@click.option("--seed", "seeds", type=INTS(0), default="0-2", show_default=True)
@click.option(
    "--data",
    type=ListType(str, "DATA[,DATA...]", choices=("synthetic", "mnist", "fashion-mnist")),
    default="synthetic",
    show_default=True,
    help="dataset (mnist must be on every worker: cnnsim data download)",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="where the IDX files are on the workers [default: $CNNSIM_DATA, cache]",
)
@click.option(
    "--limit",
    type=click.IntRange(1),
    default=2000,
    show_default=True,
    help="training images per task",
)
@click.option(
    "--test-limit",
    type=click.IntRange(1),
    default=1000,
    show_default=True,
    help="test images per task",
)
@click.option(
    "--out", default="runs/sweep-train", show_default=True, type=click.Path(file_okay=False)
)
@where_options
def train_sweep(
    models,
    variant,
    depth,
    width,
    lr,
    batch,
    epochs,
    seeds,
    data,
    data_dir,
    limit,
    test_limit,
    out,
    workers,
    dask_mode,
    scheduler,
    retry_failed,
    quiet,
):
    """Train MODELS (comma-separated) over a grid of settings and seeds.

    One task = one training run (SGD, momentum 0.9, seeded); its final training and test
    error. The figure OUT/train_sweep.png: final error vs depth (or vs the swept
    setting) with error bars (std over seeds).

    \b
    Examples:
      cnnsim sweep train lenet5 --variant modern --lr 0.01,0.05 --batch 32,64 \\
          --epochs 2 --seed 0-2 --data mnist
      cnnsim sweep train plain_cifar,resnet_cifar --depth 8,14,20 --epochs 3 --seed 0-2
    """
    from ..experiments.sweep import build_train_model, grid
    from ..layers.initializers import shapes_only

    model_list = ListType(str, "MODEL").convert(models, None, None)
    files = [m for m in model_list if is_onnx(m)]
    if files:  # a sweep's axes (depth, width, seed) rebuild a zoo model on every worker
        raise click.BadParameter(
            f"{files[0]} is an ONNX file; a sweep builds zoo models by name on every worker "
            f"(depth, width and seed are its axes); train the file with cnnsim train {files[0]}",
            param_hint="MODELS",
        )
    widths = (
        [None]
        if width is None
        else [int(w) if float(w).is_integer() and "tower" in model_list else w for w in width]
    )
    tasks = grid(
        {
            "model": model_list,
            "variant": variant or [None],
            "depth": depth or [None],
            "width": widths,
            "lr": lr or [None],
            "batch": batch,
            "epochs": epochs,
            "data": data,
            "limit": [limit],
            "test_limit": [test_limit],
            "data_dir": [data_dir],
            "seed": seeds,
        }
    )
    checked = set()
    for t in tasks:  # every network builds before any worker starts
        sig = (t["model"], t["variant"], t["depth"], t["width"])
        if sig in checked:
            continue
        checked.add(sig)
        try:
            with shapes_only():
                build_train_model(t)
        except (ValueError, TypeError) as e:
            raise click.UsageError(str(e).splitlines()[0]) from None
    _run("train", tasks, out, workers, dask_mode, scheduler, retry_failed, quiet)
