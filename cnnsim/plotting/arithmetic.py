"""The lecture's convolution and pooling arithmetic, as pictures.

The facts and texts drawn here come from :mod:`cnnsim.arithmetic`; this module only draws.

Convolution (Géron, ch. 14, fig. 14-4): a neuron at ``(i, j)`` of a layer with kernel
``f``, stride ``s`` and top/left padding ``p`` reads input rows
``i*s_h - p_top ... i*s_h - p_top + f_h - 1`` and columns
``j*s_w - p_left ... j*s_w - p_left + f_w - 1`` -- the lecture's
``i*s_h ... i*s_h + f_h - 1`` counted in the zero-padded input. Every number drawn here
comes from :func:`cnnsim.geometry.window` (one source of truth).

Pooling: each output is the max (or mean) of its window; a 2x2, stride 2 max pool
passes one input in four and drops the other 75%. The fraction is counted, not assumed:
distinct winning positions / inputs.

Public functions:

* ``conv_arithmetic_figure(...)`` / ``pool_figure(...)``: ``matplotlib.figure.Figure``.
* ``conv_arithmetic_animation(..., path)`` / ``pool_animation(..., path)``: animated GIF
  of the window sliding over every output neuron.

Figures use the object-oriented API on an Agg canvas: no display, no pyplot state.
"""

import math
import os

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import ConnectionPatch, Patch, Rectangle
from PIL import Image

from .._atomic import atomic_path
from ..arithmetic import (  # the facts and texts the pictures draw
    GENERAL_FORMULA,
    _conv_facts,
    _fmt_value,
    _hw,
    _list_or_none,
    _pool_facts,
    _pool_input,
    _stride_label,
    check_neuron,
    neuron_formula,
    padding_label,
)
from ..geometry import window as _window

# -- colours (colour-blind friendly blue/orange; grey for padding) ------------------------
C_INPUT = "#f5f7fc"
C_GRID = "#9aa3b5"
C_BORDER = "#2b3445"
C_PAD = "#dcdcdc"
C_PAD_HATCH = "#a7a7a7"
C_UNUSED = "#fbd3c4"
C_UNUSED_EDGE = "#d1495b"
C_WIN = "#2f6db5"
C_WIN_EDGE = "#17427a"
C_OUT = "#eef6ee"
C_WINNER = "#f5a742"
C_DROPPED = "#b9b9b9"
WINDOW_COLORS = [
    "#2f6db5",
    "#d1495b",
    "#3a9d5d",
    "#8e5bb5",
    "#e08a1e",
    "#16a3b0",
    "#b5651d",
    "#c44fa0",
]


def _pretty(s):
    """ASCII formula -> typeset-looking text for figures."""
    return s.replace("...", "\u2026").replace(" - ", " \u2212 ").replace("*", "\u00b7")


# -- drawing helpers ----------------------------------------------------------------------------
def _new_figure(width_in, height_in, dpi):
    fig = Figure(figsize=(width_in, height_in), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


class _Layout:
    """Places the padded-input grid and the output grid with equal cell sizes, in inches."""

    def __init__(self, padded_hw, out_hw, title_lines, footer_lines, cell=None):
        ph, pw = padded_hw
        oh, ow = out_hw
        self.cell = cell or max(0.02, min(0.5, 11.0 / (pw + ow), 7.5 / max(ph, 1)))
        c = self.cell
        self.gap = 1.4
        self.left, self.right = 0.75, 0.45
        self.top = 0.35 + 0.3 * title_lines + 0.35  # title block + column tick labels
        self.bottom = 0.45 + 0.26 * footer_lines + 0.55  # grid caption, footer, legend
        grid_w = pw * c + self.gap + ow * c
        self.width = max(9.0, self.left + grid_w + self.right)
        extra = self.width - (self.left + grid_w + self.right)
        self.left += extra / 2
        self.height = self.top + ph * c + self.bottom
        self.in_rect = (self.left, self.bottom, pw * c, ph * c)
        self.out_rect = (
            self.left + pw * c + self.gap,
            self.bottom + (ph - oh) / 2 * c,
            ow * c,
            oh * c,
        )

    def axes(self, fig, rect):
        x, y, w, h = rect
        return fig.add_axes((x / self.width, y / self.height, w / self.width, h / self.height))

    def y(self, inches_from_top):
        return 1 - inches_from_top / self.height


def _ticks(ax, lo_r, hi_r, lo_c, hi_c, h, w, fontsize):
    """Row ticks left, column ticks on top, labelled in input coordinates (padding in grey)."""
    for axis, lo, hi, n in ((ax.yaxis, lo_r, hi_r, h), (ax.xaxis, lo_c, hi_c, w)):
        step = max(1, math.ceil((hi - lo) / 25))
        vals = [v for v in range(lo, hi) if (v - lo) % step == 0 or v in (0, n - 1)]
        if step > 1:
            vals = sorted({v for v in range(lo, hi) if v % step == 0} | {0, n - 1})
        axis.set_ticks([v + 0.5 for v in vals])
        axis.set_ticklabels([str(v) for v in vals], fontsize=fontsize)
        for lab, v in zip(axis.get_ticklabels(), vals):
            if not 0 <= v < n:
                lab.set_color("#8a8a8a")
    ax.xaxis.tick_top()
    ax.tick_params(length=0, pad=2)
    for s in ax.spines.values():
        s.set_visible(False)


def _grid(ax, x0, x1, y0, y1, color=C_GRID, lw=0.7, zorder=2):
    ax.hlines(np.arange(y0, y1 + 1), x0, x1, colors=color, linewidths=lw, zorder=zorder)
    ax.vlines(np.arange(x0, x1 + 1), y0, y1, colors=color, linewidths=lw, zorder=zorder)


def _draw_padded_input(ax, win, fontsize, pad_zeros=True, grid=True):
    """Input cells, hatched padding strips, unused rows/cols, grid, border; returns legend handles."""
    (h, w), (pt, pb, pl, pr) = win.in_hw, win.pads
    ax.set_xlim(-pl, w + pr)
    ax.set_ylim(h + pb, -pt)
    ax.set_aspect("equal")
    ax.add_patch(Rectangle((0, 0), w, h, facecolor=C_INPUT, linewidth=0, zorder=0))
    handles = []
    strips = [
        (-pl, -pt, w + pl + pr, pt),
        (-pl, h, w + pl + pr, pb),
        (-pl, 0, pl, h),
        (w, 0, pr, h),
    ]
    padded = {"facecolor": C_PAD, "edgecolor": C_PAD_HATCH, "hatch": "///"}
    for x0, y0, sw, sh in strips:
        if sw > 0 and sh > 0:
            ax.add_patch(Rectangle((x0, y0), sw, sh, linewidth=0, zorder=0, **padded))
    if any(win.pads):
        handles.append(Patch(**padded, label="zero padding (reads as 0)"))
        if pad_zeros and fontsize >= 6:
            for r in range(-pt, h + pb):
                for c in range(-pl, w + pr):
                    if not (0 <= r < h and 0 <= c < w):
                        ax.text(
                            c + 0.5,
                            r + 0.5,
                            "0",
                            ha="center",
                            va="center",
                            fontsize=fontsize * 0.85,
                            color="#7a7a7a",
                            zorder=1,
                        )
    unused_r, unused_c = win.unused()
    unused = {"facecolor": C_UNUSED, "edgecolor": C_UNUSED_EDGE, "hatch": "xx"}
    rects = [((0, r), w, 1) for r in unused_r] + [((c, 0), 1, h) for c in unused_c]
    for xy, rw, rh in rects:  # rows, then columns the stride never reaches
        ax.add_patch(Rectangle(xy, rw, rh, linewidth=0, alpha=0.8, zorder=0.5, **unused))
    if unused_r or unused_c:
        handles.append(Patch(**unused, label="unused: the stride never reaches it"))
    if grid:  # cells smaller than ~2 mm would turn into a grey blur
        _grid(ax, -pl, w + pr, -pt, h + pb)
    ax.add_patch(Rectangle((0, 0), w, h, fill=False, edgecolor=C_BORDER, linewidth=1.6, zorder=3))
    _ticks(ax, -pt, h + pb, -pl, w + pr, h, w, fontsize)
    return handles


def _draw_output_grid(ax, out_hw, fontsize, grid=True):
    oh, ow = out_hw
    ax.set_xlim(0, ow)
    ax.set_ylim(oh, 0)
    ax.set_aspect("equal")
    ax.add_patch(Rectangle((0, 0), ow, oh, facecolor=C_OUT, linewidth=0, zorder=0))
    if grid:
        _grid(ax, 0, ow, 0, oh)
    ax.add_patch(Rectangle((0, 0), ow, oh, fill=False, edgecolor=C_BORDER, linewidth=1.6, zorder=3))
    _ticks(ax, 0, oh, 0, ow, oh, ow, fontsize)


def _headline(fig, L, title, line, line_y, **line_style):
    """The figure's bold title and, under it at ``L.y(line_y)``, one line of explanation
    (both centred; ``line_style``: its fontsize and color)."""
    fig.text(
        0.5, L.y(0.22), title, ha="center", va="top", fontsize=13, fontweight="bold", color=C_BORDER
    )
    fig.text(0.5, L.y(line_y), line, ha="center", va="top", **line_style)


def _caption(ax, text):
    ax.annotate(
        text,
        xy=(0.5, 0),
        xycoords="axes fraction",
        xytext=(0, -5),
        textcoords="offset points",
        ha="center",
        va="top",
        fontsize=10,
        color=C_BORDER,
    )


def _fit(fs, text):
    """Shrink the font of long cell labels so they stay inside their cell."""
    return fs * min(1.0, 3.0 / max(len(text), 1))


def _font(cell):
    """Font size (points) that fits a cell of ``cell`` inches."""
    return max(4.0, min(11.0, cell * 72 * 0.42))


def _gif_frames(fig, hidden, n, frame):
    """Render ``n`` GIF frames fast: the static picture is drawn once and cached; each frame
    restores it and draws only the artists ``frame(k)`` returns (the moving window, the
    texts that change). ``hidden`` are the dynamic artists to leave out of the cache.
    (matplotlib.animation would redraw every text of the figure on every frame.)
    """
    canvas = fig.canvas
    for a in hidden:
        a.set_visible(False)
    canvas.draw()
    background = canvas.copy_from_bbox(fig.bbox)
    size = canvas.get_width_height()
    frames = []
    for k in range(n):
        canvas.restore_region(background)
        for a in sorted(frame(k), key=lambda a: a.get_zorder()):
            a.set_visible(True)
            fig.draw_artist(a)
        rgba = Image.frombuffer("RGBA", size, bytes(canvas.buffer_rgba()), "raw", "RGBA", 0, 1)
        rgb = rgba.convert("RGB")
        if not frames:  # one palette for all frames (the first frame holds every colour used)
            frames.append(rgb.quantize(colors=128, method=Image.Quantize.FASTOCTREE))
        else:
            frames.append(rgb.quantize(palette=frames[0], dither=Image.Dither.NONE))
    return frames


def _save_atomic(fig_or_anim, path, **kw):
    """Write to a temporary file beside ``path`` then rename: nothing half-written on failure."""
    ext = os.path.splitext(os.fspath(path))[1].lower() or ".png"
    with atomic_path(path) as tmp:
        if isinstance(fig_or_anim, Figure):
            fig_or_anim.savefig(tmp, format=ext[1:], **kw)
        else:  # a list of PIL frames -> animated GIF
            frames = fig_or_anim
            frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:], loop=0, **kw)
    return path


# -- convolution figure ---------------------------------------------------------------------------
class _ConvPicture:
    """The static part of the convolution figure plus the per-neuron overlay (for the GIF)."""

    def __init__(self, win, padding, dpi=100, cell=None):
        self.win, self.padding = win, padding
        self.layout = L = _Layout(
            win.padded_hw, win.out_hw, title_lines=3, footer_lines=1, cell=cell
        )
        self.fig = fig = _new_figure(L.width, L.height, dpi)
        self.fs = fs = _font(L.cell)
        self.ax_in = L.axes(fig, L.in_rect)
        self.ax_out = L.axes(fig, L.out_rect)
        fine = L.cell >= 0.08
        handles = _draw_padded_input(self.ax_in, win, fs, grid=fine)
        _draw_output_grid(self.ax_out, win.out_hw, fs, grid=fine)
        (h, w), (oh, ow) = win.in_hw, win.out_hw
        self.out_labels = {}
        if ow <= 12 and L.cell >= 0.3:
            for i in range(oh):
                for j in range(ow):
                    self.out_labels[(i, j)] = self.ax_out.text(
                        j + 0.5,
                        i + 0.5,
                        f"{i},{j}",
                        ha="center",
                        va="center",
                        fontsize=fs * 0.8,
                        color="#5c6b5c",
                        zorder=1,
                    )
        # one dot per output neuron at the centre of its window: the stride made visible
        cy = [win.rows(i)[0] + win.kernel[0] / 2 for i in range(oh)]
        cx = [win.cols(j)[0] + win.kernel[1] / 2 for j in range(ow)]
        if L.cell >= 0.1:
            gx, gy = np.meshgrid(cx, cy)
            self.ax_in.scatter(
                gx.ravel(),
                gy.ravel(),
                s=max(4, (L.cell * 72 * 0.16) ** 2),
                color="#59606e",
                zorder=4,
                linewidths=0,
            )
            handles.append(
                self.ax_in.scatter(
                    [], [], s=20, color="#59606e", label="window centres (one per output neuron)"
                )
            )
        handles.append(
            Patch(facecolor=C_WIN, alpha=0.45, edgecolor=C_WIN_EDGE, label="window → neuron")
        )
        ph, pw = win.padded_hw
        cap = f"input {h}x{w}" + (f", zero-padded to {ph}x{pw}" if any(win.pads) else "")
        _caption(self.ax_in, cap)
        _caption(self.ax_out, f"output {oh}x{ow}")
        title = (
            f"{_hw(win.in_hw)} input, {_hw(win.kernel)} kernel, {_stride_label(win.stride)}, "
            f"{padding_label(padding, win.pads)} \u2192 {_hw(win.out_hw)} output"
        )
        line = _pretty("neuron (i, j) reads " + GENERAL_FORMULA)
        _headline(fig, L, title, line, 0.55, fontsize=9.5, color="#4a5263")
        self.t_neuron = fig.text(
            0.5, L.y(0.84), "", ha="center", va="top", fontsize=10.5, color=C_WIN_EDGE
        )
        self.t_footer = fig.text(
            0.5,
            (L.bottom - 0.42) / L.height,
            "",
            ha="center",
            va="top",
            fontsize=9,
            color="#4a5263",
        )
        ncol = min(len(handles), 4)
        fig.legend(
            handles=handles,
            loc="lower center",
            ncol=ncol,
            fontsize=8.5,
            frameon=False,
            bbox_to_anchor=(0.5, 0.04 / L.height * 0 + 0.005),
            handlelength=1.6,
        )
        self._overlay = []

    def show(self, i, j, frame_note=""):
        for a in self._overlay:
            a.remove()
        win, ax_in, ax_out = self.win, self.ax_in, self.ax_out
        rows, cols = win.rows(i), win.cols(j)
        fh, fw = win.kernel
        o = [
            ax_in.add_patch(
                Rectangle(
                    (cols[0], rows[0]), fw, fh, facecolor=C_WIN, alpha=0.35, linewidth=0, zorder=2.5
                )
            ),
            ax_in.add_patch(
                Rectangle(
                    (cols[0], rows[0]),
                    fw,
                    fh,
                    fill=False,
                    edgecolor=C_WIN_EDGE,
                    linewidth=2.6,
                    zorder=5,
                )
            ),
            ax_in.scatter(
                [cols[0] + fw / 2],
                [rows[0] + fh / 2],
                s=max(10, (self.layout.cell * 72 * 0.3) ** 2),
                color=C_WIN_EDGE,
                zorder=6,
                linewidths=0,
            ),
            ax_out.add_patch(
                Rectangle(
                    (j, i),
                    1,
                    1,
                    facecolor=C_WIN,
                    alpha=0.75,
                    edgecolor=C_WIN_EDGE,
                    linewidth=2.6,
                    zorder=5,
                )
            ),
        ]
        for (xa, ya), (xb, yb) in (
            ((cols[-1] + 1, rows[0]), (j, i)),
            ((cols[-1] + 1, rows[-1] + 1), (j, i + 1)),
        ):
            con = ConnectionPatch(
                (xa, ya),
                (xb, yb),
                coordsA="data",
                coordsB="data",
                axesA=ax_in,
                axesB=ax_out,
                color=C_WIN,
                alpha=0.55,
                linewidth=1.2,
                linestyle="--",
                zorder=6,
            )
            o.append(self.fig.add_artist(con))
        self._overlay = o
        for (a, b), t in self.out_labels.items():
            hit = (a, b) == (i, j)
            t.set_color("white" if hit else "#5c6b5c")
            t.set_fontweight("bold" if hit else "normal")
            t.set_zorder(7 if hit else 1)
            if hit:
                o = o + [t]
        fr, fc = neuron_formula(win, i, j)
        self.t_neuron.set_text(_pretty(f"neuron ({i}, {j}): rows {fr},   cols {fc}") + frame_note)
        f = _conv_facts(win, self.padding, i, j)["neuron"]
        ur, uc = win.unused()
        foot = (
            "in the zero-padded input (the lecture's i\u00b7s_h \u2026 i\u00b7s_h + f_h \u2212 1): "
            if any(win.pads)
            else "no padding: the lecture's i\u00b7s_h \u2026 i\u00b7s_h + f_h \u2212 1 "
            "gives the same "
        )
        foot += (
            f"rows {f['padded_rows'][0]} \u2026 {f['padded_rows'][-1]}, "
            f"cols {f['padded_cols'][0]} \u2026 {f['padded_cols'][-1]}"
        )
        if f["reads_padding"]:
            foot += "  \u2022  this window reads zero padding"
        foot += f"\nunused input rows: {_list_or_none(ur)}  \u2022  unused input cols: {_list_or_none(uc)}"
        self.t_footer.set_text(foot)
        return o + [self.t_neuron, self.t_footer]


def conv_arithmetic_figure(input_hw, kernel, stride=1, padding="valid", neuron=(0, 0), dpi=100):
    """The lecture's convolution arithmetic picture for any geometry (Géron fig. 14-4).

    Draws the ``(H, W)`` input with its zero padding (hatched grey, labelled), the
    ``(H_out, W_out)`` output beside it, the window of output ``neuron = (i, j)`` on the
    input and the neuron on the output, joined by dashed lines. The title states the
    sizes and the formula ``rows i*s_h - p_top ... i*s_h - p_top + f_h - 1`` with this
    neuron's numbers; rows/columns the stride never reaches are hatched red.
    Ticks are input coordinates (negative / >= H means padding).
    ``kernel``/``stride`` are ints or (h, w) pairs; ``padding`` any form
    :func:`cnnsim.geometry.window` accepts. Returns a ``matplotlib.figure.Figure``.
    """
    where = "conv_arithmetic_figure"
    win = _window(input_hw, kernel, stride, padding, where=where)
    i, j = check_neuron(win, neuron, where)
    pic = _ConvPicture(win, padding, dpi=dpi)
    pic.show(i, j)
    return pic.fig


def _frame_order(out_hw, max_frames):
    n = out_hw[0] * out_hw[1]
    step = max(1, math.ceil(n / max_frames))
    return [(k // out_hw[1], k % out_hw[1]) for k in range(0, n, step)], step


def conv_arithmetic_animation(
    input_hw, kernel, stride=1, padding="valid", path="conv.gif", fps=2, dpi=72, max_frames=300
):
    """Animated GIF of the window sliding over every output neuron, row by row.

    One frame per output neuron (every k-th neuron when there are more than
    ``max_frames``; the title says so). Frames are blitted over a cached static picture
    and written with Pillow (``fps`` frames per second, looping); returns ``path``.
    """
    where = "conv_arithmetic_animation"
    win = _window(input_hw, kernel, stride, padding, where=where)
    pic = _ConvPicture(win, padding, dpi=dpi)
    order, step = _frame_order(win.out_hw, max_frames)
    n = len(order)

    def frame(k):
        i, j = order[k]
        note = f"   [frame {k + 1}/{n}" + (f", every {step}th neuron]" if step > 1 else "]")
        return pic.show(i, j, note)

    frames = _gif_frames(pic.fig, [pic.t_neuron, pic.t_footer], n, frame)
    return _save_atomic(frames, path, duration=int(round(1000 / fps)))


# -- pooling figure -------------------------------------------------------------------------------
class _PoolPicture:
    def __init__(self, x, win, padding, kind, dpi=100, cell=None):
        self.x, self.win, self.padding, self.kind = x, win, padding, kind
        self.facts = f = _pool_facts(x, win, padding, kind)
        self.y = np.array(f["y"])
        self.layout = L = _Layout(
            win.padded_hw, win.out_hw, title_lines=2, footer_lines=1, cell=cell or None
        )
        self.fig = fig = _new_figure(L.width, L.height, dpi)
        self.fs = fs = _font(L.cell)
        self.ax_in = L.axes(fig, L.in_rect)
        self.ax_out = L.axes(fig, L.out_rect)
        fine = L.cell >= 0.08
        handles = _draw_padded_input(self.ax_in, win, fs, pad_zeros=False, grid=fine)
        if any(win.pads):  # pooling pads are not zeros: relabel
            handles[0] = Patch(
                facecolor=C_PAD,
                edgecolor=C_PAD_HATCH,
                hatch="///",
                label="padding (max: never wins)"
                if kind == "max"
                else "padding (not counted in the mean)",
            )
        _draw_output_grid(self.ax_out, win.out_hw, fs, grid=fine)
        (h, w), (oh, ow) = x.shape, win.out_hw
        winners = {tuple(p) for p in (f["winners"] or []) if p is not None}
        self.cell_text = {}
        show_values = L.cell >= 0.22
        for r in range(h):
            for c in range(w):
                if kind == "max" and (r, c) not in winners:
                    self.ax_in.add_patch(
                        Rectangle((c, r), 1, 1, facecolor="#e9e9e9", linewidth=0, zorder=0.2)
                    )
                if show_values:
                    win_cell = kind == "max" and (r, c) in winners
                    lab = _fmt_value(x[r, c], x)
                    self.cell_text[(r, c)] = self.ax_in.text(
                        c + 0.5,
                        r + 0.5,
                        lab,
                        ha="center",
                        va="center",
                        fontsize=_fit(fs, lab),
                        zorder=7,
                        fontweight="bold" if win_cell else "normal",
                        color=C_BORDER if (win_cell or kind == "avg") else "#9a9a9a",
                    )
        if kind == "max":
            for r, c in winners:
                self.ax_in.add_patch(
                    Rectangle((c, r), 1, 1, facecolor=C_WINNER, alpha=0.85, linewidth=0, zorder=0.6)
                )
            handles.append(Patch(facecolor=C_WINNER, label="winner: passes to the output"))
            handles.append(Patch(facecolor="#e9e9e9", edgecolor="#bdbdbd", label="dropped"))
        # each window outlined in its own colour; the output cell bordered in the same colour
        n_win = oh * ow
        overlap = win.kernel[0] > win.stride[0] or win.kernel[1] > win.stride[1]
        self.win_colors = {}
        for i in range(oh):
            for j in range(ow):
                col = WINDOW_COLORS[
                    (i * (ow if ow % len(WINDOW_COLORS) else ow + 1) + j) % len(WINDOW_COLORS)
                ]
                self.win_colors[(i, j)] = col
                rows, cols = win.rows(i), win.cols(j)
                inset = 0.07 + (0.07 * ((i + j) % 2) if overlap else 0)
                if n_win <= 400:
                    self.ax_in.add_patch(
                        Rectangle(
                            (cols[0] + inset, rows[0] + inset),
                            win.kernel[1] - 2 * inset,
                            win.kernel[0] - 2 * inset,
                            fill=False,
                            edgecolor=col,
                            linewidth=1.8,
                            zorder=5,
                        )
                    )
                    self.ax_out.add_patch(
                        Rectangle(
                            (j + 0.07, i + 0.07),
                            0.86,
                            0.86,
                            fill=False,
                            edgecolor=col,
                            linewidth=1.8,
                            zorder=5,
                        )
                    )
                if kind == "max":
                    self.ax_out.add_patch(
                        Rectangle(
                            (j, i), 1, 1, facecolor=C_WINNER, alpha=0.85, linewidth=0, zorder=0.6
                        )
                    )
        handles.append(
            Patch(
                facecolor="none",
                edgecolor=WINDOW_COLORS[0],
                linewidth=1.8,
                label="pooling window \u2192 its output (same colour)",
            )
        )
        self.out_text = {}
        if show_values:
            for i in range(oh):
                for j in range(ow):
                    v = self.y[i, j]
                    lab = _fmt_value(v, x)
                    self.out_text[(i, j)] = self.ax_out.text(
                        j + 0.5,
                        i + 0.5,
                        lab,
                        ha="center",
                        va="center",
                        fontsize=_fit(fs, lab),
                        zorder=7,
                        color=C_BORDER,
                        fontweight="bold" if kind == "max" else "normal",
                    )
        _caption(self.ax_in, f"input {h}x{w}")
        _caption(self.ax_out, f"output {oh}x{ow}")
        _headline(
            fig,
            L,
            f["title"].replace("->", "\u2192"),
            f["summary"],
            0.56,
            fontsize=10.5,
            color="#b06a00" if kind == "max" else C_WIN_EDGE,
        )
        foot = "ties: the first maximum in row-major order wins  \u2022  " if f["ties"] else ""
        foot += (
            f"unused input rows: {_list_or_none(f['unused']['rows'])}  \u2022  "
            f"unused input cols: {_list_or_none(f['unused']['cols'])}"
        )
        self.t_footer = fig.text(
            0.5,
            (L.bottom - 0.42) / L.height,
            foot,
            ha="center",
            va="top",
            fontsize=9,
            color="#4a5263",
        )
        fig.legend(
            handles=handles,
            loc="lower center",
            ncol=min(len(handles), 3),
            fontsize=8.5,
            frameon=False,
            bbox_to_anchor=(0.5, 0.005),
            handlelength=1.6,
        )
        self._overlay = []

    def show(self, k, order, frame_note=""):
        """GIF frame: window ``order[k]`` highlighted, outputs up to it filled in."""
        for a in self._overlay:
            a.remove()
        win = self.win
        i, j = order[k]
        done = set(order[: k + 1])
        for (a, b), t in self.out_text.items():
            t.set_visible((a, b) in done)
        rows, cols = win.rows(i), win.cols(j)
        o = [
            self.ax_in.add_patch(
                Rectangle(
                    (cols[0], rows[0]),
                    win.kernel[1],
                    win.kernel[0],
                    facecolor=C_WIN,
                    alpha=0.25,
                    edgecolor=C_WIN_EDGE,
                    linewidth=3,
                    zorder=6,
                )
            ),
            self.ax_out.add_patch(
                Rectangle(
                    (j, i),
                    1,
                    1,
                    facecolor=C_WIN,
                    alpha=0.35,
                    edgecolor=C_WIN_EDGE,
                    linewidth=3,
                    zorder=6,
                )
            ),
        ]
        v = self.y[i, j]
        if self.kind == "max":
            p = self.facts["winners"][i * win.out_hw[1] + j]
            what = (
                "only padding"
                if p is None
                else f"max = {_fmt_value(v, self.x)} at ({p[0]}, {p[1]})"
            )
            if p is not None:
                o.append(
                    self.ax_in.add_patch(
                        Rectangle(
                            (p[1], p[0]),
                            1,
                            1,
                            fill=False,
                            edgecolor="#b06a00",
                            linewidth=3,
                            zorder=6.5,
                        )
                    )
                )
        else:
            real = any(0 <= r < self.x.shape[0] for r in rows) and any(
                0 <= c < self.x.shape[1] for c in cols
            )
            what = f"mean = {_fmt_value(v, self.x)}" if real else "only padding: 0"
        self.t_footer.set_text(
            f"window ({i}, {j}): rows {rows[0]} \u2026 {rows[-1]}, "
            f"cols {cols[0]} \u2026 {cols[-1]}  \u2192  {what}{frame_note}"
        )
        self._overlay = o
        return o + [self.t_footer] + [self.out_text[p] for p in done if p in self.out_text]


def pool_figure(
    input_hw, size=2, stride=None, padding="valid", kind="max", x=None, seed=0, dpi=100
):
    """Pooling explained: input values, every window outlined, winners, output, pass fraction.

    ``x`` is a 2-D ``(H, W)`` array (or ``(1, 1, H, W)``); by default seeded distinct
    integers (tie-free). ``kind`` "max" highlights each window's winner and greys the dropped
    inputs; "avg" writes each window's mean. The caption counts the inputs that reach the
    output (max: distinct winners / inputs; 25% for 2x2 stride 2). ``stride`` defaults to
    ``size``. Returns a ``matplotlib.figure.Figure``.
    """
    where = "pool_figure"
    if kind not in ("max", "avg"):
        raise ValueError(f"{where}: kind must be 'max' or 'avg', got {kind!r}")
    x = _pool_input(input_hw, x, seed, where)
    win = _window(x.shape, size, stride, padding, where=where)
    return _PoolPicture(x, win, padding, kind, dpi=dpi).fig


def pool_animation(
    input_hw,
    size=2,
    stride=None,
    padding="valid",
    kind="max",
    x=None,
    seed=0,
    path="pool.gif",
    fps=1.5,
    dpi=72,
    max_frames=300,
):
    """Animated GIF of the pooling window sliding over the input, filling the output in."""
    where = "pool_animation"
    if kind not in ("max", "avg"):
        raise ValueError(f"{where}: kind must be 'max' or 'avg', got {kind!r}")
    x = _pool_input(input_hw, x, seed, where)
    win = _window(x.shape, size, stride, padding, where=where)
    pic = _PoolPicture(x, win, padding, kind, dpi=dpi)
    order, step = _frame_order(win.out_hw, max_frames)
    n = len(order)

    def frame(k):
        note = f"   [frame {k + 1}/{n}" + (f", every {step}th window]" if step > 1 else "]")
        return pic.show(k, order, note)

    frames = _gif_frames(pic.fig, [pic.t_footer, *pic.out_text.values()], n, frame)
    return _save_atomic(frames, path, duration=int(round(1000 / fps)))


__all__ = [
    "conv_arithmetic_figure",
    "conv_arithmetic_animation",
    "pool_figure",
    "pool_animation",
    "save_figure",
]


def save_figure(fig, path, dpi=None):
    """Save ``fig`` atomically (temporary file, then rename); returns ``path``."""
    return _save_atomic(fig, path, dpi=dpi or fig.dpi, bbox_inches=None)
