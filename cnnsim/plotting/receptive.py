"""A neuron's receptive field on the input image: the theoretical box and the effective
heat map (``cnnsim.engine.receptive_field``)."""

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .maps import _show_image


def _box(ax, box, **kw):
    t, b, l, r = box
    ax.add_patch(Rectangle((l - 0.5, t - 0.5), r - l + 1, b - t + 1, fill=False, **kw))


def receptive_field_figure(image, rf, erf=None):
    """``image (C, H, W)``; ``rf`` a ReceptiveField; ``erf`` an EffectiveRF or None.

    Left: the image with the clipped box (solid) and the unclipped one (dashed, it may
    reach into the padding). Right: the effective receptive field |d neuron / d pixel|."""
    img = np.asarray(image, dtype=np.float64)
    h, w = img.shape[1:]
    n = 2 if erf is not None else 1
    fig = Figure(figsize=(4.2 * n, 4.4), dpi=100)
    ax = fig.add_subplot(1, n, 1)
    _show_image(ax, img)
    _box(ax, rf.unclipped, edgecolor="orange", linestyle="--", linewidth=1.2)
    _box(ax, rf.clipped, edgecolor="red", linewidth=1.8)
    u = rf.unclipped
    ax.set_xlim(min(-0.5, u[2] - 0.5), max(w - 0.5, u[3] + 0.5))
    ax.set_ylim(max(h - 0.5, u[1] + 0.5), min(-0.5, u[0] - 0.5))
    jump = "" if rf.jump is None else f", jump {rf.jump[0]}x{rf.jump[1]}"
    ax.set_title(
        f"{rf.layer} ({rf.row}, {rf.col}): rows {rf.top}..{rf.bottom}, cols "
        f"{rf.left}..{rf.right}\nsize {rf.size[0]}x{rf.size[1]}{jump} "
        f"(dashed: unclipped)",
        fontsize=8,
    )
    if erf is not None:
        ax2 = fig.add_subplot(1, 2, 2)
        im = ax2.imshow(erf.heat, cmap="magma", interpolation="nearest")
        _box(ax2, rf.clipped, edgecolor="cyan", linewidth=1.2)
        fig.colorbar(im, ax=ax2, fraction=0.046, pad=0.04)
        sup = erf.support()
        ax2.set_title(
            f"effective RF of map {erf.map}: |d y / d x|\nnonzero in "
            f"{'none' if sup is None else f'rows {sup[0]}..{sup[1]}, cols {sup[2]}..{sup[3]}'}",
            fontsize=8,
        )
    fig.tight_layout()
    return fig
