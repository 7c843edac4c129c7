"""The model zoo: every layer's shape and parameter count against the papers' and the
lecture's numbers (recomputed here by hand), real forward passes, gradients everywhere."""

import numpy as np
import pytest

from cnnsim import layers as L
from cnnsim import models
from cnnsim.layers.initializers import shapes_only
from cnnsim.models.alexnet import alexnet
from cnnsim.models.googlenet import googlenet
from cnnsim.models.lenet import c3_table
from cnnsim.models.resnet import resnet18
from cnnsim.models.towers import plain_cifar, resnet_cifar, tower
from cnnsim.testing.gradcheck import gradcheck, probe_for


def shapes_and_params(net, names):
    return {n: (net.find(n).output_shape, net.find(n).param_count()) for n in names}


def conv_params(f, c, k, bias=True):
    return f * c * k * k + (f if bias else 0)


def dense_params(d_in, d_out):
    return d_in * d_out + d_out


# ---- LeNet-5 --------------------------------------------------------------------------

# LeCun et al. 1998, Table I, typed from the paper: row = S2 map, column = C3 map
PAPER_TABLE_I = [
    "X...XXX..XXXX.XX",
    "XX...XXX..XXXX.X",
    "XXX...XXX..X.XXX",
    ".XXX..XXXX..X.XX",
    "..XXX..XXXX.XX.X",
    "...XXX..XXXX.XXX",
]


def test_lenet5_c3_connection_table_is_the_papers_table_I():
    t = c3_table()
    paper = np.array([[ch == "X" for ch in row] for row in PAPER_TABLE_I]).T
    np.testing.assert_array_equal(t, paper)
    assert t.sum(axis=1).tolist() == [3] * 6 + [4] * 9 + [6]
    assert int(t.sum()) == 60


def test_lenet5_paper_layers_and_exactly_60000_parameters():
    net = models.build("lenet5")
    expected = {
        "C1": ((6, 28, 28), 6 * 26),
        "S2": ((6, 14, 14), 6 * 2),
        "C3": ((16, 10, 10), 60 * 25 + 16),
        "S4": ((16, 5, 5), 16 * 2),
        "C5": ((120, 1, 1), conv_params(120, 16, 5)),
        "F6": ((84,), dense_params(120, 84)),
        "Out": ((10,), 0),
    }
    assert shapes_and_params(net, expected) == expected
    assert [c for _, c in expected.values()] == [156, 12, 1516, 32, 48120, 10164, 0]
    assert net.param_count() == 60_000
    assert isinstance(net.find("S2"), L.Subsampling) and isinstance(net.find("Out"), L.RBF)
    assert net.find("Out").prototypes.shape == (10, 84)
    assert set(np.unique(net.find("Out").prototypes)) == {-1.0, 1.0}
    assert net.find("F6").activation == "scaled_tanh"
    # options: trainable RBF prototypes add the 840 weights; softmax output 850
    assert models.build("lenet5", rbf_trainable=True).param_count() == 60_840
    assert models.build("lenet5", output="softmax").param_count() == 60_850


def test_lenet5_modern_61706_parameters():
    net = models.build("lenet5", variant="modern")
    expected = {
        "C1": ((6, 28, 28), 156),
        "S2": ((6, 14, 14), 0),
        "C3": ((16, 10, 10), conv_params(16, 6, 5)),
        "S4": ((16, 5, 5), 0),
        "C5": ((120, 1, 1), 48_120),
        "F6": ((84,), 10_164),
        "Out": ((10,), dense_params(84, 10)),
    }
    assert shapes_and_params(net, expected) == expected
    assert net.param_count() == 61_706
    assert net.find("C3").table is None and isinstance(net.find("S2"), L.AvgPool2D)


def test_lenet5_forward_on_one_image_and_rbf_penalties(rng):
    net = models.build("lenet5")
    x = rng.standard_normal((1, 1, 32, 32)).astype(np.float32)
    y = net(x)
    assert y.shape == (1, 10) and y.dtype == np.float32 and np.all(y >= 0)
    # the RBF output is the squared distance of F6's output to each prototype
    f6 = net.find("F6")
    seq = L.Sequential(net.layers[:7])  # C1 .. F6, already built, shares the parameters
    h = seq(x)
    np.testing.assert_allclose(
        y[0], ((h[0][None, :] - net.find("Out").prototypes) ** 2).sum(1), rtol=1e-5
    )
    assert f6.output_shape == (84,)


def _layer_gradcheck(layer, shape, rng, n=2):
    net = L.Sequential([layer], input_shape=shape, seed=3).astype(np.float64)
    x = rng.standard_normal((n,) + shape)
    y = net(x)
    dx = net.backprop(probe_for(y.shape, 0))
    params = net.parameters()
    analytic = [dx] + [layer.grads[k].copy() for (_, k, _) in params]

    def fn(xx, *ps):
        for (l, k, _), p in zip(params, ps):
            l.params[k] = p
        return net(xx)

    originals = [v for (_, _, v) in params]
    rep = gradcheck(fn, x, *originals, grads=analytic)
    for (l, k, _), v in zip(params, originals):
        l.params[k] = v
    return rep


@pytest.mark.parametrize(
    "make,shape",
    [
        (lambda: L.Subsampling(2, activation="scaled_tanh"), (3, 4, 6)),
        (lambda: L.Subsampling(2, activation=None), (2, 5, 5)),  # odd size: last row dropped
        (lambda: L.RBF(4, trainable=True), (6,)),
        (lambda: L.RBF(3), (5,)),
    ],
    ids=["subsampling tanh", "subsampling odd", "rbf trainable", "rbf fixed"],
)
def test_lenet_leaves_backward_finite_differences(make, shape, rng):
    layer = make()
    rep = _layer_gradcheck(layer, shape, rng)
    assert rep.ok, str(rep)
    if isinstance(layer, L.Subsampling):
        # give the coefficient a non-trivial value and check again
        layer.params["coef"][:] = rng.uniform(-2, 2, layer.params["coef"].shape)
        layer.params["bias"][:] = rng.uniform(-1, 1, layer.params["bias"].shape)
        rep = _layer_gradcheck(layer, shape, rng)
        assert rep.ok, str(rep)


def test_subsampling_forward_is_coef_times_mean_plus_bias(rng):
    s = L.Subsampling(2, activation=None)
    s.build((2, 4, 4), rng)
    s.params["coef"][:] = [2.0, -1.0]
    s.params["bias"][:] = [0.5, 0.0]
    x = rng.standard_normal((1, 2, 4, 4)).astype(np.float32)
    means = x.reshape(1, 2, 2, 2, 2, 2).mean(axis=(3, 5))
    np.testing.assert_allclose(
        s(x),
        means * np.array([2.0, -1.0])[None, :, None, None]
        + np.array([0.5, 0.0])[None, :, None, None],
        rtol=1e-5,
        atol=1e-6,
    )
    assert s.param_count() == 4


def test_rbf_is_refused_on_maps():
    with pytest.raises(ValueError, match="RBF.*Flatten"):
        L.Sequential([L.RBF(3)], input_shape=(2, 3, 3))


# ---- AlexNet ----------------------------------------------------------------------------


def test_alexnet_lecture_table():
    with shapes_only():  # counts and shapes only: skip drawing 200 M random weights
        net = models.build("alexnet")
    expected = {
        "C1": ((96, 56, 56), conv_params(96, 3, 11)),  # the table says 55x55: see summary
        "S2": ((96, 27, 27), 0),
        "C3": ((256, 27, 27), conv_params(256, 96, 5)),
        "S4": ((256, 13, 13), 0),
        "C5": ((384, 13, 13), conv_params(384, 256, 3)),
        "C6": ((384, 13, 13), conv_params(384, 384, 3)),
        "C7": ((256, 13, 13), conv_params(256, 384, 3)),
        "F8": ((4096,), dense_params(13 * 13 * 256, 4096)),
        "F9": ((4096,), dense_params(4096, 4096)),
        "Out": ((1000,), dense_params(4096, 1000)),
    }
    assert shapes_and_params(net, expected) == expected
    assert net.param_count() == sum(c for _, c in expected.values()) == 201_838_952
    names = [l.name for l in net.layers]
    assert names == [
        "C1",
        "C1_lrn",
        "S2",
        "C3",
        "C3_lrn",
        "S4",
        "C5",
        "C6",
        "C7",
        "flatten",
        "F8",
        "F8_dropout",
        "F9",
        "F9_dropout",
        "Out",
    ]
    lrn = net.find("C1_lrn")
    assert (lrn.r, lrn.k, lrn.alpha, lrn.beta) == (5, 1.0, 0.00002, 0.75)
    assert net.find("F8_dropout").rate == 0.5 and net.find("F9_dropout").rate == 0.5
    assert net.find("C1").geometry()["padding_spec"] == "same"
    assert net.find("S2").geometry()["padding_spec"] == "valid"


def test_alexnet_paper_60965224_parameters_with_two_gpu_groups():
    with shapes_only():
        net = models.build("alexnet", variant="paper")
    expected = {
        "C1": ((96, 55, 55), conv_params(96, 3, 11)),
        "S2": ((96, 27, 27), 0),
        "C3": ((256, 27, 27), 256 * 48 * 25 + 256),
        "S4": ((256, 13, 13), 0),
        "C5": ((384, 13, 13), conv_params(384, 256, 3)),
        "C6": ((384, 13, 13), 384 * 192 * 9 + 384),
        "C7": ((256, 13, 13), 256 * 192 * 9 + 256),
        "S8": ((256, 6, 6), 0),
        "F9": ((4096,), dense_params(9216, 4096)),
        "F10": ((4096,), dense_params(4096, 4096)),
        "Out": ((1000,), dense_params(4096, 1000)),
    }
    assert shapes_and_params(net, expected) == expected
    assert net.param_count() == 60_965_224
    assert net.input_shape == (3, 227, 227)
    t = net.find("C6").table
    assert t.shape == (384, 384) and t[:192, :192].all() and not t[:192, 192:].any()
    assert net.find("C5").table is None
    lrn = net.find("C3_lrn")
    assert (lrn.r, lrn.k, lrn.alpha, lrn.beta) == (5, 2.0, 1e-4, 0.75)


@pytest.mark.parametrize(
    "variant,shape,pooled",
    [("lecture", (3, 67, 67), (32, 3, 3)), ("paper", (3, 67, 67), (32, 1, 1))],
)
def test_alexnet_small_variant(variant, shape, pooled, rng):
    net = alexnet(variant=variant, width=0.125, input_shape=shape, num_classes=7)
    assert net.find("C1").filters == 12 and net.find("Out").output_shape == (7,)
    assert net.find("C7" if variant == "lecture" else "S8").output_shape == pooled
    _forward_backward_everywhere(net, rng, n=2)


# ---- GoogLeNet --------------------------------------------------------------------------

# Szegedy et al. 2014, Table 1, typed from the paper
TABLE_1 = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}


def _inception_params(c, n1, n3r, n3, n5r, n5, pp):
    return (
        conv_params(n1, c, 1)
        + conv_params(n3r, c, 1)
        + conv_params(n3, n3r, 3)
        + conv_params(n5r, c, 1)
        + conv_params(n5, n5r, 5)
        + conv_params(pp, c, 1)
    )


def test_googlenet_table_1():
    net = models.build("googlenet")
    depths, c = [], 192
    total = conv_params(64, 3, 7) + conv_params(64, 64, 1) + conv_params(192, 64, 3)
    for key, nums in TABLE_1.items():
        mod = net.find(f"inception_{key}")
        n1, n3r, n3, n5r, n5, pp = nums
        got = (
            mod.find(f"inception_{key}/1x1").filters,
            mod.find(f"inception_{key}/3x3/3x3_reduce").filters,
            mod.find(f"inception_{key}/3x3/3x3").filters,
            mod.find(f"inception_{key}/5x5/5x5_reduce").filters,
            mod.find(f"inception_{key}/5x5/5x5").filters,
            mod.find(f"inception_{key}/pool/pool_proj").filters,
        )
        assert got == nums, key
        assert mod.param_count() == _inception_params(c, *nums), key
        total += mod.param_count()
        c = n1 + n3 + n5 + pp
        depths.append(mod.output_shape[0])
    assert depths == [256, 480, 512, 512, 512, 528, 832, 832, 1024]
    total += dense_params(1024, 1000)
    assert net.param_count() == total == 6_998_552
    sizes = {
        n: net.find(n).output_shape
        for n in (
            "conv1",
            "pool1",
            "conv2",
            "pool2",
            "inception_3b",
            "pool3",
            "inception_4e",
            "pool4",
            "pool5",
            "fc",
        )
    }
    assert sizes == {
        "conv1": (64, 112, 112),
        "pool1": (64, 56, 56),
        "conv2": (192, 56, 56),
        "pool2": (192, 28, 28),
        "inception_3b": (480, 28, 28),
        "pool3": (480, 14, 14),
        "inception_4e": (832, 14, 14),
        "pool4": (832, 7, 7),
        "pool5": (1024, 1, 1),
        "fc": (1000,),
    }
    assert net.find("pool5").geometry()["kernel"] == (7, 7)
    assert net.find("dropout").rate == 0.4
    # AlexNet (paper) has about 10 times more parameters (8.7x)
    assert 8 < 60_965_224 / net.param_count() < 10


def test_googlenet_auxiliary_heads():
    net = models.build("googlenet")
    assert {k: h.tap for k, h in net.aux_heads.items()} == {
        "aux1": "inception_4a",
        "aux2": "inception_4d",
    }
    head = net.aux_heads["aux2"]
    assert [l.path for l in head.leaves()] == [
        "aux2/pool",
        "aux2/conv",
        "aux2/flatten",
        "aux2/fc1",
        "aux2/dropout",
        "aux2/fc2",
    ]
    assert head.find("aux2/pool").output_shape == (528, 4, 4)
    assert head.find("aux2/dropout").rate == 0.7
    assert net.aux_param_count() == (
        2 * (dense_params(2048, 1024) + dense_params(1024, 1000))
        + conv_params(128, 512, 1)
        + conv_params(128, 528, 1)
    )
    n_main = len(net.parameters(include_aux=False))
    assert n_main == len([1 for l in net.leaves() for _ in l.params])
    assert len(net.parameters()) == n_main + 2 * 6  # the optimizer sees the heads
    assert all(h.layers[-1].emit_logits for h in net.aux_heads.values())
    assert models.build("googlenet", aux=False).param_count() == net.param_count()


def _small_googlenet():
    return googlenet(width=1 / 32, input_shape=(3, 32, 32), num_classes=5, seed=2)


def _poison_grads(params):
    """NaN in every gradient buffer: a leaf left out of backward keeps them."""
    for layer, k, v in params:
        layer.grads[k] = np.full_like(v, np.nan)


def _assert_all_written(params):
    for layer, k, v in params:
        g = layer.grads[k]
        assert g.shape == v.shape and np.all(np.isfinite(g)), (
            f"{layer.path}.{k}: no gradient written"
        )


def test_googlenet_aux_forward_and_backward(rng):
    net = _small_googlenet().astype(np.float64)
    x = rng.standard_normal((2, 3, 32, 32))
    y, aux = net.forward_with_aux(x, training=False)
    np.testing.assert_array_equal(y, net(x))  # heads do not change the main path
    assert len(aux) == 2 and all(a.shape == (2, 5) for a in aux)
    # heads give logits (softmax fused into the loss): not rows summing to one
    assert not np.allclose(aux[0].sum(axis=1), 1.0)
    dy = probe_for(y.shape, 1)
    daux = [0.3 * probe_for(a.shape, 2 + i) for i, a in enumerate(aux)]
    net.forward_with_aux(x, training=False)
    _poison_grads(net.parameters())
    dx_all = net.backward_with_aux(dy, daux)
    _assert_all_written(net.parameters())  # trunk and both heads
    net(x)
    dx_main = net.backprop(dy)
    net.forward_with_aux(x, training=False)
    dx_aux = net.backward_with_aux(np.zeros_like(dy), {"aux1": daux[0], "aux2": daux[1]})
    np.testing.assert_allclose(dx_all, dx_main + dx_aux, rtol=1e-9, atol=1e-12)
    assert np.abs(dx_aux).max() > 0

    # finite differences of L = <dy, y> + <daux_1, aux_1> + <daux_2, aux_2> at a few inputs
    def f(xx):
        yy, aa = net.forward_with_aux(xx, training=False)  # no dropout: deterministic
        return np.sum(dy * yy) + sum(np.sum(d * a) for d, a in zip(daux, aa))

    for pos in [(0, 0, 3, 4), (1, 2, 17, 9), (0, 1, 31, 31), (1, 0, 12, 20)]:
        xp, xm = x.copy(), x.copy()
        xp[pos] += 1e-6
        xm[pos] -= 1e-6
        num = (f(xp) - f(xm)) / 2e-6
        assert abs(num - dx_all[pos]) <= 1e-5 * max(1.0, abs(num)), pos
    with pytest.raises(ValueError, match="missing gradients"):
        net.backward_with_aux(dy, {})
    with pytest.raises(ValueError, match="expected 2 head gradients"):
        net.backward_with_aux(dy, [daux[0]])


def test_googlenet_trains_with_the_trainer_loss(rng):
    """``cnnsim.train.losses.network_loss`` drives the heads (weight 0.3) without errors."""
    losses = pytest.importorskip("cnnsim.train.losses")
    net = _small_googlenet()
    x = rng.standard_normal((2, 3, 32, 32)).astype(np.float32)
    _poison_grads(net.parameters())
    loss, probs = losses.network_loss(net, x, np.array([1, 3]), training=True)
    assert np.isfinite(loss) and probs.shape == (2, 5)
    _assert_all_written(net.parameters())


def test_googlenet_small_variant(rng):
    # single-map ReLU branches at width 1/32 can be dead on a tiny batch: only require that
    # every parameter's gradient was written by backward
    _forward_backward_everywhere(_small_googlenet(), rng, n=2, nonzero=False)


# ---- ResNet ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "depth,units,total", [(18, (2, 2, 2, 2), 11_689_512), (34, (3, 4, 6, 3), 21_797_672)]
)
def test_resnet_imagenet_counts_and_shapes(depth, units, total):
    with shapes_only():
        net = models.build(f"resnet{depth}")
    assert net.param_count() == total
    # by hand: conv1 + bn1, the units, fc
    expected = 64 * 3 * 49 + 128
    c = 64
    for stage, (n, maps, hw) in enumerate(
        zip(units, (64, 128, 256, 512), (56, 28, 14, 7)), start=2
    ):
        for u in range(1, n + 1):
            unit = net.find(f"conv{stage}_{u}")
            assert isinstance(unit, L.ResidualUnit) and unit.output_shape == (maps, hw, hw)
            proj = c != maps
            assert (unit.shortcut is not None) == proj, unit.path
            expected += (
                c * maps * 9 + maps * maps * 9 + 4 * maps + (c * maps + 2 * maps if proj else 0)
            )
            c = maps
    expected += dense_params(512, 1000)
    assert expected == total
    assert net.find("conv1").output_shape == (64, 112, 112)
    assert net.find("pool1").output_shape == (64, 56, 56)
    assert net.find("conv3_1/main/conv_a").stride == (2, 2)
    assert net.find("conv3_1/shortcut/conv").kernel_size == (1, 1)


def test_resnet_cifar_and_its_plain_twin(rng):
    res, plain = models.build("resnet_cifar", n=3), models.build("plain_cifar", n=3)
    convs = lambda net: [
        l.path
        for l in net.leaves()  # noqa: E731
        if l.kind == "Conv2D" and "shortcut" not in l.path
    ]
    assert len(convs(res)) + 1 == 20 == len(convs(plain)) + 1  # 6n + 2 weight layers
    assert convs(res) == convs(plain)
    assert plain.param_count() == 269_722  # = ResNet-20 with option A shortcuts
    assert res.param_count() == 269_722 + (16 * 32 + 64) + (32 * 64 + 128)  # option B
    for name, shape in [
        ("stage1_3", (16, 32, 32)),
        ("stage2_1", (32, 16, 16)),
        ("stage3_3", (64, 8, 8)),
        ("fc", (10,)),
    ]:
        assert res.find(name).output_shape == shape == plain.find(name).output_shape
    assert not any(l.kind == "Add" for l in plain.leaves())
    assert models.build("resnet_cifar", n=9).param_count() > 850_000  # ResNet-56


def test_resnet_small_variants_forward_backward(rng):
    _forward_backward_everywhere(
        resnet18(width=1 / 16, input_shape=(3, 32, 32), num_classes=4), rng, n=2, training=True
    )
    _forward_backward_everywhere(
        resnet_cifar(n=1, width=0.25, input_shape=(3, 8, 8)), rng, n=3, training=True
    )
    _forward_backward_everywhere(
        plain_cifar(n=1, width=0.25, input_shape=(3, 8, 8)), rng, n=3, training=True
    )


# ---- towers -------------------------------------------------------------------------------


@pytest.mark.parametrize("residual", [False, True])
def test_tower_layers_named_conv1_to_convN(residual, rng):
    net = tower(
        depth=6, activation="tanh", residual=residual, width=3, input_shape=(1, 6, 6), unit="post"
    )
    convs = [l for l in net.leaves() if l.kind == "Conv2D"]
    assert [l.name for l in convs] == [f"conv{k}" for k in range(1, 7)]
    assert net.param_count() == conv_params(3, 1, 3) + 5 * conv_params(3, 3, 3) + dense_params(
        3, 10
    )
    units = [l for l in net.layers if isinstance(l, L.ResidualUnit)]
    if residual:
        assert [u.name for u in units] == ["res1", "res2"]  # conv2-3, conv4-5; conv6 plain
        assert [l.path for l in units[0].leaves()] == [
            "res1/main/conv2",
            "res1/main/conv3",
            "res1/add",
        ]
        assert net.find("conv6").activation == "tanh"
    else:
        assert units == [] and all(c.activation == "tanh" for c in convs)
    _forward_backward_everywhere(net, rng, n=2)
    # float64 finite differences through the whole tower
    net.astype(np.float64)
    x = rng.standard_normal((2, 1, 6, 6))
    y = net(x)
    dx = net.backprop(probe_for(y.shape, 0))
    rep = gradcheck(lambda xx: net(xx), x, grads=[dx])
    assert rep.ok, str(rep)


def test_pre_activation_tower_is_the_plain_tower_plus_identity_shortcuts(rng):
    pre = tower(depth=5, activation="sigmoid", residual=True, width=2, input_shape=(1, 5, 5))
    plain = tower(depth=5, activation="sigmoid", residual=False, width=2, input_shape=(1, 5, 5))
    assert [l.path for l in pre.find("res1").leaves()] == [
        "res1/main/act1",
        "res1/main/conv2",
        "res1/main/act2",
        "res1/main/conv3",
        "res1/add",
    ]
    assert pre.find("res1/add").activation is None
    assert [l.name for l in pre.leaves() if l.kind == "Conv2D"] == [f"conv{k}" for k in range(1, 6)]
    # same seed, same weights: removing the shortcuts gives the plain tower's numbers
    for (_, _, a), (_, _, b) in zip(pre.parameters(), plain.parameters()):
        np.testing.assert_array_equal(a, b)
    x = rng.standard_normal((2, 1, 5, 5)).astype(np.float32)
    for u in [l for l in pre.walk() if isinstance(l, L.ResidualUnit)]:
        u.add.forward = lambda xs, training=False: xs[0]  # cut the skip
    np.testing.assert_allclose(pre(x), plain(x), rtol=1e-5, atol=1e-6)


def test_tower_with_batchnorm_and_bad_options():
    net = tower(
        depth=3,
        activation="relu",
        residual=True,
        batchnorm=True,
        width=2,
        input_shape=(1, 5, 5),
        unit="post",
    )
    pre = tower(
        depth=3, activation="relu", residual=True, batchnorm=True, width=2, input_shape=(1, 5, 5)
    )
    assert [l.path for l in pre.leaves()][:5] == [
        "conv1",
        "bn1",
        "res1/main/act1",
        "res1/main/conv2",
        "res1/main/bn2",
    ]
    assert [l.path for l in net.leaves()][:3] == ["conv1", "bn1", "act1"]
    assert net.find("res1/main/bn3").kind == "BatchNorm"
    with pytest.raises(ValueError, match="tower: unknown activation 'swish'"):
        tower(activation="swish")
    with pytest.raises(ValueError, match="tower: depth must be a positive int"):
        tower(depth=0)
    with pytest.raises(ValueError, match="tower: unit must be 'pre' or 'post'"):
        tower(unit="middle")


# ---- shared ---------------------------------------------------------------------------------


def _forward_backward_everywhere(net, rng, n=2, training=False, nonzero=True):
    """Forward + backward on a batch in float32: backward writes every parameter's gradient
    (and, with ``nonzero``, none of them is all zero)."""
    x = rng.standard_normal((n,) + net.input_shape).astype(np.float32)
    y = net(x, training=training)
    assert y.shape == (n,) + net.output_shape and np.all(np.isfinite(y))
    params = [(l, k, v) for l in net.leaves() for k, v in l.params.items()]  # main path
    _poison_grads(params)
    dx = net.backprop(probe_for(y.shape, 0).astype(np.float32))
    assert dx.shape == x.shape and np.all(np.isfinite(dx)) and np.abs(dx).max() > 0
    _assert_all_written(params)
    if nonzero:
        for layer, k, _ in params:
            assert np.any(layer.grads[k] != 0), f"{layer.path}.{k} got no gradient"


def test_registry_and_errors():
    assert models.available() == [
        "alexnet",
        "googlenet",
        "lenet5",
        "plain_cifar",
        "resnet18",
        "resnet34",
        "resnet_cifar",
        "skip_cifar",
        "tower",
    ]
    with pytest.raises(ValueError, match="unknown model 'vgg'; available: alexnet, googlenet"):
        models.build("vgg")
    with pytest.raises(
        ValueError, match="alexnet: unknown variant 'v2'; expected one of 'lecture', 'paper'"
    ):
        models.build("alexnet", variant="v2")
    with pytest.raises(ValueError, match="alexnet: width must be a positive number"):
        models.build("alexnet", width=0)
    with pytest.raises(ValueError, match="lenet5: unknown output 'svm'"):
        models.build("lenet5", output="svm")
    with pytest.raises(ValueError, match="resnet_cifar: n must be a positive int"):
        models.build("resnet_cifar", n=0)
    with pytest.raises(ValueError, match=r"kernel 5x5 is larger than the padded input 4x4"):
        models.build("lenet5", input_shape=(1, 28, 28))  # MNIST must be padded to 32x32
    assert models.build("ResNet-18", width=1 / 16, input_shape=(3, 32, 32)).name == "resnet18"


# ---- full-size forward passes on one image (float32) -----------------------------------------


@pytest.mark.parametrize(
    "name,options",
    [
        ("alexnet", {"variant": "paper"}),
        pytest.param("alexnet", {"variant": "lecture"}, marks=pytest.mark.slow),
        ("googlenet", {}),
        ("resnet18", {}),
    ],
)
def test_full_size_forward_one_image(name, options, rng):
    """Measured on the shared 2-core dev machine: alexnet lecture ~22 s (most of it drawing
    its 200 M random weights; marked slow), googlenet ~5 s, resnet18 ~3.5 s, alexnet paper
    ~2 s once the Numba kernels are loaded (the first full-size test pays ~25 s for that)."""
    net = models.build(name, **options)
    x = rng.standard_normal((1,) + net.input_shape).astype(np.float32)
    y = net(x)
    assert y.shape == (1, 1000) and y.dtype == np.float32
    assert np.all(np.isfinite(y)) and abs(float(y.sum()) - 1.0) < 1e-4  # softmax output
