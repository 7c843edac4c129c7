"""A convolution, its activation and 2x2 average pooling run as one pass (LeNet-5's C1 -> S2,
``cnnsim.layers.fusion``): the same bits as the layers one by one, forward and backward,
on LeNet-5 and on layers that stretch the layout (odd sizes, padding, batches that are no
multiple of a vector, connection tables, no bias, float64); used only where it applies;
a trace records the same steps and arrays; inf/NaN fall back; the bias gradient's order."""

import contextlib

import numpy as np
import pytest

import cnnsim
from cnnsim import config, models
from cnnsim import functional as F
from cnnsim import layers as L
from cnnsim.display import step_cells
from cnnsim.engine import record
from cnnsim.graph import graph_of
from cnnsim.kernels.conv.direct import bias_grad
from cnnsim.layers import observe
from cnnsim.train import SGD, network_loss


class _Listener:
    """An observer that records which layers it heard (forces the layers one by one)."""

    def __init__(self):
        self.forward, self.backward = [], []

    def on_forward(self, layer, x, y, seconds):
        self.forward.append(layer.name)

    def on_backward(self, layer, dy, dx):
        self.backward.append(layer.name)


@pytest.fixture
def spy(monkeypatch):
    """Counts of the fused functional calls that returned a result (not None)."""
    calls = {"forward": 0, "backward": 0}
    fwd, bwd = F.conv2d_avgpool, F.conv2d_avgpool_backward

    def counted(name, fn):
        def call(*a, **k):
            r = fn(*a, **k)
            calls[name] += r is not None
            return r

        return call

    monkeypatch.setattr(F, "conv2d_avgpool", counted("forward", fwd))
    monkeypatch.setattr(F, "conv2d_avgpool_backward", counted("backward", bwd))
    return calls


def _lenet5_pairs_fused(dtype=np.float32):
    """How many of LeNet-5's two conv -> pool pairs run fused at batch 64: C1 -> S2 always;
    C3 -> S4 only where C3 (16 maps, 10 x 10 outputs) is off the register tile, which
    takes 16 maps where they fill its blocks (float32 on AVX2, float64 on either ISA) but
    not a third of an AVX-512 block of 48 or half of one of 32 (float32)."""
    from cnnsim.kernels.conv import regtile

    return 1 + (not regtile.applies(16, 10 * 64, np.dtype(dtype).itemsize, 1, 1, 5, 5))


def _cast(net, dtype):
    for layer in net.leaves():
        for k in layer.params:
            layer.params[k] = layer.params[k].astype(dtype)
        layer._alloc_grads()
    return net


@contextlib.contextmanager
def _fusing(on):
    """``config.fuse_layers`` set to ``on`` within the block."""
    before = config.fuse_layers
    config.fuse_layers = on
    try:
        yield
    finally:
        config.fuse_layers = before


def _train(net, x, y, steps, fused):
    """Losses, every gradient and the final weights of ``steps`` SGD steps, with the pairs
    fused or one layer at a time (``config.fuse_layers``)."""
    opt, out = SGD(0.05, 0.9), []
    for _ in range(steps):
        with _fusing(fused):
            loss = network_loss(net, x, y)
        out += [np.asarray(v) for v in (loss if isinstance(loss, tuple) else (loss,))]
        out += [layer.grads[k].copy() for layer in net.leaves() for k in sorted(layer.grads)]
        opt.step(net)
    out += [layer.params[k].copy() for layer in net.leaves() for k in sorted(layer.params)]
    return out


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "linear"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lenet5_trains_to_the_same_bits_fused_or_layer_by_layer(activation, dtype, spy):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 1, 32, 32)).astype(dtype)
    y = rng.integers(0, 10, 64)
    runs = []
    for fused in (True, False):
        net = _cast(models.lenet5(variant="modern", activation=activation), dtype)
        runs.append(_train(net, x, y, 3, fused))
    fused = 3 * _lenet5_pairs_fused(dtype)  # 3 steps, fused runs only
    assert spy["forward"] == fused and spy["backward"] == fused
    assert len(graph_of(net).fused_pairs()) == 2
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def _odd_net(padding, table, use_bias):
    """Two conv + pool pairs on odd sizes: the second conv reads 3 maps, some through a
    connection table; its pooled output drops an odd row or column."""
    t = None
    if table:
        t = np.ones((5, 3), dtype=bool)
        t[0, 1] = t[2, 0] = t[4, 2] = False
    return L.Sequential(
        [
            L.Conv2D(3, 3, padding=padding, activation="tanh", name="c1"),
            L.AvgPool2D(2, name="p1"),
            L.Conv2D(5, 3, padding=padding, activation="sigmoid", use_bias=use_bias, name="c2"),
            L.AvgPool2D(2, name="p2"),
            L.Flatten(name="flat"),
            L.Dense(4, activation="softmax", name="out"),
        ],
        name="odd",
    )


@pytest.mark.parametrize(
    "n, h, w, padding, table, use_bias",
    [
        (37, 15, 13, "valid", False, True),  # batch no multiple of 4, 8 or 16; odd maps
        (20, 12, 17, "same", True, False),  # padding, a connection table, no bias
        (64, 11, 11, "valid", True, True),
    ],
)
def test_odd_shapes_padding_tables_and_no_bias_give_the_same_bits(
    n, h, w, padding, table, use_bias, spy
):
    rng = np.random.default_rng(n)
    x = rng.standard_normal((n, 2, h, w)).astype(np.float32)
    y = rng.integers(0, 4, n)
    runs = []
    for fused in (True, False):
        net = _odd_net(padding, table, use_bias)
        net.build((2, h, w), rng=7)
        runs.append(_train(net, x, y, 2, fused))
    assert spy["forward"] > 0 and spy["backward"] > 0  # at least one pair ran fused
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def _trace_both_ways(net_for, x):
    """A trace of a training step's forward and backward, fused and layer by layer."""
    traces = []
    for fused in (True, False):
        net = net_for()
        with _fusing(fused):
            tr = record(net, x, training=True)
            logits = tr.output
            dy = np.ones_like(logits) / logits.size
            tr.record_backward(net, dy)
        traces.append(tr)
    return traces


def test_a_trace_records_the_same_steps_and_arrays_fused_or_not(spy):
    """Fused, the pair announces both layers with the arrays the layers one by one give:
    the same steps, outputs, inputs, statistics, gradients (the pooling's dx computed for
    the trace); only the time moves: the convolution's step carries the pair's."""
    x = np.random.default_rng(0).standard_normal((64, 1, 32, 32)).astype(np.float32)
    fused, plain = _trace_both_ways(lambda: models.lenet5(variant="modern"), x)
    pairs = _lenet5_pairs_fused()
    assert spy["forward"] == pairs and spy["backward"] == pairs  # the fused run used it
    assert [s.name for s in fused.steps] == [s.name for s in plain.steps]
    for a, b in zip(fused.steps, plain.steps):
        assert a.sources == b.sources and a.stats == b.stats and a.grad_stats == b.grad_stats
        for name in ("x", "y", "grad_y", "grad_x"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=a.name)
        for k in a.grad_params or {}:
            np.testing.assert_array_equal(a.grad_params[k], b.grad_params[k])
    s2 = fused.steps[1]
    assert s2.name == "S2" and s2.seconds == 0.0 and s2.facts["timed_with"] == "C1"
    assert step_cells(s2)["ms"] == "in C1"  # the table says where its time went
    assert "timed_with" not in plain.steps[1].facts and "timed_with" not in fused.steps[0].facts


def test_a_listener_attached_after_a_fused_forward_hears_both_backward_steps(spy):
    net = models.lenet5(variant="modern")
    g = graph_of(net)
    x = np.random.default_rng(0).standard_normal((64, 1, 32, 32)).astype(np.float32)
    values = g.forward(x, training=True)
    pairs = _lenet5_pairs_fused()
    assert spy["forward"] == pairs
    heard = _Listener()
    with observe(heard):
        dx = g.backward({g.outputs[0]: np.ones_like(values[g.outputs[0]])}, input_grad=False)
    assert spy["backward"] == pairs
    assert heard.backward == [layer.name for layer in net.leaves()][::-1]
    assert dx is not None  # a listener gets every dx, as from the layers one by one


def test_fusion_can_be_switched_off(spy):
    net = models.lenet5(variant="modern")
    x = np.zeros((64, 1, 32, 32), dtype=np.float32)
    with _fusing(False):
        network_loss(net, x, np.arange(64) % 10)
    assert spy == {"forward": 0, "backward": 0}
    network_loss(net, x, np.arange(64) % 10)
    pairs = _lenet5_pairs_fused()
    assert spy == {"forward": pairs, "backward": pairs}


def test_small_batches_run_the_layers_one_by_one(spy):
    """Batch 1 (``cnnsim step``): the batch-lane layout does not apply; nothing fuses."""
    net = models.lenet5(variant="modern")
    x = np.zeros((1, 1, 32, 32), dtype=np.float32)
    network_loss(net, x, np.array([3]))
    assert spy == {"forward": 0, "backward": 0}


def test_pairs_are_only_a_conv_and_its_sole_reader_a_2x2_average_pool():
    def pairs(layers):
        net = L.Sequential(layers, name="n")
        net.build((1, 13, 13))  # the conv's output is 11 x 11: "same" pooling pads it
        g = graph_of(net)
        return [(g.nodes[k].name, g.nodes[k + 1].name) for k in g.fused_pairs()]

    conv = lambda **k: L.Conv2D(2, 3, name="c", **k)  # noqa: E731
    assert pairs([conv(activation="tanh"), L.AvgPool2D(2, name="p")]) == [("c", "p")]
    assert pairs([conv(activation="relu"), L.AvgPool2D(2, name="p")]) == []  # needs z
    assert pairs([conv(stride=2), L.AvgPool2D(2, name="p")]) == []
    assert pairs([conv(), L.AvgPool2D(3, name="p")]) == []
    assert pairs([conv(), L.AvgPool2D(2, 1, name="p")]) == []
    assert pairs([conv(), L.AvgPool2D(2, padding="same", name="p")]) == []
    assert pairs([conv(), L.MaxPool2D(2, name="p")]) == []
    # a second reader of the conv's output (a residual join) keeps the pair apart
    x = L.Input((1, 12, 12))
    c = L.Conv2D(1, 3, padding="same", name="c")
    h = c(x)
    p = L.AvgPool2D(2, name="p")(h)
    up = L.Conv2D(1, 1, name="u")(h)
    model = cnnsim.Model(x, [p, up])
    assert graph_of(model).fused_pairs() == {}


@pytest.mark.parametrize("where", ["x", "dp"])
def test_inf_and_nan_fall_back_to_the_layers_one_by_one(where, spy):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((64, 1, 32, 32)).astype(np.float32)
    if where == "x":
        x[3, 0, 7, 9] = np.inf
    results = []
    for fused in (True, False):
        net = models.lenet5(variant="modern")
        g = graph_of(net)
        with _fusing(fused):
            values = g.forward(x, training=True)
            out = values[g.outputs[0]]
            dy = np.ones_like(out)
            if where == "dp":
                dy[0, 0] = np.nan
            dx = g.backward({g.outputs[0]: dy})
        results.append([out, dx] + [layer.grads[k] for layer in net.leaves() for k in layer.grads])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)  # NaN in the same places
    if where == "x":  # C1 -> S2 declines; tanh(inf) = 1, so C3 -> S4 reads finite maps
        assert spy["forward"] == _lenet5_pairs_fused() - 1
    else:  # the NaN reaches both pairs' backward
        assert spy["backward"] == 0


def test_bias_gradient_sums_each_image_then_the_images_in_order(rng):
    """``db[f] = sum_n (sum_{i,j} dy[n, f, i, j])``, float64, in exactly that order (the
    fused kernel and ``direct.bias_grad`` share it): checked against plain Python."""
    for n in (1, 3, 4, 9):
        scale = 10.0 ** rng.integers(-3, 4, (n, 3, 5, 6))  # cancellation makes order show
        dy = (rng.standard_normal((n, 3, 5, 6)) * scale).astype(np.float32)
        want = np.empty(3, dtype=np.float32)
        for f in range(3):
            s = 0.0
            for k in range(n):
                a = 0.0
                for v in dy[k, f].ravel().tolist():
                    a += v
                s += a
            want[f] = s
        np.testing.assert_array_equal(bias_grad(dy), want)


def test_functional_fused_calls_name_what_is_wrong():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 1, 12, 12)).astype(np.float32)
    w = rng.standard_normal((4, 1, 3, 3)).astype(np.float32)
    y, p, saved = F.conv2d_avgpool(x, w, None, activation="tanh")
    np.testing.assert_array_equal(y, F.tanh(F.conv2d(x, w)))
    np.testing.assert_array_equal(p, F.avg_pool2d(y, 2))
    dp = np.ones_like(p)
    with pytest.raises(ValueError, match=r"conv2d_avgpool_backward: saved does not belong"):
        F.conv2d_avgpool_backward(dp, (saved[0], y), x, w, activation="tanh")
    with pytest.raises(
        ValueError, match=r"conv2d_avgpool_backward: expected dp of shape \(32, 4, 5, 5\)"
    ):
        F.conv2d_avgpool_backward(dp[:, :2], saved, x, w, activation="tanh")
    assert F.conv2d_avgpool(x, w, None, activation="relu") is None  # its backward needs z


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_fallback_activation_pass_gives_the_activation_kernels_bits(dtype):
    """Without FMA vectors the convolution's output gets its activation in a pass of its
    own (``pooled.activate``): the same bits as ``tanh_forward`` / ``sigmoid_forward``."""
    from cnnsim.kernels import activations as A
    from cnnsim.kernels.activations import ACT_CODES
    from cnnsim.kernels.conv.pooled import activate

    z = (np.random.default_rng(2).standard_normal((3, 5, 7)) * 4).astype(dtype)
    z[0, 0, :3] = [np.nan, np.inf, -0.0]
    for name in ("tanh", "sigmoid"):
        want = getattr(A, f"{name}_forward")(z)
        np.testing.assert_array_equal(activate(z.copy(), ACT_CODES[name]), want)
    np.testing.assert_array_equal(activate(z.copy(), ACT_CODES["linear"]), z)
