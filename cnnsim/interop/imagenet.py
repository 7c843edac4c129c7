"""ImageNet: the 1000 class names and the standard preprocessing of torchvision's weights.

Preprocessing (torchvision's ``Resize(256)``, ``CenterCrop(224)``, ``ToTensor()``,
``Normalize(mean, std)``), on an RGB image ``img (3, H, W)`` in [0, 1]:

1. resize so that the **shorter** side is 256, keeping the aspect ratio (PIL's bilinear
   filter with antialiasing: a triangle filter stretched by the shrink factor, so a large
   photo is averaged, not sampled),
2. cut the central 224x224,
3. ``x_c = (v_c - mean_c) / std_c`` with ``mean = (0.485, 0.456, 0.406)``,
   ``std = (0.229, 0.224, 0.225)`` (the statistics of ImageNet's training images).

``CLASSES`` is the list torchvision ships with its weights (``weights.meta["categories"]``),
index = the output unit.
"""

import functools
import pathlib

import numpy as np

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


@functools.lru_cache(maxsize=1)
def classes():
    """The 1000 ImageNet class names, in output-unit order."""
    path = pathlib.Path(__file__).with_name("imagenet_classes.txt")
    names = path.read_text(encoding="utf-8").splitlines()
    assert len(names) == 1000, path
    return names


def _resample_matrix(n_in, n_out):
    """``(n_out, n_in)`` weights of PIL's antialiased bilinear resampling along one axis:
    output ``i`` is centred at input ``(i + 0.5) * n_in / n_out``; weights are the triangle
    ``max(0, 1 - |t - centre| / s)`` at input centres ``t = j + 0.5``, ``s = max(n_in / n_out,
    1)``, normalised to sum 1."""
    scale = n_in / n_out
    s = max(scale, 1.0)
    centre = (np.arange(n_out) + 0.5) * scale
    t = np.arange(n_in) + 0.5
    w = np.maximum(0.0, 1.0 - np.abs(t[None, :] - centre[:, None]) / s)
    return w / w.sum(axis=1, keepdims=True)


def resize(img, oh, ow):
    """``img (C, H, W) -> (C, oh, ow)`` with PIL's antialiased bilinear filter."""
    c, h, w = img.shape
    rh, rw = _resample_matrix(h, oh), _resample_matrix(w, ow)
    return rh @ img.astype(np.float64) @ rw.T  # (oh, H) @ (C, H, W) @ (W, ow)


def preprocess(img, resize_to=256, crop=224, mean=MEAN, std=STD):
    """``img (3, H, W)`` in [0, 1] -> ``(x (3, crop, crop) float32, note)``; see module.

    A grayscale image (1, H, W) is repeated into 3 channels (and the note says so).
    """
    img = np.asarray(img)
    notes = []
    if img.ndim != 3 or img.shape[0] not in (1, 3):
        raise ValueError(
            f"imagenet preprocess: expected an image (3, H, W) or (1, H, W), got shape {img.shape}"
        )
    if img.shape[0] == 1:
        img = np.repeat(img, 3, axis=0)
        notes.append("grayscale repeated into RGB")
    _, h, w = img.shape
    if min(h, w) < 1:
        raise ValueError(f"imagenet preprocess: empty image {img.shape}")
    # torchvision's Resize(int): the shorter side becomes resize_to, the other is truncated
    if h <= w:
        oh, ow = resize_to, int(resize_to * w / h)
    else:
        oh, ow = int(resize_to * h / w), resize_to
    x = resize(img, oh, ow)
    top, left = int(round((oh - crop) / 2.0)), int(round((ow - crop) / 2.0))
    x = x[:, top : top + crop, left : left + crop]
    m = np.asarray(mean, np.float64)[:, None, None]
    s = np.asarray(std, np.float64)[:, None, None]
    x = (x - m) / s
    notes.insert(
        0,
        f"ImageNet preprocessing: resized {h}x{w} -> {oh}x{ow} (shorter side "
        f"{resize_to}, antialiased bilinear), centre crop {crop}x{crop}, "
        f"(v - mean) / std with mean {tuple(mean)}, std {tuple(std)}",
    )
    return np.ascontiguousarray(x, dtype=np.float32), "; ".join(notes)


def top_k(probs, k=5):
    """``[(class index, name, probability)]`` of the ``k`` largest entries of ``probs (1000,)``."""
    probs = np.asarray(probs).ravel()
    names = classes()
    order = np.argsort(-probs, kind="stable")[:k]
    return [
        (int(i), names[i] if probs.size == len(names) else str(i), float(probs[i])) for i in order
    ]
