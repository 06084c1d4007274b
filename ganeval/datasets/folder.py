"""Any image folder (or .zip/.tar archive of one) as a dataset, read through ganeval.sources.

Images are read by `ganeval.sources.open_source` (sorted relative paths, hidden files ignored, the
same decoding and validation rules and one-line errors as every other input). Then:

* labels: when every image lies inside a first-level subfolder, the subfolder is the class
  (class names sorted, labels their indices); when any image lies at the top level, the dataset is
  unlabelled (labels None) -- a conditional trainer then says it needs subfolders.
* channels: sources give RGB; when every pixel of every image has R == G == B the dataset is kept
  grayscale (C = 1), else RGB (C = 3).
* sizes: all images must have one size unless `image_size` is given, in which case each is resized
  to image_size x image_size (ganeval.datasets.resize_images: bilinear, antialiased).
* split: a folder has only "train" (all of it); the training loop holds out a seeded part itself.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from ganeval.datasets import ImageDataset, make_dataset, resize_images
from ganeval.errors import BadInputError

MSG_FOLDER_SIZES = (
    "images in {path} have different sizes ({first} and {other}); pass --image-size to resize them to one size"
)


def class_of(name: str) -> str | None:
    """The first-level subfolder of a relative posix image name, or None for a top-level image."""
    parts = PurePosixPath(name).parts
    return parts[0] if len(parts) > 1 else None


def load_image_folder(path: str, *, split: str = "train", image_size: int | None = None,
                      limit: int | None = None) -> ImageDataset:
    """Read every image of the folder or archive at `path` into an ImageDataset (module docstring)."""
    import torch

    from ganeval.sources import open_source

    if split != "train":
        raise BadInputError(f"image folder {path} has no {split!r} split; only 'train' (all of its images)")
    source = open_source(path, allow_mixed_sizes=True)
    chunks: list[torch.Tensor] = []
    names: list[str] = []
    for batch in source.batches(256):
        imgs = batch.images
        if image_size is not None:
            imgs = resize_images(imgs, int(image_size))
        elif chunks and tuple(imgs.shape[2:]) != tuple(chunks[0].shape[2:]):
            first = "x".join(str(v) for v in chunks[0].shape[2:])
            other = "x".join(str(v) for v in imgs.shape[2:])
            raise BadInputError(MSG_FOLDER_SIZES.format(path=path, first=first, other=other))
        chunks.append(imgs)
        names.extend(batch.names)
        if limit is not None and len(names) >= limit:
            break
    images = torch.cat(chunks)
    if limit is not None:
        images, names = images[:limit], names[:limit]
    if bool((images[:, 0] == images[:, 1]).all()) and bool((images[:, 1] == images[:, 2]).all()):
        images = images[:, :1]
    classes = [class_of(n) for n in names]
    labels = None
    class_names: tuple[str, ...] = ()
    if all(c is not None for c in classes):
        class_names = tuple(sorted(set(classes)))  # type: ignore[arg-type]
        index = {c: i for i, c in enumerate(class_names)}
        labels = torch.tensor([index[c] for c in classes], dtype=torch.int64)
    return make_dataset(str(path), images, labels, class_names)
