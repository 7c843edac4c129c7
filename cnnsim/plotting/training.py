"""Figures of training: loss/accuracy curves, and several runs compared (degradation)."""
import numpy as np
from matplotlib.figure import Figure


def training_figure(history, title="training"):
    """Loss and accuracy per epoch (train and validation) from ``History.as_dict()``."""
    ep = history["epochs"]
    fig = Figure(figsize=(10, 4), dpi=110)
    a1, a2 = fig.subplots(1, 2)
    e = [r["epoch"] for r in ep]
    a1.plot(e, [r["train_loss"] for r in ep], "o-", label="train")
    if ep and "val_loss" in ep[0]:
        a1.plot(e, [r["val_loss"] for r in ep], "s-", label="test")
    a1.set_xlabel("epoch"); a1.set_ylabel("cross-entropy loss"); a1.legend(); a1.grid(alpha=0.3)
    a2.plot(e, [r["train_accuracy"] for r in ep], "o-", label="train")
    if ep and "val_accuracy" in ep[0]:
        a2.plot(e, [r["val_accuracy"] for r in ep], "s-", label="test")
    a2.set_xlabel("epoch"); a2.set_ylabel("accuracy"); a2.legend(); a2.grid(alpha=0.3)
    steps = history.get("steps") or []
    if steps:
        ax = a1.twiny()
        ax.plot([s[0] for s in steps], [s[1] for s in steps], color="grey", alpha=0.25, lw=0.8)
        ax.set_xlabel("step (grey: per-batch loss)", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def curves_figure(curves, title, ylabel="training loss"):
    """Several named curves ``{name: [values per epoch]}`` on one axis (degradation plot)."""
    fig = Figure(figsize=(6.5, 4.2), dpi=110)
    ax = fig.subplots()
    for name, v in curves.items():
        ax.plot(np.arange(1, len(v) + 1), v, ("--" if "plain" in name else "-"), marker="o", label=name)
    ax.set_xlabel("epoch"); ax.set_ylabel(ylabel); ax.set_title(title)
    ax.grid(alpha=0.3); ax.legend()
    fig.tight_layout()
    return fig
