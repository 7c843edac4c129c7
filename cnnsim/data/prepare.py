"""From a picture a student has (a photo, a drawing, a PNG with transparency) to what a
digit model saw while it learned, saying at each stage what was read and what was done.

    img, notes = read_image("seven.png")          # (C, H, W) in [0, 1], alpha composited
    x28, more = digit_like(img, invert=None)      # gray, light-on-dark, MNIST-centred 28x28

MNIST's own preparation (LeCun, Cortes, Burges, "The MNIST database"): each digit was
"size normalized to fit in a 20x20 pixel box while preserving their aspect ratio"
(anti-aliased, hence grey levels), then "centered in a 28x28 image by computing the
center of mass of the pixels, and translating the image so as to position this point
at the center of the 28x28 field". :func:`mnist_centre` does the same.
"""

import pathlib

import numpy as np

from .idx import DataError

LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R BT.601 (PIL's "L")
BOX, FIELD = 20, 28  # MNIST: digit fitted in 20x20, field 28x28
INK = 0.15  # a pixel is ink above this fraction of the brightest
BLANK_CONTRAST = 0.1  # max - min below this: nearly blank
BLANK_INK = 0.002  # fewer ink pixels than this fraction: nearly blank

_MODES = {
    "1": "1-bit black and white",
    "L": "8-bit gray",
    "LA": "8-bit gray with alpha",
    "P": "palette (indexed colour)",
    "RGB": "8-bit RGB",
    "RGBA": "8-bit RGB with alpha",
    "I;16": "16-bit gray",
    "I;16B": "16-bit gray",
    "I": "32-bit integer gray",
    "F": "32-bit float gray",
    "CMYK": "CMYK",
    "PA": "palette with alpha",
    "I;16L": "16-bit gray",
}


def _read_pil(path):
    """PNG/JPEG -> (array (H, W) or (H, W, C) float in [0, 1], alpha or None, description)."""
    from PIL import Image

    with Image.open(path) as im:
        mode, fmt, (w, h) = im.mode, im.format or path.suffix[1:].upper(), im.size
        desc = f"{w}x{h} {fmt}, {_MODES.get(mode, mode)}"
        has_alpha = mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info)
        if mode.startswith("I;16") or mode == "I":
            a = np.asarray(im, dtype=np.float64)
            a = a / (65535.0 if mode.startswith("I;16") or a.max() > 255 else 255.0)
            return np.clip(a, 0, 1).astype(np.float32), None, desc
        if mode == "F":
            a = np.asarray(im, dtype=np.float32)
            lo, hi = float(a.min()), float(a.max())
            return (a - lo) / (hi - lo or 1), None, desc + " (stretched to [0, 1])"
        im2 = im.convert("RGBA" if has_alpha else ("L" if mode in ("1", "L") else "RGB"))
        a = np.asarray(im2, dtype=np.float32) / 255
    if has_alpha:
        return a[..., :3], a[..., 3], desc
    return a, None, desc


def read_image(path):
    """Read a PNG, JPEG or .npy picture as float32 (C, H, W) in [0, 1] (C = 1 or 3), with
    any transparency composited; returns ``(image, notes)``, ``notes`` a list of phrases:
    what was read (size, format, RGBA / palette / 16-bit) and what was done.

    Transparency: the transparent pixels are filled with the background that contrasts
    with the visible strokes (white behind dark strokes, black behind light ones), so a
    drawing on a transparent canvas keeps its strokes. A one-line :class:`DataError`
    (a ValueError) says what was wrong with a missing or unreadable file.
    """
    from .samples import IMAGE_SUFFIXES, _to_chw, _to_unit

    path = pathlib.Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise DataError(
            f"{path}: unsupported image type {path.suffix or '(no suffix)'!r}; "
            f"use PNG, JPEG or .npy"
        )
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    alpha = None
    try:
        if suffix == ".npy":
            raw = np.load(path, allow_pickle=False)
            if not isinstance(raw, np.ndarray):
                raise DataError(f"{path}: does not hold a single array")
            desc = f".npy array {raw.dtype} {'x'.join(map(str, raw.shape))}"
            if raw.ndim == 3 and raw.shape[-1] == 4 and raw.shape[0] not in (1, 3):
                raw = _to_unit(raw, path)
                a, alpha = raw[..., :3], raw[..., 3]
            else:
                a = raw
        else:
            a, alpha, desc = _read_pil(path)
    except DataError:
        raise
    except Exception as e:  # noqa: BLE001 - any reader failure becomes one line
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DataError(f"{path}: cannot read image ({msg})") from None
    chw = _to_chw(np.asarray(a), path)
    if chw.shape[1] == 0 or chw.shape[2] == 0:
        raise DataError(f"{path}: the image is empty ({chw.shape[1]}x{chw.shape[2]} pixels)")
    img = _to_unit(chw, path)
    notes = [f"read {desc}"]
    if alpha is not None:
        img, note = composite(img, alpha)
        if note:
            notes.append(note)
    return np.ascontiguousarray(img, dtype=np.float32), notes


def composite(img, alpha):
    """img (C, H, W) and alpha (H, W) in [0, 1] -> (opaque image, note).

    Background: white when the visible pixels (alpha > 0.5) are dark on average (ink on a
    transparent canvas), black when they are light; '' note when alpha is all opaque."""
    alpha = np.asarray(alpha, np.float32)
    if np.all(alpha >= 1 - 1e-6):
        return img, "alpha channel present but fully opaque: ignored"
    gray = np.tensordot(LUMA, img, axes=1) if img.shape[0] == 3 else img[0]
    seen = alpha > 0.5
    dark = float(gray[seen].mean()) < 0.5 if seen.any() else True
    bg = 1.0 if dark else 0.0
    out = img * alpha + bg * (1 - alpha)
    frac = float((alpha < 0.5).mean())
    return out, (
        f"{100 * frac:.0f}% transparent: composited on "
        f"{'white (the visible strokes are dark)' if dark else 'black (the visible strokes are light)'}"
    )


def to_gray(img):
    """(C, H, W) -> (H, W): luminance 0.299 R + 0.587 G + 0.114 B for RGB."""
    return np.tensordot(LUMA, img, axes=1) if img.shape[0] == 3 else img[0]


def light_background(gray):
    """True when the picture's border (outer 10% frame) is mostly light: dark on light."""
    h, w = gray.shape
    bh, bw = max(1, h // 10), max(1, w // 10)
    frame = np.concatenate(
        [gray[:bh].ravel(), gray[-bh:].ravel(), gray[:, :bw].ravel(), gray[:, -bw:].ravel()]
    )
    return float(np.median(frame)) > 0.5


def blank_reason(gray):
    """Why ``gray`` (H, W, light ink on dark) looks nearly blank, or None."""
    lo, hi = float(gray.min()), float(gray.max())
    if hi - lo < BLANK_CONTRAST:
        return f"almost no contrast (values {lo:.2f}..{hi:.2f})"
    ink = float((gray - lo > INK * (hi - lo)).mean())
    if ink < BLANK_INK:
        return f"only {100 * ink:.2f}% of the pixels carry ink"
    return None


def _resize(a, oh, ow):
    """(H, W) float -> (oh, ow): area average when shrinking, bilinear when enlarging."""
    from PIL import Image

    im = Image.fromarray(np.ascontiguousarray(a, np.float32), mode="F")
    shrink = oh < a.shape[0] or ow < a.shape[1]
    im = im.resize((ow, oh), Image.Resampling.BOX if shrink else Image.Resampling.BILINEAR)
    return np.clip(np.asarray(im, np.float32), 0, 1)


def mnist_centre(gray):
    """(H, W) light-on-dark in [0, 1] -> ((28, 28), note): MNIST's normalisation.

    The ink's bounding box (pixels above INK x the brightest, after subtracting the
    darkest) is cropped and resized so that its longer side is 20 pixels (aspect kept);
    it is then placed in a 28x28 black field with its centre of mass at (14, 14)
    (shifted back inside the field where the box would leave it)."""
    g = gray - gray.min()
    hi = float(g.max())
    if hi <= 0:
        return np.zeros((FIELD, FIELD), np.float32), "blank: nothing to centre"
    g = g / hi
    rows, cols = np.nonzero(g > INK)
    t, b, l, r = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    crop = g[t:b, l:r]
    h, w = crop.shape
    if gray.shape == (FIELD, FIELD) and max(h, w) <= BOX:
        cy, cx = _centre_of_mass(gray)
        if abs(cy - FIELD / 2 + 0.5) <= 1 and abs(cx - FIELD / 2 + 0.5) <= 1:
            return gray.astype(np.float32), "already MNIST-sized and centred: used as it is"
    f = BOX / max(h, w)
    oh, ow = max(1, round(h * f)), max(1, round(w * f))
    digit = _resize(crop, oh, ow)
    cy, cx = _centre_of_mass(digit)
    top = int(np.clip(round(FIELD / 2 - 0.5 - cy), 0, FIELD - oh))
    left = int(np.clip(round(FIELD / 2 - 0.5 - cx), 0, FIELD - ow))
    out = np.zeros((FIELD, FIELD), np.float32)
    out[top : top + oh, left : left + ow] = digit
    return out, (
        f"digit's {h}x{w} bounding box fitted to {oh}x{ow} (MNIST: 20x20 box, "
        f"aspect kept) and centred by mass in 28x28"
    )


def _centre_of_mass(a):
    m = float(a.sum())
    if m <= 0:
        return (a.shape[0] - 1) / 2, (a.shape[1] - 1) / 2
    ys, xs = np.indices(a.shape)
    return float((ys * a).sum() / m), float((xs * a).sum() / m)


def digit_like(img, invert=None, centre=True):
    """A picture (C, H, W) in [0, 1] -> ((28, 28) light-on-dark, notes, warning or None).

    ``invert``: None = detect (a light border means dark ink on a light background, which
    is inverted: MNIST digits are light on dark), True / False = force."""
    notes = []
    gray = to_gray(img)
    if img.shape[0] == 3:
        notes.append("converted RGB to gray (luminance)")
    detected = light_background(gray)
    if invert is None:
        invert = detected
        if invert:
            notes.append(
                "dark strokes on a light background: inverted (MNIST digits are "
                "light on dark; --no-invert keeps it)"
            )
    elif invert:
        notes.append("inverted (--invert)")
    elif detected:
        notes.append("not inverted (--no-invert), although the background looks light")
    if invert:
        gray = 1 - gray
    warning = blank_reason(gray)
    if centre and warning is None:
        gray, note = mnist_centre(gray)
        notes.append(note)
    elif gray.shape != (FIELD, FIELD):
        gray = _resize(gray, FIELD, FIELD)
        notes.append(f"resized {img.shape[1]}x{img.shape[2]} -> 28x28")
    if warning:
        warning = f"the input is nearly blank: {warning}; the trace will show little"
    return gray.astype(np.float32), notes, warning
