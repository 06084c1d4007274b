"""Generator checkpoints: round trip, bad files refused without running anything, deterministic
sampling, truncation, classes, GeneratorSource through `evaluate`, and export.

The references are independent of the code under test: the tiny nn.Modules below called directly,
scipy's truncated normal for the truncation variance, a planted per-class brightness for class
selection, hashlib for checkpoint hashes, byte equality across runs and batch sizes, and planted
classes whose unpickling would leave a marker on disk.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats as scipy_stats
from torch import nn

import ganeval.generators as G
from ganeval.cache import StatsCache
from ganeval.config import EvalConfig, SamplingConfig
from ganeval.errors import BadInputError
from ganeval.evaluate import evaluate
from ganeval.generators import (
    LatentSpec,
    export_generator,
    generate,
    load_generator,
    register_architecture,
    sample_latents,
    save_generator,
    seeded_latents,
    to_uint8,
    write_samples,
)
from ganeval.sources import GeneratorSource, open_input

Z_DIM = 6
SIZE = 8
N_CLASSES = 3
LEVELS = (-0.8, 0.0, 0.8)  # planted pre-tanh brightness of each class of CondGenerator


class LinearGenerator(nn.Module):
    """images = W z: no bias, no squashing, so a pixel's variance is var(z) * sum of its squared weights."""

    def __init__(self, z_dim: int = Z_DIM, channels: int = 1, size: int = SIZE) -> None:
        super().__init__()
        self.shape = (channels, size, size)
        self.fc = nn.Linear(z_dim, channels * size * size, bias=False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.fc(z).reshape(z.shape[0], *self.shape)


class CondGenerator(nn.Module):
    """tanh(W z / 4 + level[label]): each class has its own brightness, planted through `level`."""

    def __init__(self, z_dim: int = Z_DIM, n_classes: int = N_CLASSES, channels: int = 3, size: int = SIZE) -> None:
        super().__init__()
        self.shape = (channels, size, size)
        self.fc = nn.Linear(z_dim, channels * size * size)
        self.level = nn.Embedding(n_classes, 1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        x = self.fc(z) * 0.25 + self.level(labels)
        return torch.tanh(x).reshape(z.shape[0], *self.shape)


class AmplifyingGenerator(nn.Module):
    """An MLP whose output is frac(1e5 x): last-bit differences of the matrix products become whole pixels.

    Run naively, batches of 1 and of 256 give different bytes for most pixels on this CPU (matrix
    kernels round differently per batch size), so it checks that sampling fixes the arithmetic.
    """

    def __init__(self, z_dim: int = Z_DIM, size: int = SIZE) -> None:
        super().__init__()
        self.size = size
        self.hidden = nn.Linear(z_dim, 256)
        self.out = nn.Linear(256, size * size)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.out(torch.relu(self.hidden(z)))
        return torch.remainder(x * 1e5, 1.0).reshape(z.shape[0], 1, self.size, self.size)


register_architecture("test-linear", LinearGenerator)
register_architecture("test-cond", CondGenerator)
register_architecture("test-amplify", AmplifyingGenerator)


def _fill(module: nn.Module, seed: int, scale: float) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * scale)
    return module.eval()


def linear_module(seed: int = 0, channels: int = 1) -> LinearGenerator:
    # Weights of std 0.1 / sqrt(z_dim): pixel std 0.1 in [-1, 1], so the uint8 map never clips.
    return _fill(LinearGenerator(channels=channels), seed, 0.1 / Z_DIM**0.5)


def cond_module(seed: int = 0) -> CondGenerator:
    module = _fill(CondGenerator(), seed, 0.3)
    with torch.no_grad():
        module.level.weight.copy_(torch.tensor(LEVELS).reshape(N_CLASSES, 1))
    return module


def save_linear(folder: Path, name: str = "lin.pt", seed: int = 0, channels: int = 1,
                distribution: str = "normal") -> Path:
    latent = LatentSpec(z_dim=Z_DIM, distribution=distribution, image_shape=(channels, SIZE, SIZE))
    return save_generator(folder / name, linear_module(seed, channels), "test-linear", {"channels": channels},
                          latent, {"trainer": "test", "seed": seed})


def save_cond(folder: Path, name: str = "cond.pt", seed: int = 0) -> Path:
    latent = LatentSpec(z_dim=Z_DIM, n_classes=N_CLASSES, class_names=("dark", "grey", "bright"),
                        image_shape=(3, SIZE, SIZE))
    return save_generator(folder / name, cond_module(seed), "test-cond", {}, latent, {"trainer": "test"})


def all_images(gen, n: int, **kw) -> torch.Tensor:
    return torch.cat([images for images, _ in generate(gen, n, **kw)])


def class_by_brightness(images: torch.Tensor) -> np.ndarray:
    """Nearest planted class level for each uint8 image, from its mean pixel (independent of labels)."""
    expected = np.array([(np.tanh(v) + 1) / 2 * 255 for v in LEVELS])
    means = images.float().mean(dim=(1, 2, 3)).numpy()
    return np.abs(means[:, None] - expected[None, :]).argmin(axis=1)


# -- round trip ---------------------------------------------------------------------------------


def test_round_trip_gives_identical_outputs(tmp_path):
    path = save_cond(tmp_path)
    gen = load_generator(path)
    original = cond_module()
    assert gen.architecture == "test-cond" and gen.provenance == {"trainer": "test"}
    assert gen.latent == LatentSpec(z_dim=Z_DIM, n_classes=N_CLASSES, class_names=("dark", "grey", "bright"),
                                    image_shape=(3, SIZE, SIZE))
    assert gen.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    z = torch.randn(7, Z_DIM, generator=torch.Generator().manual_seed(9))
    labels = torch.tensor([0, 1, 2, 2, 1, 0, 1])
    with torch.no_grad():
        assert torch.equal(gen.module(z, labels), original(z, labels))
    for key, value in original.state_dict().items():
        assert torch.equal(gen.module.state_dict()[key], value)


def test_generate_feeds_the_module_its_seeded_latents(tmp_path):
    gen = load_generator(save_linear(tmp_path))
    z = seeded_latents(gen.latent, 20, seed=4)
    with torch.no_grad():
        want = to_uint8(linear_module()(z), (-1.0, 1.0))
    assert torch.equal(all_images(gen, 20, seed=4), want)


def test_to_uint8_maps_the_output_range_onto_0_255():
    x = torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0, 3.0, -7.0]).reshape(1, 1, 1, 7)
    got = to_uint8(x, (-1.0, 1.0))
    assert got.shape == (1, 3, 1, 7)  # grayscale repeated to RGB by default
    assert got[0, 0, 0].tolist() == [0, 64, 128, 191, 255, 255, 0]  # round(255 (x + 1) / 2), clipped
    assert to_uint8(x, (-1.0, 1.0), rgb=False).shape == (1, 1, 1, 7)
    assert to_uint8(torch.full((1, 1, 1, 1), 0.25), (0.0, 1.0))[0, 0, 0, 0] == 64


# -- bad checkpoints ----------------------------------------------------------------------------


def _good(tmp_path: Path) -> dict:
    return torch.load(save_linear(tmp_path, "good.pt"), weights_only=True)


def _edit(**changes):
    def make(tmp_path: Path, path: Path) -> None:
        data = _good(tmp_path)
        for key, value in changes.items():
            if value is KeyError:
                del data[key]
            else:
                data[key] = value
        torch.save(data, path)
    return make


def _edit_latent(key, value):
    def make(tmp_path: Path, path: Path) -> None:
        data = _good(tmp_path)
        if value is KeyError:
            del data["latent"][key]
        else:
            data["latent"][key] = value
        torch.save(data, path)
    return make


def _edit_state(fn):
    def make(tmp_path: Path, path: Path) -> None:
        data = _good(tmp_path)
        fn(data["state_dict"])
        torch.save(data, path)
    return make


def _truncated(tmp_path: Path, path: Path) -> None:
    raw = save_linear(tmp_path, "whole.pt").read_bytes()
    path.write_bytes(raw[: len(raw) // 2])


def _junk(tmp_path: Path, path: Path) -> None:
    path.write_bytes(b"definitely not a checkpoint\n" * 10)


def _bare_state_dict(tmp_path: Path, path: Path) -> None:
    torch.save(linear_module().state_dict(), path)


def _torchscript(tmp_path: Path, path: Path) -> None:
    with pytest.warns(FutureWarning):  # torch 2.14 marks TorchScript as deprecated
        torch.jit.save(torch.jit.trace(linear_module(), torch.zeros(2, Z_DIM)), str(path))


BAD_CHECKPOINTS = {
    "wrong format": (_edit(format="stylegan-pkl"), "its format is 'stylegan-pkl', not 'ganeval-generator'"),
    "wrong version": (_edit(format_version=2), "format version 2; this ganeval reads version 1 (written by a newer"),
    "missing state dict": (_edit(state_dict=KeyError), "the 'state_dict' entry is missing"),
    "missing architecture": (_edit(architecture=KeyError), "the 'architecture' entry is missing"),
    "missing latent key": (_edit_latent("image_shape", KeyError), "the latent spec lacks image_shape"),
    "impossible latent": (_edit_latent("output_range", [1.0, -1.0]), "bad latent spec: output_range"),
    "four channels": (_edit_latent("image_shape", [4, SIZE, SIZE]), "bad latent spec: image_shape"),
    "unknown architecture": (_edit(architecture="no-such-net"), "unknown architecture 'no-such-net'"),
    "config the builder refuses": (_edit(config={"depth": 3}), "cannot be built from its config"),
    "mis-shaped weight": (_edit_state(lambda sd: sd.update({"fc.weight": torch.zeros(3, 3)})),
                          "do not fit architecture 'test-linear' (Error(s) in loading state_dict"),
    "missing weight": (_edit_state(lambda sd: sd.pop("fc.weight")), "do not fit architecture 'test-linear'"),
    "extra weight": (_edit_state(lambda sd: sd.update({"fc.bias": torch.zeros(64)})), "do not fit architecture"),
    "non-tensor weight": (_edit_state(lambda sd: sd.update({"fc.weight": [1.0, 2.0]})), "must map names to tensors"),
    "truncated file": (_truncated, "not a torch.save zip archive"),
    "junk bytes": (_junk, "not a torch.save zip archive"),
    "bare state dict": (_bare_state_dict, "it is a bare state dict"),
    "torchscript file": (_torchscript, "it is a TorchScript file"),
}


@pytest.mark.parametrize("case", list(BAD_CHECKPOINTS))
def test_bad_checkpoints_are_one_line_errors_naming_the_file(tmp_path, case):
    make, expected = BAD_CHECKPOINTS[case]
    path = tmp_path / "bad.pt"
    make(tmp_path, path)
    with pytest.raises(BadInputError) as err:
        load_generator(path)
    message = str(err.value)
    assert message.startswith(f"{path} is not a usable ganeval generator checkpoint: ")
    assert expected in message
    assert "\n" not in message and len(message) < 400
    with pytest.raises(BadInputError, match="not a usable ganeval generator checkpoint"):
        open_input(path)  # the same refusal where images are expected


def test_a_missing_checkpoint_is_named(tmp_path):
    with pytest.raises(BadInputError, match="no such checkpoint: .*absent.pt"):
        load_generator(tmp_path / "absent.pt")


class ReduceMarker:
    """Unpickling this creates a folder (os.mkdir): proof that code from the file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


class SetstateMarker:
    """Unpickling this writes a file from __setstate__: proof that code from the file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __setstate__(self, state: dict) -> None:
        Path(state["marker"]).write_text("ran")
        self.__dict__.update(state)


@pytest.mark.parametrize("planted", [ReduceMarker, SetstateMarker])
@pytest.mark.parametrize("where", ["provenance", "state_dict", "top"])
def test_pickled_objects_are_refused_and_never_run(tmp_path, planted, where):
    marker = tmp_path / "code-ran"
    data = _good(tmp_path)
    if where == "top":
        data = {"format": G.FORMAT, "payload": planted(marker)}
    elif where == "state_dict":
        data["state_dict"]["fc.weight"] = planted(marker)
    else:
        data["provenance"]["note"] = planted(marker)
    path = tmp_path / "evil.pt"
    torch.save(data, path)
    with pytest.raises(BadInputError, match="holds a pickled Python object") as err:
        load_generator(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    assert not marker.exists()
    with pytest.raises(BadInputError):
        GeneratorSource(path)
    assert not marker.exists()
    # The plant is live: an unrestricted unpickler does run it.
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_save_refuses_an_impossible_latent_spec(tmp_path):
    with pytest.raises(ValueError, match="z_dim"):
        save_generator(tmp_path / "x.pt", linear_module(), "test-linear", {}, LatentSpec(z_dim=0), {})
    assert not (tmp_path / "x.pt").exists()


def test_wrong_output_shape_and_non_finite_output_are_named(tmp_path):
    # The config builds 6x6 images while the latent spec declares 8x8.
    latent = LatentSpec(z_dim=Z_DIM, image_shape=(1, SIZE, SIZE))
    path = save_generator(tmp_path / "shape.pt", LinearGenerator(size=6), "test-linear", {"size": 6}, latent, {})
    chunk = G.forward_chunk(latent)  # the module always runs on chunks of this many samples
    with pytest.raises(BadInputError, match=rf"shape.pt: architecture 'test-linear' returned a float32 tensor "
                                            rf"\({chunk}, 1, 6, 6\) for a batch of {chunk}; the checkpoint declares"):
        all_images(load_generator(path), 4)
    module = linear_module()
    with torch.no_grad():
        module.fc.weight[0, 0] = float("nan")
    path = save_generator(tmp_path / "nan.pt", module, "test-linear", {}, latent, {})
    with pytest.raises(BadInputError, match="nan.pt: the generator produced NaN"):
        all_images(load_generator(path), 4)


# -- deterministic sampling ---------------------------------------------------------------------


def test_same_seed_same_images_other_seed_differs(tmp_path):
    gen = load_generator(save_linear(tmp_path))
    a = all_images(gen, 30, seed=1)
    b = all_images(load_generator(save_linear(tmp_path, "again.pt")), 30, seed=1)
    assert torch.equal(a, b)
    c = all_images(gen, 30, seed=2)
    assert (a != c).float().mean() > 0.5


def test_images_depend_on_neither_batch_size_nor_n(tmp_path):
    gen = load_generator(save_cond(tmp_path))
    n = G.LATENT_BLOCK + 77  # crosses a latent block boundary
    reference = all_images(gen, n, seed=3, batch_size=n)
    for batch_size in (1, 64, 333):
        assert torch.equal(all_images(gen, n, seed=3, batch_size=batch_size), reference)
    assert torch.equal(all_images(gen, 10, seed=3), reference[:10])
    assert torch.equal(all_images(gen, G.LATENT_BLOCK + 1, seed=3, batch_size=50), reference[:G.LATENT_BLOCK + 1])


def test_kernel_rounding_does_not_leak_into_the_images(tmp_path):
    torch.manual_seed(0)  # only the module's initial weights; sampling takes its own seed
    module = AmplifyingGenerator().eval()
    latent = LatentSpec(z_dim=Z_DIM, output_range=(0.0, 1.0), image_shape=(1, SIZE, SIZE))
    gen = load_generator(save_generator(tmp_path / "amp.pt", module, "test-amplify", {}, latent, {}))
    n = 300
    reference = all_images(gen, n, seed=0, batch_size=n)
    for batch_size in (1, 7, 256):
        assert torch.equal(all_images(gen, n, seed=0, batch_size=batch_size), reference)
    assert torch.equal(all_images(gen, 11, seed=0), reference[:11])
    # and the images are the module's own: sample i as computed inside its fixed chunk
    z = seeded_latents(latent, G.forward_chunk(latent), seed=0)
    with torch.no_grad():
        assert torch.equal(reference[:11], to_uint8(module(z), (0.0, 1.0))[:11])


# -- truncation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("psi", [0.05, 0.5, 1.0, 2.0])
def test_truncated_latents_follow_the_truncated_normal(psi):
    spec = LatentSpec(z_dim=16)
    z = sample_latents(spec, 4000, torch.Generator().manual_seed(0), truncation=psi).double()
    assert z.abs().max() <= psi
    expected = scipy_stats.truncnorm(-psi, psi)
    assert z.var().item() == pytest.approx(expected.var(), rel=0.03)
    assert abs(z.mean().item()) < 5 * expected.std() / z.numel() ** 0.5
    assert scipy_stats.kstest(z.flatten()[:5000].numpy(), expected.cdf).pvalue > 1e-3


def test_truncation_zero_gives_the_mean_latent_and_large_psi_stays_finite(tmp_path):
    gen = load_generator(save_linear(tmp_path))
    images = all_images(gen, 9, seed=0, truncation=0.0)
    with torch.no_grad():
        mean_image = to_uint8(linear_module()(torch.zeros(1, Z_DIM)), (-1.0, 1.0))
    assert torch.equal(images, mean_image.expand(9, -1, -1, -1))
    z = sample_latents(gen.latent, 2000, torch.Generator().manual_seed(0), truncation=40.0)
    assert torch.isfinite(z).all() and z.var().item() == pytest.approx(1.0, rel=0.05)


def test_smaller_psi_gives_lower_pixel_variance_as_in_closed_form(tmp_path):
    gen = load_generator(save_linear(tmp_path))
    module = linear_module()
    with torch.no_grad():
        full = module(seeded_latents(gen.latent, 8000, seed=5)).var(dim=0).mean().item()
    previous = float("inf")
    for psi in (2.0, 1.0, 0.5, 0.25):
        with torch.no_grad():
            var = module(seeded_latents(gen.latent, 8000, seed=5, truncation=psi)).var(dim=0).mean().item()
        # A linear generator scales the latent variance: ratio = var of N(0, 1) truncated to [-psi, psi].
        assert var / full == pytest.approx(scipy_stats.truncnorm(-psi, psi).var(), rel=0.06)
        pixel_var = all_images(gen, 2000, seed=5, truncation=psi).float().var(dim=0).mean().item()
        assert pixel_var < previous
        previous = pixel_var


def test_uniform_latents_truncate_to_the_smaller_interval():
    spec = LatentSpec(z_dim=8, distribution="uniform")
    z = sample_latents(spec, 3000, torch.Generator().manual_seed(0), truncation=0.3)
    assert z.abs().max() <= 0.3 and z.abs().max() > 0.29
    z = sample_latents(spec, 3000, torch.Generator().manual_seed(0), truncation=5.0)
    assert z.abs().max() <= 1.0 and z.var().item() == pytest.approx(1 / 3, rel=0.05)


@pytest.mark.parametrize("psi", [-0.5, float("nan"), float("inf")])
def test_impossible_truncation_is_refused(tmp_path, psi):
    path = save_linear(tmp_path)
    with pytest.raises(BadInputError, match="--truncation must be a number >= 0"):
        GeneratorSource(path, SamplingConfig(n=4, truncation=psi))


# -- classes ------------------------------------------------------------------------------------


def test_class_selection_gives_that_class(tmp_path):
    gen = load_generator(save_cond(tmp_path))
    for k in range(N_CLASSES):
        batches = list(generate(gen, 12, seed=0, class_index=k, batch_size=5))
        labels = torch.cat([lb for _, lb in batches])
        assert labels.tolist() == [k] * 12
        assert (class_by_brightness(torch.cat([im for im, _ in batches])) == k).all()


def test_classes_are_balanced_without_a_class(tmp_path):
    gen = load_generator(save_cond(tmp_path))
    batches = list(generate(gen, 31, seed=0, batch_size=8))
    labels = torch.cat([lb for _, lb in batches]).numpy()
    assert np.bincount(labels).tolist() == [11, 10, 10]
    assert (class_by_brightness(torch.cat([im for im, _ in batches])) == np.arange(31) % N_CLASSES).all()


def test_class_errors_name_the_checkpoint(tmp_path):
    cond, lin = save_cond(tmp_path), save_linear(tmp_path)
    with pytest.raises(BadInputError, match=r"cond.pt: --class must be in 0..2, got 3"):
        GeneratorSource(cond, SamplingConfig(n=4, class_index=3))
    with pytest.raises(BadInputError, match=r"lin.pt: this generator is unconditional: it takes no --class"):
        GeneratorSource(lin, SamplingConfig(n=4, class_index=0))


# -- as an image source -------------------------------------------------------------------------


def test_generator_source_yields_rgb_generated_images(tmp_path):
    path = save_linear(tmp_path)
    source = open_input(path, sampling=SamplingConfig(n=10, seed=2))
    assert isinstance(source, GeneratorSource) and source.kind == "generator" and len(source) == 10
    batches = list(source.batches(3))
    assert [b.images.shape[0] for b in batches] == [3, 3, 3, 1]
    images = torch.cat([b.images for b in batches])
    assert images.dtype == torch.uint8 and images.shape == (10, 3, SIZE, SIZE)
    assert torch.equal(images, all_images(load_generator(path), 10, seed=2))
    assert batches[1].names == ["lin.pt[3]", "lin.pt[4]", "lin.pt[5]"]
    described = source.describe()
    assert described["kind"] == "generator" and described["architecture"] == "test-linear"
    assert described["checkpoint_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (described["n"], described["seed"], described["class_index"], described["truncation"]) == (10, 2, None, None)
    assert described["latent"]["image_shape"] == [1, SIZE, SIZE]
    json.dumps(described)  # provenance must be JSON


def test_fingerprint_follows_checkpoint_bytes_and_settings(tmp_path):
    path = save_cond(tmp_path)
    base = SamplingConfig(n=8, seed=0)
    fp = GeneratorSource(path, base).fingerprint()
    copy = tmp_path / "elsewhere" / "renamed.ckpt"
    copy.parent.mkdir()
    shutil.copy(path, copy)
    assert GeneratorSource(copy, base).fingerprint() == fp  # content-addressed, not path-addressed
    others = [SamplingConfig(n=9, seed=0), SamplingConfig(n=8, seed=1), SamplingConfig(n=8, class_index=1),
              SamplingConfig(n=8, truncation=0.7), SamplingConfig(n=8, truncation=0.8)]
    fingerprints = {GeneratorSource(path, s).fingerprint() for s in others}
    assert len(fingerprints) == len(others) and fp not in fingerprints
    save_cond(tmp_path, "cond.pt", seed=1)  # same path, other weights
    assert GeneratorSource(path, base).fingerprint() != fp


def test_fid_against_its_own_samples_is_zero(tmp_path):
    path = save_cond(tmp_path)
    folder = write_samples(path, tmp_path / "samples", 64, seed=3, batch_size=10)
    config = EvalConfig(extractor="test-tiny", use_cache=False, sampling=SamplingConfig(n=64, seed=3))
    same = evaluate(folder, path, config).get("fid").value
    other = evaluate(folder, path, EvalConfig(extractor="test-tiny", use_cache=False,
                                              sampling=SamplingConfig(n=64, seed=4))).get("fid").value
    assert abs(same) < 1e-6 * other
    assert other > 1e-4


def test_grayscale_samples_on_disk_match_the_source(tmp_path):
    path = save_linear(tmp_path)
    npz = write_samples(path, tmp_path / "s.npz", 40, seed=1)
    config = EvalConfig(extractor="test-tiny", use_cache=False, sampling=SamplingConfig(n=40, seed=1))
    assert abs(evaluate(npz, path, config).get("fid").value) < 1e-6


def test_stats_cache_hits_and_is_invalidated_by_seed_and_checkpoint(tmp_path):
    real = write_samples(save_linear(tmp_path, "real.pt", seed=7), tmp_path / "real", 48, seed=0)
    path = save_linear(tmp_path, "gen.pt")
    cache = StatsCache(tmp_path / "cache")

    def run(seed: int):
        config = EvalConfig(extractor="test-tiny", sampling=SamplingConfig(n=48, seed=seed))
        result = evaluate(real, path, config, cache=cache)
        return result.get("fid").value, result.provenance["inputs"]["fake"]

    value, fake = run(0)
    assert not fake["cached"] and fake["kind"] == "generator" and fake["seed"] == 0
    again, fake = run(0)
    assert fake["cached"] and again == value
    other_seed, fake = run(1)
    assert not fake["cached"] and other_seed != value
    save_linear(tmp_path, "gen.pt", seed=1)  # new weights at the same path
    new_weights, fake = run(0)
    assert not fake["cached"] and new_weights != value
    assert fake["checkpoint_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


# -- export -------------------------------------------------------------------------------------


def _load_exported(path: Path, fmt: str):
    extra = {G.EXPORT_DECLARATION: ""}
    if fmt == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch 2.14 marks TorchScript as deprecated
            program = torch.jit.load(str(path), _extra_files=extra)
    else:
        program = torch.export.load(str(path), extra_files=extra).module()
    return program, json.loads(extra[G.EXPORT_DECLARATION])


@pytest.mark.parametrize("fmt", G.EXPORT_FORMATS)
def test_export_reproduces_the_conditional_module(tmp_path, fmt):
    ckpt = save_cond(tmp_path)
    out = export_generator(ckpt, tmp_path / f"g.{fmt}", fmt)
    program, declared = _load_exported(out, fmt)
    z = torch.randn(5, Z_DIM, generator=torch.Generator().manual_seed(1))
    labels = torch.tensor([2, 0, 1, 1, 2])
    with torch.no_grad():
        torch.testing.assert_close(program(z, labels), cond_module()(z, labels), rtol=1e-6, atol=1e-6)
    assert declared["inputs"] == ["z", "labels"] and declared["architecture"] == "test-cond"
    assert declared["latent"]["n_classes"] == N_CLASSES and declared["output_range"] == [-1.0, 1.0]
    assert declared["checkpoint_sha256"] == hashlib.sha256(ckpt.read_bytes()).hexdigest()


@pytest.mark.parametrize("fmt", G.EXPORT_FORMATS)
def test_export_reproduces_the_unconditional_module(tmp_path, fmt):
    out = export_generator(save_linear(tmp_path, channels=3), tmp_path / f"g.{fmt}", fmt)
    program, declared = _load_exported(out, fmt)
    for n in (1, 9):
        z = torch.randn(n, Z_DIM, generator=torch.Generator().manual_seed(n))
        with torch.no_grad():
            torch.testing.assert_close(program(z), linear_module(channels=3)(z), rtol=1e-6, atol=1e-6)
    assert declared["inputs"] == ["z"] and declared["output_shape"] == ["N", 3, SIZE, SIZE]


def test_export_refuses_unknown_formats_and_existing_files(tmp_path):
    ckpt = save_linear(tmp_path)
    with pytest.raises(BadInputError, match="unknown export format 'onnx'"):
        export_generator(ckpt, tmp_path / "g.onnx", "onnx")
    existing = tmp_path / "g.pt"
    existing.write_bytes(b"keep me")
    with pytest.raises(BadInputError, match="already exists; pass --force"):
        export_generator(ckpt, existing, "torchscript")
    assert existing.read_bytes() == b"keep me"


def test_checkpoints_are_unpickled_weights_only_from_the_hashed_bytes(tmp_path, monkeypatch):
    """One torch.load, weights_only=True, on the in-memory bytes that were hashed (not the path again)."""
    path = save_linear(tmp_path)
    calls = []
    real_load = torch.load

    def spy(f, *args, **kwargs):
        calls.append((type(f), kwargs.get("weights_only")))
        return real_load(f, *args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    load_generator(path)
    assert calls == [(io.BytesIO, True)]
