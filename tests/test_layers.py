"""The layer contract, and every layer's backward against finite differences (float64)."""

import numpy as np
import pytest

from cnnsim import layers as L
from cnnsim.testing import naive
from cnnsim.testing.gradcheck import gradcheck, probe_for


def _net_gradcheck(net, x, seed=0, params=True):
    """Finite differences through a whole built network in float64, training=False
    unless it has no state-changing layers."""
    net.astype(np.float64)
    x = x.astype(np.float64)
    y = net(x)
    p = probe_for(y.shape, seed)
    dx = net.backprop(p)
    analytic = [dx] + ([v.copy() for (_, _, v) in _grads(net)] if params else [])
    arrays = [x] + ([v for (_, _, v) in net.parameters()] if params else [])

    def fn(*arrs):
        for (layer, k, _), a in zip(net.parameters(), arrs[1:]):
            layer.params[k] = a
        return net(arrs[0])

    originals = [v for (_, _, v) in net.parameters()]
    rep = gradcheck(fn, *arrays, grads=analytic, probe_seed=seed)
    for (layer, k, _), a in zip(net.parameters(), originals):
        layer.params[k] = a
    return rep


def _grads(net):
    return [(l, k, l.grads[k]) for (l, k, _) in net.parameters()]


LEAF_CASES = [
    ("conv same stride2", lambda: L.Conv2D(3, 3, 2, "same", activation="tanh"), (2, 5, 7)),
    (
        "conv table",
        lambda: L.Conv2D(
            3, (2, 3), 1, (1, 0, 1, 2), connections=[[1, 0], [0, 1], [1, 1]], activation="sigmoid"
        ),
        (2, 4, 4),
    ),
    ("conv groups", lambda: L.Conv2D(4, 1, groups=2, activation="relu"), (4, 3, 3)),
    ("maxpool overlapping", lambda: L.MaxPool2D(3, 2), (2, 7, 7)),
    ("avgpool same", lambda: L.AvgPool2D(2, 2, "same"), (2, 5, 5)),
    ("lrn", lambda: L.LRN(r=3, k=1.0, alpha=0.1, beta=0.75), (5, 2, 2)),
    ("dense scaled tanh", lambda: L.Dense(4, activation="scaled_tanh"), (6,)),
    ("dense softmax", lambda: L.Dense(3, activation="softmax"), (5,)),
    ("flatten", lambda: L.Flatten(), (2, 2, 3)),
    ("gap", lambda: L.GlobalAvgPool(), (3, 2, 2)),
    ("batchnorm eval", lambda: L.BatchNorm(), (3, 2, 2)),
    ("relu", lambda: L.ReLU(), (3, 4)),
]


@pytest.mark.parametrize("name,make,shape", LEAF_CASES, ids=[c[0] for c in LEAF_CASES])
def test_leaf_backward_finite_differences(name, make, shape, rng):
    net = L.Sequential([make()], input_shape=shape, seed=3)
    x = rng.standard_normal((2,) + shape) + (0.3 if "relu" in name else 0.0)
    rep = _net_gradcheck(net, x)
    assert rep.ok, str(rep)


def small_net():
    """A small network with an inception block and a residual unit (both joins)."""
    inception = L.Concat(
        [
            L.Sequential([L.Conv2D(2, 1, activation="relu", name="1x1")], name="b1"),
            L.Sequential(
                [
                    L.Conv2D(2, 1, activation="relu", name="reduce"),
                    L.Conv2D(3, 3, padding="same", activation="relu", name="3x3"),
                ],
                name="b2",
            ),
            L.Sequential(
                [
                    L.MaxPool2D(3, 1, "same", name="pool"),
                    L.Conv2D(1, 1, activation="relu", name="proj"),
                ],
                name="b3",
            ),
        ],
        name="inception",
    )
    residual = L.ResidualUnit(
        [
            L.Conv2D(4, 3, 2, "same", activation="tanh", name="conv_a"),
            L.Conv2D(4, 3, 1, "same", name="conv_b"),
        ],
        shortcut=[L.Conv2D(4, 1, 2, name="proj")],
        activation="tanh",
        name="res",
    )
    return L.Sequential(
        [
            L.Conv2D(3, 3, padding="same", activation="tanh", name="C1"),
            inception,
            L.LRN(r=3, k=1.0, alpha=0.2, beta=0.75, name="lrn"),
            residual,
            L.ResidualUnit(
                [
                    L.Conv2D(4, 3, padding="same", activation="sigmoid", name="a"),
                    L.Conv2D(4, 3, padding="same", name="b"),
                ],
                activation="sigmoid",
                name="id",
            ),
            L.AvgPool2D(2, name="pool"),
            L.Flatten(name="flat"),
            L.Dense(3, activation="softmax", name="out"),
        ],
        input_shape=(2, 6, 6),
        seed=1,
        name="small",
    )


def test_small_network_with_inception_and_residual_finite_differences(rng):
    net = small_net()
    assert net.output_shape == (3,)
    assert net.find("inception").output_shape == (6, 6, 6)
    assert [l.path for l in net.leaves()][:4] == [
        "C1",
        "inception/b1/1x1",
        "inception/b2/reduce",
        "inception/b2/3x3",
    ]
    rep = _net_gradcheck(net, rng.standard_normal((2, 2, 6, 6)))
    assert rep.ok, str(rep)


def test_every_parameter_receives_a_gradient(rng):
    net = small_net().astype(np.float64)
    y = net(rng.standard_normal((2, 2, 6, 6)))
    net.backprop(probe_for(y.shape))  # not ones: softmax maps a constant gradient to 0
    for layer, k, _ in net.parameters():
        assert np.any(layer.grads[k] != 0), f"{layer.path}.{k} got no gradient"


def test_counts_without_running():
    conv = L.Conv2D(6, 5, activation="tanh")
    conv.build((1, 32, 32))
    assert conv.output_shape == (6, 28, 28)
    assert conv.param_count() == 6 * 25 + 6
    assert conv.macs() == 6 * 28 * 28 * 25
    table = np.zeros((16, 6), bool)
    table[:6, :3] = True
    c3 = L.Conv2D(16, 5, connections=table)
    c3.build((6, 14, 14))
    assert c3.param_count() == 18 * 25 + 16
    assert c3.geometry() == {
        "kernel": (5, 5),
        "stride": (1, 1),
        "padding": (0, 0, 0, 0),
        "padding_spec": "valid",
    }
    net = small_net()
    assert net.param_count() == sum(l.param_count() for l in net.leaves())


def test_conv_layer_matches_reference(rng):
    conv = L.Conv2D(2, 3, 2, "same")
    conv.build((3, 5, 7), rng)
    x = rng.standard_normal((1, 3, 5, 7)).astype(np.float32)
    np.testing.assert_allclose(
        conv(x),
        naive.conv2d(x, conv.params["w"], conv.params["b"], 2, "same"),
        rtol=1e-5,
        atol=1e-5,
    )


def test_seeded_build_is_deterministic():
    a, b = small_net(), small_net()
    for (_, _, va), (_, _, vb) in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(va, vb)


def test_a_layer_built_with_an_int_seed_equals_one_built_with_its_generator():
    a, b, c = (L.Conv2D(4, 3) for _ in range(3))
    a.build((2, 6, 6), rng=7)
    b.build((2, 6, 6), rng=np.random.default_rng(7))
    c.build((2, 6, 6))  # no rng: seed 0
    np.testing.assert_array_equal(a.params["w"], b.params["w"])
    assert not np.array_equal(a.params["w"], c.params["w"])


@pytest.mark.parametrize(
    "make,shape,msg",
    [
        (lambda: L.Conv2D(2, 7), (1, 5, 5), "larger than the padded input"),
        (lambda: L.Dense(3), (2, 4, 4), "put a Flatten layer"),
        (lambda: L.Conv2D(2, 3, connections=np.ones((3, 3), bool)), (2, 5, 5), "connection table"),
        (lambda: L.ResidualUnit([L.Conv2D(3, 3)]), (2, 5, 5), "projection shortcut"),
    ],
)
def test_impossible_networks_are_refused_with_the_layer_name(make, shape, msg):
    with pytest.raises(ValueError, match=msg):
        L.Sequential([make()], input_shape=shape)


def test_wrong_input_names_the_layer():
    net = L.Sequential([L.Conv2D(2, 3, name="C1")], input_shape=(1, 8, 8))
    with pytest.raises(
        ValueError, match=r"layer 'C1' \(Conv2D\): expected input of shape \(N, 1, 8, 8\)"
    ):
        net.layers[0](np.zeros((1, 3, 8, 8), np.float32))
    with pytest.raises(ValueError, match=r"'sequential'"):
        net(np.zeros((1, 3, 8, 8), np.float32))
    with pytest.raises(TypeError, match="float32 or float64"):
        net(np.zeros((1, 1, 8, 8), np.int64))


def test_concat_kind_says_what_it_is_and_old_name_still_loads():
    from cnnsim.layers.base import layer_class

    cat = L.Concat([L.Conv2D(2, 1, name="a"), L.Conv2D(3, 1, name="b")], name="mod")
    assert cat.kind == "Concat" and cat.title == "Inception"  # tables keep the lecture's name
    assert layer_class("Concat") is L.Concat
    assert layer_class("Inception") is L.Concat  # files written before the rename
