"""FID (ganeval.metrics.fid): against scipy's sqrtm formula and pytorch-fid, closed forms, invariances,
rank-deficient and indefinite covariances with their diagnostics."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from pytorch_fid.fid_score import calculate_frechet_distance

from ganeval.errors import BadInputError
from ganeval.metrics.fid import stats_to_fid


def sample_stats(rng: np.random.Generator, n: int, d: int, scale: float = 0.5, shift: float = 0.0):
    """Mean and covariance (N-1) of n correlated Gaussian samples in d dimensions."""
    mix = np.eye(d) + scale * rng.standard_normal((d, d)) / np.sqrt(d)
    x = rng.standard_normal((n, d)) @ mix + shift
    return x.mean(axis=0), np.cov(x, rowvar=False), x


def sqrtm_fid(mu1, s1, mu2, s2) -> float:
    """The textbook formula with scipy.linalg.sqrtm of S1 S2 (real part)."""
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(np.real(covmean)))


@pytest.fixture(scope="module")
def two_sets():
    rng = np.random.default_rng(0)
    mu1, s1, _ = sample_stats(rng, 600, 64, 0.5)
    mu2, s2, _ = sample_stats(rng, 500, 64, 0.7, shift=0.2)
    return mu1, s1, mu2, s2


@pytest.mark.parametrize("route", ["auto", "cholesky", "eigh"])
def test_matches_scipy_sqrtm_formula(two_sets, route):
    mu1, s1, mu2, s2 = two_sets
    ours = stats_to_fid(mu1, s1, mu2, s2, route=route)
    ref = sqrtm_fid(mu1, s1, mu2, s2)
    assert ours.value == pytest.approx(ref, rel=1e-6)
    assert ours.diagnostics["route"] == ("eigh" if route == "eigh" else "cholesky-sigma1")


@pytest.mark.filterwarnings("ignore:The `disp` argument is deprecated:DeprecationWarning")
def test_matches_pytorch_fid(two_sets):
    mu1, s1, mu2, s2 = two_sets
    assert stats_to_fid(mu1, s1, mu2, s2).value == pytest.approx(calculate_frechet_distance(mu1, s1, mu2, s2),
                                                                 rel=1e-6)


def test_identical_stats_give_zero(two_sets):
    mu1, s1, _, _ = two_sets
    for route in ("auto", "eigh"):
        assert abs(stats_to_fid(mu1, s1, mu1, s1, route=route).value) < 1e-8


def test_pure_mean_shift_gives_squared_distance(two_sets):
    mu1, s1, _, _ = two_sets
    dmu = np.random.default_rng(1).standard_normal(mu1.shape)
    v = stats_to_fid(mu1, s1, mu1 + dmu, s1)
    assert v.value == pytest.approx(dmu @ dmu, abs=1e-8)
    assert v.diagnostics["mean_term"] == pytest.approx(dmu @ dmu, rel=1e-12)
    assert abs(v.diagnostics["covariance_term"]) < 1e-8


def test_symmetric_and_rotation_invariant(two_sets):
    mu1, s1, mu2, s2 = two_sets
    ref = stats_to_fid(mu1, s1, mu2, s2).value
    assert stats_to_fid(mu2, s2, mu1, s1).value == pytest.approx(ref, rel=1e-9)
    q, _ = np.linalg.qr(np.random.default_rng(2).standard_normal((64, 64)))
    rotated = stats_to_fid(q @ mu1, q @ s1 @ q.T, q @ mu2, q @ s2 @ q.T).value
    assert rotated == pytest.approx(ref, rel=1e-9)


def test_rank_deficient_stats_against_nuclear_norm():
    """N < d: both covariances are singular, so the eigh route runs, and the diagnostics say why.

    Independent closed form: with S1 = A^T A and S2 = B^T B (A, B the centred samples over
    sqrt(N-1)), tr((S1^1/2 S2 S1^1/2)^1/2) is the sum of the singular values of A B^T.
    """
    rng = np.random.default_rng(3)
    d = 64
    mu1, s1, x1 = sample_stats(rng, 20, d)
    mu2, s2, x2 = sample_stats(rng, 25, d, shift=0.3)
    a = (x1 - mu1) / np.sqrt(len(x1) - 1)
    b = (x2 - mu2) / np.sqrt(len(x2) - 1)
    nuclear = np.linalg.svd(a @ b.T, compute_uv=False).sum()
    expected = (mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * nuclear

    v = stats_to_fid(mu1, s1, mu2, s2, n1=20, n2=25)
    assert v.diagnostics["route"] == "eigh"
    assert v.diagnostics["sigma1_rank_deficient"] and v.diagnostics["sigma2_rank_deficient"]
    assert v.value == pytest.approx(expected, rel=1e-6)
    # The singular S1 shows in its spectrum: no finite condition number.
    assert v.diagnostics["sigma1_condition"] is None
    assert v.diagnostics["sigma1_min_eigenvalue"] < 1e-10 * v.diagnostics["sigma1_max_eigenvalue"]


def test_one_singular_covariance_uses_cholesky_of_the_other(two_sets):
    rng = np.random.default_rng(4)
    mu1, s1, _ = sample_stats(rng, 30, 64)
    _, _, mu2, s2 = two_sets
    v = stats_to_fid(mu1, s1, mu2, s2, n1=30)
    assert v.diagnostics["route"] == "cholesky-sigma2"
    assert v.value == pytest.approx(stats_to_fid(mu1, s1, mu2, s2, route="eigh").value, rel=1e-6)
    assert v.diagnostics["sigma1_rank_deficient"] is True


def test_negative_eigenvalues_are_clipped_and_reported(two_sets):
    """An indefinite S1 (one eigenvalue -1e-6): clipped to 0 for the square root, counted, not hidden."""
    mu1, s1, mu2, s2 = two_sets
    w, v = np.linalg.eigh(s1)
    w_bad = w.copy()
    w_bad[0] = -1e-6 * w[-1]
    s1_bad = (v * w_bad) @ v.T
    s1_clipped = (v * np.clip(w_bad, 0, None)) @ v.T

    res = stats_to_fid(mu1, s1_bad, mu2, s2, route="eigh")
    d = res.diagnostics
    assert d["sigma1_negative_eigenvalues"] == 1
    assert d["sigma1_most_negative_eigenvalue"] == pytest.approx(-1e-6 * w[-1], rel=1e-3)
    assert d["sigma1_most_negative_relative"] == pytest.approx(-1e-6, rel=1e-3)
    # The value is the FID with that eigenvalue at 0 -- except that tr(S1) keeps the reported negative part.
    expected = sqrtm_fid(mu1, s1_clipped, mu2, s2) + w_bad[0]
    assert res.value == pytest.approx(expected, rel=1e-6)
    # The auto route falls back to the Cholesky factor of S2 and reports S1's negative eigenvalue too.
    auto = stats_to_fid(mu1, s1_bad, mu2, s2)
    assert auto.diagnostics["route"] == "cholesky-sigma2"
    assert auto.diagnostics["sigma1_negative_eigenvalues"] == 1


def test_product_negative_eigenvalues_reported_for_singular_product():
    """Identical rank-deficient stats: the inner product has eigenvalues at rounding level around 0."""
    rng = np.random.default_rng(5)
    mu, s, _ = sample_stats(rng, 10, 48)
    v = stats_to_fid(mu, s, mu, s, n1=10, n2=10)
    d = v.diagnostics
    assert d["route"] == "eigh"
    assert 0 < d["product_negative_eigenvalues"] <= 48 - 9  # only the rounding-level null space
    assert d["product_most_negative_eigenvalue"] < 0
    assert -1e-12 < d["product_most_negative_relative"] < 0
    # 38 zero eigenvalues whose square roots each carry ~sqrt(1e-16 |S|) of rounding.
    assert abs(v.value) < 1e-5 * np.trace(s)


def test_diagnostics_flag_and_condition_number(two_sets):
    mu1, s1, mu2, s2 = two_sets
    full = stats_to_fid(mu1, s1, mu2, s2, n1=600, n2=500)
    w = np.linalg.eigvalsh(s1)
    assert full.diagnostics["sigma1_condition"] == pytest.approx(w[-1] / w[0], rel=1e-8)
    assert full.diagnostics["sigma1_rank_deficient"] is False
    fast = stats_to_fid(mu1, s1, mu2, s2, diagnostics=False)
    assert "sigma1_condition" not in fast.diagnostics
    assert fast.value == full.value


def test_bad_inputs_raise_bad_input_error(two_sets):
    mu1, s1, mu2, s2 = two_sets
    with pytest.raises(BadInputError, match="different shapes"):
        stats_to_fid(mu1, s1, mu2[:10], s2[:10, :10])
    bad = s2.copy()
    bad[0, 0] = np.nan
    with pytest.raises(BadInputError, match="NaN"):
        stats_to_fid(mu1, s1, mu2, bad)
    with pytest.raises(BadInputError, match="route"):
        stats_to_fid(mu1, s1, mu2, s2, route="sqrtm")
    rng = np.random.default_rng(6)
    m1, c1, _ = sample_stats(rng, 10, 32)
    m2, c2, _ = sample_stats(rng, 10, 32)
    with pytest.raises(BadInputError, match="positive definite"):
        stats_to_fid(m1, c1, m2, c2, route="cholesky")


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:The `disp` argument is deprecated:DeprecationWarning")
def test_inception_sized_stats_match_pytorch_fid():
    rng = np.random.default_rng(7)
    mu1, s1, _ = sample_stats(rng, 4096, 2048)
    mu2, s2, _ = sample_stats(rng, 4096, 2048, 0.6, shift=0.05)
    assert stats_to_fid(mu1, s1, mu2, s2).value == pytest.approx(calculate_frechet_distance(mu1, s1, mu2, s2),
                                                                 rel=1e-6)


def test_fast_diagnostics_from_the_cholesky_factor():
    """The "fast" diagnostics prove positive definiteness and estimate the 1-norm condition number;
    LAPACK's estimate lies within a factor d of the exact 2-norm condition (numpy's eigenvalues)."""
    rng = np.random.default_rng(21)
    d = 40
    a = rng.standard_normal((400, d)) @ np.diag(np.linspace(0.1, 3.0, d))
    b = rng.standard_normal((400, d)) + 0.2
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    fast = stats_to_fid(a.mean(0), s1, b.mean(0), s2, diagnostics="fast")
    full = stats_to_fid(a.mean(0), s1, b.mean(0), s2, diagnostics=True)
    assert fast.value == full.value
    assert fast.diagnostics["sigma1_positive_definite"] is True
    assert fast.diagnostics["sigma1_negative_eigenvalues"] == 0
    w = np.linalg.eigvalsh(s1)
    exact = w[-1] / w[0]
    est = fast.diagnostics["sigma1_condition_1norm_estimate"]
    assert exact / d <= est <= exact * d
    # a singular sigma1 has no Cholesky factor: the fast mode falls back to the full spectrum
    sing = stats_to_fid(a[:10].mean(0), np.cov(a[:10], rowvar=False), b.mean(0), s2, diagnostics="fast")
    assert sing.diagnostics["sigma1_condition"] is None
