"""AlexNet-style data augmentation (Krizhevsky, Sutskever & Hinton 2012, sec. 4.1), seeded.

- random shifts: pad by ``shift`` pixels on each side and crop a random window of the
  original size (a random crop of a padded image; AlexNet took random 224x224 crops of
  256x256 images: :func:`random_crop`);
- horizontal flips with probability 1/2;
- lighting: for 3-channel images AlexNet's PCA colour jitter, adding to every pixel
  ``[p1, p2, p3] @ [a1*l1, a2*l2, a3*l3]`` with ``p_i, l_i`` the eigenvectors and
  eigenvalues of the RGB covariance and ``a_i ~ N(0, lighting)`` drawn once per image
  (default eigen-decomposition: the ImageNet one as used by fb.resnet.torch, for pixels
  in [0, 1]; :func:`rgb_pca` computes one from your data); for 1-channel images a
  brightness offset ``a ~ N(0, lighting)`` per image.

Everything is vectorised over the batch; randomness comes only from ``rng``
(a ``numpy.random.Generator`` or an int seed), drawn in a fixed order.
"""

import numpy as np

from ..functional._check import as_float_array

IMAGENET_EIGVAL = np.array([0.2175, 0.0188, 0.0045])
IMAGENET_EIGVEC = np.array(
    [[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140], [-0.5836, -0.6948, 0.4203]]
)  # columns are eigenvectors


def _rng(rng):
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(rng)
    raise TypeError(f"augment: rng must be a numpy Generator or an int seed, got {rng!r}")


def _crop_at(x, top, left, h, w):
    """Per-image crops: out[n] = x[n, :, top[n]:top[n]+h, left[n]:left[n]+w] (one gather)."""
    n = x.shape[0]
    rows = top[:, None] + np.arange(h)  # (N, h)
    cols = left[:, None] + np.arange(w)  # (N, w)
    return x[
        np.arange(n)[:, None, None, None],
        np.arange(x.shape[1])[None, :, None, None],
        rows[:, None, :, None],
        cols[:, None, None, :],
    ]


def random_crop(x, size, rng):
    """Random (h, w) crop of every image of x (N, C, H, W), position uniform per image."""
    x = as_float_array(x, "x", "random_crop", 4, "(N, C, H, W)")
    h, w = (size, size) if np.isscalar(size) else size
    H, W = x.shape[2:]
    if not (1 <= h <= H and 1 <= w <= W):
        raise ValueError(f"random_crop: crop {h}x{w} does not fit images of {H}x{W}")
    rng = _rng(rng)
    top = rng.integers(0, H - h + 1, x.shape[0])
    left = rng.integers(0, W - w + 1, x.shape[0])
    return _crop_at(x, top, left, h, w)


def center_crop(x, size):
    """The central (h, w) crop of x (N, C, H, W) (AlexNet's test-time view)."""
    x = as_float_array(x, "x", "center_crop", 4, "(N, C, H, W)")
    h, w = (size, size) if np.isscalar(size) else size
    H, W = x.shape[2:]
    if not (1 <= h <= H and 1 <= w <= W):
        raise ValueError(f"center_crop: crop {h}x{w} does not fit images of {H}x{W}")
    t, l = (H - h) // 2, (W - w) // 2
    return np.ascontiguousarray(x[:, :, t : t + h, l : l + w])


def rgb_pca(x):
    """Eigenvalues (3,) (descending) and eigenvectors (3, 3) (columns) of the RGB
    covariance of all pixels of x (N, 3, H, W)."""
    x = as_float_array(x, "x", "rgb_pca", 4, "(N, 3, H, W)")
    if x.shape[1] != 3:
        raise ValueError(f"rgb_pca: expected 3 channels, got shape {x.shape}")
    pix = x.transpose(1, 0, 2, 3).reshape(3, -1).astype(np.float64)
    val, vec = np.linalg.eigh(np.cov(pix))
    return val[::-1].clip(0), vec[:, ::-1]


def augment(x, rng, shift=2, flip=True, lighting=0.1, eigval=None, eigvec=None):
    """Randomly shifted, flipped and relit copy of x (N, C, H, W) (float32/float64).

    ``shift``: maximum shift in pixels (zero padding, then a random crop of size H x W);
    0 disables. ``flip``: horizontal flips with probability 1/2 (off for digits, whose
    mirror images are not digits). ``lighting``: standard deviation of the PCA jitter
    (C = 3) or brightness offset (C = 1); 0 disables. ``eigval``/``eigvec``: the RGB
    eigen-decomposition (default ImageNet's). Random draws, in order: shifts, flips,
    lighting. The input is not modified.
    """
    x = as_float_array(x, "x", "augment", 4, "(N, C, H, W)")
    if isinstance(shift, bool) or not isinstance(shift, (int, np.integer)) or shift < 0:
        raise ValueError(f"augment: shift must be a non-negative integer, got {shift!r}")
    if not np.isfinite(lighting) or lighting < 0:
        raise ValueError(f"augment: lighting must be a finite number >= 0, got {lighting!r}")
    rng = _rng(rng)
    n, c, h, w = x.shape
    out = x
    if shift:
        xp = np.pad(x, ((0, 0), (0, 0), (shift, shift), (shift, shift)))
        top = rng.integers(0, 2 * shift + 1, n)
        left = rng.integers(0, 2 * shift + 1, n)
        out = _crop_at(xp, top, left, h, w)
    if flip:
        f = rng.random(n) < 0.5
        out = out.copy() if out is x else out
        out[f] = out[f, :, :, ::-1]
    if lighting:
        if c == 3:
            val = IMAGENET_EIGVAL if eigval is None else np.asarray(eigval, np.float64)
            vec = IMAGENET_EIGVEC if eigvec is None else np.asarray(eigvec, np.float64)
            alpha = rng.normal(0.0, lighting, (n, 3))
            delta = (alpha * val) @ vec.T  # (N, 3): sum_i a_i l_i p_i
        elif c == 1:
            delta = rng.normal(0.0, lighting, (n, 1))
        else:
            raise ValueError(
                f"augment: lighting needs 1 or 3 channels, got {c} (shape "
                f"{x.shape}); pass lighting=0"
            )
        out = out + delta.astype(x.dtype)[:, :, None, None]
    return np.ascontiguousarray(out, dtype=x.dtype) if out is not x else x.copy()
