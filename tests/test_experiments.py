"""Gradient flow, degradation and auxiliary-head experiments: plain data, CLI, figures."""

import json
import math

import numpy as np
from click.testing import CliRunner

from cnnsim.cli.main import cli
from cnnsim.experiments.aux_heads import aux_gradient_effect
from cnnsim.experiments.degradation import degradation, verdict
from cnnsim.experiments.gradflow import compare_plain_residual, first_last_ratio


def test_sigmoid_plain_tower_vanishes_and_residual_twin_does_not():
    res = compare_plain_residual(depth=12, activation="sigmoid", batch=8, width=4)
    plain, resid = res["plain"], res["residual"]
    convs = [n for n in plain["layers"] if n.startswith("conv")]
    assert convs == [f"conv{k}" for k in range(1, 13)]
    # depth 12: sigmoid' <= 1/4 per layer -> many orders of magnitude in the plain tower
    assert plain["first_last_ratio"] < 1e-5
    assert resid["first_last_ratio"] > 1e-3
    assert plain["first_last_ratio"] == first_last_ratio(plain)
    g = np.array(plain["grad_norm"][:-1])
    assert np.all(np.diff(np.log(g)) > 0), "plain sigmoid gradients should grow toward the output"


def test_relu_dead_fraction_and_saturation_recorded():
    res = compare_plain_residual(depth=4, activation="relu", batch=4, width=3)
    dead = [d for d in res["plain"]["dead"] if d is not None]
    assert dead and all(0.0 <= d <= 1.0 for d in dead)
    res = compare_plain_residual(depth=4, activation="sigmoid", batch=4, width=3, steps=2)
    assert all(s is None or 0.0 <= s <= 1.0 for s in res["plain"]["saturated"])
    assert len(res["plain"]["trained"]["losses"]) == 2


def test_gradflow_cli_json_table_and_figure(tmp_path):
    r = CliRunner().invoke(
        cli, ["gradflow", "--depth", "6", "--width", "3", "--batch", "4", "--json"]
    )
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert set(data) >= {"plain", "residual"}
    assert len(data["plain"]["layers"]) == len(data["plain"]["grad_norm"])
    out = tmp_path / "g.png"
    r = CliRunner().invoke(
        cli,
        [*("gradflow --depth 4 --width 2 --batch 4 --activation tanh --out").split(), str(out)],
    )
    assert r.exit_code == 0, r.output
    assert "first/last hidden layer gradient ratio" in r.output
    assert out.stat().st_size > 10_000
    r = CliRunner().invoke(cli, ["gradflow", "--activation", "swish"])
    assert r.exit_code == 2


def test_aux_heads_add_gradient_below_their_taps_only():
    res = aux_gradient_effect(width=0.0625, input_size=64, batch=2)
    gain = dict(zip(res["layers"], res["gain"]))
    assert gain["conv1"] > 1.0
    above = [
        g
        for name, g in gain.items()
        if name.startswith(("inception_4e", "inception_5")) or name == "fc"
    ]
    assert above and all(math.isclose(g, 1.0, rel_tol=1e-6) for g in above)


def test_degradation_runs_and_reports_curves(tmp_path):
    res = degradation(depths=(8, 14), width=0.125, limit=64, test_limit=32, epochs=1, batch_size=32)
    assert set(res["runs"]) == {"plain-8", "resnet-8", "plain-14", "resnet-14"}
    for run in res["runs"].values():
        assert len(run["train_error"]) == 1 and 0 <= run["train_error"][0] <= 1
    r = CliRunner().invoke(cli, ["experiment", "degradation", "--depths", "21"])
    assert r.exit_code == 2 and "6n+2" in r.output


def _runs(plain, residual, depths=(8, 20)):
    """Hand-made ``runs``: the given final training errors after a first epoch at 0.9."""
    runs = {}
    for prefix, errs in (("plain", plain), ("resnet", residual)):
        for d, e in zip(depths, errs):
            runs[f"{prefix}-{d}"] = {"train_error": [0.9, e]}
    return runs


def test_degradation_verdict_says_what_the_final_errors_show():
    v = verdict(_runs((0.05, 0.30), (0.04, 0.03)), [8, 20])
    assert v["plain_degrades"] and not v["residual_degrades"]
    assert v["plain"] == [0.05, 0.30] and v["residual"] == [0.04, 0.03]
    assert v["text"].startswith("the 20-layer plain net trains WORSE than the 8-layer one")
    assert "(0.300 vs 0.050): degradation; the residual one does not (0.030 vs 0.040)" in v["text"]
    assert v["text"].endswith("(0.030 vs 0.040)")
    v = verdict(_runs((0.05, 0.30), (0.008, 0.024)), [8, 20])  # higher, but within 0.02
    assert v["plain_degrades"] and not v["residual_degrades"]
    assert v["text"].endswith("(0.024 vs 0.008, under 0.02 apart: about the same)")
    # the residual twin degrades too: no claim that the shortcuts helped
    v = verdict(_runs((0.05, 0.30), (0.04, 0.20)), [8, 20])
    assert v["plain_degrades"] and v["residual_degrades"]
    assert "but so does the residual one" in v["text"] and "WORSE" not in v["text"]
    # within the tolerance (0.02) the deeper plain net counts as equal: no degradation
    v = verdict(_runs((0.05, 0.065), (0.04, 0.03)), [8, 20])
    assert not v["plain_degrades"] and v["text"].startswith("no degradation this time")
    v = verdict(_runs((0.05, 0.065), (0.04, 0.03)), [8, 20], tolerance=0.01)
    assert v["plain_degrades"]
    # deepest vs shallowest whatever the order given; nothing learned: no judgement
    v = verdict(_runs((0.3, 0.1, 0.05), (0.1, 0.1, 0.1), (56, 8, 20)), [56, 8, 20])
    assert (v["shallow"], v["deep"], v["plain"]) == (8, 56, [0.1, 0.3])
    v = verdict(_runs((0.85, 0.92), (0.88, 0.9)), [8, 20])
    assert v["text"].startswith("not trained enough to judge")
    assert verdict(_runs((0.1,), (0.1,), (8,)), [8]) is None


def test_degradation_cli_table_and_verdict_agree_with_the_curves():
    """The experiment's own code path with a small budget: the final-error table repeats
    the curves' last values and the verdict is the one those numbers give."""
    args = ["experiment", "degradation", "--depths", "8,14", "--width", "0.125"]
    args += ["--limit", "64", "--test-limit", "20", "--epochs", "2", "--quiet"]
    r = CliRunner().invoke(cli, args + ["--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    last = {name: run["train_error"][-1] for name, run in res["runs"].items()}
    v = res["verdict"]
    assert v["plain"] == [last["plain-8"], last["plain-14"]]
    assert v["residual"] == [last["resnet-8"], last["resnet-14"]]
    assert v["plain_degrades"] == (last["plain-14"] - last["plain-8"] > 0.02)
    assert v["residual_degrades"] == (last["resnet-14"] - last["resnet-8"] > 0.02)
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    row = {l.split()[0]: l.split()[1:] for l in lines if l.startswith(("plain ", "residual "))}
    assert row["plain"] == [f"{last['plain-8']:.3f}", f"{last['plain-14']:.3f}"]
    assert row["residual"] == [f"{last['resnet-8']:.3f}", f"{last['resnet-14']:.3f}"]
    said = " ".join(
        l.strip() for l in lines[lines.index(next(l for l in lines if l.startswith("verdict: "))) :]
    )
    assert said == "verdict: " + v["text"]
    assert all(len(l) <= 100 for l in lines[1:])  # (the data line is every experiment's)


def test_experiment_says_when_kernels_compile_first(monkeypatch):
    """On a first run (empty Numba cache) the silence before the first epoch line is
    explained on stderr; with a warm cache, and with --quiet, nothing is added."""
    from cnnsim.cli import warm_up

    args = ["experiment", "degradation", "--depths", "8", "--width", "0.125"]
    args += ["--limit", "16", "--test-limit", "10", "--epochs", "1"]
    for empty, quiet, said in ((True, False, True), (False, False, False), (True, True, False)):
        monkeypatch.setattr(warm_up, "_cache_empty", lambda d, empty=empty: empty)
        r = CliRunner().invoke(cli, args + (["--quiet"] if quiet else []))
        assert r.exit_code == 0, r.output
        assert ("compiling kernels for this machine, first run only" in r.stderr) == said
        assert "compiling" not in r.stdout
