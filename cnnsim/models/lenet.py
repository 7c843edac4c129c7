"""LeNet-5 (LeCun, Bottou, Bengio, Haffner 1998, "Gradient-based learning applied to
document recognition", sec. II-B), as in the lecture's table (Géron 2017, Table 14-1).

``variant="paper"`` (default), input 1@32x32 (MNIST's 28x28 zero-padded by 2)::

    C1  conv 6@28x28, 5x5, scaled tanh                     6 * (25 + 1)        =    156
    S2  subsampling 6@14x14 (coef + bias per map), tanh    6 * 2               =     12
    C3  conv 16@10x10, 5x5, partial table (Table I)        60 * 25 + 16        =  1,516
    S4  subsampling 16@5x5                                 16 * 2              =     32
    C5  conv 120@1x1, 5x5 (full)                           120 * (16*25 + 1)   = 48,120
    F6  dense 84, scaled tanh 1.7159 tanh(2x/3)            84 * (120 + 1)      = 10,164
    Out RBF 10, y_k = sum_j (x_j - w_kj)^2                 (84 * 10 = 840 fixed weights)
                                                                        total  = 60,000

The paper's "60,000 trainable free parameters" is exactly C1..F6: the RBF prototypes are
hand-chosen +-1 bitmaps "kept fixed", so they are buffers here (``rbf_trainable=True``
makes them parameters: 60,840). ``output="softmax"`` replaces the RBF by a dense softmax
layer (84 * 10 + 10 = 850, total 60,850).

C3's connection table (Table I): map ``j`` reads S2 maps
``{j, j+1, j+2} mod 6`` for j = 0..5, ``{j, .., j+3} mod 6`` for j = 6..11 (4 contiguous),
``{0,1,3,4}``, ``{1,2,4,5}``, ``{0,2,3,5}`` for j = 12..14 (4 non-contiguous), all six for 15:
60 (map, map) connections instead of 96.

``variant="modern"``: full C3, plain average pooling (no parameters), ``activation``
(default tanh) everywhere, softmax output: 156 + 2,416 + 48,120 + 10,164 + 850 = 61,706.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from .. import layers as L
from . import register
from ._common import Reference, check_choice, check_input_shape

#: LeCun et al. 1998, Table I: rows = S2 maps 0..5, columns = C3 maps 0..15
_NONCONTIGUOUS = ((0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5))


def c3_table():
    """The (16, 6) bool table of LeNet-5's C3: ``table[f, c]`` = C3 map f reads S2 map c."""
    t = np.zeros((16, 6), dtype=bool)
    for j in range(6):
        t[j, [(j + k) % 6 for k in range(3)]] = True
        t[6 + j, [(j + k) % 6 for k in range(4)]] = True
    for j, maps in enumerate(_NONCONTIGUOUS):
        t[12 + j, list(maps)] = True
    t[15, :] = True
    return t


_GERON = "the lecture's table (Géron 2017, Table 14-1)"


@register("lenet5")
def lenet5(
    variant: str = "paper",
    input_shape: Sequence[int] = (1, 32, 32),
    num_classes: int = 10,
    output: Optional[str] = None,
    activation: Optional[str] = None,
    rbf_trainable: bool = False,
    seed: int = 0,
) -> L.Sequential:
    """LeNet-5 as a built ``Sequential`` with layers C1, S2, C3, S4, C5, F6, Out.

    ``variant``: "paper" or "modern". ``output``: "rbf" (paper default) or "softmax"
    (modern default). ``activation``: "scaled_tanh" (paper default) or "tanh" (modern
    default), or any name in ``cnnsim.functional.ACTIVATIONS``. No ``width`` option: the
    paper's C3 table is defined for exactly 6 -> 16 maps.
    """
    where = "lenet5"
    check_choice(variant, ("paper", "modern"), "variant", where)
    input_shape = check_input_shape(input_shape, where)
    paper = variant == "paper"
    output = output or ("rbf" if paper else "softmax")
    check_choice(output, ("rbf", "softmax"), "output", where)
    act = activation or ("scaled_tanh" if paper else "tanh")
    if paper:
        pools: list[L.Layer] = [
            L.Subsampling(2, activation=act, name="S2"),
            L.Subsampling(2, activation=act, name="S4"),
        ]
    else:
        pools = [L.AvgPool2D(2, 2, name="S2"), L.AvgPool2D(2, 2, name="S4")]
    out = (
        L.RBF(num_classes, trainable=rbf_trainable, name="Out")
        if output == "rbf"
        else L.Dense(num_classes, activation="softmax", name="Out")
    )
    net = L.Sequential(
        [
            L.Conv2D(6, 5, activation=act, name="C1"),
            pools[0],
            L.Conv2D(16, 5, activation=act, connections=c3_table() if paper else None, name="C3"),
            pools[1],
            L.Conv2D(120, 5, activation=act, name="C5"),
            L.Flatten(name="flatten"),
            L.Dense(84, activation=act, name="F6"),
            out,
        ],
        input_shape=input_shape,
        seed=seed,
        name=f"lenet5-{variant}",
    )

    ref = Reference(
        source=_GERON if not paper else "LeCun et al. 1998 / " + _GERON,
        input_shape=(1, 32, 32),
        layers={
            "C1": (6, 28, 28),
            "S2": (6, 14, 14),
            "C3": (16, 10, 10),
            "S4": (16, 5, 5),
            "C5": (120, 1, 1),
            "F6": (84,),
            "Out": (10,),
        },
        hints={
            "C5": "C5 is a 5x5 convolution that becomes a 1x1 map only on a 32x32 input "
            "(28x28 MNIST digits must be zero-padded by 2)."
        },
    )
    slides = (
        "The lecture's slides draw sigmoid units in the hidden layers and tanh at F6; "
        "this model uses "
        + (
            f"{act} everywhere"
            if activation
            else "the paper's scaled tanh 1.7159 tanh(2a/3)"
            if paper
            else "tanh everywhere"
        )
        + " (try the slides' with cnnsim train lenet5 --activation sigmoid, or "
        'lenet5(activation="sigmoid"); cnnsim experiment lenet-gap compares them).'
    )
    if paper:
        ref.total_params = 60_000
        ref.total_hint = (
            "the paper's 60,000 counts C1..F6 only (the RBF prototypes are fixed); "
            "options that add trainable output weights change the total."
        )
        ref.remarks = [
            "60,000 trainable parameters = C1 156 + S2 12 + C3 1,516 + S4 32 + C5 48,120 + "
            "F6 10,164; the RBF's 84x10 = 840 prototype weights are fixed (+-1 codes) and not "
            "counted, as in the paper.",
            "C3 uses the paper's Table I: 60 of the 96 (map, map) pairs are connected "
            "(1,516 parameters instead of 2,416).",
            "Scaled tanh: f(a) = 1.7159 tanh(2a/3) (the paper's A = 1.7159, S = 2/3).",
        ]
    else:
        # the lecture's table has no parameter column: 61,706 is our arithmetic, not its
        ref.remarks = [
            "Modern LeNet-5: full C3 (2,416 parameters), parameter-free average "
            "pooling, softmax output: 156 + 2,416 + 48,120 + 10,164 + 850 = 61,706 "
            "parameters with biases for 10 classes (computed here; the lecture's "
            "table lists no parameter counts)."
        ]
    ref.remarks.append(slides)
    net.reference = ref
    return net
