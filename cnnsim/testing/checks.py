"""Check a student's own layer functions against cnnsim's, with a diff a student can act on.

    from cnnsim.testing import check_conv2d
    report = check_conv2d(my_conv2d)        # my_conv2d(x, w, b, stride, padding)
    print(report)                           # which cases fail, where, and the likely mistake
    assert report.ok, report

Each ``check_*`` runs the student's function on the lecture's hand-worked cases and on a few
random ones (seeded), compares with cnnsim's own function (``cnnsim.functional``, float64)
and returns a ``CheckReport``. For every failing case it lists:

* the output positions that differ, expected vs got, and the input window that position
  reads (rows/columns from ``cnnsim.geometry.window``; cells outside the input are marked
  as zero padding), or for LRN the maps summed over;
* a **symptom**: where the differences are (only windows touching the padding, only the
  last row/column, everywhere), and, when the student's output equals a known mistake
  exactly, which one (padding forgotten, stride off by one, kernel flipped = true
  convolution, padded cells counted in an average, ...).

The student function is called positionally, with cnnsim's argument order:

====================  =============================================  ==================
checker               student function                               returns
====================  =============================================  ==================
check_conv2d          ``fn(x, w, b, stride, padding)``               ``y``
check_conv2d_backward ``fn(dy, x, w, stride, padding)``              ``(dx, dw, db)``
check_max_pool2d      ``fn(x, size, stride, padding)``               ``y``
check_avg_pool2d      ``fn(x, size, stride, padding)``               ``y``
check_lrn             ``fn(x, r, k, alpha, beta)``                   ``y``
check_output_size     ``fn(n, f, s, padding)``                       ``int``
====================  =============================================  ==================

Inputs are float64 NumPy arrays in NCHW layout; ``stride`` is an int, or an ``(s_h, s_w)``
pair for rectangular cases; ``padding`` is ``"valid"``, ``"same"`` or an int (pooling
cases also use ``stride=None``, meaning stride = size). To check a function that supports
less, pick the cases: ``check_conv2d(fn, cases=[c for c in conv2d_cases() if
c.params["padding"] != "same"])``.
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

from ..typing import Padding
from dataclasses import dataclass, field

import numpy as np

from .. import functional as F, geometry
from . import naive

RTOL, ATOL = 1e-4, 1e-5


# ---- cases and reports -------------------------------------------------------------------
@dataclass
class Case:
    """One call of the function under test: ``arrays`` (by name) and ``params``."""
    name: str
    arrays: dict
    params: dict

    def describe(self):
        if not self.arrays and not self.params:
            return self.name
        shapes = ", ".join(f"{k} {'x'.join(map(str, v.shape))}" for k, v in self.arrays.items()
                           if v is not None)
        opts = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{self.name}: {shapes}; {opts}"


@dataclass
class CaseResult:
    case: Case
    status: str                   # "ok", "FAIL" or "ERROR" (the function raised)
    lines: list = field(default_factory=list)     # the diff, already worded
    mistake: Optional[str] = None           # the known mistake the output matches exactly, if any

    @property
    def ok(self):
        return self.status == "ok"


@dataclass
class CheckReport:
    """What ``check_*`` returns: truthy when every case passed; ``str()`` is the diff."""
    function: str
    results: list = field(default_factory=list)

    @property
    def ok(self):
        return bool(self.results) and all(r.ok for r in self.results)

    @property
    def failures(self):
        return [r for r in self.results if not r.ok]

    @property
    def mistakes(self):
        """The known mistakes recognised in the failing cases (empty if none matched)."""
        seen = []
        for r in self.failures:
            if r.mistake and r.mistake not in seen:
                seen.append(r.mistake)
        return seen

    def __bool__(self):
        return self.ok

    def __str__(self):
        n, bad = len(self.results), len(self.failures)
        head = (f"{self.function}: all {n} cases passed" if self.ok else
                f"{self.function}: {bad} of {n} cases FAILED")
        out = [head]
        for r in self.results:
            out.append(f"  {r.status:5s} {r.case.describe()}")
            out += [f"        {line}" for line in r.lines]
        return "\n".join(out)

    def _repr_html_(self):
        from html import escape
        color = "#1a7f37" if self.ok else "#cf222e"
        return (f"<pre style='border-left: 4px solid {color}; padding-left: 8px'>"
                f"{escape(str(self))}</pre>")


# ---- comparing -------------------------------------------------------------------------
def _as_array(v, what):
    try:
        a = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{what} is not an array of numbers (got {type(v).__name__})") from None
    return a


def _fmt(v):
    return f"{v:.6g}"


def _same(a, b, rtol=RTOL, atol=ATOL):
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))


def _match_mistake(got, hypotheses):
    """The first hypothesis (symptom text, candidate array or callable) equal to ``got``."""
    for text, make in hypotheses:
        try:
            cand = make() if callable(make) else make
        except Exception:  # noqa: BLE001 - a hypothesis that cannot even run is not it
            continue
        if cand is not None and _same(got, np.asarray(cand, dtype=np.float64)):
            return text
    return None


def _shape_lines(name, expected, got, hypotheses, extra=None):
    lines = [f"{name} has shape {got.shape}, expected {expected.shape}"]
    if extra:
        lines.append(extra)
    mistake = _match_mistake(got, hypotheses)
    if mistake is None:
        for text, make in hypotheses:       # same shape as a known mistake, other values
            try:
                cand = make() if callable(make) else make
            except Exception:  # noqa: BLE001
                continue
            if cand is None:            # a hypothesis that does not apply to this case
                continue
            if np.asarray(cand).shape == got.shape:
                lines.append(f"the shape is what you get if {text}")
                break
    else:
        lines.append(f"likely mistake: {mistake}")
    return lines, mistake


def _compare(name, expected, got, hypotheses, locate, pattern, max_positions, rtol, atol):
    """Lines describing how ``got`` differs from ``expected`` (empty when equal)."""
    if got.shape != expected.shape:
        extra = None
        if got.ndim == expected.ndim and got.shape[:-2] == expected.shape[:-2] and \
                got.shape[-2:] == tuple(s - 1 for s in expected.shape[-2:]) and \
                _same(got, expected[..., :-1, :-1], rtol, atol):
            extra = ("your output is cnnsim's without its last row and column: the output "
                     "size is floor((n + p_before + p_after - f) / s) + 1 (off by one: "
                     "did you forget the + 1, or stop the loop one window early?)")
            return _shape_lines(name, expected, got, [], extra)[0], \
                "output size off by one (forgot the + 1)"
        if got.ndim == 4 == expected.ndim and got.transpose(0, 3, 1, 2).shape == expected.shape:
            mistake = (f"{name} is in NHWC layout (N, H, W, C: channels last); cnnsim uses "
                       f"NCHW, {name}[n, c, i, j]: index it that way, or return "
                       f"np.transpose({name}, (0, 3, 1, 2))")
            lines = [f"{name} has shape {got.shape}, expected {expected.shape}"]
            if _same(got.transpose(0, 3, 1, 2), expected, rtol, atol):
                return lines + [f"likely mistake: {mistake}"], mistake
            return lines + [f"the shape is NHWC (channels last); the values also differ "
                            f"once transposed to NCHW"], None
        return _shape_lines(name, expected, got, hypotheses, extra)
    bad = ~np.isclose(got, expected, rtol=rtol, atol=atol, equal_nan=True)
    if not bad.any():
        return [], None
    pos = [tuple(int(t) for t in p) for p in np.argwhere(bad)]
    diff = np.abs(np.nan_to_num(got - expected, nan=np.inf))
    lines = [f"{name}: {len(pos)} of {bad.size} values differ (max |got - expected| "
             f"{_fmt(float(diff[bad].max()))})"]
    if pattern is not None:
        sym = pattern(pos)
        if sym:
            lines.append(f"symptom: {sym}")
    mistake = _match_mistake(got, hypotheses)
    if mistake:
        lines.append(f"likely mistake: {mistake}")
    order = pos[:max_positions]            # the first ones, in row-major order
    for p in order:
        where = locate(p) if locate else ""
        lines.append(f"{name}[{', '.join(map(str, p))}]: expected {_fmt(expected[p])}, got "
                     f"{_fmt(got[p])}" + (f"; {where}" if where else ""))
    if len(pos) > len(order):
        lines.append(f"... and {len(pos) - len(order)} more")
    return lines, mistake


def _run(function, cases, student_fn, expected_fn, parts, max_positions, rtol, atol):
    """Call the student on each case; compare each output part (name, hypotheses, locate,
    pattern) built by ``parts(case)``."""
    if not callable(student_fn):
        raise TypeError(f"{function}: expected the student's function, got "
                        f"{type(student_fn).__name__}")
    report = CheckReport(function)
    for case in cases:
        expected = expected_fn(case)
        try:
            got = student_fn(*case.call_args())
        except Exception as e:  # noqa: BLE001 - the student's error is part of the report
            msg = str(e).splitlines()[0] if str(e) else ""
            report.results.append(CaseResult(case, "ERROR", [f"raised {type(e).__name__}: {msg}"]))
            continue
        specs = parts(case)
        names = ", ".join(sp[0] for sp in specs)
        if got is None or (len(specs) > 1 and isinstance(got, (tuple, list))
                           and any(g is None for g in got)):
            what = "the function" if got is None else "one of the returned values"
            mistake = f"returned None: {what} has no `return {names}`"
            report.results.append(CaseResult(case, "FAIL", [
                f"got None instead of {names}", f"likely mistake: {mistake}"], mistake))
            continue
        if len(specs) > 1:
            if not isinstance(got, (tuple, list)) or len(got) != len(specs):
                report.results.append(CaseResult(case, "FAIL", [
                    f"expected a tuple of {len(specs)} arrays "
                    f"({', '.join(s[0] for s in specs)}), got {type(got).__name__}"]))
                continue
            gots, exps = list(got), list(expected)
        else:
            gots, exps = [got], [expected]
        lines, mistake = [], None
        try:
            for (name, hyps, locate, pattern), g, want in zip(specs, gots, exps):
                part_lines, m = _compare(name, np.asarray(want, dtype=np.float64),
                                         _as_array(g, name), hyps, locate, pattern,
                                         max_positions, rtol, atol)
                lines += part_lines
                mistake = mistake or m
        except TypeError as e:
            lines, mistake = [str(e)], None
        report.results.append(CaseResult(case, "FAIL" if lines else "ok", lines, mistake))
    return report


# ---- windows ---------------------------------------------------------------------------
def _span(v):
    return f"{v[0]}..{v[-1]}" if len(v) > 1 else f"{v[0]}"


def _window_text(win, i, j, maps):
    rows, cols = win.rows(i), win.cols(j)
    h, w = win.in_hw
    pad_r = [r for r in rows if not 0 <= r < h]
    pad_c = [c for c in cols if not 0 <= c < w]
    text = f"reads input rows {_span(rows)}, cols {_span(cols)} of {maps}"
    padded = []
    if pad_r:
        padded.append(f"row{'s' if len(pad_r) > 1 else ''} {', '.join(map(str, pad_r))}")
    if pad_c:
        padded.append(f"col{'s' if len(pad_c) > 1 else ''} {', '.join(map(str, pad_c))}")
    if padded:
        text += f" ({' and '.join(padded)} = zero padding)"
    return text


def _touches_padding(win, i, j):
    h, w = win.in_hw
    return (min(win.rows(i)) < 0 or max(win.rows(i)) >= h or
            min(win.cols(j)) < 0 or max(win.cols(j)) >= w)


def _window_pattern(win):
    """Where in the output the differences are, in words."""
    def pattern(pos):
        ij = {(p[-2], p[-1]) for p in pos}
        oh, ow = win.out_hw
        if len(ij) == oh * ow and oh * ow > 1:
            return "every output position differs (not just the borders)"
        if any(win.pads) and all(_touches_padding(win, i, j) for i, j in ij):
            return ("only outputs whose window reaches into the zero padding differ: check the "
                    "padding (how much, on which side, and that padded cells are 0)")
        last = all(i == oh - 1 or j == ow - 1 for i, j in ij)
        if last:
            return ("only the last output row/column differs: check where the last window "
                    "starts (i * s - p_top) and how far it reaches")
        return None
    return pattern


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


# ---- convolution -------------------------------------------------------------------------
class _ConvCase(Case):
    def call_args(self):
        a, p = self.arrays, self.params
        return a["x"], a["w"], a["b"], p["stride"], p["padding"]


def conv2d_cases(seed: int = 0) -> list[Case]:
    """The lecture's 5x7 -> 3x4 example and a few seeded random cases."""
    rng = np.random.default_rng(seed)

    def rnd(*shape):
        return np.round(rng.standard_normal(shape), 2)

    lecture_x = np.arange(35, dtype=np.float64).reshape(1, 1, 5, 7)
    lecture_w = np.array([[[[1., 0., -1.], [2., 0., -2.], [1., 0., -1.]]]])   # Sobel, asymmetric
    return [
        _ConvCase("lecture 5x7 -> 3x4 (3x3 fields, stride 2, SAME)",
                  {"x": lecture_x, "w": lecture_w, "b": np.array([0.5])},
                  {"stride": 2, "padding": "same"}),
        _ConvCase("valid, stride 1", {"x": rnd(1, 1, 6, 6), "w": rnd(1, 1, 3, 3),
                                      "b": rnd(1)}, {"stride": 1, "padding": "valid"}),
        _ConvCase("2 images, 3 maps in, 2 filters, stride 2, SAME (odd padding)",
                  {"x": rnd(2, 3, 6, 7), "w": rnd(2, 3, 3, 3), "b": rnd(2)},
                  {"stride": 2, "padding": "same"}),
        _ConvCase("padding 1 on every side, stride 1", {"x": rnd(1, 2, 5, 5),
                                                        "w": rnd(3, 2, 3, 3), "b": rnd(3)},
                  {"stride": 1, "padding": 1}),
        _ConvCase("rectangular 2x3 kernel, stride (1, 2), valid",
                  {"x": rnd(1, 2, 5, 8), "w": rnd(2, 2, 2, 3), "b": rnd(2)},
                  {"stride": (1, 2), "padding": "valid"}),
        _ConvCase("stride 3 leaves input columns unused, valid",
                  {"x": rnd(1, 1, 7, 8), "w": rnd(2, 1, 2, 2), "b": rnd(2)},
                  {"stride": 3, "padding": "valid"}),
    ]


def _conv_window(case):
    x, w = case.arrays["x"], case.arrays["w"]
    return geometry.window(x.shape[2:], w.shape[2:], case.params["stride"],
                           case.params["padding"], "check_conv2d")


def _alt_strides(stride):
    sh, sw = _pair(stride)
    out = []
    for d in (-1, 1):
        if sh + d >= 1 and sw + d >= 1:
            out.append((sh + d, sw + d))
    if (sh, sw) != (1, 1) and (1, 1) not in out:
        out.append((1, 1))
    return out


def _conv_hypotheses(case, fn):
    """(mistake, candidate output) pairs; ``fn(x, w, b, stride, padding)`` computes them."""
    x, w, b = case.arrays["x"], case.arrays["w"], case.arrays["b"]
    s, p = case.params["stride"], case.params["padding"]
    win = _conv_window(case)
    hyps = [("the kernel is flipped: that is the true (mathematical) convolution; a CNN "
             "layer computes cross-correlation, y[i, j] = sum w[u, v] x[i*s + u, j*s + v], "
             "with no flip", lambda: fn(x, w[:, :, ::-1, ::-1], b, s, p)),
            ("the kernel is transposed: you read w[f, c, v, u] where the formula has "
             "w[f, c, u, v] (u = kernel row, v = kernel column)",
             lambda: fn(x, w.transpose(0, 1, 3, 2), b, s, p) if w.shape[2] == w.shape[3]
             else None)]
    if any(win.pads):
        hyps.append(("the zero padding is missing: your output equals padding='valid'",
                     lambda: fn(x, w, b, s, "valid")))
        t, bo, l, r = win.pads
        if (t, l) != (bo, r):
            hyps.append(("SAME's odd extra row/column went to the top/left; TensorFlow's "
                         "rule puts it at the bottom/right",
                         lambda: fn(x, w, b, s, (bo, t, r, l))))
    for alt in _alt_strides(s):
        hyps.append((f"the stride is off: your output equals stride {alt[0] if alt[0] == alt[1] else alt} "
                     f"instead of {s} (window (i, j) starts at row i*s - p_top, col j*s - p_left)",
                     lambda alt=alt: fn(x, w, b, alt, p if not isinstance(p, str) else
                                        geometry.window(x.shape[2:], w.shape[2:], s, p).pads)))
    if b is not None and np.any(b):
        hyps.append(("the bias is missing", lambda: fn(x, w, None, s, p)))
        hyps.append(("the bias is added twice", lambda: fn(x, w, b, s, p) + b[None, :, None, None]))
    hyps.append(("input maps are not summed: each filter must add up all C input maps",
                 lambda: fn(x[:, :1], w[:, :1], b, s, p) if x.shape[1] > 1 else None))
    return hyps


def _naive_conv(x, w, b, s, p):
    if not isinstance(p, str) and not isinstance(p, int):
        p = tuple(p)
    return naive.conv2d(x, w, b, s, p)


def check_conv2d(student_fn: Callable[..., Any], cases: Optional[Sequence[Case]] = None, seed: int = 0,
                 max_positions: int = 5, rtol: float = RTOL, atol: float = ATOL) -> CheckReport:
    """Compare ``student_fn(x, w, b, stride, padding) -> y`` with ``cnnsim.functional.conv2d``.

    ``x (N, C, H, W)``, ``w (F, C, KH, KW)``, ``b (F,)``, ``y (N, F, H_out, W_out)``.
    Returns a ``CheckReport`` (``report.ok``, ``print(report)``).
    """
    cases = conv2d_cases(seed) if cases is None else cases

    def expected(case):
        a = case.arrays
        return F.conv2d(a["x"], a["w"], a["b"], case.params["stride"], case.params["padding"])

    def parts(case):
        win = _conv_window(case)
        c = case.arrays["x"].shape[1]
        maps = f"map{'s' if c > 1 else ''} {_span(list(range(c)))}"
        return [("y", _conv_hypotheses(case, _naive_conv),
                 lambda p: _window_text(win, p[2], p[3], maps), _window_pattern(win))]

    return _run("check_conv2d", cases, student_fn, expected, parts, max_positions, rtol, atol)


class _ConvBackCase(Case):
    def call_args(self):
        a, p = self.arrays, self.params
        return a["dy"], a["x"], a["w"], p["stride"], p["padding"]


def conv2d_backward_cases(seed: int = 0) -> list[Case]:
    out: list[Case] = []
    rng = np.random.default_rng(seed + 1)
    for c in conv2d_cases(seed):
        y = F.conv2d(c.arrays["x"], c.arrays["w"], c.arrays["b"], c.params["stride"],
                     c.params["padding"])
        dy = np.round(rng.standard_normal(y.shape), 2)
        out.append(_ConvBackCase(c.name, {"dy": dy, "x": c.arrays["x"], "w": c.arrays["w"]},
                                 dict(c.params)))
    return out


def _readers(win, r, c):
    """Output positions (i, j) whose window contains input cell (r, c)."""
    oh, ow = win.out_hw
    rows = [i for i in range(oh) if r in win.rows(i)]
    cols = [j for j in range(ow) if c in win.cols(j)]
    return rows, cols


def check_conv2d_backward(student_fn: Callable[..., Any], cases: Optional[Sequence[Case]] = None, seed: int = 0,
                          max_positions: int = 5, rtol: float = RTOL, atol: float = ATOL) -> CheckReport:
    """Compare ``student_fn(dy, x, w, stride, padding) -> (dx, dw, db)`` with
    ``cnnsim.functional.conv2d_backward``: ``dx (N, C, H, W)``, ``dw (F, C, KH, KW)``, ``db (F,)``.
    """
    cases = conv2d_backward_cases(seed) if cases is None else cases

    def expected(case):
        a = case.arrays
        return F.conv2d_backward(a["dy"], a["x"], a["w"], case.params["stride"],
                                 case.params["padding"])

    def parts(case):
        a, s, p = case.arrays, case.params["stride"], case.params["padding"]
        dy, x, w = a["dy"], a["x"], a["w"]
        win = geometry.window(x.shape[2:], w.shape[2:], s, p)
        pads = win.pads

        def naive_part(k, **kw):
            dyy, xx, ww = kw.get("dy", dy), kw.get("x", x), kw.get("w", w)
            return lambda: naive.conv2d_backward(dyy, xx, ww, s, pads)[k]

        def locate_dx(pos):
            rows, cols = _readers(win, pos[2], pos[3])
            if not rows or not cols:
                return "no output window reads this input cell (its gradient is 0)"
            return f"input cell read by output rows {_span(rows)}, cols {_span(cols)}"

        def locate_dw(pos):
            return (f"weight (filter {pos[0]}, map {pos[1]}, u={pos[2]}, v={pos[3]}) "
                    f"= sum over n, i, j of dy[n, {pos[0]}, i, j] * x_padded[n, {pos[1]}, "
                    f"i*s + {pos[2]}, j*s + {pos[3]}]")

        flipped = w[:, :, ::-1, ::-1]
        hyp_dx = [("dx used the kernel without flipping it: dx is the full correlation of dy "
                   "with the kernel rotated by 180 degrees", naive_part(0, w=flipped))]
        hyp_dw = [("dw is flipped by 180 degrees", lambda: naive.conv2d_backward(
            dy, x, w, s, pads)[1][:, :, ::-1, ::-1])]
        hyp_db = [("db is not summed over the batch and positions: db[f] = sum_{n,i,j} "
                   "dy[n, f, i, j]", lambda: dy.sum(axis=(2, 3))),
                  ("db comes from the first image only: db[f] = sum over the batch n and "
                   "positions i, j of dy[n, f, i, j]",
                   lambda: dy[0].sum(axis=(1, 2)) if dy.shape[0] > 1 else None)]
        return [("dx", hyp_dx, locate_dx, None), ("dw", hyp_dw, locate_dw, None),
                ("db", hyp_db, None, None)]

    return _run("check_conv2d_backward", cases, student_fn, expected, parts, max_positions,
                rtol, atol)


# ---- pooling -------------------------------------------------------------------------------
class _PoolCase(Case):
    def call_args(self):
        p = self.params
        return self.arrays["x"], p["size"], p["stride"], p["padding"]


def pool_cases(seed: int = 0) -> list[Case]:
    """The lecture's 2x2 pooling (75% dropped), overlapping 3x3/2 pooling (AlexNet), SAME
    padding on odd inputs, all-negative inputs (padding must not win a max), ties."""
    rng = np.random.default_rng(seed)

    def rnd(*shape):
        return np.round(rng.standard_normal(shape), 2)

    lecture = np.array([[[[1., 3., 2., 1.], [4., 2., 0., 1.], [5., 1., 3., 2.],
                          [0., 2., 4., 6.]]]])
    negative = -np.abs(rnd(1, 2, 5, 5)) - 0.1
    ties = np.array([[[[1., 1., 0.], [1., 1., 0.], [2., 2., 2.]]]])
    return [
        _PoolCase("lecture 4x4, 2x2 pooling, stride 2 (keeps 1 input in 4)", {"x": lecture},
                  {"size": 2, "stride": 2, "padding": "valid"}),
        _PoolCase("stride=None means stride = size", {"x": rnd(1, 2, 6, 6)},
                  {"size": 3, "stride": None, "padding": "valid"}),
        _PoolCase("overlapping 3x3 stride 2 (AlexNet)", {"x": rnd(2, 2, 7, 7)},
                  {"size": 3, "stride": 2, "padding": "valid"}),
        _PoolCase("SAME on a 5x5 input: padding at the bottom/right", {"x": rnd(1, 3, 5, 5) + 1.0},
                  {"size": 2, "stride": 2, "padding": "same"}),
        _PoolCase("all negative inputs, padding 1", {"x": negative},
                  {"size": 3, "stride": 2, "padding": 1}),
        _PoolCase("ties", {"x": ties}, {"size": 2, "stride": 1, "padding": "valid"}),
        _PoolCase("rectangular 2x3 window, stride (2, 1)", {"x": rnd(1, 1, 6, 7)},
                  {"size": (2, 3), "stride": (2, 1), "padding": "valid"}),
    ]


def _pool_window(case):
    p = case.params
    return geometry.window(case.arrays["x"].shape[2:], p["size"], p["stride"], p["padding"])


def _pool_padded_zero(x, size, stride, padding, reduce):
    """Pooling that (wrongly) treats padded cells as real zeros."""
    win = geometry.window(x.shape[2:], size, stride, padding)
    t, b, l, r = win.pads
    xp = np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)))
    kh, kw = win.kernel
    sh, sw = win.stride
    oh, ow = win.out_hw
    y = np.empty(x.shape[:2] + (oh, ow))
    for i in range(oh):
        for j in range(ow):
            y[:, :, i, j] = reduce(xp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw], axis=(2, 3))
    return y


def _pool_hypotheses(case, kind):
    x, p = case.arrays["x"], case.params
    size, stride, padding = p["size"], p["stride"], p["padding"]
    ref = naive.max_pool2d if kind == "max" else naive.avg_pool2d
    win = _pool_window(case)
    hyps = []
    if any(win.pads):
        if kind == "avg":
            hyps.append(("padded cells are counted in the average: divide by the number of "
                         "real input cells in the window, not by the window size",
                         lambda: _pool_padded_zero(x, size, stride, padding, np.mean)))
        else:
            hyps.append(("padded cells took part in the max as zeros: padding must never win "
                         "(only real input cells are candidates)",
                         lambda: _pool_padded_zero(x, size, stride, padding, np.max)))
        hyps.append(("the padding is missing: your output equals padding='valid'",
                     lambda: ref(x, size, stride, "valid")))
    if stride is None:
        hyps.append(("stride=None was taken as stride 1; it means stride = pool size",
                     lambda: ref(x, size, 1, padding)))
    for alt in _alt_strides(win.stride):
        hyps.append((f"the stride is off: your output equals stride "
                     f"{alt[0] if alt[0] == alt[1] else alt} instead of "
                     f"{win.stride[0] if win.stride[0] == win.stride[1] else win.stride}",
                     lambda alt=alt: ref(x, size, alt, win.pads)))
    other = naive.avg_pool2d if kind == "max" else naive.max_pool2d
    hyps.append((f"this is {'average' if kind == 'max' else 'max'} pooling",
                 lambda: other(x, size, stride, padding)))
    return hyps


def _check_pool(function, kind, student_fn, cases, seed, max_positions, rtol, atol):
    cases = pool_cases(seed) if cases is None else cases
    fwd = F.max_pool2d if kind == "max" else F.avg_pool2d

    def expected(case):
        p = case.params
        return fwd(case.arrays["x"], p["size"], p["stride"], p["padding"])

    def parts(case):
        win = _pool_window(case)
        return [("y", _pool_hypotheses(case, kind),
                 lambda pos: _window_text(win, pos[2], pos[3], f"map {pos[1]}"),
                 _window_pattern(win))]

    return _run(function, cases, student_fn, expected, parts, max_positions, rtol, atol)


def check_max_pool2d(student_fn: Callable[..., Any], cases: Optional[Sequence[Case]] = None, seed: int = 0,
                     max_positions: int = 5, rtol: float = RTOL, atol: float = ATOL) -> CheckReport:
    """Compare ``student_fn(x, size, stride, padding) -> y`` with
    ``cnnsim.functional.max_pool2d``: ``x (N, C, H, W) -> y (N, C, H_out, W_out)``."""
    return _check_pool("check_max_pool2d", "max", student_fn, cases, seed, max_positions,
                       rtol, atol)


def check_avg_pool2d(student_fn: Callable[..., Any], cases: Optional[Sequence[Case]] = None, seed: int = 0,
                     max_positions: int = 5, rtol: float = RTOL, atol: float = ATOL) -> CheckReport:
    """Compare ``student_fn(x, size, stride, padding) -> y`` with
    ``cnnsim.functional.avg_pool2d`` (mean over the real cells only)."""
    return _check_pool("check_avg_pool2d", "avg", student_fn, cases, seed, max_positions,
                       rtol, atol)


# ---- LRN --------------------------------------------------------------------------------
class _LRNCase(Case):
    def call_args(self):
        p = self.params
        return self.arrays["x"], p["r"], p["k"], p["alpha"], p["beta"]


def lrn_cases(seed: int = 0) -> list[Case]:
    """AlexNet's constants, and strong normalization (large alpha) so every mistake shows."""
    rng = np.random.default_rng(seed)
    ramp = np.arange(1, 9, dtype=np.float64).reshape(1, 8, 1, 1) * np.ones((1, 8, 2, 2))
    return [
        _LRNCase("8 maps, r=5: first and last maps have clipped windows", {"x": ramp},
                 {"r": 5, "k": 1.0, "alpha": 0.1, "beta": 0.75}),
        _LRNCase("AlexNet constants (r=5, k=2, alpha=1e-4, beta=0.75), large activations",
                 {"x": 30 * rng.standard_normal((2, 7, 3, 3))},
                 {"r": 5, "k": 2.0, "alpha": 1e-4, "beta": 0.75}),
        _LRNCase("r=3, strong normalization", {"x": rng.standard_normal((1, 6, 3, 4))},
                 {"r": 3, "k": 1.0, "alpha": 0.5, "beta": 0.75}),
    ]


def _lrn_general(x, lo_off, hi_off, k, alpha, beta, square=True):
    c = x.shape[1]
    y = np.empty_like(x)
    for i in range(c):
        lo, hi = max(0, i + lo_off), min(c - 1, i + hi_off)
        v = x[:, lo:hi + 1]
        s = k + alpha * np.sum(v * v if square else v, axis=1)
        y[:, i] = x[:, i] * s ** (-beta)
    return y


def check_lrn(student_fn: Callable[..., Any], cases: Optional[Sequence[Case]] = None, seed: int = 0,
              max_positions: int = 5, rtol: float = RTOL, atol: float = ATOL) -> CheckReport:
    """Compare ``student_fn(x, r, k, alpha, beta) -> y`` with ``cnnsim.functional.lrn``:
    ``b_i = a_i (k + alpha * sum_{j=max(0, i-r//2)}^{min(i+r//2, C-1)} a_j^2)^(-beta)``."""
    cases = lrn_cases(seed) if cases is None else cases

    def expected(case):
        p = case.params
        return F.lrn(case.arrays["x"], p["r"], p["k"], p["alpha"], p["beta"])

    def parts(case):
        x, p = case.arrays["x"], case.params
        r, k, a, b = p["r"], p["k"], p["alpha"], p["beta"]
        h = r // 2
        c = x.shape[1]
        hyps = [
            (f"the window spans 2r+1 = {2 * r + 1} maps: it should be j = i - r//2 .. i + r//2 "
             f"({2 * h + 1} maps)", lambda: _lrn_general(x, -r, r, k, a, b)),
            ("alpha was divided by r (PyTorch's LocalResponseNorm does that; the lecture's "
             "formula does not)", lambda: _lrn_general(x, -h, h, k, a / r, b)),
            ("the window is not centred on map i: it should run from i - r//2 to i + r//2",
             lambda: _lrn_general(x, 0, r - 1, k, a, b)),
            ("the exponent sign: the base is raised to -beta (a division), not +beta",
             lambda: _lrn_general(x, -h, h, k, a, -b)),
            ("the activations are not squared in the sum", lambda: _lrn_general(x, -h, h, k, a, b,
                                                                               square=False)),
        ]

        def locate(pos):
            i = pos[1]
            lo, hi = max(0, i - h), min(c - 1, i + h)
            clip = " (clipped at the edge)" if (i - h < 0 or i + h > c - 1) else ""
            return f"sums a_j^2 over maps {lo}..{hi}{clip} at row {pos[2]}, col {pos[3]}"

        def pattern(pos):
            chans = {p[1] for p in pos}
            edge = {i for i in range(c) if i - h < 0 or i + h > c - 1}
            if chans and chans <= edge:
                return ("only maps near the first/last map differ: check the clipping "
                        "max(0, i - r//2) .. min(i + r//2, C - 1)")
            return None

        return [("y", hyps, locate, pattern)]

    return _run("check_lrn", cases, student_fn, expected, parts, max_positions, rtol, atol)


# ---- output size ------------------------------------------------------------------------
def _output_size_mistakes(n, f, s, p):
    """(mistake, what a function with that mistake returns) for one case; None where the
    mistake would give the right answer or does not apply."""
    pb, pa = geometry.pad_amounts(n, f, s, p)
    out = [("forgot the + 1 in floor((n + p - f) / s) + 1",
            None if p == "same" else (n + pb + pa - f) // s),
           ("the padding is ignored: the size uses n + p_before + p_after (with SAME, it "
            "is ceil(n / s))", None if p == "valid" else (n - f) // s + 1),
           ("rounded up: the formula uses floor((n + p - f) / s)",
            -(-(n + pb + pa - f) // s) + 1),
           ("SAME gives ceil(n / s), not n, when the stride is above 1",
            n if p == "same" and s > 1 else None)]
    return out


def check_output_size(student_fn: Callable[..., Any]) -> CheckReport:
    """Compare ``student_fn(n, f, s, padding) -> int`` with ``cnnsim.geometry.output_size``
    on the lecture's sizes (5x7 -> 3x4, AlexNet's 227 -> 55 and 224 -> 56, LeNet-5's 32 ->
    28) and a few more. ``padding`` is "valid", "same" or an int.

    A mistake is named from the whole table, not one case alone: when two mistakes give
    the same wrong number in a case (ignoring a padding of 1 at stride 2 loses exactly
    one, like forgetting the + 1), the one that explains the most failing cases wins."""
    table: list[tuple[int, int, int, Padding]] = [(5, 3, 2, "same"), (7, 3, 2, "same"), (227, 11, 4, "valid"), (224, 11, 4, "same"),
             (32, 5, 1, "valid"), (28, 2, 2, "valid"), (7, 3, 2, "valid"), (8, 3, 3, "valid"),
             (5, 3, 1, 1), (6, 4, 2, 1), (13, 3, 2, "valid"), (5, 2, 2, "same")]
    report = CheckReport("check_output_size")
    failing = []
    for n, f, s, p in table:
        case = Case(f"n={n}, f={f}, s={s}, padding={p!r}", {}, {})
        want = geometry.output_size(n, f, s, p)
        try:
            got = student_fn(n, f, s, p)
        except Exception as e:  # noqa: BLE001
            report.results.append(CaseResult(case, "ERROR", [f"raised {type(e).__name__}: {e}"]))
            continue
        if got == want:
            report.results.append(CaseResult(case, "ok"))
            continue
        matches = [m for m, v in _output_size_mistakes(n, f, s, p) if v is not None
                   and v != want and got == v]
        pb, pa = geometry.pad_amounts(n, f, s, p)
        lines = [f"expected {want}, got {got!r}"]
        res = CaseResult(case, "FAIL", lines)
        failing.append((res, matches))
        lines.append(f"formula: floor(({n} + {pb} + {pa} - {f}) / {s}) + 1 = {want}"
                     if p != "same" else f"formula: ceil({n} / {s}) = {want}")
        report.results.append(res)
    score: dict[str, int] = {}
    for _, matches in failing:
        for m in matches:
            score[m] = score.get(m, 0) + 1
    for res, matches in failing:
        if matches:
            res.mistake = max(matches, key=lambda m: score[m])      # first on ties
            res.lines.insert(1, f"likely mistake: {res.mistake}")
    return report


__all__ = ["Case", "CaseResult", "CheckReport", "check_conv2d", "check_conv2d_backward",
           "check_max_pool2d", "check_avg_pool2d", "check_lrn", "check_output_size",
           "conv2d_cases", "conv2d_backward_cases", "pool_cases", "lrn_cases"]
