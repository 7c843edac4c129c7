"""Degradation (He et al. 2015, fig. 1 and 6), scaled down to run in well under 2 minutes.

A deeper *plain* network trains worse than a shallower one — higher *training* error, so
it is not overfitting — while the residual twins of the same depths do not degrade.
``degradation()`` trains plain-20 / plain-56 and ResNet-20 / ResNet-56 (the CIFAR family
of sec. 4.2, ``cnnsim.models.resnet_cifar``; width scaled down) on the same digits with the
same seed and returns their per-epoch curves. Plain data; plot with
``cnnsim.plotting.training.curves_figure``.

The defaults are chosen to show the effect quickly on 2 cores: 500 digits averaged down to
14x14 (a quarter of the work of 28x28), batches of 32, 20 epochs, learning rate 0.1
(about 40 s of CPU time for the four networks).
"""

from .. import models
from .runs import load_digits, run_config, train_runs


def degradation(
    depths=(20, 56),
    width=0.25,
    limit=500,
    test_limit=500,
    epochs=20,
    batch_size=32,
    lr=0.1,
    seed=0,
    data="synthetic",
    data_dir=None,
    progress=None,
    size=14,
):
    """Train plain and residual ``6n+2``-layer nets; returns ``{"config", "runs"}`` with, per
    run (``"plain-20"``, ``"resnet-20"``, ...): ``train_loss``, ``train_error``,
    ``test_error`` per epoch, ``params`` and ``seconds``. ``progress``: a callable that
    gets one line per epoch (see ``cnnsim.experiments.runs.train_runs``)."""
    for d in depths:
        if isinstance(d, bool) or not isinstance(d, int) or d < 8 or (d - 2) % 6:
            raise ValueError(
                f"degradation: depth must be 6n+2 (8, 14, 20, 32, 44, 56, ...), got {d}"
            )
    (xtr, ytr), (xte, yte), note = load_digits(data, size, data_dir, limit, test_limit)
    shape = xtr.shape[1:]
    builders = {}
    for d in depths:
        for kind in ("plain", "resnet"):
            builders[f"{kind}-{d}"] = lambda d=d, kind=kind: models.resnet_cifar(
                (d - 2) // 6,
                input_shape=shape,
                num_classes=10,
                width=width,
                residual=(kind == "resnet"),
                seed=seed,
            )
    runs = train_runs(
        builders, (xtr, ytr), (xte, yte), epochs, batch_size, lr, seed, progress=progress
    )
    own = {"depths": list(depths), "width": width}
    return {
        "config": run_config(own, xtr, xte, note, epochs, batch_size, lr, seed, size),
        "runs": runs,
    }
