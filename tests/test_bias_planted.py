"""Planted effects the bias audit must find, and their absence it must not invent (fast, differentiable).

The planted generator draws synthfaces-like images from latents: attribute k's region (its pixel
difference on one rendered face) is painted with strength sigmoid(3 s_k(z)), s_k a projection of z on
an orthonormal direction. Planted effects are written into the s_k:

    glasses:  s_glasses = z.u_glasses + shared * z.u_hat + 0.5 tanh(3 z.u_xi) z.u_hat
              shared > 0 ties glasses to hats; the tanh term adds hat-dependent noise of random sign
              (z.u_xi is independent of everything else), so that with shared = 0 the changes are
              noisy but not associated, and the interval must contain 0
    smiling:  s_smiling = z.u_smiling - dp_bias * tanh(4 z.u_skin)   (dark skin smiles less)
    class c:  for a conditional generator, s_smiling += 4 (2c - 1) (class c = smiling=c)

The planted classifier reads each attribute's strength back exactly (least squares on the region
differences), logit = 8 (strength - 0.5). Everything runs through the audit's real code path: the
generator as a LoadedGenerator, the classifier saved to a TorchScript file and loaded back.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from ganeval.bias import BiasConfig, audit, load_attribute_classifier, save_attribute_classifier
from ganeval.bias.associations import changes_to_associations
from ganeval.datasets import synthfaces as SF
from ganeval.generators import LatentSpec, LoadedGenerator
from ganeval.latent_edit import latent_steps

ATTRS = ("skin_tone", "hat", "glasses", "smiling")
SIZE = 32
Z_DIM = 16


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: torch on one thread


def face_templates(size: int = SIZE, seed: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """(base (3, S, S), deltas (K, 3, S, S)) in [0, 1] units: a face with no attribute, and what switching
    on each of ATTRS alone changes (synthfaces' renderer, one fixed nuisance)."""
    nz = SF.Nuisance.from_uniforms(np.random.default_rng(seed).random(len(SF.NUISANCE_FIELDS)))
    base = SF.render_face([0] * len(SF.ATTRIBUTES), nz, size).astype(np.float64) / 255
    deltas = []
    for name in ATTRS:
        values = [0] * len(SF.ATTRIBUTES)
        values[SF.ATTRIBUTES.index(name)] = 1
        deltas.append(SF.render_face(values, nz, size).astype(np.float64) / 255 - base)
    return (torch.tensor(base).permute(2, 0, 1).float(),
            torch.tensor(np.stack(deltas)).permute(0, 3, 1, 2).float())


class PlantedFaces(nn.Module):
    """z (N, 16) [, labels (N,)] -> images (N, 3, 32, 32) in [0, 1] with the planted effects above."""

    def __init__(self, shared: float = 0.0, dp_bias: float = 0.0, conditional: bool = False, seed: int = 0) -> None:
        super().__init__()
        base, deltas = face_templates()
        self.register_buffer("base", base)
        self.register_buffer("deltas", deltas)
        q, _ = torch.linalg.qr(torch.randn(Z_DIM, Z_DIM, generator=torch.Generator().manual_seed(seed)))
        self.register_buffer("u", q[:, :5].T.contiguous())  # skin, hat, glasses, smiling, xi: orthonormal
        self.shared, self.dp_bias, self.conditional = shared, dp_bias, conditional

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        skin, hat, glasses, smiling, xi = (z @ self.u.T).unbind(dim=1)
        glasses = glasses + self.shared * hat + 0.5 * torch.tanh(3 * xi) * hat
        smiling = smiling - self.dp_bias * torch.tanh(4 * skin)
        if self.conditional:
            smiling = smiling + 4.0 * (2 * labels.float() - 1)
        strength = torch.sigmoid(3 * torch.stack([skin, hat, glasses, smiling], dim=1))
        return self.base + torch.einsum("nk,kchw->nchw", strength, self.deltas)


class PlantedReader(nn.Module):
    """(N, 3, 32, 32) pixels in [0, 1] -> (N, 4) logits 8 (strength - 0.5), strengths by least squares."""

    def __init__(self, gain: float = 8.0) -> None:
        super().__init__()
        base, deltas = face_templates()
        d = deltas.flatten(1).T.double()
        self.register_buffer("w", (torch.linalg.pinv(d) * gain).float())
        self.register_buffer("base", base.flatten())
        self.gain = gain

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.flatten(1) - self.base) @ self.w.T - self.gain * 0.5


def planted_generator(**kwargs) -> LoadedGenerator:
    conditional = kwargs.get("conditional", False)
    latent = LatentSpec(z_dim=Z_DIM, n_classes=2 if conditional else 0,
                        class_names=("smiling=0", "smiling=1") if conditional else (),
                        output_range=(0.0, 1.0), image_shape=(3, SIZE, SIZE))
    return LoadedGenerator(module=PlantedFaces(**kwargs).eval(), architecture="planted-faces", config=dict(kwargs),
                           latent=latent)


@pytest.fixture(scope="module")
def planted_classifier(tmp_path_factory):
    path = tmp_path_factory.mktemp("clf") / "planted.pt"
    save_attribute_classifier(PlantedReader(), path, ATTRS, input_size=SIZE, mean=0.0, std=1.0)
    return load_attribute_classifier(path)


def test_the_planted_reader_reads_the_planted_strengths(planted_classifier):
    """Sanity of the fixture itself: the saved classifier recovers the generator's strengths."""
    gen = planted_generator(shared=0.8)
    z = torch.randn(64, Z_DIM, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        images = gen.module(z)
        skin, hat, glasses, smiling, xi = (z @ gen.module.u.T).unbind(dim=1)
        glasses = glasses + 0.8 * hat + 0.5 * torch.tanh(3 * xi) * hat
        strength = torch.sigmoid(3 * torch.stack([skin, hat, glasses, smiling], dim=1))
        logits = planted_classifier.logits_from_unit(images)
    torch.testing.assert_close(logits, 8 * (strength - 0.5), atol=1e-3, rtol=0)


# -- implicit associations ----------------------------------------------------------------------------------


def _associations(planted_classifier, shared: float):
    config = BiasConfig(target="hat", n=400, seed=0, associations=True, n_associations=300, steps=8, step_size=0.25,
                        n_boot=400, boot_seed=1)
    return audit(planted_classifier, generator=planted_generator(shared=shared), config=config).associations


def test_a_shared_latent_direction_is_found_with_its_sign(planted_classifier):
    positive = _associations(planted_classifier, 0.8)
    assert positive.names[positive.top[0]] == "glasses"
    assert positive.covariance[positive.names.index("glasses")] > 0
    assert positive.excludes_zero("glasses") and positive.excludes_zero("glasses", "correlation")
    assert positive.interval("correlation", "glasses")[0] > 0.5
    negative = _associations(planted_classifier, -0.8)
    assert negative.names[negative.top[0]] == "glasses"
    assert negative.covariance[negative.names.index("glasses")] < 0 and negative.excludes_zero("glasses")
    # attributes on other, untouched directions move only by float32 round-off (systematic, so their
    # covariance intervals may exclude 0 at the 1e-8 level): negligible next to the planted effect, and
    # either reported as not moving (no correlation, below MIN_CHANGE_SD) or uncorrelated
    for assoc in (positive, negative):
        for name in ("skin_tone", "smiling"):
            j = assoc.names.index(name)
            assert abs(assoc.covariance[j]) < 1e-6 * abs(assoc.covariance[assoc.names.index("glasses")])
            assert np.isnan(assoc.correlation[j]) or abs(assoc.correlation[j]) < 0.1


def test_independent_directions_give_no_association(planted_classifier):
    assoc = _associations(planted_classifier, 0.0)
    i = assoc.names.index("glasses")
    low, high = assoc.interval("covariance", "glasses")
    assert low < 0 < high
    # the interval is not degenerate: the planted hat-dependent noise moves glasses in both directions
    assert high - low > 1e-3
    for stat in ("correlation", "mean_change_toward", "mean_change_away"):
        low, high = assoc.interval(stat, "glasses")
        assert low < 0 < high, (stat, low, high)
    assert abs(assoc.correlation[i]) < 0.15
    for name in ("skin_tone", "smiling"):
        assert abs(assoc.covariance[assoc.names.index(name)]) < 1e-6


def test_latent_steps_move_the_target_and_follow_the_gradient(planted_classifier):
    gen = planted_generator(shared=0.0)
    forward = lambda z, labels: planted_classifier.logits_from_unit(gen.module(z))  # noqa: E731
    z = torch.randn(50, Z_DIM, generator=torch.Generator().manual_seed(4))
    toward = latent_steps(forward, z, ATTRS.index("hat"), steps=6, step_size=0.3)
    away = latent_steps(forward, z, ATTRS.index("hat"), direction=-1, steps=6, step_size=0.3)
    hat = ATTRS.index("hat")
    assert (toward.change()[:, hat] > 0).all() and (away.change()[:, hat] < 0).all()
    # normalised steps: every step has exactly the step length
    lengths = (toward.z[1:] - toward.z[:-1]).norm(dim=2)
    torch.testing.assert_close(lengths, torch.full_like(lengths, 0.3), atol=1e-5, rtol=0)
    # the hat logit depends on z only through z.u_hat: every step is along +u_hat
    u_hat = gen.module.u[1]
    cos = ((toward.z[-1] - toward.z[0]) @ u_hat) / (toward.z[-1] - toward.z[0]).norm(dim=1)
    torch.testing.assert_close(cos, torch.ones_like(cos), atol=1e-4, rtol=0)
    # the recorded logits are the classifier's at the recorded latents
    torch.testing.assert_close(toward.logits[-1], forward(toward.z_end, None).detach(), atol=1e-5, rtol=0)


# -- demographic parity --------------------------------------------------------------------------------------


def _smiling_by_skin(planted_classifier, dp_bias: float, conditional: bool = False):
    config = BiasConfig(target="smiling", protected=("skin_tone",), n=500, seed=2, n_boot=400, boot_seed=3)
    return audit(planted_classifier, generator=planted_generator(dp_bias=dp_bias, conditional=conditional),
                 config=config)


def test_a_planted_skin_tone_imbalance_is_detected(planted_classifier):
    result = _smiling_by_skin(planted_classifier, dp_bias=1.0)
    gap = result.run.get("selection_rate_gap")
    assert gap.details["high_group"] == "skin_tone=0" and gap.details["low_group"] == "skin_tone=1"
    assert gap.ci_low > 0.2
    dp = result.run.get("demographic_parity_difference")
    assert dp.value == pytest.approx(gap.value) and dp.ci_low > 0.2
    # the per-group selection rates are the plain rates among each predicted skin tone
    pred, skin = result.predictions[:, ATTRS.index("smiling")], result.predictions[:, ATTRS.index("skin_tone")]
    rates = {r.details["group"]: r.value for r in result.run.results
             if r.metric == "selection_rate" and r.details.get("by") == "skin_tone"}
    assert rates == pytest.approx({"skin_tone=0": pred[skin == 0].mean(), "skin_tone=1": pred[skin == 1].mean()})


def test_a_balanced_generator_passes(planted_classifier):
    result = _smiling_by_skin(planted_classifier, dp_bias=0.0)
    gap = result.run.get("selection_rate_gap")
    assert gap.ci_low < 0 < gap.ci_high
    assert abs(gap.value) < 0.1
    # the (unsigned) difference is >= 0 by construction, so it is the signed gap that must be read
    assert result.run.get("demographic_parity_difference").value == pytest.approx(abs(gap.value))
    assert not any(r.metric.startswith(("equalized_odds", "equal_opportunity")) for r in result.run.results)


def test_a_conditional_generator_supplies_the_ground_truth(planted_classifier):
    result = _smiling_by_skin(planted_classifier, dp_bias=0.0, conditional=True)
    truth = result.truth["smiling"]
    np.testing.assert_array_equal(truth, np.arange(len(truth)) % 2)  # class i mod 2 is smiling=i mod 2
    assert result.run.provenance["ground_truth"] == {"smiling": "conditioning label"}
    # the conditioning pushes smiling far from 0.5, so the classifier agrees with the label nearly always
    pred = result.predictions[:, ATTRS.index("smiling")]
    assert (pred == truth).mean() > 0.95
    names = {r.metric for r in result.run.results}
    assert {"equalized_odds_difference", "equal_opportunity_difference", "true_positive_rate_gap"} <= names


def test_associations_math_matches_numpy_covariance():
    """changes_to_associations against np.cov / np.corrcoef on the pooled rows, and reproducible intervals."""
    rng = np.random.default_rng(0)
    toward = rng.normal(size=(60, 3)) + np.array([0.0, 1.0, 0.0])
    away = rng.normal(size=(60, 3)) - np.array([0.0, 1.0, 0.0])
    toward[:, 2] += 0.7 * toward[:, 1]
    away[:, 2] += 0.7 * away[:, 1]
    names = ("a", "t", "b")
    a1 = changes_to_associations(toward, away, names, "t", n_boot=50, seed=5)
    pooled = np.concatenate([toward, away])
    np.testing.assert_allclose(a1.covariance, np.cov(pooled, rowvar=False)[1], rtol=1e-12)
    np.testing.assert_allclose(a1.correlation, np.corrcoef(pooled, rowvar=False)[1], rtol=1e-12)
    np.testing.assert_allclose(a1.change_correlation, np.corrcoef(pooled, rowvar=False), rtol=1e-12)
    np.testing.assert_allclose(a1.mean_change_toward, toward.mean(axis=0))
    assert a1.top == (2, 0)
    a2 = changes_to_associations(toward, away, names, "t", n_boot=50, seed=5)
    np.testing.assert_array_equal(a1.intervals["covariance"], a2.intervals["covariance"])
    # the interval resamples latents, a latent's two changes together: redo it by hand
    draw = np.random.default_rng(5)
    reps = []
    for _ in range(50):
        idx = draw.integers(0, 60, size=60)
        reps.append(np.cov(np.concatenate([toward[idx], away[idx]]), rowvar=False)[1])
    lo, hi = np.quantile(np.array(reps), [0.025, 0.975], axis=0)
    np.testing.assert_allclose(a1.intervals["covariance"], np.stack([lo, hi], axis=1), rtol=1e-10)
