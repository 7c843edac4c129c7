"""The training loss of a whole network: forward, softmax cross-entropy, backward.

The output layer's softmax is fused with the cross-entropy (the stable log-sum-exp form of
``cnnsim.functional.softmax_cross_entropy``): during the loss computation the output Dense
layer emits logits. An RBF output (LeNet-5's paper variant) gives distances; their negatives
serve as logits (closest prototype = most likely class).
"""

import numpy as np

from .. import functional as F
from ..functional._dispatch import to_host


def output_leaf(net):
    """The leaf making the network's (main) output."""
    return list(net.leaves())[-1]


def network_loss(net, x, labels, training=True, backward=True, aux_weight=0.3):
    """``(loss, probs)`` for a batch; with ``backward`` every layer's ``grads`` are filled.

    Networks with auxiliary classifiers (GoogLeNet) expose ``aux_heads``; in training their
    losses are added with weight ``aux_weight`` (0.3 in Szegedy et al. 2014).
    """
    leaf = output_leaf(net)
    outs = net.output_leaves() if hasattr(net, "output_leaves") else [leaf]
    fused = {
        id(l): (l, l.emit_logits)
        for l in outs
        if getattr(l, "activation", None) == "softmax" and hasattr(l, "emit_logits")
    }
    sign = -1.0 if leaf.penalty_output else 1.0
    for l, _ in fused.values():
        l.emit_logits = True
    try:
        use_aux = training and aux_weight and getattr(net, "aux_heads", None)
        if use_aux:
            y, aux_outs = net.forward_with_aux(x, training=True)
        else:
            y, aux_outs = net(x, training), []
        logits = y if sign == 1.0 else -to_host(y)
        loss, probs = F.softmax_cross_entropy(logits, labels)
        aux = [F.softmax_cross_entropy(a, labels) for a in aux_outs]
        loss_total = loss + aux_weight * sum(l for l, _ in aux)
        if backward:
            dy = F.softmax_cross_entropy_backward(probs, labels)
            dy = dy if sign == 1.0 else -to_host(dy)
            if use_aux:
                daux = [aux_weight * F.softmax_cross_entropy_backward(p, labels) for _, p in aux]
                net.backward_with_aux(dy, daux, input_grad=False)
            else:
                net.backprop(dy, input_grad=False)  # nothing needs d(loss)/d(images)
    finally:
        for l, old in fused.values():
            l.emit_logits = old
    return float(loss_total), to_host(probs)


def predict_scores(net, x, batch_size=256):
    """Class scores (probabilities, or negative RBF distances) for ``x``, in batches."""
    leaf = output_leaf(net)
    sign = -1.0 if leaf.penalty_output else 1.0
    outs = [sign * to_host(net(x[i : i + batch_size], False)) for i in range(0, len(x), batch_size)]
    return np.concatenate(outs) if outs else np.zeros((0,) + net.output_shape)
