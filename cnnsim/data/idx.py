"""IDX files (the MNIST / Fashion-MNIST format), gzip-compressed or raw.

Layout (big-endian), as described on LeCun's MNIST page:

    bytes 0-1   0x00 0x00
    byte  2     element type (0x08 = unsigned byte, the only one these datasets use)
    byte  3     number of dimensions d (3 for images (N, rows, cols), 1 for labels (N,))
    then d 32-bit sizes, then prod(sizes) elements, row-major.

So the full magic number is 0x00000803 for an image file and 0x00000801 for a label
file. Every check below fails with a one-line :class:`DataError` that names the file
and what was wrong, never with a NumPy reshape error.
"""

import gzip
import os
import pathlib
import struct
import zlib

import numpy as np

GZIP_MAGIC = b"\x1f\x8b"
UBYTE = 0x08
IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801


class DataError(ValueError):
    """A dataset file is missing, corrupt, truncated or does not match its partner."""


def read_bytes(path):
    """Bytes of ``path``, gunzipped when the file starts with the gzip magic 1f 8b."""
    path = pathlib.Path(path)
    name = path.name
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    if raw[:2] == GZIP_MAGIC:
        try:
            return gzip.decompress(raw)
        except EOFError:
            raise DataError(
                f"{name}: truncated gzip stream (the download was probably "
                f"cut short; delete it and download again)"
            ) from None
        except (OSError, zlib.error) as e:
            raise DataError(f"{name}: corrupt gzip data ({e})") from None
    return raw


def parse_idx(data, name, kind):
    """Parse IDX bytes ``data`` of kind ``"images"`` (N, rows, cols) or ``"labels"`` (N,).

    ``name`` is used in error messages. Returns a uint8 array (a view on ``data``).
    """
    want_magic, want_ndim = (IMAGES_MAGIC, 3) if kind == "images" else (LABELS_MAGIC, 1)
    if len(data) < 4:
        raise DataError(f"{name}: truncated: {len(data)} bytes, too short for an IDX header")
    magic = struct.unpack(">I", data[:4])[0]
    if data[0] != 0 or data[1] != 0:
        raise DataError(
            f"{name}: not an IDX file: magic number 0x{magic:08x}, expected "
            f"0x{want_magic:08x} ({kind})"
        )
    if data[2] != UBYTE:
        raise DataError(
            f"{name}: unsupported element type 0x{data[2]:02x} in magic 0x{magic:08x},"
            f" expected 0x08 (unsigned byte)"
        )
    if data[3] != want_ndim:
        other = {3: "images", 1: "labels"}.get(data[3], f"{data[3]}-dimensional data")
        raise DataError(
            f"{name}: magic number 0x{magic:08x} says {other}, expected "
            f"0x{want_magic:08x} ({kind}, {want_ndim} dimension"
            f"{'s' if want_ndim > 1 else ''})"
        )
    head = 4 + 4 * want_ndim
    if len(data) < head:
        raise DataError(
            f"{name}: truncated: header needs {head} bytes but the file has {len(data)}"
        )
    dims = struct.unpack(">" + "I" * want_ndim, data[4:head])
    if any(d == 0 for d in dims):
        raise DataError(f"{name}: header has a zero dimension {dims}")
    need = int(np.prod(dims, dtype=np.int64))
    have = len(data) - head
    if kind == "images":
        what = f"{dims[0]} images of {dims[1]}x{dims[2]} ({need} bytes)"
    else:
        what = f"{dims[0]} labels ({need} bytes)"
    if have < need:
        raise DataError(f"{name}: truncated: header says {what} but only {have} bytes follow")
    if have > need:
        raise DataError(
            f"{name}: {have - need} unexpected bytes after the data: header says "
            f"{what} but {have} bytes follow"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=head, count=need).reshape(dims)


def read_idx(path, kind):
    """Read an IDX file (gzip or raw) of kind ``"images"`` or ``"labels"``; uint8 array."""
    if kind not in ("images", "labels"):
        raise ValueError(f"read_idx: kind must be 'images' or 'labels', got {kind!r}")
    path = pathlib.Path(path)
    return parse_idx(read_bytes(path), path.name, kind)


def read_images(path):
    """uint8 images (N, rows, cols) from an IDX image file."""
    return read_idx(path, "images")


def read_labels(path, num_classes=10):
    """uint8 labels (N,) from an IDX label file; every label must be < ``num_classes``."""
    labels = read_idx(path, "labels")
    if num_classes is not None and labels.size and labels.max() >= num_classes:
        bad = int(np.argmax(labels >= num_classes))
        raise DataError(
            f"{pathlib.Path(path).name}: label {labels[bad]} at index {bad} is out "
            f"of range 0..{num_classes - 1}"
        )
    return labels


def read_pair(images_path, labels_path, num_classes=10):
    """Images (N, rows, cols) and labels (N,), checked to describe the same N examples."""
    images = read_images(images_path)
    labels = read_labels(labels_path, num_classes)
    if len(images) != len(labels):
        raise DataError(
            f"{pathlib.Path(images_path).name} has {len(images)} images but "
            f"{pathlib.Path(labels_path).name} has {len(labels)} labels"
        )
    return images, labels


def encode_idx(array):
    """IDX bytes of a uint8 array of rank 1 (labels) or 3 (images); the inverse of parse_idx."""
    a = np.ascontiguousarray(array)
    if a.dtype != np.uint8 or a.ndim not in (1, 3):
        raise ValueError(
            f"encode_idx: expected a uint8 array of rank 1 or 3, got {a.dtype} {a.shape}"
        )
    return (
        struct.pack(">BBBB", 0, 0, UBYTE, a.ndim)
        + struct.pack(">" + "I" * a.ndim, *a.shape)
        + a.tobytes()
    )


def write_idx(path, array, compress=None):
    """Write ``array`` as an IDX file; gzip when ``compress`` (default: name ends in .gz)."""
    path = pathlib.Path(path)
    data = encode_idx(array)
    if compress is None:
        compress = path.suffix == ".gz"
    if compress:
        data = gzip.compress(data, mtime=0)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path
