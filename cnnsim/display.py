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

_STYLE = ("<style>.cnnsim-table td, .cnnsim-table th {padding: 2px 8px; "
          "font-family: monospace; white-space: pre}"
          " .cnnsim-table td.num {text-align: right}</style>")


def _table(head, rows, right=(), caption=None, foot=None):
    out = [_STYLE, "<table class='cnnsim-table'>"]
    if caption:
        out.append(f"<caption style='text-align: left'><b>{escape(caption)}</b></caption>")
    out.append("<thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr></thead>")
    out.append("<tbody>")
    for r in rows:
        out.append("<tr>" + "".join(
            f"<td class='num'>{escape(c)}</td>" if k in right else f"<td>{escape(c)}</td>"
            for k, c in enumerate(r)) + "</tr>")
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
    first = ["In", "Input", str(shp[0]), "x".join(map(str, shp[1:])) if len(shp) == 3 else
             str(shp[0]), "-", "-", "-", "-", "x".join(map(str, shp)), "0", "0", "1", "1", "0"]
    rows = [first] + [S._cells(r, 2) for r in data["layers"]]
    main = [r for r in data["layers"] if "/" not in r["name"] and r["type"] != "Aux classifier"]
    macs = sum(r["macs"] for r in main)
    foot = (f"<p>Total: {data['total_params']:,} trainable parameters, {macs:,} multiply-adds "
            f"per image</p>")
    if data.get("notes"):
        foot += "<p>Notes:</p><ul>" + "".join(f"<li>{escape(n)}</li>" for n in data["notes"]) + "</ul>"
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
        raise TypeError("summary: variant, input_size and options apply to a model name, "
                        "not to a built network")
    return Summary(S.summarize(model))


# ---- traces ------------------------------------------------------------------------------
TRACE_COLUMNS = ("#", "layer", "type", "input -> output", "kernel/stride/pad", "activation",
                 "min", "mean", "max", "zeros", "sat", "ms")


def _shape(s):
    if isinstance(s, list):
        return " + ".join(_shape(t) for t in s)
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
    if v is None:
        return "-"
    return f"{100 * v:.1f}%" if frac else f"{v:.4g}"


def trace_rows(trace):
    """One list of cells per step (the columns of ``TRACE_COLUMNS``)."""
    rows = []
    for s in trace.steps:
        st = s.stats or {}
        rows.append([str(s.index), s.name, s.kind,
                     f"{_shape(s.input_shape)} -> {_shape(s.output_shape)}", _geom(s.geometry),
                     s.activation or "-", _num(st.get("min")), _num(st.get("mean")),
                     _num(st.get("max")), _num(st.get("zeros"), True),
                     _num(st.get("saturated"), True), f"{1000 * s.seconds:.2f}"])
    return rows


def trace_html(trace):
    """HTML table of a ``cnnsim.engine.Trace``: one row per step, the statistics of its
    output (min / mean / max, fraction of zeros, fraction saturated) and its time."""
    caption = (f"{trace.model}: input {_shape(trace.input_shape)}, batch {trace.batch}, "
               f"{len(trace.steps)} steps")
    foot = ("<p><small>sat = fraction of outputs within 1% of a bounded activation's asymptote; "
            "'-' where it means nothing (ReLU, linear)</small></p>")
    return _table(TRACE_COLUMNS, trace_rows(trace), right={0, 6, 7, 8, 9, 10, 11},
                  caption=caption, foot=foot)


def trace_text(trace):
    """The same table as aligned text."""
    rows = [list(TRACE_COLUMNS)] + trace_rows(trace)
    widths = [max(len(r[k]) for r in rows) for k in range(len(TRACE_COLUMNS))]
    right = {0, 6, 7, 8, 9, 10, 11}
    return "\n".join("  ".join(c.rjust(w) if k in right else c.ljust(w)
                               for k, (c, w) in enumerate(zip(r, widths))).rstrip() for r in rows)


__all__ = ["Summary", "summary", "summary_html", "trace_html", "trace_text", "trace_rows"]
