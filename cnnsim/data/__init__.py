"""Data: MNIST / Fashion-MNIST IDX files, their download, synthetic offline digits,
LeNet-5 preprocessing, AlexNet-style augmentation and the shipped sample images.

Importing this package is cheap: matplotlib is only imported to render synthetic
digits or read PNG/JPEG files.
"""

from .augment import augment, center_crop, random_crop, rgb_pca
from .datasets import (
    CLASS_NAMES,
    DATASETS,
    FASHION_CLASSES,
    data_root,
    dataset_dir,
    default_cache_dir,
    load_dataset,
    load_fashion_mnist,
    load_mnist,
    load_synthetic,
)
from .download import DownloadError, download
from .idx import DataError, read_images, read_labels, read_pair, write_idx
from .preprocess import lenet_preprocess, to_float
from .samples import fit_to, list_samples, load_image, load_sample
from .synthetic import load_synthetic_digits

__all__ = [
    "augment",
    "center_crop",
    "random_crop",
    "rgb_pca",
    "CLASS_NAMES",
    "DATASETS",
    "FASHION_CLASSES",
    "data_root",
    "dataset_dir",
    "default_cache_dir",
    "load_dataset",
    "load_fashion_mnist",
    "load_mnist",
    "load_synthetic",
    "DownloadError",
    "download",
    "DataError",
    "read_images",
    "read_labels",
    "read_pair",
    "write_idx",
    "lenet_preprocess",
    "to_float",
    "fit_to",
    "list_samples",
    "load_image",
    "load_sample",
    "load_synthetic_digits",
]
