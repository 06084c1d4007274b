"""The command line: outputs, files, exit codes, one-line errors, and that user inputs stay untouched."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import ganeval.cli as cli
from conftest import write_pngs
from ganeval.report import RESULTS_CSV_COLUMNS


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["ganeval", *args])
    with pytest.raises(SystemExit) as exc:
        cli.main()
    out = capsys.readouterr()
    code = exc.value.code if isinstance(exc.value.code, int) else (0 if exc.value.code is None else 1)
    return code, out.out, out.err


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_fid_prints_the_value(monkeypatch, capsys, image_sets):
    a_dir, b_dir, _, _ = image_sets
    code, out, err = run_cli(monkeypatch, capsys, "fid", str(a_dir), str(b_dir), "-e", "test-tiny", "-q")
    assert code == 0, err
    assert out.startswith("FID: ")
    value = float(out.split()[1])
    from ganeval.config import EvalConfig
    from ganeval.evaluate import evaluate
    ref = evaluate(a_dir, b_dir, EvalConfig(extractor="test-tiny", use_cache=False)).get("fid").value
    assert value == pytest.approx(ref, rel=1e-5)


def test_metrics_writes_json_and_csv(monkeypatch, capsys, tmp_path, image_sets):
    a_dir, b_dir, _, _ = image_sets
    before = _snapshot(a_dir), _snapshot(b_dir)
    out_dir = tmp_path / "report"
    code, out, err = run_cli(monkeypatch, capsys, "metrics", str(a_dir), str(b_dir), "-e", "test-tiny",
                             "--metrics", "fid,kid,is,pr,dc", "--kid-subset-size", "20", "--kid-subsets", "5",
                             "--ci", "0.9", "--n-boot", "20", "--out", str(out_dir), "-q")
    assert code == 0, err
    data = json.loads((out_dir / "results.json").read_text())
    metrics = [r["metric"] for r in data["results"]]
    assert metrics == ["fid", "kid", "is", "precision", "recall", "density", "coverage"]
    df = pd.read_csv(out_dir / "results.csv")
    assert tuple(df.columns) == RESULTS_CSV_COLUMNS
    assert list(df["metric"]) == metrics
    for col in ("value", "ci_low", "ci_high", "ci_level"):
        assert df[col].dtype == np.float64
    two_set = df["metric"] != "is"  # IS looks at the generated set only
    assert (df.loc[two_set, "n_real"] == 40).all() and df.loc[~two_set, "n_real"].isna().all()
    assert (df["n_fake"] == 40).all() and (df["protocol"] == "tf").all() and (df["seed"] == 2020).all()
    assert (df["ci_low"] <= df["ci_high"]).all()
    json_values = {r["metric"]: r["value"] for r in data["results"]}
    for _, row in df.iterrows():
        assert row["value"] == pytest.approx(json_values[row["metric"]], rel=1e-12)
    assert data["provenance"]["extractor"]["name"] == "test-tiny"
    assert (_snapshot(a_dir), _snapshot(b_dir)) == before  # nothing the user gave is modified


def test_missing_path_is_one_line_exit_2(monkeypatch, capsys, tmp_path, image_sets):
    a_dir, _, _, _ = image_sets
    out_dir = tmp_path / "out"
    code, out, err = run_cli(monkeypatch, capsys, "metrics", str(a_dir), str(tmp_path / "nope"), "-e", "test-tiny",
                             "--out", str(out_dir), "-q")
    assert code == 2
    assert "nope" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not out_dir.exists()  # never a half-written output


def test_corrupt_image_exit_2_and_skip_bad_counts(monkeypatch, capsys, tmp_path, image_sets):
    _, b_dir, a, _ = image_sets
    d = write_pngs(tmp_path / "mixed", a[:10])
    (d / "img_00003.png").write_bytes((d / "img_00003.png").read_bytes()[:40])  # truncated
    code, _, err = run_cli(monkeypatch, capsys, "fid", str(d), str(b_dir), "-e", "test-tiny", "-q")
    assert code == 2 and "img_00003.png" in err and len(err.strip().splitlines()) == 1
    out_dir = tmp_path / "rep"
    code, _, err = run_cli(monkeypatch, capsys, "metrics", str(d), str(b_dir), "-e", "test-tiny", "-m", "fid",
                           "--skip-bad", "--out", str(out_dir), "-q")
    assert code == 0, err
    data = json.loads((out_dir / "results.json").read_text())
    assert data["provenance"]["inputs"]["real"]["skipped"] == 1
    assert data["results"][0]["n_real"] == 9


def test_unknown_metric_and_extractor_exit_2(monkeypatch, capsys, image_sets):
    a_dir, b_dir, _, _ = image_sets
    code, _, err = run_cli(monkeypatch, capsys, "metrics", str(a_dir), str(b_dir), "-e", "test-tiny", "-m", "fud")
    assert code == 2 and "fud" in err
    code, _, err = run_cli(monkeypatch, capsys, "fid", str(a_dir), str(b_dir), "-e", "nonet")
    assert code == 2 and "nonet" in err and "fmnist-cnn" in err


def test_missing_inception_weights_exit_3_names_the_fix(monkeypatch, capsys, image_sets):
    a_dir, b_dir, _, _ = image_sets
    code, out, err = run_cli(monkeypatch, capsys, "fid", str(a_dir), str(b_dir), "-q")
    assert code == 3
    assert "pt_inception-2015-12-05-6726825d.pth" in err
    assert "ganeval weights install inception" in err and "fmnist-cnn" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_stats_command_and_cache_commands(monkeypatch, capsys, tmp_path, image_sets):
    a_dir, b_dir, _, _ = image_sets
    code, out, err = run_cli(monkeypatch, capsys, "stats", str(a_dir), "-o", str(tmp_path / "a.npz"),
                             "-e", "test-tiny", "--keep-features", "-q")
    assert code == 0, err
    code, out, err = run_cli(monkeypatch, capsys, "metrics", str(tmp_path / "a.npz"), str(b_dir), "-m", "fid,kid",
                             "--kid-subset-size", "20", "-q")
    assert code == 0, err  # the extractor comes from the statistics file
    code, out, _ = run_cli(monkeypatch, capsys, "cache", "ls")
    assert code == 0 and "test-tiny" in out
    code, out, _ = run_cli(monkeypatch, capsys, "cache", "clear")
    assert code == 0 and "removed 2" in out


def test_help_for_every_command():
    for args in (["--help"], ["fid", "--help"], ["metrics", "--help"], ["stats", "--help"], ["weights", "--help"],
                 ["cache", "--help"], ["demo", "--help"], ["extractors", "--help"]):
        proc = subprocess.run([sys.executable, "-m", "ganeval", *args], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert "Usage" in proc.stdout
