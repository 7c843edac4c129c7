"""``cnnsim explain conv --coverage`` and ``--flip``: the tiling of receptive fields, and
cross-correlation vs the mathematical convolution.

* Coverage (Hubel & Wiesel's local receptive fields that overlap and tile the visual
  field): how many output neurons read each input pixel, from
  :func:`cnnsim.geometry.coverage`. Stride < kernel: the windows overlap (counts > 1);
  stride > kernel: gaps (pixels no neuron reads, count 0).
* Flip: a CNN layer computes a *cross-correlation*, ``y[i, j] = sum_{m,n} x[i*s + m,
  j*s + n] w[m, n]``; the mathematical convolution flips the kernel,
  ``(x * w)[i, j] = sum_{m,n} x[i*s + m, j*s + n] w[f-1-m, f-1-n]``. Both are shown on a
  small seeded integer input.
"""

import textwrap

import numpy as np
from matplotlib.figure import Figure

from ..geometry import coverage, window

FLIP_WHY = (
    "Why it does not matter for learning: the kernel is learned, and a flipped kernel "
    "is just another kernel, so a network trained with either operation learns the "
    "flipped weights of the other and computes the same function (only weights moved "
    "between conventions must be flipped)."
)


def coverage_facts(input_hw, kernel, stride=1, padding="valid", where="explain conv"):
    """``{"input", "kernel", "stride", "output", "counts", "min", "max", "overlap", "gaps"}``:
    ``counts`` is H x W (neurons reading each pixel); ``gaps`` the number of pixels no neuron
    reads; ``overlap`` the number read by more than one."""
    win = window(input_hw, kernel, stride, padding, where=where)
    counts = coverage(win)
    flat = [c for row in counts for c in row]
    return {
        "input": list(win.in_hw),
        "kernel": list(win.kernel),
        "stride": list(win.stride),
        "pads": list(win.pads),
        "output": list(win.out_hw),
        "counts": counts,
        "min": min(flat),
        "max": max(flat),
        "overlap": sum(c > 1 for c in flat),
        "gaps": sum(c == 0 for c in flat),
    }


def coverage_explanation(facts):
    """The counts as a grid, and what they mean."""
    (h, w), (fh, fw), (sh, sw) = facts["input"], facts["kernel"], facts["stride"]
    oh, ow = facts["output"]
    lines = [
        f"Coverage: how many of the {oh}x{ow} output neurons read each pixel of the {h}x{w} input",
        f"({fh}x{fw} kernel, stride {sh}x{sw}, padding "
        f"{'/'.join(map(str, facts['pads']))} top/bottom/left/right)",
        "",
    ]
    width = max(len(str(facts["max"])), 1)
    for row in facts["counts"]:
        lines.append("  " + " ".join(str(c).rjust(width) for c in row))
    lines.append("")
    n = h * w
    if facts["overlap"]:
        lines.append(
            f"overlap: {facts['overlap']} of {n} pixels are read by more than one neuron "
            f"(up to {facts['max']}):"
        )
        lines.append("  the receptive fields overlap (stride < kernel)")
    if facts["gaps"]:
        lines.append(f"gaps: {facts['gaps']} of {n} pixels are read by no neuron")
        lines.append("  (stride > kernel, or rows/columns the stride never reaches)")
    if not facts["overlap"] and not facts["gaps"]:
        lines.append("every pixel is read by exactly one neuron:")
        lines.append("  the fields tile the input without overlap or gaps (stride = kernel)")
    return "\n".join(lines)


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


def _seeded_input(h, w, seed):
    return np.random.default_rng(seed).integers(0, 10, size=(h, w)).astype(np.int64)


def flip_facts(input_hw, kernel, stride=1, padding="valid", seed=0, where="explain conv"):
    """Cross-correlation (what a CNN layer computes) vs convolution (kernel flipped) on a
    seeded integer input and the kernel 1, 2, ..., f_h*f_w: ``{"input", "kernel",
    "flipped", "cross_correlation", "convolution", "equal"}``.

    Both are computed here from their definitions over the zero-padded input (plain loops):
    ``cross[i, j] = sum x_pad[i*s_h + m, j*s_w + n] w[m, n]``,
    ``conv[i, j] = sum x_pad[i*s_h + m, j*s_w + n] w[f_h-1-m, f_w-1-n]``.
    """
    win = window(input_hw, kernel, stride, padding, where=where)
    (h, w), (fh, fw), (sh, sw), (t, b, l, r) = win.in_hw, win.kernel, win.stride, win.pads
    x = _seeded_input(h, w, seed)
    k = np.arange(1, fh * fw + 1, dtype=np.int64).reshape(fh, fw)
    xp = np.zeros((h + t + b, w + l + r), dtype=np.int64)
    xp[t : t + h, l : l + w] = x
    oh, ow = win.out_hw
    cross = [[0] * ow for _ in range(oh)]
    conv = [[0] * ow for _ in range(oh)]
    for i in range(oh):
        for j in range(ow):
            for m in range(fh):
                for n in range(fw):
                    v = int(xp[i * sh + m, j * sw + n])
                    cross[i][j] += v * int(k[m, n])
                    conv[i][j] += v * int(k[fh - 1 - m, fw - 1 - n])
    return {
        "input": x.tolist(),
        "kernel": k.tolist(),
        "flipped": k[::-1, ::-1].tolist(),
        "cross_correlation": cross,
        "convolution": conv,
        "equal": cross == conv,
        "seed": seed,
    }


def _grid(rows, indent="    "):
    width = max(len(str(v)) for r in rows for v in r)
    return [indent + " ".join(str(v).rjust(width) for v in r) for r in rows]


def flip_explanation(facts):
    lines = (
        ["Cross-correlation vs convolution (seeded integer input, kernel 1..f*f)", "", "  input"]
        + _grid(facts["input"])
        + ["", "  kernel w"]
        + _grid(facts["kernel"])
        + ["", "  w flipped (rows and columns reversed)"]
        + _grid(facts["flipped"])
        + [
            "",
            "  cross-correlation, y[i,j] = sum x[i*s+m, j*s+n] w[m,n]",
            "  (what CNN layers compute: cnnsim, PyTorch, TensorFlow)",
        ]
        + _grid(facts["cross_correlation"])
        + [
            "",
            "  convolution, y[i,j] = sum x[i*s+m, j*s+n] w[f-1-m, f-1-n]",
            "  (the maths definition: kernel flipped)",
        ]
        + _grid(facts["convolution"])
        + [""]
    )
    lines.append(
        "  the two differ"
        if not facts["equal"]
        else "  the two agree here (the kernel is symmetric under the flip)"
    )
    lines.append("")
    lines += textwrap.wrap(FLIP_WHY, 92)
    return "\n".join(lines)
