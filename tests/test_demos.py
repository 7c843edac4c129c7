"""Every demo runs in quick mode, writes its figures (so none rots) and prints the numbers it
exists to show, recomputed here from first principles where they can be."""

import importlib.util
import math
import pathlib
import re
import sys

import numpy as np
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
    assert {
        "trace_lenet5",
        "alexnet_table",
        "receptive_fields",
        "inception_savings",
        "lrn_effect",
        "pooling_drops",
        "vanishing_gradients",
        "train_lenet5",
    } <= names


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_demo_quick(path, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CNNSIM_DATA", str(tmp_path / "no-data"))  # offline, no real MNIST
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


# ---- every demo's key numbers, recomputed here -------------------------------------------------
def _quick(name, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CNNSIM_DATA", str(tmp_path / "no-data"))
    assert _load(DEMOS / f"{name}.py").main(["--quick", "--out", str(tmp_path / "out")]) == 0
    return capsys.readouterr().out


def _float(pattern, text):
    m = re.search(pattern, text)
    assert m, f"{pattern!r} not in:\n{text}"
    return float(m.group(1))


def test_trace_lenet5_neuron_and_receptive_field(tmp_path, capsys, monkeypatch):
    out = _quick("trace_lenet5", tmp_path, capsys, monkeypatch)
    # LeNet-5's table: C3 map 2 reads S2 maps 2, 3, 4; rows/cols i..i+4 of S2
    assert "C3 neuron (map 2, row 4, col 4) reads S2 maps [2, 3, 4], rows 4..8, cols 4..8" in out
    s = _float(r"sum of products \+ bias = (-?[\d.]+)", out)
    y = _float(r"scaled_tanh -> (-?[\d.]+);", out)
    assert y == pytest.approx(1.7159 * math.tanh(2 / 3 * s), abs=2e-6)  # LeCun's f(a)
    assert "(agree: True)" in out
    # C1 5x5/1, S2 2x2/2, C3 5x5/1: size 5 + 1 + 4*2 = 14, jump 2, start 4*2*2... = 8
    assert "rows 8..21, cols 8..21 (14x14, jump (2, 2))" in out


def test_receptive_fields_table_follows_the_recurrence(tmp_path, capsys, monkeypatch):
    out = _quick("receptive_fields", tmp_path, capsys, monkeypatch)
    rows = re.findall(r"^\s+(C\d|S\d)\s+(\d)x\d\s+(\d)\s+(\d+)x\d+\s+(\d+)$", out, re.M)
    assert [r[0] for r in rows] == ["C1", "S2", "C3", "S4", "C5"]
    size, jump = 1, 1
    for name, f, s, rf, j in rows:
        size, jump = size + (int(f) - 1) * jump, jump * int(s)  # size' = size + (f-1) jump
        assert (int(rf), int(j)) == (size, jump), name
    assert size == 32  # C5 sees the whole 32x32 image
    assert "C5 (0, 0): rows 0..31, cols 0..31  (32x32)" in out


def test_vanishing_gradients_ratio_is_that_of_the_printed_norms(tmp_path, capsys, monkeypatch):
    out = _quick("vanishing_gradients", tmp_path, capsys, monkeypatch)
    norms = {
        name: (float(p), float(r))
        for name, p, r in re.findall(r"^\s+(conv\d+|out)\s+([\d.e+-]+)\s+([\d.e+-]+)$", out, re.M)
    }
    convs = sorted((k for k in norms if k.startswith("conv")), key=lambda k: int(k[4:]))
    first, last = norms[convs[0]], norms[convs[-1]]
    plain = _float(r"plain\s+: first / last hidden layer gradient = ([\d.e+-]+)", out)
    resid = _float(r"residual: first / last hidden layer gradient = ([\d.e+-]+)", out)
    assert plain == pytest.approx(first[0] / last[0], rel=2e-3)
    assert resid == pytest.approx(first[1] / last[1], rel=2e-3)
    assert plain < 1e-3 < resid  # sigmoid: vanishes in the plain tower only
    plain_norms = [norms[k][0] for k in convs]
    assert plain_norms == sorted(plain_norms)  # growing toward the output


def test_lrn_effect_ratios_follow_the_lecture_formula(tmp_path, capsys, monkeypatch):
    out = _quick("lrn_effect", tmp_path, capsys, monkeypatch)
    rows = re.findall(r"^\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", out, re.M)
    a = np.array([float(r[1]) for r in rows])
    assert len(a) == 16 and a[7] == 150.0
    r, k, alpha, beta = 5, 2.0, 1e-4, 0.75
    for i, (_, _, b_i, ratio) in enumerate(rows):
        lo, hi = max(0, i - r // 2), min(i + r // 2, 15)
        want = (k + alpha * np.sum(a[lo : hi + 1] ** 2)) ** -beta
        assert float(ratio) == pytest.approx(want, abs=6e-4), i
        assert float(b_i) == pytest.approx(a[i] * want, abs=6e-3), i


def test_lrn_effect_compares_with_pytorch(tmp_path, capsys, monkeypatch):
    pytest.importorskip("torch", reason="the PyTorch comparison needs torch (the test extra)")
    out = _quick("lrn_effect", tmp_path, capsys, monkeypatch)
    assert _float(r"max \|difference\| = ([\d.e+-]+)", out) < 1e-10  # float64 inputs


def test_train_lenet5_quick_learns_and_reports_consistently(tmp_path, capsys, monkeypatch):
    out = _quick("train_lenet5", tmp_path, capsys, monkeypatch)
    assert "synthetic digits" in out and "256 train / 128 test images" in out
    loss = _float(r"epoch 1: loss ([\d.]+)", out)
    test_acc = _float(r"test accuracy ([\d.]+)", out)
    assert loss < math.log(10)  # below chance's cross-entropy
    assert test_acc > 0.15  # chance is 0.1 (measured 0.273)
