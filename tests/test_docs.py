"""The docs stay true: docs/cli.md matches `--help`; the blocks of docs/*.md marked
``<!-- test -->`` run (Python blocks of a page in one namespace, in order; shell blocks
line by line: ``cnnsim ...`` through click's CliRunner, ``python demos/X.py ...`` by calling
the demo's main); links between pages and to figures resolve; Jupyter displays render."""
import importlib.util
import os
import pathlib
import re
import shlex
import sys

import pytest
from click.testing import CliRunner

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
MARK = re.compile(r"<!-- test -->\s*\n```(python|bash)\n(.*?)```", re.S)


def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def blocks(page):
    return MARK.findall(page.read_text())


def _normalized(text):
    # click versions differ in brackets around choices ("[a|b]" vs "[[a|b]]") and in
    # wrapping; what must match is the words: commands, options, choices, help texts.
    return re.sub(r"[\[\]\s]+", " ", text).strip()


def test_cli_reference_is_up_to_date():
    gen = _load(ROOT / "demos" / "make_cli_docs.py", "make_cli_docs")
    assert _normalized((DOCS / "cli.md").read_text()) == _normalized(gen.render()), \
        "docs/cli.md is out of date: run python demos/make_cli_docs.py"


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
    args = shlex.split(line, comments=True)
    if not args:
        return
    if args[0] == "cnnsim":
        from cnnsim.cli.main import cli
        result = CliRunner().invoke(cli, args[1:], catch_exceptions=False)
        assert result.exit_code == 0, f"{line!r} exited {result.exit_code}:\n{result.output}"
    elif args[0] == "python" and args[1].startswith("demos/"):
        demos = str(ROOT / "demos")
        if demos not in sys.path:
            sys.path.insert(0, demos)
        mod = _load(ROOT / args[1], "doc_" + pathlib.Path(args[1]).stem)
        assert mod.main(args[2:]) == 0, line
    else:
        raise AssertionError(f"test blocks run only cnnsim and demos commands, got {line!r}")


TESTED = [p for p in PAGES if blocks(p)]


@pytest.mark.parametrize("page", TESTED, ids=[p.name for p in TESTED])
def test_marked_blocks_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CNNSIM_DATA", str(tmp_path / "no-data"))   # offline
    namespace = {"__name__": f"docs_{page.stem}"}
    for lang, code in blocks(page):
        if lang == "python":
            exec(compile(code, str(page), "exec"), namespace)
        else:
            for line in code.splitlines():
                _run_shell(line, tmp_path)


def test_pages_with_examples_have_tested_blocks():
    for name in ("convolution.md", "pooling.md", "lenet5.md", "alexnet.md", "googlenet.md",
                 "resnet.md", "homework.md", "api.md", "getting-started.md", "trace-format.md",
                 "jupyter.md"):
        assert blocks(DOCS / name), f"{name} has no <!-- test --> block"


# ---- Jupyter displays ----------------------------------------------------------------------
def test_summary_renders_as_html_and_text():
    from cnnsim import display, models
    s = display.summary("alexnet")
    html = s._repr_html_()
    assert html.count("<tr>") == len(s.data["layers"]) + 2      # header, input row, layers
    assert "<th>Kernel size</th>" in html and "56x56" in html and "<li>C1: 224x224" in html
    assert str(s).startswith("alexnet: input 3x224x224")
    built = display.summary(models.build("lenet5"))
    assert built.total_params == 60000
    with pytest.raises(TypeError, match="apply to a model name"):
        display.summary(models.build("lenet5"), variant="paper")


def test_trace_renders_as_html():
    import numpy as np
    from cnnsim import display, layers as L
    from cnnsim.engine import record
    net = L.Sequential([L.Conv2D(2, 3, padding="same", activation="relu", name="C1"),
                        L.MaxPool2D(2, name="S2")], input_shape=(1, 4, 4))
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
