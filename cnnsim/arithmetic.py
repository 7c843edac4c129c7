"""The lecture's convolution and pooling arithmetic as facts and text (no drawing).

Convolution (Géron, ch. 14, fig. 14-4): a neuron at ``(i, j)`` of a layer with kernel
``f``, stride ``s`` and top/left padding ``p`` reads input rows
``i*s_h - p_top ... i*s_h - p_top + f_h - 1`` and columns
``j*s_w - p_left ... j*s_w - p_left + f_w - 1`` -- the lecture's
``i*s_h ... i*s_h + f_h - 1`` counted in the zero-padded input. Every number here comes
from :func:`cnnsim.geometry.window` (one source of truth).

Pooling: each output is the max (or mean) of its window; a 2x2, stride 2 max pool
passes one input in four and drops the other 75%. The fraction is counted, not assumed:
distinct winning positions / inputs (the library's own pooling functions pick them).

Public functions:

* ``conv_facts(...)`` / ``pool_facts(...)``: the geometry as a plain dict (JSON-ready).
* ``conv_explanation(...)`` / ``pool_explanation(...)``: the same facts as text (what
  ``cnnsim explain conv|pool`` prints).
* ``check_neuron``, ``neuron_formula``, ``padding_label``: the pieces the pictures
  (``cnnsim.plotting.arithmetic``) and the explorer share.
* ``coverage_facts`` / ``coverage_explanation`` (``explain conv --coverage``): how many
  output neurons read each input pixel (Hubel & Wiesel's local receptive fields that
  overlap and tile the visual field), from :func:`cnnsim.geometry.coverage`; stride <
  kernel: the windows overlap (counts > 1); stride > kernel: gaps (count 0).
* ``flip_facts`` / ``flip_explanation`` (``explain conv --flip``): a CNN layer computes a
  *cross-correlation*, ``y[i, j] = sum_{m,n} x[i*s + m, j*s + n] w[m, n]``; the
  mathematical convolution flips the kernel, ``w[f-1-m, f-1-n]``; both on a small seeded
  integer input.
"""

import textwrap

import numpy as np

from .geometry import coverage
from .geometry import window as _window

ELLIPSIS = "..."


# -- facts ---------------------------------------------------------------------------------
def _hw(pair):
    return f"{pair[0]}x{pair[1]}"


def _stride_label(stride):
    return f"stride {stride[0]}" if stride[0] == stride[1] else f"stride {_hw(stride)}"


def padding_label(padding, pads):
    """``"SAME padding (1,1,1,1)"``, ``"VALID padding (none)"`` or ``"padding (t,b,l,r)"``."""
    nums = "({},{},{},{})".format(*pads)
    if isinstance(padding, str):
        if padding.lower() == "valid":
            return "VALID padding (none)"
        return f"{padding.upper()} padding {nums}"
    return f"padding {nums}" if any(pads) else "no padding"


def _padding_json(padding):
    return (
        padding.lower()
        if isinstance(padding, str)
        else (list(padding) if isinstance(padding, (tuple, list)) else int(padding))
    )


def check_neuron(win, neuron, where):
    """``neuron`` as ``(i, j)`` ints inside the output; one-line ValueError otherwise."""
    try:
        i, j = neuron
    except (TypeError, ValueError):
        raise TypeError(f"{where}: neuron must be a pair (row, col), got {neuron!r}") from None
    for v in (i, j):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{where}: neuron must be a pair of integers, got {neuron!r}")
    oh, ow = win.out_hw
    if not (0 <= i < oh and 0 <= j < ow):
        raise ValueError(
            f"{where}: neuron ({i}, {j}) is out of range: the output is {oh}x{ow}, "
            f"so row must be in 0..{oh - 1} and col in 0..{ow - 1}"
        )
    return int(i), int(j)


def neuron_formula(win, i, j):
    """The lecture's formula with this neuron's numbers, as ASCII text.

    Returns ``(rows, cols)`` strings such as ``"1*2 - 1 ... 1*2 - 1 + 3 - 1 = 1 ... 3"``;
    the right-hand side comes from :meth:`Window.rows` / :meth:`Window.cols`.
    """
    (sh, sw), (fh, fw) = win.stride, win.kernel
    pt, pl = win.pads[0], win.pads[2]
    rows, cols = win.rows(i), win.cols(j)
    r = f"{i}*{sh} - {pt} {ELLIPSIS} {i}*{sh} - {pt} + {fh} - 1 = {rows[0]} {ELLIPSIS} {rows[-1]}"
    c = f"{j}*{sw} - {pl} {ELLIPSIS} {j}*{sw} - {pl} + {fw} - 1 = {cols[0]} {ELLIPSIS} {cols[-1]}"
    return r, c


GENERAL_FORMULA = (
    "rows i*s_h - p_top ... i*s_h - p_top + f_h - 1, "
    "cols j*s_w - p_left ... j*s_w - p_left + f_w - 1"
)


def _list_or_none(v):
    return ", ".join(str(t) for t in v) if v else "none"


def conv_facts(input_hw, kernel, stride=1, padding="valid", neuron=(0, 0), where="conv_facts"):
    """The convolution geometry for one output neuron, as a JSON-ready dict.

    Keys: ``input``, ``kernel``, ``stride`` ([h, w]), ``padding`` (as given), ``pads``
    ({top, bottom, left, right}), ``padded_input``, ``output``, ``unused`` ({rows, cols}:
    input rows/columns no neuron reads), ``title`` and ``neuron``: {row, col, rows, cols
    (input coordinates; outside 0..H-1 is zero padding), padded_rows, padded_cols (the
    lecture's coordinates in the padded input), padding_rows, padding_cols,
    reads_padding, formula {rows, cols, general}}.
    """
    win = _window(input_hw, kernel, stride, padding, where=where)
    i, j = check_neuron(win, neuron, where)
    return _conv_facts(win, padding, i, j)


def _conv_facts(win, padding, i, j):
    (h, w), (pt, pb, pl, pr) = win.in_hw, win.pads
    rows, cols = win.rows(i), win.cols(j)
    fr, fc = neuron_formula(win, i, j)
    unused_r, unused_c = win.unused()
    return {
        "input": list(win.in_hw),
        "kernel": list(win.kernel),
        "stride": list(win.stride),
        "padding": _padding_json(padding),
        "pads": {"top": pt, "bottom": pb, "left": pl, "right": pr},
        "padded_input": list(win.padded_hw),
        "output": list(win.out_hw),
        "unused": {"rows": unused_r, "cols": unused_c},
        "title": (
            f"{_hw(win.in_hw)} input, {_hw(win.kernel)} kernel, {_stride_label(win.stride)}, "
            f"{padding_label(padding, win.pads)} -> {_hw(win.out_hw)} output"
        ),
        "neuron": {
            "row": i,
            "col": j,
            "rows": rows,
            "cols": cols,
            "padded_rows": [r + pt for r in rows],
            "padded_cols": [c + pl for c in cols],
            "padding_rows": [r for r in rows if not 0 <= r < h],
            "padding_cols": [c for c in cols if not 0 <= c < w],
            "reads_padding": any(not 0 <= r < h for r in rows) or any(not 0 <= c < w for c in cols),
            "formula": {"rows": fr, "cols": fc, "general": GENERAL_FORMULA},
        },
    }


def conv_explanation(
    input_hw, kernel, stride=1, padding="valid", neuron=(0, 0), where="conv_explanation"
):
    """Plain-text walk-through of the geometry (what ``cnnsim explain conv`` prints)."""
    f = conv_facts(input_hw, kernel, stride, padding, neuron, where=where)
    (h, w), (fh, fw), (sh, sw) = f["input"], f["kernel"], f["stride"]
    p, (ph, pw), (oh, ow) = f["pads"], f["padded_input"], f["output"]
    n = f["neuron"]
    lines = [f"Convolution arithmetic: {f['title']}", ""]
    lines.append(
        f"  padding    top {p['top']}, bottom {p['bottom']}, left {p['left']}, "
        f"right {p['right']}  -> padded input {ph}x{pw}"
    )
    if isinstance(padding, str) and padding.lower() == "same":
        lines.append(
            "             (SAME, TensorFlow's rule: out = ceil(in / s); "
            "total = (out - 1)*s + f - in; the odd extra row/column goes bottom/right)"
        )
    lines.append(
        f"  output     H_out = floor(({h} + {p['top']} + {p['bottom']} - {fh}) / {sh}) + 1 = {oh}, "
        f"W_out = floor(({w} + {p['left']} + {p['right']} - {fw}) / {sw}) + 1 = {ow}"
    )
    lines.append("")
    lines.append(f"  neuron (i, j) reads {GENERAL_FORMULA}")
    lines.append(f"  neuron ({n['row']}, {n['col']}) reads")
    lines.append(f"    rows {n['formula']['rows']}")
    lines.append(f"    cols {n['formula']['cols']}")
    lines.append(
        f"    in the zero-padded {ph}x{pw} input (the lecture's i*s_h ... i*s_h + f_h - 1): "
        f"rows {n['padded_rows'][0]} ... {n['padded_rows'][-1]}, "
        f"cols {n['padded_cols'][0]} ... {n['padded_cols'][-1]}"
    )
    if n["reads_padding"]:
        lines.append(
            f"    zero padding read: rows {_list_or_none(n['padding_rows'])}; "
            f"cols {_list_or_none(n['padding_cols'])} (outside the {h}x{w} input, value 0)"
        )
    else:
        lines.append("    zero padding read: none (the window lies inside the input)")
    lines.append("")
    lines.append(
        f"  unused input rows (no neuron reads them): {_list_or_none(f['unused']['rows'])}"
    )
    lines.append(
        f"  unused input cols (no neuron reads them): {_list_or_none(f['unused']['cols'])}"
    )
    return "\n".join(lines)


# -- pooling facts -----------------------------------------------------------------------------
def _pool_input(input_hw, x, seed, where):
    """The 2-D input the pooling figure shows: ``x`` as given, or seeded distinct integers."""
    if x is not None:
        x = np.asarray(x)
        if x.ndim == 4 and x.shape[:2] == (1, 1):
            x = x[0, 0]
        if x.ndim != 2:
            raise ValueError(
                f"{where}: x must be a 2-D (H, W) array (or (1, 1, H, W)), got shape {x.shape}"
            )
        if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
            raise TypeError(f"{where}: x must hold real numbers, got dtype {x.dtype}")
        if input_hw is not None and tuple(int(v) for v in input_hw) != x.shape:
            raise ValueError(
                f"{where}: input_hw {tuple(input_hw)} does not match x of shape {x.shape}"
            )
        return x.astype(np.float64)
    if input_hw is None:
        raise ValueError(f"{where}: give input_hw or x")
    h, w = (int(v) for v in input_hw)
    if h < 1 or w < 1:
        raise ValueError(f"{where}: input size must be positive, got {h}x{w}")
    # distinct integers => no ties, and one or two digits fit in a cell
    rng = np.random.default_rng(seed)
    pool = max(100, h * w)
    return rng.choice(pool, size=h * w, replace=False).reshape(h, w).astype(np.float64)


def _pool_values(x, win, kind):
    """Output values and (for max) winners, from the library's own pooling kernels.

    ``cnnsim.functional.max_pool2d`` / ``avg_pool2d`` / ``max_pool2d_argmax`` on the
    ``(1, 1, H, W)`` input: max over the real cells of a window (padding never wins), ties
    to the first maximum in row-major order; avg over the real cells only (padding not
    counted). Returns ``y (H_out, W_out)``, ``winners`` (list of (r, c), or None for a
    window lying entirely in padding; row-major), ``ties`` (some window has a tied max).
    """
    from .functional import avg_pool2d, max_pool2d, max_pool2d_argmax

    (h, w), (oh, ow) = x.shape, win.out_hw
    x4 = np.ascontiguousarray(x, dtype=np.float64)[None, None]
    args = (win.kernel, win.stride, win.pads)
    if kind == "max":
        y = max_pool2d(x4, *args)[0, 0]
        idx = max_pool2d_argmax(x4, *args)[0, 0]
        winners = [None if k < 0 else divmod(int(k), w) for k in idx.ravel()]
    else:
        y = avg_pool2d(x4, *args)[0, 0]
        winners = [None] * (oh * ow)
    ties = False
    if kind == "max":  # reported in the caption: which of equal maxima wins is a convention
        for i in range(oh):
            rows = [r for r in win.rows(i) if 0 <= r < h]
            for j in range(ow):
                cols = [c for c in win.cols(j) if 0 <= c < w]
                if rows and cols:
                    ties = ties or int(np.sum(x[np.ix_(rows, cols)] == y[i, j])) > 1
    return np.asarray(y, dtype=np.float64), winners, ties


def pool_facts(
    input_hw, size=2, stride=None, padding="valid", kind="max", x=None, seed=0, where="pool_facts"
):
    """Pooling geometry and values as a JSON-ready dict.

    ``x`` is a 2-D ``(H, W)`` array (or ``(1, 1, H, W)``); when None, seeded distinct
    integers. Keys: ``kind``, ``input``, ``size``, ``stride``, ``padding``, ``pads``,
    ``output``, ``x``, ``y``, ``winners`` (max: [row, col] per output, row-major),
    ``passed`` (inputs that reach the output: distinct winners for max, inputs inside some
    window for avg), ``total``, ``fraction_passed``, ``dropped``, ``unused``, ``ties``,
    ``title``, ``summary``.
    """
    if kind not in ("max", "avg"):
        raise ValueError(f"{where}: kind must be 'max' or 'avg', got {kind!r}")
    x = _pool_input(input_hw, x, seed, where)
    win = _window(x.shape, size, stride, padding, where=where)
    return _pool_facts(x, win, padding, kind)


def _pool_facts(x, win, padding, kind):
    y, winners, ties = _pool_values(x, win, kind)
    (h, w), total = x.shape, x.size
    if kind == "max":
        passed = len({p for p in winners if p is not None})
    else:
        ur, uc = win.unused()
        passed = (h - len(ur)) * (w - len(uc))
    frac = passed / total
    name = "max" if kind == "max" else "average"
    title = (
        f"{name} pooling {_hw(win.kernel)}, {_stride_label(win.stride)}, "
        f"{padding_label(padding, win.pads)}: {_hw(win.in_hw)} input -> {_hw(win.out_hw)} output"
    )
    if kind == "max":
        summary = (
            f"{passed} of {total} inputs ({frac:.0%}) pass to the output, "
            f"{total - passed} ({1 - frac:.0%}) are dropped"
        )
    else:
        summary = (
            f"each output is the mean of its window: {passed} of {total} inputs ({frac:.0%}) "
            f"contribute, {total - passed} ({1 - frac:.0%}) are dropped"
        )
    return {
        "kind": kind,
        "input": list(win.in_hw),
        "size": list(win.kernel),
        "stride": list(win.stride),
        "padding": _padding_json(padding),
        "pads": dict(zip(("top", "bottom", "left", "right"), win.pads)),
        "output": list(win.out_hw),
        "x": x.tolist(),
        "y": y.tolist(),
        "winners": [list(p) if p is not None else None for p in winners] if kind == "max" else None,
        "passed": passed,
        "total": total,
        "fraction_passed": frac,
        "dropped": total - passed,
        "unused": dict(zip(("rows", "cols"), win.unused())),
        "ties": ties,
        "title": title,
        "summary": summary,
    }


def pool_explanation(
    input_hw,
    size=2,
    stride=None,
    padding="valid",
    kind="max",
    x=None,
    seed=0,
    where="pool_explanation",
):
    """Plain-text walk-through (what ``cnnsim explain pool`` prints)."""
    f = pool_facts(input_hw, size, stride, padding, kind, x, seed, where=where)
    win = _window(f["input"], f["size"], f["stride"], padding, where=where)
    x, y = np.array(f["x"]), f["y"]
    lines = [f"Pooling: {f['title']}", "", "  input:"]
    lines += ["    " + " ".join(_fmt_cells(row, x)) for row in x]
    lines += ["", "  windows (input rows x cols -> output):"]
    for i in range(win.out_hw[0]):
        for j in range(win.out_hw[1]):
            r, c = win.rows(i), win.cols(j)
            val = _fmt_value(y[i][j], x)
            what = (
                f"max {val}"
                + (
                    f" at ({f['winners'][i * win.out_hw[1] + j][0]}, "
                    f"{f['winners'][i * win.out_hw[1] + j][1]})"
                    if f["winners"][i * win.out_hw[1] + j]
                    else " (window lies entirely in padding)"
                )
                if kind == "max"
                else f"mean {val}"
            )
            lines.append(
                f"    ({i}, {j}): rows {r[0]} ... {r[-1]}, cols {c[0]} ... {c[-1]} -> {what}"
            )
    lines += ["", f"  {f['summary']}"]
    if f["ties"]:
        lines.append("  (ties: the first maximum in row-major order wins)")
    lines.append(
        f"  unused input rows: {_list_or_none(f['unused']['rows'])}; "
        f"unused input cols: {_list_or_none(f['unused']['cols'])}"
    )
    return "\n".join(lines)


def _fmt_value(v, x):
    """Integers as integers; other values with 1-2 decimals (a cell holds ~4 characters)."""
    if float(v).is_integer() and np.all(np.mod(x, 1) == 0):
        return str(int(v))
    return f"{v:.2f}" if abs(v) < 10 else (f"{v:.1f}" if abs(v) < 100 else f"{v:.3g}")


def _fmt_cells(row, x):
    s = [_fmt_value(v, x) for v in row]
    width = max(len(_fmt_value(v, x)) for v in x.flat)
    return [t.rjust(width) for t in s]


__all__ = [
    "conv_facts",
    "conv_explanation",
    "pool_facts",
    "pool_explanation",
    "padding_label",
    "neuron_formula",
    "check_neuron",
    "GENERAL_FORMULA",
]


# -- coverage and the kernel flip (explain conv --coverage / --flip) --------------------------
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
    win = _window(input_hw, kernel, stride, padding, where=where)
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
    win = _window(input_hw, kernel, stride, padding, where=where)
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
