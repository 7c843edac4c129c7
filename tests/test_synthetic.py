"""Synthetic digits: shape, determinism, MNIST-like framing, and learnable classes."""

import numpy as np
import pytest

from cnnsim.data import load_synthetic_digits
from cnnsim.data.synthetic import resize_bilinear


@pytest.fixture(scope="module")
def digits():
    return load_synthetic_digits(600, seed=5)


def test_shape_dtype_and_balanced_labels(digits):
    x, y = digits
    assert x.shape == (600, 28, 28) and x.dtype == np.uint8
    assert y.shape == (600,) and y.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(y, minlength=10), [60] * 10)
    assert not np.array_equal(y[:10], np.arange(10))  # shuffled


def test_deterministic_per_seed_and_independent_of_chunking(digits):
    x, y = digits
    x2, y2 = load_synthetic_digits(600, seed=5, chunk=64)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    x3, _ = load_synthetic_digits(600, seed=6)
    assert not np.array_equal(x, x3)


def test_mnist_like_framing(digits):
    x, _ = digits
    xf = x.astype(np.float64)
    mass = xf.sum((1, 2))
    assert (mass > 0).all()
    r = np.arange(28)
    com_r = (xf.sum(2) * r).sum(1) / mass
    com_c = (xf.sum(1) * r).sum(1) / mass
    # centred by mass near (14, 14) like MNIST, within the random shift of +-1.5 px
    assert abs(com_r.mean() - 14) < 0.5 and abs(com_c.mean() - 14) < 0.5
    assert np.abs(com_r - 14).max() < 3.5 and np.abs(com_c - 14).max() < 3.5
    # white digit on black: the border is (nearly) background, strokes reach full white
    border = np.concatenate(
        [x[:, :2].ravel(), x[:, -2:].ravel(), x[:, :, :2].ravel(), x[:, :, -2:].ravel()]
    )
    assert np.mean(border < 40) > 0.97
    assert np.median(x.reshape(len(x), -1).max(1)) > 200
    ink = (x > 128).mean()
    assert 0.06 < ink < 0.3  # MNIST: about 0.13


def test_synthetic_through_load_dataset():
    from cnnsim.data import load_dataset

    x, y = load_dataset("synthetic", "test", limit=30)
    xs, ys = load_synthetic_digits(30, seed=2)
    np.testing.assert_array_equal(x, xs)
    np.testing.assert_array_equal(y, ys)
    xt, _ = load_dataset("synthetic", "train", limit=30)
    assert not np.array_equal(x, xt)  # the splits use different seeds
    with pytest.raises(ValueError, match="load_synthetic: split must be"):
        load_dataset("synthetic", "val")


def test_other_size():
    x, y = load_synthetic_digits(20, seed=1, size=32)
    assert x.shape == (20, 32, 32)


def test_classes_are_learnable(digits):
    # nearest class mean on raw pixels, held-out seed: far above chance (0.1)
    x, y = digits
    xt, yt = load_synthetic_digits(300, seed=99)
    X = x.reshape(len(x), -1) / 255.0
    Xt = xt.reshape(len(xt), -1) / 255.0
    mu = np.stack([X[y == k].mean(0) for k in range(10)])
    pred = np.argmin(((Xt[:, None] - mu[None]) ** 2).sum(-1), 1)
    assert (pred == yt).mean() > 0.5


@pytest.mark.parametrize(
    "kw, pattern",
    [
        (dict(n=0), "n must be a positive integer"),
        (dict(n=2.5), "n must be a positive integer"),
        (dict(n=3, size=4), "size must be an integer >= 8"),
    ],
)
def test_bad_arguments(kw, pattern):
    with pytest.raises(ValueError, match="load_synthetic_digits: " + pattern):
        load_synthetic_digits(**kw)


def test_resize_bilinear_halving_averages_blocks_and_identity():
    a = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    np.testing.assert_allclose(resize_bilinear(a, 4, 4), a)
    want = a.reshape(1, 2, 2, 2, 2).mean((2, 4))
    np.testing.assert_allclose(resize_bilinear(a, 2, 2), want)
