"""Gradient-flow figures (return ``matplotlib.figure.Figure``)."""

import numpy as np
from matplotlib.figure import Figure

#: the residual unit of ``cnnsim.models.tower(unit=...)``, as the figure's title states it
UNIT_FORMULA = {"pre": "y = x + conv(act(conv(act(x))))", "post": "y = act(conv(act(conv(x))) + x)"}

NORM_LABEL = "‖∂L/∂W‖₂ (log scale)"


def _norm_axis(ax, names, values, color, label, style="o-", alpha=1.0):
    """Per-layer norms on a log axis, input side on the left (one helper for both figures)."""
    g = np.array([np.nan if v is None else v for v in values], dtype=float)
    idx = np.arange(1, len(g) + 1)
    ax.semilogy(idx, np.maximum(g, 1e-30), style, color=color, alpha=alpha, label=label)
    ax.set_xlabel("layer (input side → output side)")
    ax.set_xticks(idx)
    ax.set_xticklabels(names, rotation=90, fontsize=7 if len(names) < 40 else 5)
    ax.grid(True, which="both", alpha=0.3)


def gradflow_figure(result, key="grad_norm"):
    """Per-layer gradient norm (log scale), plain and residual side by side.

    ``result`` is ``cnnsim.experiments.gradflow.compare_plain_residual``'s output.
    """
    cfg = result.get("config", {})
    fig = Figure(figsize=(11, 4.2), dpi=110)
    axes = fig.subplots(1, 2, sharey=True)
    for ax, kind, color in zip(axes, ("plain", "residual"), ("tab:red", "tab:blue")):
        e = result[kind]
        _norm_axis(ax, e["layers"], e[key], color, "at initialization")
        if "trained" in e:
            _norm_axis(
                ax,
                e["layers"],
                e["trained"][key],
                color,
                f"after {cfg.get('steps')} SGD steps",
                "s--",
                0.5,
            )
        ax.set_title(f"{kind}: first/last hidden = {e.get('first_last_ratio', float('nan')):.2e}")
        ax.legend(fontsize=8)
    axes[0].set_ylabel(NORM_LABEL)
    unit = cfg.get("unit", "pre")
    fig.suptitle(
        f"Gradient flow, depth {cfg.get('depth')} {cfg.get('activation')} tower: "
        f"plain vs residual ({unit}-activation units: {UNIT_FORMULA[unit]})"
    )
    fig.tight_layout()
    return fig


def trace_gradflow_figure(rows, title):
    """The same picture for any traced network: ``rows`` from
    ``cnnsim.engine.backward.grad_table`` (weight norms of the layers that have weights,
    and ||∂L/∂y|| of every step)."""
    fig = Figure(figsize=(11, 4.4), dpi=110)
    ax = fig.add_subplot(1, 1, 1)
    w = [r for r in rows if r["norm_w"] is not None]
    if w:
        _norm_axis(
            ax,
            [r["name"] for r in w],
            [r["norm_w"] for r in w],
            "tab:blue",
            "‖∂L/∂W‖₂ of each layer with weights",
        )
        ax.set_ylabel(NORM_LABEL)
    else:
        _norm_axis(
            ax,
            [r["name"] for r in rows],
            [r["norm_y"] for r in rows],
            "tab:green",
            "‖∂L/∂y‖₂ of each step",
        )
        ax.set_ylabel("‖∂L/∂y‖₂ (log scale)")
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
