"""AlexNet (Krizhevsky, Sutskever, Hinton 2012), two ways.

``variant="lecture"`` — the lecture's table (Géron 2017, Table 14-2), input 3@224x224::

    C1  conv 96, 11x11, stride 4, SAME, ReLU   -> 96@56x56 (the table says 55x55, see notes)
        LRN (C1_lrn)
    S2  max pool 3x3, stride 2, VALID           -> 96@27x27
    C3  conv 256, 5x5, SAME, ReLU               -> 256@27x27
        LRN (C3_lrn)
    S4  max pool 3x3, stride 2, VALID           -> 256@13x13
    C5  conv 384, 3x3, SAME, ReLU ; C6 conv 384 ; C7 conv 256   -> 13x13
    F8  dense 4096, ReLU, dropout 50% (F8_dropout)
    F9  dense 4096, ReLU, dropout 50% (F9_dropout)
    Out dense 1000, softmax

  The table has no pooling between C7 and F8, so F8 reads 13*13*256 = 43,264 inputs
  (177 M weights); the summary says so.

``variant="paper"`` — the 2012 paper, input 3@227x227 (the paper's "224" is a known erratum:
``(227 - 11) / 4 + 1 = 55``): the same convolutions, with C3, C6 and C7 split over the two
GPUs (``groups=2``: each filter reads half of the previous maps), a max pool S8 (3x3/2)
after the fifth convolution, then F9, F10 (4096, dropout 50%) and Out::

    C1 34,944 + C3 307,456 + C5 885,120 + C6 663,936 + C7 442,624
    + F9 37,752,832 + F10 16,781,312 + Out 4,097,000 = 60,965,224 parameters

``variant="torchvision"`` — torchvision's ``alexnet`` (the one its ImageNet weights are for;
it follows Krizhevsky's later "One weird trick" paper, 2014, not the 2012 one), input
3@224x224, every convolution with ReLU::

    C1  conv 64, 11x11, stride 4, pad 2         -> 64@55x55
    S2  max pool 3x3, stride 2                  -> 64@27x27
    C3  conv 192, 5x5, pad 2                    -> 192@27x27
    S4  max pool 3x3, stride 2                  -> 192@13x13
    C5  conv 384, 3x3, pad 1 ; C6 conv 256 ; C7 conv 256   -> 13x13
    S8  max pool 3x3, stride 2                  -> 256@6x6
    F9_dropout, F9 dense 4096 ReLU, F10_dropout, F10 dense 4096 ReLU, Out dense 1000

  Differences from the paper and the lecture: 64/192/384/256/256 maps instead of
  96/256/384/384/256, no LRN, no two-GPU groups, dropout *before* each hidden dense layer,
  61,100,840 parameters. torchvision's ``AdaptiveAvgPool2d((6, 6))`` between S8 and the
  dense layers is the identity on the 6x6 maps a 223..226 px input gives, so it is left out
  there (an ``avgpool`` layer appears when S8's maps are a multiple of 6, e.g. 12x12; other
  sizes are refused). torchvision's last layer gives logits; ours ends in softmax (the same
  ranking, and ``Out``'s pre-activation is the logits).

LRN constants: ours is ``b_i = a_i (k + alpha sum_{|j-i| <= r//2} a_j^2)^-beta``.
Géron's ``tf.nn.local_response_normalization(depth_radius=2, bias=1, alpha=0.00002,
beta=0.75)`` is ``r = 2*2 + 1 = 5, k = 1, alpha = 0.00002, beta = 0.75`` (TensorFlow does not
divide alpha by the window); the paper's ``k = 2, n = 5, alpha = 1e-4, beta = 0.75`` is
``r = 5, k = 2, alpha = 1e-4`` (nor does the paper). PyTorch's ``LocalResponseNorm(size=5,
alpha=5 * alpha, beta, k)`` is the same function (PyTorch divides alpha by ``size``).
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from .. import layers as L
from . import register
from ._common import Reference, check_choice, check_input_shape, check_width, scaled

#: torchvision's ImageNet preprocessing (``transforms.Resize(256)``, ``CenterCrop(224)``,
#: ``Normalize(mean, std)`` on RGB in [0, 1])
IMAGENET_PREPROCESS = dict(
    resize=256, crop=224, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)
)
LECTURE_LRN: dict[str, Any] = dict(r=5, k=1.0, alpha=0.00002, beta=0.75)
PAPER_LRN: dict[str, Any] = dict(r=5, k=2.0, alpha=1e-4, beta=0.75)


@register("alexnet")
def alexnet(
    variant: str = "lecture",
    input_shape: Optional[Sequence[int]] = None,
    num_classes: int = 1000,
    width: float = 1.0,
    dropout: float = 0.5,
    seed: int = 0,
) -> L.Sequential:
    """AlexNet as a built ``Sequential``; ``width`` scales every map and unit count
    (``alexnet(width=0.125, input_shape=(3, 67, 67))`` is a fast toy)."""
    where = "alexnet"
    check_choice(variant, ("lecture", "paper", "torchvision"), "variant", where)
    width = check_width(width, where)
    if variant == "torchvision":
        return _torchvision(input_shape, num_classes, width, dropout, seed)
    paper = variant == "paper"
    input_shape = check_input_shape(
        input_shape or ((3, 227, 227) if paper else (3, 224, 224)), where
    )
    g = 2 if paper else 1  # the paper's two GPUs
    m = lambda n: scaled(n, width, g)  # noqa: E731
    lrn = PAPER_LRN if paper else LECTURE_LRN
    pad = "same"
    layers = [
        L.Conv2D(m(96), 11, 4, "valid" if paper else "same", activation="relu", name="C1"),
        L.LRN(**lrn, name="C1_lrn"),
        L.MaxPool2D(3, 2, "valid", name="S2"),
        L.Conv2D(m(256), 5, 1, pad, activation="relu", groups=g, name="C3"),
        L.LRN(**lrn, name="C3_lrn"),
        L.MaxPool2D(3, 2, "valid", name="S4"),
        L.Conv2D(m(384), 3, 1, pad, activation="relu", name="C5"),
        L.Conv2D(m(384), 3, 1, pad, activation="relu", groups=g, name="C6"),
        L.Conv2D(m(256), 3, 1, pad, activation="relu", groups=g, name="C7"),
    ]
    fc = ("F9", "F10") if paper else ("F8", "F9")
    if paper:
        layers.append(L.MaxPool2D(3, 2, "valid", name="S8"))
    layers.append(L.Flatten(name="flatten"))
    for name in fc:
        layers += [
            L.Dense(scaled(4096, width), activation="relu", name=name),
            L.Dropout(dropout, name=f"{name}_dropout"),
        ]
    layers.append(L.Dense(num_classes, activation="softmax", name="Out"))
    net = L.Sequential(layers, input_shape=input_shape, seed=seed, name=f"alexnet-{variant}")
    if width == 1.0:
        net.reference = _paper_reference(net) if paper else _lecture_reference(net)
    return net


def _torchvision(input_shape, num_classes, width, dropout, seed):
    """torchvision's AlexNet (see the module docstring)."""
    where = "alexnet(variant='torchvision')"
    input_shape = check_input_shape(input_shape or (3, 224, 224), where)
    m = lambda n: scaled(n, width)  # noqa: E731
    layers = [
        L.Conv2D(m(64), 11, 4, 2, activation="relu", name="C1"),
        L.MaxPool2D(3, 2, "valid", name="S2"),
        L.Conv2D(m(192), 5, 1, 2, activation="relu", name="C3"),
        L.MaxPool2D(3, 2, "valid", name="S4"),
        L.Conv2D(m(384), 3, 1, 1, activation="relu", name="C5"),
        L.Conv2D(m(256), 3, 1, 1, activation="relu", name="C6"),
        L.Conv2D(m(256), 3, 1, 1, activation="relu", name="C7"),
        L.MaxPool2D(3, 2, "valid", name="S8"),
    ]
    hw = L.Sequential(list(layers), input_shape=input_shape, name="probe").output_shape[1:]
    if hw != (6, 6):
        if hw[0] % 6 or hw[1] % 6:
            raise ValueError(
                f"{where}: input_shape {input_shape} gives {hw[0]}x{hw[1]} maps "
                f"after S8; torchvision's adaptive average pool to 6x6 is "
                f"reproduced only for multiples of 6 (a 224x224 input gives 6x6)"
            )
        layers.append(L.AvgPool2D((hw[0] // 6, hw[1] // 6), name="avgpool"))
    layers.append(L.Flatten(name="flatten"))
    for name in ("F9", "F10"):
        layers += [
            L.Dropout(dropout, name=f"{name}_dropout"),
            L.Dense(m(4096), activation="relu", name=name),
        ]
    layers.append(L.Dense(num_classes, activation="softmax", name="Out"))
    net = L.Sequential(layers, input_shape=input_shape, seed=seed, name="alexnet-torchvision")
    net.preprocess = dict(IMAGENET_PREPROCESS)
    if width == 1.0 and input_shape == (3, 224, 224):
        net.reference = Reference(
            source="torchvision.models.alexnet",
            input_shape=(3, 224, 224),
            layers={
                "C1": (64, 55, 55),
                "S2": (64, 27, 27),
                "C3": (192, 27, 27),
                "S4": (192, 13, 13),
                "C5": (384, 13, 13),
                "C6": (256, 13, 13),
                "C7": (256, 13, 13),
                "S8": (256, 6, 6),
                "F9": (4096,),
                "F10": (4096,),
                "Out": (1000,),
            },
            total_params=61_100_840 if num_classes == 1000 else None,
            remarks=[
                'torchvision\'s AlexNet (Krizhevsky 2014, "One weird trick"): 64, 192, '
                "384, 256, 256 maps, no LRN, no two-GPU groups; dropout 50% before F9 "
                "and F10 (training only).",
                "Its AdaptiveAvgPool2d((6, 6)) is the identity on S8's 6x6 maps and is left out.",
            ],
        )
    return net


def _lrn_remark(lrn, paper):
    src = (
        "the paper's k=2, n=5, alpha=1e-4, beta=0.75"
        if paper
        else "Géron's depth_radius=2, bias=1, alpha=0.00002, beta=0.75 (TensorFlow)"
    )
    return (
        f"LRN after C1 and C3: {src} -> r = {lrn['r']} (r//2 = {lrn['r'] // 2}), "
        f"k = {lrn['k']:g}, alpha = {lrn['alpha']:g}, beta = {lrn['beta']:g}; alpha is not "
        f"divided by the window (PyTorch's LocalResponseNorm would take "
        f"alpha = {lrn['alpha'] * lrn['r']:g})."
    )


def _lecture_reference(net):
    ref = Reference(
        source="the lecture's table (Géron 2017, Table 14-2)",
        input_shape=(3, 224, 224),
        layers={
            "C1": (96, 55, 55),
            "S2": (96, 27, 27),
            "C3": (256, 27, 27),
            "S4": (256, 13, 13),
            "C5": (384, 13, 13),
            "C6": (384, 13, 13),
            "C7": (256, 13, 13),
            "F8": (4096,),
            "F9": (4096,),
            "Out": (1000,),
        },
        hints={
            "C1": "the paper's 55 comes from a 227x227 input with VALID padding: "
            "(227 - 11) / 4 + 1 = 55 (see --variant paper)."
        },
    )
    f8 = net.find("F8")
    ref.remarks = [_lrn_remark(LECTURE_LRN, False)]
    if f8.input_shape[0] != 6 * 6 * 256:
        c7 = net.find("C7").output_shape
        ref.remarks.append(
            f"The table has no pooling after C7, so F8 reads {c7[0]}x{c7[1]}x{c7[2]} = "
            f"{f8.input_shape[0]:,} inputs and holds {f8.param_count():,} parameters; the "
            f"paper pools to 6x6x256 = 9,216 inputs first (60,965,224 parameters in all)."
        )
    ref.remarks.append("Dropout 50% on the outputs of F8 and F9 (training only).")
    return ref


def _paper_reference(net):
    return Reference(
        source="Krizhevsky et al. 2012",
        input_shape=(3, 227, 227),
        layers={
            "C1": (96, 55, 55),
            "S2": (96, 27, 27),
            "C3": (256, 27, 27),
            "S4": (256, 13, 13),
            "C5": (384, 13, 13),
            "C6": (384, 13, 13),
            "C7": (256, 13, 13),
            "S8": (256, 6, 6),
            "F9": (4096,),
            "F10": (4096,),
            "Out": (1000,),
        },
        total_params=60_965_224,
        total_hint="the paper's count is for 1000 classes on a 227x227 input.",
        remarks=[
            "Two-GPU split: C3, C6 and C7 are grouped convolutions (groups=2: each filter reads "
            "half of the previous layer's maps); C5 and the dense layers read everything.",
            "The paper writes 224x224, but 11x11 stride 4 gives 55x55 only from 227x227: "
            "(227 - 11) / 4 + 1 = 55.",
            _lrn_remark(PAPER_LRN, True),
            "Dropout 50% on the outputs of F9 and F10 (training only).",
        ],
    )
