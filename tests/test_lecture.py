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
    assert res["conv_output"] == [96, 56, 56]               # SAME: ceil(224 / 4)
    n = 96 * 56 * 56
    assert p["locally connected (no sharing)"] == (363 + 1) * n
    assert p["dense, same outputs as the conv"] == (150_528 + 1) * n
    s = res["savings"]
    assert s["weight_sharing"] == 56 * 56                   # one kernel per map, not per neuron
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
    r = run(["explain", "dense-vs-conv", "--input", "1x32x32", "--units", "84", "--filters", "6",
             "--kernel", "5", "--stride", "1", "--padding", "valid", "--out", str(png), "--json"])
    data = json.loads(r.stdout)
    assert data["rows"][3]["params"] == 6 * 26 == 156      # LeNet-5's C1
    assert data["rows"][0]["params"] == (1024 + 1) * 84
    assert png.stat().st_size > 5000
    for bad in (["--input", "3x224"], ["--kernel", "0"], ["--input", "3x4x4", "--kernel", "5",
                                                          "--padding", "valid"]):
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
    win = window((5, 7), 3, 2, "same")     # pads 1 on every side, output 3x4
    # rows read: neuron row 0 -> -1..1, row 1 -> 1..3, row 2 -> 3..5: input rows 1 and 3 twice
    # cols read: -1..1, 1..3, 3..5, 5..7: input cols 1, 3, 5 twice
    rows = [1, 2, 1, 2, 1]
    cols = [1, 2, 1, 2, 1, 2, 1]
    assert coverage(win) == [[a * b for b in cols] for a in rows]
    # every neuron reads 9 positions; 3x4 neurons; padding positions read are not pixels
    total = sum(map(sum, coverage(win)))
    pad_reads = sum(1 for i in range(3) for j in range(4) for r in win.rows(i) for c in win.cols(j)
                    if not (0 <= r < 5 and 0 <= c < 7))
    assert total == 3 * 4 * 9 - pad_reads


@pytest.mark.parametrize("hw,k,s,pad", [((6, 6), 2, 3, "valid"), ((7, 5), 3, 1, "valid"),
                                        ((8, 8), 4, 4, "valid"), ((9, 6), (3, 2), (2, 3), 1)])
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
    r = run(["explain", "conv", "--input", "5x7", "--kernel", "3", "--stride", "2", "--padding",
             "same", "--coverage", "--out", str(png)])
    assert r.exit_code == 0
    assert "  1 2 1 2 1 2 1\n  2 4 2 4 2 4 2" in r.output and "overlap: 23 of 35" in r.output
    assert png.stat().st_size > 5000
    r = run(["explain", "conv", "--input", "6x6", "--kernel", "2", "--stride", "3", "--coverage",
             "--no-plot", "--json"])
    data = json.loads(r.output)
    assert data["gaps"] == 36 - 16 and data["overlap"] == 0 and data["max"] == 1
    r = run(["explain", "conv", "--input", "6x6", "--kernel", "2", "--stride", "2", "--coverage",
             "--no-plot"])
    assert "exactly one neuron" in r.output
    r = CliRunner().invoke(cli, ["explain", "conv", "--input", "5x5", "--kernel", "3",
                                 "--coverage", "--flip"])
    assert r.exit_code == 2


def test_flip_cross_correlation_vs_convolution_by_hand():
    from cnnsim import functional as F
    from cnnsim.plotting.coverage import flip_facts
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
    r = run(["gradflow", "--depth", "6", "--width", "3", "--batch", "4", "--unit", "post", "--json"])
    post = json.loads(r.output)
    assert post["config"]["unit"] == "post"
    pre = json.loads(run(["gradflow", "--depth", "6", "--width", "3", "--batch", "4", "--json"]).output)
    assert pre["config"]["unit"] == "pre"
    assert pre["plain"]["grad_norm"] == post["plain"]["grad_norm"]      # plain is unaffected
    assert pre["residual"]["first_last_ratio"] > post["residual"]["first_last_ratio"]
    from cnnsim.plotting.gradflow import gradflow_figure
    title = gradflow_figure(post)._suptitle.get_text()
    assert "post-activation" in title and "act(conv(act(conv(x))) + x)" in title
    r = run(["gradflow", "--depth", "4", "--width", "2", "--batch", "2", "--unit", "post"])
    assert "post-activation residual units" in r.output.splitlines()[0]
