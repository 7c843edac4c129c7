"""The docs stay true: docs/cli.md matches `--help`; the blocks of docs/*.md marked
``<!-- test -->`` run (Python blocks of a page in one namespace, in order; shell blocks
line by line: ``cnnsim ...`` through click's CliRunner, ``python demos/X.py ...`` by calling
the demo's main) and print what the page says they print; links between pages and to figures
resolve; Jupyter displays render.

What a block is said to print is checked two ways:

* an output block: a ```` ```text ```` fence right after the tested block (blank lines and at
  most one short line ending in ``:`` between them, as in "prints (abridged):"). Each of its
  lines, except ``...`` gaps, must appear in what the block printed, in order (whitespace
  collapsed: an output block may leave lines out, never change them; ``(...)`` inside a
  line stands for a parenthesized remark left out);
* the comment after a ``print(...)`` in a Python block, when it looks like output (it starts
  with a digit, a bracket, a quote or a minus sign, after an ``(a)``-style label). Prose
  after ``: `` or ``, word`` outside brackets is dropped, and the print's output must then
  start with what is left; otherwise it must equal it. Comments that start with a word are
  prose (``# about half dropped``) and are not compared.

``<!-- test: needs torch -->`` marks a block that needs a reference library: where it is not
installed the page's other blocks still run and the test is reported skipped with the reason.
"""

import ast
import contextlib
import importlib.util
import io
import pathlib
import re
import shlex
import sys
import tokenize

import pytest
from click.testing import CliRunner

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
MARK = re.compile(r"<!-- test(?:: needs ([\w.]+))? -->\s*\n```(python|bash)\n(.*?)```", re.S)
OUTPUT = re.compile(
    r"[ \t]*\n(?:\s*\n)*(?:[^\n`]{1,60}:[ \t]*\n(?:\s*\n)*)?```(?:text|output)\n(.*?)```", re.S
)


def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def blocks(page):
    """``[(lang, code)]`` of the page's tested blocks."""
    return [(lang, code) for _, lang, code, _ in page_blocks(page)]


def page_blocks(page):
    """``[(needs, lang, code, expected output or None)]``, in page order."""
    text = page.read_text()
    out = []
    for m in MARK.finditer(text):
        e = OUTPUT.match(text, m.end())
        out.append((m.group(1), m.group(2), m.group(3), e.group(1) if e else None))
    return out


# ---- what a block prints vs what the page says -------------------------------------------------
def _norm(text):
    """Whitespace collapsed, none next to brackets, no thousands separators: how numpy
    wraps an array or a writer groups digits is not what a page asserts."""
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"([\[({]) ", r"\1", text)
    text = re.sub(r" ([\])}])", r"\1", text)
    return re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)


def expected_from_comment(comment):
    """``(expected, prefix_only)`` from the comment after a print, or None for prose."""
    c = re.sub(r"^\([a-z]\)\s+", "", comment.lstrip("#").strip())  # "(a) 42" -> "42"
    if not c or not re.match(r"[\d\[({'\"-]", c):
        return None
    depth, quote = 0, None
    for i, ch in enumerate(c):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and (c[i : i + 2] == ": " or re.match(r", [A-Za-z]", c[i : i + 3])):
            return c[:i], True
    return c, False


def _comments(code):
    """``{line number: comment}`` of a Python block."""
    out = {}
    for tok in tokenize.generate_tokens(io.StringIO(code).readline):
        if tok.type == tokenize.COMMENT:
            out[tok.start[0]] = tok.string
    return out


def instrument_prints(code):
    """The block's AST with every ``print(...)`` whose line ends in an output-like comment
    replaced by ``__doc_print__(k, ...)``, and ``{k: (line, expected, prefix_only)}``."""
    tree = ast.parse(code)
    comments = _comments(code)
    checks = {}

    class Rewrite(ast.NodeTransformer):
        def visit_Call(self, node):
            self.generic_visit(node)
            if isinstance(node.func, ast.Name) and node.func.id == "print":
                exp = expected_from_comment(comments.get(node.end_lineno, ""))
                if exp is not None:
                    k = len(checks)
                    checks[k] = (node.end_lineno, *exp)
                    node.func = ast.Name("__doc_print__", ast.Load())
                    node.args.insert(0, ast.Constant(k))
            return node

    return ast.fix_missing_locations(Rewrite().visit(tree)), checks


def check_output(printed, expected, where):
    """Every line of ``expected`` (but ``...`` gaps) appears in ``printed``, in order."""
    lines = [_norm(l) for l in printed.splitlines()]
    at = 0
    for want in expected.splitlines():
        w = _norm(want)
        if not w or w in ("...", "…"):
            continue
        # "(...)" inside a line stands for a parenthesized remark the page leaves out
        pattern = re.compile(".*".join(re.escape(part) for part in w.split("(...)")) + r"\Z")
        while at < len(lines) and not pattern.match(lines[at]):
            at += 1
        assert at < len(lines), (
            f"{where}: the page says it prints\n  {want.strip()}\nbut it "
            f"printed (in this order):\n{printed}"
        )
        at += 1


def run_python_block(code, namespace, where):
    """Run a page's Python block; every commented print must print its comment."""
    tree, checks = instrument_prints(code)
    seen = {k: [] for k in checks}

    def doc_print(k, *args, **kw):
        buf = io.StringIO()
        print(*args, **{**kw, "file": buf})
        seen[k].append(buf.getvalue())
        print(buf.getvalue(), end="")

    namespace["__doc_print__"] = doc_print
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(tree, where, "exec"), namespace)
    for k, (line, expected, prefix) in checks.items():
        assert seen[k], f"{where}, block line {line}: the print never ran"
        for got in seen[k]:
            g, e = _norm(got), _norm(expected)
            ok = g.startswith(e) if prefix else g == e
            assert ok, (
                f"{where}, block line {line}: the page says it prints {expected!r}, "
                f"it printed {got.strip()!r}"
            )
    return out.getvalue()


def _normalized(text):
    # click versions differ in brackets around choices ("[a|b]" vs "[[a|b]]") and in
    # wrapping; what must match is the words: commands, options, choices, help texts.
    return re.sub(r"[\[\]\s]+", " ", text).strip()


def test_cli_reference_is_up_to_date():
    gen = _load(ROOT / "demos" / "make_cli_docs.py", "make_cli_docs")
    assert _normalized((DOCS / "cli.md").read_text()) == _normalized(gen.render()), (
        "docs/cli.md is out of date: run python demos/make_cli_docs.py"
    )


def test_cli_reference_covers_every_command():
    from cnnsim.cli.main import COMMANDS

    text = (DOCS / "cli.md").read_text()
    for name in COMMANDS:
        assert f"## `cnnsim {name}`" in text


def test_every_page_is_linked_from_the_index_and_links_resolve():
    index = (DOCS / "index.md").read_text()
    for page in PAGES:
        if page.name != "index.md":
            assert f"({page.name})" in index, f"{page.name} is not linked from docs/index.md"
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


def test_figures_are_few_and_small():
    figs = list((DOCS / "figures").glob("*.png"))
    assert figs and sum(f.stat().st_size for f in figs) < 1.5e6


def _run_shell(line, cwd):
    """Run one shell line of a page; returns what it printed."""
    args = shlex.split(line, comments=True)
    if not args:
        return ""
    if args[0] == "cnnsim":
        from cnnsim.cli.main import cli

        result = CliRunner().invoke(cli, args[1:], catch_exceptions=False)
        assert result.exit_code == 0, f"{line!r} exited {result.exit_code}:\n{result.output}"
        return result.output
    if args[0] == "python" and args[1].startswith("demos/"):
        demos = str(ROOT / "demos")
        if demos not in sys.path:
            sys.path.insert(0, demos)
        mod = _load(ROOT / args[1], "doc_" + pathlib.Path(args[1]).stem)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert mod.main(args[2:]) == 0, line
        return out.getvalue()
    raise AssertionError(f"test blocks run only cnnsim and demos commands, got {line!r}")


def _missing(module):
    try:
        importlib.import_module(module)
    except ImportError as e:
        return f"{module} not installed ({e})"
    return None


TESTED = [p for p in PAGES if blocks(p)]


@pytest.mark.parametrize("page", TESTED, ids=[p.name for p in TESTED])
def test_marked_blocks_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CNNSIM_DATA", str(tmp_path / "no-data"))  # offline
    namespace = {"__name__": f"docs_{page.stem}"}
    skipped = []
    for k, (needs, lang, code, expected) in enumerate(page_blocks(page), start=1):
        where = f"{page.name}, tested block {k}"
        reason = needs and _missing(needs)
        if reason:
            skipped.append(f"{where}: {reason}")
            continue
        if lang == "python":
            printed = run_python_block(code, namespace, where)
        else:
            printed = "".join(_run_shell(line, tmp_path) for line in code.splitlines())
        if expected is not None:
            check_output(printed, expected, where)
    if skipped:
        pytest.skip(
            "every other block ran and printed what the page says; not run: " + "; ".join(skipped)
        )


def test_pages_with_examples_have_page_blocks():
    for name in (
        "convolution.md",
        "pooling.md",
        "lenet5.md",
        "alexnet.md",
        "googlenet.md",
        "resnet.md",
        "homework.md",
        "api.md",
        "getting-started.md",
        "trace-format.md",
        "jupyter.md",
    ):
        assert blocks(DOCS / name), f"{name} has no <!-- test --> block"


# ---- Jupyter displays ----------------------------------------------------------------------
def test_summary_renders_as_html_and_text():
    from cnnsim import display, models

    s = display.summary("alexnet")
    html = s._repr_html_()
    assert html.count("<tr>") == len(s.data["layers"]) + 2  # header, input row, layers
    assert "<th>Kernel size</th>" in html and "56x56" in html and "<li>C1: 224x224" in html
    assert str(s).startswith("alexnet: input 3x224x224")
    built = display.summary(models.build("lenet5"))
    assert built.total_params == 60000
    with pytest.raises(TypeError, match="apply to a model name"):
        display.summary(models.build("lenet5"), variant="paper")


def test_trace_renders_as_html():
    import numpy as np

    from cnnsim import display
    from cnnsim import layers as L
    from cnnsim.engine import record

    net = L.Sequential(
        [L.Conv2D(2, 3, padding="same", activation="relu", name="C1"), L.MaxPool2D(2, name="S2")],
        input_shape=(1, 4, 4),
    )
    tr = record(net, np.ones((1, 1, 4, 4), dtype=np.float32))
    html = tr._repr_html_()
    assert "<td>C1</td>" in html and "<td>S2</td>" in html and "k3 s1 p1" in html
    assert "1x4x4 -&gt; 2x4x4" in html
    text = display.trace_text(tr)
    assert text.splitlines()[0].split()[:3] == ["#", "layer", "type"] and "MaxPool2D" in text


def test_figures_render_through_ipython():
    """Plotting functions return Figures; IPython's display machinery renders them."""
    pytest.importorskip("IPython")
    from IPython.core.pylabtools import print_figure

    from cnnsim.plotting.arithmetic import conv_arithmetic_figure

    png = print_figure(conv_arithmetic_figure((5, 7), 3, 2, "same", neuron=(1, 2)), "png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


# ---- the checker itself can fail ---------------------------------------------------------------
def test_comment_parsing():
    assert expected_from_comment("# (1, 1, 1, 1) (3, 4)") == ("(1, 1, 1, 1) (3, 4)", False)
    assert expected_from_comment("# (a) (32, 32): the whole image") == ("(32, 32)", True)
    assert expected_from_comment("# (1, 16, 10, 10), the 10 RBF penalties") == (
        "(1, 16, 10, 10)",
        True,
    )
    assert expected_from_comment("# {'a': 'b', 'c': 1}") == ("{'a': 'b', 'c': 1}", False)
    assert expected_from_comment("# about half dropped") is None


def test_a_wrong_comment_or_output_block_fails():
    ns = {}
    run_python_block("print((1, 2), [3])   # (1, 2) [3]\n", ns, "ok")
    with pytest.raises(AssertionError, match=r"says it prints '\(1, 3\)'"):
        run_python_block("print((1, 2))   # (1, 3)\n", ns, "wrong")
    with pytest.raises(AssertionError, match="never ran"):
        run_python_block("if False:\n    print(1)   # 1\n", ns, "dead")
    check_output("a 1\nb  2\nc 3 (a remark (nested)) end\n", "a 1\n...\nc 3 (...) end\n", "ok")
    with pytest.raises(AssertionError):
        check_output("c 3 (a remark) end\n", "c 3 (...) ends\n", "changed")
    with pytest.raises(AssertionError, match="the page says it prints"):
        check_output("a 1\nb 2\n", "b 2\na 1\n", "order")
