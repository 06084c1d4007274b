"""Fashion-MNIST (or MNIST) from IDX files: Debian's dataset-fashion-mnist, or any folder given.

Search order: an explicit data_dir, $GANEVAL_DATA_DIR, /usr/share/datasets/fashion-mnist.
The same reader takes real MNIST files (train-images-idx3-ubyte[.gz] and friends).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ganeval.datasets.idx import read_idx
from ganeval.errors import BadInputError

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
_PREFIX = {"train": "train", "test": "t10k"}
MSG_MISSING = (
    "Fashion-MNIST not found (looked in: {dirs}); install it with `sudo apt-get install dataset-fashion-mnist`, "
    "or put MNIST-format IDX files (train-images-idx3-ubyte.gz, ...) in a folder and pass --data-dir or set "
    "GANEVAL_DATA_DIR"
)


def search_dirs(data_dir: str | Path | None = None) -> list[Path]:
    dirs = []
    if data_dir:
        if not Path(data_dir).is_dir():
            raise BadInputError(f"no such data folder: {data_dir}")
        dirs.append(Path(data_dir))
    if os.environ.get("GANEVAL_DATA_DIR"):
        dirs.append(Path(os.environ["GANEVAL_DATA_DIR"]))
    dirs.append(DEBIAN_DIR)
    return dirs


def _find(directory: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (directory / name).is_file():
            return directory / name
    return None


def find_files(split: str, data_dir: str | Path | None = None) -> tuple[Path, Path]:
    """Locate the (images, labels) IDX files of `split` ("train" or "test")."""
    if split not in _PREFIX:
        raise BadInputError(f"unknown split {split!r}; use 'train' or 'test'")
    dirs = search_dirs(data_dir)
    for d in dirs:
        images = _find(d, f"{_PREFIX[split]}-images-idx3-ubyte")
        labels = _find(d, f"{_PREFIX[split]}-labels-idx1-ubyte")
        if images and labels:
            return images, labels
    raise BadInputError(MSG_MISSING.format(dirs=", ".join(str(d) for d in dirs)))


def load_fashion_mnist(split: str = "train", data_dir: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return (images uint8 (N, 28, 28), labels int64 (N,)) of `split`."""
    images_path, labels_path = find_files(split, data_dir)
    images = read_idx(images_path)
    labels = read_idx(labels_path).astype(np.int64)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise BadInputError(f"{images_path}: expected uint8 images of shape (N, H, W), got {images.dtype} {images.shape}")
    if labels.shape != (images.shape[0],):
        raise BadInputError(f"{labels_path}: {labels.shape[0]} labels for {images.shape[0]} images")
    return images, labels
