"""ONNX in and out, checked against onnxruntime.

Import: ONNX files built here with ``onnx.helper`` (LeNet-like, an inception block, residual
units, LRN, batch norm, every pad mode) give cnnsim outputs equal to onnxruntime's.
Export: every zoo model written with ``to_onnx`` runs in onnxruntime with cnnsim's outputs,
and importing the file gives the same leaves, weights and outputs back.
"""

import numpy as np
import pytest

import cnnsim
from cnnsim import layers as L
from cnnsim import models
from cnnsim.interop import from_onnx, to_onnx
from cnnsim.interop.onnx_io import OnnxError

onnx = pytest.importorskip("onnx", reason="onnx builds the test models")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is the reference")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

RNG = np.random.default_rng(0)


def _w(*shape, scale=0.3):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


class G:
    """A tiny builder: nodes, initializers, one input ``x``, one output ``y``."""

    def __init__(self, in_shape):
        self.in_shape, self.nodes, self.inits = tuple(in_shape), [], []

    def init(self, name, a):
        self.inits.append(numpy_helper.from_array(np.asarray(a), name))
        return name

    def add(self, op, inputs, output, name=None, **attrs):
        self.nodes.append(helper.make_node(op, inputs, [output], name=name or output, **attrs))
        return output

    def save(self, path, out="y"):
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *self.in_shape])
        y = helper.make_tensor_value_info(out, TensorProto.FLOAT, None)
        g = helper.make_graph(self.nodes, "t", [x], [y], self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
        m.ir_version = 8
        onnx.save(m, str(path))
        return path


def _ort(path, x):
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x})[0]


def _same(path, batch=2, tol=1e-5):
    net = from_onnx(path)
    x = RNG.standard_normal((batch,) + net.input_shape).astype(np.float32)
    ref = _ort(path, x)
    got = net(x)
    assert got.shape == ref.reshape(got.shape).shape
    np.testing.assert_allclose(
        got, ref.reshape(got.shape), rtol=tol, atol=tol * max(1.0, float(np.abs(ref).max()))
    )
    return net


# ---- import ----------------------------------------------------------------------------


def test_lenet_like(tmp_path):
    g = G((1, 28, 28))
    g.add(
        "Conv", ["x", g.init("c1w", _w(6, 1, 5, 5)), g.init("c1b", _w(6))], "c1", pads=[2, 2, 2, 2]
    )
    g.add("Tanh", ["c1"], "t1")
    g.add("AveragePool", ["t1"], "s2", kernel_shape=[2, 2], strides=[2, 2])
    g.add("Conv", ["s2", g.init("c3w", _w(16, 6, 5, 5, scale=0.1))], "c3")
    g.nodes.append(helper.make_node("Relu", ["c3"], ["r3"]))  # unnamed: fused
    g.add("MaxPool", ["r3"], "s4", kernel_shape=[2, 2], strides=[2, 2])
    g.add("Reshape", ["s4", g.init("shape", np.array([0, -1], np.int64))], "flat")
    g.add(
        "Gemm",
        ["flat", g.init("f5w", _w(120, 400, scale=0.05)), g.init("f5b", _w(120))],
        "f5",
        transB=1,
    )
    g.add("Relu", ["f5"], "r5", name="f5/relu")  # cnnsim's fused name
    g.add("MatMul", ["r5", g.init("f6w", _w(120, 10, scale=0.1))], "f6")
    g.add("Add", ["f6", g.init("f6b", _w(10))], "f6b_add")
    g.nodes.append(helper.make_node("Softmax", ["f6b_add"], ["y"], axis=1))
    net = _same(g.save(tmp_path / "lenet.onnx"))
    kinds = [(l.path, l.kind, l.activation) for l in net.leaves()]
    # every named node is a layer; an unnamed activation (or one named "<conv>/relu", as
    # cnnsim writes a fused one) that alone reads a Conv / Gemm / Add is fused into it
    assert kinds == [
        ("c1", "Conv2D", None),
        ("t1", "Activation", "tanh"),
        ("s2", "AvgPool2D", None),
        ("c3", "Conv2D", "relu"),
        ("s4", "MaxPool2D", None),
        ("flat", "Flatten", None),
        ("f5", "Dense", "relu"),
        ("f6", "Dense", "softmax"),
    ]
    assert net.find("c3").params.keys() == {"w"}  # no bias input -> no bias


def test_inception_block(tmp_path):
    g = G((8, 12, 12))
    g.add("Conv", ["x", g.init("b1w", _w(4, 8, 1, 1)), g.init("b1b", _w(4))], "b1")
    g.add("Relu", ["b1"], "b1r")
    g.add("Conv", ["x", g.init("b2rw", _w(3, 8, 1, 1))], "b2r")
    g.add("Relu", ["b2r"], "b2rr")
    g.add(
        "Conv",
        ["b2rr", g.init("b2w", _w(5, 3, 3, 3)), g.init("b2b", _w(5))],
        "b2",
        pads=[1, 1, 1, 1],
    )
    g.add("Relu", ["b2"], "b2o")
    g.add("Conv", ["x", g.init("b3rw", _w(2, 8, 1, 1))], "b3r")
    g.add("Conv", ["b3r", g.init("b3w", _w(3, 2, 5, 5))], "b3", auto_pad="SAME_UPPER")
    g.add("MaxPool", ["x"], "b4p", kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1])
    g.add("Conv", ["b4p", g.init("b4w", _w(2, 8, 1, 1))], "b4")
    g.add("Concat", ["b1r", "b2o", "b3", "b4"], "y", axis=1)
    net = _same(g.save(tmp_path / "inception.onnx"))
    assert net.output_shape == (14, 12, 12)


@pytest.mark.parametrize("project", [False, True])
def test_residual_unit_with_batch_norm(tmp_path, project):
    c, co = 4, (6 if project else 4)
    s = 2 if project else 1
    g = G((c, 9, 9))

    def bn(inp, out, n):
        g.add(
            "BatchNormalization",
            [
                inp,
                g.init(f"{out}_g", RNG.random(n).astype(np.float32) + 0.5),
                g.init(f"{out}_b", _w(n)),
                g.init(f"{out}_m", _w(n)),
                g.init(f"{out}_v", RNG.random(n).astype(np.float32) + 0.5),
            ],
            out,
            epsilon=1e-3,
        )

    g.add("Conv", ["x", g.init("aw", _w(co, c, 3, 3))], "a", pads=[1, 1, 1, 1], strides=[s, s])
    bn("a", "abn", co)
    g.add("Relu", ["abn"], "ar")
    g.add("Conv", ["ar", g.init("bw", _w(co, co, 3, 3))], "b", pads=[1, 1, 1, 1])
    bn("b", "bbn", co)
    short = "x"
    if project:
        g.add("Conv", ["x", g.init("pw", _w(co, c, 1, 1))], "p", strides=[2, 2])
        bn("p", "pbn", co)
        short = "pbn"
    g.add("Add", ["bbn", short], "sum")
    g.nodes.append(helper.make_node("Relu", ["sum"], ["y"]))
    net = _same(g.save(tmp_path / "res.onnx"))
    add = net.find("sum")
    assert add.kind == "Add" and add.activation == "relu"  # unnamed Relu fused into the join
    assert net.find("ar").kind == "Activation"  # a named one stays a layer
    assert net.find("abn").eps == pytest.approx(1e-3)


def test_lrn_alpha_is_divided_by_size(tmp_path):
    g = G((7, 5, 5))
    g.add("LRN", ["x"], "y", size=5, alpha=1e-2, beta=0.75, bias=2.0)
    net = from_onnx(g.save(tmp_path / "lrn.onnx"))
    lrn = net.find("y")
    assert (lrn.r, lrn.k, lrn.beta) == (5, 2.0, 0.75)
    assert lrn.alpha == pytest.approx(1e-2 / 5)  # ONNX alpha / size = the lecture's alpha
    x = (RNG.standard_normal((2, 7, 5, 5)) * 4).astype(np.float32)
    np.testing.assert_allclose(net(x), _ort(tmp_path / "lrn.onnx", x), rtol=1e-5, atol=1e-6)


def test_lrn_even_size_is_refused(tmp_path):
    g = G((4, 3, 3))
    g.add("LRN", ["x"], "y", size=4, alpha=1e-4, beta=0.75)
    with pytest.raises(OnnxError, match=r"node 'y' \(LRN\): size=4 is even"):
        from_onnx(g.save(tmp_path / "lrn4.onnx"))


@pytest.mark.parametrize("hw", [(7, 7), (8, 6)])
@pytest.mark.parametrize("auto_pad", ["SAME_UPPER", "SAME_LOWER", "VALID", "NOTSET"])
def test_conv_pad_modes(tmp_path, auto_pad, hw):
    g = G((3,) + hw)
    pads = {"pads": [0, 1, 2, 1]} if auto_pad == "NOTSET" else {}
    g.add(
        "Conv",
        ["x", g.init("w", _w(4, 3, 4, 3)), g.init("b", _w(4))],
        "y",
        strides=[2, 2],
        auto_pad=auto_pad,
        **pads,
    )
    net = _same(g.save(tmp_path / "pad.onnx"))
    if auto_pad == "SAME_LOWER" and hw == (7, 7):
        # out 4: total padding (4-1)*2 + 4 - 7 = 3 rows -> 2 on top (the odd one first)
        assert net.find("y").window.pads[:2] == (2, 1)


@pytest.mark.parametrize("auto_pad", ["SAME_UPPER", "SAME_LOWER", "VALID"])
def test_pool_auto_pad(tmp_path, auto_pad):
    g = G((2, 7, 6))
    g.add("MaxPool", ["x"], "m", kernel_shape=[3, 3], strides=[2, 2], auto_pad=auto_pad)
    g.add("AveragePool", ["m"], "y", kernel_shape=[2, 2], strides=[1, 1], auto_pad=auto_pad)
    _same(g.save(tmp_path / "pool.onnx"))


@pytest.mark.parametrize("include", [0, 1])
def test_average_pool_count_include_pad(tmp_path, include):
    g = G((3, 7, 7))
    g.add(
        "AveragePool",
        ["x"],
        "y",
        kernel_shape=[3, 3],
        strides=[2, 2],
        pads=[1, 1, 1, 1],
        count_include_pad=include,
    )
    net = _same(g.save(tmp_path / "avg.onnx"))
    assert net.find("y").count_include_pad is bool(include)


def test_max_pool_ceil_mode(tmp_path):
    g = G((2, 8, 7))
    g.add("MaxPool", ["x"], "y", kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)
    net = _same(g.save(tmp_path / "ceil.onnx"))
    assert net.output_shape == (2, 4, 3)


def test_grouped_conv_leaky_relu_gap_dropout_identity(tmp_path):
    g = G((4, 6, 6))
    g.add(
        "Conv",
        ["x", g.init("w", _w(6, 2, 3, 3)), g.init("b", _w(6))],
        "c",
        group=2,
        pads=[1, 1, 1, 1],
    )
    g.add("LeakyRelu", ["c"], "lr", alpha=0.2)
    g.add("Sigmoid", ["lr"], "sg")
    g.add("Identity", ["sg"], "id")
    g.add("GlobalAveragePool", ["id"], "gap")
    g.add("Flatten", ["gap"], "fl", axis=1)
    g.add("Dropout", ["fl", g.init("ratio", np.array(0.3, np.float32))], "dr")
    g.add("Gemm", ["dr", g.init("fw", _w(6, 5)), g.init("fb", _w(5))], "y", alpha=0.5, beta=2.0)
    net = _same(g.save(tmp_path / "misc.onnx"))
    assert net.find("c").groups == 2 and net.find("dr").rate == pytest.approx(0.3)
    assert "fl" not in [l.path for l in net.leaves()]  # GlobalAvgPool already gives (N, C)


def test_unsupported_operator_is_one_line(tmp_path):
    g = G((2, 4, 4))
    g.add("Relu", ["x"], "r", name="first")
    g.add("Elu", ["r"], "y", name="my_elu")
    with pytest.raises(OnnxError) as e:
        from_onnx(g.save(tmp_path / "elu.onnx"))
    msg = str(e.value)
    assert "node 'my_elu' (Elu): unsupported operator; supported: Conv, MaxPool" in msg
    assert "\n" not in msg


def test_unsupported_attribute_is_one_line(tmp_path):
    g = G((2, 6, 6))
    g.add("Conv", ["x", g.init("w", _w(2, 2, 3, 3))], "y", dilations=[2, 2])
    with pytest.raises(OnnxError, match=r"node 'y' \(Conv\): unsupported dilations \[2, 2\]"):
        from_onnx(g.save(tmp_path / "dil.onnx"))


def test_node_names_become_layer_names(tmp_path):
    g = G((1, 5, 5))
    g.add("Conv", ["x", g.init("w", _w(2, 1, 3, 3))], "t0", name="/features/features.0/Conv")
    g.add("Relu", ["t0"], "t1", name="/features/features.1/Relu")
    g.nodes.append(helper.make_node("MaxPool", ["t1"], ["y"], kernel_shape=[2, 2]))  # no name
    net = from_onnx(g.save(tmp_path / "names.onnx"))
    assert [l.path for l in net.leaves()] == [
        "features/features.0/Conv",
        "features/features.1/Relu",
        "MaxPool_2",
    ]


# ---- export ----------------------------------------------------------------------------

ZOO = [
    ("lenet5", dict(variant="modern")),
    ("lenet5", dict(variant="modern", activation="relu")),
    ("lenet5", dict(variant="paper")),
    ("lenet5", dict(variant="paper", output="softmax")),
    ("lenet5", dict(variant="paper", activation="sigmoid", rbf_trainable=True)),
    ("alexnet", dict(variant="lecture", width=0.125, input_shape=(3, 67, 67))),
    ("alexnet", dict(variant="paper", width=0.125, input_shape=(3, 67, 67))),
    ("alexnet", dict(variant="torchvision", width=0.0625)),
    ("googlenet", dict(width=0.0625, input_shape=(3, 64, 64))),  # with its auxiliary heads
    ("googlenet", dict(variant="torchvision", width=0.0625, input_shape=(3, 64, 64))),
    ("resnet18", dict(width=0.125, input_shape=(3, 32, 32))),
    ("resnet34", dict(width=0.0625, input_shape=(3, 32, 32))),
    ("resnet_cifar", dict(n=1, width=0.5)),
    ("plain_cifar", dict(n=1, width=0.5)),
    ("skip_cifar", dict(n=1, span=1, width=0.5)),
    ("skip_cifar", dict(n=1, span=0, width=0.5)),
    ("tower", dict(depth=4, residual=True, batchnorm=True)),
    ("tower", dict(depth=3, residual=True, unit="post", activation="relu")),
    ("tower", dict(depth=3, batchnorm=True, activation="scaled_tanh")),
    ("tower", dict(depth=2, batchnorm=True, activation="linear")),
]


def test_zoo_list_covers_every_model():
    assert set(models.available()) <= {n for n, _ in ZOO}


def _randomise_bn(net, seed=1):
    r = np.random.default_rng(seed)
    for leaf in net.all_leaves():
        if isinstance(leaf, L.BatchNorm):
            n = leaf.params["gamma"].size
            leaf.buffers["running_mean"][:] = r.standard_normal(n) * 0.3
            leaf.buffers["running_var"][:] = r.random(n) + 0.5
            leaf.params["beta"][:] = r.standard_normal(n) * 0.1


def _outputs(net, x):
    """Every output: the network's, then the extra ones (GoogLeNet's auxiliary heads)."""
    return net.forward_all(x) if hasattr(net, "forward_all") else [net(x)]


def _same_leaves(net, back):
    """``back`` is ``net``: the same leaves (path, class, activation, geometry, connection
    table, logits flag, trainable prototypes), parameters and buffers."""
    got = {l.path: l for l in back.all_leaves()}
    assert sorted(got) == sorted(l.path for l in net.all_leaves())
    for a in net.all_leaves():
        b = got[a.path]
        assert type(a) is type(b), a.path
        ca, cb = a.get_config(), b.get_config()
        for k in ("padding", "name"):  # "same" comes back explicit; a name is its path
            ca.pop(k, None), cb.pop(k, None)
        assert ca == cb, a.path
        assert a.geometry() == b.geometry() or (
            {k: v for k, v in a.geometry().items() if k != "padding_spec"}
            == {k: v for k, v in b.geometry().items() if k != "padding_spec"}
        ), a.path
        for attr in ("activation", "emit_logits", "trainable", "table"):
            va, vb = getattr(a, attr, None), getattr(b, attr, None)
            assert np.array_equal(va, vb) if attr == "table" else va == vb, (a.path, attr)
        for d in ("params", "buffers"):
            da, db = getattr(a, d, {}), getattr(b, d, {})
            assert sorted(da) == sorted(db), (a.path, d)
            for k in da:
                np.testing.assert_array_equal(da[k], db[k], err_msg=f"{a.path}.{k}")
    assert back.param_count() == net.param_count()
    for attr in ("preprocess", "preprocess_note"):  # torchvision models' ImageNet preprocessing
        assert getattr(back, attr, None) == getattr(net, attr, None), attr


@pytest.mark.parametrize(
    "name,opts", ZOO, ids=[f"{n}-" + "-".join(f"{v}" for v in o.values()) for n, o in ZOO]
)
def test_zoo_export_runs_in_onnxruntime_and_imports_back(tmp_path, name, opts):
    net = models.build(name, **opts)
    _randomise_bn(net)
    x = np.random.default_rng(2).standard_normal((2,) + net.input_shape).astype(np.float32)
    ys = _outputs(net, x)
    path = tmp_path / "m.onnx"
    to_onnx(net, path)
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert len(s.get_outputs()) == len(ys)  # the auxiliary heads too
    for ref, y in zip(s.run(None, {"input": x}), ys):
        np.testing.assert_allclose(ref, y, rtol=1e-4, atol=1e-5 * max(1.0, float(np.abs(y).max())))
    back = from_onnx(path)
    _same_leaves(net, back)
    assert len(_outputs(back, x)) == len(ys)
    for got, y in zip(_outputs(back, x), ys):
        np.testing.assert_array_equal(got, y)


def test_googlenet_aux_heads_are_named_outputs_giving_logits(tmp_path):
    net = models.googlenet(width=0.0625, input_shape=(3, 64, 64))
    m = to_onnx(net, tmp_path / "g.onnx")
    assert [o.name for o in m.graph.output] == ["output", "aux1:output", "aux2:output"]
    back = from_onnx(tmp_path / "g.onnx")
    heads = back.output_leaves()[1:]
    assert [l.path for l in heads] == ["aux1/fc2", "aux2/fc2"]
    assert all(l.activation == "softmax" and l.emit_logits for l in heads)
    assert back.aux_param_count() == net.aux_param_count() > 0
    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
    s = ort.InferenceSession(str(tmp_path / "g.onnx"), providers=["CPUExecutionProvider"])
    aux1 = s.run(["aux1:output"], {"input": x})[0]
    assert not np.allclose(aux1.sum(axis=1), 1.0)  # logits, as cnnsim's heads give them
    np.testing.assert_allclose(aux1, net.forward_all(x)[1], rtol=1e-4, atol=1e-5)


def test_lenet5_paper_subgraphs_are_read_back_as_their_layers(tmp_path):
    net = models.lenet5(variant="paper")
    m = to_onnx(net, tmp_path / "l.onnx")
    ops = [n.op_type for n in m.graph.node]
    assert {"Mul", "ReduceSumSquare", "AveragePool"} <= set(ops)  # onnx has no such layers
    back = from_onnx(tmp_path / "l.onnx")
    kinds = {l.path: (type(l).__name__, l.activation) for l in back.leaves()}
    assert kinds["S2"] == ("Subsampling", "scaled_tanh")
    assert kinds["C1"] == ("Conv2D", "scaled_tanh")
    assert kinds["Out"][0] == "RBF" and not list(back.leaves())[-1].trainable
    c3 = {l.path: l for l in back.leaves()}["C3"]
    np.testing.assert_array_equal(c3.table, models.lenet.c3_table())
    assert c3.param_count() == 1516  # 60 kernels of 25 + 16 biases, not 96 kernels


def test_hand_written_subsampling_and_scaled_tanh_are_recognised(tmp_path):
    g = G((2, 6, 6))
    g.add("AveragePool", ["x"], "p", name="pool", kernel_shape=[2, 2], strides=[2, 2])
    g.add("Mul", ["p", g.init("coef", _w(2, 1, 1))], "m")
    g.add("Add", ["m", g.init("bias", _w(2, 1, 1))], "a")
    g.add("Mul", ["a", g.init("k", np.float32(2 / 3))], "s", name="pool/scale_in")  # fused
    g.add("Tanh", ["s"], "t")
    g.add("Mul", ["t", g.init("A", np.float32(1.7159))], "y")
    net = _same(g.save(tmp_path / "s.onnx"))
    (layer,) = net.leaves()
    assert isinstance(layer, L.Subsampling) and layer.activation == "scaled_tanh"


@pytest.mark.parametrize("rbf", [True, False])
def test_hand_written_rbf_in_another_order(tmp_path, rbf):
    """|x|^2 first (as another tool may order it), then -2 x.w + |w|^2: an RBF. With a
    constant that is not |w|^2 it is no RBF, and the one line names ReduceSumSquare."""
    w = np.where(RNG.random((3, 5)) < 0.5, -1.0, 1.0).astype(np.float32)
    ww = (w * w).sum(axis=1) + (0 if rbf else 1)
    g = G((5,))
    g.add("ReduceSumSquare", ["x"], "xx", axes=[1], keepdims=1)
    g.add("MatMul", ["x", g.init("m2w", -2 * w.T)], "xw")
    g.add("Add", ["xw", g.init("ww", ww.astype(np.float32))], "xw_ww")
    g.add("Add", ["xw_ww", "xx"], "y", name="Out")
    path = g.save(tmp_path / "r.onnx")
    if not rbf:
        with pytest.raises(OnnxError, match=r"\(ReduceSumSquare\): .*only inside an RBF"):
            from_onnx(path)
        return
    net = _same(path)
    (layer,) = net.leaves()
    assert isinstance(layer, L.RBF) and layer.path == "Out"
    np.testing.assert_array_equal(layer.prototypes, w)


def test_a_mul_outside_the_patterns_is_one_line(tmp_path):
    g = G((2, 4, 4))
    g.add("Mul", ["x", g.init("k", np.float32(3.0))], "y")
    with pytest.raises(OnnxError, match=r"node 'y' \(Mul\): Mul is supported only inside") as e:
        from_onnx(g.save(tmp_path / "m.onnx"))
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    "key,value,message",
    [
        ("cnnsim.layers", "{not json", "metadata 'cnnsim.layers' is not JSON"),
        ("cnnsim.layers", '{"conv1": 3}', "'cnnsim.layers' must map node names to objects"),
        ("cnnsim.preprocess", '{"resize": 256}', "'cnnsim.preprocess' must be JSON"),
        ("cnnsim.layers", '{"conv1": {"table": ["01"]}}', "not 2 rows of 1 zeros and ones"),
    ],
)
def test_bad_metadata_is_one_line(tmp_path, key, value, message):
    net = models.tower(depth=1, width=2)
    m = to_onnx(net)
    p = m.metadata_props.add()
    p.key, p.value = key, value
    onnx.save(m, str(tmp_path / "b.onnx"))
    with pytest.raises(OnnxError, match=message) as e:
        from_onnx(tmp_path / "b.onnx")
    assert "\n" not in str(e.value)


def test_functional_model_export(tmp_path):
    x = cnnsim.Input((1, 12, 12))
    c1 = L.Conv2D(4, 3, padding="same", activation="relu", name="C1")(x)
    s2 = L.MaxPool2D(2, name="S2")(c1)
    c3 = L.Conv2D(4, 3, padding="same", activation="tanh", name="C3")(s2)
    j = L.Add(name="skip")([s2, c3])
    m = L.DepthConcat(name="cat")([s2, j])
    out = L.Dense(5, activation="softmax", name="out")(L.Flatten(name="flat")(m))
    aux = L.Dense(5, activation="softmax", name="aux")(L.Flatten(name="aux_flat")(s2))
    net = cnnsim.Model(x, [out, aux], name="mynet")  # an extra output, as model.py shows
    xs = np.random.default_rng(0).standard_normal((3, 1, 12, 12)).astype(np.float32)
    m = to_onnx(net, tmp_path / "f.onnx")
    assert [o.name for o in m.graph.output] == ["output", "aux:output"]
    s = ort.InferenceSession(str(tmp_path / "f.onnx"), providers=["CPUExecutionProvider"])
    for ref, y in zip(s.run(None, {"input": xs}), net.forward_all(xs)):
        np.testing.assert_allclose(ref, y, rtol=1e-5, atol=1e-6)
    back = from_onnx(tmp_path / "f.onnx")
    _same_leaves(net, back)
    for got, y in zip(back.forward_all(xs), net.forward_all(xs)):
        np.testing.assert_array_equal(got, y)


# ---- CLI -------------------------------------------------------------------------------


def test_cli_step_and_summary_take_an_onnx_path(tmp_path):
    from click.testing import CliRunner

    from cnnsim.cli.main import cli

    net = models.resnet18(width=0.125, input_shape=(3, 32, 32))
    to_onnx(net, tmp_path / "r.onnx")
    r = CliRunner().invoke(cli, ["summary", str(tmp_path / "r.onnx")])
    assert r.exit_code == 0, r.output
    assert "conv2_1/main/conv_a" in r.output and f"{net.param_count():,}" in r.output
    r = CliRunner().invoke(
        cli, ["summary", str(tmp_path / "r.onnx"), "--dense-twin", "--notation", "lecture"]
    )
    assert r.exit_code == 0, r.output
    assert "All-dense twin" in r.output
    zoo = CliRunner().invoke(cli, ["summary", "resnet18", "--notation", "lecture"])
    assert zoo.exit_code == 0 and "All-dense twin" not in zoo.output
    r = CliRunner().invoke(
        cli,
        ["step", str(tmp_path / "r.onnx"), "--seed", "0", "--neuron", "conv2_1/main/conv_a:0:3:3"],
    )
    assert r.exit_code == 0, r.output
    assert "receptive field in the input image" in r.output
    r = CliRunner().invoke(cli, ["step", str(tmp_path / "r.onnx"), "--variant", "paper"])
    assert r.exit_code == 2 and "is an ONNX file: it takes no --variant" in r.output
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    r = CliRunner().invoke(cli, ["summary", str(tmp_path / "bad.onnx")])
    assert r.exit_code == 2 and "not an ONNX model" in r.output


def test_cli_step_keeps_the_weights_of_an_onnx_file(tmp_path):
    """An exported lenet5-modern is named like the shipped one: its own weights are shown,
    never replaced by the shipped ones."""
    from click.testing import CliRunner

    from cnnsim.cli.main import cli

    to_onnx(models.lenet5(variant="modern", seed=3), tmp_path / "l.onnx")
    r = CliRunner().invoke(cli, ["step", str(tmp_path / "l.onnx"), "--seed", "0"])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())  # the header wraps
    assert f"weights from {tmp_path / 'l.onnx'}" in text and "shipped" not in text
    r = CliRunner().invoke(
        cli, ["step", str(tmp_path / "l.onnx"), "--html", str(tmp_path / "l.html"), "--seed", "0"]
    )
    assert r.exit_code == 0, r.output
    assert (tmp_path / "l.html").stat().st_size > 0
    r = CliRunner().invoke(cli, ["step", str(tmp_path / "l.onnx"), "--untrained"])
    assert r.exit_code == 2 and "is an ONNX file: it takes no --untrained" in r.output


def test_cli_train_takes_an_onnx_file_and_writes_it_back_trained(tmp_path):
    from click.testing import CliRunner

    from cnnsim.cli.main import cli
    from cnnsim.train.checkpoint import load_checkpoint

    src, out = tmp_path / "t.onnx", tmp_path / "out"
    to_onnx(models.tower(depth=2, width=2, activation="relu", seed=1), src)
    args = ["--data", "synthetic", "--limit", "32", "--test-limit", "16", "--epochs", "1"]
    r = CliRunner().invoke(
        cli, ["train", str(src), *args, "--batch-size", "16", "--out", str(out), "--quiet"]
    )
    assert r.exit_code == 0, r.output
    assert (out / "checkpoint.npz").is_file() and "model.onnx" in r.output
    before, trained = from_onnx(src), from_onnx(out / "model.onnx")
    x = np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(np.float32)
    assert not np.allclose(before(x), trained(x))  # it learned from the file's weights
    load_checkpoint(out / "checkpoint.npz", before)  # the checkpoint is that network
    np.testing.assert_array_equal(before(x), trained(x))
    np.testing.assert_allclose(_ort(out / "model.onnx", x), trained(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "args,message",
    [
        (["train", "{d}/t.onnx", "--variant", "paper"], "is an ONNX file: it takes no --variant"),
        (["train", "{d}/t.onnx", "--activation", "relu"], "it takes no --activation"),
        (["train", "{d}/bad.onnx"], "not an ONNX model"),
        (["train", "{d}/missing.onnx"], "no such file"),
        (
            [
                "train",
                "{d}/five.onnx",
                "--data",
                "synthetic",
                "--limit",
                "16",
                "--test-limit",
                "16",
            ],
            "at least 10 class scores",
        ),
        (["sweep", "train", "{d}/t.onnx"], "a sweep builds zoo models by name"),
    ],
)
def test_cli_onnx_errors_are_one_line(tmp_path, args, message):
    from click.testing import CliRunner

    from cnnsim.cli.main import cli

    to_onnx(models.tower(depth=1, width=2), tmp_path / "t.onnx")
    to_onnx(models.tower(depth=1, width=2, num_classes=5), tmp_path / "five.onnx")
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    args = [a.format(d=tmp_path) for a in args] + ["--out", str(tmp_path / "o")][
        : 2 * (args[0] == "train")
    ]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 2, r.output
    last = r.output.strip().splitlines()[-1]
    assert last.startswith("Error:") and message in last, r.output


# ---- count_include_pad, LeakyReLU (layers the importer needs) ---------------------------


def test_avg_pool_count_include_pad_matches_torch_and_finite_differences():
    torch = pytest.importorskip("torch", reason="torch is the reference")
    from cnnsim import functional as F

    x = np.random.default_rng(3).standard_normal((2, 3, 7, 6))
    y = F.avg_pool2d(x, 3, 2, 1, count_include_pad=True)
    ref = torch.nn.functional.avg_pool2d(torch.from_numpy(x), 3, 2, 1, count_include_pad=True)
    np.testing.assert_allclose(y, ref.numpy(), rtol=1e-12, atol=1e-12)
    dy = np.random.default_rng(4).standard_normal(y.shape)
    dx = F.avg_pool2d_backward(dy, x, 3, 2, 1, count_include_pad=True)
    eps, num = 1e-6, np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        num[idx] = (
            (
                F.avg_pool2d(xp, 3, 2, 1, count_include_pad=True)
                - F.avg_pool2d(xm, 3, 2, 1, count_include_pad=True)
            )
            * dy
        ).sum() / (2 * eps)
    np.testing.assert_allclose(dx, num, rtol=1e-6, atol=1e-8)


def test_leaky_relu_forward_backward():
    from cnnsim import functional as F

    x = np.array([[-2.0, -0.0, 0.0, 0.5, 3.0]])
    np.testing.assert_array_equal(F.leaky_relu(x, 0.1), np.where(x > 0, x, 0.1 * x))
    dy = np.ones_like(x)
    np.testing.assert_array_equal(F.leaky_relu_backward(dy, x, 0.1), np.where(x > 0, 1, 0.1))


# ---- a model from another framework -----------------------------------------------------


@pytest.mark.parametrize("name", ["resnet18", "googlenet", "alexnet"])
def test_torchvision_models_exported_by_pytorch_import(tmp_path, name):
    torch = pytest.importorskip("torch", reason="PyTorch exports the reference model")
    tvm = pytest.importorskip("torchvision.models", reason="torchvision builds it")
    torch.manual_seed(0)
    kw = dict(aux_logits=False, init_weights=True) if name == "googlenet" else {}
    m = getattr(tvm, name)(num_classes=10, **kw).eval()
    shape = (2, 3, 224, 224) if name == "alexnet" else (2, 3, 64, 64)
    x = torch.randn(*shape)
    path = tmp_path / f"{name}.onnx"
    try:
        torch.onnx.export(
            m,
            x,
            str(path),
            dynamo=False,
            input_names=["x"],
            output_names=["y"],
            dynamic_axes={"x": {0: "N"}},
        )
    except Exception as e:  # noqa: BLE001 - an exporter problem is not ours
        pytest.skip(f"torch.onnx.export failed here: {type(e).__name__}")
    net = from_onnx(path)
    with torch.no_grad():
        ref = m(x).numpy()
    np.testing.assert_allclose(net(x.numpy()), ref, rtol=1e-4, atol=1e-5 * np.abs(ref).max())
    names = [l.path for l in net.leaves()]
    assert names[0].startswith(("conv1", "features")), names[:3]  # PyTorch's module names
