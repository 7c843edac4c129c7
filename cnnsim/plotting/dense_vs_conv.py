"""The dense-vs-convolution bar chart (``cnnsim explain dense-vs-conv``)."""

from matplotlib.figure import Figure


def dense_vs_conv_figure(result):
    """Parameters and multiply-adds of each row of
    ``cnnsim.experiments.dense_vs_conv.dense_vs_conv``, log scale, side by side."""
    rows = result["rows"]
    names = [r["name"] for r in rows]
    fig = Figure(figsize=(10, 3.8), dpi=100)
    axes = fig.subplots(1, 2, sharey=True)
    colors = ["tab:red", "tab:orange", "tab:olive", "tab:blue"]
    for ax, key, label in zip(axes, ("params", "macs"), ("parameters", "multiply-adds per image")):
        vals = [r[key] for r in rows]
        ypos = list(range(len(rows)))[::-1]
        ax.barh(ypos, vals, color=colors[: len(rows)])
        ax.set_xscale("log")
        for y, v in zip(ypos, vals):
            ax.text(v, y, f" {v:,}", va="center", fontsize=8)
        ax.set_xlabel(f"{label} (log scale)")
        ax.set_xlim(1, max(vals) * 3000)
        ax.grid(True, axis="x", alpha=0.3)
    axes[0].set_yticks(list(range(len(rows)))[::-1])
    axes[0].set_yticklabels(names, fontsize=8)
    c, h, w = result["config"]["input_shape"]
    sv = result["savings"]
    fig.suptitle(
        f"Input {c}x{h}x{w}: local connectivity saves {sv['local_connectivity']:,.0f}x, "
        f"weight sharing {sv['weight_sharing']:,.0f}x the parameters",
        fontsize=10,
    )
    fig.tight_layout()
    return fig
