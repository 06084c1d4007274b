"""Reports in a real headless Chromium (Debian's `chromium`): loaded from file://, they log no console error,
request nothing but file:// and data: URLs, show the numbers of results.json, and leave a screenshot.

How requests and errors are observed is described in tests/browser.py (CDP over --remote-debugging-pipe,
events of the page's own target). A control page that does fetch over http and logs an error proves the
observation works. Screenshots go to pytest's tmp_path, and to $GANEVAL_TEST_ARTIFACTS when it is set.
When Chromium is missing these tests fail with the install command: CI installs it, so a skip would
only hide that the checks did not run.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from browser import INSTALL_HINT, BrowserError, Chromium, chromium_path
from ganeval.report.compare import write_comparison
from ganeval.report.html import Neighbours, write_report
from test_report_html import HOSTILE, evaluated, shown, write_pngs

ALLOWED_SCHEMES = ("file://", "data:")

# What the page shows in each [data-field] element of a section, read through the DOM as rendered
# (innerText: what a person sees), with the element's rendered width to tell that it is on screen.
READ_FIELDS = """
(() => [...document.querySelectorAll('#%s [data-field]')].map(el => ({
    key: el.closest('[data-key]') ? el.closest('[data-key]').dataset.key : null,
    field: el.dataset.field, value: el.dataset.value === undefined ? null : el.dataset.value,
    text: el.innerText.trim(), width: el.getBoundingClientRect().width,
})))()
"""


@pytest.fixture(scope="module")
def browser():
    if chromium_path() is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    with Chromium() as b:
        yield b


def save_artifact(path: Path) -> None:
    dest = os.environ.get("GANEVAL_TEST_ARTIFACTS")
    if dest:
        Path(dest).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(dest) / path.name)


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """A run report (hostile input and output folder names, sample grids, a neighbour gallery) and a comparison
    of two runs."""
    root = tmp_path_factory.mktemp("browser")
    rng = np.random.default_rng(3)
    real = rng.integers(0, 200, size=(40, 20, 20, 3), dtype=np.uint8)
    fake = np.clip(rng.integers(0, 200, size=(40, 20, 20, 3)) + 30, 0, 255).astype(np.uint8)
    real_dir, fake_dir = write_pngs(root / "real", real), write_pngs(root / "inputs" / HOSTILE, fake)
    run = evaluated(real_dir, fake_dir)
    real_nchw, fake_nchw = real.transpose(0, 3, 1, 2), fake.transpose(0, 3, 1, 2)
    nb = Neighbours(fake_nchw[:6], np.stack([real_nchw[i:i + 2] for i in range(6)]),
                    np.arange(12, dtype=float).reshape(6, 2) + 1.0, feature="test-tiny pool, L2")
    paths = write_report(run, root / HOSTILE, images={"real": real_nchw, "fake": fake_nchw}, neighbours=nb)
    other = evaluated(real_dir, write_pngs(root / "fake2", real[::-1].copy()))
    (root / "other").mkdir()
    write_report(other, root / "other")
    cmp_paths, _ = write_comparison([root / HOSTILE, root / "other"], root / "compare", names=["dcgan", HOSTILE])
    return {"run": paths, "compare": cmp_paths, "root": root}


def assert_clean(page) -> None:
    outside = [u[:80] for u in page.requests if not u.startswith(ALLOWED_SCHEMES)]
    assert outside == [], f"requests beyond file:// and data: {outside}"
    assert page.requests and page.requests[0].startswith("file://")
    assert page.console_errors == [], page.console_errors
    assert page.failed == [], page.failed


def test_run_report_in_chromium(browser, reports, tmp_path):
    paths = reports["run"]
    page = browser.open(paths["html"])
    assert_clean(page)
    assert page.evaluate("document.scripts.length") == 0
    assert HOSTILE in page.evaluate("document.title")  # the hostile folder is text in the title, not markup
    data = json.loads(paths["json"].read_text())
    shown_fields = {(f["key"], f["field"]): f for f in page.evaluate(READ_FIELDS % "all-results")}
    for row in data["results"]:
        for field in ("value", "std", "ci_low", "ci_high", "ci_level", "n_boot", "n_real", "n_fake", "seed"):
            got = shown_fields[(row["metric"], field)]
            assert got["text"] == shown(row[field]), (row["metric"], field)
            assert got["width"] > 0
            if row[field] is not None:
                assert float(got["value"]) == row[field]
    cards = {f["key"]: f for f in page.evaluate(READ_FIELDS % "headline")}
    assert {k: c["text"] for k, c in cards.items()} == {r["metric"]: shown(r["value"]) for r in data["results"]}
    # every image decoded and laid out (a broken data: URI would have naturalWidth 0)
    sizes = page.evaluate("[...document.images].map(i => [i.complete, i.naturalWidth, i.width])")
    assert len(sizes) >= 3 + 6 * 3 and all(c and nw > 0 and w > 0 for c, nw, w in sizes)
    shot = page.screenshot(tmp_path / "report-run.png")
    save_artifact(shot)
    with Image.open(shot) as im:
        assert im.width == 1280 and im.height > 900
        assert np.asarray(im.convert("L")).std() > 0


def test_comparison_in_chromium(browser, reports, tmp_path):
    paths = reports["compare"]
    page = browser.open(paths["html"])
    assert_clean(page)
    table = {(f["key"], f["field"]): f for f in page.evaluate(READ_FIELDS % "results")}
    runs = {"dcgan": reports["root"] / HOSTILE, HOSTILE: reports["root"] / "other"}
    for name, folder in runs.items():
        for row in json.loads((folder / "results.json").read_text())["results"]:
            got = table[(row["metric"], name)]
            assert got["text"].split(" [")[0] == shown(row["value"])
            assert float(got["value"]) == row["value"]
    header = page.evaluate("[...document.querySelectorAll('#results thead th')].map(th => th.innerText)")
    assert header == ["metric", "dcgan", HOSTILE]
    # same extractor, protocol, real set and N: comparable, so no warning
    assert page.evaluate("document.querySelector('[role=alert]')") is None
    shot = page.screenshot(tmp_path / "report-compare.png")
    save_artifact(shot)


def test_the_checks_see_requests_and_errors(browser, tmp_path):
    """Control: a page that fetches over http and logs an error must be caught by the same observation."""
    page_path = tmp_path / "bad.html"
    page_path.write_text('<!doctype html><title>bad</title><img src="http://127.0.0.1:9/x.png">'
                         '<script>console.error("planted error")</script>')
    page = browser.open(page_path)
    assert "http://127.0.0.1:9/x.png" in page.requests
    assert any("planted error" in e for e in page.console_errors)
    with pytest.raises(AssertionError):
        assert_clean(page)


def test_missing_chromium_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("GANEVAL_CHROMIUM", str(tmp_path / "no-chromium"))
    assert chromium_path() is None
    with pytest.raises(BrowserError, match="apt-get install -y chromium"):
        Chromium()
