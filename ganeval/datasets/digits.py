"""scikit-learn's bundled 8x8 handwritten digits (always available, no download), upscaled.

sklearn.datasets.load_digits gives 1,797 images of 8x8 pixels with values 0..16 (ink counts of the
original 32x32 bitmaps in 4x4 blocks). They become uint8 as round(v * 255 / 16) (0 -> 0, 16 -> 255),
shaped (N, 1, 8, 8), then resized to `image_size` (default DEFAULT_SIZE = 16) with the registry's
bilinear method (ganeval.datasets.resize_images). The train/test split is a fixed seeded permutation
(SPLIT_SEED): the first TEST_COUNT indices are "test", the rest "train"; within each split the
original order is kept.
"""

from __future__ import annotations

from typing import Any

from ganeval.datasets import ImageDataset, make_dataset, register_dataset

NAME = "digits"
DEFAULT_SIZE = 16
NATIVE_SIZE = 8
SPLIT_SEED = 0
TEST_COUNT = 359  # 20% of 1,797, rounded down
CLASS_NAMES = tuple(str(d) for d in range(10))


def digits_to_uint8(values: Any) -> Any:
    """Map digit values 0..16 (float array) to uint8 0..255 as round(v * 255 / 16), half to even."""
    import numpy as np

    return np.clip(np.rint(np.asarray(values, dtype=np.float64) * 255.0 / 16.0), 0, 255).astype(np.uint8)


def split_indices(n: int) -> dict[str, Any]:
    """{"train": int64 indices, "test": int64 indices} of a seeded permutation, each sorted."""
    import torch

    perm = torch.randperm(n, generator=torch.Generator().manual_seed(SPLIT_SEED))
    return {"test": perm[:TEST_COUNT].sort().values, "train": perm[TEST_COUNT:].sort().values}


def load_digits(split: str = "train", image_size: int | None = None, data_dir: str | None = None,
                limit: int | None = None, **_: Any) -> ImageDataset:
    """The digits of `split` as uint8 (N, 1, S, S), S = image_size or DEFAULT_SIZE, labels 0..9."""
    import torch
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    images = torch.from_numpy(digits_to_uint8(bunch.images)).unsqueeze(1)
    labels = torch.from_numpy(bunch.target.astype("int64"))
    idx = split_indices(len(images))[split]
    return make_dataset(NAME, images[idx], labels[idx], CLASS_NAMES,
                        image_size=image_size or DEFAULT_SIZE, limit=limit)


register_dataset(
    NAME, load_digits,
    f"scikit-learn's 8x8 digits (1,797 images, 10 classes), values 0..16 -> 0..255, bilinear-upscaled to "
    f"--image-size (default {DEFAULT_SIZE}); seeded split {1797 - TEST_COUNT} train / {TEST_COUNT} test",
)
