"""HTML reports and `ganeval report`: numbers equal results.json, self-contained pages, escaping, CSV dtypes,
the generic blocks (checked on the matplotlib objects and pixels they produce), the section hooks, the
comparison page and its one-line errors.

The expected texts are formatted here, independently of ganeval.report: docs/reports.md says numbers are
shown with 6 significant digits (Python's format "{:.6g}") and missing values as an em dash.
"""

from __future__ import annotations

import base64
import io
import json
import math
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import ganeval.cli as cli
from conftest import write_pngs
from ganeval.config import EvalConfig, MetricConfig
from ganeval.errors import BadInputError
from ganeval.evaluate import evaluate
from ganeval.report import html as report_html
from ganeval.report import plots
from ganeval.report.compare import load_run, write_comparison
from ganeval.report.html import Neighbours, Section, SectionEntry, write_report
from ganeval.report.plots import Estimate, LineSeries
from ganeval.results import Result, RunResult

# A folder path (the "/" makes it two folders) and a run name that would run code if not escaped.
HOSTILE = "<img src=x onerror=alert(1)><script>alert('x')</script>&\"q\""
DASH = "—"
# docs/cli.md: the columns of results.csv, in order.
DOCUMENTED_COLUMNS = ["metric", "value", "std", "ci_low", "ci_high", "ci_level", "n_boot", "n_real", "n_fake",
                      "extractor", "weights_sha256", "protocol", "seed"]
FLOAT_FIELDS = ("value", "std", "ci_low", "ci_high", "ci_level")
INT_FIELDS = ("n_boot", "n_real", "n_fake", "seed")


def shown(v) -> str:
    """How docs/reports.md says a value appears on the page."""
    if v is None:
        return DASH
    if isinstance(v, int):
        return str(v)
    return f"{v:.6g}"


# -- parsing pages ----------------------------------------------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class PageParser(HTMLParser):
    """Collects every element with a data-field (its text, data-value, row key, section), every tag's
    attributes, and the page's visible text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, dict[str, str | None], list[str]]] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.fields: list[dict] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag not in VOID:
            self.stack.append((tag, a, []))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        while self.stack:
            t, a, buf = self.stack.pop()
            if "data-field" in a:
                key = next((x.get("data-key") for _, x, _ in reversed(self.stack) if "data-key" in x), None)
                section = next((x.get("id") for t2, x, _ in reversed(self.stack) if t2 == "section"), None)
                self.fields.append({"section": section, "key": key, "field": a["data-field"],
                                    "value": a.get("data-value"), "text": "".join(buf).strip(), "tag": t,
                                    "class": (a.get("class") or "").split()})
            if t == tag:
                break

    def handle_data(self, data):
        self.text.append(data)
        for _, _, buf in self.stack:
            buf.append(data)


def parse(path: Path) -> PageParser:
    p = PageParser()
    p.feed(path.read_text(encoding="utf-8"))
    p.close()
    return p


def cells(page: PageParser, section: str) -> dict[tuple[str, str], dict]:
    """{(row key, field): {"text", "value"}} of the data-field elements in one section."""
    out = {}
    for f in page.fields:
        if f["section"] == section and f["tag"] in ("td", "th"):
            out[(f["key"], f["field"])] = f
    return out


# -- fixtures ---------------------------------------------------------------------------------------------

def evaluated(real: Path, fake: Path) -> RunResult:
    cfg = EvalConfig(extractor="test-tiny", use_cache=False, metrics=("fid", "kid", "is", "pr", "dc"),
                     metric=MetricConfig(ci=0.9, n_boot=20, kid_subset_size=20, kid_subsets=5, is_splits=2))
    return evaluate(real, fake, cfg)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two real evaluations with the tiny seeded extractor: the same real set, two generated sets (the second
    brighter), the first stored under a hostile folder name."""
    root = tmp_path_factory.mktemp("runs")
    rng = np.random.default_rng(0)
    real = rng.integers(0, 200, size=(40, 20, 20, 3), dtype=np.uint8)
    fake_a = rng.integers(0, 200, size=(40, 20, 20, 3), dtype=np.uint8)
    fake_b = np.clip(rng.integers(0, 200, size=(40, 20, 20, 3)) + 40, 0, 255).astype(np.uint8)
    real_dir = write_pngs(root / "real", real)
    a_dir = write_pngs(root / HOSTILE, fake_a)
    b_dir = write_pngs(root / "bright", fake_b)
    return {"root": root, "real": real, "fake": fake_a, "run_a": evaluated(real_dir, a_dir),
            "run_b": evaluated(real_dir, b_dir)}


@pytest.fixture(scope="module")
def report(runs):
    """The first run's report, with sample grids, written into a folder with a hostile name."""
    out = runs["root"] / "reports" / HOSTILE
    images = {"real": runs["real"].transpose(0, 3, 1, 2), "fake": runs["fake"].transpose(0, 3, 1, 2)}
    paths = write_report(runs["run_a"], out, images=images)
    return paths


# -- the run report ---------------------------------------------------------------------------------------

def test_report_files(report):
    assert set(report) == {"html", "json", "csv"}
    assert [p.name for p in report.values()] == ["index.html", "results.json", "results.csv"]
    assert all(p.is_file() and str(p.parent).endswith(HOSTILE) for p in report.values())


def test_numbers_in_the_html_equal_results_json(report):
    data = json.loads(report["json"].read_text())
    page = parse(report["html"])
    table = cells(page, "all-results")
    assert len(data["results"]) == 7
    for row in data["results"]:
        key = row["metric"]
        for f in FLOAT_FIELDS + INT_FIELDS:
            got = table[(key, f)]
            assert got["text"] == shown(row[f]), (key, f)
            if row[f] is not None:
                assert float(got["value"]) == row[f], (key, f)  # the exact value, bit for bit
    # the planted brightness shift is what the FID measures: a positive number with a CI around it
    fid = next(r for r in data["results"] if r["metric"] == "fid")
    assert fid["value"] > 0 and fid["ci_low"] <= fid["value"] <= fid["ci_high"]
    headline = {(f["key"], f["field"]): f for f in page.fields if f["section"] == "headline"}
    for row in data["results"]:
        assert headline[(row["metric"], "value")]["text"] == shown(row["value"])
        assert float(headline[(row["metric"], "value")]["value"]) == row["value"]


def test_provenance_is_shown(report):
    data = json.loads(report["json"].read_text())
    text = " ".join(parse(report["html"]).text)
    prov = data["provenance"]
    assert prov["extractor"]["weights_sha256"] in text
    for role in ("real", "fake"):
        assert prov["inputs"][role]["fingerprint"] in text
    assert prov["protocol"] in text and prov["versions"]["torch"] in text
    inputs = cells(parse(report["html"]), "provenance")
    assert inputs[("fake", "n")]["text"] == "40" and inputs[("fake", "skipped")]["text"] == "0"
    assert inputs[("real", "cached")]["text"] == "no"


def test_page_is_self_contained(report):
    text = report["html"].read_text(encoding="utf-8")
    page = parse(report["html"])
    assert not re.search(r"https?://", text, re.IGNORECASE)
    assert "url(" not in text and "@import" not in text
    imgs = [a for t, a in page.tags if t == "img"]
    assert len(imgs) >= 3  # the PR/DC chart and two sample grids
    for a in imgs:
        assert a["src"].startswith("data:image/png;base64,")
        Image.open(io.BytesIO(base64.b64decode(a["src"].split(",", 1)[1]))).verify()
    for tag, a in page.tags:  # nothing else that a browser would fetch
        for attr in ("src", "href", "srcset", "data", "poster", "action"):
            v = a.get(attr)
            if v is not None and tag != "a":
                assert v.startswith("data:"), (tag, attr, v[:60])
    assert [t for t, _ in page.tags if t in ("script", "iframe", "object", "embed")] == []
    csp = [a["content"] for t, a in page.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0]


def test_sample_grids_hold_the_images(report, runs):
    page = parse(report["html"])
    grids = {}
    for tag, a in page.tags:
        if tag == "img" and (a.get("alt") or "").startswith("sample grid of "):
            png = base64.b64decode(a["src"].split(",", 1)[1])
            grids[a["alt"][len("sample grid of "):]] = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    assert set(grids) == {"real", "fake"}
    # image 9 sits at row 1, column 1 of 8-wide grids with 2-pixel gaps: (2 + 22, 2 + 22)
    np.testing.assert_array_equal(grids["fake"][24:44, 24:44], runs["fake"][9])
    np.testing.assert_array_equal(grids["real"][2:22, 2:22], runs["real"][0])


def test_hostile_names_are_escaped(report):
    text = report["html"].read_text(encoding="utf-8")
    assert "<script" not in text.lower()
    page = parse(report["html"])
    assert [t for t, _ in page.tags if t == "script"] == []
    assert [(t, k) for t, a in page.tags for k in a if k.startswith("on")] == []  # no event handlers
    assert [a["src"][:5] for t, a in page.tags if t == "img"] == ["data:"] * sum(t == "img" for t, _ in page.tags)
    visible = "".join(page.text)
    assert visible.count(HOSTILE) >= 3  # shown as text: in the title, the heading and the provenance


def test_results_csv_loads_with_pandas(report):
    df = pd.read_csv(report["csv"])
    data = json.loads(report["json"].read_text())
    assert list(df.columns) == DOCUMENTED_COLUMNS
    assert list(df["metric"]) == [r["metric"] for r in data["results"]]
    for col in FLOAT_FIELDS:
        assert df[col].dtype == np.float64, col
    for col in ("n_boot", "n_fake", "seed"):  # complete integer columns
        assert df[col].dtype == np.int64, col
    assert df["n_real"].dtype == np.float64 and df.loc[df["metric"] == "is", "n_real"].isna().all()
    assert df["extractor"].eq("test-tiny").all() and df["protocol"].eq("tf").all()
    np.testing.assert_array_equal(df["value"].to_numpy(), [r["value"] for r in data["results"]])


def test_rendering_failure_writes_nothing(tmp_path, runs):
    out = tmp_path / "r"
    bad_images = {"fake": np.zeros((4, 3, 8, 8), dtype=np.float32)}  # not uint8: the grid refuses it
    with pytest.raises(ValueError, match="uint8"):
        write_report(runs["run_a"], out, images=bad_images)
    assert not out.exists() or list(out.iterdir()) == []
    out.mkdir(exist_ok=True)
    (out / "results.json").write_text("old")
    with pytest.raises(ValueError):
        write_report(runs["run_a"], out, images=bad_images)
    assert [p.name for p in out.iterdir()] == ["results.json"] and (out / "results.json").read_text() == "old"


def test_report_into_a_file_is_a_one_line_error(tmp_path, runs):
    f = tmp_path / "taken"
    f.write_text("x")
    with pytest.raises(BadInputError, match=r"taken: it is a file") as exc:
        write_report(runs["run_a"], f)
    assert "\n" not in str(exc.value)


# -- generic blocks ---------------------------------------------------------------------------------------

def test_bar_figure_whiskers_are_the_intervals():
    cats = ["a", "b", "c"]
    ests = [Estimate(0.5, 0.4, 0.7), Estimate(2.0), Estimate(1.0, 0.2, 1.5)]
    other = [Estimate(1.0, 0.9, 1.1), None, 3.0]
    fig = plots.bar_figure(cats, {"run 1": ests, "run 2": other}, title="t")
    ax = fig.axes[0]
    bars1, bars2 = [c for c in ax.containers if c.__class__.__name__ == "BarContainer"]
    assert [b.get_height() for b in bars1] == [0.5, 2.0, 1.0]
    assert not bars2[1].get_visible() and bars2[2].get_height() == 3.0  # the missing value is not drawn
    segments = []
    for coll in ax.collections:
        segments += [tuple(sorted((s[0][1], s[1][1]))) for s in coll.get_segments()]
    np.testing.assert_allclose(sorted(segments), [(0.2, 1.5), (0.4, 0.7), (0.9, 1.1)], rtol=0, atol=1e-12)
    assert any(t.get_text() == "n/a" for t in ax.texts)


def test_line_figure_draws_the_points_and_bands():
    s = LineSeries("fid", [0.2, 0.5, 1.0], [30.0, None, 10.0], low=[25.0, None, 8.0], high=[35.0, None, 12.0],
                   point_labels=["a", "b", "c"])
    fig = plots.line_figure([s], xlabel="psi")
    ax = fig.axes[0]
    np.testing.assert_array_equal(ax.lines[0].get_xydata(), [[0.2, 30.0], [1.0, 10.0]])
    band = ax.collections[0].get_paths()[0].vertices
    assert band[:, 1].min() == 8.0 and band[:, 1].max() == 35.0
    assert [t.get_text() for t in ax.texts] == ["a", "c"]


def test_heatmap_figure_shows_the_matrix():
    m = np.array([[0.5, -0.25], [np.nan, 1.0]])
    fig = plots.heatmap_figure(m, ["r1", "r2"], ["c1", "c2"], center=0.0, fmt=".2f")
    ax = fig.axes[0]
    shown_m = ax.images[0].get_array()
    assert shown_m.mask[1, 0] and shown_m[0, 0] == 0.5 and shown_m[1, 1] == 1.0
    assert ax.images[0].get_clim() == (-1.0, 1.0)  # symmetric about the centre
    assert sorted(t.get_text() for t in ax.texts) == ["-0.25", "0.50", "1.00"]
    with pytest.raises(ValueError):
        plots.heatmap_figure(m, ["r1"], ["c1", "c2"])


def test_grid_array_places_each_image():
    rng = np.random.default_rng(1)
    imgs = rng.integers(0, 256, size=(5, 1, 6, 4), dtype=np.uint8)
    grid = plots.grid_array(imgs, columns=2, pad=1)
    assert grid.shape == (1 + 3 * 7, 1 + 2 * 5, 3)
    for i in range(5):
        r, c = divmod(i, 2)
        y, x = 1 + r * 7, 1 + c * 5
        for ch in range(3):  # grayscale repeated to RGB
            np.testing.assert_array_equal(grid[y:y + 6, x:x + 4, ch], imgs[i, 0])
    assert (grid[1 + 2 * 7:, 6:] == 255).all()  # the empty sixth cell
    big = np.zeros((2, 3, 300, 150), dtype=np.uint8)
    assert plots.shrink(big, 128).shape == (2, 3, 128, 64)


def test_charts_are_deterministic_pngs():
    a = plots.bar_chart(["x", "y"], {"s": [1.0, 2.0]})
    assert a == plots.bar_chart(["x", "y"], {"s": [1.0, 2.0]})
    assert a != plots.bar_chart(["x", "y"], {"s": [2.0, 1.0]})
    w, h = plots.png_size(a)
    im = np.asarray(Image.open(io.BytesIO(a)).convert("L"))
    assert im.shape == (h, w) and im.std() > 0


@pytest.mark.parametrize("name", ["$x^$", "$\\frac$", "$_$"])
def test_dollar_signs_in_names_are_drawn_as_text(name):
    """Run, class and attribute names are user text: matplotlib's mathtext would fail on these ("$x^$" is an
    unfinished formula) or typeset them; every chart draws them literally instead."""
    pngs = [plots.line_chart([LineSeries(name, [0, 1], [1.0, 2.0]), LineSeries("b", [0, 1], [2.0, 1.0])],
                             title=name, xlabel=name),
            plots.bar_chart([name, "b"], {name: [1.0, 2.0]}, title=name),
            plots.bar_panels({name: ([name, "b"], [1.0, 2.0])}),
            plots.heatmap(np.eye(2), [name, "b"], [name, "c"], title=name)]
    for png in pngs:
        assert np.asarray(Image.open(io.BytesIO(png)).convert("L")).std() > 0
    fig = plots.line_figure([LineSeries(name, [0, 1], [1.0, 2.0]), LineSeries("b", [0, 1], [2.0, 1.0])], title=name)
    assert fig.axes[0].get_title() == name
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [name, "b"]


def test_every_block_kind_renders(tmp_path):
    rng = np.random.default_rng(2)
    fake = rng.integers(0, 256, size=(5, 3, 8, 8), dtype=np.uint8)
    real = rng.integers(0, 256, size=(5, 2, 3, 8, 8), dtype=np.uint8)
    dist = np.array([[3.0, 4.0], [0.5, 0.9], [2.0, 2.5], [0.1, 5.0], [9.0, 9.5]])
    nb = Neighbours(fake, real, dist, real_indices=np.arange(10).reshape(5, 2), feature="pool",
                    reference_distance=2.0)
    blocks = (
        report_html.table_block(["group", "rate"], [["a", 0.25], ["b", Estimate(0.5, 0.4, 0.6)]], keys=["a", "b"],
                                fields=[None, "rate"]),
        report_html.bar_chart_block(["a", "b"], {"rate": [Estimate(0.25, 0.2, 0.3), 0.5]}, title="rates"),
        report_html.bar_panels_block({"fid": (["x", "y"], [1.0, 2.0]), "recall": (["x", "y"], [0.5, None])}),
        report_html.line_chart_block([LineSeries("loss", [0, 1, 2], [3.0, 2.0, 1.0])], title="losses"),
        report_html.heatmap_block(np.eye(3), ["a", "b", "c"], ["x", "y", "z"], title="assoc"),
        report_html.image_grids_block({"fake": fake}),
        report_html.neighbours_block(nb),
        report_html.keyvalue_block({"classifier sha256": "ab" * 32, "N": 5}),
        report_html.notes_block([HOSTILE]),
        report_html.json_block({"k": [1, 2]}, summary="raw"),
    )
    html = report_html.render_page("page.html.j2", title="blocks", subtitle="",
                                   sections=[Section("All kinds", blocks)])
    path = tmp_path / "p.html"
    path.write_text(html)
    page = parse(path)
    got = cells(page, "all-kinds")
    assert got[("a", "rate")]["text"] == "0.25" and got[("b", "rate")]["text"] == "0.5 [0.4, 0.6]"
    imgs = [a for t, a in page.tags if t == "img"]
    assert len(imgs) == 4 + 1 + 5 * 3  # four charts, a grid, 5 generated samples with 2 neighbours each
    assert all(a["src"].startswith("data:image/png;base64,") for a in imgs)
    # the gallery lists the closest pairs first: samples 3, 1, 2, 0, 4 by their nearest distance
    order = [f["key"] for f in page.fields if f["field"] == "distance"][::2]
    assert order == ["3", "1", "2", "0", "4"]
    close = [float(f["value"]) for f in page.fields if f["field"] == "distance" and "close" in f["class"]]
    assert sorted(close) == [0.1, 0.5, 0.9]  # under half the reference distance 2.0
    assert "unknown block" not in html and "<script" not in html
    assert HOSTILE in "".join(page.text)


# -- sections built from what a run contains ----------------------------------------------------------------

def _prov() -> dict:
    return {"extractor": {"name": "x", "weights_sha256": "none"}, "protocol": "tf", "inputs": {}}


def test_breakdown_and_truncation_sections(tmp_path):
    results = [Result("fid", 12.5, ci_low=11.0, ci_high=14.0, ci_level=0.95)]
    for cls, v in (("Dress", 20.25), ("Shirt", 31.5)):
        results.append(Result("fid", v, n_fake=100, details={"by": "class", "group": cls}))
        results.append(Result("recall", v / 100, ci_low=v / 200, ci_high=v / 50,
                              details={"by": "class", "group": cls}))
    for psi in (1.0, 0.5):
        results.append(Result("fid", 10 + psi, details={"psi": psi}))
        results.append(Result("precision", 1 - psi / 2, details={"psi": psi}))
        results.append(Result("recall", psi / 2, details={"psi": psi}))
    paths = write_report(RunResult(results, _prov()), tmp_path / "r")
    page = parse(paths["html"])
    by_class = cells(page, "by-class")
    assert by_class[("Dress", "fid")]["text"] == "20.25"
    assert by_class[("Shirt", "recall")]["text"] == "0.315 [0.1575, 0.63]"
    sweep = cells(page, "truncation-sweep")
    assert [k for (k, f) in sweep if f == "psi"] == ["0.5", "1"]  # sorted by psi
    assert sweep[("0.5", "precision")]["text"] == "0.75"
    all_rows = {k for (k, f) in cells(page, "all-results")}
    assert {"fid [class=Dress]", "recall [psi=0.5]", "fid"} <= all_rows
    headline = {f["key"] for f in page.fields if f["section"] == "headline"}
    assert headline == {"fid"}  # breakdown rows are not headline numbers
    # the truncation section has 3 charts: fid vs psi, PR vs psi, precision vs recall; by-class has 1
    assert paths["html"].read_text().count('<figure class="chart">') == 4


def test_training_curves_from_history_csv(tmp_path):
    hist = tmp_path / "history.csv"
    hist.write_text("step,epoch,d_loss,g_loss,fid,time_s\n0,0,1.5,0.7,300.0,0.1\n100,1,1.2,0.9,,5.0\n"
                    "200,2,1.1,1.0,150.5,9.0\n")
    rows = report_html.read_history_csv(hist)
    assert rows[1] == {"step": 100.0, "epoch": 1.0, "d_loss": 1.2, "g_loss": 0.9, "fid": None, "time_s": 5.0}
    section = report_html.training_curves_section(rows)
    assert [b.body["alt"] for b in section.blocks] == ["losses", "FID (held-out)"]
    fig = plots.line_figure([LineSeries("fid", [0, 200], [300.0, 150.5])])  # what the FID chart draws
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_xydata(), [[0, 300.0], [200, 150.5]])
    paths = write_report(RunResult([], _prov()), tmp_path / "r", history=rows)
    assert "Training curves" in paths["html"].read_text()
    hist.write_text("step,fid\n0,abc\n")
    with pytest.raises(BadInputError, match=r"history.csv line 2, column 'fid': 'abc' is not a number"):
        report_html.read_history_csv(hist)
    with pytest.raises(BadInputError, match="no such file"):
        report_html.read_history_csv(tmp_path / "missing.csv")


def test_registered_section_and_caller_sections(tmp_path, monkeypatch):
    def build(run, extras):
        return [Section("Bias audit", (report_html.table_block(["group", "selection rate"],
                                                               [["a", 0.5]], keys=["a"],
                                                               fields=[None, "rate"]),))]

    monkeypatch.setitem(report_html._SECTIONS, "bias", SectionEntry(
        "bias", 45, lambda run, ex: run.provenance.get("kind") == "bias", build))
    caller = Section("Latent associations", (report_html.heatmap_block(np.ones((2, 2)), ["z0", "z1"], ["a", "b"]),))
    prov = dict(_prov(), kind="bias")
    paths = write_report(RunResult([Result("demographic_parity_difference", 0.125)], prov), tmp_path / "r",
                         sections=[caller])
    html = paths["html"].read_text()
    order = [html.index(f'<h2>{t}</h2>') for t in ("Headline", "Bias audit", "Latent associations", "Provenance")]
    assert order == sorted(order)
    assert cells(parse(paths["html"]), "bias-audit")[("a", "rate")]["text"] == "0.5"
    other = write_report(RunResult([Result("fid", 1.0)], _prov()), tmp_path / "s")
    assert "Bias audit" not in other["html"].read_text()  # applies only to runs that say so


# -- comparing runs ---------------------------------------------------------------------------------------

def _run_dir(path: Path, run: RunResult) -> Path:
    write_report(run, path)
    return path


def test_compare_table_equals_the_inputs(tmp_path, runs):
    a = _run_dir(tmp_path / "dcgan", runs["run_a"])
    b = _run_dir(tmp_path / "wgan-gp", runs["run_b"])
    paths, comparison = write_comparison([a, b], tmp_path / "cmp")
    assert comparison.comparable
    page = parse(paths["html"])
    table = cells(page, "results")
    csv = pd.read_csv(paths["csv"], index_col="metric")
    assert list(csv.columns) == ["dcgan", "dcgan:ci_low", "dcgan:ci_high", "wgan-gp", "wgan-gp:ci_low",
                                 "wgan-gp:ci_high"]
    for name, folder in (("dcgan", a), ("wgan-gp", b)):
        for row in json.loads((folder / "results.json").read_text())["results"]:
            cell = table[(row["metric"], name)]
            assert cell["text"].split(" [")[0] == shown(row["value"])
            assert float(cell["value"]) == row["value"]
            assert f"[{shown(row['ci_low'])}, {shown(row['ci_high'])}] 90%" in cell["text"]
            assert csv.loc[row["metric"], name] == row["value"]
            assert csv.loc[row["metric"], f"{name}:ci_low"] == row["ci_low"]
    html = paths["html"].read_text()
    assert "Not comparable" not in html and 'class="differs"' not in html  # other generated sets are the point
    links = [a_["href"] for t, a_ in page.tags if t == "a" and a_.get("href", "").endswith("index.html")]
    assert links == ["../dcgan/index.html", "../wgan-gp/index.html"]


def test_compare_flags_runs_measured_differently(tmp_path, runs):
    a = _run_dir(tmp_path / "a", runs["run_a"])
    other = json.loads((a / "results.json").read_text())
    other["provenance"]["protocol"] = "clean"
    other["provenance"]["inputs"]["fake"]["n"] = 20
    other["provenance"]["versions"]["torch"] = "0.0"
    b = tmp_path / "b"
    b.mkdir()
    (b / "results.json").write_text(json.dumps(other))
    paths, comparison = write_comparison([a, b], tmp_path / "cmp")
    assert not comparison.comparable
    assert [f.name for f in comparison.blocking] == ["protocol", "N generated"]
    html = paths["html"].read_text()
    assert '<h2>Not comparable</h2>' in html and 'role="alert"' in html
    differing = set(re.findall(r'<tr data-key="([^"]+)" class="differs">', html))
    assert differing == {"protocol", "N generated", "torch version"}  # versions differ too, without blocking


def test_compare_names_and_hostile_names(tmp_path, runs):
    a = _run_dir(tmp_path / "x" / "out", runs["run_a"])
    b = _run_dir(tmp_path / "y" / "out", runs["run_b"])
    _, c = write_comparison([a, b], tmp_path / "cmp")
    assert c.names == ["x/out", "y/out"]  # equal folder names told apart by their parents
    paths, c = write_comparison([a, b], tmp_path / "cmp2", names=[HOSTILE, "b"])
    assert c.names == [HOSTILE, "b"]
    text = paths["html"].read_text()
    page = parse(paths["html"])
    assert "<script" not in text.lower() and HOSTILE in "".join(page.text)
    assert [(t, k) for t, a in page.tags for k in a if k.startswith("on")] == []
    with pytest.raises(BadInputError, match="--names gives 1 names for 2 folders"):
        write_comparison([a, b], tmp_path / "cmp3", names=["one"])
    with pytest.raises(BadInputError, match="repeats"):
        write_comparison([a, b], tmp_path / "cmp3", names=["one", "one"])
    with pytest.raises(BadInputError, match="one of the compared run folders"):
        write_comparison([a, b], a)


@pytest.mark.parametrize("content, expected", [
    (None, "no results.json in {folder}"),
    ("{not json", "{file} is not a ganeval results.json: invalid JSON (Expecting property name"),
    ('["a"]', "{file} is not a ganeval results.json: the top level is a list, expected an object"),
    ('{"results": 3}', '{file} is not a ganeval results.json: no "results" list'),
    ('{"results": [{"metric": "fid", "value": "12"}]}',
     "{file} is not a ganeval results.json: results[0].value is a string, expected a number or null"),
    ('{"results": [{"value": 1.0}]}', "{file} is not a ganeval results.json: results[0].metric is null"),
    ('{"results": [], "provenance": []}', '{file} is not a ganeval results.json: "provenance" is a list'),
    (b"\xff\xfe", "{file} is not a ganeval results.json: not UTF-8 text"),
])
def test_bad_run_folders_are_one_line_errors(tmp_path, monkeypatch, capsys, content, expected):
    folder = tmp_path / "run"
    folder.mkdir()
    if content is not None:
        data = content if isinstance(content, bytes) else content.encode()
        (folder / "results.json").write_bytes(data)
    message = expected.format(folder=folder, file=folder / "results.json")
    with pytest.raises(BadInputError) as exc:
        load_run(folder)
    assert str(exc.value).startswith(message) and "\n" not in str(exc.value)
    code, out, err = run_cli(monkeypatch, capsys, "report", str(folder), "--out", str(tmp_path / "cmp"))
    assert code == 2 and message in err.replace("\n", "") and err.count("error:") == 1
    assert not (tmp_path / "cmp").exists()


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    from ganeval import cli_report

    if not any(c.name == "report" for c in cli.app.registered_commands):
        monkeypatch.setattr(cli.app, "registered_commands", list(cli.app.registered_commands))
        cli_report.register(cli.app)
    monkeypatch.setattr(sys, "argv", ["ganeval", *args])
    monkeypatch.setenv("COLUMNS", "400")
    with pytest.raises(SystemExit) as exc:
        cli.main()
    out = capsys.readouterr()
    code = exc.value.code if isinstance(exc.value.code, int) else (0 if exc.value.code is None else 1)
    return code, out.out, out.err


def test_cli_report(tmp_path, monkeypatch, capsys, runs):
    a = _run_dir(tmp_path / "a", runs["run_a"])
    missing = tmp_path / "nope"
    code, out, err = run_cli(monkeypatch, capsys, "report", str(a), str(missing), "--out", str(tmp_path / "c"))
    assert code == 2 and f"no such file or folder: {missing}" in err
    other = json.loads((a / "results.json").read_text())
    other["provenance"]["extractor"]["name"] = "inception"
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "results.json").write_text(json.dumps(other))
    code, out, err = run_cli(monkeypatch, capsys, "report", str(a), str(tmp_path / "b"), "--out",
                             str(tmp_path / "c"), "--names", "first,second")
    assert code == 0, err
    assert "compared 2 runs (first, second)" in out
    assert "not comparable: extractor differs (first: test-tiny; second: inception)" in err
    assert (tmp_path / "c" / "index.html").is_file() and (tmp_path / "c" / "comparison.csv").is_file()
    assert math.isclose(pd.read_csv(tmp_path / "c" / "comparison.csv", index_col="metric").loc["fid", "second"],
                        runs["run_a"].get("fid").value, rel_tol=0, abs_tol=0)


# -- comparing train-reference run folders --------------------------------------------------------------------

def _training_folder(path: Path, trainer: str, fids: list[float], cc: list[float] | None = None) -> Path:
    """A run folder as train-reference leaves it (manifest.json, history.csv, no results.json): evaluations at
    steps 0, 10, 20, ..., best at the lowest FID."""
    path.mkdir(parents=True)
    steps = [10 * i for i in range(len(fids))]
    best = min(range(len(fids)), key=fids.__getitem__)
    manifest = {
        "format": "ganeval-train-run-1", "trainer": trainer, "status": "finished", "step": steps[-1],
        "steps": steps[-1], "seed": 0, "fid_untrained": fids[0], "fid_real_vs_real": 0.5,
        "best": {"step": steps[best], "fid": fids[best], "path": "best.pt"},
        "last_evaluation": {"step": steps[-1], "fid": fids[-1], **({"class_consistency": cc[-1]} if cc else {})},
        "evaluation": {"extractor": "fmnist-cnn", "weights_sha256": "ab" * 32, "protocol": "tf", "n_real": 50,
                       "n_fake": 50, "eval_seed": 2024},
        "dataset": {"name": "digits", "fingerprint": "cd" * 32}, "versions": {"ganeval": "0.1.0"},
    }
    (path / "manifest.json").write_text(json.dumps(manifest))
    lines = ["step,loss_g,fid" + (",class_consistency" if cc else "")]
    for i, st in enumerate(steps):
        lines.append(f"{st},{1.0 + i},{fids[i]!r}" + (f",{cc[i]!r}" if cc else ""))
        lines.append(f"{st + 5},{1.5 + i}," + ("," if cc else ""))  # a logged step without an evaluation
    (path / "history.csv").write_text("\n".join(lines) + "\n")
    return path


def test_compare_reads_training_run_folders_and_overlays_their_curves(tmp_path, monkeypatch):
    drawn: list[tuple[str, list]] = []
    original = plots.line_chart

    def recording(series, **kwargs):
        drawn.append((kwargs.get("title", ""), list(series)))
        return original(series, **kwargs)

    monkeypatch.setattr(plots, "line_chart", recording)
    a = _training_folder(tmp_path / "runs" / "dcgan", "dcgan", [300.0, 120.5, 80.25])
    b = _training_folder(tmp_path / "runs" / "cgan", "cgan", [310.0, 90.0, 95.5], cc=[0.1, 0.6, 0.75])
    assert not (a / "results.json").exists()
    paths, comparison = write_comparison([a, b], tmp_path / "cmp")
    assert comparison.names == ["dcgan", "cgan"] and comparison.comparable
    csv = pd.read_csv(paths["csv"], index_col="metric")
    # the numbers are the manifests': best = the lowest FID, final = the last evaluation
    assert csv.loc["fid_best", "dcgan"] == 80.25 and csv.loc["fid_best", "cgan"] == 90.0
    assert csv.loc["fid_final", "cgan"] == 95.5 and csv.loc["fid_untrained", "dcgan"] == 300.0
    assert csv.loc["class_consistency_final", "cgan"] == 0.75
    assert math.isnan(csv.loc["class_consistency_final", "dcgan"])
    # one line per run, the points of history.csv's rows that have the column (steps without an evaluation skipped)
    charts = {title: {s.name: (list(s.x), list(s.y)) for s in series} for title, series in drawn}
    assert charts["FID (held-out) during training"] == {"dcgan": ([0, 10, 20], [300.0, 120.5, 80.25]),
                                                         "cgan": ([0, 10, 20], [310.0, 90.0, 95.5])}
    assert charts["class consistency during training"] == {"cgan": ([0, 10, 20], [0.1, 0.6, 0.75])}
    colours = {(title, s.name): s.color for title, series in drawn for s in series}
    assert colours[("class consistency during training", "cgan")] == colours[("FID (held-out) during training", "cgan")]
    assert colours[("FID (held-out) during training", "dcgan")] != colours[("FID (held-out) during training", "cgan")]
    ids = [a_["id"] for t, a_ in parse(paths["html"]).tags if t == "section" and a_.get("id")]
    assert ids.index("results") < ids.index("training-curves") < ids.index("runs-compared")
    # evaluation reports have no history: no curves section
    (tmp_path / "r1").mkdir()
    write_report(RunResult([Result("fid", 1.0)], _prov()), tmp_path / "r1")
    charts_before = len(drawn)
    paths, _ = write_comparison([tmp_path / "r1"], tmp_path / "cmp2")
    assert len(drawn) == charts_before and "training-curves" not in paths["html"].read_text()


def test_compare_of_a_training_folder_with_a_bad_manifest_is_a_one_line_error(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "manifest.json").write_text('{"format": "something else"}')
    with pytest.raises(BadInputError, match="is not a ganeval training manifest") as exc:
        write_comparison([folder], tmp_path / "cmp")
    assert str(folder / "manifest.json") in str(exc.value) and not (tmp_path / "cmp").exists()


def test_preview_images_reads_the_first_images(tmp_path, runs):
    from ganeval.cli_report import preview_images
    from ganeval.evaluate import compute_stats

    stats, _ = compute_stats(runs["root"] / "real", EvalConfig(extractor="test-tiny", use_cache=False))
    stats.save(tmp_path / "real.npz")
    got = preview_images({"real": tmp_path / "real.npz", "fake": runs["root"] / HOSTILE}, n=5)
    assert list(got) == ["fake"]  # a statistics file has no images
    assert got["fake"].dtype == np.uint8
    np.testing.assert_array_equal(got["fake"], runs["fake"][:5].transpose(0, 3, 1, 2))
