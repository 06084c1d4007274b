"""`ganeval edit`: planted effects the edit must produce, and the entanglement table must show.

The planted generator paints four horizontal bands of an 8x8 RGB image, band k with brightness
sigmoid(s_k(z)), s_k a projection of z (16-d) on orthonormal directions u_k:

    smiling (the edited attribute):  s_0 = 2 z.u_0
    glasses (planted entangled):      s_1 = 2 (z.u_1 + shared * z.u_0)   -- shares smiling's direction
    hat     (independent):            s_2 = 2 z.u_2
    beard   (class for conditional):  s_3 = 2 z.u_3 (+ 6 (2c - 1) for class c of a conditional generator)

The planted classifier reads each band's mean brightness m_k back, logit_k = 8 (m_k - 0.5), through the
real loading path (TorchScript file written by save_attribute_classifier, loaded by
load_attribute_classifier).
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch
from torch import nn

from ganeval import cli
from ganeval.bias import load_attribute_classifier, save_attribute_classifier
from ganeval.edit import EditConfig, changes_to_entanglement, edit_generator, frame_steps, run_edit
from ganeval.errors import BadInputError
from ganeval.generators import LatentSpec, LoadedGenerator, register_architecture, save_generator

ATTRS = ("smiling", "glasses", "hat", "beard")
Z_DIM = 16
SIZE = 8


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: torch on one thread


class PlantedBands(nn.Module):
    """z (N, 16) [, labels (N,)] -> (N, 3, 8, 8) in [-1, 1] with the planted bands of the module docstring."""

    def __init__(self, shared: float = 0.0, conditional: bool = False, seed: int = 0) -> None:
        super().__init__()
        q, _ = torch.linalg.qr(torch.randn(Z_DIM, Z_DIM, generator=torch.Generator().manual_seed(seed)))
        self.register_buffer("u", q[:, :4].T.contiguous())
        self.shared, self.conditional = float(shared), bool(conditional)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        p = z @ self.u.T
        s = torch.stack([p[:, 0], p[:, 1] + self.shared * p[:, 0], p[:, 2], p[:, 3]], dim=1) * 2
        if self.conditional:
            s = s + torch.stack([torch.zeros_like(s[:, 0])] * 3 + [6.0 * (2 * labels.float() - 1)], dim=1)
        bands = torch.sigmoid(s)[:, :, None].expand(-1, -1, 2).reshape(len(z), SIZE)  # 4 bands of 2 rows
        img = bands[:, None, :, None].expand(-1, 3, SIZE, SIZE)
        return img * 2 - 1


class BandReader(nn.Module):
    """(N, 3, 8, 8) pixels in [0, 1] -> (N, 4) logits 8 (band mean - 0.5)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.mean(dim=(1, 3))  # (N, 8)
        return 8.0 * (rows.reshape(-1, 4, 2).mean(dim=2) - 0.5)


register_architecture("test-planted-bands", lambda shared=0.0, conditional=False, seed=0:
                      PlantedBands(shared, conditional, seed))


def latent_spec(conditional: bool = False) -> LatentSpec:
    return LatentSpec(z_dim=Z_DIM, n_classes=2 if conditional else 0,
                      class_names=("beard=0", "beard=1") if conditional else (), output_range=(-1.0, 1.0),
                      image_shape=(3, SIZE, SIZE))


def planted(shared: float = 0.0, conditional: bool = False) -> LoadedGenerator:
    return LoadedGenerator(module=PlantedBands(shared, conditional).eval(), architecture="test-planted-bands",
                           config={"shared": shared, "conditional": conditional}, latent=latent_spec(conditional))


@pytest.fixture(scope="module")
def classifier_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("clf") / "bands.pt"
    save_attribute_classifier(BandReader(), path, ATTRS, input_size=SIZE, mean=0.0, std=1.0)
    return path


@pytest.fixture(scope="module")
def classifier(classifier_path):
    return load_attribute_classifier(classifier_path)


def config(**kw) -> EditConfig:
    base = dict(attribute="smiling", steps=8, strength=0.25, n=60, seed=3, n_boot=200, preview=4, frames=5)
    base.update(kw)
    return EditConfig(**base)


def col(name: str) -> int:
    return ATTRS.index(name)


def test_the_reader_reads_the_bands(classifier):
    """Sanity of the fixture: the saved classifier returns 8 (sigmoid(s_k) - 0.5) exactly."""
    gen = planted(shared=0.5)
    z = torch.randn(20, Z_DIM, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        x = (gen.module(z) + 1) / 2
        p = z @ gen.module.u.T
        s = torch.stack([p[:, 0], p[:, 1] + 0.5 * p[:, 0], p[:, 2], p[:, 3]], dim=1) * 2
    torch.testing.assert_close(classifier.logits_from_unit(x), 8 * (torch.sigmoid(s) - 0.5), atol=1e-5, rtol=0)


def test_the_target_rises_monotonically_and_an_entangled_attribute_follows(classifier):
    edit = edit_generator(planted(shared=0.8), classifier, config())
    means = edit.step_means[:, col("smiling")]
    assert (np.diff(means) > 0).all()
    assert edit.run.get("target_monotone_fraction").value == 1.0
    # with more steps the target climbs further (the path of 8 steps is the start of the path of 16)
    longer = edit_generator(planted(shared=0.8), classifier, config(steps=16))
    assert longer.entanglement.value("smiling") > edit.entanglement.value("smiling") > 0.1
    t = edit.entanglement
    # glasses shares smiling's direction: it rises with it, its interval excludes 0
    assert t.value("glasses") > 0.3 * t.value("smiling")
    assert t.interval("probability_change", "glasses")[0] > 0
    # hat and beard depend on directions orthogonal to the gradient: they do not move
    for name in ("hat", "beard"):
        assert abs(t.value(name)) < 1e-4 and t.value(name, "abs_probability_change") < 1e-4


def test_without_sharing_the_other_attributes_stay_put(classifier):
    t = edit_generator(planted(shared=0.0), classifier, config()).entanglement
    assert t.value("smiling") > 0.1
    for name in ("glasses", "hat", "beard"):
        assert t.value(name, "abs_probability_change") < 1e-4


def test_the_penalty_holds_the_entangled_attribute_while_the_target_still_rises(classifier):
    free = edit_generator(planted(shared=0.8), classifier, config()).entanglement
    held = edit_generator(planted(shared=0.8), classifier, config(penalty=1.0)).entanglement
    kept = edit_generator(planted(shared=0.8), classifier, config(keep=("glasses",))).entanglement
    for t in (held, kept):
        assert t.value("glasses", "abs_probability_change") < 0.25 * free.value("glasses", "abs_probability_change")
        assert t.value("smiling") > 0.5 * free.value("smiling")
        assert t.interval("probability_change", "smiling")[0] > 0


def test_negative_strength_moves_away(classifier):
    edit = edit_generator(planted(shared=0.8), classifier, config(strength=-0.25))
    assert (np.diff(edit.step_means[:, col("smiling")]) < 0).all()
    assert edit.entanglement.value("glasses") < 0
    assert edit.run.get("target_monotone_fraction").value == 1.0


def test_a_conditional_generator_keeps_its_class(classifier):
    edit = edit_generator(planted(shared=0.8, conditional=True), classifier, config(class_index=1))
    torch.testing.assert_close(edit.path.labels, torch.ones(60, dtype=torch.int64))
    t = edit.entanglement
    assert t.start[col("beard")] > 0.9 and t.end[col("beard")] > 0.9  # class 1 = beard, before and after
    assert t.value("smiling") > 0.1
    balanced = edit_generator(planted(conditional=True), classifier, config())
    np.testing.assert_array_equal(balanced.path.labels.numpy(), np.arange(60) % 2)


def test_determinism_for_a_seed(classifier):
    a = edit_generator(planted(shared=0.8), classifier, config())
    b = edit_generator(planted(shared=0.8), classifier, config())
    assert torch.equal(a.path.z, b.path.z) and torch.equal(a.strips, b.strips)
    assert [r.to_dict() for r in a.run.results] == [r.to_dict() for r in b.run.results]
    c = edit_generator(planted(shared=0.8), classifier, config(seed=4))
    assert not torch.equal(a.path.z[0], c.path.z[0])


def test_entanglement_math_against_numpy():
    rng = np.random.default_rng(0)
    p0, p1 = rng.random((50, 3)), rng.random((50, 3))
    t = changes_to_entanglement(p0, p1, ("a", "b", "c"), "b", n_boot=100, seed=7)
    np.testing.assert_allclose(t.change, (p1 - p0).mean(axis=0))
    np.testing.assert_allclose(t.abs_change, np.abs(p1 - p0).mean(axis=0))
    draw = np.random.default_rng(7)
    reps = np.array([(p1 - p0)[draw.integers(0, 50, size=50)].mean(axis=0) for _ in range(100)])
    lo, hi = np.quantile(reps, [0.025, 0.975], axis=0)
    np.testing.assert_allclose(t.intervals["probability_change"], np.stack([lo, hi], axis=1), rtol=1e-12)


def test_frames_are_evenly_spaced_and_keep_the_ends():
    assert frame_steps(8, 5) == (0, 2, 4, 6, 8)
    assert frame_steps(3, 9) == (0, 1, 2, 3)
    assert frame_steps(10, 2) == (0, 10)


def test_bad_attribute_names_are_one_line_errors(classifier, classifier_path):
    with pytest.raises(BadInputError, match=r"has no attribute 'smiles' \(it has: smiling, glasses, hat, beard\)"):
        edit_generator(planted(), classifier, config(attribute="smiles"))
    with pytest.raises(BadInputError, match=r"bands\.pt has no attribute 'glases' to --keep"):
        edit_generator(planted(), classifier, config(keep=("glases",)))
    with pytest.raises(BadInputError, match="the attribute being edited"):
        edit_generator(planted(), classifier, config(keep=("smiling",)))
    with pytest.raises(BadInputError, match="--strength"):
        edit_generator(planted(), classifier, config(strength=0.0))
    with pytest.raises(BadInputError, match="--class must be in 0..1"):
        edit_generator(planted(conditional=True), classifier, config(class_index=5))


def run_cli(monkeypatch, capsys, *args) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["ganeval", *map(str, args)])
    with pytest.raises(SystemExit) as exc:
        cli.main()
    captured = capsys.readouterr()
    code = exc.value.code if isinstance(exc.value.code, int) else (0 if exc.value.code is None else 1)
    return code, captured.out, captured.err


@pytest.fixture()
def checkpoint(tmp_path):
    gen = planted(shared=0.8, conditional=True)
    path = tmp_path / "bands.pt"
    save_generator(path, gen.module, "test-planted-bands", gen.config, gen.latent, {"trainer": "test"})
    return path


def test_cli_writes_the_report(monkeypatch, capsys, checkpoint, classifier_path, tmp_path):
    out = tmp_path / "report"
    code, stdout, stderr = run_cli(monkeypatch, capsys, "edit", checkpoint, "--classifier", classifier_path,
                                   "--attribute", "smiling", "--steps", "6", "--strength", "0.3", "--keep",
                                   "glasses", "-n", "30", "--seed", "2", "--n-boot", "100", "--out", out)
    assert code == 0, stderr
    assert "glasses" in stdout and "penalised" in stdout
    for name in ("index.html", "results.json", "results.csv", "before.png", "after.png", "strips.png"):
        assert (out / name).is_file(), name
    data = json.loads((out / "results.json").read_text())
    rows = {(r["metric"], r["details"].get("group")): r for r in data["results"]}
    # the report holds the library's numbers for the same settings
    lib = run_edit(checkpoint, classifier_path, EditConfig(attribute="smiling", steps=6, strength=0.3,
                                                           keep=("glasses",), n=30, seed=2, n_boot=100))
    for name in ATTRS:
        r = rows[("probability_change", name)]
        assert r["value"] == pytest.approx(lib.entanglement.value(name), abs=1e-12)
        assert r["ci_low"] is not None and r["ci_low"] <= r["value"] <= r["ci_high"]
    assert rows[("probability_change", "glasses")]["details"]["role"] == "penalised"
    assert data["provenance"]["kind"] == "edit"
    assert data["provenance"]["inputs"]["generator"]["checkpoint_sha256"]
    html = (out / "index.html").read_text()
    assert "Entanglement" in html and "Edit strips" in html


def test_cli_bad_attribute_exits_2_with_one_line(monkeypatch, capsys, checkpoint, classifier_path, tmp_path):
    code, stdout, stderr = run_cli(monkeypatch, capsys, "edit", checkpoint, "--classifier", classifier_path,
                                   "--attribute", "smile", "--out", tmp_path / "r")
    assert code == 2
    assert len(stderr.strip().splitlines()) == 1
    assert "bands.pt has no attribute 'smile'" in stderr
    assert not (tmp_path / "r").exists()
    code, _, stderr = run_cli(monkeypatch, capsys, "edit", tmp_path / "missing.pt", "--classifier", classifier_path,
                              "--attribute", "smiling")
    assert code == 2 and "missing.pt" in stderr
