"""Every kind of report beside metrics in a real headless Chromium, part 2: the run report that `ganeval
train-reference` writes into its run folder, and `ganeval report` comparing two such folders side by side
(with their training curves overlaid). The checks are those of tests/test_report_browser_kinds.py (its
docstring), on two tiny real training runs (8 px digits, 2 steps), one in a folder with a hostile name.
"""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest

from test_report_browser_kinds import (
    HOSTILE, READ_ROWS, assert_all_results_equal_json, assert_cell, assert_hostile_shown_as_text, assert_results_csv,
    browser, isolated, label, open_clean, run_cli, shown,
)

TRAIN_ARGS = ("--dataset", "digits", "--image-size", 8, "--steps", 2, "--batch-size", 16, "--width", 8, "--z-dim", 8,
              "--eval-every", 2, "--sample-every", 2, "--checkpoint-every", 2, "--n-eval", 64, "--threads", 1, "-q")

__all__ = ["browser", "isolated"]  # module-scoped fixtures shared with test_report_browser_kinds


@pytest.fixture(scope="module")
def runs(isolated):
    """Two tiny train-reference runs (dcgan in a hostile folder, cgan), then `ganeval report` on both folders."""
    out = {"dcgan": isolated / "runs" / HOSTILE, "cgan": isolated / "runs" / "cgan", "compare": isolated / "compare"}
    run_cli("train-reference", "dcgan", *TRAIN_ARGS, "--out", out["dcgan"])
    run_cli("train-reference", "cgan", *TRAIN_ARGS, "--out", out["cgan"])
    run_cli("report", out["dcgan"], out["cgan"], "--names", f"{HOSTILE},cgan", "--out", out["compare"])
    return out


def test_training_run_report_in_chromium(browser, runs, tmp_path):
    folder = runs["dcgan"]
    page = open_clean(browser, folder / "index.html", tmp_path, "report-train-reference.png")
    assert_hostile_shown_as_text(page)  # the title names the run folder
    rows = assert_all_results_equal_json(page, folder / "results.json")
    manifest = json.loads((folder / "manifest.json").read_text())
    values = {r["metric"]: r["value"] for r in rows}
    assert values["fid_best"] == manifest["best"]["fid"] and values["fid_untrained"] == manifest["fid_untrained"]
    cards = {c["key"]: c["cells"]["value"] for c in page.evaluate(
        "[...document.querySelectorAll('#headline .card')].map(c => ({key: c.dataset.key, cells: {value: {"
        "text: c.querySelector('[data-field=value]').innerText.trim(), "
        "value: c.querySelector('[data-field=value]').dataset.value, width: c.getBoundingClientRect().width}}}))")}
    for r in rows:
        assert_cell(cards[r["metric"]], r["value"], r["metric"])
    ids = page.evaluate("[...document.querySelectorAll('section')].map(s => s.id)")
    assert {"training-run", "training-curves", "sample-grids", "provenance"} <= set(ids)
    # provenance: the evaluation network's weights hash, the dataset and checkpoint fingerprints, seeds, timings
    prov = page.evaluate("document.querySelector('#provenance').innerText")
    assert manifest["evaluation"]["weights_sha256"] in prov and manifest["dataset"]["fingerprint"] in prov
    assert hashlib.sha256((folder / "best.pt").read_bytes()).hexdigest() in prov
    assert "seed train_seed" in prov and "timing wall_s" in prov
    assert_results_csv(folder / "results.csv", rows)


def test_comparison_of_training_runs_in_chromium(browser, runs, tmp_path):
    folder = runs["compare"]
    page = open_clean(browser, folder / "index.html", tmp_path, "report-compare-runs.png")
    assert_hostile_shown_as_text(page)  # the run name is in the title and the column header
    header = page.evaluate("[...document.querySelectorAll('#results thead th')].map(th => th.innerText)")
    assert header == ["metric", HOSTILE, "cgan"]
    table = {r["key"]: r["cells"] for r in page.evaluate(READ_ROWS % "results")}
    csv = pd.read_csv(folder / "comparison.csv", index_col="metric")
    for name, run in ((HOSTILE, runs["dcgan"]), ("cgan", runs["cgan"])):
        for r in json.loads((run / "results.json").read_text())["results"]:
            assert_cell(table[label(r)][name], r["value"], (name, label(r)))
            assert csv.loc[label(r), name] == r["value"]
    # only the conditional run has class consistency: the other run's cell is a dash
    assert table["class_consistency_best"][HOSTILE]["text"] == shown(None)
    # the training curves of both runs overlaid (FID for both, class consistency for cgan)
    alts = page.evaluate("[...document.querySelectorAll('#training-curves img')].map(i => i.alt)")
    assert alts == ["FID (held-out) during training", "class consistency during training"]
    captions = page.evaluate("[...document.querySelectorAll('#training-curves figcaption')].map(c => c.innerText)")
    assert captions == ["cgan: the only run that logged it."]  # a one-line chart has no legend
    # each run's own page is linked relatively, with the hostile folder name percent-encoded
    hrefs = page.evaluate("[...document.querySelectorAll('#runs-compared a')].map(a => a.getAttribute('href'))")
    assert len(hrefs) == 2 and all(h.startswith("../") and h.endswith("/index.html") and "<" not in h for h in hrefs)
