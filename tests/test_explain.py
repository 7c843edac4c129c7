"""`cnnsim explain conv|pool`, cnnsim.arithmetic and cnnsim.plotting.arithmetic: the lecture's numbers, the
pictures written, the pass/drop fraction counted, bad input refused with exit code 2."""

import json
import os

import numpy as np
import pytest
from cases import child_env
from click.testing import CliRunner
from PIL import Image

from cnnsim import arithmetic as AR
from cnnsim.cli.main import cli
from cnnsim.plotting import arithmetic as A

LECTURE = ("explain conv --input 5x7 --kernel 3 --stride 2 --padding same").split()


def run(args):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


# -- the facts ---------------------------------------------------------------------------------
def test_lecture_example_geometry():
    f = AR.conv_facts((5, 7), 3, 2, "same", neuron=(1, 2))
    assert f["output"] == [3, 4]
    assert f["pads"] == {"top": 1, "bottom": 1, "left": 1, "right": 1}
    assert f["padded_input"] == [7, 9]
    assert f["unused"] == {"rows": [], "cols": []}
    n = f["neuron"]
    assert n["rows"] == [1, 2, 3] and n["cols"] == [3, 4, 5]
    assert n["padded_rows"] == [2, 3, 4] and n["padded_cols"] == [4, 5, 6]
    assert not n["reads_padding"]
    assert n["formula"]["rows"] == "1*2 - 1 ... 1*2 - 1 + 3 - 1 = 1 ... 3"
    assert n["formula"]["cols"] == "2*2 - 1 ... 2*2 - 1 + 3 - 1 = 3 ... 5"
    assert f["title"] == "5x7 input, 3x3 kernel, stride 2, SAME padding (1,1,1,1) -> 3x4 output"


def test_every_neuron_follows_the_lecture_formula_in_padded_coordinates():
    # the lecture: neuron (i, j) reads rows i*s_h ... i*s_h + f_h - 1 of the zero-padded input
    for i in range(3):
        for j in range(4):
            n = AR.conv_facts((5, 7), 3, 2, "same", neuron=(i, j))["neuron"]
            assert n["padded_rows"] == list(range(2 * i, 2 * i + 3))
            assert n["padded_cols"] == list(range(2 * j, 2 * j + 3))
            # corner neurons reach into the zero padding, the middle one does not
            assert n["reads_padding"] == (i in (0, 2) or j in (0, 3))


def test_corner_neuron_reads_padding_and_unused_rows_are_reported():
    n = AR.conv_facts((5, 7), 3, 2, "same", neuron=(0, 0))["neuron"]
    assert n["rows"] == [-1, 0, 1] and n["padding_rows"] == [-1] and n["padding_cols"] == [-1]
    f = AR.conv_facts((6, 6), 3, 2, "valid", neuron=(1, 1))
    assert f["output"] == [2, 2] and f["unused"] == {"rows": [5], "cols": [5]}


# -- the CLI, conv ------------------------------------------------------------------------------
def test_cli_conv_lecture_example_text_png_and_gif(tmp_path):
    runner = CliRunner()
    with pytest.MonkeyPatch.context() as mp:  # in tmp_path, back afterwards
        mp.chdir(tmp_path)
        r = runner.invoke(
            cli, LECTURE + ["--neuron", "1,2", "--gif", "slide.gif"], catch_exceptions=False
        )
        assert r.exit_code == 0, r.output
        assert "5x7 input, 3x3 kernel, stride 2, SAME padding (1,1,1,1) -> 3x4 output" in r.output
        assert "top 1, bottom 1, left 1, right 1" in r.output
        assert "rows 1*2 - 1 ... 1*2 - 1 + 3 - 1 = 1 ... 3" in r.output
        assert "cols 2*2 - 1 ... 2*2 - 1 + 3 - 1 = 3 ... 5" in r.output
        assert "rows 2 ... 4, cols 4 ... 6" in r.output  # padded coordinates
        with open("explain_conv.png", "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
        with Image.open("explain_conv.png") as im:
            assert im.size[0] > 400 and im.size[1] > 300
        with Image.open("slide.gif") as im:
            assert im.n_frames == 12  # one frame per output neuron (3x4)


def test_cli_conv_json_writes_no_file_with_no_plot(tmp_path):
    runner = CliRunner()
    with pytest.MonkeyPatch.context() as mp:  # in tmp_path, back afterwards
        mp.chdir(tmp_path)
        r = runner.invoke(cli, LECTURE + ["--neuron", "2,3", "--json", "--no-plot"])
        assert r.exit_code == 0, r.output
        d = json.loads(r.output)
        assert os.listdir(".") == []
    assert d["input"] == [5, 7] and d["kernel"] == [3, 3] and d["stride"] == [2, 2]
    assert d["padding"] == "same" and d["output"] == [3, 4]
    assert d["neuron"]["row"] == 2 and d["neuron"]["col"] == 3
    assert d["neuron"]["rows"] == [3, 4, 5] and d["neuron"]["cols"] == [5, 6, 7]
    assert d["neuron"]["padding_rows"] == [5] and d["neuron"]["padding_cols"] == [7]
    assert d["files"] == {"png": None, "gif": None, "html": None}


def test_cli_conv_explicit_padding_forms():
    d = json.loads(
        run(
            (
                "explain conv --input 4x6 --kernel 3x2 --stride 1x2 --padding "
                "0,1,2,0 --no-plot --json"
            ).split()
        ).output
    )
    assert d["pads"] == {"top": 0, "bottom": 1, "left": 2, "right": 0}
    assert d["output"] == [3, 4]  # (4+1-3)/1+1, (6+2-2)/2+1


def _exit_2_nothing_written(tmp_path, argv, message):
    """``argv`` fails as a usage error (exit 2) naming ``message`` and writes no file."""
    runner = CliRunner()
    with pytest.MonkeyPatch.context() as mp:  # in tmp_path, back afterwards
        mp.chdir(tmp_path)
        r = runner.invoke(cli, argv)
        assert r.exit_code == 2, r.output
        assert message in r.output
        assert os.listdir(".") == []


@pytest.mark.parametrize(
    "args, message",
    [
        (["--input", "5y7", "--kernel", "3"], "expected N or HxW"),
        (["--input", "5x7", "--kernel", "0"], "expected N or HxW"),
        (["--input", "5x7", "--kernel", "9"], "larger than the padded input"),
        (["--input", "5x7", "--kernel", "3", "--padding", "full"], "expected valid, same"),
        (
            ("--input 5x7 --kernel 3 --stride 2 --padding same --neuron 3,0").split(),
            "row must be in 0..2 and col in 0..3",
        ),
        (["--input", "5x7", "--kernel", "3", "--neuron", "a,b"], "expected ROW,COL"),
        (["--input", "5x7", "--kernel", "3", "--out", "pic.txt"], "file must end in .png"),
        (["--input", "5x7", "--kernel", "3", "--gif", "anim.png"], "file must end in .gif"),
        (["--input", "5x7", "--kernel", "3", "--out", "no/such/dir/x.png"], "does not exist"),
    ],
)
def test_cli_conv_bad_input_exit_2_nothing_written(tmp_path, args, message):
    _exit_2_nothing_written(tmp_path, ["explain", "conv"] + args, message)


def test_help_teaches():
    r = run(["explain", "conv", "--help"])
    assert r.exit_code == 0
    assert "cnnsim explain conv --input 5x7 --kernel 3 --stride 2 --padding same" in r.output
    assert "i*s_h - p_top" in r.output
    assert (
        "cnnsim explain pool --input 4x4 --size 2 --stride 2"
        in run(["explain", "pool", "-h"]).output
    )


# -- the figures --------------------------------------------------------------------------------
def test_conv_figure_has_both_grids_and_the_formula(tmp_path):
    fig = A.conv_arithmetic_figure((5, 7), 3, 2, "same", neuron=(1, 2))
    assert len(fig.axes) == 2
    ax_in, ax_out = fig.axes
    assert ax_in.get_xlim() == (-1, 8) and ax_in.get_ylim() == (6, -1)  # 7x9 padded input
    assert ax_out.get_xlim() == (0, 4) and ax_out.get_ylim() == (3, 0)  # 3x4 output
    texts = " | ".join(t.get_text() for t in fig.texts)
    assert "SAME padding (1,1,1,1) \u2192 3x4 output" in texts
    assert "= 1 \u2026 3" in texts and "= 3 \u2026 5" in texts
    path = A.save_figure(fig, tmp_path / "c.png")
    assert os.path.getsize(path) > 10_000


def test_conv_figure_bad_neuron_names_the_function():
    with pytest.raises(
        ValueError, match=r"conv_arithmetic_figure: neuron \(0, 4\) is out of range"
    ):
        A.conv_arithmetic_figure((5, 7), 3, 2, "same", neuron=(0, 4))
    with pytest.raises(ValueError, match="larger than the padded input"):
        A.conv_arithmetic_figure((2, 2), 3)


# -- pooling ------------------------------------------------------------------------------------
def test_pool_2x2_stride_2_passes_25_percent_of_a_tie_free_input(rng):
    x = rng.permutation(16).reshape(4, 4).astype(float)
    f = AR.pool_facts(None, 2, 2, x=x)
    assert (f["passed"], f["dropped"], f["fraction_passed"]) == (4, 12, 0.25)
    assert not f["ties"]
    # winners are the brute-force argmax of each window
    for k, (i, j) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        patch = x[2 * i : 2 * i + 2, 2 * j : 2 * j + 2]
        r, c = divmod(int(np.argmax(patch)), 2)
        assert f["winners"][k] == [2 * i + r, 2 * j + c]
        assert f["y"][i][j] == patch.max()


def test_pool_fraction_is_counted_not_assumed():
    # overlapping 3x3/2 windows on 5x5 that all share one winner: 1 of 25 inputs passes
    x = np.zeros((5, 5))
    x[2, 2] = 9.0
    f = AR.pool_facts(None, 3, 2, x=x)
    assert f["output"] == [2, 2] and f["passed"] == 1 and f["total"] == 25
    assert f["winners"] == [[2, 2]] * 4
    # average pooling: every input inside a window contributes; 2x2/2 on 5x5 misses row/col 4
    g = AR.pool_facts((5, 5), 2, 2, kind="avg")
    assert g["passed"] == 16 and g["unused"] == {"rows": [4], "cols": [4]}
    assert abs(g["y"][0][0] - np.mean(np.array(g["x"])[:2, :2])) < 1e-12


def test_cli_pool_reports_25_percent_and_json(tmp_path):
    runner = CliRunner()
    with pytest.MonkeyPatch.context() as mp:  # in tmp_path, back afterwards
        mp.chdir(tmp_path)
        r = runner.invoke(
            cli,
            "explain pool --input 4x4 --size 2 --stride 2 --gif pool.gif".split(),
            catch_exceptions=False,
        )
        assert r.exit_code == 0, r.output
        assert "4 of 16 inputs (25%) pass to the output, 12 (75%) are dropped" in r.output
        assert os.path.getsize("explain_pool.png") > 10_000
        with Image.open("pool.gif") as im:
            assert im.n_frames == 4
        r = runner.invoke(
            cli,
            [
                "explain",
                "pool",
                "--values",
                "1 5 2 0; 3 4 8 6; 0 2 1 1; 7 3 9 4",
                "--json",
                "--no-plot",
            ],
        )
        d = json.loads(r.output)
    assert d["y"] == [[5.0, 8.0], [7.0, 9.0]]
    assert d["winners"] == [[0, 1], [1, 2], [3, 0], [3, 2]]
    assert d["fraction_passed"] == 0.25 and d["files"]["png"] is None


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "give --input HxW or --values"),
        (["--values", "1 2; 3"], "rectangular"),
        (["--values", "1 2; 3 4", "--input", "3x3"], "--values is 2x2 but --input says 3x3"),
        (["--input", "3x3", "--size", "5"], "larger than the padded input"),
        (["--input", "4x4", "--kind", "min"], "'min' is not one of"),
    ],
)
def test_cli_pool_bad_input_exit_2_nothing_written(tmp_path, args, message):
    _exit_2_nothing_written(tmp_path, ["explain", "pool"] + args, message)


def test_pool_figure_and_library_errors():
    fig = A.pool_figure((4, 4), 2, 2, kind="avg", seed=3)
    assert len(fig.axes) == 2
    assert any("16 of 16 inputs (100%) contribute" in t.get_text() for t in fig.texts)
    with pytest.raises(ValueError, match="pool_figure: kind must be 'max' or 'avg'"):
        A.pool_figure((4, 4), kind="min")
    with pytest.raises(ValueError, match=r"pool_figure: input_hw \(3, 3\) does not match x"):
        A.pool_figure((3, 3), x=np.zeros((4, 4)))


def test_real_subprocess_lecture_example(tmp_path):
    import subprocess
    import sys

    env = child_env()
    r = subprocess.run(
        [sys.executable, "-m", "cnnsim.cli.main"] + LECTURE + ["--json", "--no-plot"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["output"] == [3, 4]
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "cnnsim.cli.main",
            "explain",
            "conv",
            "--input",
            "5x7",
            "--kernel",
            "3",
            "--neuron",
            "9,9",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "out of range" in r.stderr and os.listdir(tmp_path) == []
