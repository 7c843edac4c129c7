"""Images shipped with the package, image files, and fitting an image to a model's input.

Shipped samples (``cnnsim/samples/``, made by ``python -m cnnsim.data.make_samples``):
``digit0`` ... ``digit9``: 28x28 real handwritten digits, the first test image of each
class in MNIST (Y. LeCun, C. Cortes, C. J. C. Burges; CC BY-SA 3.0); ``samples.json``
gives each one's test-set index and label (:func:`sample_info`). ``color``: a 64x64 RGB
picture (sky, sun, house, tree, grass) drawn procedurally.

All images here are float32 (C, H, W) with values in [0, 1].
"""

import pathlib

import numpy as np

from .idx import DataError

SAMPLES_DIR = pathlib.Path(__file__).resolve().parents[1] / "samples"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".npy")
# ITU-R BT.601 luma weights (what PIL's "L" conversion uses)
LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def _sample_files():
    if not SAMPLES_DIR.is_dir():
        return {}
    return {p.stem: p for p in sorted(SAMPLES_DIR.iterdir()) if p.suffix in (".npy", ".png")}


def list_samples():
    """Names of the shipped sample images, sorted (e.g. ['color', 'digit0', ...])."""
    return sorted(_sample_files())


def load_sample(name):
    """A shipped sample as float32 (C, H, W) in [0, 1]: digits (1, 28, 28), color (3, 64, 64)."""
    files = _sample_files()
    if name not in files:
        raise ValueError(f"unknown sample {name!r}; choose one of {', '.join(sorted(files))}")
    return load_image(files[name])


def _to_chw(a, path):
    """(H, W), (H, W, C) with C in 1/3/4, or (C, H, W) with C in 1/3 -> (C, H, W)."""
    if a.ndim == 2:
        return a[None]
    if a.ndim == 3:
        if a.shape[-1] in (1, 3, 4) and a.shape[0] not in (1, 3):
            chw = np.moveaxis(a, -1, 0)
        elif a.shape[0] in (1, 3):
            chw = a
        elif a.shape[-1] in (1, 3, 4):
            chw = np.moveaxis(a, -1, 0)
        else:
            chw = None
        if chw is not None:
            return chw[:3] if chw.shape[0] == 4 else chw  # drop an alpha channel
    raise DataError(
        f"{path}: expected an image of shape (H, W), (H, W, C) or (C, H, W) with "
        f"C = 1 or 3, got {a.shape}"
    )


def _to_unit(a, path):
    """Scale to float32 [0, 1]: uint8 / 255, uint16 / 65535, float taken as [0, 1] or,
    when all values lie in [0, 255] with some above 1, as 0..255."""
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 255
    if a.dtype == np.uint16:
        return a.astype(np.float32) / 65535
    if a.dtype == np.bool_:
        return a.astype(np.float32)
    if a.dtype.kind in "iu" or a.dtype.kind == "f":
        f = a.astype(np.float32)
        if f.size == 0 or not np.isfinite(f).all():
            raise DataError(f"{path}: image is empty or has non-finite values")
        lo, hi = float(f.min()), float(f.max())
        if lo >= 0 and hi <= 1:
            return f
        if lo >= 0 and hi <= 255:
            return f / 255
        raise DataError(
            f"{path}: pixel values must lie in [0, 1] or [0, 255], got [{lo:.4g}, {hi:.4g}]"
        )
    raise DataError(f"{path}: unsupported pixel type {a.dtype}")


def load_image(path):
    """Read a PNG, JPEG or .npy image as float32 (C, H, W) in [0, 1] (C = 1 or 3).

    Transparency is composited (:func:`cnnsim.data.prepare.read_image`, which also says
    what was read and done). A one-line :class:`DataError` (a ValueError) says what was
    wrong with a missing, unreadable or oddly shaped file.
    """
    from .prepare import read_image

    return read_image(path)[0]


def sample_info(name):
    """Where a shipped sample comes from: ``{"label", "source", "index"}`` (``label`` None
    for the colour picture); {} when not recorded."""
    import json

    p = SAMPLES_DIR / "samples.json"
    if not p.is_file():
        return {}
    return json.loads(p.read_text()).get(name, {})


def resize_bilinear(img, oh, ow):
    """Bilinear resize of img (C, H, W) to (C, oh, ow), half-pixel centres (as PIL/OpenCV).

    out[i, j] = x at ((i + 0.5) * H/oh - 0.5, (j + 0.5) * W/ow - 0.5), edges clamped.
    Shrinking by exactly 2 averages 2x2 blocks."""
    from .synthetic import resize_bilinear as _rb

    return _rb(np.asarray(img, np.float32), oh, ow)


def fit_to(img, shape):
    """Fit img (C, H, W) to a model input ``shape`` (C', H', W'); return (image, note).

    Channels: RGB -> gray by luminance (0.299 R + 0.587 G + 0.114 B), gray -> RGB by
    repetition. Size: an image a little smaller than the input (at least 3/4 of each
    side, like MNIST's 28 in LeNet-5's 32) is zero-padded around the centre; any other
    size is resized bilinearly. ``note`` says what was done, '' when nothing was.
    """
    img = np.asarray(img)
    if img.ndim != 3:
        raise ValueError(f"fit_to: expected an image (C, H, W), got shape {img.shape}")
    if len(shape) != 3:
        raise ValueError(f"fit_to: expected a target shape (C, H, W), got {tuple(shape)}")
    c, h, w = img.shape
    tc, th, tw = (int(s) for s in shape)
    x = img.astype(np.float32)
    notes = []
    if c != tc:
        if c == 3 and tc == 1:
            x = np.tensordot(LUMA, x, axes=1)[None]
            notes.append("converted RGB to grayscale (luminance)")
        elif c == 1 and tc == 3:
            x = np.repeat(x, 3, axis=0)
            notes.append("repeated grayscale into 3 channels")
        else:
            raise ValueError(
                f"fit_to: cannot convert a {c}-channel image to {tc} channels "
                f"(image {img.shape}, model input {tuple(shape)})"
            )
    if (h, w) != (th, tw):
        if h <= th and w <= tw and 4 * h >= 3 * th and 4 * w >= 3 * tw:
            top, left = (th - h) // 2, (tw - w) // 2
            x = np.pad(x, ((0, 0), (top, th - h - top), (left, tw - w - left)))
            notes.append(f"padded {h}x{w} -> {th}x{tw} with zeros")
        else:
            x = resize_bilinear(x, th, tw)
            aspect = "" if h * tw == w * th else ", aspect ratio changed"
            notes.append(f"resized {h}x{w} -> {th}x{tw} (bilinear{aspect})")
    return np.ascontiguousarray(x, dtype=np.float32), "; ".join(notes)
