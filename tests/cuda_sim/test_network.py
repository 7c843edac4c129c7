"""Small networks end to end on the "cuda" target, against the same networks on the CPU:
activations stay on the device from layer to layer, parameters' gradients match."""

import numpy as np
import pytest

from cnnsim import config, to_host
from cnnsim import functional as F
from cnnsim import layers as L
from cnnsim.kernels.cuda._util import is_device, to_device


def run(build, x, labels, target, training=False):
    """Forward, fused softmax cross-entropy, backward; everything brought to the host."""
    net = build()  # fresh net, same seed: same weights, same dropout masks
    config.set_target(target)
    seen = []

    class Types:  # records where every leaf's output lives
        def on_forward(self, layer, x_, y, seconds):
            seen.append((layer.path, is_device(y)))

        def on_backward(self, layer, dy, dx):
            seen.append((layer.path + ".grad", is_device(dx)))

    with L.observe(Types()):
        y = net(x, training)
        loss, probs = F.softmax_cross_entropy(y, labels)
        dx = net.backprop(F.softmax_cross_entropy_backward(probs, labels))
    grads = {f"{l.path}.{k}": to_host(v) for l in net.leaves() for k, v in l.grads.items()}
    return to_host(y), loss, to_host(dx), grads, seen


def compare(build, x, labels, training=False):
    yc, lc, dxc, gc, seen_c = run(build, x, labels, "cpu", training)
    yg, lg, dxg, gg, seen_g = run(build, x, labels, "cuda", training)
    assert not any(dev for _, dev in seen_c)
    on_host = [name for name, dev in seen_g if not dev]
    assert not on_host, f"left the device on the cuda target: {on_host}"
    np.testing.assert_allclose(yg, yc, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(lg, lc, rtol=1e-5)
    np.testing.assert_allclose(dxg, dxc, rtol=1e-4, atol=1e-5)
    assert gg.keys() == gc.keys() and gg
    for k in gc:
        np.testing.assert_allclose(gg[k], gc[k], rtol=1e-4, atol=1e-5, err_msg=k)


def test_conv_relu_maxpool_flatten_dense_softmax(rng):
    def build():
        return L.Sequential(
            [L.Conv2D(2, 3, activation="relu"), L.MaxPool2D(2), L.Flatten(), L.Dense(3)],
            input_shape=(1, 6, 6),
            seed=0,
        )

    x = rng.standard_normal((2, 1, 6, 6)).astype(np.float32)
    compare(build, x, np.array([0, 2]))


def test_lrn_avgpool_batchnorm_dropout_gap_training(rng):
    def build():
        return L.Sequential(
            [
                L.Conv2D(3, 2, padding="same", stride=2, activation="tanh"),
                L.LRN(r=3, alpha=0.1),
                L.BatchNorm(),
                L.AvgPool2D(2, stride=1),
                L.Dropout(0.5),
                L.GlobalAvgPool(),
                L.Dense(2, activation="sigmoid"),
            ],
            input_shape=(2, 5, 5),
            seed=3,
        )

    x = rng.standard_normal((2, 2, 5, 5)).astype(np.float32)
    compare(build, x, np.array([1, 0]), training=True)


def test_device_arrays_through_the_functional_api(rng):
    a = rng.standard_normal((1, 2, 2, 2)).astype(np.float32)
    b = rng.standard_normal((1, 1, 2, 2)).astype(np.float32)
    da, db = to_device(a), to_device(b)
    y = F.depth_concat([da, db])
    assert is_device(y)
    np.testing.assert_array_equal(to_host(y), np.concatenate([a, b], axis=1))
    g1, g2 = F.add_backward(da)
    assert is_device(g1) and is_device(g2) and g1 is not g2
    np.testing.assert_array_equal(to_host(g1), a)
    f = F.flatten(y)
    assert is_device(f) and f.shape == (1, 12)
    # validation reads the device array's attributes: one-line errors, no host copy
    with pytest.raises(ValueError, match="conv2d: expected x of rank 4"):
        F.conv2d(to_device(np.zeros((2, 3), np.float32)), np.zeros((1, 1, 1, 1), np.float32))
    with pytest.raises(TypeError, match="relu: x must be float32 or float64"):
        F.relu(to_device(np.zeros(3, np.int32)))


def test_batch_norm_running_statistics_stay_on_host(rng):
    x = rng.standard_normal((4, 2, 2, 2)).astype(np.float32)
    rm, rv = np.zeros(2, np.float32), np.ones(2, np.float32)
    gamma, beta = np.ones(2, np.float32), np.zeros(2, np.float32)
    y, cache = F.batch_norm(to_device(x), gamma, beta, rm, rv, training=True)
    assert is_device(y) and isinstance(rm, np.ndarray)
    mean = x.mean(axis=(0, 2, 3))
    np.testing.assert_allclose(rm, 0.1 * mean, rtol=1e-5, atol=1e-7)


def test_trace_end_to_end_on_cuda(rng):
    trace_mod = pytest.importorskip("cnnsim.engine.trace")
    net = L.Sequential(
        [L.Conv2D(2, 3, activation="relu"), L.MaxPool2D(2), L.Flatten(), L.Dense(3)],
        input_shape=(1, 6, 6),
        seed=0,
    )
    x = rng.standard_normal((1, 1, 6, 6)).astype(np.float32)
    config.set_target("cpu")
    ref = trace_mod.record(net, x)
    config.set_target("cuda")
    tr = trace_mod.record(net, x)
    assert tr.names() == ref.names()
    for a, b in zip(tr, ref):
        np.testing.assert_allclose(to_host(a.y), b.y, rtol=1e-5, atol=1e-5)


def test_residual_and_inception_training_steps_match_cpu(rng):
    """Joins (Add, DepthConcat) sum gradients on the device; SGD steps and the gradient-flow
    recorder work on the cuda target and give the CPU's numbers."""
    from cnnsim.experiments.gradflow import gradient_flow
    from cnnsim.train import SGD
    from cnnsim.train.losses import network_loss

    def build():
        inc = L.Concat(
            [
                L.Sequential([L.Conv2D(1, 1, activation="relu", name="a")], name="b1"),
                L.Sequential([L.MaxPool2D(2, 1, "same", name="p")], name="b2"),
            ],
            name="inc",
        )
        # few maps: the simulator runs one block of Python threads per weight gradient
        res = L.ResidualUnit(
            [
                L.Conv2D(2, 3, padding="same", activation="tanh", name="c1"),
                L.Conv2D(2, 3, padding="same", name="c2"),
            ],
            activation="relu",
            name="res",
        )
        return L.Sequential(
            [
                L.Conv2D(1, 3, padding="same", activation="relu", name="C1"),
                inc,
                res,
                L.GlobalAvgPool(name="gap"),
                L.Dense(3, activation="softmax", name="out"),
            ],
            input_shape=(1, 4, 4),
            seed=2,
        )

    x = rng.standard_normal((2, 1, 4, 4)).astype(np.float32)
    labels = np.array([0, 2])
    results = {}
    for target in ("cpu", "cuda"):
        config.set_target(target)
        net = build()
        opt = SGD(0.1)
        losses = []
        for _ in range(1):
            loss, _ = network_loss(net, x, labels)
            losses.append(loss)
            opt.step(net)
        flow = gradient_flow(net, x, labels)
        results[target] = (losses, flow["grad_norm"], [to_host(v) for _, _, v in net.parameters()])
    (lc, fc, pc), (lg, fg, pg) = results["cpu"], results["cuda"]
    np.testing.assert_allclose(lg, lc, rtol=1e-5)
    np.testing.assert_allclose(fg, fc, rtol=1e-4)
    for a, b in zip(pg, pc):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
