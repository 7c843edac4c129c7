"""What ``cnnsim step`` shows about one neuron, forward (``--neuron``) and backward
(``--backward``): text, JSON and figures. Kept out of step_cmd.py so the table/header code
there stays small; every per-type layout comes from the layer classes
(``Layer.describe``, ``Layer.grad_terms``: ``cnnsim/layers/``).
"""

import click
import numpy as np

from ..display import wrap


# ---- forward ---------------------------------------------------------------------------
def down(trace, conn):
    """The Connections of the neuron one level down (a depth concat's branch), or None."""
    from cnnsim.engine.connections import connections

    where = conn.cls.explain_down(conn)
    if where is None:
        return None
    src, m, r, c = where
    if src is None or src < 0 or not trace.steps[src].kept:
        return None
    return connections(trace, trace.steps[src].name, m, r, c, conn.sample)


def down_text(conn_down, top=10):
    return "one level down:\n" + "\n".join("  " + l for l in conn_down.lines(top))


# ---- backward --------------------------------------------------------------------------
def run_backward(trace, net, label, true_label, out, width=10_000):
    """Loss for ``label`` (default: the sample's true label, else the prediction) and the
    recorded backward pass; usage errors as click.BadParameter. Returns the Loss."""
    from cnnsim.engine.backward import backward, loss_for

    why = "given"
    try:
        if label is None:
            k = np.shape(trace.output)[-1] if np.ndim(trace.output) == 2 else 0
            if true_label is not None and 0 <= true_label < k:
                label, why = int(true_label), "the sample's true label"
            else:
                label = loss_for(trace, 0).prediction
                why = "the prediction (no true label known; --label N to choose)"
        loss = backward(trace, net, label)
    except ValueError as e:
        raise click.BadParameter(
            str(e), param_hint="--label" if "--label" in str(e) else "--backward"
        ) from None
    out(
        wrap(
            f"backward pass: loss = -log p[{loss.label}] = {loss.value:.5g} for label "
            f"{loss.label} ({why}); p from {loss.rule}; prediction {loss.prediction}",
            width,
            "  ",
        )
    )
    return loss


def backward_report(trace, conn, view, out, as_json):
    """``--backward``: loss, gradient table, the neuron's and a weight's gradient (printed
    unless ``as_json``). Returns (loss, rows, g, gw), or None without --backward."""
    if not view.get("backward"):
        return None
    from cnnsim.engine.backward import grad_table

    net, label, true_label = view["backward"]
    width = view.get("width") or 10_000
    loss = run_backward(trace, net, label, true_label, out, width)
    rows = grad_table(trace)
    g, gw = neuron_gradients(trace, conn, loss) if conn is not None else (None, None)
    if not as_json:
        out("\n".join(grad_table_text(rows)))
        for e in (g, gw):
            if e is not None:
                out("\n".join(wrap(line, width, "    ") for line in e.lines(view["top"], width)))
    return loss, rows, g, gw


def grad_table_text(rows):
    """Per-step gradient statistics, output side first (the order backward runs)."""
    w = max([len(r["name"]) for r in rows] + [5])
    head = (
        f"{'#':>3}  {'layer':<{w}}  {'|dL/dy|':>8}  {'max|dL/dy|':>10}  {'zeros':>6}  "
        f"{'|dL/dx|':>8}  {'|dL/dw|':>8}"
    )
    lines = ["gradients, step by step backwards (|.| = L2 norm; zeros = fraction exactly 0):", head]

    def n(v):
        return "-" if v is None else f"{v:.2e}"

    for r in reversed(rows):
        g = r["grad_y"] or {}
        z = g.get("zeros")
        lines.append(
            f"{r['index']:>3}  {r['name']:<{w}}  {n(r['norm_y']):>8}  "
            f"{n(g.get('max_abs')):>10}  {'-' if z is None else f'{100 * z:.1f}%':>6}  "
            f"{n(r['norm_x']):>8}  {n(r['norm_w']):>8}"
        )
    ws = [r for r in rows if r["norm_w"]]
    if len(ws) >= 2:
        lines.append(
            f"|dL/dw| of the first layer with weights ({ws[0]['name']}) / the last "
            f"({ws[-1]['name']}): {ws[0]['norm_w'] / ws[-1]['norm_w']:.3g}"
        )
    return lines


def neuron_gradients(trace, conn, loss):
    """dL/da of the ``--neuron`` neuron, and (Conv2D, Dense) dL/dw of the weight behind
    its largest contribution. Returns (GradExplanation, GradExplanation or None)."""
    from cnnsim.engine.backward import grad_of, weight_grad_of
    from cnnsim.engine.trace import TraceError

    try:
        g = grad_of(trace, conn.layer, conn.map, conn.row, conn.col, conn.sample, loss=loss)
    except TraceError as e:
        raise click.BadParameter(str(e), param_hint="--neuron") from None
    gw = None
    step = trace.step(conn.layer)
    if conn.products is not None and "w" in step.grad_params:
        idx = conn.cls.weight_of(conn, int(conn.ranked()[0]))
        if idx is not None:
            gw = weight_grad_of(trace, step, idx)
    return g, gw


def backward_json(loss, rows, g, gw, top):
    return {
        "label": loss.label,
        "loss": loss.value,
        "prediction": loss.prediction,
        "probabilities": loss.probabilities,
        "rule": loss.rule,
        "steps": [
            {k: r[k] for k in ("index", "name", "type", "norm_y", "norm_x", "norm_w")}
            | {"grad_y": r["grad_y"]}
            for r in rows
        ],
        "neuron": None if g is None else g.to_dict(top),
        "weight": None if gw is None else gw.to_dict(top),
    }


def backward_figures(trace, rows, g, gw):
    """(file name, make) pairs: per-step gradient maps (beside the feature maps), the
    gradient flow, the neuron's and the weight's gradient terms."""
    from cnnsim.plotting.gradflow import trace_gradflow_figure
    from cnnsim.plotting.maps import feature_maps_figure
    from cnnsim.plotting.neuron import gradient_figure

    figs = []
    for s in trace:
        if s.grad_y is not None:
            fname = f"grads_{s.index:03d}_{s.name.replace('/', '_')}.png"
            figs.append(
                (
                    fname,
                    lambda s=s: feature_maps_figure(
                        s.grad_y[0],
                        title=f"{s.name} ({s.kind}): dL/dy {tuple(s.output_shape)}",
                        cmap="coolwarm",
                        centered=True,
                    ),
                )
            )
    figs.append(
        (
            "gradflow.png",
            lambda: trace_gradflow_figure(
                rows, f"Gradient flow through {trace.model} (one sample): where gradients shrink"
            ),
        )
    )
    if g is not None:
        figs.append(("neuron_gradient.png", lambda: gradient_figure(g)))
    if gw is not None:
        figs.append(("weight_gradient.png", lambda: gradient_figure(gw)))
    return figs
