"""Datasets registry: Fashion-MNIST from IDX files, scikit-learn's digits, image folders, fingerprints.

Pixels are checked against independent readings of the same data: the IDX bytes parsed here with
numpy, sklearn's own arrays scaled by the documented rule, and a numpy implementation of the documented
bilinear resize (align_corners=False) for upscaling.
"""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from ganeval.datasets import (
    ImageDataset,
    available_datasets,
    dataset_fingerprint,
    load_dataset,
    register_dataset,
    resize_images,
)
from ganeval.datasets import fashion_mnist
from ganeval.datasets.digits import SPLIT_SEED, TEST_COUNT
from ganeval.errors import BadInputError

FMNIST_DIR = fashion_mnist.DEBIAN_DIR


def _idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file (uint8 data) written by hand: magic 0x00000803/0x00000801, big-endian dims, data."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def _write_idx_dir(folder, images: np.ndarray, labels: np.ndarray, gz: bool):
    folder.mkdir(parents=True, exist_ok=True)
    for prefix in ("train", "t10k"):
        for kind, arr in (("images-idx3-ubyte", images), ("labels-idx1-ubyte", labels)):
            data = _idx_bytes(arr)
            name = f"{prefix}-{kind}" + (".gz" if gz else "")
            (folder / name).write_bytes(gzip.compress(data) if gz else data)
    return folder


def _read_debian(name: str, offset: int) -> np.ndarray:
    with gzip.open(FMNIST_DIR / name, "rb") as fh:
        return np.frombuffer(fh.read(), dtype=np.uint8, offset=offset)


# -- fashion-mnist -------------------------------------------------------------------------------


def test_fashion_mnist_test_split_matches_the_idx_bytes():
    ds = load_dataset("fashion-mnist", split="test")
    assert ds.images.shape == (10000, 1, 28, 28) and ds.images.dtype == torch.uint8
    assert ds.labels is not None and ds.labels.dtype == torch.int64 and ds.labels.shape == (10000,)
    assert ds.class_names == fashion_mnist.CLASSES and ds.n_classes == 10
    pixels = _read_debian("t10k-images-idx3-ubyte.gz", 16).reshape(10000, 28, 28)
    labels = _read_debian("t10k-labels-idx1-ubyte.gz", 8)
    assert np.array_equal(ds.images[:, 0].numpy(), pixels)
    assert np.array_equal(ds.labels.numpy(), labels)
    assert np.bincount(labels, minlength=10).tolist() == [1000] * 10  # the published class balance


def test_fashion_mnist_from_a_data_dir_plain_and_gzipped(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(12, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=12).astype(np.uint8)
    for gz in (False, True):
        folder = _write_idx_dir(tmp_path / f"gz{gz}", images, labels, gz)
        ds = load_dataset("fashion-mnist", data_dir=str(folder), limit=10)
        assert np.array_equal(ds.images[:, 0].numpy(), images[:10])
        assert ds.labels.tolist() == labels[:10].astype(int).tolist()
        resized = load_dataset("fashion-mnist", data_dir=str(folder), image_size=32)
        assert resized.images.shape == (12, 1, 32, 32)


def test_missing_fashion_mnist_is_a_clear_error(tmp_path, monkeypatch):
    with pytest.raises(BadInputError, match="no such data folder"):
        load_dataset("fashion-mnist", data_dir=str(tmp_path / "nope"))
    monkeypatch.delenv("GANEVAL_DATA_DIR", raising=False)
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", tmp_path / "not-installed")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BadInputError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist", data_dir=str(tmp_path / "empty"))


# -- digits --------------------------------------------------------------------------------------


def _bilinear_up_numpy(img: np.ndarray, size: int) -> np.ndarray:
    """Independent bilinear resize with align_corners=False for upscaling (half-pixel centres, edge clamp)."""
    n = img.shape[0]
    src = (np.arange(size) + 0.5) * n / size - 0.5
    src = np.clip(src, 0, n - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    f = src - lo
    rows = img[lo, :] * (1 - f)[:, None] + img[hi, :] * f[:, None]
    out = rows[:, lo] * (1 - f)[None, :] + rows[:, hi] * f[None, :]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def test_digits_values_are_scaled_from_sklearn_and_split_disjointly():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    train = load_dataset("digits", split="train", image_size=8)
    test = load_dataset("digits", split="test", image_size=8)
    assert len(train) == 1797 - TEST_COUNT and len(test) == TEST_COUNT
    perm = torch.randperm(1797, generator=torch.Generator().manual_seed(SPLIT_SEED))
    test_idx = np.sort(perm[:TEST_COUNT].numpy())
    train_idx = np.setdiff1d(np.arange(1797), test_idx)
    for ds, idx in ((train, train_idx), (test, test_idx)):
        expected = np.rint(bunch.images[idx] * 255.0 / 16.0).astype(np.uint8)
        assert np.array_equal(ds.images[:, 0].numpy(), expected)
        assert np.array_equal(ds.labels.numpy(), bunch.target[idx])
    assert int(train.images.max()) == 255 and int(train.images.min()) == 0  # 16 -> 255, 0 -> 0
    assert train.class_names == tuple("0123456789")


def test_digits_upscaling_is_the_documented_bilinear():
    native = load_dataset("digits", split="test", image_size=8, limit=20)
    default = load_dataset("digits", split="test", limit=20)
    assert default.images.shape == (20, 1, 16, 16)  # the default size
    big = load_dataset("digits", split="test", image_size=28, limit=20)
    for ds, size in ((default, 16), (big, 28)):
        expected = np.stack([_bilinear_up_numpy(im[0].numpy().astype(np.float64), size) for im in native.images])
        diff = np.abs(ds.images[:, 0].numpy().astype(int) - expected.astype(int))
        if size == 16:  # weights 1/4, 3/4: exact in float32, so the rounding agrees everywhere
            assert diff.max() == 0
        else:  # weights k/7: float32 and float64 may round an exact .5 differently
            assert diff.max() <= 1 and (diff > 0).mean() < 0.01


def test_resize_keeps_constant_images_and_is_identity_at_native_size():
    x = torch.full((3, 1, 28, 28), 77, dtype=torch.uint8)
    assert torch.equal(resize_images(x, 14), torch.full((3, 1, 14, 14), 77, dtype=torch.uint8))
    y = torch.randint(0, 256, (2, 3, 9, 9), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    assert resize_images(y, 9) is y


# -- folders -------------------------------------------------------------------------------------


def _save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_folder_classes_are_first_level_subfolders(tmp_path):
    rng = np.random.default_rng(1)
    gray = {f"{cls}/{i}.png": rng.integers(0, 256, (10, 10), dtype=np.uint8)
            for cls in ("zebra", "ant") for i in range(3)}
    gray["ant/deeper/x.png"] = rng.integers(0, 256, (10, 10), dtype=np.uint8)
    for name, arr in gray.items():
        _save(tmp_path / "set" / name, arr)
    ds = load_dataset(str(tmp_path / "set"))
    assert ds.class_names == ("ant", "zebra")
    assert ds.images.shape == (7, 1, 10, 10)  # all gray: kept single-channel
    names = sorted(gray)  # the source reads sorted relative paths
    assert ds.labels.tolist() == [0 if n.startswith("ant/") else 1 for n in names]
    for i, n in enumerate(names):
        assert np.array_equal(ds.images[i, 0].numpy(), gray[n])


def test_folder_rgb_unlabelled_sizes_and_splits(tmp_path):
    rng = np.random.default_rng(2)
    for i in range(4):
        _save(tmp_path / "rgb" / f"{i}.png", rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    ds = load_dataset(str(tmp_path / "rgb"))
    assert ds.images.shape == (4, 3, 8, 8) and ds.labels is None and ds.class_names == ()
    assert load_dataset(str(tmp_path / "rgb"), limit=2).images.shape == (2, 3, 8, 8)
    with pytest.raises(BadInputError, match="only 'train'"):
        load_dataset(str(tmp_path / "rgb"), split="test")
    _save(tmp_path / "rgb" / "z_big.png", rng.integers(0, 256, (12, 12, 3), dtype=np.uint8))
    with pytest.raises(BadInputError, match="--image-size"):
        load_dataset(str(tmp_path / "rgb"))
    assert load_dataset(str(tmp_path / "rgb"), image_size=16).images.shape == (5, 3, 16, 16)


def test_fingerprint_follows_pixels_labels_and_size(tmp_path):
    rng = np.random.default_rng(3)
    arrays = {f"a/{i}.png": rng.integers(0, 256, (8, 8), dtype=np.uint8) for i in range(3)}
    arrays["b/0.png"] = rng.integers(0, 256, (8, 8), dtype=np.uint8)
    for name, arr in arrays.items():
        _save(tmp_path / "s" / name, arr)
    base = load_dataset(str(tmp_path / "s")).fingerprint
    assert load_dataset(str(tmp_path / "s")).fingerprint == base
    assert load_dataset(str(tmp_path / "s"), image_size=16).fingerprint != base
    (tmp_path / "s" / "b").rename(tmp_path / "s" / "c")  # same pixels, other class name
    renamed = load_dataset(str(tmp_path / "s")).fingerprint
    assert renamed != base
    changed = arrays["a/0.png"].copy()
    changed[0, 0] ^= 1
    _save(tmp_path / "s" / "a" / "0.png", changed)
    assert load_dataset(str(tmp_path / "s")).fingerprint not in (base, renamed)
    d8 = load_dataset("digits", image_size=8, limit=50)
    assert load_dataset("digits", image_size=16, limit=50).fingerprint != d8.fingerprint
    assert load_dataset("digits", image_size=8, limit=49).fingerprint != d8.fingerprint
    flipped = d8.labels.clone()
    flipped[0] = (flipped[0] + 1) % 10
    assert dataset_fingerprint(d8.name, d8.images, flipped, d8.class_names) != d8.fingerprint


# -- registry ------------------------------------------------------------------------------------


def test_registry_plugins_and_unknown_names():
    def loader(split="train", image_size=None, data_dir=None, limit=None):
        images = torch.zeros((4, 1, 6, 6), dtype=torch.uint8)
        return ImageDataset("zeros", images, None, (), dataset_fingerprint("zeros", images, None, ()))

    register_dataset("test-zeros", loader, "four black images", splits=("train",))
    assert {"fashion-mnist", "digits", "test-zeros"} <= set(available_datasets())
    assert len(load_dataset("test-zeros")) == 4
    with pytest.raises(BadInputError, match="no 'test' split"):
        load_dataset("test-zeros", split="test")
    with pytest.raises(BadInputError, match="unknown dataset 'nonesuch'.*digits.*fashion-mnist"):
        load_dataset("nonesuch")
    with pytest.raises(BadInputError, match="image-size"):
        load_dataset("digits", image_size=0)
