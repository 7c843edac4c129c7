"""Getting a dataset into a model's input shape, for training and evaluation."""

import numpy as np

from ..data import DataError, load_dataset
from ..data.preprocess import apply_preprocess, preprocess_spec


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
        except DataError as e:  # not present: fall back, and say why
            note = f"MNIST not found ({str(e).splitlines()[0]}); using synthetic digits instead"
            data = "synthetic"
    xtr, ytr = load_dataset(data, "train", data_dir, limit=limit)
    xte, yte = load_dataset(data, "test", data_dir, limit=test_limit)
    if data == "synthetic":
        note = note or "synthetic digits (rendered from fonts, not MNIST)"
        note += f": {len(xtr)} train / {len(xte)} test images"
    else:
        note = note or f"{data}: {len(xtr)} train / {len(xte)} test images"
    return (
        (shape_for(xtr, input_shape), ytr.astype(np.int64)),
        (shape_for(xte, input_shape), yte.astype(np.int64)),
        note,
    )


def shape_for(images, input_shape):
    """uint8 (N, 28, 28) -> float32 (N, C, H, W): LeNet's padding to 32x32 and
    normalization when the model wants 32x32, [0, 1] scaling at 28x28, channel repeat
    (:func:`cnnsim.data.preprocess.preprocess_spec` names which)."""
    return apply_preprocess(images, preprocess_spec(input_shape, images.shape[-2:]))
