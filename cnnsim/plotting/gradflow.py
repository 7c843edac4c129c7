"""Gradient-flow figures (return ``matplotlib.figure.Figure``)."""
import numpy as np
from matplotlib.figure import Figure

#: the residual unit of ``cnnsim.models.tower(unit=...)``, as the figure's title states it
UNIT_FORMULA = {"pre": "y = x + conv(act(conv(act(x))))", "post": "y = act(conv(act(conv(x))) + x)"}


def gradflow_figure(result, key="grad_norm"):
    """Per-layer gradient norm (log scale), plain and residual side by side.

    ``result`` is ``cnnsim.experiments.gradflow.compare_plain_residual``'s output.
    """
    cfg = result.get("config", {})
    fig = Figure(figsize=(11, 4.2), dpi=110)
    axes = fig.subplots(1, 2, sharey=True)
    for ax, kind, color in zip(axes, ("plain", "residual"), ("tab:red", "tab:blue")):
        e = result[kind]
        g = np.array(e[key], dtype=float)
        idx = np.arange(1, len(g) + 1)
        ax.semilogy(idx, np.maximum(g, 1e-30), "o-", color=color, label="at initialization")
        if "trained" in e:
            ax.semilogy(idx, np.maximum(np.array(e["trained"][key], float), 1e-30), "s--",
                        color=color, alpha=0.5, label=f"after {cfg.get('steps')} SGD steps")
        ax.set_title(f"{kind}: first/last hidden = {e.get('first_last_ratio', float('nan')):.2e}")
        ax.set_xlabel("layer (input side → output side)")
        ax.set_xticks(idx)
        ax.set_xticklabels(e["layers"], rotation=90, fontsize=7)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("‖∂L/∂W‖₂ (log scale)")
    unit = cfg.get("unit", "pre")
    fig.suptitle(f"Gradient flow, depth {cfg.get('depth')} {cfg.get('activation')} tower: "
                 f"plain vs residual ({unit}-activation units: {UNIT_FORMULA[unit]})")
    fig.tight_layout()
    return fig
