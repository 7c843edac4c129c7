"""Regenerate the sample images shipped in ``cnnsim/samples/``.

    python -m cnnsim.data.make_samples MNIST_DIR [OUTDIR]

``digit0.npy`` ... ``digit9.npy``: uint8 (28, 28), real handwritten digits: the *first*
image of each class in the MNIST test set (``t10k-images-idx3-ubyte``, read from
MNIST_DIR by the project's own loader; no choosing among them). ``samples.json`` records
each one's test-set index and label. MNIST (Y. LeCun, C. Cortes, C. J. C. Burges) is
available under the Creative Commons Attribution-Share Alike 3.0 licence.
``color.png``: 64x64 RGB, :func:`color_picture` (pure NumPy, so bit-reproducible).
"""

import json
import pathlib
import sys

import numpy as np

SOURCE = (
    "MNIST test set (t10k-images-idx3-ubyte), Y. LeCun, C. Cortes, C. J. C. Burges; "
    "licence CC BY-SA 3.0"
)


def color_picture(size=64):
    """float32 (size, size, 3) in [0, 1]: sky gradient, sun, grass, a house, a tree."""
    s = size
    y, x = np.mgrid[0:s, 0:s].astype(np.float32) / s  # 0..1, y downwards
    img = np.empty((s, s, 3), np.float32)
    # sky: light blue at the horizon to deeper blue at the top
    t = y[..., None] / 0.7
    img[:] = (1 - t) * np.array([0.25, 0.45, 0.85]) + t * np.array([0.7, 0.85, 1.0])
    # sun with a soft halo
    r = np.hypot(x - 0.8, y - 0.18)
    img[r < 0.16] = 0.6 * img[r < 0.16] + 0.4 * np.array([1.0, 0.95, 0.6])
    img[r < 0.09] = [1.0, 0.85, 0.2]
    # grass with a gentle hill line
    ground = y > 0.72 + 0.04 * np.sin(6 * x)
    img[ground] = np.array([0.2, 0.6, 0.2]) + 0.1 * (y[ground, None] - 0.7)
    # house body, roof (triangle), door and window
    body = (x > 0.2) & (x < 0.55) & (y > 0.5) & (y < 0.8)
    img[body] = [0.85, 0.75, 0.55]
    roof = (y > 0.3) & (y <= 0.5) & (np.abs(x - 0.375) < (y - 0.3) * 1.0 + 0.0)
    img[roof] = [0.7, 0.15, 0.1]
    door = (x > 0.33) & (x < 0.42) & (y > 0.62) & (y < 0.8)
    img[door] = [0.4, 0.22, 0.1]
    window = (x > 0.24) & (x < 0.3) & (y > 0.56) & (y < 0.63)
    window |= (x > 0.46) & (x < 0.52) & (y > 0.56) & (y < 0.63)
    img[window] = [0.55, 0.8, 0.95]
    # tree: trunk and round crown
    trunk = (x > 0.74) & (x < 0.79) & (y > 0.58) & (y < 0.8)
    img[trunk] = [0.45, 0.3, 0.15]
    crown = np.hypot(x - 0.765, (y - 0.5) * 1.1) < 0.11
    img[crown] = [0.1, 0.45, 0.15]
    return np.clip(img, 0, 1)


def first_of_each_class(labels, classes=10):
    """Index of the first image of each class 0..classes-1 (in test-set order)."""
    labels = np.asarray(labels)
    return [int(np.flatnonzero(labels == d)[0]) for d in range(classes)]


def main(mnist_dir, outdir=None):
    import matplotlib.image

    from .datasets import load_dataset

    out = (
        pathlib.Path(outdir) if outdir else pathlib.Path(__file__).resolve().parents[1] / "samples"
    )
    out.mkdir(parents=True, exist_ok=True)
    images, labels = load_dataset("mnist", "test", mnist_dir)
    info = {}
    for d, i in enumerate(first_of_each_class(labels)):
        np.save(out / f"digit{d}.npy", images[i])
        info[f"digit{d}"] = {"label": d, "source": SOURCE, "index": i}
    info["color"] = {"label": None, "source": "drawn by cnnsim.data.make_samples.color_picture"}
    (out / "samples.json").write_text(json.dumps(info, indent=1) + "\n")
    pic = np.rint(color_picture() * 255).astype(np.uint8)
    matplotlib.image.imsave(out / "color.png", pic)
    return out


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python -m cnnsim.data.make_samples MNIST_DIR [OUTDIR]")
    print(f"samples written to {main(*sys.argv[1:3])}")
