"""A layer's feature maps as a grid: one panel per map, with its index and value range.

``feature_maps_figure(step, sample=0)`` takes a trace ``Step`` (its output ``y``) or an
array ``(C, H, W)`` / ``(N, C, H, W)`` / vector; returns a ``matplotlib.figure.Figure``.
"""
import math

import numpy as np
from matplotlib.figure import Figure


def _maps(obj, sample):
    name = None
    a = obj
    if hasattr(obj, "y"):
        if obj.y is None:
            raise ValueError(f"feature_maps_figure: step {obj.name!r} was recorded without "
                             f"arrays (light mode)")
        name, a = f"{obj.name} ({obj.kind})", obj.y[sample]
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 4:
        a = a[sample]
    return name, a


def feature_maps_figure(obj, sample=0, max_maps=64, title=None, cmap="gray"):
    """Grid of the first ``max_maps`` maps; each panel titled ``#k  [min, max]``."""
    name, a = _maps(obj, sample)
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
        ax.imshow(m, cmap=cmap, vmin=lo, vmax=hi if hi > lo else lo + 1e-12,
                  interpolation="nearest")
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
        ax.imshow(np.moveaxis((img - lo) / (hi - lo if hi > lo else 1), 0, -1),
                  interpolation="nearest")
    else:
        ax.imshow(img[0] if img.ndim == 3 else img, cmap="gray", interpolation="nearest")
