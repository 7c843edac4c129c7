"""A layer's feature maps as a grid: one panel per map, with its index and value range.

``feature_maps_figure(step, sample=0)`` takes a trace ``Step`` (its output ``y``) or an
array ``(C, H, W)`` / ``(N, C, H, W)`` / vector; returns a ``matplotlib.figure.Figure``.
``kernels_figure(step)`` draws a conv layer's learned kernels (a first layer's as RGB tiles).
"""

import math

import numpy as np
from matplotlib.figure import Figure


def _maps(obj, sample):
    name = None
    a = obj
    if hasattr(obj, "y"):
        if obj.y is None:
            raise ValueError(
                f"feature_maps_figure: step {obj.name!r} was recorded without arrays (light mode)"
            )
        name, a = f"{obj.name} ({obj.kind})", obj.y[sample]
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 4:
        a = a[sample]
    return name, a


def feature_maps_figure(obj, sample=0, max_maps=64, title=None, cmap="gray", centered=False):
    """Grid of the first ``max_maps`` maps; each panel titled ``#k  [min, max]``. Vectors
    and 1x1 maps are drawn as bars. ``centered``: colour limits symmetric about 0 (a
    gradient: 0 drawn neutral in a diverging ``cmap``)."""
    name, a = _maps(obj, sample)
    if a.ndim == 3 and a.shape[1:] == (1, 1):
        a = a[:, 0, 0]  # 1x1 maps: one value each, a bar says more
    title = title or (f"{name}: output {tuple(a.shape)}" if name else f"maps {tuple(a.shape)}")
    if a.ndim == 1:
        fig = Figure(figsize=(8, 2.6), dpi=100)
        ax = fig.add_subplot(1, 1, 1)
        ax.bar(np.arange(a.size), a, width=0.9, color="tab:blue")
        ax.set_xlabel("unit")
        ax.set_ylabel("value")
        ax.set_title(f"{title}  [{a.min():.3g}, {a.max():.3g}]", fontsize=9)
        fig.tight_layout()
        return fig
    if a.ndim == 2:
        a = a[None]
    c = min(a.shape[0], max_maps)
    cols = min(c, 8)
    rows = math.ceil(c / cols)
    fig = Figure(figsize=(1.6 * cols, 1.75 * rows + 0.5), dpi=100)
    for k in range(c):
        ax = fig.add_subplot(rows, cols, k + 1)
        m = a[k]
        lo, hi = float(m.min()), float(m.max())
        vlo, vhi = lo, hi
        if centered:
            vhi = max(abs(lo), abs(hi)) or 1e-12
            vlo = -vhi
        ax.imshow(
            m, cmap=cmap, vmin=vlo, vmax=vhi if vhi > vlo else vlo + 1e-12, interpolation="nearest"
        )
        ax.set_title(f"#{k}  [{lo:.2g}, {hi:.2g}]", fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    more = f" (first {c} of {a.shape[0]})" if c < a.shape[0] else ""
    fig.suptitle(title + more, fontsize=10)
    fig.tight_layout()
    return fig


def input_figure(image, title="input"):
    """The input image ``(C, H, W)`` (gray for 1 channel, RGB for 3)."""
    img = np.asarray(image, dtype=np.float64)
    fig = Figure(figsize=(3.2, 3.4), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    _show_image(ax, img)
    ax.set_title(f"{title} {tuple(img.shape)}", fontsize=9)
    fig.tight_layout()
    return fig


def _show_image(ax, img):
    if img.shape[0] == 3:
        lo, hi = img.min(), img.max()
        ax.imshow(
            np.moveaxis((img - lo) / (hi - lo if hi > lo else 1), 0, -1), interpolation="nearest"
        )
    else:
        ax.imshow(img[0] if img.ndim == 3 else img, cmap="gray", interpolation="nearest")


def kernels_figure(obj, max_filters=64, title=None):
    """A conv layer's learned kernels ``w (F, C, KH, KW)``, one tile per filter.

    ``obj`` is a trace ``Step`` of a Conv2D (its ``params["w"]``) or the array itself.
    * ``C == 3`` (a first layer on RGB): each filter as an RGB image, the three channels
      scaled together to [0, 1] (``(w - min) / (max - min)`` over the filter), as in
      Krizhevsky et al.'s Figure 3: colour and edge detectors, when the weights are trained.
    * ``C == 1``: gray tiles.
    * otherwise: for each filter, the slice ``w[f, c]`` with the largest L2 norm (the input
      map it weighs most), in a diverging map centred at 0; the tile says which map.
    """
    name = None
    w = obj
    if hasattr(obj, "params"):
        name, w = f"{obj.name} ({obj.kind})", obj.params.get("w")
        if w is None:
            raise ValueError(
                f"kernels_figure: step {obj.name!r} was recorded without weights (light mode)"
            )
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 4:
        raise ValueError(f"kernels_figure: expected weights (F, C, KH, KW), got {w.shape}")
    f, c, kh, kw = w.shape
    n = min(f, max_filters)
    cols = min(n, 8 if kh > 5 else 16)
    rows = math.ceil(n / cols)
    how = {3: "RGB, each filter scaled to [0, 1]", 1: "gray, each filter scaled"}.get(
        c, "per filter: its strongest input map (largest L2 norm), blue < 0 < red"
    )
    title = title or (
        f"{name}: {f} learned kernels {kh}x{kw} over {c} maps" if name else f"kernels {w.shape}"
    )
    fig = Figure(figsize=(1.1 * cols + 0.4, 1.25 * rows + 0.8), dpi=100)
    for k in range(n):
        ax = fig.add_subplot(rows, cols, k + 1)
        if c == 3:
            t = w[k]
            lo, hi = t.min(), t.max()
            ax.imshow(
                np.moveaxis((t - lo) / (hi - lo if hi > lo else 1.0), 0, -1),
                interpolation="nearest",
            )
            ax.set_title(f"#{k}", fontsize=6)
        elif c == 1:
            ax.imshow(w[k, 0], cmap="gray", interpolation="nearest")
            ax.set_title(f"#{k}", fontsize=6)
        else:
            norms = np.sqrt((w[k] ** 2).sum(axis=(1, 2)))
            m = int(np.argmax(norms))
            v = float(np.abs(w[k, m]).max()) or 1.0
            ax.imshow(w[k, m], cmap="RdBu_r", vmin=-v, vmax=v, interpolation="nearest")
            ax.set_title(f"#{k}<-{m}", fontsize=6)
        ax.set_xticks([])
        ax.set_yticks([])
    more = f" (first {n} of {f})" if n < f else ""
    fig.suptitle(f"{title}{more}\n{how}", fontsize=9)
    fig.tight_layout()
    return fig
