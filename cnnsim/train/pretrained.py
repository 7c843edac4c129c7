"""Trained weights shipped with the package (``cnnsim/weights/``).

Each file is a checkpoint written by ``cnnsim train`` itself (the command that made it is
in ``docs/lenet5.md`` and in :data:`SHIPPED`); its metadata names the data, the
preprocessing the network learned with (``meta["preprocess"]``, see
:func:`cnnsim.data.preprocess.preprocess_spec`) and, per epoch, the measured test accuracy.

    from cnnsim import models
    from cnnsim.train.pretrained import load_pretrained
    net = models.build("lenet5")
    meta = load_pretrained(net)          # None when nothing is shipped for this network
"""

import pathlib

WEIGHTS_DIR = pathlib.Path(__file__).resolve().parents[1] / "weights"

#: network name -> (file in WEIGHTS_DIR, the command that produced it)
SHIPPED = {
    "lenet5-paper": (
        "lenet5-paper.npz",
        "cnnsim train lenet5 --variant paper --data mnist --epochs 10 --out runs/lenet5-paper",
    ),
    "lenet5-modern": (
        "lenet5-modern.npz",
        "cnnsim train lenet5 --variant modern --data mnist --epochs 2 --out runs/lenet5-modern",
    ),
}


def pretrained_path(net):
    """Path of the shipped checkpoint for ``net`` (by its name, e.g. 'lenet5-paper'), or
    None when there is none (or the network's input shape differs from the trained one)."""
    entry = SHIPPED.get(getattr(net, "name", None))
    if entry is None or tuple(net.input_shape) != (1, 32, 32):
        return None
    p = WEIGHTS_DIR / entry[0]
    return p if p.is_file() else None


def load_pretrained(net):
    """Load the shipped weights into ``net``; returns the checkpoint's metadata, or None
    when nothing is shipped for it."""
    from .checkpoint import load_checkpoint

    p = pretrained_path(net)
    return None if p is None else load_checkpoint(p, net)


def measured_accuracy(meta):
    """The test accuracy measured at the end of the last epoch (a fraction), or None."""
    epochs = (meta or {}).get("history", {}).get("epochs") or []
    return epochs[-1].get("val_accuracy") if epochs else None


def describe(meta):
    """One phrase for a header: 'trained on MNIST (10 epochs), 98.1% test accuracy'."""
    data = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}.get(
        meta.get("data"), meta.get("data", "?")
    )
    acc = measured_accuracy(meta)
    ep = meta.get("epoch")
    text = f"trained on {data}" + (f" ({ep} epoch{'s' if ep != 1 else ''})" if ep else "")
    return text + (f", {100 * acc:.1f}% test accuracy" if acc is not None else "")
