"""`ganeval sample`, `ganeval export` and checkpoints given to fid/metrics/stats, through the command line.

Checked against independent facts: PNG and .npz outputs against each other and against the module
called directly, byte equality across runs and batch sizes, hashlib for the recorded sha256, files
left untouched after refusals and interruptions, and FID 0 between a checkpoint and its own samples.
"""

from __future__ import annotations

import hashlib
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import ganeval.cli as cli
import ganeval.generators as G
from ganeval import __version__
from ganeval.stats import FeatureStats
from test_generators import (
    N_CLASSES,
    SIZE,
    Z_DIM,
    ReduceMarker,
    class_by_brightness,
    cond_module,
    linear_module,
    save_cond,
    save_linear,
)


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["ganeval", *map(str, args)])
    with pytest.raises(SystemExit) as exc:
        cli.main()
    out = capsys.readouterr()
    code = exc.value.code if isinstance(exc.value.code, int) else (0 if exc.value.code is None else 1)
    return code, out.out, out.err


def read_pngs(folder: Path) -> tuple[list[str], np.ndarray, set[str]]:
    """Sorted PNG names, their pixels stacked as (N, H, W[, C]) and the set of PIL modes."""
    files = sorted(folder.glob("*.png"))
    images = [Image.open(f) for f in files]
    modes = {im.mode for im in images}
    return [f.name for f in files], np.stack([np.asarray(im) for im in images]), modes


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


# -- ganeval sample -----------------------------------------------------------------------------


def test_sample_writes_grayscale_pngs_and_samples_json(monkeypatch, capsys, tmp_path):
    ckpt = save_linear(tmp_path)
    out = tmp_path / "samples"
    code, stdout, err = run_cli(monkeypatch, capsys, "sample", ckpt, "-n", 12, "--seed", 5, "--out", out, "-q")
    assert code == 0, err
    names, pixels, modes = read_pngs(out)
    assert names == [f"{i:06d}.png" for i in range(12)]
    assert modes == {"L"} and pixels.shape == (12, SIZE, SIZE)  # the generator's own single channel
    z = G.seeded_latents(G.load_generator(ckpt).latent, 12, seed=5)
    with torch.no_grad():
        want = G.to_uint8(linear_module()(z), (-1.0, 1.0), rgb=False)[:, 0].numpy()
    np.testing.assert_array_equal(pixels, want)
    record = json.loads((out / "samples.json").read_text())
    assert record["checkpoint_sha256"] == hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert (record["n"], record["seed"], record["class_index"], record["truncation"]) == (12, 5, None, None)
    assert record["architecture"] == "test-linear" and record["ganeval_version"] == __version__
    assert record["format"] == "png" and record["latent"]["z_dim"] == Z_DIM
    assert sorted(p.name for p in out.iterdir()) == names + ["samples.json"]
    assert "wrote 12 samples" in stdout


def test_npz_and_pngs_hold_the_same_images_and_labels(monkeypatch, capsys, tmp_path):
    ckpt = save_cond(tmp_path)
    for target in ("pngs", "s.npz"):
        code, _, err = run_cli(monkeypatch, capsys, "sample", ckpt, "-n", 10, "--seed", 2, "--out",
                               tmp_path / target, "-q", "--batch-size", 4)
        assert code == 0, err
    names, pixels, modes = read_pngs(tmp_path / "pngs")
    assert modes == {"RGB"}
    with np.load(tmp_path / "s.npz") as npz:
        assert sorted(npz.files) == ["images", "labels"]
        images, labels = npz["images"], npz["labels"]
    assert images.dtype == np.uint8 and images.shape == (10, SIZE, SIZE, 3)  # NHWC
    np.testing.assert_array_equal(images, pixels)
    assert labels.tolist() == [i % N_CLASSES for i in range(10)]
    assert (class_by_brightness(torch.from_numpy(images).permute(0, 3, 1, 2)) == labels).all()
    record = json.loads((tmp_path / "s.samples.json").read_text())
    assert record["format"] == "npz" and record["labels"].startswith("balanced")


def test_class_and_truncation_options(monkeypatch, capsys, tmp_path):
    ckpt = save_cond(tmp_path)
    code, _, err = run_cli(monkeypatch, capsys, "sample", ckpt, "-n", 6, "--class", 2, "--truncation", 0,
                           "--out", tmp_path / "c.npz", "-q")
    assert code == 0, err
    with np.load(tmp_path / "c.npz") as npz:
        images, labels = npz["images"], npz["labels"]
    assert labels.tolist() == [2] * 6
    with torch.no_grad():  # psi = 0: every sample is the class's image at the mean latent
        mean_image = G.to_uint8(cond_module()(torch.zeros(1, Z_DIM), torch.tensor([2])), (-1.0, 1.0))
    np.testing.assert_array_equal(images, np.broadcast_to(mean_image.permute(0, 2, 3, 1).numpy(), images.shape))
    record = json.loads((tmp_path / "c.samples.json").read_text())
    assert (record["class_index"], record["truncation"]) == (2, 0.0)


def test_same_seed_same_bytes_whatever_the_batch_size(monkeypatch, capsys, tmp_path):
    ckpt = save_cond(tmp_path)
    runs = {"a": ("3", "1"), "b": ("64", "1"), "c": ("5", "2")}  # folder: (batch size, seed)
    for folder, (batch, seed) in runs.items():
        code, _, err = run_cli(monkeypatch, capsys, "sample", ckpt, "-n", 9, "--seed", seed, "-b", batch,
                               "--out", tmp_path / folder, "-q")
        assert code == 0, err
    assert snapshot(tmp_path / "a") == snapshot(tmp_path / "b")
    assert read_pngs(tmp_path / "a")[1].tolist() != read_pngs(tmp_path / "c")[1].tolist()


def test_non_empty_folders_are_refused_and_previous_samples_replaced_with_force(monkeypatch, capsys, tmp_path):
    ckpt = save_linear(tmp_path)
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    for extra in ((), ("--force",)):
        code, _, err = run_cli(monkeypatch, capsys, "sample", ckpt, "-n", 3, "--out", foreign, "-q", *extra)
        assert code == 2 and len(err.strip().splitlines()) == 1 and str(foreign) in err
    assert snapshot(foreign) == {"notes.txt": b"keep"}

    out = tmp_path / "samples"
    assert run_cli(monkeypatch, capsys, "sample", ckpt, "-n", 5, "--seed", 1, "--out", out, "-q")[0] == 0
    code, _, err = run_cli(monkeypatch, capsys, "sample", ckpt, "-n", 3, "--seed", 2, "--out", out, "-q")
    assert code == 2 and "pass --force" in err
    assert len(list(out.glob("*.png"))) == 5
    code, _, err = run_cli(monkeypatch, capsys, "sample", ckpt, "-n", 3, "--seed", 2, "--out", out, "-q", "--force")
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["000000.png", "000001.png", "000002.png", "samples.json"]
    assert json.loads((out / "samples.json").read_text())["seed"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lin.pt", "mine", "samples"]  # no temp folders left

    npz = tmp_path / "x.npz"
    npz.write_bytes(b"old")
    code, _, err = run_cli(monkeypatch, capsys, "sample", ckpt, "-n", 3, "--out", npz, "-q")
    assert code == 2 and npz.read_bytes() == b"old"
    assert run_cli(monkeypatch, capsys, "sample", ckpt, "-n", 3, "--out", npz, "-q", "--force")[0] == 0
    with np.load(npz) as data:
        assert data["images"].shape == (3, SIZE, SIZE, 1)


@pytest.mark.parametrize("target", ["folder", "s.npz"])
def test_an_interrupted_run_leaves_nothing_behind(monkeypatch, capsys, tmp_path, target):
    ckpt = save_linear(tmp_path)
    parent = tmp_path / "out"
    parent.mkdir()
    real_generate = G.generate
    yielded = []

    def interrupt_on_third_batch(*args, **kwargs):
        for batch in real_generate(*args, **kwargs):
            if len(yielded) == 2:  # two batches are already on disk (in the temporary output)
                raise KeyboardInterrupt
            yielded.append(batch)
            yield batch

    monkeypatch.setattr(G, "generate", interrupt_on_third_batch)
    code, _, err = run_cli(monkeypatch, capsys, "sample", ckpt, "-n", 40, "-b", 8, "--out", parent / target, "-q")
    assert code == 130 and len(yielded) == 2  # typer turns Ctrl-C into exit code 130
    assert list(parent.iterdir()) == []  # neither the output nor a temp file or folder


def test_sample_option_errors_are_one_line(monkeypatch, capsys, tmp_path):
    ckpt, cond = save_linear(tmp_path), save_cond(tmp_path)
    cases = [
        (("sample", ckpt, "-n", 3, "--class", 1), "takes no --class"),
        (("sample", cond, "-n", 3, "--class", 7), "--class must be in 0..2, got 7"),
        (("sample", ckpt, "-n", 0), "number of samples must be a positive integer"),
        (("sample", ckpt, "-n", 3, "--truncation", -1), "--truncation must be a number >= 0"),
        (("sample", ckpt, "-n", 3, "--seed", -4), "the seed must be an integer"),
    ]
    for args, expected in cases:
        code, _, err = run_cli(monkeypatch, capsys, *args, "--out", tmp_path / "o", "-q")
        assert code == 2 and expected in err and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "o").exists()
    code, _, err = run_cli(monkeypatch, capsys, "sample", ckpt, "-n", 3, "--out", tmp_path / "o.png", "-q")
    assert code == 2 and "not as .png" in err


# -- bad checkpoints on every command -----------------------------------------------------------


def _pickled(path: Path, marker: Path) -> None:
    torch.save({"format": G.FORMAT, "format_version": 1, "provenance": {"x": ReduceMarker(marker)}}, path)


def _wrong_version(path: Path, marker: Path) -> None:
    data = torch.load(save_linear(path.parent, "good.pt"), weights_only=True)
    data["format_version"] = 99
    torch.save(data, path)


def _truncated(path: Path, marker: Path) -> None:
    raw = save_linear(path.parent, "good.pt").read_bytes()
    path.write_bytes(raw[:-200])


def _misfit(path: Path, marker: Path) -> None:
    data = torch.load(save_linear(path.parent, "good.pt"), weights_only=True)
    data["state_dict"]["fc.weight"] = torch.zeros(2, 2)
    torch.save(data, path)


@pytest.mark.parametrize("make", [_pickled, _wrong_version, _truncated, _misfit])
def test_bad_checkpoints_exit_2_with_one_line_everywhere(monkeypatch, capsys, tmp_path, make):
    bad, marker = tmp_path / "bad.ckpt", tmp_path / "ran"
    make(bad, marker)
    real = tmp_path / "real"
    real.mkdir()
    Image.fromarray(np.zeros((SIZE, SIZE), np.uint8)).save(real / "a.png")
    commands = [
        ("sample", bad, "-n", 4, "--out", tmp_path / "o", "-q"),
        ("export", bad, "--format", "torchscript", "--out", tmp_path / "o.pt"),
        ("fid", real, bad, "-e", "test-tiny", "--n-samples", 4, "-q"),
        ("stats", bad, "-o", tmp_path / "s.npz", "-e", "test-tiny", "--n-samples", 4, "-q"),
    ]
    for args in commands:
        code, out, err = run_cli(monkeypatch, capsys, *args)
        assert code == 2, (args[0], err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
        assert f"{bad} is not a usable ganeval generator checkpoint" in err
    assert not marker.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "good.pt") == ["bad.ckpt", "real"]


# -- checkpoints where images are expected ------------------------------------------------------


def test_fid_between_a_checkpoint_and_its_own_samples_is_zero(monkeypatch, capsys, tmp_path):
    ckpt = save_cond(tmp_path)
    samples = tmp_path / "samples"
    assert run_cli(monkeypatch, capsys, "sample", ckpt, "-n", 48, "--seed", 6, "--out", samples, "-q")[0] == 0
    code, out, err = run_cli(monkeypatch, capsys, "fid", samples, ckpt, "-e", "test-tiny", "--n-samples", 48,
                             "--sample-seed", 6, "-q", "--out", tmp_path / "report")
    assert code == 0, err
    assert abs(float(out.split()[1])) < 1e-6
    prov = json.loads((tmp_path / "report" / "results.json").read_text())["provenance"]
    fake = prov["inputs"]["fake"]
    assert fake["kind"] == "generator" and fake["architecture"] == "test-cond"
    assert fake["checkpoint_sha256"] == hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert (fake["n"], fake["seed"], fake["class_index"], fake["truncation"]) == (48, 6, None, None)
    assert prov["config"]["sampling"] == {"n": 48, "seed": 6, "class_index": None, "truncation": None}
    code, out, err = run_cli(monkeypatch, capsys, "fid", samples, ckpt, "-e", "test-tiny", "--n-samples", 48,
                             "--sample-seed", 7, "-q", "--no-cache")
    assert code == 0 and float(out.split()[1]) > 1e-4  # other samples: a real distance


def test_metrics_and_stats_take_class_and_truncation(monkeypatch, capsys, tmp_path):
    ckpt = save_cond(tmp_path)
    samples = tmp_path / "s.npz"
    assert run_cli(monkeypatch, capsys, "sample", ckpt, "-n", 30, "--class", 1, "--truncation", 0.5,
                   "--out", samples, "-q")[0] == 0
    code, out, err = run_cli(monkeypatch, capsys, "metrics", samples, ckpt, "-e", "test-tiny", "--metrics",
                             "fid,pr", "--n-samples", 30, "--class", 1, "--truncation", 0.5, "-q",
                             "--out", tmp_path / "r")
    assert code == 0, err
    results = {r["metric"]: r["value"] for r in json.loads((tmp_path / "r" / "results.json").read_text())["results"]}
    assert abs(results["fid"]) < 1e-6 and results["precision"] == 1.0 and results["recall"] == 1.0
    code, out, err = run_cli(monkeypatch, capsys, "stats", ckpt, "-o", tmp_path / "st.npz", "-e", "test-tiny",
                             "--n-samples", 30, "--class", 1, "-q")
    assert code == 0, err
    saved = FeatureStats.load(tmp_path / "st.npz")
    assert saved.n == 30 and saved.meta["provenance"]["inputs"]["input"]["class_index"] == 1


def test_sampling_options_without_a_checkpoint_warn(monkeypatch, capsys, image_sets):
    a_dir, b_dir, _, _ = image_sets
    code, _, err = run_cli(monkeypatch, capsys, "fid", a_dir, b_dir, "-e", "test-tiny", "--sample-seed", 3, "-q")
    assert code == 0 and "apply to generator checkpoint inputs only" in err


# -- ganeval export -----------------------------------------------------------------------------


def test_export_cli_writes_a_program_that_reproduces_the_generator(monkeypatch, capsys, tmp_path):
    ckpt = save_cond(tmp_path)
    out = tmp_path / "g.pt"
    code, stdout, err = run_cli(monkeypatch, capsys, "export", ckpt, "--format", "torchscript", "--out", out)
    assert code == 0, err
    extra = {G.EXPORT_DECLARATION: ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        program = torch.jit.load(str(out), _extra_files=extra)
    z, labels = torch.randn(4, Z_DIM, generator=torch.Generator().manual_seed(3)), torch.tensor([1, 2, 0, 1])
    with torch.no_grad():
        torch.testing.assert_close(program(z, labels), cond_module()(z, labels), rtol=1e-6, atol=1e-6)
    assert json.loads(extra[G.EXPORT_DECLARATION])["inputs"] == ["z", "labels"]
    code, _, err = run_cli(monkeypatch, capsys, "export", ckpt, "--format", "torchscript", "--out", out)
    assert code == 2 and "already exists" in err
    code, _, err = run_cli(monkeypatch, capsys, "export", ckpt, "--format", "onnx", "--out", tmp_path / "g.onnx")
    assert code == 2 and "unknown export format 'onnx'" in err and len(err.strip().splitlines()) == 1
