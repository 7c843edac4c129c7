"""Regenerate the figures of docs/ (docs/figures/*.png), every one drawn by cnnsim itself
through the demos and cnnsim.plotting.

    python demos/make_figures.py                     # all (a few minutes: trains LeNet-5)
    python demos/make_figures.py --only conv pool    # some
    python demos/make_figures.py --data-dir ../shared/data   # where MNIST is, for training
"""

import argparse
import importlib
import pathlib
import shutil
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
FIGURES = HERE.parent / "docs" / "figures"


def _demo(name, argv, picks):
    """Run demo ``name`` into a temporary folder; copy ``{its file: docs name}``."""
    mod = importlib.import_module(name)
    with tempfile.TemporaryDirectory() as tmp:
        assert mod.main(argv + ["--out", tmp]) == 0
        for src, dst in picks.items():
            shutil.copyfile(pathlib.Path(tmp) / src, FIGURES / dst)
            print(f"-> {FIGURES / dst}")


def conv():
    from cnnsim.plotting.arithmetic import conv_arithmetic_figure, save_figure

    fig = conv_arithmetic_figure((5, 7), 3, 2, "same", neuron=(1, 2), dpi=70)
    save_figure(fig, FIGURES / "conv_5x7_3x4.png")


def pool():
    _demo("pooling_drops", ["--quick"], {"maxpool_2x2.png": "maxpool_2x2.png"})


def trace():
    _demo(
        "trace_lenet5",
        ["--quick"],
        {"maps_C1.png": "lenet5_maps_C1.png", "neuron_C3.png": "lenet5_neuron_C3.png"},
    )


def rf():
    _demo(
        "receptive_fields",
        ["--quick"],
        {"lenet5_receptive_fields.png": "lenet5_receptive_fields.png"},
    )


def inception():
    _demo("inception_savings", [], {"inception_savings.png": "inception_savings.png"})


def lrn():
    _demo("lrn_effect", ["--quick"], {"lrn_effect.png": "lrn_effect.png"})


def measured():
    """The figures of measured blocks (gradflow_sigmoid20, dense_vs_conv, degradation) are
    written by the commands themselves: demos/make_measured_docs.py (with the numbers)."""
    import make_measured_docs

    for page in make_measured_docs.pages():
        make_measured_docs.regenerate(page)


def train(data_dir=None):
    argv = ["--epochs", "2", "--limit", "10000"] + (["--data-dir", data_dir] if data_dir else [])
    _demo("train_lenet5", argv, {"training.png": "lenet5_training.png"})


ALL = {
    "conv": conv,
    "pool": pool,
    "trace": trace,
    "rf": rf,
    "inception": inception,
    "lrn": lrn,
    "measured": measured,
    "train": train,
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", choices=sorted(ALL), default=sorted(ALL))
    ap.add_argument("--data-dir", default=None, help="folder holding MNIST (for 'train')")
    args = ap.parse_args(argv)
    FIGURES.mkdir(parents=True, exist_ok=True)
    for name in args.only:
        ALL[name](args.data_dir) if name == "train" else ALL[name]()
    total = sum(p.stat().st_size for p in FIGURES.glob("*.png"))
    print(f"docs/figures: {total / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
