"""The network as one graph: zoo graphs' edges, traces' sources from edges, the functional
API (a DAG with a long skip, a concat of earlier tensors, two outputs), bad wiring."""

import numpy as np
import pytest
from engine_nets import small_googlenet_resnet

import cnnsim
from cnnsim import layers as L
from cnnsim import models
from cnnsim.engine import Stepper, connections, receptive_field, record
from cnnsim.graph import INPUT
from cnnsim.models.summary import format_table, summarize
from cnnsim.testing.gradcheck import numeric_grad, probe_for
from cnnsim.train.checkpoint import load_checkpoint, save_checkpoint
from cnnsim.train.losses import network_loss
from cnnsim.train.optimizers import SGD


def _producer(graph, name, k=0):
    """Name of the layer making input ``k`` of node ``name`` ('input' for the net input)."""
    node = next(n for n in graph.nodes if n.name == name)
    p = graph.edges[node.inputs[k]].producer
    return "input" if p == INPUT else graph.nodes[p].name


def _sources(graph, name):
    node = next(n for n in graph.nodes if n.name == name)
    return [_producer(graph, name, k) for k in range(len(node.inputs))]


# ---- zoo graphs ------------------------------------------------------------------------
def test_lenet5_graph_is_a_chain():
    net = models.build("lenet5")
    g = net.graph
    names = [n.name for n in g.nodes]
    assert names == [l.path for l in net.leaves()]
    assert _sources(g, names[0]) == ["input"]
    for a, b in zip(names, names[1:]):
        assert _sources(g, b) == [a]
    assert g.edges[g.outputs[0]].producer == len(names) - 1


def test_alexnet_graph_is_a_chain():
    net = models.build("alexnet", variant="paper")
    names = [n.name for n in net.graph.nodes]
    for a, b in zip(names, names[1:]):
        assert _sources(net.graph, b) == [a]


def test_googlenet_graph_edges_branches_concat_and_aux_heads():
    net = models.googlenet(width=1 / 32, input_shape=(3, 32, 32), num_classes=5)
    g = net.graph
    assert _sources(g, "conv1") == ["input"]
    for b in (
        "inception_3a/1x1",
        "inception_3a/3x3/3x3_reduce",
        "inception_3a/5x5/5x5_reduce",
        "inception_3a/pool/pool",
    ):
        assert _sources(g, b) == ["pool2"]
    assert _sources(g, "inception_3a/3x3/3x3") == ["inception_3a/3x3/3x3_reduce"]
    assert _sources(g, "inception_3a/concat") == [
        "inception_3a/1x1",
        "inception_3a/3x3/3x3",
        "inception_3a/5x5/5x5",
        "inception_3a/pool/pool_proj",
    ]
    assert _sources(g, "inception_3b/1x1") == ["inception_3a/concat"]
    # the auxiliary heads are ordinary extra outputs reading their taps
    assert _sources(g, "aux1/pool") == ["inception_4a/concat"]
    assert _sources(g, "aux2/pool") == ["inception_4d/concat"]
    outs = [g.nodes[g.edges[e].producer].name for e in g.outputs]
    assert outs == ["fc", "aux1/fc2", "aux2/fc2"]
    # inference runs the main output's nodes only; the heads come last
    main = [g.nodes[k].name for k in g.order([0])]
    assert main == [l.path for l in net.leaves()] and not any(n.startswith("aux") for n in main)
    assert [n.name for n in g.nodes][len(main) :][:1] == ["aux1/pool"]


def test_resnet_graph_edges_add_reads_main_and_shortcut():
    net = models.build("resnet18", width=1 / 16, input_shape=(3, 32, 32))
    g = net.graph
    adds = [n for n in g.nodes if n.layer.kind == "Add"]
    assert len(adds) == 8
    for n in adds:
        unit = n.name.rsplit("/", 1)[0]
        main, short = _sources(g, n.name)
        assert main.startswith(unit + "/main/")
        node_in = next(m for m in g.nodes if m.name.startswith(unit + "/main/"))
        unit_input = _producer(g, node_in.name)
        # identity shortcut: the unit's input itself; projection: its own conv/bn
        assert short == unit_input or short.startswith(unit + "/shortcut/")


# ---- traces read sources from the graph -----------------------------------------------
def _identity_net():
    """Dropout (the identity at inference returns its input object) and identity
    shortcuts: data flow by identity of arrays would be ambiguous here."""
    return L.Sequential(
        [
            L.Conv2D(3, 3, padding="same", activation="relu", name="c1"),
            L.Dropout(0.5, name="drop1"),
            L.ResidualUnit(
                [L.Dropout(0.5, name="d"), L.Conv2D(3, 3, padding="same", name="c")],
                activation="relu",
                name="res1",
            ),
            L.ResidualUnit([L.Dropout(0.3, name="d")], activation=None, name="res2"),
            L.Flatten(name="flat"),
            L.Dropout(0.2, name="drop2"),
            L.Dense(4, name="out"),
        ],
        input_shape=(2, 6, 6),
        seed=1,
        name="identities",
    )


def test_dropout_and_identity_shortcuts_sources_in_inference():
    net = _identity_net()
    x = np.random.default_rng(0).normal(size=(2, 2, 6, 6)).astype(np.float32)
    tr = record(net, x)
    src = {
        s.name: [tr.steps[k].name if k != INPUT else "input" for k in s.sources] for s in tr.steps
    }
    assert src == {
        "c1": ["input"],
        "drop1": ["c1"],
        "res1/main/d": ["drop1"],
        "res1/main/c": ["res1/main/d"],
        "res1/add": ["res1/main/c", "drop1"],
        "res2/main/d": ["res1/add"],
        "res2/add": ["res2/main/d", "res1/add"],
        "flat": ["res2/add"],
        "drop2": ["flat"],
        "out": ["drop2"],
    }
    assert tr["res2/main/d"].y is tr["res1/add"].y  # the same object, still told apart
    st = Stepper(net, x)
    st.finish()
    assert [s.sources for s in st.trace.steps] == [s.sources for s in tr.steps]


# ---- the functional API -----------------------------------------------------------------
def functional_dag():
    """A long skip (c1 -> the add after c4), a concat of two earlier tensors (s2 and the
    add), and two outputs (logits, an auxiliary head on s2)."""
    x = cnnsim.Input((2, 10, 10))
    c1 = L.Conv2D(3, 3, padding="same", activation="tanh", name="c1")(x)
    s2 = L.MaxPool2D(2, name="s2")(c1)
    c3 = L.Conv2D(3, 3, padding="same", activation="tanh", name="c3")(s2)
    c4 = L.Conv2D(3, 1, name="c4")(L.Subsampling(1, activation="tanh", name="sub")(c3))
    up = L.Conv2D(3, 1, name="proj")(c1)  # the long skip's other end
    pooled = L.AvgPool2D(2, name="p")(up)
    j = L.Add(activation="tanh", name="skip")([c4, pooled])
    m = L.DepthConcat(name="cat")([s2, j])
    h = L.Flatten(name="flat")(m)
    logits = L.Dense(4, activation="softmax", name="out")(h)
    aux = L.Dense(4, activation="softmax", name="aux")(L.Flatten(name="aux_flat")(s2))
    return cnnsim.Model(x, [logits, aux], name="dag", seed=3)


def test_functional_dag_graph_and_outputs():
    net = functional_dag()
    assert [l.path for l in net.leaves()] == [
        "c1",
        "s2",
        "c3",
        "sub",
        "c4",
        "proj",
        "p",
        "skip",
        "cat",
        "flat",
        "out",
    ]
    assert [l.path for l in net.all_leaves()][-2:] == ["aux_flat", "aux"]
    assert _sources(net.graph, "cat") == ["s2", "skip"]
    assert _sources(net.graph, "proj") == ["c1"]
    assert list(net.aux_heads) == ["aux"]
    x = np.random.default_rng(1).normal(size=(3, 2, 10, 10)).astype(np.float32)
    y, a = net.forward_all(x)
    np.testing.assert_array_equal(net(x), y)
    assert a.shape == (3, 4)
    assert net.param_count() == sum(l.param_count() for l in net.leaves())
    assert net.aux_param_count() == 3 * 5 * 5 * 4 + 4


def test_functional_dag_gradcheck_float64():
    net = functional_dag().astype(np.float64)
    x = np.random.default_rng(2).normal(size=(1, 2, 10, 10))
    p0, p1 = probe_for((1, 4), 0), probe_for((1, 4), 1)

    def loss(xx):
        y, a = net.forward_all(xx)
        return np.sum(p0 * y) + np.sum(p1 * a)

    net.forward_all(x)
    dx = net.backward_all([p0, p1])
    w = net.find("c1").params["w"]
    dw = net.find("c1").grads["w"].copy()
    np.testing.assert_allclose(dx, numeric_grad(loss, [x], 0), rtol=1e-6, atol=1e-9)
    w0 = w.copy()

    def loss_w(ww):
        w[...] = ww
        try:
            return loss(x)
        finally:
            w[...] = w0

    np.testing.assert_allclose(dw, numeric_grad(loss_w, [w0], 0), rtol=1e-6, atol=1e-9)


def test_functional_dag_trace_step_summary():
    net = functional_dag()
    x = np.random.default_rng(3).normal(size=(2, 2, 10, 10)).astype(np.float32)
    tr = record(net, x)
    assert tr.names() == [l.path for l in net.leaves()]
    assert [tr.steps[k].name for k in tr["cat"].sources] == ["s2", "skip"]
    assert [tr.steps[k].name for k in tr["proj"].sources] == ["c1"]
    full = record(net, x, all_outputs=True)
    assert full.names()[-2:] == ["aux_flat", "aux"] and len(full.output) == 2
    st = Stepper(net, x)
    assert st.run_to("skip").name == "skip"
    st.finish()
    np.testing.assert_array_equal(st.output, tr.output)
    for step in tr.steps:  # every neuron kind explains itself
        shp = step.output_shape
        c = connections(
            tr, step.name, shp[0] - 1, *((shp[1] // 2, shp[2] // 2) if len(shp) == 3 else (0, 0))
        )
        assert c.ok, step.name
    rf = receptive_field(tr, "cat", 0, 1, 1)  # map 0 comes from s2 alone: 2x2 pool of c1
    assert rf.size == (4, 4)
    assert receptive_field(tr, "cat", 3, 1, 1).size == (8, 8)  # the add's union: c3 path
    data = summarize(net)
    names = [r["name"] for r in data["layers"]]
    assert names[-1] == "aux" and "cat" in names
    assert "cat" in format_table(data)
    assert {r["name"]: r["rf"]["size"] for r in data["layers"] if r["rf"]}["cat"] == {
        "min": [4, 4],
        "max": [8, 8],
    }


def test_functional_dag_trains_and_checkpoints(tmp_path):
    net = functional_dag()
    rng = np.random.default_rng(4)
    x = rng.normal(size=(4, 2, 10, 10)).astype(np.float32)
    labels = np.array([0, 1, 2, 3])
    opt = SGD(lr=0.1)
    loss0, _ = network_loss(net, x, labels, training=True, aux_weight=0.3)
    assert np.abs(net.find("aux").grads["w"]).max() > 0  # the extra output learns
    assert not net.find("out").emit_logits and not net.find("aux").emit_logits
    opt.step(net)
    loss1, _ = network_loss(net, x, labels, training=True, aux_weight=0.3)
    assert loss1 < loss0
    save_checkpoint(tmp_path / "c.npz", net, opt)
    other = functional_dag()
    load_checkpoint(tmp_path / "c.npz", other)
    for (l, k, v), (_, _, w) in zip(net.parameters(), other.parameters()):
        np.testing.assert_array_equal(v, w, err_msg=f"{l.path}.{k}")
    np.testing.assert_array_equal(net(x), other(x))


def test_functional_model_equals_the_sequential():
    seq = L.Sequential(
        [L.Conv2D(2, 3, activation="relu", name="c"), L.Flatten(name="f"), L.Dense(3, name="d")],
        input_shape=(1, 5, 5),
        seed=7,
    )
    x = cnnsim.Input((1, 5, 5))
    h = L.Conv2D(2, 3, activation="relu", name="c")(x)
    fn = cnnsim.Model(x, L.Dense(3, name="d")(L.Flatten(name="f")(h)), seed=7)
    for (_, _, a), (_, _, b) in zip(seq.parameters(), fn.parameters()):
        np.testing.assert_array_equal(a, b)


# ---- bad wiring ------------------------------------------------------------------------
def _one_line(excinfo, *words):
    msg = str(excinfo.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, msg


def test_model_errors_name_the_layers():
    x = cnnsim.Input((1, 6, 6))
    a = L.Conv2D(1, 3, padding="same", name="A")
    b = L.Conv2D(1, 3, padding="same", name="B")
    h = b(a(x))
    with pytest.raises(ValueError) as e:  # a cycle: A's output feeds A again
        cnnsim.Model(x, a(h))
    _one_line(e, "cycle", "'A'")
    x2 = cnnsim.Input((1, 6, 6), name="other")
    c = L.Conv2D(1, 3, padding="same", name="C")
    j = L.Add(name="join")([L.Conv2D(1, 3, padding="same", name="D")(x), c(x2)])
    with pytest.raises(ValueError) as e:
        cnnsim.Model(x, j)
    _one_line(e, "another graph", "'C'")
    with pytest.raises(ValueError) as e:
        cnnsim.Model(x, [L.Conv2D(1, 1, name="E")(x), L.Conv2D(1, 1, name="F")(x2)])
    _one_line(e, "does not depend on the input", "'F'")
    with pytest.raises(ValueError) as e:
        cnnsim.Model(x, [L.Conv2D(1, 1, name="dup")(x), L.Conv2D(1, 1, name="dup")(x)])
    _one_line(e, "two layers named 'dup'")
    with pytest.raises(ValueError) as e:  # built for 6x6, called on 3x3
        a(L.MaxPool2D(2, name="P")(x))
    _one_line(e, "'A'", "(1, 6, 6)", "(1, 3, 3)")
    with pytest.raises(ValueError) as e:
        cnnsim.Model(x, x)
    _one_line(e, "does not depend")
    g = L.Conv2D(1, 1, name="G")
    with pytest.raises(ValueError) as e:  # used twice, no cycle: shared weights
        cnnsim.Model(x, L.Add(name="sum")([g(x), g(x)]))
    _one_line(e, "'G'", "twice")


def test_failed_model_leaves_layers_usable():
    x = cnnsim.Input((1, 6, 6))
    c = L.Conv2D(1, 3, name="c")
    h = c(x)
    with pytest.raises(ValueError):
        cnnsim.Model(x, [h, L.Conv2D(1, 1, name="c")(h)])
    assert c.path == "c"
    net = cnnsim.Model(x, h, name="ok")
    assert net(np.zeros((1, 1, 6, 6), np.float32)).shape == (1, 1, 4, 4)


def test_small_googlenet_resnet_trace_sources_match_graph():
    net = small_googlenet_resnet()
    x = np.random.default_rng(0).normal(size=(1, 3, 12, 12)).astype(np.float32)
    tr = record(net, x)
    for s in tr.steps:
        want = _sources(net.graph, s.name)
        got = ["input" if k == INPUT else tr.steps[k].name for k in s.sources]
        assert got == want, s.name


def test_a_model_is_a_block_inside_a_container():
    x = cnnsim.Input((1, 8, 8))
    c = L.Conv2D(2, 3, padding="same", name="c")(x)
    block = cnnsim.Model(x, L.Add(name="skip")([c, L.Conv2D(2, 1, name="p")(x)]), name="block")
    net = L.Sequential(
        [block, L.Flatten(name="flat"), L.Dense(3, name="d")],
        input_shape=(1, 8, 8),
        seed=1,
        name="outer",
    )
    assert [n.name for n in net.graph.nodes] == ["block/c", "block/p", "block/skip", "flat", "d"]
    xx = np.random.default_rng(0).normal(size=(2, 1, 8, 8)).astype(np.float32)
    y = net(xx)
    np.testing.assert_array_equal(y, net.find("d")(net.find("flat")(block(xx))))
    tr = record(net, xx)
    assert [tr.steps[k].name for k in tr["block/skip"].sources] == ["block/c", "block/p"]
    z = cnnsim.Input((1, 8, 8))
    outer = cnnsim.Model(z, L.Dense(3, name="d2")(L.Flatten(name="f2")(block(z))), seed=None)
    assert [n.name for n in outer.graph.nodes] == ["block/c", "block/p", "block/skip", "f2", "d2"]
    np.testing.assert_array_equal(outer(xx), outer.find("d2")(outer.find("f2")(block(xx))))


# ------------------------------------------------------- a training step's input gradient
class _Count:
    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, *a):
        self.calls += 1
        return self.fn(*a)


def _grads(net):
    return {(l.path, k): v.copy() for l in net.leaves() for k, v in l.grads.items()}


@pytest.mark.parametrize("name", ["lenet5", "functional"])
def test_training_backward_skips_the_input_gradient_and_nothing_else(name, monkeypatch):
    """``backprop(dy, input_grad=False)`` (what a training step runs) leaves out dx of the
    layers that read the images (LeNet-5's C1; both branches of a two-branch Model) and
    fills every parameter gradient with the same bits as the full backward pass."""
    from cnnsim.kernels import conv as K

    if name == "lenet5":
        net = models.lenet5(variant="modern")
        first = 1  # C1 reads the images
    else:  # two convolutions read the input; their sum feeds a dense head
        x_in = cnnsim.Input((2, 6, 6))
        a = L.Conv2D(3, 3, padding="same", name="A")(x_in)
        b = L.Conv2D(3, 1, name="B")(x_in)
        s = L.Add(name="sum")([a, b])
        net = cnnsim.Model(x_in, L.Dense(4, name="out")(L.Flatten(name="flat")(s)))
        net.build((2, 6, 6))
        first = 2
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, *net.input_shape)).astype(np.float32)
    dy = rng.standard_normal((3, *net.output_shape)).astype(np.float32)
    spy = _Count(K.conv2d_backward_input)
    monkeypatch.setattr(K, "conv2d_backward_input", spy)
    net(x, True)
    dx = net.backprop(dy)
    full, n_full = _grads(net), spy.calls
    assert dx.shape == x.shape
    net(x, True)
    assert net.backprop(dy, input_grad=False) is None
    assert spy.calls - n_full == n_full - first  # only the input's layers skipped dx
    part = _grads(net)
    assert part.keys() == full.keys()
    for k in full:
        np.testing.assert_array_equal(part[k], full[k], err_msg=str(k))


def test_a_trace_recording_gradients_still_gets_every_input_gradient():
    """While an observer listens (a trace), ``input_grad=False`` is ignored: every layer's
    ``dx`` is computed and reported, the first layer's included."""
    from cnnsim.layers.base import observe

    net = models.lenet5(variant="modern")
    x = np.random.default_rng(1).standard_normal((2, *net.input_shape)).astype(np.float32)
    seen = {}

    class Obs:
        def on_forward(self, layer, x, y, seconds):
            pass

        def on_backward(self, layer, dy, dx):
            seen[layer.name] = dx

    net(x, True)
    with observe(Obs()):
        dx = net.backprop(np.ones((2, 10), np.float32), input_grad=False)
    assert dx is not None and dx.shape == x.shape
    np.testing.assert_array_equal(seen["C1"], dx)
