"""Degradation (He et al. 2015, fig. 1 and 6), scaled down to run in minutes on a laptop.

A deeper *plain* network trains worse than a shallower one — higher *training* error, so
it is not overfitting — while the residual twins of the same depths do not degrade.
``degradation()`` trains plain-20 / plain-56 and ResNet-20 / ResNet-56 (the CIFAR family
of sec. 4.2, ``cnnsim.models.resnet_cifar``; width scaled down) on the same digits with the
same seed and returns their per-epoch curves. Plain data; plot with
``cnnsim.plotting.training.curves_figure``.
"""
import time

import numpy as np

from .. import models
from ..train import SGD, Trainer
from ..train.data import load_for_model


def degradation(depths=(20, 56), width=0.25, limit=1000, test_limit=500, epochs=3,
                batch_size=64, lr=0.05, seed=0, data="synthetic", data_dir=None, progress=False):
    """Train plain and residual ``6n+2``-layer nets; returns ``{"config", "runs"}`` with, per
    run (``"plain-20"``, ``"resnet-20"``, ...): ``train_loss``, ``train_error``,
    ``test_error`` per epoch and ``seconds``."""
    for d in depths:
        if (d - 2) % 6:
            raise ValueError(f"degradation: depth must be 6n+2 (20, 32, 44, 56, ...), got {d}")
    runs = {}
    shape = (1, 32, 32)
    (xtr, ytr), (xte, yte), note = load_for_model(data, shape, data_dir, limit, test_limit)
    for d in depths:
        n = (d - 2) // 6
        for kind in ("plain", "resnet"):
            net = models.resnet_cifar(n, input_shape=shape, num_classes=10, width=width,
                                      residual=(kind == "resnet"), seed=seed)
            t0 = time.perf_counter()
            h = Trainer(net, SGD(lr, momentum=0.9), batch_size, seed, progress=progress) \
                .fit((xtr, ytr), (xte, yte), epochs)
            runs[f"{kind}-{d}"] = {
                "train_loss": [r["train_loss"] for r in h.epochs],
                "train_error": [1 - r["train_accuracy"] for r in h.epochs],
                "test_error": [1 - r["val_accuracy"] for r in h.epochs],
                "params": net.param_count(), "seconds": time.perf_counter() - t0}
    return {"config": {"depths": list(depths), "width": width, "train_images": len(xtr),
                       "test_images": len(xte), "epochs": epochs, "batch_size": batch_size,
                       "lr": lr, "seed": seed, "data": note}, "runs": runs}
