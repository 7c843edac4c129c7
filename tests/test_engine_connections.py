"""Connections rebuild what the kernels computed, neuron by neuron, on several networks."""

import numpy as np
import pytest
from engine_nets import random_neurons, small_alexnet, small_googlenet_resnet

from cnnsim import layers as L
from cnnsim import models
from cnnsim.engine import record
from cnnsim.engine.connections import connections
from cnnsim.engine.trace import TraceError


def _nets():
    return {
        "lenet5": lambda: models.build("lenet5"),
        "lenet5-modern": lambda: models.build("lenet5", variant="modern"),
        "small-alexnet": small_alexnet,
        "small-googlenet-resnet": small_googlenet_resnet,
        "alexnet-zoo-toy": lambda: models.build("alexnet", width=0.125, input_shape=(3, 67, 67)),
    }


@pytest.mark.parametrize("name", list(_nets()))
def test_connections_rebuild_random_neurons_of_every_layer(name, rng):
    net = _nets()[name]()
    x = rng.random((2,) + net.input_shape).astype(np.float32)
    tr = record(net, x)
    kinds = set()
    for step in tr:
        for m, r, c in random_neurons(step.output_shape, rng, 6):
            conn = connections(tr, step.name, m, r, c, sample=1)
            assert conn.recorded == float(step.y[(1, m) + ((r, c) if step.y.ndim == 4 else ())])
            assert conn.ok, (step.name, conn.output, conn.recorded, conn.tolerance)
        kinds.add(step.kind)
    assert "Conv2D" in kinds


def test_conv_connections_are_the_lecture_formula_with_padding_marked():
    # the lecture's 5x7 input, 3x3 field, stride 2, "same": output 3x4, pads (1, 1, 1, 1)
    conv = L.Conv2D(1, 3, 2, "same", name="conv")
    net = L.Sequential([conv], input_shape=(1, 5, 7), seed=0)
    x = np.arange(35, dtype=np.float32).reshape(1, 1, 5, 7)
    tr = record(net, x)
    assert tr["conv"].output_shape == (1, 3, 4)
    c = connections(tr, "conv", 0, 0, 0)
    assert c.rows == [-1, 0, 1] and c.cols == [-1, 0, 1]  # i*s - p ... i*s - p + f - 1
    assert c.padded[0].all() and c.padded[:, 0].all() and not c.padded[1:, 1:].any()
    assert np.all(c.inputs[0][c.padded] == 0)
    np.testing.assert_array_equal(c.inputs[0][1:, 1:], [[0, 1], [7, 8]])
    c = connections(tr, "conv", 0, 2, 3)
    assert c.rows == [3, 4, 5] and c.cols == [5, 6, 7]
    np.testing.assert_allclose(c.products, c.inputs * c.weights)
    assert c.sum == pytest.approx(c.products.sum() + c.bias)
    assert c.ok


def test_pool_lrn_dense_concat_add_details(rng):
    net = small_googlenet_resnet()
    x = rng.random((1,) + net.input_shape).astype(np.float32)
    tr = record(net, x)
    p = connections(tr, "inception/b4/pool", 1, 0, 0)
    r, col = p.details["winner"]
    assert p.output == float(tr["inception/b4/pool"].x[0, 1, r, col])
    assert p.padded[0].all()  # "same" 3x3 window at the corner reads padding
    cc = connections(tr, "inception/concat", 7, 2, 3)  # maps 0-1 b1, 2-4 b2, 5-6 b3, 7 b4
    assert cc.details["branch"] == 3 and cc.details["channel"] == 0
    assert tr.steps[cc.details["source"]].name == "inception/b4/proj"
    add = connections(tr, "res2/add", 2, 1, 1)
    assert tr.steps[add.details["sources"][1]].name == "res1/add"  # the identity shortcut
    assert add.sum == pytest.approx(sum(add.details["terms"].values()))
    d = connections(tr, "logits", 3, 0, 0)
    order = d.ranked()
    assert abs(d.products[order[0]]) == np.abs(d.products).max()
    sm = connections(tr, "softmax", 1, 0, 0)
    assert sm.ok
    net2 = small_alexnet()
    tr2 = record(net2, rng.random((1,) + net2.input_shape).astype(np.float32))
    lrn = connections(tr2, "N1", 0, 3, 3)
    assert lrn.channels == [0, 1]  # r = 3 at the first map: maps 0..1
    assert connections(tr2, "N1", 3, 3, 3).channels == [2, 3]
    g = connections(tr2, "C2", 4, 1, 1)
    assert g.channels == [2, 3]  # second group of the grouped conv


def test_bad_neurons_and_light_traces(rng):
    net = models.build("lenet5")
    tr = record(net, rng.random((1, 1, 32, 32)).astype(np.float32))
    with pytest.raises(ValueError, match=r"valid map 0\.\.5, row 0\.\.27, col 0\.\.27"):
        connections(tr, "C1", 6, 0, 0)
    with pytest.raises(ValueError, match="row 0, col 0"):
        connections(tr, "F6", 0, 1, 0)
    with pytest.raises(ValueError, match="sample 1 is outside the batch of 1"):
        connections(tr, "C1", 0, 0, 0, sample=1)
    with pytest.raises(KeyError, match="valid names: C1, S2"):
        connections(tr, "C9", 0, 0, 0)
    light = record(net, rng.random((1, 1, 32, 32)).astype(np.float32), light=True)
    with pytest.raises(TraceError, match="light mode"):
        connections(light, "C3", 0, 0, 0)
