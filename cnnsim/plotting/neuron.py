"""A neuron's connections: input patch, kernel, products, and sum -> activation.

``neuron_figure(c)`` takes ``cnnsim.engine.connections.Connections``. For a convolution
(one row per connected input map, at most ``max_maps``): the zero-padded patch (padding
cells hatched), the kernel, the products; a last panel writes
``sum of products + bias = z -> act(z) = output``. Other layers: their inputs and the rule.
"""
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle


def _grid(ax, a, title, cmap="viridis", padded=None, annotate=True):
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 1:
        a = a[None]
    ax.imshow(a, cmap=cmap, interpolation="nearest")
    if padded is not None:
        for u, v in zip(*np.nonzero(padded)):
            ax.add_patch(Rectangle((v - 0.5, u - 0.5), 1, 1, fill=False, hatch="///",
                                   edgecolor="gray", linewidth=0))
    if annotate and a.size <= 49:
        for (u, v), val in np.ndenumerate(a):
            ax.text(v, u, f"{val:.2g}", ha="center", va="center", fontsize=6, color="white")
    ax.set_title(title, fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])


def _summary(c):
    act = c.activation or "identity"
    if c.form in ("patches", "vector") and c.bias is not None:
        return (f"sum of products = {c.sum - (c.bias or 0):.5g}\n+ bias {c.bias or 0:.5g}\n"
                f"= z {c.sum:.5g}\n{act}(z) = {c.output:.5g}\nrecorded {c.recorded:.5g}")
    lines = [f"{c.kind}", f"output {c.output:.5g}", f"recorded {c.recorded:.5g}"]
    for k, v in c.details.items():
        lines.append(f"{k}: {v if not isinstance(v, float) else f'{v:.4g}'}")
    return "\n".join(lines[:10])


def neuron_figure(c, max_maps=6):
    """Figure of one neuron's connections (see the module docstring)."""
    title = f"{c.layer} ({c.kind}) neuron map {c.map}, row {c.row}, col {c.col}"
    if c.form == "patches" and c.inputs is not None and len(c.inputs):
        k = min(len(c.channels), max_maps)
        fig = Figure(figsize=(8.5, 1.9 * k + 0.8), dpi=100)
        for r in range(k):
            ch = c.channels[r]
            _grid(fig.add_subplot(k, 4, 4 * r + 1), c.inputs[r],
                  f"input map {ch}: rows {c.rows[0]}..{c.rows[-1]}, cols {c.cols[0]}..{c.cols[-1]}",
                  "gray", c.padded)
            _grid(fig.add_subplot(k, 4, 4 * r + 2), c.weights[r], f"kernel w[{c.map}, {ch}]", "coolwarm")
            _grid(fig.add_subplot(k, 4, 4 * r + 3), c.products[r],
                  f"products (sum {c.products[r].sum():.3g})", "coolwarm")
        ax = fig.add_subplot(1, 4, 4)
        more = f"\n(+{len(c.channels) - k} more input maps)" if len(c.channels) > k else ""
        ax.text(0.02, 0.5, _summary(c) + more, fontsize=8, va="center", family="monospace")
        ax.axis("off")
    else:
        fig = Figure(figsize=(8, 3.2), dpi=100)
        ax = fig.add_subplot(1, 2, 1)
        if c.form == "vector" and c.products is not None:
            order = c.ranked()[:20]
            ax.barh(np.arange(len(order)), np.asarray(c.products)[order], color="tab:blue")
            ax.set_yticks(np.arange(len(order)), [str(i) for i in order], fontsize=6)
            ax.invert_yaxis()
            ax.set_title("largest contributions (input index)", fontsize=8)
        elif c.inputs is not None:
            _grid(ax, c.inputs if np.ndim(c.inputs) <= 2 else c.inputs[0], "inputs", "gray",
                  c.padded if np.ndim(c.inputs) == 2 else None)
        else:
            ax.axis("off")
        ax2 = fig.add_subplot(1, 2, 2)
        ax2.text(0.02, 0.5, _summary(c), fontsize=8, va="center", family="monospace")
        ax2.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
