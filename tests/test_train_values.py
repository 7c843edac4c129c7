"""Training checked by its numbers: each optimizer against a plain float64 numpy loop (sign,
scale, weight decay, bias correction), StepLR at its boundaries, a checkpoint round trip that
compares every optimizer buffer and the next step, the whole-network loss of each output kind
(softmax, RBF) against finite differences, and the paper LeNet-5 learning without MNIST."""

import numpy as np
import pytest
from cases import tiny_data

from cnnsim import layers as L
from cnnsim import models
from cnnsim.testing.gradcheck import numeric_grad
from cnnsim.train import SGD, Adam, StepLR, Trainer, default_lr, load_checkpoint, save_checkpoint
from cnnsim.train.data import load_for_model
from cnnsim.train.losses import network_loss


def dense_net(seed=0):
    """Dense 4 -> 3 in float64: a decayed weight matrix ``w`` and an undecayed bias ``b``."""
    net = L.Sequential([L.Dense(3, name="d")], input_shape=(4,), seed=seed, name="d43")
    return net.astype(np.float64)


def _grad_sequence(net, steps=4, seed=5):
    rng = np.random.default_rng(seed)
    layer = net.find("d")
    return [
        {k: rng.standard_normal(v.shape) for k, v in layer.params.items()} for _ in range(steps)
    ]


def _run(opt, net, grads):
    """Apply ``opt`` with the given gradient sequence; the parameters after every step."""
    layer = net.find("d")
    seen = []
    for g in grads:
        for k in layer.params:
            layer.grads[k] = g[k].copy()
        opt.step(net)
        seen.append({k: v.copy() for k, v in layer.params.items()})
    return seen


# ---- SGD, momentum, weight decay: a plain numpy loop -------------------------------------------
@pytest.mark.parametrize("momentum,wd", [(0.0, 0.0), (0.0, 0.1), (0.9, 0.0), (0.5, 0.05)])
def test_sgd_matches_a_numpy_loop(momentum, wd):
    net = dense_net()
    layer = net.find("d")
    p = {k: v.copy() for k, v in layer.params.items()}
    v = {k: np.zeros_like(a) for k, a in p.items()}
    grads = _grad_sequence(net)
    got = _run(SGD(0.1, momentum=momentum, weight_decay=wd), net, grads)
    for t, g in enumerate(grads):
        for k in p:
            gk = g[k] + (wd * p[k] if k == "w" else 0.0)  # L2 decay on weights, not biases
            v[k] = momentum * v[k] - 0.1 * gk
            p[k] = p[k] + v[k]
            np.testing.assert_allclose(
                got[t][k], p[k], rtol=1e-12, atol=1e-14, err_msg=f"step {t + 1}, {k}"
            )


def test_weight_decay_shrinks_weights_toward_zero_by_hand():
    """Zero gradient, decay 0.1, lr 0.5: w <- w - 0.5 * 0.1 * w = 0.95 w; the bias untouched."""
    net = dense_net()
    layer = net.find("d")
    layer.params["w"][...] = 2.0
    layer.params["b"][...] = 3.0
    for k in layer.grads:
        layer.grads[k] = np.zeros_like(layer.params[k])
    SGD(0.5, momentum=0.0, weight_decay=0.1).step(net)
    np.testing.assert_allclose(layer.params["w"], 1.9)
    np.testing.assert_allclose(layer.params["b"], 3.0)
    # with momentum 0.5 the second step moves by 0.5 * (first move) + the new decay term
    layer.params["w"][...] = 2.0
    opt = SGD(0.5, momentum=0.5, weight_decay=0.1)
    opt.step(net)  # v = -0.1 ; w = 1.9
    opt.step(net)  # v = -0.05 - 0.5*0.1*1.9 = -0.145 ; w = 1.755
    np.testing.assert_allclose(layer.params["w"], 1.755)


# ---- Adam -------------------------------------------------------------------------------------
@pytest.mark.parametrize("wd", [0.0, 0.01])
def test_adam_matches_a_numpy_loop(wd):
    net = dense_net()
    layer = net.find("d")
    lr, b1, b2, eps = 0.01, 0.8, 0.95, 1e-8
    p = {k: v.copy() for k, v in layer.params.items()}
    m = {k: np.zeros_like(a) for k, a in p.items()}
    s = {k: np.zeros_like(a) for k, a in p.items()}
    grads = _grad_sequence(net, steps=5)
    got = _run(Adam(lr, beta1=b1, beta2=b2, eps=eps, weight_decay=wd), net, grads)
    for t, g in enumerate(grads, start=1):
        for k in p:
            gk = g[k] + (wd * p[k] if k == "w" else 0.0)
            m[k] = b1 * m[k] + (1 - b1) * gk
            s[k] = b2 * s[k] + (1 - b2) * gk**2
            mh, sh = m[k] / (1 - b1**t), s[k] / (1 - b2**t)
            p[k] = p[k] - lr * mh / (np.sqrt(sh) + eps)
            np.testing.assert_allclose(
                got[t - 1][k], p[k], rtol=1e-12, atol=1e-14, err_msg=f"step {t}, {k}"
            )


def test_adam_first_step_is_lr_times_the_sign_of_the_gradient():
    net = dense_net()
    layer = net.find("d")
    before = layer.params["w"].copy()
    g = np.array([[3.0, -0.001, 7.0], [-2.0, 5.0, -9.0], [1.0, 1.0, -1.0], [0.5, -0.5, 4.0]])
    layer.grads["w"], layer.grads["b"] = g, np.zeros(3)
    Adam(0.01).step(net)
    np.testing.assert_allclose(layer.params["w"] - before, -0.01 * np.sign(g), rtol=1e-4)


# ---- StepLR and the trainer using it ------------------------------------------------------------
def test_step_lr_boundaries():
    s = StepLR(0.1, step_size=3, gamma=0.5)
    assert [s(e) for e in range(7)] == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025])
    assert [StepLR(0.2)(e) for e in (0, 5, 100)] == [0.2, 0.2, 0.2]  # no step: constant
    assert StepLR(1.0, 1, 0.1)(2) == pytest.approx(0.01)


def test_trainer_applies_the_schedule_to_every_step():
    x = np.random.default_rng(0).standard_normal((8, 4)).astype(np.float64)
    y = np.arange(8) % 3
    net = L.Sequential([L.Dense(3, activation="softmax", name="d")], input_shape=(4,), seed=0)
    net.astype(np.float64)
    opt = SGD(0.4, momentum=0.0)
    lrs = []
    tr = Trainer(
        net,
        opt,
        batch_size=4,
        seed=0,
        schedule=StepLR(0.4, 2, 0.1),
        progress=False,
        on_step=lambda t, step: lrs.append(t.optimizer.lr),
    )
    h = tr.fit((x, y), None, epochs=3)
    assert [r["lr"] for r in h.epochs] == pytest.approx([0.4, 0.4, 0.04])
    assert lrs == pytest.approx([0.4] * 4 + [0.04] * 2)  # 2 steps per epoch


# ---- checkpoints: every buffer, and the next step ----------------------------------------------
def tiny_net(seed=0):
    return L.Sequential(
        [
            L.Conv2D(3, 3, activation="relu", name="C1"),
            L.MaxPool2D(2, name="S2"),
            L.BatchNorm(name="bn"),  # running mean/var buffers travel too
            L.Flatten(name="flat"),
            L.Dense(3, activation="softmax", name="Out"),
        ],
        input_shape=(1, 6, 6),
        seed=seed,
        name="tiny",
    )


@pytest.mark.parametrize(
    "make_opt",
    [lambda: SGD(0.1, momentum=0.9, weight_decay=0.01), lambda: Adam(0.01, weight_decay=0.01)],
    ids=["sgd", "adam"],
)
def test_checkpoint_round_trip_restores_every_buffer_and_the_next_step(make_opt, tmp_path):
    x, y = tiny_data(16)
    net, opt = tiny_net(), make_opt()
    Trainer(net, opt, 8, 0, progress=False).fit((x, y), None, 2)  # t = 4, state non-zero
    path = str(tmp_path / "c.npz")
    save_checkpoint(path, net, opt, epoch=2)
    net2, opt2 = tiny_net(seed=7), make_opt()
    opt2.lr = 123.0  # overwritten by the load
    load_checkpoint(path, net2, opt2)
    assert (opt2.t, opt2.lr) == (opt.t, opt.lr) == (4, opt.lr)
    assert opt2.state.keys() == opt.state.keys() and opt.state
    for key, bufs in opt.state.items():
        assert bufs.keys() == opt2.state[key].keys()
        for name, a in bufs.items():
            assert np.any(a != 0), f"{key}.{name} is still zero after 4 steps"
            np.testing.assert_array_equal(opt2.state[key][name], a, err_msg=f"{key}.{name}")
    for l1, l2 in zip(net.leaves(), net2.leaves()):
        for group in ("params", "buffers"):
            for k, a in getattr(l1, group, {}).items():
                np.testing.assert_array_equal(getattr(l2, group)[k], a, err_msg=f"{l1.path}.{k}")
    # the next step from the checkpoint equals the next step of the original
    for n, o in ((net, opt), (net2, opt2)):
        Trainer(n, o, 8, 0, progress=False).train_step(x[:8], y[:8])
    for (l1, k, a), (_, _, b) in zip(net.parameters(), net2.parameters()):
        np.testing.assert_array_equal(b, a, err_msg=f"{l1.path}.{k} after the resumed step")


# ---- the loss of each output kind against finite differences -----------------------------------
def _loss_gradcheck(net, x, y):
    """Analytic d loss / d params from ``network_loss`` vs central differences, float64."""
    net.astype(np.float64)
    x = x.astype(np.float64)
    network_loss(net, x, y, training=False)
    checked = 0
    for layer, name, p in net.parameters():
        analytic = np.array(layer.grads[name], dtype=np.float64)

        def f(q, p=p):
            saved = p.copy()
            p[...] = q
            try:
                return network_loss(net, x, y, training=False, backward=False)[0]
            finally:
                p[...] = saved

        numeric = numeric_grad(f, [p.copy()], 0)
        np.testing.assert_allclose(
            analytic, numeric, rtol=1e-5, atol=1e-8, err_msg=f"{layer.path}.{name}"
        )
        checked += 1
    assert checked


def test_softmax_output_loss_gradient_by_finite_differences():
    net = L.Sequential(
        [L.Dense(5, activation="tanh", name="h"), L.Dense(3, activation="softmax", name="Out")],
        input_shape=(4,),
        seed=1,
    )
    x = np.random.default_rng(1).standard_normal((6, 4))
    _loss_gradcheck(net, x, np.array([0, 1, 2, 2, 1, 0]))


def test_rbf_output_loss_gradient_by_finite_differences():
    """LeNet-5's paper output: logits are the negated RBF penalties; the gradient must flow
    back through that negation (a flipped sign trains the net away from its prototypes)."""
    net = L.Sequential(
        [L.Dense(6, activation="tanh", name="F6"), L.RBF(3, name="Out")], input_shape=(4,), seed=2
    )
    x = np.random.default_rng(2).standard_normal((5, 4)) * 0.5
    _loss_gradcheck(net, x, np.array([0, 1, 2, 1, 0]))


def test_rbf_loss_is_the_cross_entropy_of_negated_penalties():
    net = L.Sequential([L.RBF(3, name="Out")], input_shape=(2,), seed=0).astype(np.float64)
    net.find("Out").buffers["w"][...] = [[0, 0], [1, 0], [0, 2]]
    x = np.array([[0.0, 0.0]])  # penalties 0, 1, 4 -> logits 0, -1, -4
    loss, probs = network_loss(net, x, np.array([0]), training=False, backward=False)
    z = np.array([0.0, -1.0, -4.0])
    np.testing.assert_allclose(probs[0], np.exp(z) / np.exp(z).sum(), rtol=1e-12)
    assert loss == pytest.approx(np.log(np.exp(z).sum()), rel=1e-12)  # -log p_0


# ---- the paper LeNet-5 learns, without MNIST ---------------------------------------------------
def test_paper_lenet5_learns_synthetic_digits_at_the_default_rate():
    """RBF output, SGD at its default rate (0.001): 2,000 synthetic digits, one epoch.
    Measured 0.77 on the 500 test digits (seed 0; 0.82 after a second epoch); chance is 0.1."""
    net = models.build("lenet5", seed=0)
    (xtr, ytr), (xte, yte), _ = load_for_model(
        "synthetic", net.input_shape, limit=2000, test_limit=500
    )
    h = Trainer(net, SGD(default_lr(net, "sgd")), 32, 0, progress=False).fit(
        (xtr, ytr), (xte, yte), 1
    )
    assert h.epochs[-1]["val_accuracy"] > 0.6, h.epochs
