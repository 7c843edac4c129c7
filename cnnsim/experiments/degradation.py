"""Degradation (He et al. 2015, fig. 1 and 6), scaled down to run in well under 2 minutes.

A deeper *plain* network trains worse than a shallower one — higher *training* error, so
it is not overfitting — while the residual twins of the same depths do not degrade.
``degradation()`` trains plain-8 / plain-32 and ResNet-8 / ResNet-32 (the CIFAR family of
sec. 4.2, ``cnnsim.models.resnet_cifar``, with batch norm; width scaled down to 4/8/16
maps) on the same digits with the same seed and batch order, and returns their per-epoch
curves and a ``verdict`` computed from the final training errors. Plain data; plot with
``cnnsim.plotting.training.curves_figure``.

The defaults show the effect quickly on 2 cores: 500 digits averaged down to 14x14 (a
quarter of the work of 28x28), batches of 16 (twice the SGD steps of 32 for the same
work), 16 epochs at learning rate 0.05 divided by 10 for the last 4 (as the paper divides
it late in training: the final errors settle instead of wobbling). Why not the paper's 20
and 56 layers: in a budget this small the 56-layer *residual* net has not converged yet
either, so the residual side of the comparison would show slow training, not the absence
of degradation.
"""

from .. import models
from ..train.schedule import StepLR
from .runs import load_digits, run_config, train_runs


def degradation(
    depths=(8, 32),
    width=0.25,
    limit=500,
    test_limit=500,
    epochs=16,
    batch_size=16,
    lr=0.05,
    seed=0,
    data="synthetic",
    data_dir=None,
    progress=None,
    size=14,
    lr_step=12,
):
    """Train plain and residual ``6n+2``-layer nets; returns ``{"config", "runs",
    "verdict"}`` with, per run (``"plain-8"``, ``"resnet-8"``, ...): ``train_loss``,
    ``train_error``, ``test_error`` per epoch, ``params`` and ``seconds``; ``verdict`` as
    ``verdict()`` gives it. SGD with momentum 0.9 at ``lr``, divided by 10 every
    ``lr_step`` epochs (0: never). ``progress``: a callable that gets a first line naming
    the networks, then one line per epoch (see ``cnnsim.experiments.runs.train_runs``)."""
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
    if progress is not None:
        progress(
            f"training {len(builders)} networks one after the other ({', '.join(builders)}), "
            f"{epochs} epoch{'s' * (epochs != 1)} each on {len(xtr)} images; one line per epoch"
        )
    runs = train_runs(
        builders,
        (xtr, ytr),
        (xte, yte),
        epochs,
        batch_size,
        lr,
        seed,
        progress=progress,
        schedule=StepLR(lr, lr_step or None),
    )
    own = {"depths": list(depths), "width": width, "lr_step": lr_step}
    return {
        "config": run_config(own, xtr, xte, note, epochs, batch_size, lr, seed, size),
        "runs": runs,
        "verdict": verdict(runs, depths),
    }


# Two final training errors closer than this count as equal: 10 of the 500 default training
# images (with the defaults, seeds 0-4, ResNet-8 and ResNet-32 end 0 to 0.014 apart).
TOLERANCE = 0.02
CHANCE = 0.9  # training error of a guess among 10 classes


def final_errors(runs, depths):
    """``{"plain": [...], "residual": [...]}``: the last epoch's training error of each net,
    in the order of ``depths``."""
    return {
        kind: [runs[f"{prefix}-{d}"]["train_error"][-1] for d in depths]
        for kind, prefix in (("plain", "plain"), ("residual", "resnet"))
    }


def verdict(runs, depths, tolerance=TOLERANCE):
    """Did the deepest plain net end with a higher training error than the shallowest one,
    and did its residual twin not? Compares the last epoch's training errors (``runs`` as
    ``degradation()`` returns them); "higher" means by more than ``tolerance``.

    Returns ``{"shallow", "deep", "plain", "residual"`` (the two errors, shallow first),
    ``"plain_degrades", "residual_degrades", "text"}``, or None for a single depth. The
    text says what the numbers show, also when that is not degradation."""
    if len(depths) < 2:
        return None
    shallow, deep = min(depths), max(depths)
    err = final_errors(runs, (shallow, deep))
    (ps, pd), (rs, rd) = err["plain"], err["residual"]
    plain_worse, resid_worse = pd - ps > tolerance, rd - rs > tolerance
    pair = lambda s, d: f"{d:.3f} vs {s:.3f}"  # noqa: E731
    plain = f"the {deep}-layer plain net"
    if min(ps, pd, rs, rd) > CHANCE - 0.1:
        text = (
            f"not trained enough to judge: every training error is near chance ({CHANCE}); "
            "train longer or on more images"
        )
    elif plain_worse and not resid_worse:
        about = "" if rd <= rs else f", under {tolerance} apart: about the same"
        text = (
            f"{plain} trains WORSE than the {shallow}-layer one ({pair(ps, pd)}): "
            f"degradation; the residual one does not ({pair(rs, rd)}{about})"
        )
    elif plain_worse:
        text = (
            f"{plain} trains worse than the {shallow}-layer one ({pair(ps, pd)}), but so "
            f"does the residual one ({pair(rs, rd)}): the shortcuts did not help here"
        )
    else:
        text = (
            f"no degradation this time: {plain} trains about as well as the {shallow}-layer "
            f"one or better ({pair(ps, pd)}; under {tolerance} apart counts as equal)"
        )
    return {
        "shallow": shallow,
        "deep": deep,
        "plain": [ps, pd],
        "residual": [rs, rd],
        "plain_degrades": bool(plain_worse),
        "residual_degrades": bool(resid_worse),
        "text": text,
    }
