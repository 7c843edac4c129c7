"""The arithmetic the lecture teaches: output sizes, padding, receptive fields.

Pure Python on integers; every other module asks here.

A neuron at row ``i`` of a layer with kernel ``f``, stride ``s`` and top
padding ``p`` reads input rows ``i*s - p ... i*s - p + f - 1`` (the lecture's
``i*s_h ... i*s_h + f_h - 1`` in the zero-padded input, shifted back by ``p``).

Padding forms accepted everywhere:

* ``"valid"``  no padding; rows/columns the stride cannot reach are dropped.
* ``"same"``   TensorFlow's rule: ``out = ceil(n / s)``,
               ``total = max((out - 1) * s + f - n, 0)``,
               ``before = total // 2``, the odd extra row/column after (bottom/right).
* ``p`` (int)  ``p`` on every side.
* ``(p_h, p_w)``                ``p_h`` top and bottom, ``p_w`` left and right.
* ``(top, bottom, left, right)`` explicit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from .typing import IntPair, Padding, Size

PADDING_STRINGS = ("valid", "same")


def _pair(v, what, where="geometry"):
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"{where}: {what} must be an int or a pair (h, w), got {v!r}")
        a, b = v
    else:
        a = b = v
    for t in (a, b):
        if isinstance(t, bool) or not isinstance(t, (int,)) and not hasattr(t, "__index__"):
            raise TypeError(f"{where}: {what} must be integers, got {v!r}")
    return int(a), int(b)


def pair(v: Size, what: str = "value", where: str = "geometry") -> IntPair:
    """``3 -> (3, 3)``; ``(3, 5) -> (3, 5)``; validates positive integers (a kernel or
    pool size, a stride)."""
    a, b = _pair(v, what, where)
    if a < 1 or b < 1:
        raise ValueError(f"{where}: {what} must be positive, got {v!r}")
    return a, b


def pad_amounts(n: int, f: int, s: int, padding: Padding) -> IntPair:
    """Padding ``(before, after)`` along one axis of length ``n``.

    ``padding`` is "valid", "same", an int, or an explicit ``(before, after)``.
    """
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return 0, 0
        if mode == "same":
            out = -(-n // s)  # ceil(n / s)
            total = max((out - 1) * s + f - n, 0)
            return total // 2, total - total // 2
        raise ValueError(
            f"unknown padding {padding!r}: expected 'valid', 'same', an int, "
            f"(p_h, p_w) or (top, bottom, left, right)"
        )
    if isinstance(padding, (tuple, list)):
        if len(padding) != 2:
            raise ValueError(f"padding along one axis must be (before, after), got {padding!r}")
        return int(padding[0]), int(padding[1])
    p = int(padding)  # type: ignore[arg-type]  # strings and sequences returned above
    return p, p


def output_size(n: int, f: int, s: int, padding: Padding = "valid") -> int:
    """Output length along one axis: ``floor((n + p_before + p_after - f) / s) + 1``.

    ``output_size(7, 3, 2, "same") == 4`` (the lecture's 5x7 -> 3x4 example, columns).
    Returns 0 or less when the kernel is larger than the padded input.
    """
    before, after = pad_amounts(n, f, s, padding)
    padded = n + before + after
    if padded < f:
        return 0
    return (padded - f) // s + 1


def normalize_padding(
    padding: Padding,
    in_hw: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int],
    where: str = "geometry",
) -> tuple[int, int, int, int]:
    """Any accepted padding form -> ``(top, bottom, left, right)`` in pixels."""
    (h, w), (fh, fw), (sh, sw) = in_hw, kernel, stride
    if isinstance(padding, str):
        if padding.lower() not in PADDING_STRINGS:
            raise ValueError(
                f"{where}: unknown padding {padding!r}; expected 'valid', 'same', "
                f"an int, (p_h, p_w) or (top, bottom, left, right)"
            )
        top, bottom = pad_amounts(h, fh, sh, padding)
        left, right = pad_amounts(w, fw, sw, padding)
        return top, bottom, left, right
    if isinstance(padding, bool):
        raise TypeError(f"{where}: padding must be a string, an int or a tuple, got {padding!r}")
    if isinstance(padding, (tuple, list)):
        vals = list(padding)
        if not all(isinstance(v, int) or hasattr(v, "__index__") for v in vals):
            raise TypeError(f"{where}: padding entries must be integers, got {padding!r}")
        vals = [int(v) for v in vals]
        if len(vals) == 2:
            t = (vals[0], vals[0], vals[1], vals[1])
        elif len(vals) == 4:
            t = tuple(vals)
        else:
            raise ValueError(
                f"{where}: padding tuple must have 2 (p_h, p_w) or 4 "
                f"(top, bottom, left, right) entries, got {padding!r}"
            )
    elif isinstance(padding, int) or hasattr(padding, "__index__"):
        p = int(padding)
        t = (p, p, p, p)
    else:
        raise TypeError(f"{where}: padding must be a string, an int or a tuple, got {padding!r}")
    if min(t) < 0:
        raise ValueError(f"{where}: padding must be non-negative, got {padding!r}")
    return t


@dataclass(frozen=True)
class Window:
    """Geometry of a sliding window (convolution or pooling) over an (H, W) input.

    ``pads`` is ``(top, bottom, left, right)``; ``out_hw`` the output size.
    """

    in_hw: tuple
    kernel: tuple
    stride: tuple
    pads: tuple
    out_hw: tuple

    @property
    def padded_hw(self):
        t, b, l, r = self.pads
        return self.in_hw[0] + t + b, self.in_hw[1] + l + r

    @property
    def kernel_stride(self):
        """The stride handed to the kernels: ``stride`` capped at the padded input size.

        Along an axis where the stride exceeds ``padded - kernel`` there is exactly one
        output row/column and the stride is never used, so capping changes no number; it
        keeps the kernels' stride-phase layouts (``stride`` planes per axis) as small as
        the input, so ``stride=2**32`` is instant instead of a 10-minute loop or an
        integer overflow.
        """
        (hp, wp), (sh, sw) = self.padded_hw, self.stride
        return min(sh, hp), min(sw, wp)

    def rows(self, i):
        """Input rows (unpadded coordinates, may be negative or >= H) read by output row i."""
        lo, hi = window_span(i, i, self.kernel[0], self.stride[0], self.pads[0])
        return list(range(lo, hi + 1))

    def cols(self, j):
        lo, hi = window_span(j, j, self.kernel[1], self.stride[1], self.pads[2])
        return list(range(lo, hi + 1))

    def unused(self):
        """Input rows and columns no output neuron reads (the stride skips them).

        Returns ``(rows, cols)`` lists in input coordinates.
        """
        (oh, ow), (h, w) = self.out_hw, self.in_hw
        used_r = {r for i in range(oh) for r in self.rows(i)}
        used_c = {c for j in range(ow) for c in self.cols(j)}
        return ([r for r in range(h) if r not in used_r], [c for c in range(w) if c not in used_c])


def window_span(i0: int, i1: int, f: int, s: int, p: int) -> IntPair:
    """Input indices read along one axis by output indices ``i0 .. i1`` of a window layer
    with kernel ``f``, stride ``s`` and before-padding ``p``: ``(i0*s - p, i1*s - p + f - 1)``
    (unpadded coordinates: below 0 or past the end is padding). The lecture's window rule;
    every other module asks here."""
    return i0 * s - p, i1 * s - p + f - 1


def rf_through(start: int, end: int, jump: int, f: int, s: int, p: int) -> tuple[int, int, int]:
    """One step of the receptive-field recurrence along one axis: a neuron at index 0 sees
    input-image indices ``start .. end`` and neighbours are ``jump`` apart; after a window
    layer (kernel ``f``, stride ``s``, before-padding ``p``) the neuron at index 0 sees
    ``start - p*jump .. end + (f - 1 - p)*jump`` with jump ``jump*s``. In sizes: ``size' =
    size + (f - 1) jump``, ``start' = start - p jump``, ``jump' = jump s`` (Araujo et al.
    2019, "Computing receptive fields of convolutional neural networks")."""
    return start - p * jump, end + (f - 1 - p) * jump, jump * s


def coverage(win: Window) -> list[list[int]]:
    """How many output neurons read each input pixel: an ``H x W`` list of lists of ints.

    The tiling of receptive fields (Hubel & Wiesel's local fields): counts above 1 where
    windows overlap (stride < kernel), 0 where the stride skips pixels (stride > kernel).
    Per axis the count is the number of output rows (columns) whose window holds the
    input row (column); the 2-D count is their product.
    """
    (h, w), (oh, ow) = win.in_hw, win.out_hw
    rc = [0] * h
    cc = [0] * w
    for i in range(oh):
        for r in win.rows(i):
            if 0 <= r < h:
                rc[r] += 1
    for j in range(ow):
        for c in win.cols(j):
            if 0 <= c < w:
                cc[c] += 1
    return [[a * b for b in cc] for a in rc]


def window(
    in_hw: Sequence[int],
    kernel: Size,
    stride: Optional[Size] = None,
    padding: Padding = "valid",
    where: str = "geometry",
) -> Window:
    """Validate and resolve a window; raises a one-line ValueError naming ``where``.

    ``kernel``/``stride`` are ints or pairs; ``stride`` defaults to the kernel (pooling).
    """
    fh, fw = _pair(kernel, "kernel size", where)
    sh, sw = _pair(kernel if stride is None else stride, "stride", where)
    if fh < 1 or fw < 1:
        raise ValueError(f"{where}: kernel size must be positive, got {(fh, fw)}")
    if sh < 1 or sw < 1:
        raise ValueError(f"{where}: stride must be positive, got {(sh, sw)}")
    h, w = int(in_hw[0]), int(in_hw[1])
    pads = normalize_padding(padding, (h, w), (fh, fw), (sh, sw), where)
    t, b, l, r = pads
    if max(t, b) > fh + h or max(l, r) > fw + w:
        # more padding than kernel + input only adds outputs that read nothing but zeros;
        # bounding it bounds every size the kernels allocate (a padding of 10**9 would
        # otherwise ask for a 10**9-row plane)
        raise ValueError(
            f"{where}: padding {pads} (top, bottom, left, right) is larger "
            f"than kernel + input ({fh}+{h} rows, {fw}+{w} columns) allows"
        )
    if h + t + b < fh or w + l + r < fw:
        raise ValueError(
            f"{where}: kernel {fh}x{fw} is larger than the padded input "
            f"{h + t + b}x{w + l + r} (input {h}x{w}, padding {padding!r})"
        )
    oh = (h + t + b - fh) // sh + 1
    ow = (w + l + r - fw) // sw + 1
    return Window((h, w), (fh, fw), (sh, sw), pads, (oh, ow))


def conv_macs(
    out_shape_chw: Sequence[int], kernel: Sequence[int], in_channels_per_filter: int
) -> int:
    """Multiply-adds of a convolution: ``F * H_out * W_out * f_h * f_w * C``."""
    f, ho, wo = out_shape_chw
    return int(f * ho * wo * kernel[0] * kernel[1] * in_channels_per_filter)


def compose_receptive_field(layers_geometry: Sequence[dict]) -> tuple:
    """Compose (kernel, stride, top/left pad) of stacked layers into the receptive field
    of one output neuron in input coordinates.

    ``layers_geometry`` is a list, bottom layer first, of ``((fh, fw), (sh, sw), (pt, pl))``.
    Returns ``(size (h, w), jump (h, w), start (h, w))``: output neuron (i, j) of the top
    layer sees input rows ``start_h + i*jump_h ... start_h + i*jump_h + size_h - 1``.
    Standard recurrence: ``size' = size + (f - 1) * jump``, ``start' = start - p * jump``,
    ``jump' = jump * s``.
    """
    span = [(0, 0, 1), (0, 0, 1)]  # (start, end, jump) per axis
    for kernel, stride, pad in layers_geometry:
        span = [rf_through(*span[a], kernel[a], stride[a], pad[a]) for a in range(2)]
    return (
        tuple(e - s + 1 for s, e, _ in span),
        tuple(j for _, _, j in span),
        tuple(s for s, _, _ in span),
    )


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def ceil_mode_pads(n, f, s, p=0):
    """``(before, after)`` padding along one axis that makes floor-mode pooling give
    PyTorch's / ONNX's ``ceil_mode`` output length.

    ``ceil_mode``: ``out = ceil((n + 2p - f) / s) + 1``, less one when the last window
    would start in the right padding (PyTorch's rule, also ONNX's since opset 19). The
    extra ``after`` rows are padding, which never wins a max (see
    ``cnnsim.functional.pool``), so max pooling with these pads equals ceil-mode pooling.
    ``ceil_mode_pads(112, 3, 2) == (0, 1)``: 56 outputs, as in torchvision's GoogLeNet.
    """
    out = ceil_div(n + 2 * p - f, s) + 1
    if (out - 1) * s >= n + p:
        out -= 1
    return p, max((out - 1) * s + f - n - p, p)


__all__ = [
    "pad_amounts",
    "output_size",
    "normalize_padding",
    "window",
    "Window",
    "pair",
    "conv_macs",
    "compose_receptive_field",
    "ceil_div",
    "window_span",
    "rf_through",
    "ceil_mode_pads",
]
