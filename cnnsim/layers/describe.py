"""Text helpers the layer classes use to lay out one neuron's explanation.

Each layer class answers ``describe(c, top=10)``: the lines (no header, no final check
line) that explain neuron ``c`` (a ``cnnsim.engine.connections.Connections`` filled by
``explain``) in the lecture's words, with the numbers in the formula. The engine adds the
header ("neuron C1 (Conv2D) map 0, row 3, col 5") and the check ("equals the recorded
value within 2e-7").
"""

import numpy as np


def num(v, width=0):
    """A number as a student reads it: 4 significant digits, no '-0'."""
    v = float(v)
    if v == 0:
        v = 0.0
    s = f"{v:.4g}"
    return f"{s:>{width}}" if width else s


def short(v, width=6):
    """A number in at most ``width`` characters (2 significant digits, else 1e-04 style)."""
    v = float(v) + 0.0
    s = f"{v:.2g}"
    return s if len(s) <= width else f"{v:.0e}"


def grid(a, mark=None, padded=None, width=6):
    """Lines of a 2-D array; ``padded`` cells print as ``pad``, the ``mark`` cell (u, v)
    in [brackets]."""
    a = np.asarray(a, dtype=np.float64)
    lines = []
    for u in range(a.shape[0]):
        cells = []
        for v in range(a.shape[1]):
            if padded is not None and padded[u, v]:
                s = "pad"
            else:
                s = short(a[u, v])  # short: grids side by side fit 80 columns
            if mark is not None and (u, v) == tuple(mark):
                s = f"[{s}]"
            cells.append(f"{s:>{width}}")
        lines.append(" ".join(cells))
    return lines


def side_by_side(blocks, width, indent="    ", sep=" | "):
    """Blocks of lines (each a list of equal-width lines: a title, then a grid) next to each
    other while they fit ``width``, wrapping to a new band below when they do not."""
    out, band = [], []

    def flush():
        h = max(len(b) for b in band)
        for r in range(h):
            out.append(
                (indent + sep.join(b[r] if r < len(b) else " " * len(b[0]) for b in band)).rstrip()
            )

    for b in blocks:
        w = max(len(line) for line in b)
        b = [line.ljust(w) for line in b]
        need = len(indent) + sum(len(x[0]) + len(sep) for x in band) + w
        if band and need > width:
            flush()
            band = []
        band.append(b)
    if band:
        flush()
    return out


def source(c, k=0):
    """Name of the layer feeding input ``k`` of ``c``'s layer ("the input image" for -1)."""
    names = getattr(c, "sources", None) or []
    return names[k] if k < len(names) else "its input"


def act_line(c, z):
    """``act(z) = y`` for the neuron's activation (or 'no activation')."""
    if c.activation in (None, "linear"):
        return [f"  no activation: output = {num(z)}"]
    return [f"  activation {c.activation}({num(z)}) = {num(c.output)}"]


def ranges(chans):
    """``"0..5"`` or ``"0,3,4"``."""
    chans = list(chans)
    if not chans:
        return "none"
    if chans == list(range(chans[0], chans[-1] + 1)):
        return f"{chans[0]}..{chans[-1]}" if len(chans) > 1 else f"{chans[0]}"
    return ",".join(map(str, chans))


def top_products(c, names, top=10, label="input"):
    """The ``top`` largest |x * w| products of a vector neuron, the rest summed in one
    line. ``names(i)``: what input i is called."""
    order = c.ranked()
    n = len(order)
    shown = order if top is None else order[:top]
    lines = [
        f"  {n} inputs; {'all' if len(shown) == n else f'the {len(shown)} largest'} "
        f"contributions by |x * w| ({label}: x * w = product):"
    ]
    for i in shown:
        lines.append(
            f"    {names(int(i)):>22}: {num(c.inputs[i], 9)} * {num(c.weights[i], 9)} = "
            f"{num(c.products[i], 9)}"
        )
    rest = order[len(shown) :]
    if len(rest):
        lines.append(
            f"    {f'the other {len(rest)}':>22}: sum {num(np.asarray(c.products)[rest].sum())}"
            f"  (--all lists them)"
        )
    return lines
