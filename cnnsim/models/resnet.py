"""ResNet-18 and ResNet-34 (He, Zhang, Ren, Sun 2015, "Deep residual learning", Table 1).

Input 3@224x224::

    conv1   conv 64, 7x7/2, pad 3, no bias; bn1; relu1      -> 64@112x112
    pool1   max pool 3x3/2, pad 1                             -> 64@56x56
    conv2_1 .. conv2_k   residual units of 64 maps            -> 56x56
    conv3_1 .. conv3_k   128 maps (conv3_1 has stride 2)      -> 28x28
    conv4_1 .. conv4_k   256 maps                             -> 14x14
    conv5_1 .. conv5_k   512 maps                             -> 7x7
    pool5   global average pool                               -> 512
    fc      dense num_classes, softmax

with k = [2, 2, 2, 2] (ResNet-18) or [3, 4, 6, 3] (ResNet-34). A residual unit (the
paper's "basic block") is ``y = relu(main(x) + shortcut(x))`` with::

    main      conv_a (3x3, stride s, pad 1, no bias), bn_a, relu_a, conv_b (3x3, pad 1), bn_b
    shortcut  identity, or, when the shape changes (stride 2 or new depth), the projection
              conv (1x1, stride s, no bias), bn  (the paper's option B)

Convolutions have no bias (batch norm's beta plays its role), as in the reference
implementations; parameters: ResNet-18 11,689,512, ResNet-34 21,797,672 (batch norm's
gamma and beta are parameters; its running mean and variance are buffers).
"""

from __future__ import annotations

from typing import Sequence

from .. import layers as L
from . import register
from ._common import Reference, check_input_shape, check_width, scaled

STAGES = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}
EXPECTED_PARAMS = {18: 11_689_512, 34: 21_797_672}


def conv_bn(maps, kernel, stride, padding, suffix):
    """``conv_<suffix>`` (no bias, He init) then ``bn_<suffix>``."""
    return [
        L.Conv2D(maps, kernel, stride, padding, use_bias=False, init="he", name=f"conv_{suffix}"),
        L.BatchNorm(name=f"bn_{suffix}"),
    ]


def projection_shortcut(in_maps, maps, stride):
    """The shortcut of a residual unit (He et al. 2015, option B): ``None`` (identity)
    where the shape is kept, else a 1x1 conv of ``stride`` (no bias, He init) and batch
    norm, named ``shortcut`` (``conv``, ``bn``), mapping ``in_maps`` to ``maps``."""
    if stride == 1 and in_maps == maps:
        return None
    return L.Sequential(
        [
            L.Conv2D(maps, 1, stride, "valid", use_bias=False, init="he", name="conv"),
            L.BatchNorm(name="bn"),
        ],
        name="shortcut",
    )


def basic_unit(name, in_maps, maps, stride=1, residual=True):
    """The two-layer unit. ``residual=False`` gives the *plain* twin (same layers, no
    shortcut): ``Sequential(main, relu)`` with the same leaf names as the residual unit."""
    main = L.Sequential(
        conv_bn(maps, 3, stride, 1, "a") + [L.ReLU("relu_a")] + conv_bn(maps, 3, 1, 1, "b"),
        name="main",
    )
    if not residual:
        return L.Sequential([main, L.ReLU("relu")], name=name)
    return L.ResidualUnit(
        main, projection_shortcut(in_maps, maps, stride), activation="relu", name=name
    )


def resnet(
    depth: int = 18,
    input_shape: Sequence[int] = (3, 224, 224),
    num_classes: int = 1000,
    width: float = 1.0,
    seed: int = 0,
) -> L.Sequential:
    """ResNet-18 or -34 (basic blocks) as a built ``Sequential``."""
    where = f"resnet{depth}"
    if depth not in STAGES:
        raise ValueError(f"resnet: depth must be one of {sorted(STAGES)}, got {depth!r}")
    width = check_width(width, where)
    input_shape = check_input_shape(input_shape, where)
    m = lambda n: scaled(n, width)  # noqa: E731
    layers = [
        L.Conv2D(m(64), 7, 2, 3, use_bias=False, init="he", name="conv1"),
        L.BatchNorm(name="bn1"),
        L.ReLU("relu1"),
        L.MaxPool2D(3, 2, 1, name="pool1"),
    ]
    in_maps = m(64)
    for stage, (units, maps) in enumerate(zip(STAGES[depth], (64, 128, 256, 512)), start=2):
        for u in range(1, units + 1):
            stride = 2 if (u == 1 and stage > 2) else 1
            layers.append(basic_unit(f"conv{stage}_{u}", in_maps, m(maps), stride))
            in_maps = m(maps)
    layers += [L.GlobalAvgPool(name="pool5"), L.Dense(num_classes, activation="softmax", name="fc")]
    net = L.Sequential(layers, input_shape=input_shape, seed=seed, name=f"resnet{depth}")
    if width == 1.0:
        sizes = {"conv1": (64, 112, 112), "pool1": (64, 56, 56), "pool5": (512,), "fc": (1000,)}
        for stage, (units, maps, hw) in enumerate(
            zip(STAGES[depth], (64, 128, 256, 512), (56, 28, 14, 7)), start=2
        ):
            for u in range(1, units + 1):
                sizes[f"conv{stage}_{u}"] = (maps, hw, hw)
        net.reference = Reference(
            source="He et al. 2015, Table 1",
            input_shape=(3, 224, 224),
            layers=sizes,
            total_params=EXPECTED_PARAMS[depth],
            total_hint="the reference count is for 1000 classes (torchvision's resnet%d)." % depth,
            remarks=[
                "Projection shortcuts (1x1 conv + batch norm, option B) where the shape "
                "changes, identity elsewhere; convolutions without bias; batch norm's "
                "running statistics are buffers, not parameters."
            ],
        )
    return net


@register("resnet18")
def resnet18(
    input_shape: Sequence[int] = (3, 224, 224),
    num_classes: int = 1000,
    width: float = 1.0,
    seed: int = 0,
) -> L.Sequential:
    """ResNet-18: units [2, 2, 2, 2], 11,689,512 parameters."""
    return resnet(18, input_shape, num_classes, width, seed)


@register("resnet34")
def resnet34(
    input_shape: Sequence[int] = (3, 224, 224),
    num_classes: int = 1000,
    width: float = 1.0,
    seed: int = 0,
) -> L.Sequential:
    """ResNet-34: units [3, 4, 6, 3], 21,797,672 parameters."""
    return resnet(34, input_shape, num_classes, width, seed)
