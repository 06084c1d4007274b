"""fmnist-cnn: the shipped weights are the ones recorded, they classify Fashion-MNIST, tampering is refused,
and the trainer is seeded.

Accuracy is measured against the dataset's own labels on a seeded sample of the test split, fed
through the "tf" protocol exactly as the extraction loop feeds it.
"""

from __future__ import annotations

import gzip
import hashlib
import struct

import numpy as np
import pytest
import torch

from ganeval.datasets.fashion_mnist import load_fashion_mnist
from ganeval.errors import MissingWeightsError
from ganeval.extractors import ExtractorOptions, available_extractors, get_extractor
from ganeval.extractors.fmnist_cnn import WEIGHTS_SHA256, load_checkpoint, shipped_weights_path
from ganeval.progress import ProgressReporter
from reference_models.fmnist_classifier import TrainConfig, train_fmnist_classifier

try:
    from ganeval.preprocess import prepare
except ImportError:  # preprocess.py is written in parallel; until it lands, use its documented "tf" map
    prepare = None


def _tf_signed(images: np.ndarray) -> torch.Tensor:
    """The documented "tf" protocol at 28x28 for "signed" extractors: repeat gray to RGB, (x - 128) / 128."""
    x = torch.from_numpy(images).unsqueeze(1).repeat(1, 3, 1, 1).float()
    return (x - 128.0) / 128.0


def _preprocess(images: np.ndarray, info) -> torch.Tensor:
    expected = _tf_signed(images)
    if prepare is None:
        return expected
    rgb = torch.from_numpy(images).unsqueeze(1).repeat(1, 3, 1, 1)
    got = prepare(rgb, "tf", info)
    torch.testing.assert_close(got, expected)  # the protocol agrees with the convention the net was trained on
    return got


@pytest.fixture(scope="module")
def extractor():
    return get_extractor("fmnist-cnn")


@pytest.fixture(scope="module")
def test_split():
    return load_fashion_mnist("test")


@pytest.fixture(scope="module")
def test_sample(test_split):
    images, labels = test_split
    idx = np.random.default_rng(20240601).choice(len(images), size=2000, replace=False)
    return images[idx], labels[idx]


def test_shipped_file_matches_the_recorded_sha256():
    path = shipped_weights_path()
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    assert actual == WEIGHTS_SHA256
    sums = {}
    for line in (path.parent / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        sums[name.lstrip("*")] = digest
    assert sums[path.name] == actual
    assert path.stat().st_size < 2 * 1024 * 1024


def test_shipped_file_is_a_plain_weights_only_dict():
    ckpt = torch.load(shipped_weights_path(), map_location="cpu", weights_only=True)
    assert ckpt["format"] == "ganeval-fmnist-cnn-1"
    assert ckpt["test_accuracy"] >= 0.90
    prov = ckpt["provenance"]
    assert {"torch", "seed", "epochs", "dataset_sha256"} <= set(prov)
    assert set(prov["dataset_sha256"]) == {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                           "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}


def test_registered_as_offline_without_download():
    entry = available_extractors()["fmnist-cnn"]
    assert entry.offline and entry.weights is None and not entry.takes_argument


def test_declares_what_it_returns(extractor, test_sample):
    info = extractor.info
    assert (info.name, info.input_size, info.value_range) == ("fmnist-cnn", (28, 28), "signed")
    assert info.features == {"pool": 128, "logits": 10}
    assert info.weights_sha256 == WEIGHTS_SHA256
    with torch.no_grad():
        out = extractor(_preprocess(test_sample[0][:7], info))
    assert out["pool"].shape == (7, 128) and out["logits"].shape == (7, 10)
    assert out["pool"].dtype == out["logits"].dtype == torch.float32


def test_accuracy_on_a_seeded_test_sample(extractor, test_sample):
    images, labels = test_sample
    with torch.no_grad():
        logits = torch.cat([extractor(_preprocess(images[i:i + 500], extractor.info))["logits"]
                            for i in range(0, len(images), 500)])
    accuracy = (logits.argmax(1).numpy() == labels).mean()
    assert accuracy >= 0.90, accuracy


def _frechet(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance of Gaussians fitted to (N, d) features; tr sqrt(S1 S2) via a symmetric eigenproblem."""
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root1 @ s2 @ root1), 0, None)).sum()
    return float(((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * cross)


def test_features_separate_planted_defects(extractor, test_split):
    """Two halves of the test split are close; dropping half the classes or adding noise is far."""
    images, labels = test_split
    rng = np.random.default_rng(7)
    perm = rng.permutation(len(images))
    a, b = images[perm[:1000]], images[perm[1000:2000]]
    dropped = images[rng.choice(np.flatnonzero(labels < 5), 1000, replace=False)]
    noisy = np.clip(b + rng.normal(0, 20, b.shape), 0, 255).astype(np.uint8)

    def pool(x):
        with torch.no_grad():
            return extractor(_tf_signed(x))["pool"].double().numpy()

    fa = pool(a)
    same, mode_drop, noise = _frechet(fa, pool(b)), _frechet(fa, pool(dropped)), _frechet(fa, pool(noisy))
    assert same < 10, same  # 4.5 when measured
    assert mode_drop > 10 * same and noise > 5 * same, (same, mode_drop, noise)


def test_rgb_is_reduced_by_the_channel_mean(extractor, test_sample):
    gray = _tf_signed(test_sample[0][:4])
    shift = torch.tensor([0.2, -0.1, -0.1]).view(1, 3, 1, 1)  # channels differ, mean unchanged
    with torch.no_grad():
        a, b = extractor(gray), extractor(gray + shift)
    torch.testing.assert_close(a["pool"], b["pool"], rtol=1e-4, atol=1e-5)


def test_tampered_copy_is_refused(tmp_path):
    data = bytearray(shipped_weights_path().read_bytes())
    copy = tmp_path / "fmnist_cnn.pt"
    copy.write_bytes(bytes(data))
    get_extractor("fmnist-cnn", ExtractorOptions(weights_path=str(copy)))  # an exact copy is accepted
    data[len(data) // 2] ^= 0x01
    tampered = tmp_path / "tampered.pt"
    tampered.write_bytes(bytes(data))
    with pytest.raises(MissingWeightsError) as err:
        get_extractor("fmnist-cnn", ExtractorOptions(weights_path=str(tampered)))
    assert err.value.exit_code == 3
    assert str(tampered) in str(err.value) and WEIGHTS_SHA256 in str(err.value)
    with pytest.raises(MissingWeightsError, match="no such"):
        get_extractor("fmnist-cnn", ExtractorOptions(weights_path=str(tmp_path / "absent.pt")))


# ---- the trainer, on a tiny IDX copy of the data so it runs in a second ----------------------------


def _write_idx(path, array: np.ndarray) -> None:
    code = 0x08  # uint8
    header = bytes([0, 0, code, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-fmnist")
    for split, prefix, n in (("train", "train", 192), ("test", "t10k", 64)):
        images, labels = load_fashion_mnist(split)
        _write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images[:n])
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels[:n])
    return folder


def _train(tiny_data, out, seed):
    config = TrainConfig(epochs=1, seed=seed, batch_size=64, width=4, pool_dim=8)
    return train_fmnist_classifier(out, config, data_dir=tiny_data, progress=ProgressReporter(enabled=False))


def test_trainer_is_seeded_and_leaves_global_rng_alone(tiny_data, tmp_path):
    before = torch.get_rng_state()
    a = _train(tiny_data, tmp_path / "a.pt", seed=3)
    assert torch.equal(torch.get_rng_state(), before)
    b = _train(tiny_data, tmp_path / "b.pt", seed=3)
    c = _train(tiny_data, tmp_path / "c.pt", seed=4)
    sd = {name: load_checkpoint(r.path.read_bytes(), str(r.path))[0].state_dict() for name, r in zip("abc", (a, b, c))}
    assert all(torch.equal(sd["a"][k], sd["b"][k]) for k in sd["a"])
    assert not all(torch.equal(sd["a"][k], sd["c"][k]) for k in sd["a"])
    assert a.sha256 == hashlib.sha256(a.path.read_bytes()).hexdigest()


def test_trainer_records_provenance(tiny_data, tmp_path):
    report = _train(tiny_data, tmp_path / "net.pt", seed=0)
    ckpt = torch.load(report.path, map_location="cpu", weights_only=True)
    prov = ckpt["provenance"]
    assert (prov["seed"], prov["epochs"], prov["torch"]) == (0, 1, torch.__version__)
    for name, digest in prov["dataset_sha256"].items():
        assert digest == hashlib.sha256((tiny_data / name).read_bytes()).hexdigest()
    net, _ = load_checkpoint(report.path.read_bytes(), str(report.path))
    test_images, test_labels = (a[:64] for a in load_fashion_mnist("test"))
    with torch.no_grad():
        acc = (net(_tf_signed(test_images)).argmax(1).numpy() == test_labels).mean()
    assert ckpt["test_accuracy"] == pytest.approx(acc)

