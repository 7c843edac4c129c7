"""Gradient flow, degradation and auxiliary-head experiments: plain data, CLI, figures."""

import json
import math

import numpy as np
from click.testing import CliRunner

from cnnsim.cli.main import cli
from cnnsim.experiments.aux_heads import aux_gradient_effect
from cnnsim.experiments.degradation import degradation
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
