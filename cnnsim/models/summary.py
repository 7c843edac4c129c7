"""A model as the lecture's table, and where the table and the arithmetic disagree.

    data = summarize(net)                   # a built network -> plain dict (JSON-ready)
    data = describe("alexnet")              # build by name (cheaply) and summarize
    print(format_table(data))

``data`` is ``{"model", "input_shape", "layers", "total_params", "notes"}``; each layer row
(containers included, parents before children, auxiliary heads last) is::

    {"name", "type", "maps", "size", "kernel", "stride", "padding", "activation",
     "output_shape", "params", "macs", "rf"}

``maps`` is the number of output maps (None for vectors), ``size`` ``[H, W]`` (or ``[D]``),
``kernel``/``stride`` ``[h, w]`` or None, ``padding`` "SAME"/"VALID" or
``[top, bottom, left, right]`` or None. Counts are of leaves; a container's row holds the
sum over its leaves. Notes come from ``net.reference`` (see ``models._common.Reference``):
each layer whose declared shape differs from the real one gets a note with the arithmetic
(``ceil(n / s)`` for SAME, ``floor((n + p - f) / s) + 1`` otherwise), then the declared
total is compared with the real count, then the model's remarks follow.

``rf`` is the receptive field of the layer's output maps in the input image, composed along
the network's graph (through branches and skips: a depth-concat map has its own branch's
field, an add the union of its terms'; ``cnnsim.layers.fields``), or None for vectors:
``{"size": {"min": [h, w], "max": [h, w]}, "jump": {"min", "max"}, "start": {"min",
"max"}}`` over the maps (``jump``: effective stride; ``start``: where neuron (0, 0)'s field
starts, minus the effective padding). The table shows ``27`` or a range ``27-59``.
"""

from __future__ import annotations

import inspect
from typing import Any, Optional, Sequence

from ..layers.base import Layer
from ..layers.fields import map_fields, static_steps
from ..layers.initializers import shapes_only

ACT_NAMES = {
    "relu": "ReLU",
    "softmax": "Softmax",
    "tanh": "tanh",
    "scaled_tanh": "scaled tanh",
    "sigmoid": "sigmoid",
    "rbf": "RBF",
}


def _padding(geo):
    spec = geo.get("padding_spec")
    if isinstance(spec, str):
        return spec.upper()
    return [int(p) for p in geo["padding"]]


def _type_name(layer):
    parent = getattr(layer, "_parent", None)
    role = parent.role_of(layer) if layer.is_container and parent is not None else None
    return role or layer.title or layer.kind


def _rf(fields):
    """The ``rf`` entry of a row from the ``MapFields`` of its output (None: no field)."""
    if fields is None:
        return None
    per_map = fields.summary()
    if per_map is None:
        return None
    out = {}
    for k, key in enumerate(("size", "jump", "start")):
        vals = [s[k] for s in per_map]
        out[key] = {
            "min": [min(v[0] for v in vals), min(v[1] for v in vals)],
            "max": [max(v[0] for v in vals), max(v[1] for v in vals)],
        }
    return out


def layer_row(layer, type_name=None, fields=None):
    """The table row of one built layer (leaf or container); ``fields``: the
    ``MapFields`` of its output (``cnnsim.layers.fields``)."""
    shape = tuple(layer.output_shape)
    geo = None if layer.is_container else layer.geometry()
    return {
        "name": layer.path,
        "type": type_name or _type_name(layer),
        "maps": shape[0] if len(shape) == 3 else None,
        "size": list(shape[1:]) if len(shape) == 3 else list(shape),
        "kernel": list(geo["kernel"]) if geo else None,
        "stride": list(geo["stride"]) if geo else None,
        "padding": _padding(geo) if geo else None,
        "activation": layer.activation if isinstance(layer.activation, str) else None,
        "output_shape": list(shape),
        "params": int(layer.param_count()),
        "macs": int(layer.macs()),
        "rf": _rf(fields),
    }


def summarize(net: Layer, model: Optional[str] = None, dense_twin: bool = False) -> dict[str, Any]:
    """Plain-data summary of a built network (see the module docstring); ``dense_twin``
    adds the "All-dense twin" note (:func:`dense_twin_note`)."""
    heads = getattr(net, "aux_heads", {})
    aux = {id(l) for h in heads.values() for l in h.walk()}
    steps = static_steps(net)
    fields = dict(zip((s.name for s in steps), map_fields(steps)))

    def row(layer, type_name=None):
        out = list(layer.all_leaves())[-1] if layer.is_container else layer
        return layer_row(layer, type_name, fields.get(out.path))

    rows = [row(l) for l in net.walk() if l is not net and id(l) not in aux]
    for head in heads.values():
        rows.append(row(head, "Aux classifier"))
        rows += [row(l) for l in head.walk() if l is not head]
    extra = [dense_twin_note(net)] if dense_twin else []
    return {
        "model": model or net.name,
        "input_shape": list(net.input_shape),
        "layers": rows,
        "total_params": int(net.param_count()),
        "notes": notes(net) + extra,
    }


def dense_twin_note(net):
    """Parameters of the network's "all-dense twin": every convolution replaced by a dense
    layer with the same input and output sizes, ``(C*H*W + 1) * (F*H_out*W_out)`` each (the
    lecture's "why CNNs"; ``cnnsim explain dense-vs-conv`` splits one such saving into
    local connectivity and weight sharing)."""
    heads = getattr(net, "aux_heads", {})
    aux = {id(l) for h in heads.values() for l in h.walk()}
    convs = [l for l in net.leaves() if l.kind == "Conv2D" and id(l) not in aux]
    conv_params = sum(int(l.param_count()) for l in convs)
    twin = 0
    for l in convs:
        n_in, n_out = 1, 1
        for v in l.input_shape:
            n_in *= int(v)
        for v in l.output_shape:
            n_out *= int(v)
        twin += (n_in + 1) * n_out
    total = int(net.param_count())
    return (
        f"All-dense twin: its {len(convs)} convolutions ({conv_params:,} parameters) as dense "
        f"layers with the same inputs and outputs would have {twin:,} parameters, a network "
        f"of {total - conv_params + twin:,} instead of {total:,}."
    )


def _fmt_shape(shape):
    shape = tuple(shape)
    if len(shape) == 3:
        return f"{shape[0]}@{shape[1]}x{shape[2]}"
    return "x".join(map(str, shape))


def _axis_formula(n, f, s, pads, spec):
    """How one output size follows from input ``n``, kernel ``f``, stride ``s``."""
    out = (n + pads[0] + pads[1] - f) // s + 1
    if spec == "SAME":
        return f"ceil({n} / {s}) = {out}"
    if pads == (0, 0):
        return f"floor(({n} - {f}) / {s}) + 1 = {out}"
    return f"floor(({n} + {pads[0]} + {pads[1]} - {f}) / {s}) + 1 = {out}"


def _shape_note(layer, declared, source):
    real = tuple(layer.output_shape)
    name = layer.path
    if len(real) == 3 and len(declared) == 3 and real[1:] != tuple(declared[1:]):
        geo = None if layer.is_container else layer.geometry()
        head = f"{name}: "
        if geo:
            (h, w), (fh, fw), (sh, sw) = layer.input_shape[1:], geo["kernel"], geo["stride"]
            pad = _padding(geo)
            pad_txt = pad if isinstance(pad, str) else "padding " + ",".join(map(str, pad))
            t, b, l, r = geo["padding"]
            formula = _axis_formula(h, fh, sh, (t, b), pad)
            if (h, fh, sh, (t, b)) != (w, fw, sw, (l, r)):
                formula += "; " + _axis_formula(w, fw, sw, (l, r), pad)
            stride_txt = f"{sh}" if sh == sw else f"{sh}x{sw}"
            head += (
                f"{h}x{w} with {fh}x{fw} stride {stride_txt} {pad_txt} gives "
                f"{real[1]}x{real[2]} ({formula})"
            )
        else:
            head += f"the arithmetic gives {real[1]}x{real[2]}"
        text = f"{head}, not the table's {declared[1]}x{declared[2]} ({source})"
        if real[0] != declared[0]:
            text += f"; and {real[0]} maps, not {declared[0]}"
        return text
    if real != tuple(declared):
        return (
            f"{name}: the network gives {_fmt_shape(real)}, not the table's "
            f"{_fmt_shape(declared)} ({source})"
        )
    return None


def notes(net):
    """Disagreements between ``net.reference`` and the built network, then the remarks."""
    ref = getattr(net, "reference", None)
    if ref is None:
        return []
    out = []
    if tuple(net.input_shape) != tuple(ref.input_shape):
        out.append(
            f"Input {_fmt_shape(net.input_shape)} differs from the {_fmt_shape(ref.input_shape)} "
            f"of {ref.source}; the sizes below are compared with the table anyway."
        )
    for name, declared in ref.layers.items():
        try:
            layer = net.find(name)
        except KeyError:
            out.append(f"{name}: in {ref.source} but not in this network")
            continue
        text = _shape_note(layer, declared, ref.source)
        if text:
            hint = ref.hints.get(name)
            out.append(text + (f"; {hint}" if hint else "."))
    if ref.total_params is not None:
        total = net.param_count()
        if total != ref.total_params:
            out.append(
                f"Total: {total:,} trainable parameters, not the {ref.total_params:,} of "
                f"{ref.source}" + (f"; {ref.total_hint}" if ref.total_hint else ".")
            )
        else:
            out.append(f"Total: {total:,} trainable parameters, as in {ref.source}.")
    return out + list(ref.remarks)


def default_input_shape(builder, options=None):
    """The builder's default ``input_shape`` (AlexNet's depends on its variant)."""
    options = options or {}
    if options.get("input_shape") is not None:
        return tuple(options["input_shape"])
    default = inspect.signature(builder).parameters.get("input_shape")
    if default is None:
        return None
    if default.default is None:
        with shapes_only():
            return tuple(builder(**options).input_shape)
    return tuple(default.default)


def describe(
    name: str,
    variant: Optional[str] = None,
    input_size: Optional[Sequence[int]] = None,
    dense_twin: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """Build model ``name`` without drawing random weights and summarize it.

    ``input_size=(H, W)`` keeps the model's number of input channels.
    """
    from . import MODELS, _load_all, build

    _load_all()
    if variant is not None:
        options["variant"] = variant
    if input_size is not None:
        key = name.lower().replace("-", "").replace("_", "")
        builder = next(
            (fn for k, fn in MODELS.items() if k.replace("-", "").replace("_", "") == key), None
        )
        if builder is not None:
            shape = default_input_shape(
                builder, {k: v for k, v in options.items() if k != "input_shape"}
            )
            c = shape[0] if shape else 3
            options["input_shape"] = (c, int(input_size[0]), int(input_size[1]))
    with shapes_only():
        net = build(name, **options)
    model = name + (f" ({variant})" if variant else "")
    return summarize(net, model, dense_twin=dense_twin)


# ---- text ------------------------------------------------------------------------------

COLUMNS = (
    "Layer",
    "Type",
    "Maps",
    "Size",
    "Kernel size",
    "Stride",
    "Padding",
    "Activation",
    "Output shape",
    "Params",
    "MACs",
    "RF",
    "Jump",
    "Start",
)
RIGHT = {2, 9, 10, 11, 12, 13}  # right-aligned columns


def _span(lo, hi, sep="-"):
    """``27``, ``27-59``; non-square ``27x31``, ``27x31-59x63``."""
    one = lambda v: str(v[0]) if v[0] == v[1] else f"{v[0]}x{v[1]}"  # noqa: E731
    return one(lo) if lo == hi else f"{one(lo)}{sep}{one(hi)}"


def rf_cells(rf):
    """The RF, Jump and Start cells of a row's ``rf`` entry."""
    if rf is None:
        return ["-", "-", "-"]
    return [
        _span(rf["size"]["min"], rf["size"]["max"]),
        _span(rf["jump"]["min"], rf["jump"]["max"]),
        _span(rf["start"]["min"], rf["start"]["max"], sep=".."),
    ]


def _pair_txt(v):
    if v is None:
        return "-"
    return f"{v[0]}x{v[1]}"


def _cells(row, indent):
    depth = row["name"].count("/")
    size = row["size"]
    pad = row["padding"]
    if pad is None:
        pad_txt = "-"
    elif isinstance(pad, str):
        pad_txt = pad
    else:
        pad_txt = str(pad[0]) if len(set(pad)) == 1 else ",".join(map(str, pad))
    stride = row["stride"]
    return [
        " " * (indent * depth) + row["name"],
        row["type"],
        "-" if row["maps"] is None else str(row["maps"]),
        "x".join(map(str, size)) if len(size) == 2 else f"{size[0]:,}",
        _pair_txt(row["kernel"]),
        "-"
        if stride is None
        else (str(stride[0]) if stride[0] == stride[1] else f"{stride[0]}x{stride[1]}"),
        pad_txt,
        ACT_NAMES.get(row["activation"], row["activation"] or "-"),
        "x".join(map(str, row["output_shape"])),
        f"{row['params']:,}",
        f"{row['macs']:,}",
    ] + rf_cells(row.get("rf"))


def lecture_notation(row):
    """The GoogLeNet slides' notation of a window: ``"3x3 + 2(S)"`` = kernel 3x3, stride 2,
    SAME padding (``V`` for VALID, ``p1`` / ``p1,2,1,2`` for explicit padding); "-" for
    layers without a window."""
    if row["kernel"] is None:
        return "-"
    k, s, pad = row["kernel"], row["stride"], row["padding"]
    kern = f"{k[0]}x{k[1]}"
    stride = str(s[0]) if s[0] == s[1] else f"{s[0]}x{s[1]}"
    if isinstance(pad, str):
        p = {"SAME": "S", "VALID": "V"}.get(pad, pad)
    else:
        p = "p" + (str(pad[0]) if len(set(pad)) == 1 else ",".join(map(str, pad)))
    return f"{kern} + {stride}({p})"


NOTATION_KEY = (
    "Notation (the GoogLeNet slides'): kernel + stride(padding), e.g. 3x3 + 2(S) = "
    "3x3 window, stride 2, SAME padding; V = VALID."
)


def input_row(data: dict[str, Any]) -> list[str]:
    """The table's first row: the network input (no parameters; field 1, jump 1, start 0)."""
    shp = data["input_shape"]
    flat = "x".join(map(str, shp[1:])) if len(shp) == 3 else str(shp[0])
    return [
        "In",
        "Input",
        str(shp[0]),
        flat,
        "-",
        "-",
        "-",
        "-",
        "x".join(map(str, shp)),
        "0",
        "0",
        "1",
        "1",
        "0",
    ]


def format_table(data: dict[str, Any], indent: int = 2, notation: str = "table") -> str:
    """The summary as an aligned text table (nested layers indented), totals and notes.

    ``notation="lecture"`` replaces the kernel, stride and padding columns by one column in
    the GoogLeNet slides' notation (:func:`lecture_notation`)."""
    shp = data["input_shape"]
    first = input_row(data)
    body = [first] + [_cells(r, indent) for r in data["layers"]]
    columns: tuple[str, ...] = COLUMNS
    right = RIGHT
    if notation == "lecture":  # kernel, stride, padding (columns 4-6) become one column
        columns = COLUMNS[:4] + ("Patch size/stride",) + COLUMNS[7:]
        right = {k if k < 4 else k - 2 for k in RIGHT if k not in (4, 5, 6)}
        body = [c[:4] + ["-"] + c[7:] for c in body[:1]] + [
            c[:4] + [lecture_notation(r)] + c[7:] for c, r in zip(body[1:], data["layers"])
        ]
    elif notation != "table":
        raise ValueError(f"format_table: notation must be 'table' or 'lecture', got {notation!r}")
    widths = [max(len(c), *(len(r[k]) for r in body)) for k, c in enumerate(columns)]
    fmt = lambda cells: "  ".join(
        c.rjust(w) if k in right else c.ljust(w)  # noqa: E731
        for k, (c, w) in enumerate(zip(cells, widths))
    ).rstrip()
    lines = [
        f"{data['model']}: input {'x'.join(map(str, shp))}",
        fmt(columns),
        fmt(["-" * w for w in widths]),
    ]
    lines += [fmt(r) for r in body]
    main = [r for r in data["layers"] if "/" not in r["name"] and r["type"] != "Aux classifier"]
    macs = sum(r["macs"] for r in main)
    lines.append("")
    lines.append(
        f"Total: {data['total_params']:,} trainable parameters, {macs:,} multiply-adds per image"
    )
    notes = list(data["notes"]) + ([NOTATION_KEY] if notation == "lecture" else [])
    if notes:
        lines.append("")
        lines.append("Notes:")
        lines += [f"  - {n}" for n in notes]
    return "\n".join(lines)
