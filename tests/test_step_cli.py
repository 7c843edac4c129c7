"""`cnnsim step` through click's CliRunner, and once as a real subprocess."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from cases import child_env
from click.testing import CliRunner

from cnnsim.cli.interactive import COMMANDS, help_text, interactive_loop, lookup
from cnnsim.cli.main import cli

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run(*args):
    return CliRunner().invoke(cli, ["step", *args])


def test_default_lenet5_prints_the_table():
    r = run("lenet5")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert "trained on MNIST" in lines[0] and "test accuracy" in lines[0]
    assert "sample 'digit3' (MNIST test image #18, true label 3)" in r.output
    assert "padded by 2 pixels" in r.output
    h = next(i for i, l in enumerate(lines) if l.startswith("#  layer"))
    header = lines[h]
    for col in ("layer", "type", "output", "kernel/stride/pad", "min", "mean", "max", "ms"):
        assert col in header
    rows = {l.split()[1]: l for l in lines[h + 1 : h + 9]}
    assert list(rows) == ["C1", "S2", "C3", "S4", "C5", "flatten", "F6", "Out"]
    assert "6x28x28" in rows["C1"] and "k5 s1 p0" in rows["C1"]
    # aligned: the "type" column starts at the same offset on every row
    assert len({l.index(l.split()[2], 6) for l in lines[h + 1 : h + 9]}) == 1
    r = run("lenet5", "--wide")
    header = next(l for l in r.output.splitlines() if l.startswith("#  layer"))
    for col in ("input -> output", "activation", "zeros", "sat"):
        assert col in header
    assert "1x32x32 -> 6x28x28" in r.output and "scaled_tanh" in r.output


def test_json_neuron_layer_and_keys():
    r = run("lenet5", "--sample", "digit7", "--neuron", "C3:15:2:3", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert set(d) == {"model", "input_shape", "steps", "neuron", "prediction"}
    assert d["prediction"]["class"] == 7 and d["prediction"]["true_label"] == 7
    assert len(d["prediction"]["top"]) == 3 and len(d["prediction"]["output"]) == 10
    assert set(d["steps"][0]) == {
        "name",
        "type",
        "input_shape",
        "output_shape",
        "kernel",
        "stride",
        "padding",
        "activation",
        "stats",
    }
    n = d["neuron"]
    assert set(n) >= {
        "layer",
        "map",
        "row",
        "col",
        "rows",
        "cols",
        "inputs",
        "weights",
        "products",
        "bias",
        "sum",
        "activation",
        "output",
        "receptive_field",
        "recorded",
        "equal",
        "details",
        "text",
    }  # all: test_neuron_explain
    assert n["rows"] == [2, 3, 4, 5, 6] and len(n["inputs"]) == 6  # map 15 reads all 6
    assert n["receptive_field"] == {"top": 4, "bottom": 17, "left": 6, "right": 19}
    assert abs(np.sum(n["products"]) + n["bias"] - n["sum"]) < 1e-9
    r = run("lenet5", "--layer", "C3", "--json")
    assert [s["name"] for s in json.loads(r.stdout)["steps"]] == ["C1", "S2", "C3"]


def test_neuron_text_seed_light_save_load_plot(tmp_path):
    trace, plots = tmp_path / "t.npz", tmp_path / "figs"
    r = run(
        "lenet5",
        "--seed",
        "3",
        "--light",
        "--neuron",
        "F6:5:0:0",
        "--save",
        str(trace),
        "--plot",
        str(plots),
    )
    assert r.exit_code == 0, r.output
    assert "random input" in r.output and "largest contributions" in r.output
    assert "receptive field in the input image: rows 0..31, cols 0..31" in r.output
    names = sorted(p.name for p in plots.iterdir())
    assert names == ["input.png", "neuron_connections.png", "prediction.png", "receptive_field.png"]
    assert all(p.stat().st_size > 1000 for p in plots.iterdir())
    r2 = run("--load", str(trace), "--neuron", "F6:5:0:0")
    assert r2.exit_code == 0, r2.output
    assert r.output.split("neuron F6")[1].split("receptive")[0] in r2.output
    r3 = run("lenet5", "--neuron", "C1:0:0:0", "--plot", str(tmp_path / "all"))
    assert r3.exit_code == 0, r3.output
    figs = sorted(p.name for p in (tmp_path / "all").iterdir())
    assert "maps_000_C1.png" in figs and "receptive_field.png" in figs
    assert len([f for f in figs if not f.startswith("kernels_")]) == 9
    assert "prediction.png" in figs
    assert "kernels_000_C1.png" in figs  # learned kernels of every conv layer


def test_image_file_is_fitted(tmp_path):
    img = np.zeros((50, 40, 3), np.uint8)
    img[10:40, 15:25] = 255
    np.save(tmp_path / "img.npy", img)
    r = run("lenet5", "--image", str(tmp_path / "img.npy"))
    assert r.exit_code == 0, r.output
    said = " ".join(r.output.split())  # lines are wrapped to the terminal
    assert "read .npy array uint8 50x40x3" in said
    assert "converted RGB to gray" in said and "centred by mass in 28x28" in said


@pytest.mark.parametrize(
    "args,msg",
    [
        (["nosuchnet"], "unknown model 'nosuchnet'"),
        (["lenet5", "--layer", "C7"], "valid names: C1, S2, C3"),
        (["lenet5", "--neuron", "C1:6:0:0"], "valid map 0..5, row 0..27, col 0..27"),
        (["lenet5", "--neuron", "C1:0:0"], "LAYER:MAP:ROW:COL"),
        (["lenet5", "--sample", "cat"], "unknown sample 'cat'"),
        (["lenet5", "--seed", "1", "--sample", "digit1"], "choose one input"),
        (["lenet5", "--layer", "C1", "--neuron", "C3:0:0:0"], "runs after --layer"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args, msg, tmp_path):
    r = run(*args, "--save", str(tmp_path / "t.npz"))
    assert r.exit_code == 2
    assert msg in r.output
    assert not (tmp_path / "t.npz").exists()


def test_bad_image_and_corrupt_trace(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"not a png")
    r = run("lenet5", "--image", str(tmp_path / "bad.png"), "--plot", str(tmp_path / "p"))
    assert r.exit_code == 2 and "cannot read image" in r.output and "1x32x32" in r.output
    assert not (tmp_path / "p").exists()
    (tmp_path / "t.npz").write_bytes(b"garbage")
    r = run("--load", str(tmp_path / "t.npz"))
    assert r.exit_code == 2 and "not a readable cnnsim trace" in r.output


def test_unusable_files_are_one_line_usage_mistakes_keep_the_usage_block(tmp_path):
    """A file that cannot be used is not a mistake in the command line: one ``Error:``
    line naming the option, no usage block (exit 2 all the same); an option that does not
    go together with another keeps click's usage block."""
    (tmp_path / "t.npz").write_bytes(b"garbage")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    for args, option in (
        (["--load", str(tmp_path / "t.npz")], "--load"),
        (["lenet5", "--image", str(tmp_path / "bad.png")], "--image"),
        (["lenet5", "--checkpoint", str(tmp_path / "t.npz")], "--checkpoint"),
    ):
        r = run(*args)
        assert r.exit_code == 2, r.output
        assert r.output.startswith(f"Error: {option}: ") and "Usage:" not in r.output, r.output
        assert len(r.output.strip().splitlines()) == 1, r.output
    r = run("lenet5", "--json", "--interactive")
    assert r.exit_code == 2 and "Usage:" in r.output and "do not go together" in r.output


def test_neuron_of_a_layer_an_interactive_session_did_not_reach():
    r = CliRunner().invoke(
        cli, ["step", "lenet5", "--interactive", "--neuron", "C3:0:0:0"], input="\nq\n"
    )
    assert r.exit_code == 2
    assert "Error: --neuron: layer 'C3' has not run (not reached yet); layers run: C1" in r.output


def test_interactive_help_and_dispatch_come_from_one_table():
    text = help_text()
    assert text.splitlines()[1:] == [f"  {c.usage:<17}  {c.help}" for c in COMMANDS]
    assert lookup("")[0].usage == "Enter or next" and lookup("next")[0] is lookup("")[0]
    assert lookup("r   C3") == (lookup("r C3")[0], "C3")
    for wrong in ("r", "s", "n", "b x", "q now", "bogus", "p 1"):
        assert lookup(wrong) == (None, ""), wrong
    assert lookup("exit")[0] is lookup("q")[0] and lookup("h")[0] is lookup("?")[0]


def test_interactive_reads_commands_from_a_pipe():
    r = CliRunner().invoke(
        cli, ["step", "lenet5", "--interactive"], input="\n\nr Out\nn F6:3:0:0\np\nq\n"
    )
    assert r.exit_code == 0, r.output
    assert "> r Out" in r.output and "neuron F6 (Dense) map 3" in r.output
    assert r.output.count("prediction: class 3") == 2  # at the end, and for p


def test_interactive_loop_commands(rng):
    from cnnsim import models
    from cnnsim.engine import Stepper

    net = models.build("lenet5")
    st = Stepper(net, rng.random((1, 1, 32, 32)).astype(np.float32))
    cmds = iter(
        [
            "",
            "r C3",
            "n C3:0:1:1",
            "n C5:0:0:0",
            "bogus",
            "r C1",
            "b",
            "b",
            "b",
            "",
            "l",
            "s S2",
            "s F6",
            "?",
            "r Out",
            "",
            "n Out:2:0:0",
            "q",
            "",
        ]
    )
    shown, said, neurons, ends = [], [], [], []
    interactive_loop(
        st,
        lambda: next(cmds),
        said.append,
        lambda s: shown.append(s.name),
        lambda *a: neurons.append(a),
        lambda: ends.append(1),
    )
    assert shown[:3] == ["C1", "S2", "C3"]
    assert shown[3:6] == ["S2", "C1", "C1"]  # back, back, and the first again
    assert shown[6] == "S2"  # Enter after b: the next one already run
    assert shown[7:10] == ["C1", "S2", "C3"]  # l
    assert shown[10] == "S2"  # s S2
    assert shown[11:] == ["S4", "C5", "flatten", "F6", "Out"]
    assert neurons == [("C3", 0, 1, 1), ("Out", 2, 0, 0)]  # stays open after the end
    assert any("'C5' not reached yet" in s for s in said)
    assert any("'F6' not reached yet" in s for s in said)
    assert any("unknown command 'bogus'" in s for s in said)
    assert any("already run" in s for s in said)
    assert any("r NAME" in s for s in said)  # the help
    assert any("forward pass is complete" in s for s in said)
    assert st.done and ends == [1]


def test_real_subprocess():
    env = child_env()
    p = subprocess.run(
        [sys.executable, "-m", "cnnsim.cli.main", "step", "lenet5", "--layer", "S2"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    assert "C1" in p.stdout and "S2" in p.stdout and "C3 " not in p.stdout
    p = subprocess.run(
        [sys.executable, "-m", "cnnsim.cli.main", "step", "lenet5", "--layer", "X"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    assert p.returncode == 2 and "valid names" in p.stderr


def test_step_traces_trained_weights_from_a_checkpoint(tmp_path):
    """`cnnsim train` then `cnnsim step --checkpoint`: the trace uses the trained weights."""
    from click.testing import CliRunner

    from cnnsim import models
    from cnnsim.cli.main import cli
    from cnnsim.train import save_checkpoint

    net = models.build("lenet5", variant="modern", seed=5)
    net.find("C1").params["b"][...] = 7.0  # recognisable weights
    path = tmp_path / "ck.npz"
    save_checkpoint(str(path), net, epoch=3)
    r = CliRunner().invoke(
        cli,
        [
            "step",
            "lenet5",
            "--variant",
            "modern",
            "--checkpoint",
            str(path),
            "--neuron",
            "C1:0:0:0",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    import json

    data = json.loads(r.stdout)
    assert data["neuron"]["bias"] == 7.0
    assert "loaded trained weights" in r.stderr and "epoch 3" in r.stderr
    r = CliRunner().invoke(cli, ["step", "lenet5", "--checkpoint", str(path)])  # paper variant
    assert r.exit_code == 2 and "--checkpoint" in r.output
