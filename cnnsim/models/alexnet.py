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

LRN constants: ours is ``b_i = a_i (k + alpha sum_{|j-i| <= r//2} a_j^2)^-beta``.
Géron's ``tf.nn.local_response_normalization(depth_radius=2, bias=1, alpha=0.00002,
beta=0.75)`` is ``r = 2*2 + 1 = 5, k = 1, alpha = 0.00002, beta = 0.75`` (TensorFlow does not
divide alpha by the window); the paper's ``k = 2, n = 5, alpha = 1e-4, beta = 0.75`` is
``r = 5, k = 2, alpha = 1e-4`` (nor does the paper). PyTorch's ``LocalResponseNorm(size=5,
alpha=5 * alpha, beta, k)`` is the same function (PyTorch divides alpha by ``size``).
"""
from .. import layers as L
from . import register
from ._common import Reference, check_choice, check_input_shape, check_width, scaled

LECTURE_LRN = dict(r=5, k=1.0, alpha=0.00002, beta=0.75)
PAPER_LRN = dict(r=5, k=2.0, alpha=1e-4, beta=0.75)


@register("alexnet")
def alexnet(variant="lecture", input_shape=None, num_classes=1000, width=1.0, dropout=0.5,
            seed=0):
    """AlexNet as a built ``Sequential``; ``width`` scales every map and unit count
    (``alexnet(width=0.125, input_shape=(3, 67, 67))`` is a fast toy)."""
    where = "alexnet"
    check_choice(variant, ("lecture", "paper"), "variant", where)
    width = check_width(width, where)
    paper = variant == "paper"
    input_shape = check_input_shape(input_shape or ((3, 227, 227) if paper else (3, 224, 224)),
                                    where)
    g = 2 if paper else 1                       # the paper's two GPUs
    m = lambda n: scaled(n, width, g)           # noqa: E731
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
        layers += [L.Dense(scaled(4096, width), activation="relu", name=name),
                   L.Dropout(dropout, name=f"{name}_dropout")]
    layers.append(L.Dense(num_classes, activation="softmax", name="Out"))
    net = L.Sequential(layers, input_shape=input_shape, seed=seed, name=f"alexnet-{variant}")
    if width == 1.0:
        net.reference = _paper_reference(net) if paper else _lecture_reference(net)
    return net


def _lrn_remark(lrn, paper):
    src = ("the paper's k=2, n=5, alpha=1e-4, beta=0.75" if paper else
           "Géron's depth_radius=2, bias=1, alpha=0.00002, beta=0.75 (TensorFlow)")
    return (f"LRN after C1 and C3: {src} -> r = {lrn['r']} (r//2 = {lrn['r'] // 2}), "
            f"k = {lrn['k']:g}, alpha = {lrn['alpha']:g}, beta = {lrn['beta']:g}; alpha is not "
            f"divided by the window (PyTorch's LocalResponseNorm would take "
            f"alpha = {lrn['alpha'] * lrn['r']:g}).")


def _lecture_reference(net):
    ref = Reference(
        source="the lecture's table (Géron 2017, Table 14-2)",
        input_shape=(3, 224, 224),
        layers={"C1": (96, 55, 55), "S2": (96, 27, 27), "C3": (256, 27, 27),
                "S4": (256, 13, 13), "C5": (384, 13, 13), "C6": (384, 13, 13),
                "C7": (256, 13, 13), "F8": (4096,), "F9": (4096,), "Out": (1000,)},
        hints={"C1": "the paper's 55 comes from a 227x227 input with VALID padding: "
                     "(227 - 11) / 4 + 1 = 55 (see --variant paper)."},
    )
    f8 = net.find("F8")
    ref.remarks = [_lrn_remark(LECTURE_LRN, False)]
    if f8.input_shape[0] != 6 * 6 * 256:
        c7 = net.find("C7").output_shape
        ref.remarks.append(
            f"The table has no pooling after C7, so F8 reads {c7[0]}x{c7[1]}x{c7[2]} = "
            f"{f8.input_shape[0]:,} inputs and holds {f8.param_count():,} parameters; the "
            f"paper pools to 6x6x256 = 9,216 inputs first (60,965,224 parameters in all).")
    ref.remarks.append("Dropout 50% on the outputs of F8 and F9 (training only).")
    return ref


def _paper_reference(net):
    return Reference(
        source="Krizhevsky et al. 2012",
        input_shape=(3, 227, 227),
        layers={"C1": (96, 55, 55), "S2": (96, 27, 27), "C3": (256, 27, 27),
                "S4": (256, 13, 13), "C5": (384, 13, 13), "C6": (384, 13, 13),
                "C7": (256, 13, 13), "S8": (256, 6, 6), "F9": (4096,), "F10": (4096,),
                "Out": (1000,)},
        total_params=60_965_224,
        total_hint="the paper's count is for 1000 classes on a 227x227 input.",
        remarks=[
            "Two-GPU split: C3, C6 and C7 are grouped convolutions (groups=2: each filter reads "
            "half of the previous layer's maps); C5 and the dense layers read everything.",
            "The paper writes 224x224, but 11x11 stride 4 gives 55x55 only from 227x227: "
            "(227 - 11) / 4 + 1 = 55.",
            _lrn_remark(PAPER_LRN, True),
            "Dropout 50% on the outputs of F9 and F10 (training only).",
        ])
