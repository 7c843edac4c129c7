"""The lecture's "why" slides as commands (issue 23): dense vs conv, coverage and flip,
gradflow's residual unit, LeNet-5's gap, skip spans; numbers checked by hand arithmetic."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from cnnsim.cli.main import cli


def run(args):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


# -- 1. dense vs conv --------------------------------------------------------------------------
def test_dense_vs_conv_lecture_numbers_by_hand():
    from cnnsim.experiments.dense_vs_conv import dense_vs_conv

    res = dense_vs_conv((3, 224, 224), units=1000, filters=96, kernel=11, stride=4, padding="same")
    p = {r["name"]: r["params"] for r in res["rows"]}
    assert p["dense, 1,000 units"] == (3 * 224 * 224 + 1) * 1000 == 150_529_000
    assert p["convolution, 96 filters"] == 96 * (3 * 11 * 11 + 1) == 34_944
    assert res["conv_output"] == [96, 56, 56]  # SAME: ceil(224 / 4)
    n = 96 * 56 * 56
    assert p["locally connected (no sharing)"] == (363 + 1) * n
    assert p["dense, same outputs as the conv"] == (150_528 + 1) * n
    s = res["savings"]
    assert s["weight_sharing"] == 56 * 56  # one kernel per map, not per neuron
    assert s["local_connectivity"] == pytest.approx(150_529 / 364)
    assert s["total"] == pytest.approx(s["weight_sharing"] * s["local_connectivity"])
    macs = {r["name"]: r["macs"] for r in res["rows"]}
    assert macs["dense, 1,000 units"] == 150_528_000
    assert macs["convolution, 96 filters"] == 363 * n == macs["locally connected (no sharing)"]


def test_dense_vs_conv_cli_text_json_figure_and_errors(tmp_path):
    r = run(["explain", "dense-vs-conv", "--no-plot"])
    assert r.exit_code == 0
    assert "150,529,000" in r.output and "34,944" in r.output
    assert "local connectivity" in r.output and "weight sharing" in r.output
    assert max(map(len, r.output.splitlines())) <= 100
    png = tmp_path / "d.png"
    r = run(
        [
            *(
                "explain dense-vs-conv --input 1x32x32 --units 84 --filters 6 "
                "--kernel 5 --stride 1 --padding valid --out"
            ).split(),
            str(png),
            "--json",
        ]
    )
    data = json.loads(r.stdout)
    assert data["rows"][3]["params"] == 6 * 26 == 156  # LeNet-5's C1
    assert data["rows"][0]["params"] == (1024 + 1) * 84
    assert png.stat().st_size > 5000
    for bad in (
        ["--input", "3x224"],
        ["--kernel", "0"],
        ["--input", "3x4x4", "--kernel", "5", "--padding", "valid"],
    ):
        r = CliRunner().invoke(cli, ["explain", "dense-vs-conv", "--no-plot", *bad])
        assert r.exit_code == 2 and "Traceback" not in r.output, (bad, r.output)


def test_summary_all_dense_twin_note():
    from cnnsim.models.summary import describe

    data = describe("lenet5", dense_twin=True)
    note = [n for n in data["notes"] if n.startswith("All-dense twin")]
    assert len(note) == 1
    # C1 1x32x32 -> 6x28x28, C3 6x14x14 -> 16x10x10, C5 16x5x5 -> 120x1x1, each as a dense layer
    twin = (1024 + 1) * 4704 + (1176 + 1) * 1600 + (400 + 1) * 120
    assert f"{twin:,}" in note[0]
    assert not [n for n in describe("lenet5")["notes"] if n.startswith("All-dense twin")]
    r = run(["summary", "alexnet", "--dense-twin"])
    assert r.exit_code == 0 and "All-dense twin" in r.output


# -- 4. coverage and flip ----------------------------------------------------------------------
def test_coverage_on_the_lecture_5x7_example_by_hand():
    from cnnsim.geometry import coverage, window

    win = window((5, 7), 3, 2, "same")  # pads 1 on every side, output 3x4
    # rows read: neuron row 0 -> -1..1, row 1 -> 1..3, row 2 -> 3..5: input rows 1 and 3 twice
    # cols read: -1..1, 1..3, 3..5, 5..7: input cols 1, 3, 5 twice
    rows = [1, 2, 1, 2, 1]
    cols = [1, 2, 1, 2, 1, 2, 1]
    assert coverage(win) == [[a * b for b in cols] for a in rows]
    # every neuron reads 9 positions; 3x4 neurons; padding positions read are not pixels
    total = sum(map(sum, coverage(win)))
    pad_reads = sum(
        1
        for i in range(3)
        for j in range(4)
        for r in win.rows(i)
        for c in win.cols(j)
        if not (0 <= r < 5 and 0 <= c < 7)
    )
    assert total == 3 * 4 * 9 - pad_reads


@pytest.mark.parametrize(
    "hw,k,s,pad",
    [
        ((6, 6), 2, 3, "valid"),
        ((7, 5), 3, 1, "valid"),
        ((8, 8), 4, 4, "valid"),
        ((9, 6), (3, 2), (2, 3), 1),
    ],
)
def test_coverage_matches_counting_every_neuron(hw, k, s, pad):
    from cnnsim.geometry import coverage, window

    win = window(hw, k, s, pad)
    brute = np.zeros(hw, dtype=int)
    for i in range(win.out_hw[0]):
        for j in range(win.out_hw[1]):
            for r in win.rows(i):
                for c in win.cols(j):
                    if 0 <= r < hw[0] and 0 <= c < hw[1]:
                        brute[r, c] += 1
    assert coverage(win) == brute.tolist()


def test_coverage_cli_overlap_gaps_and_tiling(tmp_path):
    png = tmp_path / "c.png"
    r = run(
        [
            *(
                "explain conv --input 5x7 --kernel 3 --stride 2 --padding same --coverage --out"
            ).split(),
            str(png),
        ]
    )
    assert r.exit_code == 0
    assert "  1 2 1 2 1 2 1\n  2 4 2 4 2 4 2" in r.output and "overlap: 23 of 35" in r.output
    assert png.stat().st_size > 5000
    r = run(("explain conv --input 6x6 --kernel 2 --stride 3 --coverage --no-plot --json").split())
    data = json.loads(r.output)
    assert data["gaps"] == 36 - 16 and data["overlap"] == 0 and data["max"] == 1
    r = run(("explain conv --input 6x6 --kernel 2 --stride 2 --coverage --no-plot").split())
    assert "exactly one neuron" in r.output
    r = CliRunner().invoke(
        cli, ["explain", "conv", "--input", "5x5", "--kernel", "3", "--coverage", "--flip"]
    )
    assert r.exit_code == 2


def test_flip_cross_correlation_vs_convolution_by_hand():
    from cnnsim import functional as F
    from cnnsim.arithmetic import flip_facts

    f = flip_facts((4, 4), 2, 1, "valid", seed=0)
    x, k = np.array(f["input"]), np.array(f["kernel"])
    assert k.tolist() == [[1, 2], [3, 4]] and f["flipped"] == [[4, 3], [2, 1]]
    # by hand: the top-left output
    assert f["cross_correlation"][0][0] == x[0, 0] * 1 + x[0, 1] * 2 + x[1, 0] * 3 + x[1, 1] * 4
    assert f["convolution"][0][0] == x[0, 0] * 4 + x[0, 1] * 3 + x[1, 0] * 2 + x[1, 1] * 1
    # the network's conv2d computes the cross-correlation; with the flipped kernel, convolution
    xf = x[None, None].astype(np.float64)
    y = F.conv2d(xf, k[None, None].astype(np.float64), np.zeros(1))
    assert np.array_equal(y[0, 0], np.array(f["cross_correlation"], dtype=float))
    y = F.conv2d(xf, k[::-1, ::-1][None, None].copy().astype(np.float64), np.zeros(1))
    assert np.array_equal(y[0, 0], np.array(f["convolution"], dtype=float))
    assert not f["equal"]
    r = run(["explain", "conv", "--input", "4x4", "--kernel", "2", "--flip"])
    assert r.exit_code == 0 and "kernel flipped" in r.output and "does not matter" in r.output


# -- 5. gradflow --unit --------------------------------------------------------------------------
def test_gradflow_unit_named_in_help_json_and_title(tmp_path):
    r = run(["gradflow", "--help"])
    assert "--unit" in r.output and "pre" in r.output and "post" in r.output
    r = run(
        ["gradflow", "--depth", "6", "--width", "3", "--batch", "4", "--unit", "post", "--json"]
    )
    post = json.loads(r.output)
    assert post["config"]["unit"] == "post"
    pre = json.loads(
        run(["gradflow", "--depth", "6", "--width", "3", "--batch", "4", "--json"]).output
    )
    assert pre["config"]["unit"] == "pre"
    assert pre["plain"]["grad_norm"] == post["plain"]["grad_norm"]  # plain is unaffected
    assert pre["residual"]["first_last_ratio"] > post["residual"]["first_last_ratio"]
    from cnnsim.plotting.gradflow import gradflow_figure

    title = gradflow_figure(post)._suptitle.get_text()
    assert "post-activation" in title and "act(conv(act(conv(x))) + x)" in title
    r = run(["gradflow", "--depth", "4", "--width", "2", "--batch", "2", "--unit", "post"])
    assert "post-activation residual units" in r.output.splitlines()[0]


# -- 2. skip spans, and degradation's progress ---------------------------------------------------
def test_skip_cifar_spans_share_their_layers():
    from cnnsim import models

    nets = {
        s: models.build("skip_cifar", n=1, span=s, width=0.25, input_shape=(1, 14, 14))
        for s in (0, 1, 2)
    }
    convs = {
        s: [l for l in n.leaves() if l.kind == "Conv2D" and "shortcut" not in l.path]
        for s, n in nets.items()
    }
    assert len({len(c) for c in convs.values()}) == 1 and len(convs[0]) == 1 + 6  # 6n + 1 convs
    units = {s: [l for l in n.walk() if l.kind == "ResidualUnit"] for s, n in nets.items()}
    assert len(units[0]) == 0 and len(units[1]) == 6 and len(units[2]) == 3
    # span 2 is resnet_cifar's layout, span 0 plain_cifar's: the same parameter counts
    assert (
        nets[2].param_count()
        == models.build("resnet_cifar", n=1, width=0.25, input_shape=(1, 14, 14)).param_count()
    )
    assert (
        nets[0].param_count()
        == models.build("plain_cifar", n=1, width=0.25, input_shape=(1, 14, 14)).param_count()
    )
    x = np.random.default_rng(0).random((2, 1, 14, 14), dtype=np.float32)
    y = nets[1](x)
    assert y.shape == (2, 10) and np.allclose(y.sum(axis=1), 1, atol=1e-5)
    with pytest.raises(ValueError, match="span must be 0"):
        models.build("skip_cifar", n=1, span=3)


def test_skip_span_experiment_small_and_cli(tmp_path):
    from cnnsim.experiments.skip_span import skip_span

    lines = []
    res = skip_span(
        spans=(0, 1),
        depths=(8,),
        width=0.125,
        limit=32,
        test_limit=16,
        epochs=2,
        size=7,
        progress=lines.append,
    )
    assert list(res["runs"]) == ["span0-8", "span1-8"]
    assert all(len(r["train_error"]) == 2 for r in res["runs"].values())
    assert lines[0].startswith("[1/2] span0-8: epoch 1/2, training error")
    again = skip_span(
        spans=(0, 1), depths=(8,), width=0.125, limit=32, test_limit=16, epochs=2, size=7
    )
    assert again["runs"]["span1-8"]["train_loss"] == res["runs"]["span1-8"]["train_loss"]
    r = CliRunner().invoke(
        cli,
        (
            "experiment skip-span --span 0,2 --depth 8 --width 0.125 "
            "--limit 32 --test-limit 16 --epochs 1 --size 7"
        ).split(),
    )
    assert r.exit_code == 0, r.output
    assert "[2/2] span2-8: epoch 1/1" in r.stderr and "span0-8" in r.stdout
    r = CliRunner().invoke(cli, ["experiment", "skip-span", "--span", "3"])
    assert r.exit_code == 2 and "span must be 0" in r.output


def test_degradation_prints_which_net_is_training():
    r = CliRunner().invoke(
        cli,
        (
            "experiment degradation --depths 8 --width 0.125 --limit 32 "
            "--test-limit 16 --epochs 2 --size 7"
        ).split(),
    )
    assert r.exit_code == 0, r.output
    assert "[1/2] plain-8: epoch 1/2, training error" in r.stderr
    assert "[2/2] resnet-8: epoch 2/2" in r.stderr
    assert r.stdout.splitlines()[1].split()[:2] == ["net", "params"]


# -- 3. LeNet-5's gap --------------------------------------------------------------------------
def test_lenet_gap_records_saturation_and_dead_units_per_epoch():
    from cnnsim.experiments.lenet_gap import lenet_gap

    res = lenet_gap(
        activations=("sigmoid", "relu"), limits=(32,), test_limit=16, epochs=2, probe=16
    )
    sig, relu = res["runs"]["sigmoid-32"], res["runs"]["relu-32"]
    assert sig["layers"] == relu["layers"] == ["C1", "C3", "C5", "F6"]
    assert len(sig["saturated"]) == 2 and len(sig["saturated"][0]) == 4
    assert all(0 <= v <= 1 for ep in sig["saturated"] for v in ep)
    assert all(v is None for ep in sig["dead"] for v in ep)
    assert all(0 <= v <= 1 for ep in relu["dead"] for v in ep)


def test_unit_stats_counts_saturated_and_dead_units_by_hand():
    from cnnsim import layers as L
    from cnnsim.experiments.gradflow import unit_stats

    net = L.Sequential(
        [L.Dense(3, activation="relu", name="r"), L.Dense(2, activation="sigmoid", name="s")],
        input_shape=(2,),
        seed=0,
    )
    r, s = net.find("r"), net.find("s")
    r.params["w"][...] = [[1, -1, 0], [0, 0, 1]]  # w (D_in, D_out): units x0, -x0, x1
    r.params["b"][...] = 0
    s.params["w"][...] = [[100, 0], [0, 0], [0, 0]]  # s0 = sigmoid(100 r0), s1 = sigmoid(0)
    s.params["b"][...] = 0
    x = np.array([[1.0, 1.0], [2.0, 0.5]], dtype=np.float32)  # unit 1 (-x0) is 0 for both: dead
    st = unit_stats(net, x)
    assert st["r"]["dead"] == pytest.approx(1 / 3)
    assert st["s"]["saturated"] == pytest.approx(0.5)  # s0 = sigmoid(100 x0) ~ 1; s1 = 0.5


def test_train_activation_and_lighting_options(tmp_path):
    out = tmp_path / "run"
    r = CliRunner().invoke(
        cli,
        [
            *(
                "train lenet5 --variant modern --activation sigmoid --data "
                "synthetic --limit 32 --test-limit 16 --epochs 1 --quiet "
                "--augment lighting --out"
            ).split(),
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    from cnnsim.train import load_checkpoint  # noqa: F401  (checkpoint written)

    assert (out / "checkpoint.npz").exists()
    r = CliRunner().invoke(cli, ["train", "alexnet", "--activation", "relu"])
    assert r.exit_code == 2 and "no activation option" in r.output


# -- 6. notation and notes -----------------------------------------------------------------------
def test_googlenet_lecture_notation_and_aux_positions():
    r = run(["summary", "googlenet", "--notation", "lecture"])
    lines = r.output.splitlines()
    assert "Patch size/stride" in lines[1]
    conv1 = next(ln for ln in lines if ln.startswith("conv1 "))
    assert "7x7 + 2(S)" in conv1
    assert "1x1 + 1(V)" in next(ln for ln in lines if ln.startswith("conv2_reduce "))
    assert "3x3 + 2(S) = 3x3 window, stride 2, SAME padding" in r.output
    assert "aux1 on inception_4a (the 3rd of the 9 inception modules)" in r.output
    assert "aux2 on inception_4d (the 6th of the 9 inception modules)" in r.output


def test_lenet5_notes_slides_activations_and_no_table_parameter_claim():
    from cnnsim.models.summary import describe

    for variant, used in (("paper", "scaled tanh"), ("modern", "tanh everywhere")):
        notes = " ".join(describe("lenet5", variant=variant)["notes"])
        assert "sigmoid units in the hidden layers and tanh at F6" in notes and used in notes
        assert "--activation sigmoid" in notes
    notes = " ".join(describe("lenet5", variant="modern")["notes"])
    assert "as in the lecture's table" not in notes and "lists no parameter counts" in notes
    notes = " ".join(describe("lenet5", variant="modern", activation="sigmoid")["notes"])
    assert "uses sigmoid everywhere" in notes


# -- 2/6. wide vs deep, dropout ------------------------------------------------------------------
def test_wide_deep_and_dropout_small():
    from cnnsim.experiments.capacity import dropout_on_off, wide_vs_deep

    res = wide_vs_deep(limit=32, test_limit=16, epochs=1, size=7)
    p = [r["params"] for r in res["runs"].values()]
    assert abs(p[0] - p[1]) / max(p) < 0.1  # about the same parameters
    assert [r["receptive_field"] for r in res["runs"].values()] == [5, 17]
    res = dropout_on_off(limit=32, test_limit=16, epochs=1)
    assert list(res["runs"]) == ["no dropout", "dropout 0.5"]
    a, b = res["runs"].values()
    assert a["params"] == b["params"]  # dropout has no parameters
    assert a["train_loss"] != b["train_loss"]  # and it changes training
    r = CliRunner().invoke(
        cli,
        ("experiment dropout --limit 32 --test-limit 16 --epochs 1 --quiet").split(),
    )
    assert r.exit_code == 0 and "test - training error" in r.output
