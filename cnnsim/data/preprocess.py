"""Preprocessing as LeNet-5 used it: 28x28 digits padded to 32x32, then normalized.

LeCun et al. 1998 (Gradient-based learning applied to document recognition, sec. II.B):
the 28x28 MNIST digits sit in a 32x32 field so that stroke end-points can reach the
centre of the top feature detectors' receptive fields, and "the values of the input
pixels are normalized so that the background level (white) corresponds to a value of
-0.1 and the foreground (black) corresponds to 1.175. This makes the mean input
roughly 0, and the variance roughly 1 which accelerates learning."

Here ``mode="lecun"`` (default) maps the uint8 intensity v (0 = background) to
``-0.1 + 1.275 * v / 255``; ``mode="unit"`` maps it to ``v / 255`` in [0, 1]. The
padding has the background value in both modes (it is added before normalizing).

Measured (not claimed): on the first 10,000 MNIST training images padded to 32x32,
the "lecun" mapping gives mean 0.028 and variance 0.12 (std 0.35): the mean is indeed
about 0, but the variance is well below the paper's "roughly 1" (MNIST is mostly
background). We implement the mapping exactly as the paper states it.
"""

import numpy as np

LECUN_BACKGROUND = -0.1
LECUN_FOREGROUND = 1.175
MODES = ("lecun", "unit")


def lenet_preprocess(images, mode="lecun", pad=2, dtype=np.float32):
    """images uint8 (N, 28, 28) or (N, 1, 28, 28) -> float32 (N, 1, 28+2*pad, 28+2*pad).

    Float input is accepted too when it lies in [0, 1] (e.g. a loaded sample image).
    ``mode``: ``"lecun"`` (background -0.1, foreground 1.175) or ``"unit"`` ([0, 1]).
    """
    where = "lenet_preprocess"
    if mode not in MODES:
        raise ValueError(f"{where}: mode must be one of {MODES}, got {mode!r}")
    if isinstance(pad, bool) or not isinstance(pad, (int, np.integer)) or pad < 0:
        raise ValueError(f"{where}: pad must be a non-negative integer, got {pad!r}")
    if not isinstance(images, np.ndarray):
        raise TypeError(f"{where}: images must be a NumPy array, got {type(images).__name__}")
    x = images
    if x.ndim == 4 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 3:
        raise ValueError(
            f"{where}: expected images (N, H, W) or (N, 1, H, W), got shape {images.shape}"
        )
    if x.dtype == np.uint8:
        x = x.astype(dtype) / dtype(255)
    elif x.dtype.kind == "f":
        if x.size and (not np.isfinite(x).all() or x.min() < 0 or x.max() > 1):
            raise ValueError(
                f"{where}: float images must lie in [0, 1], got range "
                f"[{np.nanmin(x):.3g}, {np.nanmax(x):.3g}]"
            )
        x = x.astype(dtype)
    else:
        raise TypeError(
            f"{where}: images must be uint8 (0..255) or float in [0, 1], got dtype {x.dtype}"
        )
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    if mode == "lecun":
        x = LECUN_BACKGROUND + (LECUN_FOREGROUND - LECUN_BACKGROUND) * x
    return np.ascontiguousarray(x[:, None], dtype=dtype)


def to_float(images, dtype=np.float32):
    """uint8 (N, H, W) or (N, C, H, W) -> float (N, C, H, W) in [0, 1] (C = 1 when absent)."""
    x = np.asarray(images)
    if x.dtype != np.uint8:
        raise TypeError(f"to_float: expected uint8 images, got dtype {x.dtype}")
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4:
        raise ValueError(f"to_float: expected images (N, H, W) or (N, C, H, W), got {x.shape}")
    return np.ascontiguousarray(x, dtype=dtype) / dtype(255)


# ---- the preprocessing a model was trained with, as data -----------------------------------
# A checkpoint stores this dict (``meta["preprocess"]``) so that ``cnnsim step`` feeds the
# network what it saw while learning, and can say what it applied.
def preprocess_spec(input_shape, image_hw=(28, 28)):
    """The preprocessing that turns (N, H, W) images of size ``image_hw`` into
    ``input_shape (C, H', W')``, as a JSON-able dict ``{"mode", "pad", "channels"}``:

    32x32 input from 28x28 images: LeNet's padding by 2 and LeCun's scaling (``"lecun"``);
    same size: [0, 1] scaling (``"unit"``, pad 0). ``channels`` > 1 repeats the gray image.
    """
    c, h, w = (int(s) for s in input_shape)
    ih, iw = (int(s) for s in image_hw)
    if (h, w) == (ih + 4, iw + 4) and (h, w) == (32, 32):
        return {"mode": "lecun", "pad": 2, "channels": c}
    if (h, w) == (ih, iw):
        return {"mode": "unit", "pad": 0, "channels": c}
    raise ValueError(
        f"the model expects {h}x{w} inputs; this dataset has {ih}x{iw} images "
        f"(use a model built with input_shape=(1, 28, 28) or (1, 32, 32))"
    )


def apply_preprocess(images, spec, dtype=np.float32):
    """images uint8 (N, H, W) / (N, 1, H, W), or float in [0, 1] -> float (N, C, H+2p, W+2p)
    as ``spec`` (from :func:`preprocess_spec`) says."""
    x = lenet_preprocess(images, mode=spec["mode"], pad=int(spec["pad"]), dtype=dtype)
    if int(spec.get("channels", 1)) > 1:
        x = np.repeat(x, int(spec["channels"]), axis=1)
    return np.ascontiguousarray(x, dtype=dtype)


def describe_preprocess(spec):
    """One phrase for a header: what :func:`apply_preprocess` does with ``spec``."""
    parts = []
    if int(spec.get("pad", 0)):
        parts.append(f"padded by {spec['pad']} pixels of background")
    if spec["mode"] == "lecun":
        parts.append(
            f"scaled to [{LECUN_BACKGROUND}, {LECUN_FOREGROUND}] (background "
            f"{LECUN_BACKGROUND}, ink {LECUN_FOREGROUND}; LeCun et al. 1998)"
        )
    else:
        parts.append("scaled to [0, 1]")
    if int(spec.get("channels", 1)) > 1:
        parts.append(f"gray repeated into {spec['channels']} channels")
    return ", ".join(parts)
