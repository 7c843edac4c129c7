"""A neuron's connections, and a neuron's gradient, as figures.

``neuron_figure(c)`` takes ``cnnsim.engine.connections.Connections``:

* a convolution (one row per connected input map, at most ``max_maps``): the zero-padded
  patch (padding hatched), the kernel, the products;
* a window (pooling, subsampling): the window, padding hatched, the max pool's winner
  outlined;
* across maps (LRN): a_j for the maps of the window as bars, the neuron's own map outlined;
* a vector (dense, RBF) or a 1x1 position: the largest contributions as bars;

and beside it the layer's own explanation text (``Connections.lines``). Cell labels are
black or white by the cell's luminance (``text_color``); diverging maps are centred on
zero, so 0 is drawn neutral (white). ``gradient_figure(g)`` draws a gradient's terms
(``cnnsim.engine.backward.GradExplanation``) as bars with their sum.
"""

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

OUTLINE = "tab:orange"


def luminance(rgba):
    """Relative luminance (ITU-R BT.709 / WCAG) of an RGB(A) colour in [0, 1]."""

    def lin(c):
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(float(v)) for v in rgba[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def text_color(rgba):
    """Black or white, whichever contrasts more with the cell colour ``rgba`` (WCAG
    contrast ratio (L1 + 0.05) / (L2 + 0.05))."""
    lum = luminance(rgba)
    return "black" if (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) else "white"


def _grid(ax, a, title, cmap="viridis", padded=None, annotate=True, diverging=False, outline=None):
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 1:
        a = a[None]
    if diverging:
        m = float(np.abs(a).max()) or 1.0
        norm = Normalize(-m, m)  # 0 in the middle: neutral
    else:
        lo, hi = float(a.min()), float(a.max())
        norm = Normalize(lo, hi if hi > lo else lo + 1e-12)
    cm = colormaps[cmap]
    ax.imshow(a, cmap=cm, norm=norm, interpolation="nearest")
    if padded is not None:
        for u, v in zip(*np.nonzero(padded)):
            ax.add_patch(
                Rectangle(
                    (v - 0.5, u - 0.5),
                    1,
                    1,
                    facecolor="0.85",
                    hatch="///",
                    edgecolor="gray",
                    linewidth=0,
                )
            )
    if outline is not None:
        u, v = outline
        ax.add_patch(
            Rectangle((v - 0.5, u - 0.5), 1, 1, fill=False, edgecolor=OUTLINE, linewidth=2.5)
        )
    if annotate and a.size <= 49:
        for (u, v), val in np.ndenumerate(a):
            if padded is not None and padded[u, v]:
                ax.text(v, u, "pad", ha="center", va="center", fontsize=6, color="black")
                continue
            ax.text(
                v,
                u,
                f"{val:.2g}",
                ha="center",
                va="center",
                fontsize=6,
                color=text_color(cm(norm(val))),
            )
    ax.set_title(title, fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])


def _text(ax, lines, limit=34):
    lines = list(lines)
    if len(lines) > limit:
        lines = lines[: limit - 1] + [
            f"... ({len(lines) - limit + 1} more lines in the text output)"
        ]
    ax.text(
        0.0,
        1.0,
        "\n".join(l[:110] for l in lines),
        fontsize=6.5,
        va="top",
        family="monospace",
        transform=ax.transAxes,
    )
    ax.axis("off")


def _bars(ax, labels, values, title, highlight=None):
    y = np.arange(len(values))
    colors = ["tab:blue" if v >= 0 else "tab:red" for v in values]
    bars = ax.barh(y, values, color=colors)
    if highlight is not None:
        bars[highlight].set_edgecolor(OUTLINE)
        bars[highlight].set_linewidth(2.5)
    ax.axvline(0, color="black", linewidth=0.6)
    ax.set_yticks(y, labels, fontsize=6)
    ax.invert_yaxis()
    ax.set_title(title, fontsize=8)
    ax.tick_params(axis="x", labelsize=6)


def neuron_figure(c, max_maps=6, top=10):
    """Figure of one neuron's connections (see the module docstring)."""
    title = f"{c.layer} ({c.kind}) neuron map {c.map}, row {c.row}, col {c.col}"
    text = c.lines(top)
    if c.form == "patches" and c.inputs is not None and len(c.inputs):
        k = min(len(c.channels), max_maps)
        fig = Figure(figsize=(12, 1.9 * k + 1.0), dpi=100)
        for r in range(k):
            ch = c.channels[r]
            _grid(
                fig.add_subplot(k, 5, 5 * r + 1),
                c.inputs[r],
                f"input map {ch}: rows {c.rows[0]}..{c.rows[-1]}, cols {c.cols[0]}..{c.cols[-1]}",
                "gray",
                c.padded,
            )
            _grid(
                fig.add_subplot(k, 5, 5 * r + 2),
                c.weights[r],
                f"kernel w[{c.map}, {ch}]",
                "coolwarm",
                diverging=True,
            )
            _grid(
                fig.add_subplot(k, 5, 5 * r + 3),
                c.products[r],
                f"products (sum {c.products[r].sum():.3g})",
                "coolwarm",
                diverging=True,
            )
        _text(fig.add_subplot(1, 5, (4, 5)), text)
    else:
        fig = Figure(figsize=(12, 4.2), dpi=100)
        ax = fig.add_subplot(1, 2, 1)
        d = c.details
        if c.form == "vector" and c.products is not None:
            order = c.ranked()[:20]
            _bars(
                ax,
                [str(int(i)) for i in order],
                np.asarray(c.products)[order],
                "largest contributions x * w (input index)"
                if c.weights is not None
                else "largest terms",
            )
        elif c.form == "maps" and "a_j" in d:
            _bars(
                ax,
                [f"map {j}" for j in c.channels],
                d["a_j"],
                f"a_j, maps {d['j_low']}..{d['j_high']} (own map outlined)",
                highlight=c.channels.index(c.map),
            )
        elif (
            c.form == "window"
            and c.inputs is not None
            and np.ndim(c.inputs) == 2
            and np.size(c.inputs) > 1
        ):
            _grid(
                ax,
                c.inputs,
                f"window of map {c.map}" + (" (winner outlined)" if "winner_offset" in d else ""),
                "gray",
                c.padded,
                outline=d.get("winner_offset"),
            )
        else:  # a point: its input value(s) and the output
            vals = (
                [float(v) for v in np.ravel(c.inputs)]
                if c.inputs is not None and np.size(c.inputs) <= 8
                else []
            )
            srcs = c.sources or []
            labels = [srcs[k] if len(srcs) == len(vals) else f"input {k}" for k in range(len(vals))]
            _bars(
                ax, labels + ["output"], vals + [c.output], "inputs and output", highlight=len(vals)
            )
        _text(fig.add_subplot(1, 2, 2), text)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def gradient_figure(g, top=20):
    """A gradient's largest terms (weight x upstream dL/dz) as bars, and its sum."""
    order = g.ranked()[:top]
    fig = Figure(figsize=(12, 0.25 * max(len(order), 6) + 1.6), dpi=100)
    ax = fig.add_subplot(1, 2, 1)
    _bars(
        ax,
        [g.terms[i]["reader"] for i in order],
        [g.terms[i]["product"] for i in order],
        f"largest {len(order)} of {len(g.terms)} terms",
    )
    _text(fig.add_subplot(1, 2, 2), g.lines(top=12))
    fig.suptitle(
        f"gradient of {g.layer} {g.what}: sum {g.rebuilt:.4g} (kernels {g.value:.4g})", fontsize=10
    )
    fig.tight_layout()
    return fig
