"""``cnnsim train``: train a model of the zoo (or one read from an ONNX file) and write
metrics, a plot and a checkpoint (and, for an ONNX file, the trained network as ONNX)."""

import csv
import io
import json
import os
from types import SimpleNamespace

import click

from .options import (
    MAX_LOAD_HELP,
    NON_NEGATIVE,
    POSITIVE,
    SEED,
    FiniteFloat,
    check_output_dir,
    is_onnx,
    load_onnx,
    target_option,
)


@click.command(short_help="Train a model (LeNet-5 on MNIST, ...) and plot its curves.")
@target_option
@click.argument("model", metavar="MODEL|FILE.onnx")
@click.option(
    "--data",
    default="auto",
    show_default=True,
    type=click.Choice(["auto", "mnist", "fashion-mnist", "synthetic"]),
    help="auto = MNIST when its files are found, else synthetic digits",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    help="where the IDX files are (default: $CNNSIM_DATA, then the per-user cache)",
)
@click.option("--epochs", default=2, show_default=True, type=click.IntRange(1, 1000))
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(1, 4096))
@click.option(
    "--lr",
    default=None,
    type=POSITIVE,
    help="learning rate [default: 0.05 sgd (0.001 for an RBF output: LeNet-5's "
    "paper variant), 0.001 adam]",
)
@click.option("--optimizer", default="sgd", show_default=True, type=click.Choice(["sgd", "adam"]))
@click.option(
    "--momentum",
    default=0.9,
    show_default=True,
    type=FiniteFloat(0, 1, open_max=True),
    help="SGD momentum, in [0, 1)",
)
@click.option("--weight-decay", default=0.0, show_default=True, type=NON_NEGATIVE)
@click.option(
    "--lr-step",
    default=0,
    show_default=True,
    type=click.IntRange(0),
    help="divide the learning rate by 10 every this many epochs (0 = never)",
)
@click.option(
    "--limit", default=None, type=click.IntRange(1), help="use only the first N training images"
)
@click.option(
    "--test-limit", default=None, type=click.IntRange(1), help="use only the first N test images"
)
@click.option("--variant", default=None, help="model variant (e.g. modern / paper for lenet5)")
@click.option(
    "--augment",
    is_flag=False,
    flag_value="shift",
    default="none",
    show_default=True,
    type=click.Choice(["none", "shift", "lighting", "all"]),
    help="seeded augmentation: shift = random shifts of up to 2 px (and flips for "
    "non-digit data; --augment alone means shift); lighting = AlexNet's PCA "
    "colour shift (std 0.1; a brightness offset for grey images); all = both",
)
@click.option(
    "--activation",
    default=None,
    type=click.Choice(["sigmoid", "tanh", "relu"]),
    help="hidden activation, for models that take one (LeNet-5: the slides' sigmoid, "
    "or tanh / ReLU, instead of the paper's scaled tanh)",
)
@click.option("--seed", default=0, show_default=True, type=SEED)
@click.option(
    "--out",
    default="runs/train",
    show_default=True,
    type=click.Path(file_okay=False),
    help="folder for metrics.csv, metrics.json, training.png, checkpoint.npz",
)
@click.option(
    "--resume", is_flag=True, help="continue from OUT/checkpoint.npz up to the same total --epochs"
)
@click.option(
    "--max-load-bytes",
    type=click.IntRange(1),
    default=None,
    help=MAX_LOAD_HELP + " [default: 3x the model's parameters]",
)
@click.option("--quiet", is_flag=True, help="no progress bar")
def train(model, **options):
    """Train MODEL (e.g. lenet5) and report loss, accuracy and top-5 error per epoch.

    \b
    Examples:
      cnnsim train lenet5                                 # MNIST if present, else synthetic
      cnnsim train lenet5 --data mnist --epochs 10 --out runs/lenet5
      cnnsim train lenet5 --data synthetic --limit 2000 --epochs 1
      cnnsim train lenet5 --variant modern --activation sigmoid --limit 2000 --epochs 1
      cnnsim train mynet.onnx --data mnist --out runs/mynet    # also writes model.onnx
    An ONNX model is trained from the weights in its file (--seed draws the order of the
    images and the dropout, not the weights); it must take 1x28x28 or 1x32x32 images and
    give at least 10 class scores. The trained network is written back as OUT/model.onnx,
    next to the checkpoint (cnnsim step mynet.onnx --checkpoint OUT/checkpoint.npz shows
    it, too).
    A loss that becomes NaN or infinite stops training with the step and layer where it
    first appeared; the last good checkpoint is kept. One run at a time writes to an
    --out folder (a second one is refused); every file there is written atomically.
    """
    from .._atomic import clean_stale_parts
    from .._lock import FolderLock
    from .._memory import check_fits, training_bytes

    a = SimpleNamespace(**options)
    check_output_dir(a.out, "--out")
    if is_onnx(model):
        net = load_onnx(model, **{"--variant": a.variant, "--activation": a.activation})
    else:
        net = _build(model, a.variant, a.activation, a.seed)
    check_fits(
        training_bytes(net, a.batch_size),
        f"training {net.name} at batch {a.batch_size}",
        "--batch-size",
    )
    os.makedirs(a.out, exist_ok=True)
    with FolderLock(a.out, "cnnsim train"):
        clean_stale_parts(a.out)  # what a killed run left (kill -9 cannot be caught)
        _train(net, a)
        if is_onnx(model):
            _write_onnx(net, os.path.join(a.out, "model.onnx"))


def _build(model, variant, activation, seed):
    """The zoo model MODEL with the options given (one-line usage errors)."""
    from .. import models

    opts = {"seed": seed}
    if variant:
        opts["variant"] = variant
    if activation:
        opts["activation"] = activation
    try:
        net = models.build(model, **opts)
    except TypeError as e:
        if activation and "activation" in str(e):
            raise click.BadParameter(
                f"{model} has no activation option", param_hint="--activation"
            ) from None
        raise click.UsageError(str(e)) from None
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    return net


def _write_onnx(net, path):
    """The trained network as ONNX (written whole or not at all)."""
    from .._atomic import atomic_path
    from ..interop import to_onnx

    with atomic_path(path) as tmp:
        to_onnx(net, tmp)
    click.echo(f"wrote {path} (the trained network, for onnxruntime and other tools)")


def _train(net, a):
    """Load the data, train ``net`` with the options ``a`` (the command's, by name) and
    write metrics, figure and checkpoint to ``a.out``."""
    from ..data import DataError
    from ..train import (
        StepLR,
        Trainer,
        TrainingDiverged,
        default_lr,
        load_checkpoint,
        make_optimizer,
    )
    from ..train.checkpoint import CheckpointError
    from ..train.data import load_for_model

    try:
        (xtr, ytr), (xte, yte), note = load_for_model(
            a.data, net.input_shape, a.data_dir, a.limit, a.test_limit
        )
    except (DataError, ValueError, OSError) as e:
        raise click.ClickException(str(e).splitlines()[0]) from None
    _check_classes(net, int(max(ytr.max(initial=-1), yte.max(initial=-1))) + 1)
    click.echo(f"{net.name}: {net.param_count():,} parameters; data: {note}", err=True)
    lr = a.lr if a.lr is not None else default_lr(net, a.optimizer)
    opt = make_optimizer(a.optimizer, lr, a.momentum, a.weight_decay)
    aug = None
    if a.augment != "none":
        from ..data import augment as augment_fn

        shifts = a.augment in ("shift", "all")
        flip = shifts and a.data not in ("mnist", "auto", "synthetic")  # digits: no mirrors
        lighting = 0.1 if a.augment in ("lighting", "all") else 0.0  # AlexNet's std
        aug = lambda xb, rng: augment_fn(
            xb,
            rng,
            shift=2 if shifts else 0,
            flip=flip,  # noqa: E731
            lighting=lighting,
        )
    from ..data.preprocess import preprocess_spec

    data = a.data
    if data == "auto":
        data = "mnist" if note.startswith("mnist") else "synthetic"
    # every dataset cnnsim loads has 28x28 images; the checkpoint says how they were prepared
    meta = {
        "data": data,
        "preprocess": preprocess_spec(net.input_shape, (28, 28)),
        "variant": a.variant or net.name.split("-", 1)[-1],
    }
    trainer = Trainer(
        net,
        opt,
        a.batch_size,
        a.seed,
        StepLR(lr, a.lr_step or None),
        aug,
        a.out,
        progress=not a.quiet,
        meta=meta,
        on_epoch=lambda r: click.echo(_epoch_line(r)),
    )
    if not a.quiet:
        from ..train.loop import RUNNING

        click.echo(
            f"the progress bar shows the mean loss of the last {RUNNING} batches; each "
            f"epoch's line, the mean over the whole epoch (it includes the early, "
            f"higher losses) and the test set's accuracy",
            err=True,
        )
    os.makedirs(a.out, exist_ok=True)
    if a.resume:
        try:
            meta = load_checkpoint(trainer.checkpoint_path(), net, opt, max_bytes=a.max_load_bytes)
        except (CheckpointError, OSError) as e:
            raise click.ClickException(str(e)) from None
        trainer.start_epoch, trainer.step = meta.get("epoch", 0), meta.get("step", 0)
        trainer.history.epochs = meta.get("history", {}).get("epochs", [])
        click.echo(f"resumed from epoch {trainer.start_epoch} of {a.epochs}", err=True)
        if trainer.start_epoch >= a.epochs:
            click.echo(
                f"{a.out} already holds {trainer.start_epoch} epochs (--epochs {a.epochs}): "
                f"nothing to train; raise --epochs to train further"
            )
            return
    try:
        # --epochs is the total: a resumed run continues up to it, not beyond
        trainer.fit((xtr, ytr), (xte, yte), a.epochs - trainer.start_epoch)
    except BaseException as e:
        # keep what was learned so far, but never let a second failure here (a full disk)
        # hide the first one
        try:
            _write_metrics(trainer.history, a.out, net.name)
        except OSError:
            pass
        if isinstance(e, TrainingDiverged):
            raise click.ClickException(str(e)) from None
        raise
    _write_metrics(trainer.history, a.out, net.name)
    click.echo(f"wrote {a.out}/metrics.csv, metrics.json, training.png, checkpoint.npz")


def _check_classes(net, n):
    """The network must give one score per class of the data (an imported network may not)."""
    shape = tuple(net.output_shape)
    if len(shape) != 1 or shape[0] < n:
        raise click.UsageError(
            f"{net.name} gives outputs of shape {shape}; training on this data needs a "
            f"vector of at least {n} class scores"
        )


def _epoch_line(r):
    """One line per epoch, printed as it ends: the epoch's mean training loss, accuracy on
    the training batches as they went, and the test set's accuracy after the epoch."""
    test = ""
    if "val_accuracy" in r:
        test = f"  test acc {r['val_accuracy']:.4f}  top-5 error {r['val_top5_error']:.4f}"
    return (
        f"epoch {r['epoch']:>3}  train loss {r['train_loss']:.4f} (epoch mean)  train acc "
        f"{r['train_accuracy']:.4f}{test}  {r['seconds']:.1f} s"
    )


def _write_metrics(history, out, name):
    from .._atomic import save_figure, write_text

    h = history.as_dict()
    write_text(os.path.join(out, "metrics.json"), json.dumps({"model": name, **h}, indent=1))
    if h["epochs"]:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(h["epochs"][0]))
        w.writeheader()
        w.writerows(h["epochs"])
        write_text(os.path.join(out, "metrics.csv"), buf.getvalue())
        from ..plotting.training import training_figure

        save_figure(training_figure(h, f"{name} training"), os.path.join(out, "training.png"))
