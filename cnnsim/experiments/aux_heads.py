"""GoogLeNet's auxiliary classifiers and the gradient reaching the early layers.

Szegedy et al. (2014) added two auxiliary classifiers (on inception 4a and 4d), whose
losses are added with weight 0.3 in training "to combat the vanishing gradient problem"
and keep the middle of the network learning. ``aux_gradient_effect`` measures it: the
same (small) GoogLeNet, the same batch, the gradient norm reaching every weight layer
with the main loss only, and with main + 0.3 x auxiliary losses.
"""

import numpy as np

from .. import models
from .._memory import check_fits, training_bytes
from ..functional._dispatch import to_host
from ..train.losses import network_loss
from .gradflow import default_batch


def _weight_grad_norms(net):
    out = {}
    for leaf in net.leaves():
        if "w" in leaf.grads:
            out[leaf.path] = float(np.linalg.norm(to_host(leaf.grads["w"]).astype(np.float64)))
    return out


def aux_gradient_effect(width=0.125, input_size=96, batch=8, seed=0, aux_weight=0.3):
    """``{"config", "layers", "without_aux", "with_aux", "gain"}``: per weight layer of the
    main network (forward order), ||dL/dW|| with the main loss only and with the auxiliary
    losses added; ``gain`` = with / without."""
    # memory first, from a narrow stand-in (a GoogLeNet of width 100 is itself too big
    # to build): activations ~ width, weights ~ width^2
    w0 = min(width, 0.125)
    probe = models.googlenet(
        input_shape=(3, input_size, input_size), num_classes=10, width=w0, aux=True, seed=seed
    )
    check_fits(
        training_bytes(probe, batch, acts_scale=width / w0, params_scale=(width / w0) ** 2),
        f"GoogLeNet width {width} at {input_size}x{input_size}, batch {batch}",
        "--width, --input-size or --batch",
    )
    net = models.googlenet(
        input_shape=(3, input_size, input_size), num_classes=10, width=width, aux=True, seed=seed
    )
    x, y = default_batch(batch, seed, (3, input_size, input_size))
    # dropout off in both runs (training=False would skip the heads): same masks matter less
    # than isolating the heads' contribution, so reseed every dropout layer identically
    results = {}
    for key, use_aux in (("without_aux", False), ("with_aux", True)):
        for leaf in net.leaves():
            if hasattr(leaf, "reseed"):
                leaf.reseed(seed)
        for head in net.aux_heads.values():
            for leaf in head.leaves():
                if hasattr(leaf, "reseed"):
                    leaf.reseed(seed)
        # weight 0: the main loss only (the heads are not run)
        network_loss(net, x, y, training=True, aux_weight=aux_weight if use_aux else 0.0)
        results[key] = _weight_grad_norms(net)
    layers = [l.path for l in net.leaves() if "w" in l.grads and l.path in results["without_aux"]]
    without = [results["without_aux"][p] for p in layers]
    with_aux = [results["with_aux"][p] for p in layers]
    gain = [w / o if o > 0 else float("nan") for w, o in zip(with_aux, without)]
    return {
        "config": {
            "width": width,
            "input_size": input_size,
            "batch": batch,
            "seed": seed,
            "aux_weight": aux_weight,
        },
        "layers": layers,
        "without_aux": without,
        "with_aux": with_aux,
        "gain": gain,
    }


def gain_groups(result, rtol=1e-6):
    """Which layers the heads change: ``{"unchanged", "more", "less"}``, each a list of
    ``(layer, gain)`` in forward order (unchanged: within ``rtol`` of 1)."""
    out = {"unchanged": [], "more": [], "less": []}
    for layer, g in zip(result["layers"], result["gain"]):
        key = "unchanged" if abs(g - 1.0) <= rtol else ("more" if g > 1.0 else "less")
        out[key].append((layer, g))
    return out
