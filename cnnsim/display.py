"""Jupyter displays: model summaries and traces as HTML tables.

In a notebook the last expression of a cell is shown with its ``_repr_html_``:

    from cnnsim import display, models
    from cnnsim.engine import record
    display.summary("alexnet")                 # the lecture's table, as HTML (str(): text)
    net = models.build("lenet5")
    tr = record(net, x)                        # a Trace renders as a table of its steps
    tr

Figures from ``cnnsim.plotting`` are ``matplotlib.figure.Figure`` objects and show inline
as they are (Jupyter's inline backend renders a returned Figure).

Plain functions (``summary_html(data)``, ``trace_html(trace)``) return the HTML strings;
the classes call them, so the markup lives in one place.
"""

from html import escape

import numpy as np

_STYLE = (
    "<style>.cnnsim-table td, .cnnsim-table th {padding: 2px 8px; "
    "font-family: monospace; white-space: pre}"
    " .cnnsim-table td.num {text-align: right}</style>"
)


def _table(head, rows, right=(), caption=None, foot=None):
    out = [_STYLE, "<table class='cnnsim-table'>"]
    if caption:
        out.append(f"<caption style='text-align: left'><b>{escape(caption)}</b></caption>")
    out.append("<thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr></thead>")
    out.append("<tbody>")
    for r in rows:
        out.append(
            "<tr>"
            + "".join(
                f"<td class='num'>{escape(c)}</td>" if k in right else f"<td>{escape(c)}</td>"
                for k, c in enumerate(r)
            )
            + "</tr>"
        )
    out.append("</tbody></table>")
    if foot:
        out.append(foot)
    return "".join(out)


# ---- model summaries ---------------------------------------------------------------------
def summary_html(data):
    """HTML table of a summary dict (``cnnsim.models.summary.summarize`` / ``describe``):
    one row per layer (nested layers indented), totals, then the notes."""
    from .models import summary as S

    shp = data["input_shape"]
    first = S.input_row(data)
    rows = [first] + [S._cells(r, 2) for r in data["layers"]]
    main = [r for r in data["layers"] if "/" not in r["name"] and r["type"] != "Aux classifier"]
    macs = sum(r["macs"] for r in main)
    foot = (
        f"<p>Total: {data['total_params']:,} trainable parameters, {macs:,} multiply-adds "
        f"per image</p>"
    )
    if data.get("notes"):
        foot += (
            "<p>Notes:</p><ul>" + "".join(f"<li>{escape(n)}</li>" for n in data["notes"]) + "</ul>"
        )
    caption = f"{data['model']}: input {'x'.join(map(str, shp))}"
    return _table(S.COLUMNS, rows, right=S.RIGHT, caption=caption, foot=foot)


class Summary:
    """A model summary that prints as the text table and renders as HTML in Jupyter.

    ``.data`` is the plain dict (``{"model", "input_shape", "layers", "total_params",
    "notes"}``), the same as ``cnnsim summary MODEL --json``."""

    def __init__(self, data):
        self.data = data

    def __str__(self):
        from .models.summary import format_table

        return format_table(self.data)

    def __repr__(self):
        return str(self)

    def _repr_html_(self):
        return summary_html(self.data)

    @property
    def total_params(self):
        return self.data["total_params"]


def summary(model, variant=None, input_size=None, **options):
    """Summary of a model: a name (built cheaply, as ``cnnsim summary``; ``variant``,
    ``input_size=(H, W)`` and builder options as there) or an already built network."""
    from .models import summary as S

    if isinstance(model, str):
        return Summary(S.describe(model, variant=variant, input_size=input_size, **options))
    if variant is not None or input_size is not None or options:
        raise TypeError(
            "summary: variant, input_size and options apply to a model name, not to a built network"
        )
    return Summary(S.summarize(model))


# ---- traces ------------------------------------------------------------------------------
# The one definition of the step table: ``cnnsim step`` prints it, a Trace's repr and
# _repr_html_ show it. ``--wide`` shows every column; by default the table fits the
# terminal (at most MAX_WIDTH columns): "input -> output" becomes "output" (the input is
# the row above, except at merges), then columns are dropped in DROP_ORDER.
TRACE_COLUMNS = (
    "#",
    "layer",
    "type",
    "input -> output",
    "kernel/stride/pad",
    "activation",
    "min",
    "mean",
    "max",
    "zeros",
    "sat",
    "ms",
)
# the same columns with "input -> output" shortened to "output"
COMPACT_COLUMNS = tuple("output" if c == "input -> output" else c for c in TRACE_COLUMNS)
RIGHT = {"#", "min", "mean", "max", "zeros", "sat", "ms"}
DROP_ORDER = ("sat", "zeros", "activation", "kernel/stride/pad", "min", "max", "type")
MAX_WIDTH = 100
NUM_WIDTH = 8  # every number cell fits here (see _num), so rows can stream
SEP = "  "
SAT_HELP = (
    "sat = fraction of outputs within 1% of a bounded activation's asymptote "
    "(sigmoid/softmax/tanh/scaled_tanh); '-' where it means nothing (ReLU, linear)"
)


def shape_text(s):
    """``(6, 28, 28)`` -> "6x28x28"; a merge's list of shapes joined by "+"."""
    if isinstance(s, list):
        return "+".join(shape_text(t) for t in s)
    return "x".join(str(v) for v in s)


def _geom(g):
    if not g:
        return "-"
    (fh, fw), (sh, sw), pads = g["kernel"], g["stride"], g["padding"]
    k = f"{fh}" if fh == fw else f"{fh}x{fw}"
    s = f"{sh}" if sh == sw else f"{sh}x{sw}"
    p = f"{pads[0]}" if len(set(pads)) == 1 else ",".join(map(str, pads))
    return f"k{k} s{s} p{p}"


def _num(v, frac=False):
    """At most NUM_WIDTH characters: 3 significant digits, or a short exponent form."""
    if v is None:
        return "-"
    if frac:
        return f"{100 * v:.1f}%"
    t = f"{v:.3g}"
    return t if len(t) <= NUM_WIDTH else f"{v:.1e}"


def terminal_width(default=MAX_WIDTH):
    """Columns of the terminal (``$COLUMNS`` first), or ``default`` when unknown."""
    import shutil

    return shutil.get_terminal_size((default, 24)).columns


def step_cells(step):
    """A step's cells by column name (both "input -> output" and "output")."""
    st = step.stats or {}
    return {
        "#": str(step.index),
        "layer": step.name,
        "type": step.kind,
        "input -> output": f"{shape_text(step.input_shape)} -> {shape_text(step.output_shape)}",
        "output": shape_text(step.output_shape),
        "kernel/stride/pad": _geom(step.geometry),
        "activation": step.activation or "-",
        "min": _num(st.get("min")),
        "mean": _num(st.get("mean")),
        "max": _num(st.get("max")),
        "zeros": _num(st.get("zeros"), True),
        "sat": _num(st.get("saturated"), True),
        "ms": _ms(step),
    }


def _ms(step):
    """A step's time in ms, or "in C1" when it ran as one kernel pass with C1, whose step
    carries the time of both (``cnnsim.layers.fusion``)."""
    with_ = (step.facts or {}).get("timed_with")
    return f"in {with_}" if with_ else f"{1000 * step.seconds:.2f}"


class StepTable:
    """Rows printed as they come, in columns chosen and sized before the first row.

    ``rows``: cells (dicts, as :func:`step_cells`) of every row to come, or of rows alike
    (only their widths are used); ``width``: the most columns a line may take (None: the
    terminal's, at most MAX_WIDTH); ``wide``: every column, whatever the width."""

    def __init__(self, rows, width=None, wide=False):
        limit = min(terminal_width(), MAX_WIDTH) if width is None else int(width)
        self.limit = None if wide else max(limit, 40)

        def w(col):
            return max(
                [len(col)]
                + [len(r[col]) for r in rows]
                + ([NUM_WIDTH] if col in ("min", "mean", "max", "ms") else [])
            )

        cols = list(TRACE_COLUMNS if wide else COMPACT_COLUMNS)
        self.widths = {c: w(c) for c in cols}
        self.dropped = []
        if not wide:
            for c in DROP_ORDER:
                if self.total(cols) <= self.limit:
                    break
                cols.remove(c)
                self.dropped.append(c)
            if self.total(cols) > self.limit:  # long layer names: cut in the middle
                self.widths["layer"] = max(
                    8, self.widths["layer"] - (self.total(cols) - self.limit)
                )
        self.columns = cols

    def total(self, cols):
        return sum(self.widths[c] for c in cols) + len(SEP) * (len(cols) - 1)

    def _cell(self, c, text):
        w = self.widths[c]
        if len(text) > w and c == "layer":
            k = (w - 1) // 2
            text = text[:k] + "~" + text[len(text) - (w - 1 - k) :]
        return text.rjust(w) if c in RIGHT else text.ljust(w)

    def fmt(self, cells):
        return SEP.join(self._cell(c, cells[c]) for c in self.columns).rstrip()

    def header(self):
        return self.fmt({c: c for c in self.columns})

    def footnote(self):
        """What the columns mean, and which were left out (and how to see them)."""
        notes = []
        if "sat" in self.columns:
            notes.append(SAT_HELP)
        notes.append("ms = time of the layer's call, kernels already compiled")
        if self.dropped or "input -> output" not in self.columns and self.limit is not None:
            hidden = ["input"] + self.dropped
            notes.append(
                f"not shown to fit {self.limit} columns: {', '.join(hidden)} "
                f"(--wide shows every column)"
            )
        return "\n".join(wrap(n, self.limit or MAX_WIDTH) for n in notes)


def wrap(text, width=MAX_WIDTH, indent=""):
    """``text`` broken into lines of at most ``width`` characters (words kept whole)."""
    import textwrap

    return (
        "\n".join(textwrap.wrap(text, width, subsequent_indent=indent, break_on_hyphens=False))
        or text
    )


def trace_rows(trace, columns=TRACE_COLUMNS):
    """One list of cells per step (the columns of ``TRACE_COLUMNS``)."""
    return [[step_cells(s)[c] for c in columns] for s in trace.steps]


def trace_html(trace):
    """HTML table of a ``cnnsim.engine.Trace``: one row per step, the statistics of its
    output (min / mean / max, fraction of zeros, fraction saturated) and its time."""
    caption = (
        f"{trace.model}: input {shape_text(trace.input_shape)}, batch {trace.batch}, "
        f"{len(trace.steps)} steps"
    )
    foot = (
        "<p><small>sat = fraction of outputs within 1% of a bounded activation's asymptote; "
        "'-' where it means nothing (ReLU, linear)</small></p>"
    )
    return _table(
        TRACE_COLUMNS, trace_rows(trace), right={0, 6, 7, 8, 9, 10, 11}, caption=caption, foot=foot
    )


def trace_text(trace, width=None, wide=False, limit_rows=None):
    """The step table as aligned text (fits ``width`` columns unless ``wide``);
    ``limit_rows``: show the first and last rows only, with a count of those left out."""
    cells = [step_cells(s) for s in trace.steps]
    t = StepTable(cells, width, wide)
    lines = [t.header()]
    if limit_rows is not None and len(cells) > limit_rows:
        half = limit_rows // 2
        lines += [t.fmt(c) for c in cells[:half]]
        lines.append(f"... {len(cells) - 2 * half} more steps ...")
        lines += [t.fmt(c) for c in cells[-half:]]
    else:
        lines += [t.fmt(c) for c in cells]
    return "\n".join(lines)


# ---- the prediction ------------------------------------------------------------------------
def prediction(output, kind, true_label=None, class_names=None, k=3):
    """What a network's output vector says, as a JSON-able dict.

    ``output`` (D,): class scores of the last step, ``kind`` its layer type. An RBF layer
    (LeNet-5's) gives penalties: the class is the argmin, and the probabilities are
    ``softmax(-penalty)`` (what training maximises). A softmax output is already
    probabilities; any other vector (logits) is put through a softmax, and ``rule`` says so.
    """
    y = np.asarray(output, dtype=np.float64).reshape(-1)
    if kind == "RBF":
        z, rule, score = (
            -y,
            "argmin of the RBF penalties; probabilities = softmax(-penalty)",
            "penalty",
        )
    elif np.all(y >= 0) and abs(y.sum() - 1) < 1e-3:
        z, rule, score = None, "argmax of the softmax probabilities", "probability"
    else:
        z, rule, score = y, "argmax; probabilities = softmax of the outputs", "output"
    if z is None:
        p = y
    else:
        e = np.exp(z - z.max())
        p = e / e.sum()
    order = np.argsort(-p, kind="stable")[:k]
    name = (lambda c: class_names[c]) if class_names else str
    top = [
        {"class": int(c), "name": name(int(c)), score: float(y[c]), "probability": float(p[c])}
        for c in order
    ]
    out = {
        "class": int(order[0]),
        "name": name(int(order[0])),
        "rule": rule,
        "score": score,
        "top": top,
        "output": y.tolist(),
        "probabilities": p.tolist(),
        "true_label": None if true_label is None else int(true_label),
    }
    if true_label is not None:
        out["correct"] = bool(int(order[0]) == int(true_label))
    return out


def prediction_text(pred, width=MAX_WIDTH):
    """A few lines: the predicted class, the top 3 with their probability as a bar, the
    true label when known."""
    lines = []
    verdict = ""
    if pred["true_label"] is not None:
        verdict = (
            "  right" if pred["correct"] else "  WRONG"
        ) + f" (true label {pred['true_label']})"
    lines.append(f"prediction: class {pred['name']}{verdict}")
    lines.append(wrap(f"  ({pred['rule']})", width, "   "))
    bar = 30
    for t in pred["top"]:
        n = round(bar * t["probability"])
        extra = (
            "" if pred["score"] == "probability" else f"  {pred['score']} {t[pred['score']]:.4g}"
        )
        lines.append(f"  {t['name']:>10}  {'#' * n:<{bar}}  {100 * t['probability']:5.1f}%{extra}")
    return "\n".join(lines)


# ---- a neuron --------------------------------------------------------------------------------
def _ranges(chans):
    if chans == list(range(chans[0], chans[-1] + 1)):
        return f"{chans[0]}..{chans[-1]}" if len(chans) > 1 else f"{chans[0]}"
    return ",".join(map(str, chans))


def neuron_text(conn, rf=None, width=MAX_WIDTH, top=10):
    """A neuron's explanation as the CLI prints it: the layer type's own layout
    (``Connections.lines``: ``Layer.describe`` in cnnsim/layers/), the check against what
    the layer computed, then its receptive field. Prose lines wrap at ``width``; the
    number grids do not (a grid cut in two cannot be read)."""
    lines = [
        l if l.startswith("    ") or len(l) <= width else wrap(l, width, "    ")
        for l in conn.lines(top, width)
    ]
    if rf is not None:
        lines.append(wrap(receptive_field_text(rf), width, "    "))
    return "\n".join(lines)


def receptive_field_text(rf):
    jump = "" if rf.jump is None else f", jump {rf.jump[0]}x{rf.jump[1]}"
    return (
        f"  receptive field in the input image: rows {rf.top}..{rf.bottom}, cols "
        f"{rf.left}..{rf.right} (unclipped rows {rf.unclipped[0]}..{rf.unclipped[1]}, "
        f"cols {rf.unclipped[2]}..{rf.unclipped[3]}; size {rf.size[0]}x{rf.size[1]}{jump})"
    )


__all__ = [
    "Summary",
    "summary",
    "summary_html",
    "trace_html",
    "trace_text",
    "trace_rows",
    "StepTable",
    "prediction",
    "prediction_text",
    "neuron_text",
    "shape_text",
]


# ---- concise reprs (a notebook's last line, a print in a script) --------------------------------
REPR_LINES = 20


def array_text(a):
    """'float32 (1, 6, 28, 28) in [-1.47, 1.7], mean 0.0809' - never the values themselves."""
    if a is None:
        return "None"
    if isinstance(a, (list, tuple)):
        return "[" + ", ".join(array_text(b) for b in a) + "]"
    a = np.asarray(a)
    if a.size == 0 or a.dtype.kind not in "biuf":
        return f"{a.dtype} {tuple(a.shape)}"
    return (
        f"{a.dtype} {tuple(a.shape)} in [{_num(float(a.min()))}, {_num(float(a.max()))}], "
        f"mean {_num(float(a.mean()))}"
    )


def step_repr(step):
    """A Step in at most a few lines: what ran, its shapes, statistics and arrays kept."""
    c = step_cells(step)
    act = f", {step.activation}" if step.activation else ""
    lines = [
        f"Step {step.index} {step.name!r} ({step.kind}{act}): {c['input -> output']}"
        + ("" if c["kernel/stride/pad"] == "-" else f", {c['kernel/stride/pad']}")
    ]
    st = step.stats or {}
    if st:
        lines.append(
            f"  output min {c['min']}, mean {c['mean']}, max {c['max']}, zeros "
            f"{c['zeros']}, saturated {c['sat']}; {c['ms']} ms"
        )
    if step.kept:
        lines.append(f"  y: {array_text(step.y)}")
        for k, v in list(step.params.items())[:3]:
            lines.append(f"  {k}: {array_text(v)}")
    else:
        lines.append("  light: statistics only (no arrays kept)")
    if step.grad_stats:
        lines.append(f"  gradients recorded: {', '.join(step.grad_stats)}")
    return "\n".join(lines)


def trace_repr(trace):
    """A Trace in at most REPR_LINES lines: a title and the step table (first and last
    rows when there are many); ``print(cnnsim.display.trace_text(trace))`` shows all."""
    title = (
        f"Trace of {trace.model}: input {shape_text(trace.input_shape)}, batch "
        f"{trace.batch}, {len(trace.steps)} steps"
    )
    return title + "\n" + trace_text(trace, width=MAX_WIDTH, limit_rows=REPR_LINES - 4)


def connections_repr(conn):
    """A neuron's connections in at most a few lines (``str()`` prints them as the CLI)."""
    lines = [
        f"Connections of {conn.layer} ({conn.kind}) map {conn.map}, row {conn.row}, col {conn.col}"
    ]
    if conn.rows is not None and len(conn.rows):
        lines.append(
            f"  input rows {conn.rows[0]}..{conn.rows[-1]}, cols {conn.cols[0]}.."
            f"{conn.cols[-1]}" + (f", maps {_ranges(conn.channels)}" if conn.channels else "")
        )
    for name in ("inputs", "weights", "products"):
        a = getattr(conn, name)
        if a is not None:
            lines.append(f"  {name}: {array_text(a)}")
    if conn.sum is not None:
        bias = "" if conn.bias is None else f" (bias {conn.bias:.6g})"
        lines.append(f"  sum {conn.sum:.6g}{bias}")
    lines.append(
        f"  {conn.activation or 'no activation'} -> {conn.output:.6g}; the layer "
        f"computed {conn.recorded:.6g} ({'equal' if conn.ok else 'DIFFERENT'})"
    )
    lines.append("  print(c) shows every product, as `cnnsim step --neuron` does")
    return "\n".join(lines)


def receptive_field_repr(rf):
    return (
        f"ReceptiveField of {rf.layer} ({rf.row}, {rf.col}) in the {rf.image_shape[0]}x"
        f"{rf.image_shape[1]} input:\n" + receptive_field_text(rf)
    )


def pre_html(text):
    """Text as a <pre> block (for objects whose best picture is their printed form)."""
    return f"<pre style='font-size: 90%'>{escape(text)}</pre>"
