"""Figures of training: loss/accuracy curves, and several runs compared (degradation)."""

import numpy as np
from matplotlib.figure import Figure


def training_figure(history, title="training"):
    """Loss and accuracy (train and test) against epochs from ``History.as_dict()``.

    One x axis, in epochs: an epoch's point sits at its end (epoch 1 at x = 1), and the
    per-batch losses (grey) at their fraction of the way through (step / steps per epoch),
    so both line up for any number of epochs, one included."""
    from matplotlib.ticker import MaxNLocator

    ep = history["epochs"]
    fig = Figure(figsize=(10, 4), dpi=110)
    a1, a2 = fig.subplots(1, 2)
    e = [r["epoch"] for r in ep]
    steps = history.get("steps") or []
    if steps and ep:
        per_epoch = len(steps) / len(ep)
        first = e[0] - 1
        a1.plot(
            [first + (k + 1) / per_epoch for k in range(len(steps))],
            [s[1] for s in steps],
            color="grey",
            alpha=0.3,
            lw=0.8,
            label="each batch",
        )
    a1.plot(e, [r["train_loss"] for r in ep], "o-", label="train (epoch mean)")
    if ep and "val_loss" in ep[0]:
        a1.plot(e, [r["val_loss"] for r in ep], "s-", label="test")
    a1.set_ylabel("cross-entropy loss")
    a2.plot(e, [r["train_accuracy"] for r in ep], "o-", label="train (during the epoch)")
    if ep and "val_accuracy" in ep[0]:
        a2.plot(e, [r["val_accuracy"] for r in ep], "s-", label="test (end of epoch)")
    a2.set_ylabel("accuracy")
    for ax in (a1, a2):
        ax.set_xlabel("epoch")
        if ep:
            ax.set_xlim(e[0] - 1, e[-1] + 0.05 * max(1, len(e)))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def curves_figure(curves, title, ylabel="training loss"):
    """Several named curves ``{name: [values per epoch]}`` on one axis (degradation plot)."""
    fig = Figure(figsize=(6.5, 4.2), dpi=110)
    ax = fig.subplots()
    for name, v in curves.items():
        ax.plot(
            np.arange(1, len(v) + 1), v, ("--" if "plain" in name else "-"), marker="o", label=name
        )
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig
