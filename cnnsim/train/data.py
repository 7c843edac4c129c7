"""Getting a dataset into a model's input shape, for training and evaluation."""
import numpy as np

from ..data import DataError, lenet_preprocess, load_dataset, to_float


def load_for_model(data, input_shape, data_dir=None, limit=None, test_limit=None):
    """``((x_train, y_train), (x_test, y_test), note)`` shaped for ``input_shape (C, H, W)``.

    ``data``: "mnist", "fashion-mnist", "synthetic", or "auto" (MNIST when its files are
    found, else synthetic digits, saying so in ``note``).
    """
    note = ""
    if data == "auto":
        try:
            load_dataset("mnist", "test", data_dir, limit=1)
            data = "mnist"
        except DataError as e:   # not present: fall back, and say why
            note = f"MNIST not found ({str(e).splitlines()[0]}); using synthetic digits instead"
            data = "synthetic"
    xtr, ytr = load_dataset(data, "train", data_dir, limit=limit)
    xte, yte = load_dataset(data, "test", data_dir, limit=test_limit)
    if data == "synthetic":
        note = note or "synthetic digits (rendered from fonts, not MNIST)"
        note += f": {len(xtr)} train / {len(xte)} test images"
    else:
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
