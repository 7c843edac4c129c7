"""Getting a dataset into a model's input shape, for training and evaluation."""
import numpy as np

from ..data import lenet_preprocess, load_dataset, load_synthetic_digits, to_float


def load_for_model(data, input_shape, data_dir=None, limit=None, test_limit=None, seed=0):
    """``((x_train, y_train), (x_test, y_test), note)`` shaped for ``input_shape (C, H, W)``.

    ``data``: "mnist", "fashion-mnist", "synthetic", or "auto" (MNIST when its files are
    found, else synthetic digits, saying so in ``note``).
    """
    note = ""
    if data == "auto":
        try:
            load_dataset("mnist", "test", data_dir, limit=1)
            data = "mnist"
        except Exception as e:   # not present: fall back, and say why
            note = f"MNIST not found ({str(e).splitlines()[0]}); using synthetic digits instead"
            data = "synthetic"
    if data == "synthetic":
        n = limit or 6000
        xtr, ytr = load_synthetic_digits(n, seed=seed)
        xte, yte = load_synthetic_digits(test_limit or max(n // 5, 100), seed=seed + 10_000)
        note = note or f"synthetic digits ({n} train / {len(xte)} test, rendered from fonts)"
    else:
        xtr, ytr = load_dataset(data, "train", data_dir, limit=limit)
        xte, yte = load_dataset(data, "test", data_dir, limit=test_limit)
        note = note or f"{data}: {len(xtr)} train / {len(xte)} test images"
    return (shape_for(xtr, input_shape), ytr.astype(np.int64)), \
           (shape_for(xte, input_shape), yte.astype(np.int64)), note


def shape_for(images, input_shape):
    """uint8 (N, 28, 28) -> float32 (N, C, H, W): LeNet's padding to 32x32 and
    normalization when the model wants 32x32, [0, 1] scaling at 28x28, channel repeat."""
    c, h, w = input_shape
    if (h, w) == (32, 32):
        x = lenet_preprocess(images)
    elif (h, w) == images.shape[-2:]:
        x = to_float(images)
    else:
        raise ValueError(f"the model expects {h}x{w} inputs; this dataset has "
                         f"{images.shape[-2]}x{images.shape[-1]} images (use a model built "
                         f"with input_shape=(1, 28, 28) or (1, 32, 32))")
    if c > 1:
        x = np.repeat(x, c, axis=1)
    return np.ascontiguousarray(x, dtype=np.float32)
