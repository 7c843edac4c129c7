"""The backward pass neuron by neuron, rebuilt from a recorded trace.

    loss = backward(stepper_or_trace, net, label=3)    # loss for the label, then the
                                                       # kernels' backward, recorded
    g = grad_of(trace, "C3", map=2, row=4, col=4)      # one neuron's dL/da, term by term
    g.value, g.terms, g.rebuilt, g.ok
    gw = weight_grad_of(trace, "C1", (0, 0, 2, 2))     # one weight's dL/dw

The chain rule for one neuron ``a`` of layer S (its output, after S's activation):

    dL/da = sum over every neuron o that reads a (in the layers reading S) of
            (o's local derivative with respect to a) x dL/dz_o

Each layer class gives its terms (``Layer.grad_terms``: conv = the gradient map read
through the *flipped* kernel, max pooling = only the winner receives it, LRN = its own map
and the normaliser's neighbours, add = copied to both paths, concat = routed back to its
branch, dense = ``w[a, j] dL/dz_j``). Everything is recomputed in float64 with NumPy from
the recorded arrays and compared with what the kernels' backward wrote (``Step.grad_y`` of
S, i.e. the sum of the readers' ``grad_x``).

    dL/dw[f,c,u,v] = sum over samples and output positions of input x dL/dz
"""

from dataclasses import dataclass, field

import numpy as np

from ..layers.explain import ExplainError
from .connections import check_neuron
from .trace import TraceError

EPS32 = float(np.finfo(np.float32).eps)


@dataclass
class Loss:
    label: int
    value: float  # cross-entropy -log p[label]
    probabilities: list  # softmax of the scores
    prediction: int
    rule: str  # how the scores were turned into probabilities
    dy: np.ndarray  # dL/d(network output), (1, K)


def loss_for(trace, label):
    """Softmax cross-entropy of the trace's (main) output for ``label`` and its gradient
    with respect to the output. One-line ValueError when the output is not a vector of
    class scores or the label is outside the classes."""
    y = trace.output[0] if isinstance(trace.output, list) else trace.output
    last = trace.steps[-1]
    if y is None or np.ndim(y) != 2 or y.shape[1] < 2:
        shp = None if y is None else tuple(np.shape(y)[1:])
        raise ValueError(
            f"--backward: {trace.model!r} ends in {last.name!r} ({last.kind}) "
            f"with output {shp}, not a vector of class scores: there is no "
            f"classification loss to differentiate"
        )
    k = y.shape[1]
    if not 0 <= label < k:
        raise ValueError(
            f"--label: class {label} is outside the {k} classes of "
            f"{trace.model!r}: valid 0..{k - 1}"
        )
    y = np.asarray(y[:1], dtype=np.float64)
    onehot = np.zeros_like(y)
    onehot[0, label] = 1.0
    if last.cls.penalty_output:  # RBF: penalties, logits = -y
        z = -y
        p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        dy, rule = -(p - onehot), "softmax of the negative RBF penalties"
    elif last.activation == "softmax":  # probabilities already
        p = y
        dy = np.zeros_like(y)
        dy[0, label] = -1.0 / max(p[0, label], 1e-300)
        rule = "the softmax output"
    else:
        p = np.exp(y - y.max()) / np.exp(y - y.max()).sum()
        dy, rule = p - onehot, "softmax of the output scores"
    dtype = np.asarray(
        trace.output if not isinstance(trace.output, list) else trace.output[0]
    ).dtype
    return Loss(
        label=int(label),
        value=float(-np.log(max(p[0, label], 1e-300))),
        probabilities=p[0].tolist(),
        prediction=int(np.argmax(p[0])),
        rule=rule,
        dy=dy.astype(dtype),
    )


def backward(trace, net, label):
    """Loss for ``label`` (sample 0), then the kernels' backward through ``net`` recorded
    into ``trace`` (``Trace.record_backward``). Returns the ``Loss``."""
    if trace.batch != 1:
        raise ValueError(f"--backward explains one sample; this trace has a batch of {trace.batch}")
    loss = loss_for(trace, label)
    trace.record_backward(net, loss.dy)
    return loss


@dataclass
class GradExplanation:
    """``value`` (the kernels' dL/da) and the ``terms`` that rebuild it."""

    layer: str
    what: str  # "neuron map 2 (4,4)" or "weight w[0,0,2,2]"
    value: float  # what the kernels' backward computed
    terms: list = field(default_factory=list)  # dicts: reader, weight, upstream, product, note
    readers: list = field(default_factory=list)  # per reading layer: name, sum, kernel value
    note: str = ""
    floor: float = 1e-30  # absolute tolerance: float32 noise of the readers' gradients

    @property
    def rebuilt(self):
        return float(sum(t["product"] for t in self.terms))

    @property
    def scale(self):
        return float(sum(abs(t["product"]) for t in self.terms))

    @property
    def tolerance(self):
        return 64 * EPS32 * (self.scale + abs(self.value)) + self.floor

    @property
    def ok(self):
        return bool(abs(self.rebuilt - self.value) <= self.tolerance)

    def ranked(self):
        return sorted(range(len(self.terms)), key=lambda i: -abs(self.terms[i]["product"]))

    def to_dict(self, top=10):
        return {
            "layer": self.layer,
            "what": self.what,
            "value": self.value,
            "rebuilt": self.rebuilt,
            "equal": self.ok,
            "tolerance": self.tolerance,
            "terms": self.terms,
            "readers": self.readers,
            "note": self.note,
            "text": self.lines(top),
        }

    def lines(self, top=10, width=100):
        """Text: the sum term by term (largest first, ``top`` shown, the rest summed); a
        term's note is left out where it would pass ``width``."""
        out = [f"gradient of {self.layer} {self.what}: {self.note}".rstrip(": ")]
        for r in self.readers:
            out.append(
                f"  read by {r['name']} ({r['kind']}): {r['count']} term{'s' * (r['count'] != 1)}, sum "
                f"{r['sum']:.6g}; its kernel's dL/dx here {r['kernel']:.6g}"
            )
        order = self.ranked()
        shown = order if top is None else order[:top]
        if self.terms:
            how = (
                "output position: input x its dL/dz = term"
                if self.what.startswith("weight")
                else "reader: its weight on this neuron x its dL/dz = term"
            )
            out.append(
                f"  {'all' if len(shown) == len(order) else f'the {len(shown)} largest of'}"
                f" {len(order)} term{'s' if len(order) != 1 else ''} ({how}):"
            )
        for i in shown:
            t = self.terms[i]
            line = (
                f"    {t['reader']:>28}: {t['weight']:10.4g} x {t['upstream']:10.4g} = "
                f"{t['product']:10.4g}"
            )
            note = f"  [{t['note']}]" if t["note"] else ""
            out.append(line + note if len(line + note) <= width else line)
        rest = order[len(shown) :]
        if rest:
            out.append(
                f"    {f'the other {len(rest)}':>28}: sum "
                f"{sum(self.terms[i]['product'] for i in rest):.6g} (--all lists them)"
            )
        out.append(
            f"  sum of terms {self.rebuilt:.7g} {'equals' if self.ok else 'DIFFERS from'}"
            f" the kernels' backward {self.value:.7g} within {self.tolerance:.1g}"
        )
        return out


def _need_grads(step):
    if step.grad_y is None:
        raise TraceError(
            f"gradient: layer {step.name!r} has no recorded gradient; run the "
            f"backward pass first (Trace.record_backward / --backward)"
        )


def grad_of(trace, layer, map, row, col, sample=0, loss=None):
    """dL/da of output neuron ``(map, row, col)`` of ``layer``, rebuilt term by term from
    every neuron that reads it (see the module docstring)."""
    step = trace.step(layer) if isinstance(layer, str) else layer
    check_neuron(step, map, row, col, sample, trace.batch)
    _need_grads(step)
    pos = (map,) if len(step.output_shape) == 1 else (map, row, col)
    value = float(step.grad_y[(sample,) + pos])
    what = f"neuron {'unit ' + str(map) if len(pos) == 1 else f'map {map} ({row},{col})'}"
    g = GradExplanation(layer=step.name, what=what, value=value)
    readers = [(t, k) for t in trace.steps for k, s in enumerate(t.sources) if s == step.index]
    if not readers:
        if loss is None:
            raise TraceError(
                f"gradient: {step.name!r} is the network's output; its gradient comes from the loss"
            )
        p = loss.probabilities[map]
        g.note = f"the output: dL/dy from the loss ({loss.rule}, label {loss.label})"
        g.terms = [
            {
                "reader": "the loss",
                "weight": 1.0,
                "upstream": float(loss.dy[0][map]),
                "product": float(loss.dy[0][map]),
                "note": f"p = {p:.4g}" + (" - 1 (the label)" if map == loss.label else ""),
            }
        ]
        return g
    g.note = "dL/da = sum over the neurons that read it of (their weight on it) x (their dL/dz)"
    for t, k in readers:
        _need_grads(t)
        try:
            terms = t.cls.grad_terms(t, k, sample, pos)
        except ExplainError as e:
            raise TraceError(str(e)) from None
        gx = t.grad_x[k] if t.merge else t.grad_x
        # float32 kernels leave noise of about eps x the largest gradient they handled
        g.floor = max(g.floor, 16 * EPS32 * float(np.abs(t.grad_y).max()))
        g.readers.append(
            {
                "name": t.name,
                "kind": t.kind,
                "input": k,
                "count": len(terms),
                "sum": float(sum(x["product"] for x in terms)),
                "kernel": float(gx[(sample,) + pos]),
            }
        )
        g.terms += terms
    return g


def weight_grad_of(trace, layer, index):
    """dL/dw of one weight of a Conv2D / Dense step: the sum over output positions (and
    samples) of input x dL/dz, compared with the kernels' ``grad_params["w"]``."""
    step = trace.step(layer) if isinstance(layer, str) else layer
    _need_grads(step)
    fn = getattr(step.cls, "weight_grad_terms", None)
    if fn is None or "w" not in step.grad_params:
        raise TraceError(
            f"gradient: layer {step.name!r} ({step.kind}) has no trainable weights w to explain"
        )
    w = step.grad_params["w"]
    index = tuple(int(i) for i in index)
    if len(index) != w.ndim or any(not 0 <= i < n for i, n in zip(index, w.shape)):
        raise TraceError(
            f"gradient: weight {index} is outside w of {step.name!r} with shape {tuple(w.shape)}"
        )
    g = GradExplanation(
        layer=step.name,
        what=f"weight w[{','.join(map(str, index))}]",
        value=float(w[index]),
        terms=fn(step, index),
        note="dL/dw = sum over output positions of input x dL/dz",
    )
    if not g.terms:
        g.note = "no output reads through this weight (outside the connection table): dL/dw = 0"
    return g


def grad_table(trace):
    """Per-step gradient statistics (after a recorded backward): rows of dicts with the
    step's name, kind, ||dL/dy||, ||dL/dx|| and ||dL/dw|| (None where absent)."""
    rows = []
    for s in trace.steps:
        gs = s.grad_stats or {}

        def norm(d):
            if d is None:
                return None
            if isinstance(d, list):
                return float(np.sqrt(sum(x["norm"] ** 2 for x in d)))
            return d.get("norm")

        rows.append(
            {
                "index": s.index,
                "name": s.name,
                "type": s.kind,
                "grad_y": gs.get("y"),
                "norm_y": norm(gs.get("y")),
                "norm_x": norm(gs.get("x")),
                "norm_w": norm(gs.get("w")),
            }
        )
    return rows
