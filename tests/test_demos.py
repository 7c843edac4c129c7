"""Every demo runs in quick mode and writes its figures (so none rots)."""
import importlib.util
import pathlib
import sys

import pytest

DEMOS = pathlib.Path(__file__).resolve().parents[1] / "demos"
SCRIPTS = sorted(p for p in DEMOS.glob("*.py") if not p.name.startswith(("_", "make_")))


def _load(path):
    if str(DEMOS) not in sys.path:
        sys.path.insert(0, str(DEMOS))
    spec = importlib.util.spec_from_file_location(f"demo_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_expected_demos_exist():
    names = {p.stem for p in SCRIPTS}
    assert {"trace_lenet5", "alexnet_table", "receptive_fields", "inception_savings",
            "lrn_effect", "pooling_drops", "vanishing_gradients", "train_lenet5"} <= names


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_demo_quick(path, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CNNSIM_DATA", str(tmp_path / "no-data"))   # offline, no real MNIST
    mod = _load(path)
    assert mod.__doc__ and "Lecture question" in mod.__doc__, "each demo states its question"
    assert mod.main(["--quick", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    written = list((tmp_path / "out").iterdir())
    assert written, f"{path.name} wrote nothing"
    for f in written:
        assert f.stat().st_size > 0, f"{f} is empty"
        if f.suffix == ".png":
            assert f"wrote {f}" in out


def test_demo_facts(tmp_path, capsys):
    """The numbers the demos exist to show."""
    _load(DEMOS / "pooling_drops.py").main(["--quick", "--out", str(tmp_path)])
    _load(DEMOS / "alexnet_table.py").main(["--quick", "--out", str(tmp_path)])
    _load(DEMOS / "inception_savings.py").main(["--quick", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "inputs reaching the output 25.0%, dropped 75.0%" in out
    assert "ceil(224 / 4)            = 56" in out and "floor((227 - 11) / 4) + 1 = 55" in out
    assert "after 16 1x1" in out and "(9.7x fewer)" in out
