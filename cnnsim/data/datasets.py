"""MNIST and Fashion-MNIST from their standard IDX files, and where to find them.

The data folder is, in order: the ``data_dir`` argument (``--data-dir``), the
``CNNSIM_DATA`` environment variable, or a per-user cache folder
(``$XDG_CACHE_HOME/cnnsim``, by default ``~/.cache/cnnsim``). A dataset's four files
are looked for in ``<folder>/<dataset>/`` (where ``cnnsim data download`` puts them)
and then in ``<folder>`` itself, each either gzipped (``*.gz``) or raw.
"""

import os
import pathlib

import numpy as np

from .idx import DataError, read_pair

#: The standard file names of each split (both datasets use the same ones).
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

DATASETS = ("mnist", "fashion-mnist")

FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
CLASS_NAMES = {
    "mnist": tuple(str(d) for d in range(10)),
    "fashion-mnist": FASHION_CLASSES,
    "synthetic": tuple(str(d) for d in range(10)),
}


def canonical_name(name):
    """'MNIST', 'fashion_mnist', 'fashion-mnist' ... -> 'mnist' or 'fashion-mnist'."""
    key = str(name).strip().lower().replace("_", "-")
    if key == "fashion":
        key = "fashion-mnist"
    if key not in DATASETS:
        raise ValueError(
            f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)} (or synthetic)"
        )
    return key


def default_cache_dir():
    """``$XDG_CACHE_HOME/cnnsim`` or ``~/.cache/cnnsim``."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = pathlib.Path(xdg) if xdg else pathlib.Path.home() / ".cache"
    return base / "cnnsim"


def data_root(data_dir=None):
    """The data folder: ``data_dir``, else ``$CNNSIM_DATA``, else the per-user cache."""
    if data_dir is not None:
        return pathlib.Path(data_dir).expanduser()
    env = os.environ.get("CNNSIM_DATA")
    if env:
        return pathlib.Path(env).expanduser()
    return default_cache_dir()


def dataset_dir(name, data_dir=None):
    """Where ``cnnsim data download NAME`` writes: ``<data root>/<name>``."""
    return data_root(data_dir) / canonical_name(name)


def _candidates(name, data_dir):
    root = data_root(data_dir)
    return [root / canonical_name(name), root]


def find_file(stem, dirs):
    """First of ``dir/stem.gz``, ``dir/stem`` over ``dirs`` that exists, else None."""
    for d in dirs:
        for fname in (stem + ".gz", stem):
            p = d / fname
            if p.is_file():
                return p
    return None


def split_paths(name, split, data_dir=None):
    """(images path, labels path) of a split, or a one-line DataError saying where it looked."""
    name = canonical_name(name)
    if split not in SPLIT_FILES:
        raise ValueError(
            f"load_{name.replace('-', '_')}: split must be 'train' or 'test', got {split!r}"
        )
    dirs = _candidates(name, data_dir)
    paths = [find_file(stem, dirs) for stem in SPLIT_FILES[split]]
    missing = [stem for stem, p in zip(SPLIT_FILES[split], paths) if p is None]
    if missing:
        where = " and ".join(str(d) for d in dirs)
        raise DataError(
            f"{name} {split} split not found: looked for {', '.join(m + '[.gz]' for m in missing)}"
            f" in {where}; get it with `cnnsim data download {name}` (add --data-dir DIR to "
            f"choose the folder, or set CNNSIM_DATA), or use the synthetic digits "
            f"(--data synthetic), which need no download"
        )
    return tuple(paths)


def _check_limit(limit, where):
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1:
        raise ValueError(f"{where}: limit must be a positive integer or None, got {limit!r}")
    return int(limit)


#: synthetic stand-in for a split: (default size, seed); different seeds per split
SYNTHETIC_SPLITS = {"train": (10000, 1), "test": (2000, 2)}


def load_synthetic(split="train", limit=None):
    """The offline default: synthetic digits (not MNIST; see cnnsim.data.synthetic),
    uint8 (N, 28, 28) and labels (N,), N = ``limit`` or 10,000 (train) / 2,000 (test)."""
    if split not in SYNTHETIC_SPLITS:
        raise ValueError(f"load_synthetic: split must be 'train' or 'test', got {split!r}")
    from .synthetic import load_synthetic_digits

    size, seed = SYNTHETIC_SPLITS[split]
    limit = _check_limit(limit, "load_synthetic")
    return load_synthetic_digits(limit or size, seed=seed)


def load_dataset(name, split="train", data_dir=None, limit=None, verify=True):
    """Images uint8 (N, 28, 28) and labels uint8 (N,) of MNIST, Fashion-MNIST or
    ``"synthetic"`` (:func:`load_synthetic`, which ignores ``data_dir``).

    ``limit`` keeps the first ``limit`` examples (the files are read and validated whole).
    ``verify``: check each file's SHA-256 against the published one
    (:mod:`cnnsim.data.verify`); only files you made yourself need ``verify=False``.
    Raises :class:`DataError` (one line) when the files are missing, not the published
    ones, corrupt, truncated or do not match each other.
    """
    if str(name).strip().lower() == "synthetic":
        return load_synthetic(split, limit)
    name = canonical_name(name)
    limit = _check_limit(limit, f"load_{name.replace('-', '_')}")
    images_path, labels_path = split_paths(name, split, data_dir)
    if verify:
        from .verify import verify_file

        verify_file(name, images_path)
        verify_file(name, labels_path)
    images, labels = read_pair(images_path, labels_path)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    # copies: writable arrays independent of the file buffer
    return np.array(images), np.array(labels)


def load_mnist(split="train", data_dir=None, limit=None, verify=True):
    """MNIST (LeCun, Cortes & Burges): images uint8 (N, 28, 28), labels uint8 (N,) in 0..9.

    ``split`` is ``"train"`` (60,000) or ``"test"`` (10,000). See :func:`load_dataset`.
    """
    return load_dataset("mnist", split, data_dir, limit, verify)


def load_fashion_mnist(split="train", data_dir=None, limit=None, verify=True):
    """Fashion-MNIST (Xiao, Rasul & Vollgraf 2017), same format as MNIST.

    Labels 0..9 name :data:`FASHION_CLASSES`. See :func:`load_dataset`.
    """
    return load_dataset("fashion-mnist", split, data_dir, limit, verify)
