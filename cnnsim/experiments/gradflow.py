"""Gradient flow: per-layer gradient statistics of one backward pass (or along training).

For every leaf layer with weights, in forward order:

* ``grad_norm``          ||dL/dW||_2, the gradient reaching the layer's weights
* ``out_grad_norm``      ||dL/dy||_2 and ``out_grad_mean_abs`` mean |dL/dy|, y its output
* ``dead``               fraction of ReLU units that output 0 for every sample in the batch
* ``saturated``          fraction of sigmoid/tanh outputs within 1% of an asymptote
                         (thresholds from ``cnnsim.engine.stats.SATURATION``)

``compare_plain_residual`` builds the plain and residual towers of the same depth and
activation (``cnnsim.models.tower``), runs both on the same batch and returns
``{"plain": {...}, "residual": {...}}`` — the lecture's picture of vanishing gradients
and of skip connections fixing them.
"""

import numpy as np

from ..engine.stats import array_stats, grad_stats
from ..functional._dispatch import to_host
from ..layers import Conv2D, Dense
from ..layers.base import observe
from ..train.losses import network_loss


class _Recorder:
    def __init__(self):
        self.forward = {}
        self.backward = {}

    def on_forward(self, layer, x, y, dt):
        if layer.params:
            act = layer.activation
            rec = {"activation": act}
            y = to_host(y)
            if act == "relu":
                alive = np.any(y > 0, axis=0)  # per unit, over the batch
                rec["dead"] = float(1.0 - alive.mean())
            st = array_stats(y, act)
            rec["saturated"] = st["saturated"]
            self.forward[layer.path] = rec

    def on_backward(self, layer, dy, dx):
        if layer.params:
            self.backward[layer.path] = grad_stats(to_host(dy))


def unit_stats(net, x):
    """One inference forward pass: ``{layer path: {"activation", "dead", "saturated"}}`` for
    every layer with parameters and an activation (``dead``: ReLU units that output 0 for
    every sample of ``x``; ``saturated``: sigmoid/tanh outputs within 1% of an asymptote)."""
    rec = _Recorder()
    with observe(rec):
        net(x)
    return {k: v for k, v in rec.forward.items() if v.get("activation")}


def gradient_flow(net, x, labels, training=True):
    """One forward/backward of the cross-entropy loss; per-layer records (forward order)."""
    rec = _Recorder()
    with observe(rec):
        loss, _ = network_loss(net, x, labels, training=training)
    layers, out = (
        [],
        {
            k: []
            for k in (
                "grad_norm",
                "grad_mean_abs",
                "out_grad_norm",
                "out_grad_mean_abs",
                "dead",
                "saturated",
            )
        },
    )
    for leaf in net.leaves():
        if not leaf.params or leaf.path not in rec.backward:
            continue
        layers.append(leaf.path)
        wg = grad_stats(
            to_host(leaf.grads["w"] if "w" in leaf.grads else next(iter(leaf.grads.values())))
        )
        out["grad_norm"].append(wg["norm"])
        out["grad_mean_abs"].append(wg["mean_abs"])
        out["out_grad_norm"].append(rec.backward[leaf.path]["norm"])
        out["out_grad_mean_abs"].append(rec.backward[leaf.path]["mean_abs"])
        f = rec.forward.get(leaf.path, {})
        out["dead"].append(f.get("dead"))
        out["saturated"].append(f.get("saturated"))
    return {"layers": layers, "loss": loss, **out}


def first_last_ratio(flow, key="grad_norm"):
    """``|g_first| / |g_last|`` over the hidden weight layers (the output layer excluded)."""
    v = [g for g in flow[key][:-1] if g is not None]
    return float(v[0] / v[-1]) if len(v) >= 2 and v[-1] > 0 else float("nan")


def default_batch(n=32, seed=0, input_shape=(1, 28, 28)):
    """A fixed batch of synthetic digits (offline), scaled to [0, 1], NCHW float32."""
    from ..data import load_synthetic_digits

    imgs, labels = load_synthetic_digits(n, seed=seed, size=input_shape[-1])
    x = (imgs.astype(np.float32) / 255.0)[:, None]
    if input_shape[0] > 1:
        x = np.repeat(x, input_shape[0], axis=1)
    return x, labels.astype(np.int64)


def conv_dense_only(net, flow):
    """``flow`` restricted to the Conv2D and Dense layers (batch norm's scale and shift
    gradients are left out: "first / last hidden layer" means conv layers)."""
    keep = {l.path for l in net.leaves() if isinstance(l, (Conv2D, Dense))}
    idx = [i for i, name in enumerate(flow["layers"]) if name in keep]
    return {k: ([v[i] for i in idx] if isinstance(v, list) else v) for k, v in flow.items()}


def gradient_spread(net, flow):
    """``log10(max / min)`` of ``||dL/dW||`` over the tower's conv layers (``flow`` from
    ``gradient_flow(net, ...)``), and how many of them got exactly zero (float underflow).

    0 means every layer gets the same gradient; 8 means the best-fed layer gets 10^8 times
    the gradient of the worst-fed one. With a zero gradient the spread is infinite.
    Returns ``(spread, zero_layers)``.
    """
    convs = {l.path for l in net.leaves() if isinstance(l, Conv2D)}
    g = np.array(
        [n for name, n in zip(flow["layers"], flow["grad_norm"]) if name in convs], dtype=np.float64
    )
    zeros = int((g == 0).sum())
    if len(g) < 1 or zeros:
        return float("inf") if zeros else float("nan"), zeros
    return float(np.log10(g.max() / g.min())), 0


def resolved_init(init, activation):
    """The initializer a tower's convs get: ``init``, or the default for ``activation``."""
    from ..layers.initializers import DEFAULT_FOR_ACTIVATION, parse_init

    return parse_init(init, "init") if init else DEFAULT_FOR_ACTIVATION.get(activation, "glorot")


def tower_point(
    depth,
    activation,
    residual,
    init=None,
    batchnorm=False,
    width=8,
    batch=32,
    seed=0,
    dtype="float32",
):
    """One tower's gradient flow at initialization: one point of a sweep.

    Builds ``models.tower`` (seeded with ``seed``), runs the cross-entropy loss forward and
    backward on ``default_batch(batch, seed)`` and returns plain numbers:
    ``{"layers", "grad_norm", "loss", "first_last_ratio", "spread", "zero_layers"}``.

    ``dtype="float64"``: the same weights (drawn in float32, widened exactly) and batch in
    float64. float32's smallest normal number is 1.2e-38: in a deep sigmoid tower, or one
    with tiny weights, the gradient goes below it, becomes subnormal (which the CPU
    computes tens of times slower) and then exactly 0; float64 reaches 1e-308.
    """
    from .. import models

    x, y = default_batch(batch, seed)
    net = models.build(
        "tower",
        depth=depth,
        activation=activation,
        residual=bool(residual),
        width=width,
        input_shape=x.shape[1:],
        seed=seed,
        init=init,
        batchnorm=batchnorm,
    )
    if np.dtype(dtype) != x.dtype:
        net.astype(np.dtype(dtype))
        x = x.astype(np.dtype(dtype))
    flow = gradient_flow(net, x, y)
    spread, zeros = gradient_spread(net, flow)
    return {
        "layers": flow["layers"],
        "grad_norm": [float(g) for g in flow["grad_norm"]],
        "loss": float(flow["loss"]),
        "first_last_ratio": first_last_ratio(conv_dense_only(net, flow)),
        "spread": spread,
        "zero_layers": zeros,
    }


def compare_plain_residual(
    depth=20,
    activation="sigmoid",
    steps=0,
    lr=0.1,
    batch=32,
    width=8,
    seed=0,
    data=None,
    init=None,
    batchnorm=False,
    unit="pre",
):
    """Plain vs residual tower of ``depth`` conv layers on the same batch.

    ``unit`` is the residual unit (``cnnsim.models.tower``): ``"pre"`` (He et al. 2016,
    ``y = x + conv(act(conv(act(x))))``) or ``"post"`` (the 2015 unit as the lecture draws
    it, ``y = act(conv(act(conv(x))) + x)``); it is recorded in ``config["unit"]``.

    Records at initialization, and after ``steps`` SGD steps when ``steps > 0``
    (``"trained"`` entries). Returns ``{"config", "plain", "residual"}``; each network's
    entry has ``layers``, ``grad_norm`` (at init), ``first_last_ratio`` and more.
    ``init`` (None: the activation's default, see ``resolved_init``) and ``batchnorm``
    (conv, batch norm, activation) are passed to ``models.tower`` and recorded in the config.
    """
    from .. import models
    from .._memory import check_fits, training_bytes
    from ..train import SGD

    SGD(lr)  # validates lr before any work (finite and > 0)
    # memory first, from a small stand-in (building the real towers could itself be
    # more than the machine has): 2 towers, activations ~ depth*width, weights ~ depth*width^2
    d0, w0 = min(depth, 4), min(width, 4)
    probe = models.build(
        "tower",
        depth=d0,
        activation=activation,
        width=w0,
        init=init,
        batchnorm=batchnorm,
        input_shape=(1, 28, 28) if data is None else data[0].shape[1:],
    )
    n = batch if data is None else len(data[0])
    r = depth / d0
    check_fits(
        2 * training_bytes(probe, n, acts_scale=r * width / w0, params_scale=r * (width / w0) ** 2),
        f"two {depth}-layer towers of width {width} at batch {n}",
        "--depth, --width or --batch",
    )
    x, y = data if data is not None else default_batch(batch, seed)
    result = {
        "config": {
            "depth": depth,
            "activation": activation,
            "steps": steps,
            "batch": len(x),
            "width": width,
            "seed": seed,
            "unit": unit,
        }
    }
    result["config"]["init"] = resolved_init(init, activation)
    result["config"]["batchnorm"] = bool(batchnorm)
    for kind in ("plain", "residual"):
        net = models.build(
            "tower",
            depth=depth,
            activation=activation,
            residual=(kind == "residual"),
            width=width,
            input_shape=x.shape[1:],
            seed=seed,
            init=init,
            batchnorm=batchnorm,
            unit=unit,
        )
        flow = gradient_flow(net, x, y)
        entry = dict(flow)
        entry["first_last_ratio"] = first_last_ratio(conv_dense_only(net, flow))
        if steps:
            opt = SGD(lr, momentum=0.9)
            losses = []
            for _ in range(steps):
                loss, _ = network_loss(net, x, y, training=True)
                losses.append(loss)
                opt.step(net)
            after = gradient_flow(net, x, y)
            entry["trained"] = {
                "grad_norm": after["grad_norm"],
                "loss": after["loss"],
                "first_last_ratio": first_last_ratio(conv_dense_only(net, after)),
                "losses": losses,
                "dead": after["dead"],
                "saturated": after["saturated"],
            }
        result[kind] = entry
    return result
