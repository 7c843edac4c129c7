"""Helpers the layer classes use to explain one neuron and to route receptive fields.

A layer class answers, from a recorded step (``cnnsim.engine.trace.Step``: ``x``, ``y``,
``params``, ``geometry``, ``facts``, ``input_shape``, ``output_shape``; or, for the
summary, the same facts taken from a built layer without running it):

* ``explain(step, c)``: fill ``c`` (a ``cnnsim.engine.connections.Connections``) with the
  inputs neuron ``(c.map, c.row, c.col)`` reads, its weights, products, sum and output,
  recomputed in float64 with NumPy, independently of the kernels;
* ``input_maps(step, maps, k)``: which maps of input ``k`` the output ``maps`` read;
* ``field``: what the layer does to a receptive field ("window", "keep", "global",
  "flatten").

Everything here is NumPy on arrays; the window rule is ``cnnsim.geometry.window_span``.
"""

import numpy as np

from .. import geometry

ALL = "all"  # every map / the whole input


class ExplainError(ValueError):
    """A neuron a layer cannot explain (re-raised by the engine as a TraceError)."""


def act64(name, z, all_z=None):
    """The activation ``name`` at ``z`` in float64 (``all_z``: the whole vector, softmax)."""
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
    raise ExplainError(f"connections: unknown activation {name!r}")


def window_patch(step, c, xmap):
    """Fill ``c.rows``/``c.cols``/``c.padded`` for neuron ``(c.row, c.col)`` of a window
    layer and return the window of ``xmap (H, W)`` in float64 (padding cells hold 0)."""
    (fh, fw), (sh, sw), (t, b, l, r) = (step.geometry[k] for k in ("kernel", "stride", "padding"))
    h, w = xmap.shape
    r0, r1 = geometry.window_span(c.row, c.row, fh, sh, t)
    c0, c1 = geometry.window_span(c.col, c.col, fw, sw, l)
    rows, cols = list(range(r0, r1 + 1)), list(range(c0, c1 + 1))
    rin = np.array([0 <= i < h for i in rows])
    cin = np.array([0 <= j < w for j in cols])
    padded = ~(rin[:, None] & cin[None, :])
    win = np.zeros((fh, fw), dtype=np.float64)
    ri = [k for k, ok in enumerate(rin) if ok]
    ci = [k for k, ok in enumerate(cin) if ok]
    if ri and ci:
        win[np.ix_(ri, ci)] = xmap[rows[ri[0]] : rows[ri[-1]] + 1, cols[ci[0]] : cols[ci[-1]] + 1]
    c.rows, c.cols, c.padded = rows, cols, padded
    return win


def at(a, sample, map, row, col):
    """One neuron of ``a`` ((N, D) vectors: ``row``/``col`` ignored)."""
    return a[sample, map] if a.ndim == 2 else a[sample, map, row, col]


def explain_elementwise(step, c, fn):
    """Neurons that read the same position of their input: ``c.output = fn(v)``."""
    x = step.x
    v = float(at(x, c.sample, c.map, c.row, c.col))
    c.inputs = np.array([v])
    c.channels = [c.map]
    if x.ndim == 4:
        c.rows, c.cols = [c.row], [c.col]
    c.sum = v
    c.output = fn(v)
    c.scale = abs(v) + abs(c.output)


# ---- backward: one neuron's gradient, term by term ---------------------------------------
def act_slope64(name, y):
    """``act'(z)`` in float64 from the *output* ``y = act(z)`` (every activation but softmax
    has its derivative in terms of y: ReLU 1[y > 0], sigmoid y(1 - y), tanh 1 - y^2,
    scaled tanh A (2/3) (1 - (y/A)^2))."""
    y = np.asarray(y, dtype=np.float64)
    if name in (None, "linear"):
        return np.ones_like(y)
    if name == "relu":
        return (y > 0).astype(np.float64)
    if name == "sigmoid":
        return y * (1.0 - y)
    if name == "tanh":
        return 1.0 - y * y
    if name == "scaled_tanh":
        a = 1.7159
        return a * (2.0 / 3.0) * (1.0 - (y / a) ** 2)
    raise ExplainError(f"gradient: no slope for activation {name!r}")


def dz_of(step, sample):
    """``dL/dz`` of ``step``'s neurons for ``sample``: its recorded ``dL/dy`` through the
    derivative of its own activation (softmax: ``dz = y (dy - sum(dy y))``)."""
    dy = np.asarray(step.grad_y[sample], dtype=np.float64)
    y = np.asarray(step.y[sample], dtype=np.float64)
    if step.activation == "softmax":
        return y * (dy - (dy * y).sum())
    return dy * act_slope64(step.activation, y)


def term(reader, weight, upstream, note=""):
    """One term of a gradient sum: ``weight * upstream``; ``reader`` names the neuron that
    reads the input, ``weight`` its local derivative, ``upstream`` its dL/dz."""
    return {
        "reader": reader,
        "weight": float(weight),
        "upstream": float(upstream),
        "product": float(weight) * float(upstream) + 0.0,
        "note": note,
    }  # + 0.0: no -0


def same_position_terms(step, k, sample, pos, slope=1.0, note="copied"):
    """Terms of a layer whose output neuron at ``pos`` reads only input ``pos``."""
    dz = dz_of(step, sample)
    return [term(f"{step.name} {fmt_pos(pos)}", slope, dz[tuple(pos)], note)]


def fmt_pos(pos):
    """``(2, 3, 4)`` -> ``"map 2 (3,4)"``; ``(7,)`` -> ``"unit 7"``."""
    return f"map {pos[0]} ({pos[1]},{pos[2]})" if len(pos) == 3 else f"unit {pos[0]}"


def window_readers(step, i, j):
    """Output positions ``(oi, oj, u, v)`` whose window reads input row ``i``, col ``j``
    at window offset ``(u, v)``: ``oi * s_h - p_t + u = i`` (the flipped-kernel view)."""
    (fh, fw), (sh, sw), (t, _, l, _) = (step.geometry[k] for k in ("kernel", "stride", "padding"))
    ho, wo = step.output_shape[1:]
    out = []
    for u in range(fh):
        a = i + t - u
        if a % sh or not 0 <= a // sh < ho:
            continue
        for v in range(fw):
            b = j + l - v
            if b % sw or not 0 <= b // sw < wo:
                continue
            out.append((a // sh, b // sw, u, v))
    return out
