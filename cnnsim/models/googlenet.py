"""GoogLeNet (Szegedy et al. 2014, "Going deeper with convolutions", Table 1 and Figure 3).

Input 3@224x224::

    conv1          conv 64, 7x7/2 SAME, ReLU           -> 64@112x112
    pool1          max pool 3x3/2 SAME                 -> 64@56x56
    norm1          LRN
    conv2_reduce   conv 64, 1x1, ReLU                  -> 64@56x56
    conv2          conv 192, 3x3 SAME, ReLU            -> 192@56x56
    norm2          LRN
    pool2          max pool 3x3/2 SAME                 -> 192@28x28
    inception_3a, inception_3b, pool3 (-> 14x14), inception_4a .. 4e, pool4 (-> 7x7),
    inception_5a, inception_5b
    pool5          avg pool 7x7/1 VALID                -> 1024@1x1
    flatten, dropout (40%), fc (1000, softmax)

An inception module with the paper's six numbers (#1x1, #3x3 reduce, #3x3, #5x5 reduce,
#5x5, pool proj) is a ``Concat`` of four branches, every convolution with ReLU::

    inception_3a/1x1                                   1x1 conv
    inception_3a/3x3/3x3_reduce, inception_3a/3x3/3x3  1x1 conv, then 3x3 conv SAME
    inception_3a/5x5/5x5_reduce, inception_3a/5x5/5x5  1x1 conv, then 5x5 conv SAME
    inception_3a/pool/pool, inception_3a/pool/pool_proj   3x3/1 max pool SAME, 1x1 conv
    inception_3a/concat                                depth concatenation

Depths after concatenation: 256, 480, 512, 512, 512, 528, 832, 832, 1024.

**Auxiliary classifiers** (training only). The network returned is a ``GoogLeNet``, a
``cnnsim.Model`` (one graph) whose extra outputs are the heads; ``aux_heads`` maps a
head's name to its ``Sequential``, which reads the output of the top-level layer
``head.tap``:

    aux1 on inception_4a, aux2 on inception_4d:
    pool (avg 5x5/3 VALID) -> conv (128 1x1, ReLU) -> flatten -> fc1 (1024, ReLU)
    -> dropout (70%) -> fc2 (num_classes, softmax)

* ``net(x)`` / ``net.backprop(dy)``: the main path only (inference; heads skipped).
* ``y, aux = net.forward_with_aux(x, training=True)`` (``net.forward_all``): ``aux`` is a
  list, one array per head in the order of ``aux_heads`` (aux1, aux2). The heads give **logits**: their
  softmax is fused into the training loss (softmax cross-entropy), so their ``fc2`` layers
  keep ``emit_logits = True``; the tables still show them as softmax layers.
* ``dx = net.backward_with_aux(dy, daux)``: ``daux`` (a list in the same order, or a dict
  by head name) holds the gradients reaching the heads' outputs; they are backpropagated
  through the heads and added to the main gradient at each tap (``net.backward_all``,
  the graph's backward: each tensor's gradient is the sum over the layers reading it). Nothing is weighted here:
  the loss does it, ``L = L_main + net.aux_weight * (L_aux1 + L_aux2)`` with
  ``aux_weight = 0.3`` (the paper's discount), so pass ``daux = [0.3 * dL_aux1, ...]``
  (``cnnsim.train.losses.network_loss`` does exactly this).
* ``net.parameters()`` lists the heads' parameters too, so an optimizer trains them
  (``include_aux=False`` for the trunk only); ``param_count()`` counts the main network
  only (the deployed model), ``aux_param_count()`` the heads.

``variant="torchvision"`` — torchvision's ``googlenet`` (the one its ImageNet weights are
for). Every convolution is a ``BasicConv2d``: conv without bias, batch norm (eps 0.001),
ReLU; here a ``Sequential`` named as torchvision names it, with leaves ``conv``, ``bn``,
``relu``::

    conv1 (64, 7x7/2, pad 3), maxpool1 (3x3/2, ceil), conv2 (64, 1x1), conv3 (192, 3x3),
    maxpool2, inception3a, inception3b, maxpool3, inception4a .. 4e, maxpool4 (2x2/2, ceil),
    inception5a, inception5b, avgpool (global), dropout (20%), fc (1000, softmax)

    inception: branch1 (1x1) | branch2 (1x1 reduce, 3x3) | branch3 (1x1 reduce, 3x3)
               | branch4 (max pool 3x3/1 pad 1, 1x1 pool_proj), concatenated

Differences from the paper and the lecture: batch norm after every convolution (the paper
predates it), no LRN, ``branch3`` uses a **3x3** kernel where the paper has 5x5
(torchvision's known bug, pytorch/vision#906; its weights were trained that way), max
pools in ``ceil_mode`` (here: one extra row/column of padding at the bottom/right, which
never wins a max), 20% dropout instead of 40%, and no auxiliary heads (torchvision's are
untrained in its published weights; their tensors are skipped when loading).
torchvision's pretrained GoogLeNet sets ``transform_input=True``: it re-normalises an
ImageNet-normalised image to ``(x - 0.5) / 0.5``; the same thing is done here by
preprocessing with mean 0.5 and std 0.5 (``net.preprocess``).

LRN constants: Caffe's GoogLeNet uses ``local_size 5, alpha 1e-4, beta 0.75, k 1``, and
Caffe divides alpha by the window, so ours is ``r = 5, k = 1, alpha = 2e-5, beta = 0.75``.
"""

from __future__ import annotations

from typing import Any, Sequence

from .. import geometry
from .. import layers as L
from . import register
from ._common import Reference, check_choice, check_input_shape, check_width, scaled

#: Szegedy et al. 2014, Table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj
INCEPTION = {
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
CONCAT_DEPTHS = {
    "3a": 256,
    "3b": 480,
    "4a": 512,
    "4b": 512,
    "4c": 512,
    "4d": 528,
    "4e": 832,
    "5a": 832,
    "5b": 1024,
}
LRN: dict[str, Any] = dict(r=5, k=1.0, alpha=2e-5, beta=0.75)
AUX_TAPS = {"aux1": "inception_4a", "aux2": "inception_4d"}
PAPER_PARAMS_K = 6797.7  # the sum of Table 1's "params" column, in thousands
ALEXNET_PAPER_PARAMS = 60_965_224


def inception(name, n1, n3r, n3, n5r, n5, pp):
    """One inception module with the paper's six numbers (every conv with ReLU)."""
    conv = lambda f, k, nm: L.Conv2D(f, k, 1, "same", activation="relu", name=nm)  # noqa: E731
    return L.Concat(
        [
            conv(n1, 1, "1x1"),
            L.Sequential([conv(n3r, 1, "3x3_reduce"), conv(n3, 3, "3x3")], name="3x3"),
            L.Sequential([conv(n5r, 1, "5x5_reduce"), conv(n5, 5, "5x5")], name="5x5"),
            L.Sequential(
                [L.MaxPool2D(3, 1, "same", name="pool"), conv(pp, 1, "pool_proj")], name="pool"
            ),
        ],
        name=name,
    )


class GoogLeNet(L.Model):
    """A ``cnnsim.Model`` whose extra outputs are the auxiliary classifiers (see module)."""

    def __init__(self, inputs, outputs, aux_weight=0.3, seed=0, name=None):
        super().__init__(inputs, outputs, name=name or "googlenet", seed=seed)
        self.aux_weight = float(aux_weight)


def aux_head(name, tap, hw, num_classes, width):
    """Avg pool 5x5/3 VALID (or the whole map when it is smaller than 5x5), conv 128 1x1,
    FC 1024, dropout 70%, FC ``num_classes`` softmax."""
    k, s = (5, 3) if min(hw) >= 5 else (min(hw), 1)
    head = L.Sequential(
        [
            L.AvgPool2D(k, s, "valid", name="pool"),
            L.Conv2D(scaled(128, width), 1, activation="relu", name="conv"),
            L.Flatten(name="flatten"),
            L.Dense(scaled(1024, width), activation="relu", name="fc1"),
            L.Dropout(0.7, name="dropout"),
            L.Dense(num_classes, activation="softmax", name="fc2"),
        ],
        name=name,
    )
    head.layers[-1].emit_logits = True  # softmax fused into the training loss
    head.tap = tap
    return head


def _after(hw, k, s, pad):
    return tuple(geometry.output_size(n, k, s, pad) for n in hw)


@register("googlenet")
def googlenet(
    input_shape: Sequence[int] = (3, 224, 224),
    num_classes: int = 1000,
    width: float = 1.0,
    aux: bool = True,
    seed: int = 0,
    variant: str = "paper",
) -> GoogLeNet:
    """GoogLeNet (Table 1) as a built ``GoogLeNet``; ``aux=False`` leaves out the heads.

    ``width`` scales every map count and the heads' units (not ``num_classes``);
    ``googlenet(width=0.0625, input_shape=(3, 64, 64))`` is a fast toy.
    ``variant="torchvision"``: torchvision's definition (see the module docstring).
    """
    where = "googlenet"
    check_choice(variant, ("paper", "torchvision"), "variant", where)
    if variant == "torchvision":
        return _torchvision(input_shape, num_classes, width, seed)
    width = check_width(width, where)
    input_shape = check_input_shape(input_shape, where)
    m = lambda n: scaled(n, width)  # noqa: E731
    hw = input_shape[1:]
    layers = [
        L.Conv2D(m(64), 7, 2, "same", activation="relu", name="conv1"),
        L.MaxPool2D(3, 2, "same", name="pool1"),
        L.LRN(**LRN, name="norm1"),
        L.Conv2D(m(64), 1, activation="relu", name="conv2_reduce"),
        L.Conv2D(m(192), 3, 1, "same", activation="relu", name="conv2"),
        L.LRN(**LRN, name="norm2"),
        L.MaxPool2D(3, 2, "same", name="pool2"),
    ]
    hw = _after(_after(_after(hw, 7, 2, "same"), 3, 2, "same"), 3, 2, "same")
    heads = {}
    for key, nums in INCEPTION.items():
        layers.append(inception(f"inception_{key}", *(m(n) for n in nums)))
        name = f"inception_{key}"
        for hname, tap in AUX_TAPS.items():
            if tap == name and aux:
                heads[hname] = aux_head(hname, tap, hw, num_classes, width)
        if key in ("3b", "4e"):
            layers.append(L.MaxPool2D(3, 2, "same", name=f"pool{3 if key == '3b' else 4}"))
            hw = _after(hw, 3, 2, "same")
    layers += [
        L.AvgPool2D(hw, 1, "valid", name="pool5"),  # 7x7/1 on a 224x224 input
        L.Flatten(name="flatten"),
        L.Dropout(0.4, name="dropout"),
        L.Dense(num_classes, activation="softmax", name="fc"),
    ]
    x = L.Input(input_shape)
    h, taps = x, {}
    for layer in layers:
        h = layer(h)
        taps[layer.name] = h
    outputs = [h] + [head(taps[head.tap]) for head in heads.values()]
    net = GoogLeNet(x, outputs, seed=seed, name="googlenet")
    if width == 1.0:
        net.reference = _reference(net)
    return net


def _reference(net):
    sizes = {
        "conv1": (64, 112, 112),
        "pool1": (64, 56, 56),
        "conv2": (192, 56, 56),
        "pool2": (192, 28, 28),
        "pool3": (480, 14, 14),
        "pool4": (832, 7, 7),
        "pool5": (1024, 1, 1),
        "fc": (1000,),
    }
    for key, d in CONCAT_DEPTHS.items():
        hw = {"3": 28, "4": 14, "5": 7}[key[0]]
        sizes[f"inception_{key}"] = (d, hw, hw)
    total = net.param_count()
    ref = Reference(source="Szegedy et al. 2014, Table 1", input_shape=(3, 224, 224), layers=sizes)
    ref.remarks = [
        f"{total:,} parameters without the auxiliary heads (weights and biases); the paper's "
        f"Table 1 column sums to about {PAPER_PARAMS_K / 1000:.1f} M (rounded, and it lists "
        f"conv1 as 2.7K where 7x7x3x64 = 9,408 weights).",
        f"AlexNet (paper) has {ALEXNET_PAPER_PARAMS:,}: {ALEXNET_PAPER_PARAMS / total:.1f} times "
        f'more (the lecture\'s "10 times fewer").',
    ]
    if net.aux_heads:
        modules = [l.path for l in net.walk() if isinstance(l, L.Concat)]
        ordinal = lambda k: (
            f"{k}{'th' if 10 <= k % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(k % 10, 'th')}"
        )  # noqa: E731
        where = ", ".join(
            f"{k} on {h.tap}"
            + (
                f" (the {ordinal(modules.index(h.tap) + 1)} of "
                f"the {len(modules)} inception modules)"
                if h.tap in modules
                else ""
            )
            for k, h in net.aux_heads.items()
        )
        ref.remarks.append(
            f"Auxiliary heads {where}: "
            f"{net.aux_param_count():,} more parameters, training only (loss weight "
            f"{net.aux_weight:g}), not counted in the total."
        )
    ref.remarks.append(
        "LRN: Caffe's local_size 5, alpha 1e-4 (divided by the window), beta "
        "0.75, k 1 -> r = 5, k = 1, alpha = 2e-5, beta = 0.75."
    )
    return ref


def basic_conv(maps, kernel, padding, name, stride=1):
    """torchvision's ``BasicConv2d``: ``conv`` (no bias), ``bn`` (eps 0.001), ``relu``."""
    return L.Sequential(
        [
            L.Conv2D(maps, kernel, stride, padding, use_bias=False, name="conv"),
            L.BatchNorm(eps=1e-3, name="bn"),
            L.ReLU("relu"),
        ],
        name=name,
    )


def _ceil_pool(size, stride, hw, name):
    """``MaxPool2d(size, stride, ceil_mode=True)`` as floor-mode pooling with extra
    bottom/right padding (``geometry.ceil_mode_pads``)."""
    (t, b), (l, r) = (geometry.ceil_mode_pads(n, size, stride) for n in hw)
    pool = L.MaxPool2D(size, stride, (t, b, l, r), name=name)
    return pool, _after_pads(hw, size, stride, (t, b, l, r))


def _after_pads(hw, k, s, pads):
    t, b, l, r = pads
    return (geometry.output_size(hw[0], k, s, (t, b)), geometry.output_size(hw[1], k, s, (l, r)))


def tv_inception(name, n1, n3r, n3, n5r, n5, pp):
    """torchvision's ``Inception`` block (branch3's second conv is 3x3, see module)."""
    return L.Concat(
        [
            basic_conv(n1, 1, 0, "branch1"),
            L.Sequential(
                [basic_conv(n3r, 1, 0, "3x3_reduce"), basic_conv(n3, 3, 1, "3x3")], name="branch2"
            ),
            L.Sequential(
                [basic_conv(n5r, 1, 0, "3x3_reduce"), basic_conv(n5, 3, 1, "3x3")], name="branch3"
            ),
            L.Sequential(
                [L.MaxPool2D(3, 1, 1, name="pool"), basic_conv(pp, 1, 0, "pool_proj")],
                name="branch4",
            ),
        ],
        name=name,
    )


def _torchvision(input_shape, num_classes, width, seed):
    where = "googlenet(variant='torchvision')"
    width = check_width(width, where)
    input_shape = check_input_shape(input_shape, where)
    m = lambda n: scaled(n, width)  # noqa: E731
    hw = _after(input_shape[1:], 7, 2, 3)
    layers = [basic_conv(m(64), 7, 3, "conv1", stride=2)]
    pool, hw = _ceil_pool(3, 2, hw, "maxpool1")
    layers += [pool, basic_conv(m(64), 1, 0, "conv2"), basic_conv(m(192), 3, 1, "conv3")]
    pool, hw = _ceil_pool(3, 2, hw, "maxpool2")
    layers.append(pool)
    for key, nums in INCEPTION.items():
        layers.append(tv_inception(f"inception{key}", *(m(n) for n in nums)))
        if key in ("3b", "4e"):
            k = 3 if key == "3b" else 2
            pool, hw = _ceil_pool(k, 2, hw, f"maxpool{3 if key == '3b' else 4}")
            layers.append(pool)
    layers += [
        L.GlobalAvgPool(name="avgpool"),
        L.Dropout(0.2, name="dropout"),
        L.Dense(num_classes, activation="softmax", name="fc"),
    ]
    net = L.Sequential(layers, input_shape=input_shape, seed=seed, name="googlenet-torchvision")
    from .alexnet import IMAGENET_PREPROCESS

    net.preprocess = dict(IMAGENET_PREPROCESS, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    net.preprocess_note = (
        "mean 0.5, std 0.5: torchvision's transform_input=True of its "
        "pretrained GoogLeNet, applied as preprocessing"
    )
    return net
