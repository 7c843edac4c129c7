"""What one neuron is connected to, and its output rebuilt from those parts.

    c = connections(trace, "C1", map=0, row=3, col=5, sample=0)
    c.rows, c.cols            input rows/columns read (unpadded coordinates; outside = padding)
    c.inputs, c.weights       (C', f_h, f_w) patch (padding cells hold 0) and kernel
    c.products, c.bias, c.sum, c.activation, c.output
    c.recorded                what the layer computed; c.ok: rebuilt == recorded (float tol.)

Everything is recomputed here in float64 from the recorded arrays, with NumPy, independently
of the Numba kernels, following the lecture's formulas:

* Conv2D      ``z = b[f] + sum_{c in table[f]} sum_{u,v} w[f,c,u,v] xp[c, i*s_h - p_t + u,
              j*s_w - p_l + v]``, ``y = act(z)``; ``sum`` is z.
* MaxPool2D   the window's real cells and the winner (first maximum, row-major); ``sum`` the max.
* AvgPool2D   the window's real cells and their mean (padding not counted); ``sum`` the mean.
* GlobalAvgPool  the whole map and its mean.
* LRN         the maps ``j = max(0, i - r//2) .. min(i + r//2, C - 1)`` at (row, col);
              ``sum`` is the normalizer ``s = k + alpha sum a_j^2``, ``y = a_i s^-beta``.
* Subsampling LeNet-5's S2/S4: ``act(coef * mean(window) + bias)``.
* RBF         LeNet-5's output ``y_k = sum_j (x_j - w_kj)^2``; products are the squares.
* Dense       every input with its weight ``w[:, j]``; products ``x_k w[k, j]``;
              ``ranked()`` orders them by |contribution|.
* Add         the two terms (main path, shortcut), ``sum = a + b``, ``y = act(sum)``.
* DepthConcat the branch the map came from (``branch``, ``source``, ``channel``).
* Flatten / Dropout (inference) / Activation / BatchNorm (inference): the input(s) and the
  function applied.

Vector layers (``(D,)`` outputs) take ``map`` = the unit and ``row = col = 0``.
"""
from dataclasses import dataclass, field

import numpy as np

from .trace import TraceError


def _act(name, z, all_z=None):
    """Activation in float64 (``all_z``: the whole vector, for softmax)."""
    if name in (None, "linear"):
        return z
    if name == "relu":
        return max(z, 0.0)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "tanh":
        return float(np.tanh(z))
    if name == "scaled_tanh":
        return 1.7159 * float(np.tanh(2.0 * z / 3.0))
    if name == "softmax":
        m = np.max(all_z)
        e = np.exp(all_z - m)
        return float(np.exp(z - m) / e.sum())
    raise TraceError(f"connections: unknown activation {name!r}")


@dataclass
class Connections:
    layer: str
    kind: str
    sample: int
    map: int
    row: int
    col: int
    recorded: float
    output: float = None
    rows: list = None
    cols: list = None
    channels: list = None            # input maps read
    inputs: np.ndarray = None        # (C', f_h, f_w) for conv, window (f_h, f_w) for pools
    padded: np.ndarray = None        # bool (f_h, f_w): True where the window is in padding
    weights: np.ndarray = None
    products: np.ndarray = None
    bias: float = None
    sum: float = None
    activation: str = None
    details: dict = field(default_factory=dict)
    scale: float = 1.0               # magnitude of what was summed (for the tolerance)
    dtype: str = "float32"

    @property
    def tolerance(self):
        eps = np.finfo(np.dtype(self.dtype)).eps
        return 64 * eps * (abs(self.scale) + abs(self.recorded) + 1e-3)

    @property
    def error(self):
        return abs(self.output - self.recorded)

    @property
    def ok(self):
        """The rebuilt output equals what the layer computed, to float tolerance."""
        return bool(self.error <= self.tolerance)

    def ranked(self):
        """Indices of the inputs by decreasing |product| (the biggest contributions first)."""
        if self.products is None:
            raise TraceError(f"connections: {self.kind} {self.layer!r} has no products to rank")
        p = np.abs(np.asarray(self.products).reshape(-1))
        return np.argsort(-p, kind="stable")

    def to_dict(self):
        def lst(a):
            return None if a is None else np.asarray(a, dtype=np.float64).tolist()
        return {"layer": self.layer, "map": self.map, "row": self.row, "col": self.col,
                "rows": self.rows, "cols": self.cols, "inputs": lst(self.inputs),
                "weights": lst(self.weights), "products": lst(self.products),
                "bias": self.bias, "sum": self.sum, "activation": self.activation,
                "output": self.output}


def neuron_ranges(shape):
    """``"map 0..5, row 0..27, col 0..27"`` for a step output shape (no batch)."""
    if len(shape) == 3:
        return f"map 0..{shape[0] - 1}, row 0..{shape[1] - 1}, col 0..{shape[2] - 1}"
    return f"map (unit) 0..{shape[0] - 1}, row 0, col 0"


def check_neuron(step, map, row, col, sample=0, batch=None):
    """One-line ValueError when (sample, map, row, col) is outside ``step``'s output."""
    shp = step.output_shape
    dims = (shp + (1, 1))[:3] if len(shp) == 1 else shp
    if len(shp) not in (1, 3):
        raise ValueError(f"layer {step.name!r}: neurons of an output of shape {shp} cannot "
                         f"be addressed as map:row:col")
    bad = [not (0 <= v < d) for v, d in zip((map, row, col), dims)]
    if any(bad):
        raise ValueError(f"neuron (map {map}, row {row}, col {col}) is outside layer "
                         f"{step.name!r} with output {shp}: valid {neuron_ranges(shp)}")
    if batch is not None and not 0 <= sample < batch:
        raise ValueError(f"sample {sample} is outside the batch of {batch}: valid 0..{batch - 1}")


def _at(a, sample, map, row, col):
    return a[sample, map] if a.ndim == 2 else a[sample, map, row, col]


def connections(trace, layer, map, row, col, sample=0):
    """The connections of output neuron ``(map, row, col)`` of ``layer`` for ``sample``."""
    step = trace.step(layer) if isinstance(layer, str) else layer
    check_neuron(step, map, row, col, sample, trace.batch)
    if not step.kept:
        raise TraceError(f"connections: layer {step.name!r} was recorded without its arrays "
                         f"(light mode); record it with keep=[{step.name!r}]")
    fn = _BY_KIND.get(step.kind)
    if fn is None:
        raise TraceError(f"connections: layer {step.name!r} of type {step.kind} is not "
                         f"supported; supported: {', '.join(sorted(_BY_KIND))}")
    y = step.y
    c = Connections(layer=step.name, kind=step.kind, sample=int(sample), map=int(map),
                    row=int(row), col=int(col), recorded=float(_at(y, sample, map, row, col)),
                    activation=step.activation, dtype=str(y.dtype))
    fn(step, c)
    return c


# ---- one function per layer type -------------------------------------------------------
def _window(step, c, xmap):
    """Fill rows/cols/padded and return the window of ``xmap (H, W)`` (padding = 0)."""
    (fh, fw), (sh, sw), (t, b, l, r) = (step.geometry[k] for k in ("kernel", "stride", "padding"))
    h, w = xmap.shape
    rows = list(range(c.row * sh - t, c.row * sh - t + fh))
    cols = list(range(c.col * sw - l, c.col * sw - l + fw))
    rin = np.array([0 <= i < h for i in rows])
    cin = np.array([0 <= j < w for j in cols])
    padded = ~(rin[:, None] & cin[None, :])
    win = np.zeros((fh, fw), dtype=np.float64)
    ri = [k for k, ok in enumerate(rin) if ok]
    ci = [k for k, ok in enumerate(cin) if ok]
    if ri and ci:
        win[np.ix_(ri, ci)] = xmap[rows[ri[0]]:rows[ri[-1]] + 1, cols[ci[0]]:cols[ci[-1]] + 1]
    c.rows, c.cols, c.padded = rows, cols, padded
    return win


def _conv(step, c):
    x = step.x[c.sample]
    w = step.params["w"]
    table = step.params.get("table")
    chans = [k for k in range(x.shape[0]) if table is None or table[c.map, k]]
    patch = np.stack([_window(step, c, x[k]) for k in chans]) if chans else \
        np.zeros((0,) + tuple(step.geometry["kernel"]))
    wk = w[c.map, chans].astype(np.float64)
    prod = patch * wk
    bias = float(step.params["b"][c.map]) if "b" in step.params else 0.0
    z = float(prod.sum()) + bias
    c.channels, c.inputs, c.weights, c.products, c.bias, c.sum = chans, patch, wk, prod, bias, z
    if step.activation == "softmax":
        raise TraceError(f"connections: softmax fused into a convolution ({step.name!r}) is "
                         f"not supported")
    c.output = _act(step.activation, z)
    c.scale = float(np.abs(prod).sum() + abs(bias))


def _pool(step, c):
    xmap = step.x[c.sample, c.map].astype(np.float64)
    win = _window(step, c, xmap)
    real = ~c.padded
    c.channels, c.inputs = [c.map], win
    vals = win[real]
    if vals.size == 0:
        c.sum = c.output = 0.0
        c.details["empty"] = True
        return
    if step.kind == "MaxPool2D":
        masked = np.where(real, win, -np.inf)
        k = int(np.argmax(masked))            # first maximum in row-major order
        u, v = divmod(k, win.shape[1])
        c.details["winner"] = (c.rows[u], c.cols[v])
        c.details["winner_offset"] = (u, v)
        c.details["dropped"] = int(vals.size - 1)
        c.sum = c.output = float(masked.flat[k])
    else:
        c.details["count"] = int(vals.size)
        c.sum = c.output = float(vals.sum() / vals.size)
    c.scale = float(np.abs(vals).sum())


def _subsampling(step, c):
    """LeNet-5's S2/S4: ``y = act(coef[c] * mean(window) + bias[c])``."""
    xmap = step.x[c.sample, c.map].astype(np.float64)
    win = _window(step, c, xmap)
    vals = win[~c.padded]
    mean = float(vals.sum() / vals.size)
    coef, bias = float(step.params["coef"][c.map]), float(step.params["bias"][c.map])
    c.channels, c.inputs, c.weights, c.bias = [c.map], win, np.array([coef]), bias
    c.products = np.array([coef * mean])
    c.sum = coef * mean + bias
    c.details.update(mean=mean, coef=coef, count=int(vals.size))
    c.output = _act(step.activation, c.sum)
    c.scale = float(abs(coef) * np.abs(vals).mean() + abs(bias))


def _rbf(step, c):
    """LeNet-5's output: ``y_k = sum_j (x_j - w[k, j])^2`` (a penalty: the class is argmin)."""
    x = step.x[c.sample].astype(np.float64)
    w = step.params["w"][c.map].astype(np.float64)
    d = x - w
    c.inputs, c.weights, c.products = x, w, d * d
    c.sum = c.output = float((d * d).sum())
    c.activation = None
    c.scale = c.output


def _gap(step, c):
    xmap = step.x[c.sample, c.map].astype(np.float64)
    c.channels, c.inputs = [c.map], xmap
    c.rows, c.cols = list(range(xmap.shape[0])), list(range(xmap.shape[1]))
    c.sum = c.output = float(xmap.mean())
    c.details["count"] = int(xmap.size)
    c.scale = float(np.abs(xmap).sum())


def _lrn(step, c):
    f = step.facts
    r, k, alpha, beta = f["r"], f["k"], f["alpha"], f["beta"]
    x = step.x[c.sample, :, c.row, c.col].astype(np.float64)
    lo, hi = max(0, c.map - r // 2), min(c.map + r // 2, x.shape[0] - 1)
    chans = list(range(lo, hi + 1))
    a = x[chans]
    s = k + alpha * float((a * a).sum())
    c.channels, c.inputs, c.rows, c.cols = chans, a, [c.row], [c.col]
    c.sum = s
    c.details.update(normalizer=s, formula="b_i = a_i (k + alpha sum a_j^2)^(-beta)",
                     r=r, k=k, alpha=alpha, beta=beta, a=float(x[c.map]))
    c.output = float(x[c.map] * s ** (-beta))
    c.scale = abs(c.output)


def _dense(step, c):
    x = step.x[c.sample].astype(np.float64)
    w = step.params["w"].astype(np.float64)
    b = step.params["b"].astype(np.float64) if "b" in step.params else np.zeros(w.shape[1])
    prod = x * w[:, c.map]
    z = float(prod.sum() + b[c.map])
    c.inputs, c.weights, c.products, c.bias, c.sum = x, w[:, c.map], prod, float(b[c.map]), z
    all_z = x @ w + b if step.activation == "softmax" else None
    c.output = _act(step.activation, z, all_z)
    c.scale = float(np.abs(prod).sum() + abs(b[c.map]))


def _add(step, c):
    a = float(_at(step.x[0], c.sample, c.map, c.row, c.col))
    b = float(_at(step.x[1], c.sample, c.map, c.row, c.col))
    c.inputs = np.array([a, b])
    c.rows, c.cols, c.channels = [c.row], [c.col], [c.map]
    c.sum = a + b
    c.details["terms"] = {"main": a, "shortcut": b}
    c.details["sources"] = step.sources
    c.output = _act(step.activation, c.sum)
    c.scale = abs(a) + abs(b)


def _concat(step, c):
    start = 0
    for k, shp in enumerate(step.input_shape):
        if c.map < start + shp[0]:
            break
        start += shp[0]
    ch = c.map - start
    v = float(_at(step.x[k], c.sample, ch, c.row, c.col))
    c.inputs = np.array([v])
    c.rows, c.cols, c.channels = [c.row], [c.col], [ch]
    c.details.update(branch=k, channel=ch, source=step.sources[k])
    c.sum = c.output = v
    c.scale = abs(v)


def _flatten(step, c):
    shp = step.input_shape
    idx = np.unravel_index(c.map, shp)
    v = float(step.x[(c.sample,) + tuple(int(i) for i in idx)])
    c.inputs = np.array([v])
    c.details["input_index"] = tuple(int(i) for i in idx)
    if len(shp) == 3:
        c.channels, c.rows, c.cols = [int(idx[0])], [int(idx[1])], [int(idx[2])]
    c.sum = c.output = v
    c.scale = abs(v)


def _elementwise(step, c):
    x = step.x
    v = float(_at(x, c.sample, c.map, c.row, c.col))
    c.inputs = np.array([v])
    c.channels = [c.map]
    if x.ndim == 4:
        c.rows, c.cols = [c.row], [c.col]
    c.sum = v
    if step.kind == "Dropout":
        c.output = v          # inference: the identity
    elif step.kind == "BatchNorm":
        p = step.params
        eps = step.facts.get("eps", 1e-5)
        mean, var = float(p["running_mean"][c.map]), float(p["running_var"][c.map])
        g, bt = float(p["gamma"][c.map]), float(p["beta"][c.map])
        c.details.update(mean=mean, var=var, gamma=g, beta=bt, eps=eps)
        c.output = g * (v - mean) / np.sqrt(var + eps) + bt
    else:
        all_z = x[c.sample].astype(np.float64) if step.activation == "softmax" else None
        c.output = _act(step.activation, v, all_z)
    c.scale = abs(v) + abs(c.output)


_BY_KIND = {"Conv2D": _conv, "MaxPool2D": _pool, "AvgPool2D": _pool, "GlobalAvgPool": _gap,
            "LRN": _lrn, "Dense": _dense, "Add": _add, "DepthConcat": _concat,
            "Flatten": _flatten, "Dropout": _elementwise, "BatchNorm": _elementwise,
            "Activation": _elementwise, "Subsampling": _subsampling, "RBF": _rbf}
