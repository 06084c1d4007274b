"""`ganeval sweep`: truncation sweeps, checked against planted effects and independent paths.

- A toy generator on the real data's plane near z = 0 that leaves it as |z| grows: smaller psi must give
  higher precision and lower recall (and coverage), and FID a minimum in between (planted trade-off).
- FID, precision and recall at psi = 1 equal `evaluate` on the same samples written to PNGs by
  `write_samples` (an independent path: files, decoding, the plain pipeline).
- The real set goes through the extractor once per sweep and never on a re-run (an extractor that
  counts the images it sees), and every psi's statistics come from the cache on a re-run.
- A w-space toy (mapping, truncate_w, synthesis) is truncated in w: the images equal the module's
  methods applied by hand to the untruncated seeded latents, and so do the metrics.
- The CLI's report draws the numbers of results.json (the table cells and the series given to the charts).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import ganeval.cli as cli
from ganeval import cli_sweep
from ganeval.config import EvalConfig, SamplingConfig
from ganeval.errors import BadInputError
from ganeval.evaluate import evaluate
from ganeval.extractors import Extractor, ExtractorEntry, ExtractorInfo, register_extractor
from ganeval.generators import (
    LatentSpec, forward_chunk, load_generator, register_architecture, save_generator, seeded_latents, to_uint8,
    write_samples,
)
from ganeval.report import plots
from ganeval.sweep import default_psis, parse_psis, sweep, sweep_images, truncation_space
from test_report_html import cells, parse

Z = 4
SIDE = 8
N_REAL = 400
N_FAKE = 400
LEVELS = (-0.5, 0.0, 0.5)  # brightness (in [-1, 1]) that test-pixels' logits classify by


class PixelExtractor(Extractor):
    """pool: 2x2 averages of the grey image (16-d, linear in the pixels); logits: -(brightness - level)^2 for
    each of LEVELS. Counts every image it sees (class attribute `seen`), to tell extraction from cache hits."""

    seen = 0

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("levels", torch.tensor(LEVELS))
        self.info = ExtractorInfo(name="test-pixels", weights_sha256="none", input_size=(SIDE, SIDE),
                                  features={"pool": 16, "logits": len(LEVELS)}, value_range="signed")

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        PixelExtractor.seen += x.shape[0]
        grey = x.mean(dim=1, keepdim=True)
        brightness = grey.mean(dim=(1, 2, 3))
        return {"pool": nn.functional.avg_pool2d(grey, 2).flatten(1),
                "logits": -(brightness[:, None] - self.levels[None, :]) ** 2}


register_extractor(ExtractorEntry(name="test-pixels", description="linear pixel features (tests)",
                                  build=lambda options, arg: PixelExtractor()))


class SpreadGenerator(nn.Module):
    """images = A z + off * relu(mean(z^2) - 1) * u: on the plane of the real images (A z) while |z| is small,
    pushed off it along the fixed pattern u (top half up, bottom half down) as |z| grows."""

    def __init__(self, off: float = 1.0) -> None:
        super().__init__()
        self.a = nn.Linear(Z, SIDE * SIDE, bias=False)
        self.register_buffer("u", torch.cat([torch.ones(32), -torch.ones(32)]))
        self.off = off

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        lift = torch.relu((z * z).mean(dim=1, keepdim=True) - 1.0)
        return (self.a(z) + self.off * lift * self.u).reshape(-1, 1, SIDE, SIDE)


class StyleToy(nn.Module):
    """A style-based toy: w = M z, images = tanh(S w + b); truncate_w moves w toward the buffer w_avg."""

    def __init__(self) -> None:
        super().__init__()
        self.map = nn.Linear(Z, Z)
        self.syn = nn.Linear(Z, SIDE * SIDE)
        self.register_buffer("w_avg", torch.tensor([0.5, -0.5, 0.25, 0.0]))

    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        return self.map(z)

    def truncate_w(self, w: torch.Tensor, psi: float) -> torch.Tensor:
        return self.w_avg + psi * (w - self.w_avg)

    def synthesis(self, w: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.syn(w)).reshape(-1, 1, SIDE, SIDE)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.synthesis(self.mapping(z))


class BrokenStyle(StyleToy):
    """Declares truncate_w but has no synthesis: the hook is incomplete."""

    synthesis = None  # type: ignore[assignment]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.syn(self.map(z))).reshape(-1, 1, SIDE, SIDE)


register_architecture("test-spread", SpreadGenerator)
register_architecture("test-style", StyleToy)
register_architecture("test-style-broken", BrokenStyle)

LATENT = LatentSpec(z_dim=Z, image_shape=(1, SIDE, SIDE))


def spread_module() -> SpreadGenerator:
    module = SpreadGenerator()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        module.a.weight.copy_(torch.randn(SIDE * SIDE, Z, generator=g) * 0.2 / Z**0.5)
    return module.eval()


def style_module(cls: type[StyleToy] = StyleToy) -> StyleToy:
    module = cls()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return module.eval()


@pytest.fixture
def spread(tmp_path):
    """(checkpoint, real .npy): real images are A z for standard normal z, the generator's plane."""
    module = spread_module()
    ckpt = save_generator(tmp_path / "spread.pt", module, "test-spread", {"off": 1.0}, LATENT, {"trainer": "test"})
    z = torch.randn(N_REAL, Z, generator=torch.Generator().manual_seed(99))
    with torch.no_grad():
        real = to_uint8(module.a(z).reshape(-1, 1, SIDE, SIDE), (-1.0, 1.0), rgb=False)
    np.save(tmp_path / "real.npy", real[:, 0].numpy())
    return ckpt, tmp_path / "real.npy"


def config(**kw) -> EvalConfig:
    settings = dict(metrics=("fid", "pr", "dc"), extractor="test-pixels", sampling=SamplingConfig(n=N_FAKE, seed=1))
    settings.update(kw)
    return EvalConfig(**settings)


def by_psi(run) -> dict[float, dict[str, float]]:
    out: dict[float, dict[str, float]] = {}
    for r in run.results:
        out.setdefault(r.details["psi"], {})[r.metric] = r.value
    return out


# -- psi values ---------------------------------------------------------------------------------------------

def test_psi_lists_progressions_and_ranges():
    assert parse_psis("0.1,0.2,...,1.0") == (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
    assert parse_psis("1, 0.5 ,0.25") == (0.25, 0.5, 1.0)
    assert parse_psis("0.2:1:0.4") == (0.2, 0.6, 1.0)
    assert parse_psis("0,0.5,1,...,3") == (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0)
    for bad, why in (("", "is empty"), ("0.5,0.5", "lists 0.5 twice"), ("-1", "finite and >= 0"),
                     ("a,1", "not a number"), ("0.1,0.3,...,1.0", "do not reach 1"), ("0.5,...,1", "'...' must"),
                     ("1,0.5,...,0", "increasing"), ("0:1", "start:stop:step"), ("nan", "not a number"),
                     ("0:1:0.0001", "makes 10001 values; a sweep takes at most 200")):
        with pytest.raises(BadInputError, match=why):
            parse_psis(bad)


# -- the planted trade-off ------------------------------------------------------------------------------------

def test_smaller_psi_gives_higher_precision_lower_recall_and_psi_1_equals_plain_metrics(spread, tmp_path):
    ckpt, real = spread
    psis = (0.25, 1.0, 1.25, 2.0)
    run = sweep(ckpt, real, psis, config())
    rows = by_psi(run)
    assert sorted(rows) == list(psis)
    assert [r.metric for r in run.results[:5]] == ["fid", "precision", "recall", "density", "coverage"]
    precision = [rows[p]["precision"] for p in (0.25, 1.25, 2.0)]
    recall = [rows[p]["recall"] for p in (0.25, 1.25, 2.0)]
    coverage = [rows[p]["coverage"] for p in (0.25, 1.25, 2.0)]
    assert precision[0] > precision[1] > precision[2]
    assert recall[0] < recall[1] < recall[2] and coverage[0] < coverage[1] < coverage[2]
    assert rows[1.25]["fid"] < min(rows[0.25]["fid"], rows[2.0]["fid"])  # too narrow, then off the plane
    assert all(r.n_real == N_REAL and r.n_fake == N_FAKE for r in run.results)

    # psi = 1 against the plain pipeline on the same samples, written as PNGs and read back
    samples = write_samples(ckpt, tmp_path / "samples", N_FAKE, seed=1, truncation=1.0)
    plain = evaluate(real, samples, EvalConfig(metrics=("fid", "pr"), extractor="test-pixels", use_cache=False))
    for metric in ("fid", "precision", "recall"):
        assert rows[1.0][metric] == pytest.approx(plain.get(metric).value, rel=1e-9, abs=1e-12)

    prov = run.provenance
    assert prov["kind"] == "sweep" and prov["truncation"]["space"] == "z"
    assert prov["truncation"]["psis"] == list(psis) and prov["seeds"] == {"metric_seed": 2020, "sample_seed": 1}
    assert prov["inputs"]["fake"]["n"] == N_FAKE and prov["extractor"]["name"] == "test-pixels"


def test_the_real_set_is_extracted_once_and_a_rerun_computes_nothing(spread):
    ckpt, real = spread
    psis = (0.5, 1.0, 1.5)
    PixelExtractor.seen = 0
    first = sweep(ckpt, real, psis, config())
    assert PixelExtractor.seen == N_REAL + len(psis) * N_FAKE  # the real set once, not once per psi
    assert first.provenance["inputs"]["real"]["cached"] is False

    PixelExtractor.seen = 0
    again = sweep(ckpt, real, psis, config())
    assert PixelExtractor.seen == 0
    assert again.provenance["inputs"]["real"]["cached"] is True
    assert all(v["cached"] for v in again.provenance["truncation"]["per_psi"].values())
    assert [r.value for r in again.results] == [r.value for r in first.results]

    PixelExtractor.seen = 0
    sweep(ckpt, real, psis, config(use_cache=False))
    assert PixelExtractor.seen == N_REAL + len(psis) * N_FAKE


def test_sweep_errors_are_one_line(spread, tmp_path):
    ckpt, real = spread
    with pytest.raises(BadInputError, match="leave --truncation unset"):
        sweep(ckpt, real, (0.5,), config(sampling=SamplingConfig(n=50, truncation=0.7)))
    with pytest.raises(BadInputError, match="finite and >= 0"):
        sweep(ckpt, real, (0.5, -0.1), config())
    with pytest.raises(BadInputError, match="no such file or folder: .*nowhere"):
        sweep(ckpt, tmp_path / "nowhere", (0.5,), config())
    with pytest.raises(BadInputError, match="no such checkpoint"):
        sweep(tmp_path / "missing.pt", real, (0.5,), config())
    with pytest.raises(BadInputError, match="more samples than k"):
        sweep(ckpt, real, (0.5,), config(sampling=SamplingConfig(n=3)))


# -- w-space --------------------------------------------------------------------------------------------------

def _by_hand(module: StyleToy, n: int, seed: int, psi: float) -> np.ndarray:
    """What a w-truncated sample must be: the module's own methods on the untruncated seeded latents, run on
    one chunk of forward_chunk rows as generate() runs it (so the arithmetic matches to the bit)."""
    chunk = forward_chunk(LATENT)
    assert n <= chunk
    z = seeded_latents(LATENT, chunk, seed)
    with torch.no_grad():
        out = module.synthesis(module.truncate_w(module.mapping(z), psi))
    return to_uint8(out[:n], (-1.0, 1.0), rgb=True).numpy()


def test_style_generators_are_truncated_in_w_toward_the_mean(tmp_path):
    module = style_module()
    ckpt = save_generator(tmp_path / "style.pt", module, "test-style", {}, LATENT, {})
    gen = load_generator(ckpt)
    assert truncation_space(gen) == "w"
    assert default_psis(ckpt) == (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
    cfg = config(metrics=("fid", "pr"), sampling=SamplingConfig(n=200, seed=5))

    images = sweep_images(ckpt, (0.0, 0.5), cfg, n=200)
    np.testing.assert_array_equal(images["psi=0.5"], _by_hand(module, 200, 5, 0.5))
    with torch.no_grad():
        mean_image = to_uint8(module.synthesis(module.w_avg[None]), (-1.0, 1.0)).numpy()[0]
    assert (images["psi=0"] == mean_image).all()  # psi = 0: every sample is the image of the mean w

    real = tmp_path / "real.npy"
    np.save(real, _by_hand(module, 200, 77, 1.0)[:, 0])  # untruncated samples of another seed
    run = sweep(ckpt, real, (0.5, 1.0), cfg)
    np.save(tmp_path / "fake.npy", _by_hand(module, 200, 5, 0.5)[:, 0])
    plain = evaluate(real, tmp_path / "fake.npy", EvalConfig(metrics=("fid", "pr"), extractor="test-pixels",
                                                             use_cache=False))
    rows = by_psi(run)
    for metric in ("fid", "precision", "recall"):
        assert rows[0.5][metric] == pytest.approx(plain.get(metric).value, rel=1e-9, abs=1e-12)
    assert rows[0.5]["fid"] != rows[1.0]["fid"]  # each psi has its own statistics, never another's cache entry
    per_psi = run.provenance["truncation"]["per_psi"]
    assert per_psi["0.5"]["fingerprint"] != per_psi["1"]["fingerprint"]
    assert run.provenance["truncation"]["space"] == "w"


def test_sampling_with_truncation_uses_w_space_for_style_generators(tmp_path):
    """`ganeval sample --truncation` and `metrics --truncation` go through generate(): for a style generator
    they must truncate w (the sweep's images), not z."""
    from ganeval.generators import generate

    module = style_module()
    gen = load_generator(save_generator(tmp_path / "style.pt", module, "test-style", {}, LATENT, {}))
    for psi in (0.0, 0.5):
        images = torch.cat([im for im, _ in generate(gen, 40, seed=5, batch_size=16, truncation=psi)]).numpy()
        np.testing.assert_array_equal(images, _by_hand(module, 40, 5, psi))
    with torch.no_grad():
        mean_image = to_uint8(module.synthesis(module.w_avg[None]), (-1.0, 1.0)).numpy()[0]
        z_zero = to_uint8(module.synthesis(module.mapping(torch.zeros(1, LATENT.z_dim))), (-1.0, 1.0)).numpy()[0]
    assert not (mean_image == z_zero).all()  # the planted w_avg is not the image of z = 0
    images = torch.cat([im for im, _ in generate(gen, 8, seed=1, truncation=0.0)]).numpy()
    assert (images == mean_image).all()


def test_an_incomplete_w_hook_is_refused(tmp_path):
    ckpt = save_generator(tmp_path / "broken.pt", style_module(BrokenStyle), "test-style-broken", {}, LATENT, {})
    with pytest.raises(BadInputError, match="has truncate_w but no synthesis"):
        sweep(ckpt, tmp_path / "unused.npy", (0.5,), config())
    spread_ckpt = save_generator(tmp_path / "s.pt", spread_module(), "test-spread", {"off": 1.0}, LATENT, {})
    assert truncation_space(load_generator(spread_ckpt)) == "z"


# -- the command ----------------------------------------------------------------------------------------------

def run_cli(monkeypatch, capsys, *args) -> tuple[int, str, str]:
    if not any(c.name == "sweep" for c in cli.app.registered_commands):
        cli_sweep.register(cli.app)  # until cli.py wires it
    monkeypatch.setattr(sys, "argv", ["ganeval", *map(str, args)])
    with pytest.raises(SystemExit) as exc:
        cli.main()
    captured = capsys.readouterr()
    code = exc.value.code if isinstance(exc.value.code, int) else (0 if exc.value.code is None else 1)
    return code, captured.out, captured.err


def test_cli_report_draws_the_numbers_of_results_json(monkeypatch, capsys, spread, tmp_path):
    ckpt, real = spread
    drawn: list[tuple[str, list]] = []
    original = plots.line_chart

    def recording(series, **kwargs):
        drawn.append((kwargs.get("title", ""), list(series)))
        return original(series, **kwargs)

    monkeypatch.setattr(plots, "line_chart", recording)
    out = tmp_path / "report"
    code, stdout, err = run_cli(monkeypatch, capsys, "sweep", ckpt, "--real", real, "--psi", "0.5:1.5:0.5",
                                "-n", 200, "--seed", 3, "-e", "test-pixels", "--ci", 0.9, "--n-boot", 20,
                                "--out", out, "-q")
    assert code == 0, err
    assert f"report: {out / 'index.html'}" in err
    results = json.loads((out / "results.json").read_text())["results"]
    assert len(results) == 3 * 5
    psis = [0.5, 1.0, 1.5]
    expected = {(f"{r['details']['psi']:g}", r["metric"]): r for r in results}
    assert {p for p, _ in expected} == {"0.5", "1", "1.5"}

    page = parse(out / "index.html")
    table = cells(page, "truncation-sweep")
    for (psi, metric), r in expected.items():
        assert float(table[(psi, metric)]["value"]) == r["value"]
        assert f"[{r['ci_low']:.6g}, {r['ci_high']:.6g}]" in table[(psi, metric)]["text"]
    charts = {title: series for title, series in drawn}
    pr = charts["fidelity-diversity trade-off"][0]
    assert list(pr.x) == [expected[(f"{p:g}", "recall")]["value"] for p in psis]
    assert list(pr.y) == [expected[(f"{p:g}", "precision")]["value"] for p in psis]
    assert list(pr.point_labels) == ["ψ=0.5", "ψ=1", "ψ=1.5"]
    fid = charts["fid against psi"][0]
    assert list(fid.x) == psis and list(fid.y) == [expected[(f"{p:g}", "fid")]["value"] for p in psis]
    assert list(fid.low) == [expected[(f"{p:g}", "fid")]["ci_low"] for p in psis]
    dc = {s.name: s for s in charts["precision, recall, density, coverage against psi"]}
    assert list(dc["coverage"].y) == [expected[(f"{p:g}", "coverage")]["value"] for p in psis]

    ids = [a["id"] for tag, a in page.tags if tag == "section" and a.get("id")]
    assert ids[:2] == ["truncation-sweep", "all-results"] and {"samples", "provenance"} <= set(ids)
    alts = {a.get("alt") for tag, a in page.tags if tag == "img"}
    assert {"sample grid of real", "sample grid of psi=0.5", "sample grid of psi=1",
            "sample grid of psi=1.5"} <= alts
    df = pd.read_csv(out / "results.csv")
    assert list(df.columns[-1:]) == ["psi"] and df["psi"].tolist() == [p for p in psis for _ in range(5)]
    assert df["value"].tolist() == [r["value"] for r in results]
    assert "psi" in stdout and "precision" in stdout


def test_cli_default_report_folder_and_bad_psi(monkeypatch, capsys, spread, tmp_path):
    ckpt, real = spread
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GANEVAL_REPORTS_DIR", raising=False)
    code, _, err = run_cli(monkeypatch, capsys, "sweep", ckpt, "--real", real, "-n", 100, "-e", "test-pixels",
                           "-m", "fid", "-q")
    assert code == 0, err
    folders = list((tmp_path / "reports").iterdir())
    assert len(folders) == 1 and folders[0].name.endswith("-sweep")
    assert (folders[0] / "index.html").is_file() and f"report: {Path('reports') / folders[0].name}" in err
    results = json.loads((folders[0] / "results.json").read_text())["results"]
    assert [r["details"]["psi"] for r in results] == [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]  # z default

    code, _, err = run_cli(monkeypatch, capsys, "sweep", ckpt, "--real", real, "--psi", "0.5,oops", "-q")
    assert code == 2 and err.count("\n") == 1 and "--psi holds something that is not a number" in err
    assert len(list((tmp_path / "reports").iterdir())) == 1  # a refused run leaves no report folder
