"""Experiments checked against small cases whose answer is known: dead and saturated
fractions set by hand-chosen weights, gradient norms recomputed independently, the error an
experiment reports recomputed from the trained network, and GoogLeNet's auxiliary weight."""

import inspect

import numpy as np
import pytest

from cnnsim import layers as L
from cnnsim import models
from cnnsim.experiments import degradation as degradation_module
from cnnsim.experiments import runs as runs_module
from cnnsim.experiments.aux_heads import aux_gradient_effect
from cnnsim.experiments.gradflow import first_last_ratio, gradient_flow
from cnnsim.testing import naive
from cnnsim.train import Trainer
from cnnsim.train.losses import network_loss, predict_scores


def _two_layer(activation):
    """Dense 3 -> 4 (``activation``) -> Dense 2 (softmax), float64, weights set by the test."""
    net = L.Sequential(
        [L.Dense(4, activation=activation, name="h"), L.Dense(2, activation="softmax", name="out")],
        input_shape=(3,),
        seed=0,
    )
    return net.astype(np.float64)


X = np.array([[1.0, 2.0, 0.5], [0.5, 1.0, 1.0], [2.0, 0.1, 0.3]])  # all inputs positive
Y = np.array([0, 1, 1])


def test_all_negative_pre_activations_make_every_relu_dead():
    net = _two_layer("relu")
    h = net.find("h")
    h.params["w"][...] = -1.0  # positive inputs: every pre-activation < 0
    h.params["b"][...] = -0.5
    flow = gradient_flow(net, X, Y)
    assert flow["layers"] == ["h", "out"]
    assert flow["dead"] == [1.0, None]  # no ReLU on the softmax output
    assert flow["grad_norm"][0] == 0.0  # a dead layer's weights get no gradient


def test_dead_fraction_counts_units_silent_for_every_sample():
    net = _two_layer("relu")
    h = net.find("h")
    h.params["w"][...] = -1.0
    h.params["b"][...] = -0.5
    h.params["w"][0, 0] = 1.0  # unit 0 sees x0 - x1 - x2 - 0.5: > 0 for sample 2 only
    h.params["b"][1] = 10.0  # unit 1 alive for every sample
    flow = gradient_flow(net, X, Y)
    assert flow["dead"][0] == pytest.approx(0.5)  # units 2 and 3 of 4 are dead


def test_saturated_fraction_of_sigmoid_outputs():
    net = _two_layer("sigmoid")
    h = net.find("h")
    h.params["w"][...] = 0.0
    h.params["b"][...] = [20.0, -20.0, 0.0, 3.0]  # sigmoid ~ 1, ~ 0, 0.5, 0.953 (not within 1%)
    flow = gradient_flow(net, X, Y)
    assert flow["saturated"][0] == pytest.approx(0.5)
    assert flow["dead"][0] is None  # "dead" is a ReLU notion
    h.params["b"][...] = 0.0  # every output 0.5: nothing saturated
    assert gradient_flow(net, X, Y)["saturated"][0] == 0.0


def test_gradient_norms_are_those_of_the_loss_gradients():
    """``grad_norm`` = ||dL/dW|| of the layer, and the output layer's ``out_grad_norm`` =
    ||(softmax - onehot) / N||: the known gradient of the mean cross-entropy."""
    net = _two_layer("tanh")
    flow = gradient_flow(net, X, Y)
    loss, probs = network_loss(net, X, Y, training=True)
    for name, g in zip(flow["layers"], flow["grad_norm"]):
        assert g == pytest.approx(np.linalg.norm(net.find(name).grads["w"]), rel=1e-12)
    onehot = np.eye(2)[Y]
    assert flow["out_grad_norm"][1] == pytest.approx(np.linalg.norm((probs - onehot) / 3), rel=1e-9)
    assert flow["loss"] == pytest.approx(loss, rel=1e-12)


def test_first_last_ratio_of_a_hand_made_flow():
    # hidden layers only: the last entry (the output layer) is excluded
    assert first_last_ratio({"grad_norm": [4.0, None, 2.0, 0.5, 99.0]}) == 8.0
    assert np.isnan(first_last_ratio({"grad_norm": [1.0, 2.0]}))  # one hidden layer


def _reseed(net, seed=0):
    for part in [net, *getattr(net, "aux_heads", {}).values()]:
        for leaf in part.leaves():
            if hasattr(leaf, "reseed"):
                leaf.reseed(seed)


def test_googlenet_adds_its_auxiliary_losses_with_weight_0_3():
    net = models.googlenet(input_shape=(3, 64, 64), num_classes=10, width=0.0625, aux=True, seed=0)
    x = np.random.default_rng(0).random((2, 3, 64, 64)).astype(np.float32)
    y = np.array([3, 7])
    _reseed(net)
    main, aux = net.forward_with_aux(x, training=True)
    # the main output of the fused loss is the softmax; the heads give logits
    main_loss = float(-np.mean(np.log(np.asarray(main, np.float64)[np.arange(2), y])))
    aux_losses = [naive.softmax_cross_entropy(np.asarray(a, np.float64), y)[0] for a in aux]
    assert len(aux_losses) == 2
    _reseed(net)
    total, _ = network_loss(net, x, y, training=True, backward=False)  # the default weight
    assert total == pytest.approx(main_loss + 0.3 * sum(aux_losses), rel=1e-4)
    assert inspect.signature(Trainer).parameters["aux_weight"].default == 0.3
    assert inspect.signature(aux_gradient_effect).parameters["aux_weight"].default == 0.3


def test_auxiliary_gradients_scale_with_their_weight():
    """The gradient is linear in the auxiliary weight: g(w) = g_main + w * g_aux, so
    g(0.6) - g(0) = 2 (g(0.3) - g(0)) for a layer below both taps, and 0 above them."""
    net = models.googlenet(input_shape=(3, 64, 64), num_classes=10, width=0.0625, aux=True, seed=0)
    x = np.random.default_rng(1).random((2, 3, 64, 64)).astype(np.float32)
    y = np.array([1, 4])
    grads = {}
    for w in (0.0, 0.3, 0.6):
        _reseed(net)
        network_loss(net, x, y, training=True, aux_weight=w)
        grads[w] = {k: np.array(net.find(k).grads["w"], np.float64) for k in ("conv1", "fc")}
    below = grads[0.3]["conv1"] - grads[0.0]["conv1"]
    assert np.linalg.norm(below) > 1e-3 * np.linalg.norm(grads[0.0]["conv1"])
    np.testing.assert_allclose(
        grads[0.6]["conv1"] - grads[0.0]["conv1"],
        2 * below,
        rtol=1e-3,
        atol=1e-4 * np.abs(below).max(),
    )
    np.testing.assert_allclose(grads[0.6]["fc"], grads[0.0]["fc"], rtol=1e-5, atol=1e-7)


class _Recording(Trainer):
    """The degradation experiment's trainer, keeping each network it trained."""

    trained = []

    def fit(self, train, val=None, epochs=1):
        h = super().fit(train, val, epochs)
        _Recording.trained.append((self.net, val, h))
        return h


def test_degradation_reports_error_as_one_minus_accuracy(monkeypatch):
    """Recompute each run's test error from the trained network itself on the same test set,
    and its training error from the per-batch hits the trainer counted."""
    _Recording.trained = []
    monkeypatch.setattr(runs_module, "Trainer", _Recording)  # the experiments' shared trainer
    res = degradation_module.degradation(
        depths=(8,), width=0.125, limit=48, test_limit=40, epochs=1, batch_size=16
    )
    assert list(res["runs"]) == ["plain-8", "resnet-8"]
    assert res["config"]["train_images"] == 48 and res["config"]["test_images"] == 40
    for (net, (xte, yte), h), run in zip(_Recording.trained, res["runs"].values()):
        predicted = np.argmax(predict_scores(net, xte), axis=1)
        assert run["test_error"] == [pytest.approx(float(np.mean(predicted != yte)))]
        hits = sum(acc * min(16, 48 - 16 * k) for k, (_, _, acc) in enumerate(h.steps))
        assert run["train_error"] == [pytest.approx(1 - hits / 48)]
        assert run["params"] == net.param_count()


def test_degradation_divides_the_learning_rate_by_10_every_lr_step_epochs(monkeypatch):
    _Recording.trained = []
    monkeypatch.setattr(runs_module, "Trainer", _Recording)
    degradation_module.degradation(
        depths=(8,), width=0.125, limit=32, test_limit=16, epochs=3, batch_size=16, lr=0.1,
        lr_step=2,
    )  # fmt: skip
    *_, h = _Recording.trained[-1]  # resnet-8, after its third epoch
    assert [e["lr"] for e in h.epochs] == pytest.approx([0.1, 0.1, 0.01])
