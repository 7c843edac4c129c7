"""Plain and residual stacks for the vanishing-gradient and degradation experiments.

``resnet_cifar(n)`` / ``plain_cifar(n)`` — He et al. 2015, sec. 4.2: ``6n + 2`` weight
layers on 3@32x32::

    conv1    conv 16, 3x3, pad 1, no bias; bn1; relu1
    stage1_1 .. stage1_n   units of 16 maps (32x32)
    stage2_1 .. stage2_n   32 maps, stage2_1 has stride 2 (16x16)
    stage3_1 .. stage3_n   64 maps, stage3_1 has stride 2 (8x8)
    pool     global average pool; fc  dense num_classes, softmax

Each unit is two 3x3 conv + batch norm layers (``cnnsim.models.resnet.basic_unit``). The
residual form adds the shortcut; where the shape changes (stage2_1, stage3_1) it is a 1x1
projection (conv + bn, **option B**; the paper's CIFAR nets use option A, identity with
zero-padded extra maps, so our ResNet-20 has 2,752 parameters more than its 0.27 M).
The plain form has exactly the same leaves and names, without shortcuts
(``stage1_1/main/conv_a`` in both).

``tower(depth, activation, residual)`` — the lecture's demonstration: ``depth`` 3x3 SAME
convolutions of ``width`` maps, named ``conv1 .. conv<depth>``, each followed by
``activation`` (fused into the conv, or a separate ``act<k>`` after ``bn<k>`` when
``batchnorm=True``), then ``pool`` (global average) and ``out`` (dense softmax). With
``residual=True`` the layers after conv1 are grouped in pairs into residual units
``res1, res2, ...``: ``y = act(conv_{k+1}(act(conv_k(x))) + x)`` (identity shortcuts; an odd
last conv stays plain). ``[l for l in net.leaves() if isinstance(l, L.Conv2D)]`` lists
conv1..conv<depth> in order, in both forms.
"""

from __future__ import annotations

from typing import Optional, Sequence

from .. import layers as L
from ..layers.initializers import DEFAULT_FOR_ACTIVATION
from . import register
from ._common import check_input_shape, check_width, scaled
from .resnet import basic_unit, conv_bn, projection_shortcut


def _check_n(n, where):
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{where}: n must be a positive int (depth 6n + 2), got {n!r}")


def _cifar_net(where, units, make_unit, input_shape, num_classes, width, seed, name):
    """The CIFAR layout (He et al. 2015, sec. 4.2): conv1 (16 maps, 3x3) + bn + ReLU, three
    stages of 16, 32, 64 maps (times ``width``) of ``units`` units each, built by
    ``make_unit(name, in_maps, maps, stride)`` (stride 2 at the first unit of stages 2 and
    3), global average pooling, a softmax ``fc``."""
    width = check_width(width, where)
    input_shape = check_input_shape(input_shape, where)
    m = lambda k: scaled(k, width)  # noqa: E731
    layers = [
        L.Conv2D(m(16), 3, 1, 1, use_bias=False, init="he", name="conv1"),
        L.BatchNorm(name="bn1"),
        L.ReLU("relu1"),
    ]
    in_maps = m(16)
    for stage, maps in enumerate((16, 32, 64), start=1):
        for u in range(1, units + 1):
            stride = 2 if (u == 1 and stage > 1) else 1
            layers.append(make_unit(f"stage{stage}_{u}", in_maps, m(maps), stride))
            in_maps = m(maps)
    layers += [L.GlobalAvgPool(name="pool"), L.Dense(num_classes, activation="softmax", name="fc")]
    return L.Sequential(layers, input_shape=input_shape, seed=seed, name=name)


def _cifar(n, residual, input_shape, num_classes, width, seed, where):
    _check_n(n, where)
    return _cifar_net(
        where,
        n,
        lambda name, in_maps, maps, stride: basic_unit(name, in_maps, maps, stride, residual),
        input_shape,
        num_classes,
        width,
        seed,
        f"{'resnet' if residual else 'plain'}{6 * n + 2}",
    )


@register("resnet_cifar")
def resnet_cifar(
    n: int = 3,
    input_shape: Sequence[int] = (3, 32, 32),
    num_classes: int = 10,
    width: float = 1.0,
    residual: bool = True,
    seed: int = 0,
) -> L.Sequential:
    """CIFAR ResNet with ``6n + 2`` layers (n=3: ResNet-20, n=9: ResNet-56); projection
    shortcuts (option B) where the shape changes; ``residual=False`` is ``plain_cifar``."""
    return _cifar(n, residual, input_shape, num_classes, width, seed, "resnet_cifar")


@register("plain_cifar")
def plain_cifar(
    n: int = 3,
    input_shape: Sequence[int] = (3, 32, 32),
    num_classes: int = 10,
    width: float = 1.0,
    seed: int = 0,
) -> L.Sequential:
    """The plain twin of ``resnet_cifar(n)``: the same ``6n + 2`` layers, no shortcuts."""
    return _cifar(n, False, input_shape, num_classes, width, seed, "plain_cifar")


def _span_unit(name, in_maps, maps, stride, span):
    """``span`` conv+bn layers (ReLU between them) with a shortcut over all of them, then the
    add and a ReLU (the 2015 unit); ``span=0``: one conv+bn+ReLU layer, no shortcut."""
    if span == 0:
        return L.Sequential(conv_bn(maps, 3, stride, 1, "a") + [L.ReLU("relu")], name=name)
    layers = []
    for k in range(span):
        layers += conv_bn(maps, 3, stride if k == 0 else 1, 1, "abcdefgh"[k])
        if k < span - 1:
            layers.append(L.ReLU(f"relu_{'abcdefgh'[k]}"))
    shortcut = projection_shortcut(in_maps, maps, stride)
    return L.ResidualUnit(L.Sequential(layers, name="main"), shortcut, activation="relu", name=name)


@register("skip_cifar")
def skip_cifar(n=3, span=2, input_shape=(3, 32, 32), num_classes=10, width=1.0, seed=0):
    """The ``6n + 2``-layer CIFAR network with skip connections over ``span`` layers:
    ``span=2`` is ``resnet_cifar(n)``'s layout (two conv+bn layers per unit), ``span=1`` a
    shortcut around every single conv+bn layer, ``span=0`` no shortcuts (plain). Every
    stage has ``2n`` conv+bn+ReLU layers grouped into units ``stage<s>_<u>`` of ``span``
    layers (``span`` must divide ``2n``); projection shortcuts (1x1 conv + bn, option B)
    where the shape changes. The slide's claim "skipping a single layer didn't give much
    improvement" is ``cnnsim experiment skip-span``."""
    where = "skip_cifar"
    _check_n(n, where)
    if isinstance(span, bool) or not isinstance(span, int) or span < 0 or (span and (2 * n) % span):
        raise ValueError(
            f"{where}: span must be 0 (plain) or a divisor of 2n = {2 * n} "
            f"(layers per stage), got {span!r}"
        )
    return _cifar_net(
        where,
        2 * n // (span or 1),
        lambda name, in_maps, maps, stride: _span_unit(name, in_maps, maps, stride, span),
        input_shape,
        num_classes,
        width,
        seed,
        f"skip{span}_{6 * n + 2}",
    )


@register("tower")
def tower(
    depth: int = 10,
    activation: str = "sigmoid",
    residual: bool = False,
    width: int = 8,
    input_shape: Sequence[int] = (1, 28, 28),
    num_classes: int = 10,
    kernel_size: int = 3,
    batchnorm: bool = False,
    init: Optional[str] = None,
    unit: str = "pre",
    seed: int = 0,
) -> L.Sequential:
    """``depth`` conv layers ``conv1..conv<depth>`` (``width`` maps, 3x3 SAME, stride 1) with
    ``activation``, plain or residual (units over two layers), then ``pool`` and ``out``.

    ``unit`` picks the residual unit (both over two conv layers, identity shortcuts):

    * ``"pre"`` (default; He et al. 2016, *Identity mappings*): ``y = x + conv(act(conv(act(x))))``,
      nothing after the addition, so the shortcut carries the gradient back unchanged.
    * ``"post"`` (He et al. 2015): ``y = act(conv(act(conv(x))) + x)``. With ReLU the
      activation after the addition passes the gradient where units are active; with sigmoid
      it multiplies every unit's shortcut gradient by sigmoid' <= 1/4 as well, so the skip
      connections cannot stop the gradient from vanishing (measured: ``cnnsim gradflow``).

    Both residual forms compute, without their shortcuts, exactly the plain tower: every conv
    followed by one activation.

    ``init`` overrides the initializer of every conv ("lecun", "glorot", "he", "normal:STD";
    default: the one suited to ``activation``), e.g. to show sigmoid + glorot vanishing and
    relu + he not.
    """
    where = "tower"
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ValueError(f"{where}: depth must be a positive int, got {depth!r}")
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"{where}: width (maps per layer) must be a positive int, got {width!r}")
    input_shape = check_input_shape(input_shape, where)
    from .. import functional as F

    if activation not in F.ACTIVATIONS or activation == "softmax":
        raise ValueError(
            f"{where}: unknown activation {activation!r}; expected one of "
            f"{', '.join(a for a in F.ACTIVATIONS if a != 'softmax')}"
        )

    def conv(k, act):
        """conv<k> with ``act`` (None: no activation); with batchnorm: conv, bn, act."""
        # Every conv gets the tower's initializer, also the residual units' convs that
        # carry no activation of their own: their output still feeds ``activation``.
        scheme = init or DEFAULT_FOR_ACTIVATION.get(activation, "glorot")
        if not batchnorm:
            return [
                L.Conv2D(
                    width, kernel_size, 1, "same", activation=act, init=scheme, name=f"conv{k}"
                )
            ]
        out = [
            L.Conv2D(width, kernel_size, 1, "same", use_bias=False, init=scheme, name=f"conv{k}"),
            L.BatchNorm(name=f"bn{k}"),
        ]
        return out + ([L.Activation(act, name=f"act{k}")] if act else [])

    if unit not in ("pre", "post"):
        raise ValueError(f"{where}: unit must be 'pre' or 'post', got {unit!r}")
    if residual and unit == "pre":
        layers = _pre_activation_stack(depth, activation, conv)
    else:
        layers = conv(1, activation)
        k, u = 2, 1
        while k <= depth:
            if residual and k + 1 <= depth:
                main = L.Sequential(conv(k, activation) + conv(k + 1, None), name="main")
                layers.append(L.ResidualUnit(main, None, activation=activation, name=f"res{u}"))
                k, u = k + 2, u + 1
            else:
                layers += conv(k, activation)
                k += 1
    layers += [L.GlobalAvgPool(name="pool"), L.Dense(num_classes, activation="softmax", name="out")]
    return L.Sequential(
        layers,
        input_shape=input_shape,
        seed=seed,
        name=f"{'residual' if residual else 'plain'}_tower{depth}",
    )


def _pre_activation_stack(depth, activation, conv):
    """conv1, then units ``res<u>`` = [act<k-1>, conv<k>, act<k>, conv<k+1>] + identity, with
    no activation after the addition; a last odd conv stays outside; then act<depth>."""
    act = lambda k: L.Activation(activation, name=f"act{k}")  # noqa: E731
    bare = lambda k: [l for l in conv(k, None) if not isinstance(l, L.Activation)]  # noqa: E731
    layers = bare(1)
    k, u = 2, 1
    while k <= depth:
        if k + 1 <= depth:
            main = L.Sequential([act(k - 1)] + bare(k) + [act(k)] + bare(k + 1), name="main")
            layers.append(L.ResidualUnit(main, None, activation=None, name=f"res{u}"))
            k, u = k + 2, u + 1
        else:
            layers += [act(k - 1)] + bare(k)
            k += 1
    return layers + [act(depth)]
