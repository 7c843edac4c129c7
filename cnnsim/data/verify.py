"""Is a dataset file the one it claims to be? Known SHA-256 digests of the published files.

MNIST: computed on the original files (``shared/data/mnist``; their md5 match the ones
published with the dataset), both as published (``.gz``) and decompressed (raw IDX, which
``cnnsim`` also reads). Fashion-MNIST: the SHA-256 of the four published ``.gz`` files as
listed by two independent projects that download them; they also agree with the md5 in
Fashion-MNIST's README where ``cnnsim data download`` checks both. A raw (decompressed)
Fashion-MNIST file has no known digest here, and is refused with a one-line reason.

A file whose digest differs is never used: the error names the file, and says which known
file it is when it is one (MNIST digits in a Fashion-MNIST folder, say).
"""

import hashlib
import pathlib

from .idx import DataError

SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc",
        "train-labels-idx1-ubyte.gz": "b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc",
        "t10k-images-idx3-ubyte.gz": "78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229",
        "t10k-labels-idx1-ubyte.gz": "42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf",
    },
}

_seen = {}  # (path, size, mtime) -> digest: each file is hashed once per process


def sha256_of(path):
    path = pathlib.Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _seen:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _seen[key] = h.hexdigest()
    return _seen[key]


def identify(digest):
    """'mnist t10k-images-idx3-ubyte.gz' for a known digest, else None."""
    for name, files in SHA256.items():
        for fname, d in files.items():
            if d == digest:
                return f"{name} {fname}"
    return None


def verify_file(name, path):
    """One-line :class:`DataError` unless ``path`` is the published file of dataset
    ``name`` it is named after; returns the digest."""
    path = pathlib.Path(path)
    known = SHA256.get(name, {}).get(path.name)
    if known is None:
        raise DataError(
            f"{path}: no known checksum for a {name} file named {path.name!r} "
            f"(cnnsim verifies the files as published: "
            f"{', '.join(sorted(f for f in SHA256.get(name, {}) if f.endswith('.gz')))}"
            f"); use those, e.g. `cnnsim data download {name}`"
        )
    digest = sha256_of(path)
    if digest != known:
        other = identify(digest)
        what = f"it is {other}" if other else "it is not the published file"
        raise DataError(
            f"{path}: SHA-256 {digest[:16]}... does not match {name}'s "
            f"{path.name} ({what}); refusing to use it: re-download with "
            f"`cnnsim data download {name}`"
        )
    return digest
