"""What every checker shares: cases, per-case results and the report a student reads;
comparing an output with the expected one (positions, symptoms, known mistakes) and
wording the input window a position reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

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
        shapes = ", ".join(
            f"{k} {'x'.join(map(str, v.shape))}" for k, v in self.arrays.items() if v is not None
        )
        opts = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{self.name}: {shapes}; {opts}"


@dataclass
class CaseResult:
    case: Case
    status: str  # "ok", "FAIL" or "ERROR" (the function raised)
    lines: list = field(default_factory=list)  # the diff, already worded
    mistake: Optional[str] = None  # the known mistake the output matches exactly, if any

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
        head = (
            f"{self.function}: all {n} cases passed"
            if self.ok
            else f"{self.function}: {bad} of {n} cases FAILED"
        )
        out = [head]
        for r in self.results:
            out.append(f"  {r.status:5s} {r.case.describe()}")
            out += [f"        {line}" for line in r.lines]
        return "\n".join(out)

    def _repr_html_(self):
        from html import escape

        color = "#1a7f37" if self.ok else "#cf222e"
        return (
            f"<pre style='border-left: 4px solid {color}; padding-left: 8px'>"
            f"{escape(str(self))}</pre>"
        )


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
        for text, make in hypotheses:  # same shape as a known mistake, other values
            try:
                cand = make() if callable(make) else make
            except Exception:  # noqa: BLE001
                continue
            if cand is None:  # a hypothesis that does not apply to this case
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
        if (
            got.ndim == expected.ndim
            and got.shape[:-2] == expected.shape[:-2]
            and got.shape[-2:] == tuple(s - 1 for s in expected.shape[-2:])
            and _same(got, expected[..., :-1, :-1], rtol, atol)
        ):
            extra = (
                "your output is cnnsim's without its last row and column: the output "
                "size is floor((n + p_before + p_after - f) / s) + 1 (off by one: "
                "did you forget the + 1, or stop the loop one window early?)"
            )
            return _shape_lines(name, expected, got, [], extra)[
                0
            ], "output size off by one (forgot the + 1)"
        if got.ndim == 4 == expected.ndim and got.transpose(0, 3, 1, 2).shape == expected.shape:
            mistake = (
                f"{name} is in NHWC layout (N, H, W, C: channels last); cnnsim uses "
                f"NCHW, {name}[n, c, i, j]: index it that way, or return "
                f"np.transpose({name}, (0, 3, 1, 2))"
            )
            lines = [f"{name} has shape {got.shape}, expected {expected.shape}"]
            if _same(got.transpose(0, 3, 1, 2), expected, rtol, atol):
                return lines + [f"likely mistake: {mistake}"], mistake
            return lines + [
                "the shape is NHWC (channels last); the values also differ once transposed to NCHW"
            ], None
        return _shape_lines(name, expected, got, hypotheses, extra)
    bad = ~np.isclose(got, expected, rtol=rtol, atol=atol, equal_nan=True)
    if not bad.any():
        return [], None
    pos = [tuple(int(t) for t in p) for p in np.argwhere(bad)]
    diff = np.abs(np.nan_to_num(got - expected, nan=np.inf))
    lines = [
        f"{name}: {len(pos)} of {bad.size} values differ (max |got - expected| "
        f"{_fmt(float(diff[bad].max()))})"
    ]
    if pattern is not None:
        sym = pattern(pos)
        if sym:
            lines.append(f"symptom: {sym}")
    mistake = _match_mistake(got, hypotheses)
    if mistake:
        lines.append(f"likely mistake: {mistake}")
    order = pos[:max_positions]  # the first ones, in row-major order
    for p in order:
        where = locate(p) if locate else ""
        lines.append(
            f"{name}[{', '.join(map(str, p))}]: expected {_fmt(expected[p])}, got "
            f"{_fmt(got[p])}" + (f"; {where}" if where else "")
        )
    if len(pos) > len(order):
        lines.append(f"... and {len(pos) - len(order)} more")
    return lines, mistake


def _run(function, cases, student_fn, expected_fn, parts, max_positions, rtol, atol):
    """Call the student on each case; compare each output part (name, hypotheses, locate,
    pattern) built by ``parts(case)``."""
    if not callable(student_fn):
        raise TypeError(
            f"{function}: expected the student's function, got {type(student_fn).__name__}"
        )
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
        if got is None or (
            len(specs) > 1 and isinstance(got, (tuple, list)) and any(g is None for g in got)
        ):
            what = "the function" if got is None else "one of the returned values"
            mistake = f"returned None: {what} has no `return {names}`"
            report.results.append(
                CaseResult(
                    case,
                    "FAIL",
                    [f"got None instead of {names}", f"likely mistake: {mistake}"],
                    mistake,
                )
            )
            continue
        if len(specs) > 1:
            if not isinstance(got, (tuple, list)) or len(got) != len(specs):
                report.results.append(
                    CaseResult(
                        case,
                        "FAIL",
                        [
                            f"expected a tuple of {len(specs)} arrays "
                            f"({', '.join(s[0] for s in specs)}), got {type(got).__name__}"
                        ],
                    )
                )
                continue
            gots, exps = list(got), list(expected)
        else:
            gots, exps = [got], [expected]
        lines, mistake = [], None
        try:
            for (name, hyps, locate, pattern), g, want in zip(specs, gots, exps):
                part_lines, m = _compare(
                    name,
                    np.asarray(want, dtype=np.float64),
                    _as_array(g, name),
                    hyps,
                    locate,
                    pattern,
                    max_positions,
                    rtol,
                    atol,
                )
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
    return (
        min(win.rows(i)) < 0
        or max(win.rows(i)) >= h
        or min(win.cols(j)) < 0
        or max(win.cols(j)) >= w
    )


def _window_pattern(win):
    """Where in the output the differences are, in words."""

    def pattern(pos):
        ij = {(p[-2], p[-1]) for p in pos}
        oh, ow = win.out_hw
        if len(ij) == oh * ow and oh * ow > 1:
            return "every output position differs (not just the borders)"
        if any(win.pads) and all(_touches_padding(win, i, j) for i, j in ij):
            return (
                "only outputs whose window reaches into the zero padding differ: check the "
                "padding (how much, on which side, and that padded cells are 0)"
            )
        last = all(i == oh - 1 or j == ow - 1 for i, j in ij)
        if last:
            return (
                "only the last output row/column differs: check where the last window "
                "starts (i * s - p_top) and how far it reaches"
            )
        return None

    return pattern


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _alt_strides(stride):
    sh, sw = _pair(stride)
    out = []
    for d in (-1, 1):
        if sh + d >= 1 and sw + d >= 1:
            out.append((sh + d, sw + d))
    if (sh, sw) != (1, 1) and (1, 1) not in out:
        out.append((1, 1))
    return out
