"""What the HTML explorer needs from a trace, as one JSON-ready dict.

The page computes a neuron's explanation itself (in float64, the same formulas as
``cnnsim.engine.connections``) from *exact* float32 arrays: the layer's output, its
inputs and its parameters. Every other layer's maps are stored for display only, in
8 bits on the layer's own colour scale (``lo + q * (hi - lo) / 255``). Which layers are
exact is chosen by ``layers=`` / ``neurons=`` or, by default, greedily in step order
within a byte budget; the page says which.

Arrays travel as base64 (little-endian float32 or uint8). Receptive-field boxes are
precomputed by ``cnnsim.engine.receptive_field`` for every row and every column of each
exact layer (the box is separable: rows depend on the row only, columns on the column
only) and for each group of maps whose fields differ (a depth concat's branches).
"""

import base64

import numpy as np

from ..engine.connections import connections
from ..engine.receptive_field import field_summary, receptive_field
from ..engine.trace import TraceError

FORMAT = "cnnsim-explorer"
VERSION = 1

#: default budget for the arrays of one page (raw bytes; base64 makes the file ~4/3 of it,
#: so a page of a 224x224 network stays under 25 MB)
DEFAULT_BUDGET = 17 * 2**20


def _b64(a, dtype):
    a = np.ascontiguousarray(np.asarray(a), dtype=np.dtype(dtype).newbyteorder("<"))
    return base64.b64encode(a.tobytes()).decode("ascii")


def _f32(a):
    a = np.asarray(a)
    return {"shape": list(a.shape), "f32": _b64(a, np.float32)}


def _u8(a):
    """``a`` on an 8-bit scale between its finite min and max (NaN/inf drawn as the ends)."""
    a = np.asarray(a, dtype=np.float64)
    fin = a[np.isfinite(a)]
    lo, hi = (float(fin.min()), float(fin.max())) if fin.size else (0.0, 0.0)
    span = hi - lo if hi > lo else 1.0
    q = np.clip(
        np.rint((np.nan_to_num(a, nan=lo, posinf=hi, neginf=lo) - lo) / span * 255), 0, 255
    ).astype(np.uint8)
    return {"shape": list(a.shape), "lo": lo, "hi": hi, "u8": _b64(q, np.uint8)}


def _nbytes(a):
    return 0 if a is None else int(np.asarray(a).size) * 4


def _step_inputs(step):
    return step.x if isinstance(step.x, list) else [step.x]


def _exact_cost(step):
    """Raw bytes to store ``step`` exactly: its output, inputs and parameters (float32)."""
    if not step.kept:
        return None
    n = _nbytes(step.y[:1])
    n += sum(_nbytes(x[:1]) for x in _step_inputs(step))
    n += sum(_nbytes(v) for v in step.params.values())
    return n


def choose_exact(trace, layers=None, neurons=(), budget=DEFAULT_BUDGET):
    """Indices of the steps stored exactly: the layers named in ``layers`` and those of
    ``neurons``; without ``layers``, also every other kept step in order while the budget
    lasts (the 8-bit display maps of every layer are counted first)."""
    named = set(layers or ()) | {n[0] for n in neurons}
    unknown = named - set(trace.names())
    if unknown:
        raise TraceError(
            f"explorer: no layer named {sorted(unknown)[0]!r} in the trace; "
            f"valid names: {', '.join(trace.names())}"
        )
    out = []
    for s in trace.steps:
        if s.name in named:
            if not s.kept:
                raise TraceError(
                    f"explorer: layer {s.name!r} was recorded without its arrays "
                    f"(a light trace); record it again without --light"
                )
            out.append(s.index)
    if layers:
        return out
    left = budget - sum(_exact_cost(trace.steps[k]) for k in out)
    left -= sum(_nbytes(s.y[:1]) // 4 for s in trace.steps if s.kept)
    for s in trace.steps:
        cost = _exact_cost(s)
        if s.index not in out and cost is not None and cost <= left:
            out.append(s.index)
            left -= cost
    return sorted(out)


def _map_groups(trace, step):
    """Groups of output maps that share one receptive field (a concat: one per branch)."""
    c = step.output_shape[0]
    try:
        fields = field_summary(trace, step)
    except (TraceError, ValueError):
        return [list(range(c))]
    of_map = getattr(fields, "of_map", None)
    if of_map is None or len(of_map) != c:
        return [list(range(c))]
    groups = {}
    for m, k in enumerate(of_map):
        groups.setdefault(k, []).append(m)
    return list(groups.values())


def _rf_table(trace, step):
    """Per map group: the clipped input-image box of every output row and column."""
    shp = step.output_shape
    if len(trace.input_shape) != 3:
        return None
    if len(shp) != 3:
        rf = receptive_field(trace, step, 0, 0, 0)
        return {
            "groups": [list(range(shp[0]))],
            "rows": [[[rf.top, rf.bottom]]],
            "cols": [[[rf.left, rf.right]]],
            "vector": True,
        }
    _, h, w = shp
    out = {"groups": [], "rows": [], "cols": [], "vector": False}
    for maps in _map_groups(trace, step):
        m = maps[0]
        rows = [list(receptive_field(trace, step, m, i, w // 2).clipped[:2]) for i in range(h)]
        cols = [list(receptive_field(trace, step, m, h // 2, j).clipped[2:]) for j in range(w)]
        out["groups"].append(maps)
        out["rows"].append(rows)
        out["cols"].append(cols)
    return out


def _channel_lists(step):
    """For a convolution: the input maps each filter reads (the class's own answer)."""
    from ..layers.explain import ALL

    lists = [step.cls.input_maps(step, {k}) for k in range(step.output_shape[0])]
    if all(m is ALL for m in lists):
        return None  # every filter reads every map
    n = step.input_shape[0]
    return [list(range(n)) if m is ALL else sorted(m) for m in lists]


def _param_count(step):
    return int(
        sum(
            np.asarray(v).size
            for k, v in step.params.items()
            if k in ("w", "b", "coef", "bias", "gamma", "beta")
        )
    )


def step_payload(trace, step, exact, sample):
    cls = step.cls
    d = step.to_dict()
    d.update(
        index=step.index,
        kind=step.kind,
        sources=[int(s) if s is not None else None for s in step.sources],
        title=getattr(cls, "title", None) or step.kind,
        form=getattr(cls, "explain_form", "point"),
        field=getattr(cls, "field", "keep"),
        facts={k: v for k, v in step.facts.items() if k != "range_activation"},
        exact=bool(exact),
        merge=step.merge,
    )
    if step.kept:
        y = step.y[sample]
        d["maps"] = _u8(y)
        d["params_count"] = _param_count(step)
        if step.grad_y is not None:
            d["grad"] = _u8(step.grad_y[sample])
    if step.grad_stats:
        d["grad_norm"] = step.grad_stats.get("y", {}).get("norm")
    if exact:
        d["values"] = _f32(step.y[sample])
        d["inputs"] = [_f32(x[sample]) for x in _step_inputs(step)]
        d["params"] = {
            k: _f32(v) for k, v in step.params.items() if np.asarray(v).dtype.kind in "fiub"
        }
        if step.kind == "Conv2D" or getattr(cls, "explain_form", "") == "patches":
            d["channel_lists"] = _channel_lists(step)
        try:
            d["rf"] = _rf_table(trace, step)
        except (TraceError, ValueError) as e:
            d["rf_error"] = str(e)
    return d


def build_payload(trace, layers=None, neurons=(), budget=DEFAULT_BUDGET, sample=0, effective=None):
    """The explorer's data for ``trace`` (see the module docstring).

    ``neurons``: ``[(layer, map, row, col), ...]`` explained by the engine in Python and
    shipped with the page (the page shows them first, and checks its own arithmetic
    against them); ``effective``: ``{(layer, map, row, col): heat map (H, W)}`` effective
    receptive fields (gradients), when the caller could compute them."""
    if not trace.steps:
        raise TraceError("explorer: the trace has no steps")
    if not 0 <= sample < trace.batch:
        raise TraceError(f"explorer: sample {sample} is outside the batch of {trace.batch}")
    if trace.input is None:
        raise TraceError(
            "explorer: the trace holds no input image (a light trace saved "
            "without arrays); record it again without --light"
        )
    neurons = [tuple(n) for n in neurons]
    exact = set(choose_exact(trace, layers, neurons, budget))
    steps = [step_payload(trace, s, s.index in exact, sample) for s in trace.steps]
    explained = []
    for name, m, r, c in neurons:
        conn = connections(trace, name, m, r, c, sample)
        rf = receptive_field(trace, name, m, r, c)
        e = {
            "neuron": [name, int(m), int(r), int(c)],
            "connections": conn.to_dict(),
            "ok": conn.ok,
            "rf": list(rf.clipped),
        }
        heat = (effective or {}).get((name, m, r, c))
        if heat is not None:
            e["effective"] = _u8(heat)
        explained.append(e)
    out = np.asarray(trace.output[sample]) if trace.output is not None else None
    return {
        "format": FORMAT,
        "version": VERSION,
        "model": trace.model,
        "input_shape": list(trace.input_shape),
        "batch": int(trace.batch),
        "sample": int(sample),
        "image": _f32(trace.input[sample]),
        "image_u8": _u8(trace.input[sample]),
        "output": None if out is None else np.asarray(out, np.float64).ravel().tolist(),
        "steps": steps,
        "neurons": explained,
        "exact_layers": [trace.steps[k].name for k in sorted(exact)],
        "has_grad": any(s.grad_y is not None for s in trace.steps),
    }
