"""Every kind of report beside metrics in a real headless Chromium, part 1: `ganeval sweep` and `ganeval bias`
(tests/test_report_browser_runs.py: train-reference's run report and `ganeval report` comparing run folders;
tests/test_report_browser.py: the metrics report and the control page that proves the request and console
checks see things). The helpers here are shared by both files.

Each report is made by the documented command on tiny planted inputs, with a hostile name (markup that
would run code) in a folder, checkpoint or run name, then loaded once from file:// in one Chromium per file:

- no console error, no request other than file:// and data:, no script element, every image decoded;
- the hostile name is shown as text (the page title and heading hold it verbatim; no element it names exists);
- every row of the "All results" table (and the comparison's table) equals results.json: the same label,
  the text formatted as docs/reports.md says (6 significant digits, em dash for missing, nan for null values)
  and the exact value in data-value, read from the DOM as rendered;
- a full-page screenshot is written (pytest's tmp_path, and $GANEVAL_TEST_ARTIFACTS when set);
- results.csv loads with pandas with the documented columns, the optional by/group/psi columns exactly
  when results.json has them, and the documented dtypes.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import ganeval.cli as cli
from browser import INSTALL_HINT, Chromium, chromium_path
from ganeval.bias import save_attribute_classifier
from ganeval.datasets.synthfaces import SynthFacesConfig, write_synthfaces
from ganeval.generators import LatentSpec, register_architecture, save_generator, to_uint8
from test_bias_planted import ATTRS, PlantedFaces, PlantedReader
from test_report_browser import assert_clean, save_artifact
from test_report_html import DOCUMENTED_COLUMNS, FLOAT_FIELDS, HOSTILE, INT_FIELDS, shown
from test_sweep import LATENT as SPREAD_LATENT
from test_sweep import N_REAL, SIDE, Z, spread_module

OPTIONAL_COLUMNS = ("by", "group", "psi")  # docs/reports.md: appended in this order, only when present
NON_FINITE = {"nan", "inf", "-inf"}

# Each row of a table as rendered: its data-key, and every [data-field] element's text, exact value, width.
READ_ROWS = """
(() => [...document.querySelectorAll('#%s tbody tr')].map(tr => ({
    key: tr.dataset.key === undefined ? null : tr.dataset.key,
    cells: Object.fromEntries([...tr.querySelectorAll('[data-field]')].map(el => [el.dataset.field, {
        text: el.innerText.trim(), value: el.dataset.value === undefined ? null : el.dataset.value,
        width: el.getBoundingClientRect().width}])),
})))()
"""


class _PlantedArch(PlantedFaces):
    def __init__(self, dp_bias: float = 0.0) -> None:
        super().__init__(dp_bias=dp_bias)


register_architecture("test-browser-planted-faces", _PlantedArch)


def run_cli(*args) -> None:
    """`ganeval ARGS` in this process (the test extractors and architectures are registered here)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "argv", ["ganeval", *map(str, args)])
        with pytest.raises(SystemExit) as exc:
            cli.main()
    assert exc.value.code in (0, None), f"ganeval {' '.join(map(str, args))} exited with {exc.value.code}"


def label(row: dict) -> str:
    """The label docs/reports.md gives a result: metric, then [by=group], then [psi=P] (P as %g)."""
    d = row.get("details") or {}
    text = row["metric"]
    if "by" in d and "group" in d:
        text += f" [{d['by']}={d['group']}]"
    if isinstance(d.get("psi"), (int, float)) and not isinstance(d.get("psi"), bool):
        text += f" [psi={d['psi']:g}]"
    return text


@pytest.fixture(scope="module")
def browser():
    if chromium_path() is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    with Chromium() as b:
        yield b


@pytest.fixture(scope="module")
def isolated(tmp_path_factory):
    """A module-wide folder with its own cache, no weights and no network, and torch on one thread."""
    root = tmp_path_factory.mktemp("kinds")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        for var, sub in (("GANEVAL_CACHE_DIR", "cache"), ("GANEVAL_WEIGHTS_DIR", "weights"), ("TORCH_HOME", "torch")):
            mp.setenv(var, str(root / sub))
        mp.setenv("GANEVAL_OFFLINE", "1")
        mp.setenv("GANEVAL_REPORTS_DIR", str(root / "reports"))
        yield root
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def sweep_report(isolated):
    """`ganeval sweep` of a toy generator (tests/test_sweep.py) saved under a hostile folder name."""
    root = isolated
    module = spread_module()
    ckpt = save_generator(root / HOSTILE / "spread.pt", module, "test-spread", {"off": 1.0}, SPREAD_LATENT,
                          {"trainer": "test"})
    z = torch.randn(N_REAL, Z, generator=torch.Generator().manual_seed(99))
    with torch.no_grad():
        real = to_uint8(module.a(z).reshape(-1, 1, SIDE, SIDE), (-1.0, 1.0), rgb=False)
    np.save(root / "real.npy", real[:, 0].numpy())
    run_cli("sweep", ckpt, "--real", root / "real.npy", "--psi", "0.5,1.5", "-n", 100, "-e", "test-pixels",
            "--ci", 0.9, "--n-boot", 10, "--out", root / "sweep", "-q")
    return root / "sweep"


@pytest.fixture(scope="module")
def bias_report(isolated):
    """`ganeval bias` of the planted generator of tests/test_bias_planted.py (dark skin smiles less) with its
    planted classifier and labelled synthfaces as the real set; the checkpoint and the report in hostile
    folders."""
    root = isolated
    faces = root / "faces"
    write_synthfaces(faces, SynthFacesConfig(n=80, size=16, seed=4))
    classifier = save_attribute_classifier(PlantedReader(), root / "planted.pt", ATTRS, input_size=32,
                                           mean=0.0, std=1.0)
    ckpt = save_generator(root / "gen" / HOSTILE / "planted.pt", _PlantedArch(dp_bias=1.0),
                          "test-browser-planted-faces", {"dp_bias": 1.0},
                          LatentSpec(z_dim=16, output_range=(0.0, 1.0), image_shape=(3, 32, 32)), {"trainer": "test"})
    out = root / "bias" / HOSTILE
    run_cli("bias", "--classifier", classifier, "--generator", ckpt, "--real", faces, "--target", "smiling",
            "--protected", "skin_tone", "-n", 120, "--n-boot", 20, "--associations", "--n-associations", 12,
            "--steps", 2, "--threads", 1, "--out", out, "-q")
    return out


# -- checks shared by every page --------------------------------------------------------------------------------

def open_clean(browser, html: Path, tmp_path: Path, shot_name: str):
    """Load the page, check it is clean and self-contained, write its screenshot; return the page."""
    page = browser.open(html)
    assert_clean(page)
    assert page.evaluate("document.scripts.length") == 0
    assert page.evaluate("document.querySelectorAll('[onerror], [onload], img[src=x]').length") == 0
    sizes = page.evaluate("[...document.images].map(i => [i.src.slice(0, 22), i.complete, i.naturalWidth, i.width])")
    assert sizes and all(src == "data:image/png;base64," and c and nw > 0 and w > 0 for src, c, nw, w in sizes)
    shot = page.screenshot(tmp_path / shot_name)
    save_artifact(shot)
    with Image.open(shot) as im:
        assert im.width == 1280 and im.height > 900
        assert np.asarray(im.convert("L")).std() > 0
    return page


def assert_hostile_shown_as_text(page) -> None:
    assert HOSTILE in page.evaluate("document.title")
    assert HOSTILE in page.evaluate("document.querySelector('h1').innerText")


def assert_cell(got: dict, expected, where) -> None:
    """A [data-field] element shows `expected` (a results.json value) as docs/reports.md says."""
    assert got["width"] > 0, where
    if expected is None and got["value"] is not None:  # results.json stores a non-finite value as null
        assert got["text"] in NON_FINITE and got["value"] in NON_FINITE, where
        return
    assert got["text"].split(" [")[0] == shown(expected), where
    if expected is not None:
        assert float(got["value"]) == expected, where


def assert_all_results_equal_json(page, results_json: Path) -> list[dict]:
    rows = json.loads(results_json.read_text())["results"]
    shown_rows = page.evaluate(READ_ROWS % "all-results")
    assert [r["key"] for r in shown_rows] == [label(r) for r in rows]
    for row, got in zip(rows, shown_rows):
        for field in ("value", "std", "ci_low", "ci_high", "ci_level", "n_boot", "n_real", "n_fake", "seed"):
            assert_cell(got["cells"][field], row[field], (label(row), field))
    return rows


def assert_results_csv(path: Path, rows: list[dict]) -> pd.DataFrame:
    """results.csv: documented columns, optional ones exactly when present, the documented dtypes."""
    df = pd.read_csv(path)
    present = [c for c in OPTIONAL_COLUMNS if any(
        (c == "psi" and isinstance((r.get("details") or {}).get("psi"), (int, float)))
        or (c in ("by", "group") and {"by", "group"} <= set(r.get("details") or {})) for r in rows)]
    assert list(df.columns) == DOCUMENTED_COLUMNS + present
    assert len(df) == len(rows)
    for c in FLOAT_FIELDS:
        assert df[c].dtype == np.float64, c
    for c in INT_FIELDS:
        complete = all(r[c] is not None for r in rows)
        assert df[c].dtype == (np.int64 if complete else np.float64), c
    prov = json.loads(path.with_name("results.json").read_text())["provenance"]
    recorded = {"metric": True, "extractor": bool((prov.get("extractor") or {}).get("name")),
                "weights_sha256": bool((prov.get("extractor") or {}).get("weights_sha256")),
                "protocol": prov.get("protocol") is not None}
    for c, has in recorded.items():
        if has:
            assert pd.api.types.is_string_dtype(df[c]) or pd.api.types.is_object_dtype(df[c]), (c, df[c].dtype)
        else:  # docs/reports.md: a column empty in every row (nothing recorded) reads as float64 NaN
            assert df[c].dtype == np.float64 and df[c].isna().all(), c
    assert df["metric"].tolist() == [r["metric"] for r in rows]
    for got, r in zip(df["value"], rows):
        assert (math.isnan(got) and r["value"] is None) or got == r["value"]
    if "psi" in present:
        assert df["psi"].dtype == np.float64
    if "by" in present:
        assert df["by"].fillna("").tolist() == [(r.get("details") or {}).get("by", "") for r in rows]
        assert df["group"].fillna("").astype(str).tolist() == [str((r.get("details") or {}).get("group", ""))
                                                               for r in rows]
    return df


# -- the pages --------------------------------------------------------------------------------------------------

def test_sweep_report_in_chromium(browser, sweep_report, tmp_path):
    folder = sweep_report
    page = open_clean(browser, folder / "index.html", tmp_path, "report-sweep.png")
    assert_hostile_shown_as_text(page)  # the title names the checkpoint, in the hostile folder
    rows = assert_all_results_equal_json(page, folder / "results.json")
    assert sorted({r["details"]["psi"] for r in rows}) == [0.5, 1.5]
    # the psi x metrics table at the top shows the same numbers, keyed by psi
    table = {r["key"]: r["cells"] for r in page.evaluate(READ_ROWS % "truncation-sweep")}
    assert set(table) == {"0.5", "1.5"}
    for r in rows:
        assert_cell(table[f"{r['details']['psi']:g}"][r["metric"]], r["value"], label(r))
    grids = page.evaluate("[...document.querySelectorAll('#samples figure.grid')].map(f => f.dataset.key)")
    assert grids == ["real", "psi=0.5", "psi=1.5"]
    df = assert_results_csv(folder / "results.csv", rows)
    assert sorted(set(df["psi"])) == [0.5, 1.5]


def test_bias_report_in_chromium(browser, bias_report, tmp_path):
    folder = bias_report
    page = open_clean(browser, folder / "index.html", tmp_path, "report-bias.png")
    assert_hostile_shown_as_text(page)  # the title names the checkpoint, in a hostile folder
    rows = assert_all_results_equal_json(page, folder / "results.json")
    data = json.loads((folder / "results.json").read_text())
    assert data["provenance"]["kind"] == "bias"
    titles = page.evaluate("[...document.querySelectorAll('h2')].map(h => h.innerText)")
    assert "Provenance" in titles and any(t.startswith("Group fairness") for t in titles)
    assert any(t.startswith("Implicit associations") for t in titles)
    # the planted effect is visible: dark skin (skin_tone=1) smiles less, so the selection-rate gap is positive
    dp = next(r for r in rows if r["metric"] == "demographic_parity_difference")
    assert dp["value"] > 0.2
    # the fairness tables show the numbers of results.json (exact values in data-value, text as documented)
    fairness = page.evaluate("""[...document.querySelectorAll('#group-fairness-smiling-across-skin-tone tr[data-key]')]
        .map(tr => [tr.dataset.key, tr.querySelector('[data-value]').dataset.value,
                    tr.querySelector('[data-value]').innerText.trim()])""")
    overall = {r["metric"]: r for r in rows if "by" not in (r.get("details") or {})}
    assert {k for k, _, _ in fairness} >= {"demographic_parity_difference", "demographic_parity_ratio"}
    for key, value, text in fairness:
        r = overall[key]
        assert float(value) == r["value"]
        assert text == f"{shown(r['value'])} [{shown(r['ci_low'])}, {shown(r['ci_high'])}]"
    # provenance: the classifier's weights hash, and the checkpoint's sha256 as the generated input's fingerprint
    ckpt = Path(data["provenance"]["inputs"]["generator"]["checkpoint"])
    fingerprint = page.evaluate("document.querySelector('#provenance tr[data-key=generator] [data-field=fingerprint]')"
                                ".innerText")
    assert fingerprint == hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert data["provenance"]["extractor"]["weights_sha256"] in page.evaluate(
        "document.querySelector('#provenance').innerText")
    alts = page.evaluate("[...document.images].map(i => i.alt)")
    assert "correlation of probability changes" in alts and "sample grid of generated" in alts
    df = assert_results_csv(folder / "results.csv", rows)
    grouped = df.dropna(subset=["by"])
    assert len(grouped) == sum(1 for r in rows if "by" in (r.get("details") or {}))
    assert set(grouped["by"]) >= {"skin_tone"}
