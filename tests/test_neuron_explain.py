"""Every neuron explained, forward and backward (issue 15).

Forward: each layer type's explanation rebuilds the recorded output. Backward: each
neuron's dL/da, summed term by term over the neurons that read it (``Layer.grad_terms``),
equals what the kernels' backward wrote; each weight's dL/dw too. Cases: padded borders,
ties in max pooling, LRN at the first and last maps, grouped convolution, LeNet-5's
connection table, skip connections, depth concat, softmax, RBF."""

import json
import pathlib
import re

import numpy as np
import pytest
from click.testing import CliRunner
from engine_nets import random_neurons, small_alexnet, small_googlenet_resnet

from cnnsim import layers as L
from cnnsim import models
from cnnsim.cli.main import cli
from cnnsim.engine import Stepper, connections, record
from cnnsim.engine.backward import backward, grad_of, grad_table, loss_for, weight_grad_of
from cnnsim.plotting.neuron import gradient_figure, neuron_figure, text_color

DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs" / "trace-format.md"


def pools_net():
    """Padded average / max pooling (fed integers through a ReLU: ties in the windows),
    sigmoid / tanh / scaled tanh, a dense softmax."""
    return L.Sequential(
        [
            L.Activation("relu", name="r0"),
            L.MaxPool2D(2, 2, "same", name="P1"),
            L.Conv2D(4, 3, 1, "same", activation="tanh", name="C1"),
            L.AvgPool2D(3, 2, "same", name="A1"),
            L.Activation("sigmoid", name="sig"),
            L.LRN(r=5, k=1.0, alpha=0.5, beta=0.75, name="N1"),
            L.Conv2D(4, 3, 1, "same", activation="scaled_tanh", groups=2, name="G1"),
            L.Flatten(name="flat"),
            L.Dense(6, activation="softmax", name="out"),
        ],
        input_shape=(2, 9, 9),
        seed=5,
        name="pools",
    )


def _nets():
    return [
        small_alexnet(),
        small_googlenet_resnet(),
        pools_net(),
        models.build("lenet5"),
        models.build("lenet5", variant="paper"),
    ]


def _corners(shape):
    if len(shape) == 1:
        return [(0, 0, 0), (shape[0] - 1, 0, 0)]
    c, h, w = shape
    return [(0, 0, 0), (c - 1, h - 1, w - 1), (0, h - 1, 0), (c - 1, 0, w - 1)]


def _trace(net, x, label):
    tr = record(net, x)
    loss = backward(tr, net, label)
    return tr, loss


@pytest.mark.parametrize("k", range(5))
def test_every_layer_type_rebuilds_forward_and_backward(k, rng):
    net = _nets()[k]
    x = (
        rng.integers(0, 3, (1,) + tuple(net.input_shape)).astype(np.float32)
        if k == 2
        else rng.random((1,) + tuple(net.input_shape), dtype=np.float32)
    )  # integers: ties
    tr, loss = _trace(net, x, 1)
    for s in tr:
        for m, r, c in list(random_neurons(s.output_shape, rng, 4)) + _corners(s.output_shape):
            conn = connections(tr, s.name, m, r, c)
            assert conn.ok, "\n".join(conn.lines())
            text = conn.lines()
            assert "equals the recorded value" in text[-1] and len(text) >= 3
            want = {
                "MaxPool2D": "max = ",
                "AvgPool2D": "mean",
                "LRN": "b_i = ",
                "BatchNorm": "gamma",
            }.get(s.kind, "")
            assert want in "\n".join(text)
            if s.kind == "MaxPool2D":  # a max is not labelled "sum"
                assert not any(l.strip().startswith("sum") for l in text)
            json.dumps(conn.to_dict())
            g = grad_of(tr, s.name, m, r, c, loss=loss)
            assert g.ok, "\n".join(g.lines(None))
            assert sum(t["product"] for t in g.terms) == pytest.approx(g.rebuilt)
            for rd in g.readers:  # each reading layer's share = its kernel's dL/dx
                assert abs(rd["sum"] - rd["kernel"]) <= g.tolerance, (s.name, rd)
        if "w" in s.grad_params:
            w = s.grad_params["w"]
            for _ in range(3):
                idx = tuple(int(rng.integers(n)) for n in w.shape)
                gw = weight_grad_of(tr, s.name, idx)
                assert gw.ok, "\n".join(gw.lines(None))


def test_max_pool_tie_rule_and_winner(rng):
    net = L.Sequential([L.MaxPool2D(2, 2, name="P")], input_shape=(1, 4, 4), seed=0)
    x = np.ones((1, 1, 4, 4), np.float32)
    tr = record(net, x)
    conn = connections(tr, "P", 0, 1, 1)
    text = "\n".join(conn.lines())
    assert "1 of 4 inputs passes" in text and "tie: 4 cells hold the maximum" in text
    assert conn.details["winner_offset"] == (0, 0)  # the first, row-major
    tr.record_backward(net, np.ones((1, 1, 2, 2), np.float32))
    assert tr["P"].grad_x[0, 0, 2, 2] == 1 and tr["P"].grad_x[0, 0, 2, 3] == 0


def test_lrn_first_and_last_maps_formula(rng):
    net = L.Sequential(
        [
            L.Conv2D(7, 1, name="C"),
            L.LRN(r=5, k=2.0, alpha=0.1, beta=0.75, name="N"),
            L.GlobalAvgPool(name="gap"),
            L.Dense(3, name="out"),
        ],
        input_shape=(2, 3, 3),
        seed=1,
    )
    tr, loss = _trace(net, rng.random((1, 2, 3, 3), dtype=np.float32), 0)
    for m, lo, hi in ((0, 0, 2), (6, 4, 6), (3, 1, 5)):
        conn = connections(tr, "N", m, 1, 2)
        assert (conn.details["j_low"], conn.details["j_high"]) == (lo, hi) and conn.ok
        text = "\n".join(conn.lines())
        assert (
            f"j = {lo}..{hi}" in text
            and "k + alpha * sum" in text
            and "<- the neuron's own map" in text
        )
        g = grad_of(tr, "C", m, 1, 2, loss=loss)  # through the LRN to the conv
        assert g.ok and len(g.terms) == hi - lo + 1


def test_conv_names_its_maps_table_and_groups(rng):
    tr = record(models.build("lenet5"), rng.random((1, 1, 32, 32), dtype=np.float32))
    conn = connections(tr, "C3", 6, 2, 2)
    assert "connection table row 6: input maps 0..3 (4 of 6) of S2" in "\n".join(conn.lines())
    net = small_alexnet()
    tr = record(net, rng.random((1, 3, 23, 23), dtype=np.float32))
    assert "group 1 of 2: input maps 2..3 (2 of 4) of S1" in "\n".join(
        connections(tr, "C2", 4, 0, 0).lines()
    )


def test_add_concat_dense_rbf_text(rng):
    net = small_googlenet_resnet()
    tr, loss = _trace(net, rng.random((1, 3, 12, 12), dtype=np.float32), 2)
    add = "\n".join(connections(tr, "res1/add", 1, 1, 1).lines())
    assert "main path (from res1/main/b)" in add and "shortcut  (from res1/shortcut/proj)" in add
    cat = connections(tr, "inception/concat", 3, 2, 2)
    assert "branch 1 of 4 (inception/b2/3x3)" in "\n".join(cat.lines())
    g = grad_of(tr, "inception/b2/3x3", 1, 2, 2, loss=loss)
    assert g.terms[0]["note"] == "routed back to branch 1" and g.ok
    g = grad_of(tr, "res1/add", 0, 1, 1, loss=loss)  # read by res2's main and skip
    assert {t["note"] for t in g.terms if t["reader"].startswith("res2/add")} == {
        "copied to the shortcut"
    } and g.ok
    tr = record(
        models.build("lenet5", variant="paper"), rng.random((1, 1, 32, 32), dtype=np.float32)
    )
    rbf = "\n".join(connections(tr, "Out", 3, 0, 0).lines())
    assert "(x_j - w_j)^2" in rbf and "the smallest wins" in rbf and "value x weight" not in rbf
    dense = connections(tr, "F6", 0, 0, 0)
    assert "the other 110: sum" in "\n".join(dense.lines()) and len(dense.lines(None)) > 120


def test_softmax_output_explained(rng):
    net = small_alexnet()
    tr = record(net, rng.random((1, 3, 23, 23), dtype=np.float32))
    conn = connections(tr, "out", 2, 0, 0)
    text = "\n".join(conn.lines())
    assert "normaliser sum exp" in text and "prediction: class" in text and conn.ok
    assert sum(conn.details["probabilities"]) == pytest.approx(1.0)


def test_stepper_backward_api_and_bad_labels(rng):
    net = small_alexnet()
    st = Stepper(net, rng.random((1, 3, 23, 23), dtype=np.float32))
    loss = st.backward(4)
    assert loss.label == 4 and grad_of(st.trace, "C1", 0, 0, 0, loss=loss).ok
    rows = grad_table(st.trace)
    assert rows[0]["norm_w"] > 0 and len(rows) == len(st.trace)
    with pytest.raises(ValueError, match=r"class 5 is outside the 5 classes .* valid 0\.\.4"):
        loss_for(st.trace, 5)
    maps = L.Sequential([L.Conv2D(2, 3, name="C")], input_shape=(1, 5, 5), seed=0)
    with pytest.raises(ValueError, match="not a vector of class scores"):
        loss_for(record(maps, rng.random((1, 1, 5, 5), dtype=np.float32)), 0)


def test_text_colour_contrast_rule():
    assert text_color((0, 0, 0)) == "white" and text_color((1, 1, 1)) == "black"
    assert text_color((1, 1, 0)) == "black"  # yellow (viridis' top): dark text
    assert text_color((0.27, 0.0, 0.33)) == "white"  # viridis' bottom: light text
    assert text_color((0.5, 0.5, 0.5)) == "black"


def test_figures_written(tmp_path, rng):
    net = small_googlenet_resnet()
    tr, loss = _trace(net, rng.random((1, 3, 12, 12), dtype=np.float32), 0)
    for name, nrn in (
        ("conv1", (0, 1, 1)),
        ("inception/b4/pool", (1, 0, 0)),
        ("gap", (2, 0, 0)),
        ("logits", (1, 0, 0)),
        ("res1/add", (0, 0, 0)),
        ("bn1", (0, 1, 1)),
    ):
        neuron_figure(connections(tr, name, *nrn)).savefig(
            tmp_path / f"{name.replace('/', '_')}.png"
        )
        gradient_figure(grad_of(tr, name, *nrn, loss=loss)).savefig(
            tmp_path / f"g{name.replace('/', '_')}.png"
        )
    files = list(tmp_path.iterdir())
    assert len(files) == 12 and all(f.stat().st_size > 5000 for f in files)


def _doc_keys(tag):
    block = DOCS.read_text().split(f"<!-- {tag} -->")[1].split(f"<!-- /{tag} -->")[0]
    keys = set()
    for row in block.splitlines()[2:]:
        keys |= set(re.findall(r"`([a-z_]+)`", row.split("|")[1]))
    return keys


@pytest.mark.slow
def test_cli_backward_json_schema_and_plots(tmp_path):
    r = CliRunner().invoke(
        cli,
        ["step", "lenet5", "--sample", "digit7", "--neuron", "C3:2:4:4", "--backward", "--json"],
    )
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert set(d["neuron"]) == _doc_keys("neuron-keys")
    assert set(d["backward"]) == _doc_keys("backward-keys")
    assert set(d["backward"]["neuron"]) == _doc_keys("gradient-keys")
    assert d["backward"]["label"] == 7 and d["backward"]["neuron"]["equal"]
    assert d["backward"]["weight"]["equal"] and d["neuron"]["equal"]
    r = CliRunner().invoke(
        cli,
        ["step", "lenet5", "--neuron", "S2:0:5:5", "--backward", "--plot", str(tmp_path / "out")],
    )
    assert r.exit_code == 0, r.output
    for f in ("gradflow.png", "neuron_gradient.png", "neuron_connections.png", "grads_000_C1.png"):
        assert (tmp_path / "out" / f).stat().st_size > 5000
    assert (
        "gradients, step by step backwards" in r.output
        and "equals the kernels' backward" in r.output
    )


def test_cli_bad_input_one_line_exit_2():
    run = CliRunner().invoke
    r = run(cli, ["step", "lenet5", "--backward", "--label", "10"])
    assert r.exit_code == 2 and "valid 0..9" in r.output
    r = run(cli, ["step", "lenet5", "--layer", "S2", "--neuron", "C5:0:0:0"])
    assert r.exit_code == 2 and "runs after --layer" in r.output
    r = run(cli, ["step", "lenet5", "--label", "3"])
    assert r.exit_code == 2 and "add --backward" in r.output


def test_cli_backward_without_class_output(monkeypatch):
    monkeypatch.setitem(
        models.MODELS,
        "mapsonly",
        lambda: L.Sequential(
            [L.Conv2D(2, 3, name="C")], input_shape=(1, 8, 8), seed=0, name="mapsonly"
        ),
    )
    r = CliRunner().invoke(cli, ["step", "mapsonly", "--seed", "1", "--backward"])
    assert r.exit_code == 2 and "not a vector of class scores" in r.output
    assert r.output.count("\n") <= 12 and "Traceback" not in r.output


@pytest.mark.slow
@pytest.mark.parametrize("name", ["alexnet", "resnet18", "googlenet"])
def test_zoo_models_rebuild_forward_and_backward(name, rng):
    """Random neurons of every step of the big zoo models (LeNet-5: above)."""
    net = models.build(name)
    tr, loss = _trace(net, rng.random((1,) + tuple(net.input_shape), dtype=np.float32), 3)
    for s in tr:
        for m, r, c in random_neurons(s.output_shape, rng, 1):
            assert connections(tr, s.name, m, r, c).ok, s.name
            g = grad_of(tr, s.name, m, r, c, loss=loss)
            assert g.ok, "\n".join(g.lines())
        if "w" in s.grad_params:
            idx = tuple(int(rng.integers(n)) for n in s.grad_params["w"].shape)
            assert weight_grad_of(tr, s.name, idx).ok, s.name


def test_concat_explained_one_level_down(rng):
    from cnnsim.cli.neuron_view import down, down_text

    tr = record(small_googlenet_resnet(), rng.random((1, 3, 12, 12), dtype=np.float32))
    cat = connections(tr, "inception/concat", 6, 1, 2)  # branch 2 (maps 5..6): its map 1
    low = down(tr, cat)
    assert (low.layer, low.map, low.row, low.col) == ("inception/b3/5x5", 1, 1, 2)
    assert low.recorded == cat.output and low.ok
    assert "one level down" in down_text(low) and "--down" in "\n".join(cat.lines())
    assert down(tr, connections(tr, "conv1", 0, 0, 0)) is None


def test_cli_neuron_and_backward_fit_80_columns():
    r = CliRunner().invoke(
        cli, ["step", "lenet5", "--neuron", "C3:0:4:4", "--backward"], env={"COLUMNS": "80"}
    )
    assert r.exit_code == 0, r.output
    assert max(len(l) for l in r.output.splitlines()) <= 80
    assert "patch" in r.output and "| kernel" in r.output  # two grids side by side
