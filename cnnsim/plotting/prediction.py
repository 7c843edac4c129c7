"""A bar chart of a network's answer: the probability of every class, the prediction and
the true label marked (from :func:`cnnsim.display.prediction`)."""

import numpy as np
from matplotlib.figure import Figure


def prediction_figure(pred, title="prediction"):
    """Bars of ``pred["probabilities"]`` (D,); the predicted class in orange, the true label
    (when known) outlined; RBF penalties (or raw outputs) written under the bars."""
    p = np.asarray(pred["probabilities"])
    fig = Figure(figsize=(6.5, 3.4), dpi=110)
    ax = fig.subplots()
    colors = ["tab:orange" if k == pred["class"] else "tab:blue" for k in range(len(p))]
    bars = ax.bar(np.arange(len(p)), p, color=colors)
    if pred.get("true_label") is not None:
        bars[pred["true_label"]].set_edgecolor("black")
        bars[pred["true_label"]].set_linewidth(2)
    ax.set_xticks(np.arange(len(p)))
    if pred["score"] != "probability" and len(p) <= 20:
        ax.set_xticklabels([f"{k}\n{v:.3g}" for k, v in enumerate(pred["output"])], fontsize=7)
        ax.set_xlabel(f"class (and its {pred['score']})")
    else:
        ax.set_xlabel("class")
    ax.set_ylabel("probability")
    ax.set_ylim(0, 1.05)
    truth = "" if pred.get("true_label") is None else f", true label {pred['true_label']}"
    ax.set_title(f"{title}: predicts {pred['name']}{truth}", fontsize=10)
    ax.text(
        0.99,
        0.97,
        pred["rule"],
        transform=ax.transAxes,
        ha="right",
        va="top",
        fontsize=6,
        wrap=True,
    )
    fig.tight_layout()
    return fig
