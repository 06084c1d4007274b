"""Datasets by name: a registry of loaders that return labelled uint8 image tensors.

    load_dataset("fashion-mnist", split="train")          # Debian's IDX files, or --data-dir
    load_dataset("digits", image_size=28)                 # scikit-learn's 8x8 digits, upscaled
    load_dataset("path/to/folder")                        # any image folder or archive; class = subfolder

Built-ins register through the same public call a plugin uses (`register_dataset`). Every loader
returns an `ImageDataset`: uint8 (N, C, H, W) images with C = 1 or 3, optional int64 labels, class
names, and a fingerprint (sha256 over the name, class names, pixels and labels), so a training run
records exactly which data it saw.

Resizing (`image_size` different from the native size) is bilinear with antialiasing
(torch.nn.functional.interpolate, align_corners=False, antialias=True) on float pixels, rounded half
to even and clipped to 0..255 (`resize_images`). Upscaling therefore interpolates linearly between
neighbouring pixel centres; downscaling averages, so it does not alias.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ganeval.errors import BadInputError

if TYPE_CHECKING:
    import torch

__all__ = [
    "DatasetEntry", "ImageDataset", "available_datasets", "dataset_fingerprint", "load_dataset",
    "make_dataset", "register_dataset", "resize_images",
]

RESIZE_METHOD = "bilinear-antialias"
MSG_UNKNOWN_DATASET = "unknown dataset {spec!r}: not a registered dataset ({known}) nor an existing folder or archive"
MSG_NO_SPLIT = "dataset {name!r} has no {split!r} split (it has: {splits})"


@dataclass(frozen=True)
class ImageDataset:
    """Images of one dataset split, in memory.

    images:      uint8 (N, C, H, W), C = 1 (grayscale) or 3 (RGB).
    labels:      int64 (N,) class indices into `class_names`, or None for unlabelled data.
    class_names: one name per class (empty when unlabelled).
    fingerprint: sha256 hex of what determines the pixels and labels (see `dataset_fingerprint`).
    """

    name: str
    images: torch.Tensor
    labels: torch.Tensor | None
    class_names: tuple[str, ...]
    fingerprint: str

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of every image."""
        return tuple(int(v) for v in self.images.shape[1:])  # type: ignore[return-value]

    @property
    def n_classes(self) -> int:
        return len(self.class_names)


@dataclass(frozen=True)
class DatasetEntry:
    """A registered dataset: loader(split=, image_size=, data_dir=, limit=) -> ImageDataset.

    splits: the split names the loader accepts; a dataset with a "test" split is evaluated on it,
    others on a seeded held-out part of "train" (reference_models.loop).
    """

    name: str
    loader: Callable[..., ImageDataset]
    description: str
    splits: tuple[str, ...] = ("train", "test")


_REGISTRY: dict[str, DatasetEntry] = {}
_BUILTINS = ("ganeval.datasets.digits", "ganeval.datasets.synthfaces")
_loaded = False


def register_dataset(name: str, loader: Callable[..., ImageDataset], description: str,
                     splits: tuple[str, ...] = ("train", "test")) -> None:
    """Add (or replace) a dataset; `loader(split=, image_size=, data_dir=, limit=)` returns an ImageDataset."""
    _REGISTRY[name] = DatasetEntry(name=name, loader=loader, description=description, splits=tuple(splits))


def _load_builtins() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for module in _BUILTINS:
            importlib.import_module(module)


def available_datasets() -> dict[str, DatasetEntry]:
    """The registered datasets by name (the CLI's help text comes from here)."""
    _load_builtins()
    return dict(_REGISTRY)


def load_dataset(spec: str, *, split: str = "train", image_size: int | None = None, data_dir: str | None = None,
                 limit: int | None = None, attribute: str | None = None) -> ImageDataset:
    """Load a registered dataset by name, or an image folder / archive by path.

    split:      "train" or "test" for registered datasets that have it; folders have only "train".
    image_size: square side to resize to (bilinear, antialiased); None keeps the native size.
    data_dir:   where a file-based dataset (fashion-mnist) looks first.
    limit:      keep only the first `limit` images of the split (quick experiments, tests).
    attribute:  for attribute-labelled data (synthfaces, CelebA layout): the binary attribute whose 0/1
                values become the class labels (conditional training on one attribute).
    A folder holding an attribute table (attributes.csv, list_attr_celeba.txt) is read as such.
    Raises BadInputError for an unknown name, a missing path, a missing split or bad sizes.
    """
    if image_size is not None and (isinstance(image_size, bool) or int(image_size) < 1):
        raise BadInputError(f"--image-size must be a positive integer, got {image_size!r}")
    if limit is not None and (isinstance(limit, bool) or int(limit) < 1):
        raise BadInputError(f"the image limit must be a positive integer, got {limit!r}")
    entries = available_datasets()
    entry = entries.get(spec)
    if entry is not None:
        if split not in entry.splits:
            raise BadInputError(MSG_NO_SPLIT.format(name=spec, split=split, splits=", ".join(entry.splits)))
        if attribute is not None:
            return entry.loader(split=split, image_size=image_size, data_dir=data_dir, limit=limit,
                                attribute=attribute)
        return entry.loader(split=split, image_size=image_size, data_dir=data_dir, limit=limit)
    if Path(spec).exists():
        from ganeval.datasets.folder import load_image_folder
        from ganeval.datasets.synthfaces import is_attribute_folder, load_synthfaces

        if is_attribute_folder(spec):
            return load_synthfaces(split=split, image_size=image_size, data_dir=spec, limit=limit, attribute=attribute)
        if attribute is not None:
            raise BadInputError(f"{spec} has no attribute table (attributes.csv or list_attr_celeba.txt) to take "
                                f"{attribute!r} from")

        return load_image_folder(spec, split=split, image_size=image_size, limit=limit)
    raise BadInputError(MSG_UNKNOWN_DATASET.format(spec=spec, known=", ".join(sorted(entries))))


def dataset_fingerprint(name: str, images: torch.Tensor, labels: torch.Tensor | None,
                        class_names: tuple[str, ...]) -> str:
    """sha256 hex over a format tag, the name, the class names, the shape and bytes of the uint8
    images and the int64 labels: any change to a pixel, a label or the resize changes it."""
    digest = hashlib.sha256(b"ganeval-dataset-1\n")
    digest.update(repr((name, tuple(class_names), tuple(images.shape))).encode("utf-8"))
    digest.update(images.contiguous().numpy().tobytes())
    digest.update(b"labels:" if labels is not None else b"unlabelled")
    if labels is not None:
        digest.update(labels.contiguous().numpy().astype("<i8").tobytes())
    return digest.hexdigest()


def resize_images(images: torch.Tensor, size: int, chunk: int = 4096) -> torch.Tensor:
    """Resize uint8 (N, C, H, W) images to (N, C, size, size): bilinear, antialiased, align_corners=False,
    then rounded half to even and clipped to 0..255. A no-op when the images already have that size."""
    import torch
    import torch.nn.functional as F

    if tuple(images.shape[2:]) == (size, size):
        return images
    out = torch.empty((images.shape[0], images.shape[1], size, size), dtype=torch.uint8)
    for start in range(0, images.shape[0], chunk):
        x = images[start:start + chunk].float()
        y = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        out[start:start + chunk] = y.round().clamp(0, 255).to(torch.uint8)
    return out


def make_dataset(name: str, images: torch.Tensor, labels: torch.Tensor | None, class_names: tuple[str, ...],
                 image_size: int | None = None, limit: int | None = None) -> ImageDataset:
    """Apply `limit` and `image_size` to native uint8 (N, C, H, W) images and fingerprint the result."""
    if limit is not None:
        images = images[:limit]
        labels = labels[:limit] if labels is not None else None
    if image_size is not None:
        images = resize_images(images, int(image_size))
    images = images.contiguous()
    return ImageDataset(name=name, images=images, labels=labels, class_names=tuple(class_names),
                        fingerprint=dataset_fingerprint(name, images, labels, tuple(class_names)))


def _load_fashion_mnist(split: str = "train", image_size: int | None = None, data_dir: str | None = None,
                        limit: int | None = None, **_: Any) -> ImageDataset:
    """Fashion-MNIST (or MNIST-format IDX files) as (N, 1, 28, 28) uint8 with labels 0..9."""
    import torch

    from ganeval.datasets.fashion_mnist import CLASSES, load_fashion_mnist

    images, labels = load_fashion_mnist(split, data_dir)
    return make_dataset("fashion-mnist", torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels),
                        CLASSES, image_size=image_size, limit=limit)


register_dataset(
    "fashion-mnist", _load_fashion_mnist,
    "Fashion-MNIST 28x28 grayscale, 10 classes, 60,000 train / 10,000 test (Debian's dataset-fashion-mnist "
    "IDX files, --data-dir or $GANEVAL_DATA_DIR; real MNIST files work too)",
)
