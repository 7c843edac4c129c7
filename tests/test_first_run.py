"""A student's first ten minutes (issue 16): real digits, shipped trained weights, output
that fits a terminal, pictures as people have them, an interactive session from a pipe."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from cases import child_env
from click.testing import CliRunner

from cnnsim import models
from cnnsim.cli.main import cli
from cnnsim.data import load_sample
from cnnsim.data.prepare import digit_like, mnist_centre, read_image
from cnnsim.data.preprocess import apply_preprocess, preprocess_spec
from cnnsim.data.samples import sample_info
from cnnsim.train.pretrained import SHIPPED, load_pretrained, measured_accuracy, pretrained_path

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run(*args, env=None, input=None):
    return CliRunner(env=env).invoke(cli, ["step", *args], input=input)


# ---- 1. real digits, trained weights -------------------------------------------------------
def test_shipped_digits_are_the_first_mnist_test_image_of_each_class():
    for d in range(10):
        info = sample_info(f"digit{d}")
        assert info["label"] == d and "MNIST" in info["source"] and "CC BY-SA 3.0" in info["source"]
    assert [sample_info(f"digit{d}")["index"] for d in range(10)] == [
        3,
        2,
        1,
        18,
        4,
        8,
        11,
        0,
        61,
        7,
    ]


def test_shipped_digits_match_the_mnist_files(mnist_dir):
    from cnnsim.data import load_dataset

    images, labels = load_dataset("mnist", "test", str(mnist_dir))
    for d in range(10):
        i = sample_info(f"digit{d}")["index"]
        assert labels[i] == d and not np.any(labels[:i] == d)  # the first of its class
        np.testing.assert_array_equal(load_sample(f"digit{d}")[0], images[i] / np.float32(255))


@pytest.mark.parametrize("variant", ["paper", "modern"])
def test_shipped_checkpoint_classifies_all_ten_digits(variant):
    net = models.build("lenet5", variant=variant)
    meta = load_pretrained(net)
    assert meta["data"] == "mnist" and meta["preprocess"] == preprocess_spec((1, 32, 32))
    assert measured_accuracy(meta) > 0.95
    x = np.stack(
        [
            apply_preprocess(digit_like(load_sample(f"digit{d}"))[0][None], meta["preprocess"])[0]
            for d in range(10)
        ]
    )
    y = net.forward(x)
    pred = np.argmin(y, 1) if variant == "paper" else np.argmax(y, 1)
    assert pred.tolist() == list(range(10))
    assert pretrained_path(net).stat().st_size < 1_000_000
    assert SHIPPED[net.name][1].startswith("cnnsim train lenet5 --variant " + variant)


def test_step_says_trained_and_untrained_says_so():
    r = run("lenet5", "--json", "--sample", "digit5")
    assert r.exit_code == 0, r.output
    assert "trained on MNIST" in r.stderr and "% test accuracy" in r.stderr
    assert "as in training" in " ".join(r.stderr.split())
    p = json.loads(r.stdout)["prediction"]
    assert p["class"] == 5 and p["true_label"] == 5 and p["correct"]
    assert p["top"][0]["probability"] > p["top"][1]["probability"] >= p["top"][2]["probability"]
    assert "penalty" in p["top"][0] and abs(sum(p["probabilities"]) - 1) < 1e-9
    r = run("lenet5", "--untrained")
    assert r.exit_code == 0, r.output
    assert "untrained: initial weights" in r.output and "trained on MNIST" not in r.output
    assert "the answer means nothing yet" in " ".join(r.output.split())


# ---- 4. output that fits ---------------------------------------------------------------------
@pytest.mark.parametrize("columns", [80, 100, 200])
def test_step_output_fits_the_terminal(columns):
    r = run("lenet5", "--neuron", "C3:0:4:4", env={"COLUMNS": str(columns)})
    assert r.exit_code == 0, r.output
    widest = max(len(l) for l in r.output.splitlines())
    assert widest <= min(columns, 100), [l for l in r.output.splitlines() if len(l) > 100]
    assert "prediction: class 3" in r.output


@pytest.mark.parametrize("model", ["googlenet", "alexnet", "resnet34"])
def test_table_of_big_models_fits_without_running_them(model):
    """Column widths are fixed before the first row (rows stream), from the layers alone."""
    from cnnsim.display import StepTable, step_cells
    from cnnsim.engine import planned_steps
    from cnnsim.engine.trace import Step

    try:
        net = models.build(model)
    except (ValueError, TypeError) as e:
        pytest.skip(f"{model}: {e}")
    plan = planned_steps(net)
    cells = [step_cells(s) for s in plan]
    for columns in (80, 100):
        t = StepTable(cells, width=columns)
        assert len(t.header()) <= columns
        for p in plan:
            s = Step(
                p.index,
                p.name,
                p.kind,
                p.input_shape,
                p.output_shape,
                p.geometry,
                p.activation,
                stats={
                    "min": -1.2345e-5,
                    "mean": -123456.7,
                    "max": 0.0001234,
                    "zeros": 1.0,
                    "saturated": 0.5,
                },
                seconds=12.345,
            )
            assert len(t.fmt(step_cells(s))) <= columns
    assert "input -> output" in StepTable(cells, wide=True).header()


# ---- 5. interactive from a pipe ----------------------------------------------------------------
def test_warm_up_watches_every_cpu_kernel_module_packages_included():
    """The first-run detection and the "compiled / loaded" counts see the kernels of the
    conv package too (a package's modules were skipped), each once, and no CUDA twin."""
    from cnnsim.cli.warm_up import _kernel_dispatchers

    found = _kernel_dispatchers()
    mods = {d.py_func.__module__ for d in found}
    # the conv package's entry points are plain Python (kernels/conv/__init__.py); its
    # compiled pieces live in its modules
    assert {
        "cnnsim.kernels.conv.blocked",
        "cnnsim.kernels.conv.layouts",
        "cnnsim.kernels.conv.direct",
        "cnnsim.kernels.pool",
    } <= mods
    assert not any(".cuda" in m for m in mods)
    names = {d.py_func.__name__ for d in found}
    assert {"dense_forward", "dense_forward_serial"} <= names  # both twins (kernels._twins)
    assert len({id(d) for d in found}) == len(found)


def test_piped_interactive_session_as_a_real_process():
    env = child_env(COLUMNS="100")
    p = subprocess.run(
        [sys.executable, "-m", "cnnsim.cli.main", "step", "lenet5", "--interactive"],
        input="r C3\nn C3:0:4:4\nn C5:0:0:0\nb\nl\n?\nq\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "> r C3" in out and "neuron C3 (Conv2D) map 0, row 4, col 4" in out
    assert "'C5' not reached yet" in out and "(5 more to run: S4, C5" in out
    assert "b, back" in out  # the help
    assert "C5 " not in out.split("> q")[0].split("> r C3")[1].split("neuron")[0]


# ---- 2. pictures as people have them -------------------------------------------------------------
def _stroke_image(size=60, ink=1.0, paper=0.0):
    a = np.full((size, size), paper, np.float32)
    a[15:45, 28:34] = ink  # a "1", off to the right of centre and below
    a[15:19, 22:34] = ink
    return a


def _png(path, arr, mode):
    from PIL import Image

    Image.fromarray(arr, mode=mode).save(path)
    return path


def test_transparent_png_with_black_strokes_is_composited_on_white_and_inverted(tmp_path):
    rgba = np.zeros((60, 60, 4), np.uint8)  # fully transparent canvas ...
    stroke = _stroke_image() > 0
    rgba[stroke, 3] = 255  # ... with opaque black strokes
    p = _png(tmp_path / "t.png", rgba, "RGBA")
    img, notes = read_image(p)
    assert "RGB with alpha" in notes[0] and "composited on white" in notes[1]
    g, more, warning = digit_like(img)
    assert warning is None and any("inverted" in n for n in more)
    assert g.max() > 0.9 and g[0, 0] == 0  # light strokes on black, like MNIST
    r = run("lenet5", "--image", str(p))
    said = " ".join(r.output.split())
    assert r.exit_code == 0 and "composited on white" in said and "inverted" in said
    assert "nearly blank" not in said


def test_dark_on_light_is_inverted_and_the_flags_force_it(tmp_path):
    gray = np.rint(255 * _stroke_image(ink=0.0, paper=1.0)).astype(np.uint8)
    p = _png(tmp_path / "d.png", gray, "L")
    said = " ".join(run("lenet5", "--image", str(p)).output.split())
    assert "8-bit gray" in said and "dark strokes on a light background: inverted" in said
    said = " ".join(run("lenet5", "--image", str(p), "--no-invert").output.split())
    assert "not inverted (--no-invert)" in said
    light = np.rint(255 * _stroke_image()).astype(np.uint8)
    q = _png(tmp_path / "l.png", light, "L")
    said = " ".join(run("lenet5", "--image", str(q), "--invert").output.split())
    assert "inverted (--invert)" in said
    r = run("alexnet", "--image", str(q), "--invert")
    assert r.exit_code == 2 and "digit models" in r.output


def test_nearly_blank_image_is_warned_about(tmp_path):
    p = _png(tmp_path / "b.png", np.full((40, 40), 250, np.uint8), "L")
    r = run("lenet5", "--image", str(p))
    assert r.exit_code == 0
    assert "warning: the input is nearly blank" in " ".join(r.output.split())


def test_palette_and_16_bit_pngs_are_described(tmp_path):
    from PIL import Image

    pal = Image.fromarray(np.rint(255 * _stroke_image()).astype(np.uint8), "L").convert("P")
    pal.save(tmp_path / "p.png")
    img, notes = read_image(tmp_path / "p.png")
    assert "palette" in notes[0] and img.shape[1:] == (60, 60)
    a16 = (65535 * _stroke_image()).astype(np.uint16)
    Image.fromarray(a16).save(tmp_path / "w.png")
    img, notes = read_image(tmp_path / "w.png")
    assert "16-bit gray" in notes[0] and abs(img.max() - 1) < 1e-6


def test_mnist_centring_fits_20_and_centres_by_mass():
    g, note = mnist_centre(_stroke_image())
    rows, cols = np.nonzero(g > 0.15)
    assert max(rows.max() - rows.min() + 1, cols.max() - cols.min() + 1) == 20
    ys, xs = np.indices(g.shape)
    cy, cx = (ys * g).sum() / g.sum(), (xs * g).sum() / g.sum()
    assert abs(cy - 13.5) <= 0.5 and abs(cx - 13.5) <= 0.5
    assert "centred by mass" in note
    d3 = load_sample("digit3")[0]
    assert np.array_equal(mnist_centre(d3)[0], d3)  # MNIST digits are left as they are


# ---- 6. Python objects a notebook is happy with ------------------------------------------------
def test_reprs_are_bounded_and_summarize_arrays():
    from cnnsim.engine import record
    from cnnsim.engine.connections import connections
    from cnnsim.engine.receptive_field import receptive_field
    from cnnsim.engine.trace import Step, Trace

    net = models.build("lenet5")
    tr = record(net, apply_preprocess(load_sample("digit3"), preprocess_spec((1, 32, 32))))
    c = connections(tr, "C3", 0, 4, 4)
    rf = receptive_field(tr, "C3", 4, 4)
    for obj in (tr, tr["C3"], tr["F6"], c, rf):
        text = repr(obj)
        assert len(text.splitlines()) <= 20 and len(text) < 2500, (type(obj), text)
        assert "array(" not in text  # arrays summarized, not printed
    assert "float32 (1, 16, 10, 10)" in repr(tr["C3"])
    assert str(c).startswith("neuron C3 (Conv2D) map 0, row 4, col 4")  # as the CLI
    assert "patch" in str(c) and "receptive field" not in str(c)
    many = Trace(
        "big",
        (3, 8, 8),
        [Step(i, f"block{i}/conv", "Conv2D", (3, 8, 8), (3, 8, 8)) for i in range(60)],
        meta={"batch": 1},
    )
    text = repr(many)
    assert len(text.splitlines()) <= 20 and "more steps" in text
    assert "<table" in tr._repr_html_() and "<table" in net._repr_html_()
    assert "<pre" in c._repr_html_()
    s = net.summary()
    assert s.total_params == 60_000 and "C3" in str(s)


# ---- 7. data that is what it says -------------------------------------------------------------
def test_mnist_files_in_a_fashion_folder_are_refused(mnist_dir, tmp_path):
    import shutil

    from cnnsim.data import DataError, load_dataset

    fashion = tmp_path / "fashion-mnist"
    fashion.mkdir()
    for f in mnist_dir.glob("*.gz"):
        shutil.copy(f, fashion / f.name)
    with pytest.raises(DataError) as e:
        load_dataset("fashion-mnist", "test", str(tmp_path))
    msg = str(e.value)
    assert "\n" not in msg and "t10k-images-idx3-ubyte.gz" in msg
    assert "it is mnist t10k-images-idx3-ubyte.gz" in msg
    r = CliRunner().invoke(cli, ["data", "info", "--data-dir", str(tmp_path)])
    assert "fashion-mnist test: not available" in r.output
    assert "fashion-mnist test: 10000 images" not in r.output
    r = CliRunner().invoke(
        cli,
        [
            "train",
            "lenet5",
            "--data",
            "fashion-mnist",
            "--data-dir",
            str(tmp_path),
            "--epochs",
            "1",
            "--limit",
            "10",
        ],
    )
    assert r.exit_code != 0 and "does not match" in r.output


def test_a_changed_byte_is_refused(mnist_dir, tmp_path):
    import gzip

    from cnnsim.data import DataError, load_dataset

    d = tmp_path / "mnist"
    d.mkdir()
    raw = bytearray(gzip.decompress((mnist_dir / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    raw[100] = (raw[100] + 1) % 10  # one label changed
    (d / "t10k-labels-idx1-ubyte").write_bytes(bytes(raw))
    (d / "t10k-images-idx3-ubyte.gz").write_bytes(
        (mnist_dir / "t10k-images-idx3-ubyte.gz").read_bytes()
    )
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte: SHA-256 .* does not match"):
        load_dataset("mnist", "test", str(tmp_path))
    _, y = load_dataset("mnist", "test", str(mnist_dir))  # the published files load
    assert len(y) == 10000


# ---- 8. training output that agrees with itself ---------------------------------------------------
def test_training_says_which_loss_prints_each_epoch_and_stores_the_preprocessing(tmp_path):
    from cnnsim.train.checkpoint import load_checkpoint

    out = tmp_path / "run"
    r = CliRunner().invoke(
        cli,
        [
            *(
                "train lenet5 --variant modern --data synthetic --limit 128 "
                "--test-limit 32 --epochs 2 --batch-size 32 --out"
            ).split(),
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "mean loss of the last 50 batches" in r.stderr
    lines = [l for l in r.stdout.splitlines() if l.startswith("epoch")]
    assert len(lines) == 2 and all("(epoch mean)" in l and "test acc" in l for l in lines)
    assert r.stdout.index("epoch   1") < r.stdout.index("epoch   2") < r.stdout.index("wrote")
    net = models.build("lenet5", variant="modern")
    meta = load_checkpoint(str(out / "checkpoint.npz"), net)
    assert meta["preprocess"] == {"mode": "lecun", "pad": 2, "channels": 1}
    assert meta["data"] == "synthetic" and meta["variant"] == "modern"


@pytest.mark.parametrize("epochs", [1, 3])
def test_training_figure_axes_line_up_for_any_number_of_epochs(epochs):
    from cnnsim.plotting.training import training_figure

    per = 4
    hist = {
        "epochs": [
            {
                "epoch": e,
                "train_loss": 1.0 / e,
                "train_accuracy": 0.5,
                "val_loss": 1.1 / e,
                "val_accuracy": 0.6,
            }
            for e in range(1, epochs + 1)
        ],
        "steps": [[k + 1, 2.0 - k / 10, 0.5] for k in range(per * epochs)],
    }
    fig = training_figure(hist)
    a1 = fig.axes[0]
    assert len(fig.axes) == 2  # no second, unaligned step axis
    lo, hi = a1.get_xlim()
    assert lo == 0 and epochs <= hi < epochs + 0.5  # epoch 1 alone: 0..1, not 0.96..1.04
    batches = a1.lines[0].get_xdata()
    assert batches[0] == pytest.approx(1 / per) and batches[-1] == pytest.approx(epochs)
    assert all(float(t).is_integer() for t in a1.get_xticks())
