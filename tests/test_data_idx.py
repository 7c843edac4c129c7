"""IDX reading and validation, dataset location, and the real MNIST test split."""

import gzip
import struct

import numpy as np
import pytest

from cnnsim.data import DataError, load_fashion_mnist, load_mnist
from cnnsim.data.datasets import data_root, default_cache_dir, load_dataset
from cnnsim.data.idx import encode_idx, read_images, read_labels, read_pair, write_idx


def make_split(folder, n=7, n_labels=None, split="train", gz=True, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n if n_labels is None else n_labels, dtype=np.uint8)
    pre = "train" if split == "train" else "t10k"
    ext = ".gz" if gz else ""
    folder.mkdir(parents=True, exist_ok=True)
    write_idx(folder / f"{pre}-images-idx3-ubyte{ext}", images)
    write_idx(folder / f"{pre}-labels-idx1-ubyte{ext}", labels)
    return images, labels


@pytest.mark.parametrize("gz", [True, False])
def test_round_trip_gzip_and_raw(tmp_path, gz):
    images, labels = make_split(tmp_path / "mnist", gz=gz)
    raw = (tmp_path / "mnist" / ("train-images-idx3-ubyte" + (".gz" if gz else ""))).read_bytes()
    assert (raw[:2] == b"\x1f\x8b") == gz
    x, y = load_mnist("train", data_dir=tmp_path, verify=False)
    assert x.dtype == np.uint8 and y.dtype == np.uint8
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)
    x3, y3 = load_mnist("train", data_dir=tmp_path, limit=3, verify=False)
    np.testing.assert_array_equal(x3, images[:3])
    assert y3.shape == (3,)


def test_header_layout_is_big_endian_idx():
    b = encode_idx(np.zeros((2, 3, 4), np.uint8))
    assert b[:4] == bytes([0, 0, 8, 3])
    assert struct.unpack(">III", b[4:16]) == (2, 3, 4)
    assert len(b) == 16 + 24
    assert encode_idx(np.arange(5, dtype=np.uint8))[:8] == bytes([0, 0, 8, 1, 0, 0, 0, 5])


def _write(path, data, gz=True):
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def test_truncated_images_message(tmp_path):
    header = struct.pack(">IIII", 0x803, 60000, 28, 28)
    p = _write(tmp_path / "train-images-idx3-ubyte.gz", header + bytes(1000))
    with pytest.raises(DataError) as e:
        read_images(p)
    msg = str(e.value)
    assert msg == (
        "train-images-idx3-ubyte.gz: truncated: header says 60000 images of 28x28 "
        "(47040000 bytes) but only 1000 bytes follow"
    )
    assert "\n" not in msg


def test_trailing_bytes_rejected(tmp_path):
    p = _write(tmp_path / "x-labels", encode_idx(np.zeros(4, np.uint8)) + b"\x00\x00", gz=False)
    with pytest.raises(DataError, match=r"x-labels: 2 unexpected bytes after the data"):
        read_labels(p)


@pytest.mark.parametrize(
    "header, pattern",
    [
        (struct.pack(">I", 0x12345678), r"not an IDX file: magic number 0x12345678"),
        (
            struct.pack(">IIII", 0x801, 1, 1, 1),
            r"magic number 0x00000801 says labels, expected "
            r"0x00000803 \(images",
        ),
        (struct.pack(">IIII", 0x0D03, 1, 2, 2), r"unsupported element type 0x0d"),
        (
            struct.pack(">III", 0x803, 5, 28),
            r"truncated: header needs 16 bytes but the file has 12",
        ),
        (struct.pack(">IIII", 0x803, 0, 28, 28), r"header has a zero dimension"),
        (b"\x00\x00", r"truncated: 2 bytes, too short for an IDX header"),
    ],
)
def test_bad_image_headers(tmp_path, header, pattern):
    p = _write(tmp_path / "bad-images.gz", header)
    with pytest.raises(DataError, match="bad-images.gz: " + pattern):
        read_images(p)


def test_labels_file_given_as_images_and_bad_label(tmp_path):
    p = _write(tmp_path / "lab", encode_idx(np.array([1, 2, 12], np.uint8)), gz=False)
    with pytest.raises(DataError, match=r"lab: magic number 0x00000801 says labels"):
        read_images(p)
    with pytest.raises(DataError, match=r"lab: label 12 at index 2 is out of range 0..9"):
        read_labels(p)


def test_corrupt_and_truncated_gzip(tmp_path):
    good = gzip.compress(encode_idx(np.zeros((3, 28, 28), np.uint8)))
    p = tmp_path / "cut-images.gz"
    p.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match=r"cut-images.gz: truncated gzip stream"):
        read_images(p)
    p.write_bytes(good[:10] + b"\xff" * (len(good) - 10))
    with pytest.raises(DataError, match=r"cut-images.gz: corrupt gzip data"):
        read_images(p)


def test_count_mismatch(tmp_path):
    make_split(tmp_path, n=5, n_labels=4)
    with pytest.raises(
        DataError,
        match=r"train-images-idx3-ubyte.gz has 5 images but "
        r"train-labels-idx1-ubyte.gz has 4 labels",
    ):
        load_mnist("train", data_dir=tmp_path, verify=False)
    with pytest.raises(DataError):
        read_pair(tmp_path / "train-images-idx3-ubyte.gz", tmp_path / "train-labels-idx1-ubyte.gz")


def test_missing_dataset_message(tmp_path):
    with pytest.raises(DataError) as e:
        load_fashion_mnist("test", data_dir=tmp_path)
    msg = str(e.value)
    assert "\n" not in msg
    assert str(tmp_path / "fashion-mnist") in msg and "t10k-images-idx3-ubyte" in msg
    assert "cnnsim data download fashion-mnist" in msg and "synthetic" in msg


def test_missing_file_and_bad_arguments(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_images(tmp_path / "nope.gz")
    make_split(tmp_path)
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        load_mnist("valid", data_dir=tmp_path)
    with pytest.raises(ValueError, match="limit must be a positive integer"):
        load_mnist("train", data_dir=tmp_path, limit=0)
    with pytest.raises(ValueError, match="unknown dataset 'cifar'"):
        load_dataset("cifar")


def test_data_root_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNSIM_DATA", str(tmp_path / "env"))
    assert data_root(tmp_path / "arg") == tmp_path / "arg"
    assert data_root() == tmp_path / "env"
    monkeypatch.delenv("CNNSIM_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data_root() == default_cache_dir() == tmp_path / "xdg" / "cnnsim"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_root().parts[-2:] == (".cache", "cnnsim")
    # CNNSIM_DATA is used when no argument is given, and its <name>/ subfolder is searched
    images, _ = make_split(tmp_path / "env" / "mnist", n=3, split="test")
    monkeypatch.setenv("CNNSIM_DATA", str(tmp_path / "env"))
    np.testing.assert_array_equal(load_mnist("test", verify=False)[0], images)


def test_real_mnist_test_split(mnist_dir):
    x, y = load_mnist("test", data_dir=mnist_dir)
    assert x.shape == (10000, 28, 28) and x.dtype == np.uint8
    assert y.shape == (10000,) and y.min() == 0 and y.max() == 9
    assert np.bincount(y, minlength=10).sum() == 10000
    assert np.bincount(y)[1] == 1135  # the well-known count of ones in the test set
    np.testing.assert_array_equal(
        y[:20], [7, 2, 1, 0, 4, 1, 4, 9, 5, 9, 0, 6, 9, 0, 1, 5, 9, 7, 3, 4]
    )
    # parent folder (the CNNSIM_DATA=../shared/data layout) works too
    x2, _ = load_mnist("test", data_dir=mnist_dir.parent, limit=5)
    np.testing.assert_array_equal(x2, x[:5])
