"""The benchmarked layers (the lecture's shapes) and their arithmetic.

Each case is plain data; ``quick`` variants shrink the batch so a smoke run takes seconds.
"""

from dataclasses import dataclass, replace

from .. import geometry


@dataclass(frozen=True)
class ConvCase:
    """``x (N, C, H, W)`` convolved with ``F`` filters ``K x K``, stride ``s``, padding."""

    name: str
    title: str
    n: int
    c: int
    h: int
    w: int
    f: int
    k: int
    s: int = 1
    padding: object = "valid"
    # max cnnsim/PyTorch ratio of forward+backward (None: none); 1.0 on the lecture's
    # layers (issue 20: at or below PyTorch, on AVX2 and AVX-512 machines)
    target: float = None
    naive_batch: int = 0  # >0: also time the slow reference at this batch size

    @property
    def kind(self):
        return "conv"

    def window(self):
        return geometry.window((self.h, self.w), self.k, self.s, self.padding)

    def torch_padding(self):
        """How the bench calls PyTorch on this layer: ``(both, extra)``, PyTorch's
        ``conv2d(F.pad(x, extra), w, b, s, padding=both)``.

        Symmetric padding (every padded lecture layer but AlexNet C1) goes to ``conv2d``'s
        own ``padding``, as a PyTorch user writes it: its kernels then see the padding as
        padding and skip the taps over it. SAME's asymmetric padding (AlexNet C1: 3 before,
        4 after) is padded apart with ``F.pad``, all of it: there that was faster for
        PyTorch than ``padding=3`` plus one more row and column apart (fwd+bwd 0.94 of
        the time, forward 0.71). Until 2026-12-03 the bench padded every layer with
        ``F.pad``, which cost PyTorch 2-11 % of fwd+bwd on C3, C5 and ResNet 3x3."""
        t, bo, le, r = self.window().pads
        if t == bo and le == r:
            return (t, le), (0, 0, 0, 0)
        return (0, 0), (le, r, t, bo)

    def flops_forward(self):
        """2 x multiply-adds of the forward pass (the backward is twice that: dx and dw)."""
        ho, wo = self.window().out_hw
        return 2 * self.n * self.f * self.c * self.k * self.k * ho * wo


@dataclass(frozen=True)
class PoolCase:
    """Max/avg pooling or LRN on ``x (N, C, H, W)``."""

    name: str
    title: str
    op: str  # "max", "avg" or "lrn"
    n: int
    c: int
    h: int
    w: int
    size: int = 2  # pooling window, or LRN depth r
    stride: int = 2
    target: float = 1.5

    @property
    def kind(self):
        return "lrn" if self.op == "lrn" else "pool"


CONV_CASES = [
    ConvCase("lenet_c1", "LeNet-5 C1: 6@5x5 on 1x32x32", 64, 1, 32, 32, 6, 5, target=1.0),
    ConvCase(
        "lenet_c3", "LeNet-5 C3: 16@5x5 on 6x14x14", 64, 6, 14, 14, 16, 5, target=1.0, naive_batch=1
    ),
    ConvCase(
        "alexnet_c1",
        "AlexNet C1: 96@11x11/4 SAME on 3x224x224",
        8,
        3,
        224,
        224,
        96,
        11,
        4,
        "same",
        target=1.0,
    ),
    ConvCase(
        "alexnet_c3",
        "AlexNet C3: 256@5x5 SAME on 96x27x27",
        8,
        96,
        27,
        27,
        256,
        5,
        1,
        "same",
        target=1.0,
    ),
    ConvCase(
        "alexnet_c5",
        "AlexNet C5: 384@3x3 SAME on 256x13x13",
        8,
        256,
        13,
        13,
        384,
        3,
        1,
        "same",
        target=1.0,
    ),
    ConvCase(
        "resnet_3x3", "ResNet 3x3 64->64 SAME at 56x56", 8, 64, 56, 56, 64, 3, 1, "same", target=1.0
    ),
    ConvCase("inception_1x1", "Inception 1x1 192->64 at 28x28", 8, 192, 28, 28, 64, 1, target=1.0),
]

POOL_CASES = [
    PoolCase("alexnet_s2_max", "AlexNet S2: max 3x3/2 on 96x55x55", "max", 8, 96, 55, 55, 3, 2),
    PoolCase("avg_2x2", "avg pool 2x2/2 on 96x55x55", "avg", 8, 96, 55, 55, 2, 2),
    PoolCase("lrn_r5", "LRN r=5 on 96x55x55", "lrn", 8, 96, 55, 55, 5, 1),
]

ALL_CASES = CONV_CASES + POOL_CASES


def quick(case):
    """The same layer at batch 1 (naive reference at batch 1 too): a seconds-long smoke run."""
    if isinstance(case, ConvCase):
        return replace(case, n=1, naive_batch=min(case.naive_batch, 1))
    return replace(case, n=1)


def select(only=None, is_quick=False):
    """Cases whose name contains ``only`` (all when None); quick variants when asked."""
    cases = [c for c in ALL_CASES if only is None or only in c.name]
    if not cases:
        names = ", ".join(c.name for c in ALL_CASES)
        raise ValueError(f"bench: no layer matches {only!r}; known: {names}")
    return [quick(c) for c in cases] if is_quick else cases
