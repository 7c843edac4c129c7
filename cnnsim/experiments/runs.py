"""Training several networks on the same data with the same seed: the common part of the
degradation, skip-span, LeNet-5-gap and capacity experiments. Plain data out; progress
goes to a callback (the CLI prints it), never to the terminal directly.
"""

import time

import numpy as np

from ..train import SGD, Trainer
from ..train.data import load_for_model


def load_digits(data="synthetic", size=28, data_dir=None, limit=1000, test_limit=500, channels=1):
    """``((x, y), (x_test, y_test), note)`` of 28x28 digits as float32 (N, C, size, size):
    ``size`` 28, or 14 / 7 (2x2 / 4x4 block means: a quarter / a sixteenth of the work)."""
    if size not in (28, 14, 7):
        raise ValueError(
            f"image size must be 28, 14 or 7 (28x28 digits, block-averaged), got {size!r}"
        )
    (xtr, ytr), (xte, yte), note = load_for_model(
        data, (channels, 28, 28), data_dir, limit, test_limit
    )
    if size != 28:
        k = 28 // size
        shrink = lambda x: np.ascontiguousarray(  # noqa: E731
            x.reshape(len(x), channels, size, k, size, k).mean(axis=(3, 5)), dtype=np.float32
        )
        xtr, xte = shrink(xtr), shrink(xte)
        note += f", averaged down to {size}x{size}"
    return (xtr, ytr), (xte, yte), note


def train_runs(
    builders,
    train,
    test=None,
    epochs=3,
    batch_size=32,
    lr=0.05,
    seed=0,
    momentum=0.9,
    progress=None,
    on_epoch=None,
    augment=None,
    schedule=None,
):
    """Train each ``builders[name]()`` network on ``train`` with SGD (same seed: same
    initialization and batch order for all) and evaluate on ``test`` after each epoch.

    Returns ``{name: {"train_loss", "train_error", "test_error" (lists per epoch; the
    training error is measured during the epoch), "params", "seconds"}}`` in the order of
    ``builders``. ``progress(text)`` gets one line per epoch ("[2/4] plain-56: epoch 3/10
    ..."); ``on_epoch(name, net, record)`` may add entries to the epoch's record;
    ``schedule(epoch)`` gives the learning rate of each epoch (default: ``lr`` throughout).
    """
    runs = {}
    for k, (name, build) in enumerate(builders.items(), start=1):
        net = build()
        trainer = Trainer(
            net,
            SGD(lr, momentum=momentum),
            batch_size,
            seed,
            schedule=schedule,
            augment=augment,
            progress=False,
        )
        t0 = time.perf_counter()
        extra = []
        for e in range(epochs):
            h = trainer.fit(train, test, 1)
            rec = h.epochs[-1]
            if on_epoch is not None:
                extra.append(on_epoch(name, net, rec) or {})
            if progress is not None:
                msg = (
                    f"[{k}/{len(builders)}] {name}: epoch {e + 1}/{epochs}, training error "
                    f"{1 - rec['train_accuracy']:.3f}"
                )
                if test is not None:
                    msg += f", test error {1 - rec['val_accuracy']:.3f}"
                progress(msg + f" ({time.perf_counter() - t0:.0f} s)")
        ep = trainer.history.epochs
        run = {
            "train_loss": [r["train_loss"] for r in ep],
            "train_error": [1 - r["train_accuracy"] for r in ep],
            "test_error": [1 - r["val_accuracy"] for r in ep] if test is not None else None,
            "params": int(net.param_count()),
            "seconds": time.perf_counter() - t0,
        }
        for key in extra[0] if extra else {}:
            run[key] = [x[key] for x in extra]
        runs[name] = run
    return runs


def run_config(own, train, test, note, epochs, batch_size, lr, seed, size=None):
    """An experiment's ``config`` record: its own settings ``own`` first, then what every
    training experiment shares, in one order: ``train_images`` / ``test_images`` (the
    lengths of ``train`` and ``test``), ``size`` (only where the experiment chose the image
    size), ``epochs``, ``batch_size``, ``lr``, ``seed`` and ``data`` (the loader's ``note``)."""
    cfg = {**own, "train_images": len(train), "test_images": len(test)}
    if size is not None:
        cfg["size"] = size
    cfg.update(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, data=note)
    return cfg
