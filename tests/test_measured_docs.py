"""Every measured number in docs/ is what its command prints now.

The blocks marked ``<!-- measured: COMMAND -->`` (written by ``demos/make_measured_docs.py``)
are regenerated here, in a temporary folder, and compared with the page: text exactly,
numbers exactly or within the block's ``tol=``. Blocks marked ``slow`` (training with the
defaults, a minute or more) run under ``pytest -m thorough``; the others always.
"""

import importlib.util
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _gen():
    spec = importlib.util.spec_from_file_location(
        "make_measured_docs", ROOT / "demos" / "make_measured_docs.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


GEN = _gen()
BLOCKS = [b for p in GEN.pages() for b in GEN.blocks(p)]
FAST = [b for b in BLOCKS if not b.slow]
SLOW = [b for b in BLOCKS if b.slow]


_PRINTED: dict = {}  # command -> what it printed: two pages may show the same run


def _check(block, tmp_path):
    if block.command not in _PRINTED:  # deterministic commands: one run answers for all
        (tmp_path / "figures").mkdir()
        _PRINTED[block.command] = GEN.shown(block.command, GEN.run(block.command, tmp_path))
    printed = _PRINTED[block.command]
    why = GEN.disagreement(block.body, printed, block.tol)
    assert why is None, (
        f"{block!r} disagrees with what the command prints ({why}): "
        f"run python demos/make_measured_docs.py --page {block.page.name}"
    )


@pytest.mark.parametrize("block", FAST, ids=[repr(b) for b in FAST])
def test_measured_block_is_what_the_command_prints(block, tmp_path):
    _check(block, tmp_path)


@pytest.mark.thorough
@pytest.mark.parametrize("block", SLOW, ids=[repr(b) for b in SLOW])
def test_slow_measured_block_is_what_the_command_prints(block, tmp_path):
    if GEN.kernels() != GEN.MEASURED_WITH:
        pytest.skip(
            f"the docs' training numbers were measured with the {GEN.MEASURED_WITH} kernels; "
            f"this CPU runs the {GEN.kernels()} ones, whose other tiles send some layers down "
            f"other paths that round float32 sums differently, so training drifts elsewhere"
        )
    _check(block, tmp_path)


def test_the_pages_hold_measured_blocks_and_the_lecture_page_is_one_of_them():
    names = {b.page.name for b in BLOCKS}
    assert {"lecture.md", "resnet.md", "googlenet.md"} <= names
    lecture = [b for b in BLOCKS if b.page.name == "lecture.md"]
    assert len(lecture) >= 10
    for b in BLOCKS:
        assert b.body.startswith(f"$ {b.command}\n"), f"{b!r}: regenerate the page"


def test_disagreement_catches_a_changed_number_and_allows_the_tolerance():
    doc = "$ cnnsim x\nplain-20  0.376  0.696\nresnet-20 0.108\n"
    assert GEN.disagreement(doc, doc) is None
    changed = doc.replace("0.108", "0.208")
    assert "line 3" in GEN.disagreement(doc, changed)
    assert GEN.disagreement(doc, doc.replace("0.108", "0.110"), tol=0.02) is None
    assert GEN.disagreement(doc, changed, tol=0.02) is not None
    assert GEN.disagreement(doc, doc.replace("plain", "plane"), tol=0.5) is not None
    assert "lines" in GEN.disagreement(doc, doc + "more\n")
