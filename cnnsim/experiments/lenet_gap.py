"""LeNet-5's "gap": why the 1998 network waited 14 years for AlexNet — slow to train, hard to
train, neurons that die (saturate), and a lack of data.

``lenet_gap()`` trains LeNet-5 (the modern variant: full C3, average pooling, softmax
output) with each hidden activation (the slides' sigmoid, tanh, ReLU) on a small and a
larger training set, the same initialization seed and batch order, and after every epoch
records, per layer, the fraction of *saturated* units (sigmoid/tanh outputs within 1% of
an asymptote, where the derivative has vanished) and of *dead* units (ReLU units that output
0 for every probe image), on a fixed probe batch of test images.
"""

from .. import models
from ..train.data import load_for_model
from .gradflow import unit_stats
from .runs import train_runs


def lenet_gap(
    activations=("sigmoid", "tanh", "relu"),
    limits=(100, 1000),
    test_limit=500,
    epochs=3,
    batch_size=32,
    lr=0.05,
    seed=0,
    data="synthetic",
    data_dir=None,
    probe=256,
    progress=None,
):
    """``{"config", "runs"}``; runs named ``"sigmoid-100"`` (activation, training images)
    with ``train_error``, ``test_error``, ``train_loss`` per epoch, ``params``, ``seconds``,
    ``layers`` (the hidden layers with an activation) and ``saturated`` / ``dead``: per
    epoch, one fraction per layer (``None`` where it does not apply)."""
    for a in activations:
        if a not in ("sigmoid", "tanh", "relu"):
            raise ValueError(f"lenet-gap: activation must be sigmoid, tanh or relu, got {a!r}")
    (xtr, ytr), (xte, yte), note = load_for_model(
        data, (1, 32, 32), data_dir, max(limits), test_limit
    )
    xp = xte[:probe]

    def record(name, net, rec):
        st = unit_stats(net, xp)
        hidden = [k for k, v in st.items() if v["activation"] != "softmax"]
        return {
            "layers": hidden,
            "saturated": [st[k]["saturated"] for k in hidden],
            "dead": [st[k].get("dead") for k in hidden],
        }

    runs = {}
    for n in limits:
        builders = {
            f"{a}-{n}": (
                lambda a=a: models.build("lenet5", variant="modern", activation=a, seed=seed)
            )
            for a in activations
        }
        runs.update(
            train_runs(
                builders,
                (xtr[:n], ytr[:n]),
                (xte, yte),
                epochs,
                batch_size,
                lr,
                seed,
                progress=progress,
                on_epoch=record,
            )
        )
    for r in runs.values():
        r["layers"] = r["layers"][0]
    return {
        "config": {
            "activations": list(activations),
            "limits": list(limits),
            "test_images": len(xte),
            "probe": len(xp),
            "epochs": epochs,
            "batch_size": batch_size,
            "lr": lr,
            "seed": seed,
            "data": note,
        },
        "runs": runs,
    }
