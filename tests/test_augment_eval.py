"""`ganeval augment-eval`: planted generators whose Classification Accuracy Score is known in advance.

Data: scikit-learn's 8x8 digits (10 classes), split by a seeded permutation into a real training set, a
held-out bank and a test set. Two stub conditional generators, registered as architectures and saved as
real checkpoints:

* "test-real-bank": returns a held-out real image of the asked class (which one: from z) -- generated
  data that is real data, so training on it alone must do about as well as training on real data;
* "test-noise": returns noise that ignores the class -- training on it alone must be near chance (0.1).

The classifier is FashionCNN at width 4 so that each training takes seconds.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from ganeval import cli
from ganeval.augment_eval import (
    AugmentConfig, augment_eval, class_mapping, load_labelled, stratified_subset, t_interval,
)
from ganeval.datasets import make_dataset
from ganeval.errors import BadInputError
from ganeval.generators import LatentSpec, LoadedGenerator, register_architecture, save_generator

K = 10


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: torch on one thread


class RealBank(nn.Module):
    """forward(z (N, d), labels (N,)) -> bank[label, j(z)] in [-1, 1], j from the normal CDF of z[:, 0]."""

    def __init__(self, per_class: int, size: int = 28) -> None:
        super().__init__()
        self.register_buffer("bank", torch.zeros(K, per_class, 1, size, size))

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        m = self.bank.shape[1]
        j = (torch.special.ndtr(z[:, 0]) * m).long().clamp(0, m - 1)
        return self.bank[labels, j]


class Noise(nn.Module):
    """forward(z, labels) -> tanh(z W) as (N, 1, 28, 28): images that carry no class."""

    def __init__(self, z_dim: int = 8, size: int = 28) -> None:
        super().__init__()
        w = torch.randn(z_dim, size * size, generator=torch.Generator().manual_seed(0))
        self.register_buffer("w", w)
        self.size = size

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return torch.tanh(z @ self.w).view(-1, 1, self.size, self.size)


register_architecture("test-real-bank", lambda per_class: RealBank(per_class))
register_architecture("test-noise", lambda: Noise())


@pytest.fixture(scope="module")
def digits():
    """(train, bank, test) ImageDatasets at 28x28 from one seeded permutation of the 1797 digits."""
    from ganeval.datasets import load_dataset

    d = load_dataset("digits", split="train", image_size=28)
    t = load_dataset("digits", split="test", image_size=28)
    images, labels = torch.cat([d.images, t.images]), torch.cat([d.labels, t.labels])
    order = torch.from_numpy(np.random.default_rng(0).permutation(len(images)))
    images, labels = images[order], labels[order]
    names = tuple(d.class_names)
    parts = {"train": slice(0, 800), "bank": slice(800, 1300), "test": slice(1300, 1700)}
    return {k: make_dataset(f"digits-{k}", images[s], labels[s], names) for k, s in parts.items()}


def bank_generator(bank, per_class: int = 40) -> LoadedGenerator:
    module = RealBank(per_class)
    for c in range(K):
        imgs = bank.images[bank.labels == c][:per_class].float() / 127.5 - 1
        module.bank[c, :len(imgs)] = imgs
    latent = LatentSpec(z_dim=8, n_classes=K, class_names=bank.class_names, output_range=(-1.0, 1.0),
                        image_shape=(1, 28, 28))
    return LoadedGenerator(module=module.eval(), architecture="test-real-bank", config={"per_class": per_class},
                           latent=latent)


def noise_generator(class_names) -> LoadedGenerator:
    latent = LatentSpec(z_dim=8, n_classes=K, class_names=class_names, output_range=(-1.0, 1.0),
                        image_shape=(1, 28, 28))
    return LoadedGenerator(module=Noise().eval(), architecture="test-noise", config={}, latent=latent)


FAST = dict(width=4, batch_size=32, epochs=0, min_steps=120, gen_per_class=40, lr=1e-2)


def test_generated_real_images_score_like_real_data_and_noise_scores_chance(digits):
    config = AugmentConfig(fractions=(1.0,), seeds=(0, 1), regimes=("real", "generated"), **FAST)
    real_bank = augment_eval(bank_generator(digits["bank"]), digits["train"], digits["test"], config)
    a = np.mean(real_bank.accuracies[("real", 1.0)])
    c = np.mean(real_bank.accuracies[("generated", None)])
    assert a > 0.8  # the classifier does learn digits
    assert abs(c - a) < 0.1  # 400 real images from the bank against 800: about as good
    noise = augment_eval(noise_generator(digits["bank"].class_names), digits["train"], digits["test"],
                         AugmentConfig(fractions=(1.0,), seeds=(0, 1), regimes=("generated",), **FAST))
    chance = noise.accuracies[("generated", None)]
    assert max(chance) < 0.2  # ten classes: chance is 0.1
    ratio = real_bank.run.get("cas_ratio")
    assert ratio.value == pytest.approx(np.mean([x / y for x, y in zip(real_bank.accuracies[("generated", None)],
                                                                       real_bank.accuracies[("real", 1.0)])]))


def test_stratified_subsets_are_seeded_and_keep_class_proportions():
    y = np.repeat(np.arange(4), [100, 200, 50, 10])
    a = stratified_subset(y, 0.1, seed=3)
    assert np.array_equal(a, stratified_subset(y, 0.1, seed=3))
    assert not np.array_equal(a, stratified_subset(y, 0.1, seed=4))
    assert np.bincount(y[a], minlength=4).tolist() == [10, 20, 5, 1]
    assert len(np.unique(a)) == len(a) and np.all(np.diff(a) > 0)
    assert np.bincount(y[stratified_subset(y, 0.001, 0)], minlength=4).tolist() == [1, 1, 1, 1]  # >= 1 per class
    assert np.array_equal(stratified_subset(y, 1.0, 0), np.arange(len(y)))


def test_t_interval_matches_scipy():
    from scipy import stats

    v = [0.81, 0.84, 0.79, 0.86]
    mean, lo, hi = t_interval(v, 0.95)
    ref = stats.t.interval(0.95, len(v) - 1, loc=np.mean(v), scale=stats.sem(v))
    assert mean == pytest.approx(np.mean(v)) and (lo, hi) == pytest.approx(ref)
    assert t_interval([0.5], 0.95) == (0.5, None, None)


def test_classes_are_matched_by_name_and_mismatches_are_errors(digits):
    gen = bank_generator(digits["bank"])
    shuffled = make_dataset("shuffled", digits["test"].images, digits["test"].labels,
                            tuple(reversed(digits["test"].class_names)))
    mapping, warning = class_mapping(gen, shuffled, "shuffled")
    assert warning is None and mapping.tolist() == list(range(K))[::-1]
    renamed = make_dataset("renamed", digits["test"].images, digits["test"].labels, tuple(f"c{i}" for i in range(K)))
    mapping, warning = class_mapping(gen, renamed, "renamed")
    assert mapping.tolist() == list(range(K)) and "matched by index" in warning
    five = make_dataset("five", digits["test"].images[:50], digits["test"].labels[:50] % 5,
                        tuple(f"c{i}" for i in range(5)))
    with pytest.raises(BadInputError, match="has 10 classes .* but five has 5"):
        class_mapping(gen, five, "five")


def test_unconditional_generators_and_unlabelled_data_are_refused(digits, tmp_path):
    uncond = LoadedGenerator(module=Noise().eval(), architecture="test-noise", config={},
                             latent=LatentSpec(z_dim=8, image_shape=(1, 28, 28)))
    with pytest.raises(BadInputError, match="unconditional generator"):
        augment_eval(uncond, digits["train"], digits["test"], AugmentConfig(**FAST))
    flat = tmp_path / "flat"
    flat.mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(flat / "a.png")
    with pytest.raises(BadInputError, match=r"flat has no class labels"):
        load_labelled(str(flat))
    with pytest.raises(BadInputError, match="fractions"):
        AugmentConfig(fractions=(0.0, 1.0)).check()


def write_folder(root, data, n_per_class):
    for c, name in enumerate(data.class_names):
        (root / name).mkdir(parents=True)
        for i, img in enumerate(data.images[data.labels == c][:n_per_class]):
            Image.fromarray(img[0].numpy()).save(root / name / f"{i}.png")


def run_cli(monkeypatch, capsys, *args) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["ganeval", *map(str, args)])
    with pytest.raises(SystemExit) as exc:
        cli.main()
    captured = capsys.readouterr()
    code = exc.value.code if isinstance(exc.value.code, int) else (0 if exc.value.code is None else 1)
    return code, captured.out, captured.err


def test_cli_reads_folders_and_writes_the_report(monkeypatch, capsys, digits, tmp_path):
    gen = bank_generator(digits["bank"])
    ckpt = tmp_path / "bank.pt"
    save_generator(ckpt, gen.module, gen.architecture, gen.config, gen.latent, {"trainer": "test"})
    write_folder(tmp_path / "train", digits["train"], 20)
    write_folder(tmp_path / "test", digits["test"], 10)
    out = tmp_path / "report"
    code, stdout, stderr = run_cli(monkeypatch, capsys, "augment-eval", "--generator", ckpt, "--real-train",
                                   tmp_path / "train", "--real-test", tmp_path / "test", "--fractions", "0.5,1",
                                   "--seeds", "0,1", "--gen-per-class", "5", "--epochs", "0", "--min-steps", "20",
                                   "--width", "4", "--batch-size", "32", "--out", out, "-q")
    assert code == 0, stderr
    assert "real+generated" in stdout
    data = json.loads((out / "results.json").read_text())
    acc = {(r["details"]["regime"], r["details"]["fraction"]): r for r in data["results"]
           if r["metric"] == "test_accuracy"}
    assert set(acc) == {("real", 0.5), ("real", 1.0), ("real+generated", 0.5), ("real+generated", 1.0),
                        ("generated", None)}
    half = acc[("real", 0.5)]["details"]
    assert half["n_train_real"] == 100 and half["n_train_generated"] == 0  # 10 per class of 20
    assert acc[("real+generated", 1.0)]["details"]["n_train_generated"] == 50
    for r in acc.values():
        per_seed = r["details"]["per_seed"]
        assert len(per_seed) == 2 and r["value"] == pytest.approx(np.mean(per_seed))
        assert r["ci_low"] <= r["value"] <= r["ci_high"]
    assert data["provenance"]["inputs"]["real_test"]["n"] == 100
    assert data["provenance"]["class_mapping"] == list(range(K))
    assert "Accuracy by regime" in (out / "index.html").read_text()


def test_cli_errors_are_one_line(monkeypatch, capsys, digits, tmp_path):
    uncond = tmp_path / "u.pt"
    save_generator(uncond, Noise(), "test-noise", {}, LatentSpec(z_dim=8, image_shape=(1, 28, 28)), {})
    code, _, stderr = run_cli(monkeypatch, capsys, "augment-eval", "--generator", uncond, "--real-train", "digits",
                              "--real-test", "digits:test", "--out", tmp_path / "r")
    assert code == 2 and len(stderr.strip().splitlines()) == 1 and "u.pt is an unconditional generator" in stderr
    assert not (tmp_path / "r").exists()
    code, _, stderr = run_cli(monkeypatch, capsys, "augment-eval", "--generator", uncond, "--real-train", "digits",
                              "--real-test", "digits:test", "--fractions", "0.1,abc")
    assert code == 2 and "--fractions" in stderr
    gen = bank_generator(digits["bank"])
    ckpt = tmp_path / "bank.pt"
    save_generator(ckpt, gen.module, gen.architecture, gen.config, gen.latent, {})
    code, _, stderr = run_cli(monkeypatch, capsys, "augment-eval", "--generator", ckpt, "--real-train",
                              "no-such-dataset:train", "--real-test", "digits:test")
    assert code == 2 and len(stderr.strip().splitlines()) == 1 and "no-such-dataset" in stderr


def test_a_run_is_determined_by_its_seeds(digits):
    gen = bank_generator(digits["bank"])
    config = AugmentConfig(fractions=(0.25,), seeds=(5,), **dict(FAST, min_steps=10))
    a = augment_eval(gen, digits["train"], digits["test"], config)
    b = augment_eval(gen, digits["train"], digits["test"], config)
    assert a.accuracies == b.accuracies
    assert [r.to_dict() for r in a.run.results] == [r.to_dict() for r in b.run.results]
    other = augment_eval(gen, digits["train"], digits["test"], AugmentConfig(fractions=(0.25,), seeds=(6,),
                                                                             **dict(FAST, min_steps=10)))
    assert other.accuracies != a.accuracies


def test_dataset_inputs_take_both_spellings():
    plain = load_labelled("digits:test")
    prefixed = load_labelled("dataset:digits:test")
    assert plain.fingerprint == prefixed.fingerprint and len(plain) == 359
    assert load_labelled("digits").fingerprint != plain.fingerprint  # the default split is train
