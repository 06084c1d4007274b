"""KID and Inception Score: against torch-fidelity on the same features, and closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_fidelity.metric_isc import isc_features_to_metric
from torch_fidelity.metric_kid import kid_features_to_metric

from ganeval.errors import BadInputError
from ganeval.metrics.inception_score import logits_to_inception_score
from ganeval.metrics.kid import features_to_kid


def torch_fidelity_kid(f1, f2, **kw):
    out = kid_features_to_metric(torch.from_numpy(f1), torch.from_numpy(f2), verbose=False, **kw)
    return out["kernel_inception_distance_mean"], out["kernel_inception_distance_std"]


@pytest.fixture(scope="module")
def features():
    rng = np.random.default_rng(0)
    f1 = rng.standard_normal((300, 32)) + 0.1
    f2 = rng.standard_normal((250, 32)) * 1.1
    return f1, f2


@pytest.mark.parametrize("seed", [7, 2020])
def test_kid_matches_torch_fidelity(features, seed):
    f1, f2 = features
    mean, std = torch_fidelity_kid(f1, f2, kid_subsets=20, kid_subset_size=100, rng_seed=seed)
    ours = features_to_kid(f1, f2, n_subsets=20, subset_size=100, seed=seed)
    assert ours.mean == pytest.approx(mean, rel=1e-6)
    assert ours.std == pytest.approx(std, rel=1e-6)
    assert (ours.subset_size, ours.n_subsets, ours.reduced) == (100, 20, False)


def test_kid_float32_features_match_torch_fidelity(features):
    """torch-fidelity computes in the features' dtype; on float32 it agrees to float32 accuracy."""
    f1, f2 = (f.astype(np.float32) for f in features)
    mean, _ = torch_fidelity_kid(f1, f2, kid_subsets=10, kid_subset_size=100, rng_seed=1)
    assert features_to_kid(f1, f2, n_subsets=10, subset_size=100, seed=1).mean == pytest.approx(mean, rel=1e-4)


def test_kid_kernel_options_match_torch_fidelity(features):
    f1, f2 = features
    mean, std = torch_fidelity_kid(f1, f2, kid_subsets=5, kid_subset_size=50, rng_seed=3, kid_kernel_poly_degree=2,
                                   kid_kernel_poly_gamma=0.5, kid_kernel_poly_coef0=0.25)
    ours = features_to_kid(f1, f2, n_subsets=5, subset_size=50, seed=3, degree=2, gamma=0.5, coef0=0.25)
    assert ours.mean == pytest.approx(mean, rel=1e-6)
    assert ours.std == pytest.approx(std, rel=1e-6)


def test_kid_reduces_subset_size_where_torch_fidelity_refuses(features):
    f1, f2 = features
    small = f2[:80]
    ours = features_to_kid(f1, small, n_subsets=10, subset_size=1000, seed=5)
    assert ours.reduced and ours.subset_size == 80
    mean, std = torch_fidelity_kid(f1, small, kid_subsets=10, kid_subset_size=80, rng_seed=5)
    assert ours.mean == pytest.approx(mean, rel=1e-6)
    assert ours.std == pytest.approx(std, rel=1e-6)
    with pytest.raises(ValueError, match="subset size"):  # the peer refuses what ganeval reduces
        torch_fidelity_kid(f1, small, kid_subsets=10, kid_subset_size=1000, rng_seed=5)


def test_kid_linear_kernel_closed_form(features):
    """Linear kernel x.y on whole sets: unbiased MMD^2 = (|Sx|^2 - sum|x|^2)/(n(n-1)) + (same for y)
    - 2 Sx.Sy/n^2, with Sx the sum of the samples. Every subset is the whole set (permuted), so std = 0."""
    f1, f2 = features
    x, y = f1[:200], f2[:200]
    n = 200
    sx, sy = x.sum(axis=0), y.sum(axis=0)
    expected = ((sx @ sx - (x * x).sum()) + (sy @ sy - (y * y).sum())) / (n * (n - 1)) - 2 * (sx @ sy) / n**2
    ours = features_to_kid(x, y, n_subsets=3, subset_size=n, degree=1, gamma=1.0, coef0=0.0)
    assert ours.mean == pytest.approx(expected, rel=1e-9)
    assert ours.std < 1e-12 * abs(expected)


def test_kid_separates_same_and_shifted_distributions():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((400, 16)), rng.standard_normal((400, 16))
    same = features_to_kid(a, b, n_subsets=20, subset_size=200, seed=0)
    shifted = features_to_kid(a, b + 0.5, n_subsets=20, subset_size=200, seed=0)
    assert abs(same.mean) < 2 * same.std + 1e-3  # unbiased: indistinguishable sets give ~0, either sign
    assert shifted.mean > 10 * max(abs(same.mean), same.std)


def test_kid_is_deterministic_per_seed(features):
    f1, f2 = features
    a = features_to_kid(f1, f2, n_subsets=5, subset_size=50, seed=11)
    assert a == features_to_kid(f1, f2, n_subsets=5, subset_size=50, seed=11)
    assert a.mean != features_to_kid(f1, f2, n_subsets=5, subset_size=50, seed=12).mean


def test_kid_bad_inputs():
    rng = np.random.default_rng(2)
    with pytest.raises(BadInputError, match="width"):
        features_to_kid(rng.standard_normal((10, 4)), rng.standard_normal((10, 5)))
    with pytest.raises(BadInputError, match="at least 2 samples"):
        features_to_kid(rng.standard_normal((1, 4)), rng.standard_normal((10, 4)))
    bad = rng.standard_normal((10, 4))
    bad[3, 1] = np.inf
    with pytest.raises(BadInputError, match="NaN or infinite"):
        features_to_kid(bad, rng.standard_normal((10, 4)))


# -- Inception Score -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def logits():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 10, 1003)
    return rng.standard_normal((1003, 10)) * 1.5 + 3.0 * np.eye(10)[labels]


@pytest.mark.parametrize("shuffle,seed,splits", [(True, 2020, 10), (True, 3, 7), (False, 0, 10)])
def test_is_matches_torch_fidelity(logits, shuffle, seed, splits):
    ref = isc_features_to_metric(torch.from_numpy(logits), splits=splits, shuffle=shuffle, rng_seed=seed)
    ours = logits_to_inception_score(logits, splits=splits, shuffle=shuffle, seed=seed)
    assert ours.mean == pytest.approx(ref["inception_score_mean"], rel=1e-6)
    assert ours.std == pytest.approx(ref["inception_score_std"], rel=1e-6)


def test_is_float32_logits_match_torch_fidelity(logits):
    x = logits.astype(np.float32)
    ref = isc_features_to_metric(torch.from_numpy(x), splits=10, shuffle=True, rng_seed=1)
    assert logits_to_inception_score(x, seed=1).mean == pytest.approx(ref["inception_score_mean"], rel=1e-6)


def test_is_closed_forms():
    # Identical predictions: p(y|x) = p(y), every KL is 0, IS = 1.
    flat = np.tile(np.random.default_rng(4).standard_normal(10), (100, 1))
    v = logits_to_inception_score(flat, splits=5)
    assert v.mean == pytest.approx(1.0, abs=1e-12) and v.std < 1e-12
    # Certain predictions, classes balanced in every split: IS = number of classes predicted.
    labels = np.tile(np.arange(8), 40)  # splits of 32 hold each class 4 times
    v = logits_to_inception_score(2000.0 * np.eye(8)[labels], splits=10, shuffle=False)
    assert v.mean == pytest.approx(8.0, rel=1e-12) and v.std < 1e-9
    # Two of 10 classes never predicted: their probability underflows to exactly 0 in every split, and
    # 0 log 0 counts as 0 (torch-fidelity gives NaN here), so IS = the 6 classes predicted.
    labels = np.tile(np.arange(6), 40)
    logits = 2000.0 * np.eye(10)[labels]
    v = logits_to_inception_score(logits, splits=10, shuffle=False)
    assert v.mean == pytest.approx(6.0, rel=1e-12) and v.std < 1e-9
    assert np.isnan(isc_features_to_metric(torch.from_numpy(logits), splits=10, shuffle=False)["inception_score_mean"])


def test_is_invariant_to_logit_offsets(logits):
    """Softmax ignores a per-sample constant added to the logits."""
    shifted = logits + np.random.default_rng(5).standard_normal((len(logits), 1)) * 100
    assert logits_to_inception_score(shifted).mean == pytest.approx(logits_to_inception_score(logits).mean,
                                                                    rel=1e-9)


def test_is_bad_inputs(logits):
    with pytest.raises(BadInputError, match="per split"):
        logits_to_inception_score(logits[:5], splits=10)
    with pytest.raises(BadInputError, match=r"\(N, C\)"):
        logits_to_inception_score(logits[:, 0])
    bad = logits.copy()
    bad[0, 0] = np.nan
    with pytest.raises(BadInputError, match="NaN"):
        logits_to_inception_score(bad)
