"""``cnnsim explain conv --coverage``: the coverage counts drawn as a heat map.

The counts and the texts (and ``--flip``'s cross-correlation vs convolution) are facts of
the lecture's arithmetic: :mod:`cnnsim.arithmetic` (``coverage_facts``,
``coverage_explanation``, ``flip_facts``, ``flip_explanation``); this module only draws.
"""

import numpy as np
from matplotlib.figure import Figure


def coverage_figure(facts, dpi=100):
    """Heat map of ``facts["counts"]`` (one cell per input pixel, its count written in it)."""
    counts = np.array(facts["counts"])
    h, w = counts.shape
    cell = max(0.12, min(0.6, 7.0 / max(h, w)))
    fig = Figure(figsize=(max(4.0, w * cell + 2.2), max(3.0, h * cell + 1.4)), dpi=dpi)
    ax = fig.subplots()
    im = ax.imshow(counts, cmap="viridis", vmin=0, vmax=max(1, counts.max()))
    if max(h, w) <= 32:
        for r in range(h):
            for c in range(w):
                v = counts[r, c]
                ax.text(
                    c,
                    r,
                    str(v),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if v < 0.6 * max(1, counts.max()) else "black",
                )
    fh, fw = facts["kernel"]
    sh, sw = facts["stride"]
    ax.set_title(
        f"{h}x{w} input, {fh}x{fw} kernel, stride {sh}x{sw}: output neurons reading "
        f"each pixel\n(overlap: {facts['overlap']} pixels, gaps: {facts['gaps']})",
        fontsize=9,
    )
    ax.set_xlabel("input column")
    ax.set_ylabel("input row")
    top = max(1, int(counts.max()))
    fig.colorbar(
        im, ax=ax, label="neurons reading the pixel", ticks=range(0, top + 1, max(1, top // 8))
    )
    fig.tight_layout()
    return fig
