"""Shipped sample images, image files, and fitting an image to a model input."""

import numpy as np
import pytest

from cnnsim.data import DataError, fit_to, list_samples, load_image, load_sample
from cnnsim.data.make_samples import color_picture
from cnnsim.data.samples import SAMPLES_DIR


def test_shipped_samples_list_and_shapes():
    names = list_samples()
    assert "color" in names
    digits = [n for n in names if n.startswith("digit")]
    assert len(digits) >= 5
    for n in names:
        a = load_sample(n)
        assert a.dtype == np.float32 and a.ndim == 3
        assert 0 <= a.min() and a.max() <= 1
    for n in digits:
        a = load_sample(n)
        assert a.shape == (1, 28, 28)
        assert a.max() > 0.8 and np.mean(a[:, :2]) < 0.1  # white digit on black
    assert load_sample("color").shape == (3, 64, 64)
    total = sum(p.stat().st_size for p in SAMPLES_DIR.iterdir())
    assert total < 200_000


def test_color_sample_is_the_procedural_picture():
    want = np.rint(color_picture() * 255).astype(np.uint8).transpose(2, 0, 1) / 255.0
    np.testing.assert_allclose(load_sample("color"), want, atol=1e-6)


def test_unknown_sample():
    with pytest.raises(ValueError, match=r"unknown sample 'cat'; choose one of color, digit0"):
        load_sample("cat")


@pytest.mark.parametrize(
    "arr, shape",
    [
        (np.full((5, 6), 255, np.uint8), (1, 5, 6)),
        (np.zeros((5, 6, 3), np.float32), (3, 5, 6)),
        (np.zeros((5, 6, 4), np.float32), (3, 5, 6)),  # alpha dropped
        (np.zeros((3, 5, 6), np.float64), (3, 5, 6)),
        (np.zeros((1, 5, 6), np.float32), (1, 5, 6)),
    ],
)
def test_load_image_npy_layouts(tmp_path, arr, shape):
    np.save(tmp_path / "a.npy", arr)
    img = load_image(tmp_path / "a.npy")
    assert img.shape == shape and img.dtype == np.float32
    if arr.dtype == np.uint8:
        assert img.max() == 1.0


def test_load_image_png_and_jpeg(tmp_path):
    import matplotlib.image

    pic = np.rint(color_picture(16) * 255).astype(np.uint8)
    matplotlib.image.imsave(tmp_path / "p.png", pic)
    np.testing.assert_allclose(
        load_image(tmp_path / "p.png"), pic.transpose(2, 0, 1) / 255, atol=1e-6
    )
    matplotlib.image.imsave(tmp_path / "p.jpg", pic)
    j = load_image(tmp_path / "p.jpg")
    assert j.shape == (3, 16, 16) and np.abs(j - pic.transpose(2, 0, 1) / 255).mean() < 0.1


def test_load_image_errors(tmp_path):
    with pytest.raises(DataError, match=r"no such file"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "x.bmp").write_bytes(b"BM")
    with pytest.raises(DataError, match=r"unsupported image type '.bmp'; use PNG, JPEG or .npy"):
        load_image(tmp_path / "x.bmp")
    (tmp_path / "bad.png").write_bytes(b"not a png at all")
    with pytest.raises(DataError) as e:
        load_image(tmp_path / "bad.png")
    assert "bad.png: cannot read image" in str(e.value) and "\n" not in str(e.value)
    (tmp_path / "bad.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(DataError, match=r"bad.npy: cannot read image"):
        load_image(tmp_path / "bad.npy")
    np.save(tmp_path / "big.npy", np.full((4, 4), 300.0))
    with pytest.raises(DataError, match=r"values must lie in \[0, 1\] or \[0, 255\]"):
        load_image(tmp_path / "big.npy")
    np.save(tmp_path / "vol.npy", np.zeros((2, 4, 4, 4)))
    with pytest.raises(DataError, match=r"expected an image of shape"):
        load_image(tmp_path / "vol.npy")


def test_fit_to_color_picture_for_lenet():
    img, note = fit_to(load_sample("color"), (1, 32, 32))
    assert img.shape == (1, 32, 32) and img.dtype == np.float32
    assert note == "converted RGB to grayscale (luminance); resized 64x64 -> 32x32 (bilinear)"
    rgb = load_sample("color")
    gray = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    np.testing.assert_allclose(img[0], gray.reshape(32, 2, 32, 2).mean((1, 3)), atol=1e-5)


def test_fit_to_digit_pads_28_to_32_and_repeats_gray():
    d = load_sample("digit3")
    img, note = fit_to(d, (1, 32, 32))
    assert note == "padded 28x28 -> 32x32 with zeros"
    np.testing.assert_array_equal(img[:, 2:30, 2:30], d)
    assert img[:, :2].max() == 0 and img[:, :, 30:].max() == 0
    img, note = fit_to(d, (3, 227, 227))
    assert img.shape == (3, 227, 227)
    assert note == "repeated grayscale into 3 channels; resized 28x28 -> 227x227 (bilinear)"
    np.testing.assert_array_equal(img[0], img[2])
    same, note = fit_to(d, (1, 28, 28))
    assert note == "" and np.array_equal(same, d)
    _, note = fit_to(np.zeros((1, 20, 40), np.float32), (1, 32, 32))
    assert note == "resized 20x40 -> 32x32 (bilinear, aspect ratio changed)"


def test_fit_to_errors():
    with pytest.raises(ValueError, match=r"fit_to: cannot convert a 2-channel image to 3"):
        fit_to(np.zeros((2, 4, 4)), (3, 4, 4))
    with pytest.raises(ValueError, match=r"fit_to: expected an image \(C, H, W\)"):
        fit_to(np.zeros((4, 4)), (1, 4, 4))
