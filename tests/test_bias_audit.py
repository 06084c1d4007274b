"""The bias audit end to end on small inputs: fairness numbers equal fairlearn's on the same predictions,
prevalence and discrepancy against independently computed rates, reference handling, errors, the report
and the `ganeval bias` command."""

from __future__ import annotations

import csv
import json
import re
import sys
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
import torch
from fairlearn.metrics import (
    MetricFrame, demographic_parity_difference, demographic_parity_ratio, equal_opportunity_difference,
    equal_opportunity_ratio, equalized_odds_difference, equalized_odds_ratio, selection_rate, true_positive_rate,
)
from PIL import Image
from torch import nn

import ganeval.cli as cli
from ganeval import cli_bias
from ganeval.bias import BiasConfig, audit, load_attribute_classifier, save_attribute_classifier, write_bias_report
from ganeval.datasets.synthfaces import ATTRIBUTES, SynthFacesConfig, write_synthfaces
from ganeval.errors import BadInputError
from ganeval.generators import register_architecture, save_generator
from test_bias_planted import ATTRS, PlantedFaces, PlantedReader, planted_generator

SIZE = 16


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: torch on one thread


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    """240 labelled 16 px synthfaces with smiling tied to skin tone (so groups differ)."""
    out = tmp_path_factory.mktemp("faces") / "faces"
    write_synthfaces(out, SynthFacesConfig(n=240, size=SIZE, seed=4, correlations=((("skin_tone", "smiling"), -0.4),)))
    return out


class PixelAttr(nn.Module):
    """A fixed seeded conv net with one logit per synthfaces attribute, its biases set so that about half
    of `calibration` images are predicted positive for each attribute (arbitrary but varied predictions)."""

    def __init__(self, calibration: torch.Tensor) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(7)
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.head = nn.Linear(8, len(ATTRIBUTES))
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g))
            self.head.bias -= self(calibration).median(dim=0).values
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.conv(x)).mean(dim=(2, 3)))


@pytest.fixture(scope="module")
def pixel_classifier(faces, tmp_path_factory):
    from ganeval.datasets.synthfaces import load_synthfaces_folder

    data = load_synthfaces_folder(faces)
    module = PixelAttr(data.images.float() / 255)
    path = tmp_path_factory.mktemp("clf") / "pixel.pt"
    return load_attribute_classifier(save_attribute_classifier(module, path, ATTRIBUTES, input_size=SIZE, mean=0.0,
                                                               std=1.0))


@pytest.fixture(scope="module")
def planted_classifier(tmp_path_factory):
    path = tmp_path_factory.mktemp("planted") / "planted.pt"
    return load_attribute_classifier(save_attribute_classifier(PlantedReader(), path, ATTRS, input_size=32,
                                                               mean=0.0, std=1.0))


def _table(folder) -> tuple[np.ndarray, list[str]]:
    """The attribute table read with the csv module (independent of ganeval's reader)."""
    with open(folder / "attributes.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    return np.array([[int(v) for v in r[1:]] for r in rows[1:]]), rows[0][1:]


# -- fairness: equal to fairlearn ---------------------------------------------------------------------------


@pytest.mark.parametrize("method, agg", [("between_groups", "worst_case"), ("to_overall", "mean")])
def test_a_data_audit_gives_fairlearns_numbers(faces, pixel_classifier, method, agg):
    weights = np.random.default_rng(0).integers(0, 4, size=240).astype(float)
    config = BiasConfig(target="smiling", protected=("skin_tone", "hat"), method=method, agg=agg, n_boot=30)
    result = audit(pixel_classifier, data=faces, config=config, sample_weight=weights)
    labels, names = _table(faces)
    y_true = labels[:, names.index("smiling")]
    np.testing.assert_array_equal(result.truth["smiling"], y_true)
    y_pred = result.predictions[:, ATTRIBUTES.index("smiling")]
    assert 0.2 < y_pred.mean() < 0.8  # predictions are varied
    sf = pd.DataFrame({"skin_tone": labels[:, names.index("skin_tone")], "hat": labels[:, names.index("hat")]})
    kw = {"sensitive_features": sf, "method": method, "sample_weight": weights}
    expected = {
        "demographic_parity_difference": demographic_parity_difference(y_true, y_pred, **kw),
        "demographic_parity_ratio": demographic_parity_ratio(y_true, y_pred, **kw),
        "equalized_odds_difference": equalized_odds_difference(y_true, y_pred, agg=agg, **kw),
        "equalized_odds_ratio": equalized_odds_ratio(y_true, y_pred, agg=agg, **kw),
        "equal_opportunity_difference": equal_opportunity_difference(y_true, y_pred, **kw),
        "equal_opportunity_ratio": equal_opportunity_ratio(y_true, y_pred, **kw),
    }
    for name, value in expected.items():
        assert result.run.get(name).value == pytest.approx(value, abs=1e-12), name
    frame = MetricFrame(metrics={"selection_rate": selection_rate, "true_positive_rate": true_positive_rate},
                        y_true=y_true, y_pred=y_pred, sensitive_features=sf,
                        sample_params={"selection_rate": {"sample_weight": weights},
                                       "true_positive_rate": {"sample_weight": weights}})
    rows = {(r.metric, r.details["group"]): r.value for r in result.run.results if r.details.get("by")
            == "skin_tone × hat"}
    for (tone, hat), rates in frame.by_group.iterrows():
        for metric in ("selection_rate", "true_positive_rate"):
            assert rows[(metric, f"skin_tone={tone}, hat={hat}")] == pytest.approx(rates[metric], abs=1e-12)
    # the MetricFrame-like object is handed to the user
    assert result.frame.overall["selection_rate"] == pytest.approx(frame.overall["selection_rate"], abs=1e-12)


def test_a_conditional_generator_audit_gives_fairlearns_numbers(planted_classifier):
    gen = planted_generator(dp_bias=0.6, conditional=True)
    result = audit(planted_classifier, generator=gen,
                   config=BiasConfig(target="smiling", protected=("skin_tone",), n=300, n_boot=20))
    y_true = np.arange(600) % 2  # balanced classes: sample i has class i mod 2 = smiling
    y_pred = result.predictions[:, ATTRS.index("smiling")]
    tone = result.predictions[:, ATTRS.index("skin_tone")]
    assert result.run.get("equalized_odds_difference").value == pytest.approx(
        equalized_odds_difference(y_true, y_pred, sensitive_features=tone), abs=1e-12)
    assert result.run.get("equal_opportunity_ratio").value == pytest.approx(
        equal_opportunity_ratio(y_true, y_pred, sensitive_features=tone), abs=1e-12)
    assert result.run.get("demographic_parity_difference").value == pytest.approx(
        demographic_parity_difference(y_true, y_pred, sensitive_features=tone), abs=1e-12)


def test_every_fairness_number_has_a_seeded_interval(faces, pixel_classifier):
    config = BiasConfig(target="smiling", protected=("skin_tone",), n_boot=40, boot_seed=9)
    a = audit(pixel_classifier, data=faces, config=config)
    b = audit(pixel_classifier, data=faces, config=config)
    for ra, rb in zip(a.run.results, b.run.results):
        assert ra.metric == rb.metric and ra.value == rb.value
        assert (ra.ci_low, ra.ci_high) == (rb.ci_low, rb.ci_high)
        assert ra.ci_low is not None and ra.ci_level == 0.95 and ra.n_boot == 40, ra.metric
    other = audit(pixel_classifier, data=faces, config=BiasConfig(target="smiling", protected=("skin_tone",),
                                                                  n_boot=40, boot_seed=10))
    assert other.run.get("selection_rate_gap").ci_low != a.run.get("selection_rate_gap").ci_low
    none = audit(pixel_classifier, data=faces, config=BiasConfig(target="smiling", protected=("skin_tone",), ci=None))
    assert all(r.ci_low is None for r in none.run.results)


# -- prevalence and discrepancy ----------------------------------------------------------------------------


def _joint_l1(a: np.ndarray, b: np.ndarray) -> float:
    k = a.shape[1]
    codes = lambda m: m @ (2 ** np.arange(k - 1, -1, -1))  # noqa: E731
    pa = np.bincount(codes(a), minlength=2**k) / len(a)
    pb = np.bincount(codes(b), minlength=2**k) / len(b)
    return float(np.abs(pa - pb).sum())


def test_prevalence_against_labelled_real_images(faces, planted_classifier):
    gen = planted_generator(shared=0.5)
    result = audit(planted_classifier, generator=gen, real=faces, config=BiasConfig(n=200, n_boot=30))
    labels, names = _table(faces)
    real = labels[:, [names.index(n) for n in ATTRS]]
    generated = result.predictions
    rows = {(r.metric, r.details.get("group")): r for r in result.run.results}
    for j, name in enumerate(ATTRS):
        assert rows[("prevalence_real", name)].value == pytest.approx(real[:, j].mean())
        assert rows[("prevalence_generated", name)].value == pytest.approx(generated[:, j].mean())
        diff = rows[("prevalence_difference", name)]
        assert diff.value == pytest.approx(generated[:, j].mean() - real[:, j].mean())
        assert diff.ci_low <= diff.value <= diff.ci_high
        assert diff.n_real == 240 and diff.n_fake == 200
    assert rows[("discrepancy_l1", "all")].value == pytest.approx(_joint_l1(generated, real))
    assert result.run.provenance["inputs"]["real"]["source"] == "labels"
    # co-occurrence: phi of each pair = numpy's Pearson correlation of the 0/1 columns
    phi_real, phi_gen = np.corrcoef(real.T.astype(float)), np.corrcoef(generated.T.astype(float))
    for i, a in enumerate(ATTRS):
        for j in range(i + 1, len(ATTRS)):
            pair = f"{a}:{ATTRS[j]}"
            assert rows[("phi_real", pair)].value == pytest.approx(phi_real[i, j])
            assert rows[("phi_generated", pair)].value == pytest.approx(phi_gen[i, j])
            d = rows[("phi_difference", pair)]
            assert d.value == pytest.approx(phi_gen[i, j] - phi_real[i, j]) and d.ci_low <= d.ci_high
    # the faces tie smiling to skin tone (phi -0.4 planted); the labels show it
    assert rows[("phi_real", "skin_tone:smiling")].ci_high < -0.2
    # a uniform reference without --real
    alone = audit(planted_classifier, generator=gen, config=BiasConfig(n=200, n_boot=30))
    u = {(r.metric, r.details.get("group")): r.value for r in alone.run.results}
    assert u[("prevalence_difference", "hat")] == pytest.approx(generated[:, 1].mean() - 0.5)
    codes = generated @ (2 ** np.arange(3, -1, -1))
    q = np.bincount(codes, minlength=16) / 200
    assert u[("discrepancy_l2", "all")] == pytest.approx(np.sqrt(((q - 1 / 16) ** 2).sum()))


def test_an_unlabelled_real_folder_is_classified(tmp_path, planted_classifier):
    gen = planted_generator(shared=0.5)
    first = audit(planted_classifier, generator=gen, config=BiasConfig(n=120, ci=None))
    folder = tmp_path / "same-images"
    folder.mkdir()
    for i, im in enumerate(first.images.numpy()[:32].transpose(0, 2, 3, 1)):
        Image.fromarray(im).save(folder / f"{i:03d}.png")
    result = audit(planted_classifier, generator=gen, real=folder, config=BiasConfig(n=32, ci=None))
    assert result.run.provenance["inputs"]["real"]["source"] == "classified"
    for r in result.run.results:  # the same 32 images on both sides (PNG is lossless)
        if r.metric == "prevalence_difference" or r.metric.startswith("discrepancy"):
            assert r.value == pytest.approx(0.0, abs=1e-12), r.metric


def test_classify_real_uses_the_classifier_on_a_labelled_folder(faces, pixel_classifier):
    from ganeval.datasets.synthfaces import load_synthfaces_folder

    gen_like = audit(pixel_classifier, data=faces, config=BiasConfig(ci=None))
    images = load_synthfaces_folder(faces).images
    predicted = (pixel_classifier.probabilities(images) >= 0.5).mean(axis=0)
    rows = {r.details["group"]: r.value for r in gen_like.run.results if r.metric == "prevalence_predicted"}
    assert rows == pytest.approx(dict(zip(ATTRIBUTES, predicted)))
    accuracy = {r.details["group"]: r.value for r in gen_like.run.results if r.metric == "classifier_accuracy"}
    labels, names = _table(faces)
    for j, name in enumerate(ATTRIBUTES):
        assert accuracy[name] == pytest.approx((gen_like.predictions[:, j] == labels[:, names.index(name)]).mean())


# -- settings and errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize("config, match", [
    (BiasConfig(target="smiling", protected=("smiling",)), "cannot also be a protected"),
    (BiasConfig(protected=("skin_tone",)), "--protected needs --target"),
    (BiasConfig(associations=True), "--associations needs --target"),
    (BiasConfig(target="smiling", method="worst"), "--method must be one of"),
    (BiasConfig(target="smiling", agg="max"), "--agg must be one of"),
    (BiasConfig(target="smiling", threshold=1.0), "--threshold"),
    (BiasConfig(target="beard"), "has no attribute 'beard'"),
])
def test_bad_settings_are_one_line_errors(planted_classifier, config, match):
    with pytest.raises(BadInputError, match=match) as err:
        audit(planted_classifier, generator=planted_generator(), config=config)
    assert "\n" not in str(err.value)


def test_inputs_must_be_a_generator_or_labelled_data(faces, planted_classifier):
    with pytest.raises(BadInputError, match="either a generator"):
        audit(planted_classifier, config=BiasConfig())
    with pytest.raises(BadInputError, match="either a generator"):
        audit(planted_classifier, generator=planted_generator(), data=faces)
    with pytest.raises(BadInputError, match="needs --generator"):
        audit(planted_classifier, data=faces, config=BiasConfig(target="hat", associations=True))
    with pytest.raises(BadInputError, match="sample weights: 5 given for 64"):
        audit(planted_classifier, generator=planted_generator(),
              config=BiasConfig(target="hat", protected=("skin_tone",), n=64), sample_weight=np.ones(5))


# -- report --------------------------------------------------------------------------------------------------


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.headings: list[str] = []
        self.images: list[str] = []
        self.cells: dict[tuple[str, str], str] = {}
        self._in_h2 = False
        self._row_key: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "h2":
            self._in_h2 = True
        if tag == "img":
            self.images.append(a.get("src", ""))
        if tag == "tr":
            self._row_key = a.get("data-key")
        if tag == "td" and self._row_key and a.get("data-field") and a.get("data-value"):
            self.cells[(self._row_key, a["data-field"])] = a["data-value"]

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in_h2 = False

    def handle_data(self, data):
        if self._in_h2 and data.strip():
            self.headings.append(data.strip())


def test_the_report_shows_every_part(tmp_path, planted_classifier, faces):
    config = BiasConfig(target="hat", protected=("skin_tone",), n=150, n_boot=30, associations=True,
                        n_associations=40, steps=3)
    result = audit(planted_classifier, generator=planted_generator(shared=0.8), real=faces, config=config)
    paths = write_bias_report(result, tmp_path / "report")
    page = _Page()
    page.feed(paths["html"].read_text())
    titles = " | ".join(page.headings)
    for title in ("Bias audit summary", "Prevalence: generated vs real",
                  "Co-occurrence: which attributes go together (generated vs real)",
                  "Group fairness: hat across skin_tone",
                  "Implicit associations with hat", "By attribute", "By skin_tone", "By association with hat",
                  "Provenance"):
        assert title in titles, title
    assert page.images and all(src.startswith("data:image/png;base64,") for src in page.images)
    # the audit's own parts come right after the summary and headline, before the table of every row
    order = [next(i for i, h in enumerate(page.headings) if h.startswith(t)) for t in
             ("Bias audit summary", "Headline", "Prevalence", "Co-occurrence", "Group fairness", "Implicit",
              "All results", "Provenance")]
    assert order == sorted(order), page.headings
    data = json.loads(paths["json"].read_text())
    assert data["provenance"]["kind"] == "bias"
    assert data["provenance"]["extractor"]["weights_sha256"] == planted_classifier.sha256
    by_label = {}
    for r in data["results"]:
        d = r["details"]
        label = r["metric"] + (f" [{d['by']}={d['group']}]" if "by" in d else "")
        by_label[label] = r
    # the "All results" table carries the exact values of results.json
    for label, r in by_label.items():
        if r["value"] is not None and (label, "value") in page.cells:
            assert float(page.cells[(label, "value")]) == r["value"]
    df = pd.read_csv(paths["csv"])
    assert len(df) == len(data["results"])
    assert set(df["weights_sha256"]) == {planted_classifier.sha256}
    glasses = by_label["association_covariance [association with hat=glasses]"]
    assert glasses["details"]["rank"] == 1 and glasses["ci_low"] > 0
    summary = paths["html"].read_text()
    assert re.search(r"glasses \(\+, covariance", summary)


# -- the command ---------------------------------------------------------------------------------------------


class _PlantedArch(PlantedFaces):
    def __init__(self, shared: float = 0.0, dp_bias: float = 0.0) -> None:
        super().__init__(shared=shared, dp_bias=dp_bias)


def _checkpoint(tmp_path, **config):
    from ganeval.generators import LatentSpec

    register_architecture("test-planted-faces", _PlantedArch)
    latent = LatentSpec(z_dim=16, output_range=(0.0, 1.0), image_shape=(3, 32, 32))
    return save_generator(tmp_path / "planted.pt", _PlantedArch(**config), "test-planted-faces", config, latent,
                          {"trainer": "test"})


@pytest.fixture(autouse=True)
def reports_root(tmp_path, monkeypatch):
    """Reports written without --out go under a temporary root, never into the checkout's reports/."""
    root = tmp_path / "reports-root"
    monkeypatch.setenv("GANEVAL_REPORTS_DIR", str(root))
    return root


def _run(monkeypatch, capsys, *args):
    if not any(c.name == "bias" for c in cli.app.registered_commands):
        cli_bias.register(cli.app)
    monkeypatch.setattr(sys, "argv", ["ganeval", "bias", *args])
    with pytest.raises(SystemExit) as exc:
        cli.main()
    out = capsys.readouterr()
    return exc.value.code or 0, out.out, out.err


def test_the_command_audits_a_generator_checkpoint(tmp_path, monkeypatch, capsys, planted_classifier, faces):
    ckpt = _checkpoint(tmp_path, dp_bias=1.0)
    weights = tmp_path / "w.txt"
    weights.write_text("\n".join(["1"] * 200))
    code, out, err = _run(monkeypatch, capsys, "--classifier", planted_classifier.path, "--generator", str(ckpt),
                          "--real", str(faces), "--target", "smiling", "--protected", "skin_tone", "-n", "200",
                          "--n-boot", "30", "--sample-weights", str(weights), "--out", str(tmp_path / "rep"), "-q")
    assert code == 0, err
    assert "demographic_parity_difference" in out and "selection_rate_gap" in out
    assert "skin_tone=0 minus skin_tone=1" in out and "a real gap" in out
    assert "discrepancy_l1 [protected]" in out  # printed as text, not eaten as rich markup
    assert "co-occurrence (phi of each pair" in out and "skin_tone:smiling" in out
    data = json.loads((tmp_path / "rep" / "results.json").read_text())
    api = audit(planted_classifier, generator=ckpt, real=faces,
                config=BiasConfig(target="smiling", protected=("skin_tone",), n=200, n_boot=30))
    assert [r["value"] for r in data["results"]] == pytest.approx([r.value for r in api.run.results], nan_ok=True)


def test_the_command_audits_a_classifier_on_labelled_data(monkeypatch, capsys, pixel_classifier, faces,
                                                           reports_root):
    code, out, err = _run(monkeypatch, capsys, "--classifier", pixel_classifier.path, "--data", str(faces),
                          "--target", "smiling", "--protected", "skin_tone", "--no-ci", "-q")
    assert code == 0, err
    assert "equal_opportunity_difference" in out and "classifier_accuracy" in out
    # without --out the report goes to $GANEVAL_REPORTS_DIR/YYYYmmdd-HHMMSS-bias (docs/reports.md)
    (folder,) = reports_root.iterdir()
    assert re.fullmatch(r"\d{8}-\d{6}-bias", folder.name)
    assert {p.name for p in folder.iterdir()} == {"index.html", "results.json", "results.csv"}
    assert str(folder / "index.html") in err.replace("\n", "")


@pytest.mark.parametrize("args, match", [
    (["--target", "beard"], "has no attribute 'beard'"),
    (["--target", "hat", "--method", "pairwise"], "--method must be one of"),
    (["--target", "hat", "--protected", "skin_tone", "--sample-weights", "MISSING"], "no such sample-weights file"),
])
def test_the_command_reports_bad_input_in_one_line(tmp_path, monkeypatch, capsys, planted_classifier, args, match):
    ckpt = _checkpoint(tmp_path)
    args = [str(tmp_path / a) if a == "MISSING" else a for a in args]
    code, out, err = _run(monkeypatch, capsys, "--classifier", planted_classifier.path, "--generator", str(ckpt),
                          "-n", "20", "-q", *args)
    assert code == 2
    assert re.search(match, err) and len(err.strip().splitlines()) == 1, err
    code, out, err = _run(monkeypatch, capsys, "--classifier", str(tmp_path / "nope.pt"), "--generator", str(ckpt))
    assert code == 2 and "nope.pt" in err
