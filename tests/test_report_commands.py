"""Every computing command leaves a report: metrics (by default, under reports/), fid (only with --out),
train-reference (in its run folder), with the sections the run calls for; the nearest-real-neighbour
gallery and per-class metrics of conditional generators in metrics reports; results.csv's optional columns.

Planted effects checked: an exact copy of a real image among the generated ones is found at distance 0
beside that very real image; a conditional generator whose "bright" class draws grey images has the
highest per-class FID and a class consistency of 0 for that class, 1 for the others (the test-pixels
extractor classifies by brightness). Training-run numbers are checked against manifest.json.
"""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torch import nn

import ganeval.cli as cli
from conftest import write_pngs
from ganeval.cli_report import metrics_extras, preview_images
from ganeval.config import EvalConfig, SamplingConfig
from ganeval.evaluate import evaluate
from ganeval.generators import LatentSpec, register_architecture, save_generator
from ganeval.report.files import RESULTS_CSV_COLUMNS, default_report_dir
from test_report_html import DOCUMENTED_COLUMNS, cells, parse
from test_sweep import LEVELS, SIDE

CLASSES = ("dark", "grey", "bright")
PER_CLASS = 60
NOISE = 0.08  # pixel std around a class's brightness level (in [-1, 1]): A's entries have std 1/2, z is 4-d


class LevelGenerator(nn.Module):
    """images = level[wired[label]] + NOISE * (A z): class k is drawn at the brightness of class wired[k].

    wired = (0, 1, 2) is a faithful generator; (0, 1, 1) draws grey images when asked for "bright".
    """

    def __init__(self, wired: tuple[int, int, int] = (0, 1, 2)) -> None:
        super().__init__()
        self.a = nn.Linear(4, SIDE * SIDE, bias=False)
        self.register_buffer("levels", torch.tensor(LEVELS))
        self.register_buffer("wired", torch.tensor(wired))

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        base = self.levels[self.wired[labels]][:, None]
        return (base + NOISE * self.a(z)).reshape(-1, 1, SIDE, SIDE)


register_architecture("test-levels", LevelGenerator)
LATENT = LatentSpec(z_dim=4, n_classes=3, class_names=CLASSES, image_shape=(1, SIDE, SIDE))


def level_module(wired=(0, 1, 2)) -> LevelGenerator:
    module = LevelGenerator(wired)
    with torch.no_grad():
        module.a.weight.copy_(torch.randn(SIDE * SIDE, 4, generator=torch.Generator().manual_seed(0)) / 2)
    return module.eval()


def real_class_folder(root: Path, seed: int = 11) -> Path:
    """PER_CLASS real images per class subfolder, drawn like the faithful generator's (other latents)."""
    module = level_module()
    z = torch.randn(PER_CLASS, 4, generator=torch.Generator().manual_seed(seed))
    for k, name in enumerate(CLASSES):
        with torch.no_grad():
            out = module(z, torch.full((PER_CLASS,), k))
        pixels = np.clip(np.rint((out[:, 0].numpy() + 1) / 2 * 255), 0, 255).astype(np.uint8)
        write_pngs(root / name, pixels)
    return root


def run_cli(monkeypatch, capsys, *args) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["ganeval", *map(str, args)])
    with pytest.raises(SystemExit) as exc:
        cli.main()
    captured = capsys.readouterr()
    code = exc.value.code if isinstance(exc.value.code, int) else (0 if exc.value.code is None else 1)
    return code, captured.out, captured.err


def section_ids(path: Path) -> list[str]:
    return [a["id"] for tag, a in parse(path).tags if tag == "section" and a.get("id")]


# -- where reports go -------------------------------------------------------------------------------------

def test_metrics_writes_a_report_under_reports_by_default_and_fid_does_not(monkeypatch, capsys, tmp_path,
                                                                           image_sets):
    a_dir, b_dir, _, _ = image_sets
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GANEVAL_REPORTS_DIR", raising=False)
    code, _, err = run_cli(monkeypatch, capsys, "fid", a_dir, b_dir, "-e", "test-tiny", "-q")
    assert code == 0, err
    assert not (tmp_path / "reports").exists()  # a quick FID leaves nothing behind

    before = datetime.datetime.now().replace(microsecond=0)
    code, out, err = run_cli(monkeypatch, capsys, "metrics", a_dir, b_dir, "-e", "test-tiny", "-m", "fid,pr", "-q")
    assert code == 0, err
    (folder,) = (tmp_path / "reports").iterdir()
    stamp = datetime.datetime.strptime(folder.name.removesuffix("-metrics"), "%Y%m%d-%H%M%S")
    assert before <= stamp <= datetime.datetime.now() and folder.name.endswith("-metrics")
    assert f"report: {Path('reports') / folder.name / 'index.html'}" in err
    assert {"index.html", "results.json", "results.csv"} <= {p.name for p in folder.iterdir()}
    ids = section_ids(folder / "index.html")
    for wanted in ("headline", "all-results", "fidelity-and-diversity", "samples", "nearest-real-neighbours",
                   "provenance"):
        assert wanted in ids
    assert list(pd.read_csv(folder / "results.csv").columns) == DOCUMENTED_COLUMNS  # no optional columns

    monkeypatch.setenv("GANEVAL_REPORTS_DIR", str(tmp_path / "elsewhere"))
    code, _, err = run_cli(monkeypatch, capsys, "metrics", a_dir, b_dir, "-e", "test-tiny", "-m", "fid", "-q",
                           "--no-neighbours")
    assert code == 0, err
    (other,) = (tmp_path / "elsewhere").iterdir()
    assert "nearest-real-neighbours" not in section_ids(other / "index.html")


def test_default_report_dir_is_timestamped_and_never_reused(tmp_path):
    now = datetime.datetime(2026, 11, 23, 1, 45, 0)
    first = default_report_dir("metrics", root=tmp_path, now=now)
    assert first == tmp_path / "20261123-014500-metrics"
    first.mkdir()
    second = default_report_dir("metrics", root=tmp_path, now=now)
    assert second == tmp_path / "20261123-014500-metrics-2" and not second.exists()


# -- the neighbour gallery ------------------------------------------------------------------------------------

def test_a_planted_copy_of_a_real_image_is_found_at_distance_zero(monkeypatch, capsys, tmp_path):
    rng = np.random.default_rng(3)
    real = rng.integers(0, 256, size=(50, SIDE, SIDE, 3), dtype=np.uint8)
    fake = rng.integers(0, 256, size=(20, SIDE, SIDE, 3), dtype=np.uint8)
    fake[5] = real[31]
    real_dir, fake_dir = write_pngs(tmp_path / "real", real), write_pngs(tmp_path / "fake", fake)
    out = tmp_path / "report"
    code, _, err = run_cli(monkeypatch, capsys, "metrics", real_dir, fake_dir, "-e", "test-pixels", "-m", "fid",
                           "--out", out, "-q")
    assert code == 0, err
    page = parse(out / "index.html")
    distances = [f for f in page.fields if f["section"] == "nearest-real-neighbours" and f["field"] == "distance"]
    top = distances[0]
    assert top["key"] == "5" and float(top["value"]) == 0.0 and "close" in top["class"]
    assert all(float(f["value"]) > 0 for f in distances if f["key"] != "5")
    prov = json.loads((out / "results.json").read_text())["provenance"]["neighbours"]
    assert prov["min_distance"] == 0.0 and prov["shown"] == 20 and prov["k"] == 3

    # the same through Python: the neighbour shown is real image 31 itself, pixel for pixel
    config = EvalConfig(metrics=("fid",), extractor="test-pixels")
    run = evaluate(real_dir, fake_dir, config)
    images = preview_images({"real": real_dir, "fake": fake_dir})
    extras = metrics_extras(real_dir, fake_dir, run, config, fake_images=images["fake"])
    nb = extras.neighbours
    assert nb.real_indices[5, 0] == 31 and nb.distances[5, 0] == 0.0
    np.testing.assert_array_equal(nb.real_images[5, 0], real[31].transpose(2, 0, 1))
    assert 0 < nb.reference_distance < nb.distances[np.arange(20) != 5, 0].min() * 10


def test_statistics_inputs_skip_the_gallery_with_a_note(tmp_path, image_sets):
    a_dir, b_dir, _, _ = image_sets
    from ganeval.evaluate import compute_stats

    stats, _ = compute_stats(a_dir, EvalConfig(extractor="test-tiny"), keep=("pool",))
    stats.save(tmp_path / "real.npz")
    config = EvalConfig(metrics=("fid",), extractor="test-tiny")
    run = evaluate(tmp_path / "real.npz", b_dir, config)
    extras = metrics_extras(tmp_path / "real.npz", b_dir, run, config,
                            fake_images=preview_images({"fake": b_dir})["fake"])
    assert extras.neighbours is None and extras.results == ()
    assert extras.notes == ("nearest-neighbour gallery skipped: the real input is a statistics file, which holds "
                            "no images",)


# -- per-class metrics --------------------------------------------------------------------------------------

def test_per_class_rows_for_a_conditional_generator(monkeypatch, capsys, tmp_path):
    real = real_class_folder(tmp_path / "real")
    ckpt = save_generator(tmp_path / "miswired.pt", level_module((0, 1, 1)), "test-levels",
                          {"wired": [0, 1, 1]}, LATENT, {})
    out = tmp_path / "report"
    code, stdout, err = run_cli(monkeypatch, capsys, "metrics", real, ckpt, "-e", "test-pixels", "-m", "fid,pr",
                                "--n-samples", 3 * PER_CLASS, "--sample-seed", 4, "--out", out, "-q")
    assert code == 0, err
    results = json.loads((out / "results.json").read_text())["results"]
    per_class = {(r["metric"], r["details"]["group"]): r for r in results if r["details"].get("by") == "class"}
    fid = {c: per_class[("fid", c)]["value"] for c in CLASSES}
    assert fid["bright"] > 20 * max(fid["dark"], fid["grey"])  # the miswired class stands out
    assert [per_class[("fid", c)]["n_fake"] for c in CLASSES] == [PER_CLASS] * 3
    assert [per_class[("fid", c)]["n_real"] for c in CLASSES] == [PER_CLASS] * 3
    consistency = {c: per_class[("class_consistency", c)]["value"] for c in CLASSES}
    assert consistency == {"dark": 1.0, "grey": 1.0, "bright": 0.0}
    overall = next(r for r in results if r["metric"] == "class_consistency" and "by" not in r["details"])
    assert overall["value"] == pytest.approx(2 / 3) and overall["details"]["matched"].startswith("by position")

    # the per-class FID is the FID of that class's generated samples against that class's real folder
    samples = cli_sample_class(monkeypatch, capsys, ckpt, tmp_path / "samples")
    plain = evaluate(real / "bright", samples, EvalConfig(metrics=("fid",), extractor="test-pixels",
                                                          use_cache=False))
    assert fid["bright"] == pytest.approx(plain.get("fid").value, rel=1e-9)

    page = parse(out / "index.html")
    by_class = cells(page, "by-class")
    assert float(by_class[("bright", "fid")]["value"]) == fid["bright"]
    assert float(by_class[("grey", "class_consistency")]["value"]) == 1.0
    headline = {f["key"] for f in page.fields if f["section"] == "headline"}
    assert headline == {"fid", "precision", "recall", "class_consistency"}
    df = pd.read_csv(out / "results.csv")
    assert list(df.columns) == [*RESULTS_CSV_COLUMNS, "by", "group"]
    assert df.loc[df["group"] == "bright", "metric"].tolist() == ["fid", "class_consistency"]
    assert df["by"].isna().sum() == 4 and "fid [class=bright]" in stdout


def cli_sample_class(monkeypatch, capsys, ckpt: Path, out: Path) -> Path:
    """The "bright" samples that the balanced run generated: samples 2, 5, 8, ... of the same seed."""
    code, _, err = run_cli(monkeypatch, capsys, "sample", ckpt, "-n", 3 * PER_CLASS, "--seed", 4, "--out", out)
    assert code == 0, err
    keep = sorted(out.glob("*.png"))[2::3]
    target = out.parent / "bright_samples"
    target.mkdir()
    for p in keep:
        Image.open(p).save(target / p.name)
    return target


def test_unlabelled_real_sets_and_fixed_classes_explain_what_is_skipped(tmp_path, image_sets):
    a_dir = image_sets[0]
    ckpt = save_generator(tmp_path / "g.pt", level_module(), "test-levels", {"wired": [0, 1, 2]}, LATENT, {})
    config = EvalConfig(metrics=("fid",), extractor="test-tiny", sampling=SamplingConfig(n=30))
    run = evaluate(a_dir, ckpt, config)
    extras = metrics_extras(a_dir, ckpt, run, config, neighbours=False)
    assert [r.metric for r in extras.results] == []  # test-tiny's 5 logits are not these 3 classes
    assert any("no real image lies in a subfolder named like a generator class" in n for n in extras.notes)
    assert any("class consistency skipped" in n and "5 logits" in n for n in extras.notes)

    fixed = EvalConfig(metrics=("fid",), extractor="test-tiny", sampling=SamplingConfig(n=30, class_index=1))
    extras = metrics_extras(a_dir, ckpt, evaluate(a_dir, ckpt, fixed), fixed, neighbours=False)
    assert extras.results == () and extras.notes == ("per-class metrics skipped: every generated sample is "
                                                     "class 1 (--class)",)


# -- train-reference ----------------------------------------------------------------------------------------

def test_train_reference_writes_its_report_into_the_run_folder(monkeypatch, capsys, tmp_path, one_thread):
    out = tmp_path / "run"
    code, stdout, err = run_cli(monkeypatch, capsys, "train-reference", "dcgan", "--dataset", "digits",
                                "--image-size", 8, "--steps", 4, "--batch-size", 16, "--width", 8, "--z-dim", 8,
                                "--eval-every", 2, "--sample-every", 2, "--checkpoint-every", 2, "--n-eval", 100,
                                "--out", out, "-q")
    assert code == 0, err
    assert f"report: {out / 'index.html'}" in stdout
    manifest = json.loads((out / "manifest.json").read_text())
    results = {r["metric"]: r for r in json.loads((out / "results.json").read_text())["results"]}
    assert results["fid_best"]["value"] == manifest["best"]["fid"]
    assert results["fid_best"]["details"] == {"step": manifest["best"]["step"], "checkpoint": "best.pt"}
    assert results["fid_final"]["value"] == manifest["last_evaluation"]["fid"]
    assert results["fid_final"]["details"]["step"] == 4
    assert results["fid_untrained"]["value"] == manifest["fid_untrained"]
    assert results["fid_real_vs_real"]["value"] == manifest["fid_real_vs_real"]
    assert {r["n_fake"] for k, r in results.items() if k != "fid_real_vs_real"} == {100}

    ids = section_ids(out / "index.html")
    for wanted in ("headline", "all-results", "training-run", "sample-grids", "training-curves", "provenance"):
        assert wanted in ids
    page = parse(out / "index.html")
    headline = {f["key"]: f for f in page.fields if f["section"] == "headline"}
    assert float(headline["fid_best"]["value"]) == manifest["best"]["fid"]
    alts = [a.get("alt") for tag, a in page.tags if tag == "img"]
    assert "sample grid at step 2" in alts and "sample grid at step 4" in alts
    assert list(pd.read_csv(out / "results.csv").columns) == DOCUMENTED_COLUMNS


def test_an_interrupted_run_still_gets_its_report(tmp_path, one_thread):
    from reference_models.loop import TrainingInterrupted, make_config, train

    config = make_config("gan", dataset="digits", image_size=8, steps=6, batch_size=16, width=8, z_dim=8,
                         eval_every=0, sample_every=0, checkpoint_every=2, log_every=1, out=str(tmp_path / "r"))

    def stop(step: int) -> None:
        if step == 3:
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted):
        train(config, on_step=stop)
    html = (tmp_path / "r" / "index.html").read_text()
    assert "interrupted" in html and "Training curves" in html
    assert json.loads((tmp_path / "r" / "results.json").read_text())["results"] == []  # no evaluation asked
