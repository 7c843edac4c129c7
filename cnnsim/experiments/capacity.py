"""Two short demonstrations from the lecture's AlexNet / VGG slides, on the same digits:

* ``wide_vs_deep()``: a wide shallow CNN and a narrow deep one with about the same number
  of parameters (``cnnsim.models.tower`` with batch norm and ReLU: 2 layers of 32 maps vs
  8 layers of 12 maps). Stacked 3x3 layers see more of the image (receptive field 5x5 vs
  17x17) for the same parameters.
* ``dropout_on_off()``: a small CNN with a 256-unit dense layer trained on few images with
  and without dropout (rate 0.5) before its last layer: dropout makes the training error
  higher and the gap between training and test error smaller (less overfitting).

Both return ``{"config", "runs"}`` like the other experiments (per-epoch ``train_error``
and ``test_error``, ``params``, ``seconds``); read the numbers, not the promise.
"""

from .. import layers as L
from .. import models
from .runs import load_digits, run_config, train_runs

TOWERS = {"wide (2 x 32 maps)": (2, 32), "deep (8 x 12 maps)": (8, 12)}


def wide_vs_deep(
    limit=500,
    test_limit=500,
    epochs=4,
    batch_size=32,
    lr=0.05,
    seed=0,
    data="synthetic",
    data_dir=None,
    size=14,
    progress=None,
):
    (xtr, ytr), (xte, yte), note = load_digits(data, size, data_dir, limit, test_limit)
    shape = xtr.shape[1:]
    builders = {
        name: (
            lambda d=d, w=w: models.build(
                "tower",
                depth=d,
                width=w,
                activation="relu",
                batchnorm=True,
                input_shape=shape,
                seed=seed,
            )
        )
        for name, (d, w) in TOWERS.items()
    }
    runs = train_runs(
        builders, (xtr, ytr), (xte, yte), epochs, batch_size, lr, seed, progress=progress
    )
    for name, (d, w) in TOWERS.items():
        runs[name]["depth"], runs[name]["width"] = d, w
        runs[name]["receptive_field"] = 2 * d + 1
    return {
        "config": run_config({}, xtr, xte, note, epochs, batch_size, lr, seed, size),
        "runs": runs,
    }


def small_cnn(dropout, input_shape, seed=0):
    """conv 8@5x5 relu, max 2, conv 16@3x3 relu, max 2, dense 256 relu, [dropout 0.5],
    dense 10 softmax."""
    layers = [
        L.Conv2D(8, 5, activation="relu", name="conv1"),
        L.MaxPool2D(2, name="pool1"),
        L.Conv2D(16, 3, activation="relu", name="conv2"),
        L.MaxPool2D(2, name="pool2"),
        L.Flatten(name="flatten"),
        L.Dense(256, activation="relu", name="fc1"),
    ]
    if dropout:
        layers.append(L.Dropout(dropout, name="dropout"))
    layers.append(L.Dense(10, activation="softmax", name="fc2"))
    return L.Sequential(
        layers,
        input_shape=input_shape,
        seed=seed,
        name="small_cnn" + ("_dropout" if dropout else ""),
    )


def dropout_on_off(
    rate=0.5,
    limit=200,
    test_limit=500,
    epochs=12,
    batch_size=32,
    lr=0.05,
    seed=0,
    data="synthetic",
    data_dir=None,
    progress=None,
):
    (xtr, ytr), (xte, yte), note = load_digits(data, 28, data_dir, limit, test_limit)
    shape = xtr.shape[1:]
    builders = {
        "no dropout": lambda: small_cnn(0.0, shape, seed),
        f"dropout {rate:g}": lambda: small_cnn(rate, shape, seed),
    }
    runs = train_runs(
        builders, (xtr, ytr), (xte, yte), epochs, batch_size, lr, seed, progress=progress
    )
    for r in runs.values():
        r["gap"] = [t - e for t, e in zip(r["test_error"], r["train_error"])]
    return {
        "config": run_config({"rate": rate}, xtr, xte, note, epochs, batch_size, lr, seed),
        "runs": runs,
    }
