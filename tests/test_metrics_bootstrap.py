"""Bootstrap intervals (coverage, seeding, the FID re-centring and the KID duplicate rule) and the
metric registry (compute_metrics, required_kept, plugins, errors)."""

from __future__ import annotations

import numpy as np
import pytest

import ganeval.metrics as metrics
from ganeval.config import MetricConfig
from ganeval.errors import BadInputError
from ganeval.metrics import MetricEntry, compute_metrics, register_metric, required_kept
from ganeval.metrics.bootstrap import (
    bootstrap_ci, bootstrap_replicates, fid_ci, is_ci, kid_ci, percentile_interval, prdc_ci,
)
from ganeval.metrics.fid import stats_to_fid
from ganeval.metrics.inception_score import logits_to_inception_score
from ganeval.metrics.kid import features_to_kid, resampled_kid
from ganeval.metrics.prdc import features_to_prdc
from ganeval.results import Result
from ganeval.stats import FeatureStats


def test_mean_interval_covers_true_mean_at_nominal_rate():
    """95% intervals of the mean of 40 exponential samples (skewed), 200 seeded repetitions."""
    rng = np.random.default_rng(0)
    hits = 0
    for rep in range(200):
        x = rng.exponential(2.0, size=40)
        low, high = bootstrap_ci(np.mean, x, n_boot=400, level=0.95, seed=rep)
        hits += low <= 2.0 <= high
    # Percentile intervals undercover a little at n=40 (about 0.92-0.94); binomial sd here is 0.016.
    assert 0.88 <= hits / 200 <= 0.98


def test_same_seed_same_interval_other_seed_other_interval():
    x = np.random.default_rng(1).standard_normal(50)
    a = bootstrap_ci(np.median, x, n_boot=200, seed=5)
    assert a == bootstrap_ci(np.median, x, n_boot=200, seed=5)
    assert a != bootstrap_ci(np.median, x, n_boot=200, seed=6)
    assert bootstrap_ci(np.median, x, n_boot=200, seed=5, level=0.5)[1] < a[1]


def test_two_samples_are_resampled_independently():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal(60), rng.standard_normal(80) + 1.0
    low, high = bootstrap_ci(lambda a, b: b.mean() - a.mean(), x, y, n_boot=300, seed=0)
    se = np.sqrt(x.var(ddof=1) / 60 + y.var(ddof=1) / 80)
    assert low < y.mean() - x.mean() < high
    assert (high - low) / (2 * 1.96 * se) == pytest.approx(1.0, abs=0.2)


def test_percentile_interval_and_replicates_shapes():
    reps = bootstrap_replicates(lambda i: [i.mean(), i.max()], [10], n_boot=7, seed=0)
    assert reps.shape == (7, 2)
    lo, hi = percentile_interval(np.arange(101.0), 0.9)
    assert (lo, hi) == pytest.approx((5.0, 95.0), abs=1e-12)


def test_bad_levels_and_counts():
    x = np.arange(10.0)
    with pytest.raises(BadInputError, match="between 0 and 1"):
        bootstrap_ci(np.mean, x, level=95)
    with pytest.raises(BadInputError, match="at least 2"):
        bootstrap_ci(np.mean, x, n_boot=1)


def test_fid_interval_recentred_covers_expected_fid():
    """FID's replicates sit above the estimate (a resample has fewer distinct points, FID's bias grows):
    the plain percentile interval misses E[FID_N]; the re-centred one covers it at about the nominal rate."""
    d, n, shift = 16, 150, 0.3
    rng = np.random.default_rng(3)

    def fid(x, y):
        return stats_to_fid(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False),
                            diagnostics=False).value

    expected = np.mean([fid(rng.standard_normal((n, d)), rng.standard_normal((n, d)) + shift) for _ in range(400)])
    hits = {True: 0, False: 0}
    reps = 40
    for rep in range(reps):
        x, y = rng.standard_normal((n, d)), rng.standard_normal((n, d)) + shift
        for recentre in (True, False):
            low, high = fid_ci(x, y, n_boot=80, level=0.95, seed=rep, recentre=recentre)
            hits[recentre] += low <= expected <= high
    assert hits[True] / reps >= 0.85
    assert hits[False] / reps <= 0.3


def test_fid_interval_weighted_stats_equal_explicit_resample():
    """The resample-count shortcut gives the FID of the explicitly resampled features."""
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((40, 5)), rng.standard_normal((30, 5)) + 0.5
    seed = 9
    low, high = fid_ci(x, y, n_boot=50, seed=seed, recentre=False)

    def explicit(i, j):
        a, b = x[i], y[j]
        return stats_to_fid(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)).value

    ref = percentile_interval(bootstrap_replicates(explicit, [40, 30], n_boot=50, seed=seed), 0.95)
    assert (low, high) == pytest.approx(ref, rel=1e-9)


def test_kid_resample_leaves_out_copies_of_one_sample():
    """Naive resampling puts copies of a sample into one set, and k(x, x) terms then bias MMD^2 up;
    leaving those pairs out keeps the replicates centred on the estimate."""
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((200, 8)), rng.standard_normal((200, 8)) * 1.2 + 0.2
    kw = dict(n_subsets=10, subset_size=100, seed=0)
    estimate = features_to_kid(x, y, **kw).mean
    sd = np.std([features_to_kid(x, y, **dict(kw, seed=s)).mean for s in range(1, 30)])
    dedup = bootstrap_replicates(lambda i, j: resampled_kid(x, y, i, j, **kw)[0].mean(), [200, 200], n_boot=60, seed=1)
    naive = bootstrap_replicates(lambda i, j: features_to_kid(x[i], y[j], **kw).mean, [200, 200], n_boot=60, seed=1)
    spread = dedup.std()
    assert abs(np.median(dedup) - estimate) < 0.5 * spread
    assert np.median(naive) - np.median(dedup) > 0.5 * spread
    assert sd < spread  # the bootstrap spread includes sampling noise, not only subset noise
    # Identity indices reproduce the plain estimator.
    ident = resampled_kid(x, y, np.arange(200), np.arange(200), **kw)[0]
    plain = resampled_kid(x, y, None, None, **kw)[0]
    np.testing.assert_allclose(ident, plain, rtol=1e-12)
    low, high = kid_ci(x, y, n_subsets=10, subset_size=100, kid_seed=0, n_boot=30, seed=2)
    assert low < estimate < high


def test_is_interval_brackets_estimate():
    rng = np.random.default_rng(6)
    labels = rng.integers(0, 10, 500)
    logits = rng.standard_normal((500, 10)) + 3 * np.eye(10)[labels]
    estimate = logits_to_inception_score(logits, seed=1).mean
    low, high = is_ci(logits, splits=10, shuffle=True, is_seed=1, n_boot=50, seed=3)
    assert low < estimate < high
    assert (low, high) == is_ci(logits, splits=10, shuffle=True, is_seed=1, n_boot=50, seed=3)


def test_prdc_interval_resamples_indicators():
    rng = np.random.default_rng(7)
    real, fake = rng.standard_normal((300, 6)), rng.standard_normal((250, 6)) * 1.3 + 0.3
    v = features_to_prdc(real, fake)
    cis = prdc_ci(v, n_boot=200, seed=0)
    for name in ("precision", "recall", "density", "coverage"):
        low, high = cis[name]
        assert low <= getattr(v, name) <= high and low < high
    # Binomial check on precision: the bootstrap sd of a mean of 250 indicators is sqrt(p(1-p)/250).
    p = v.precision
    assert (cis["precision"][1] - cis["precision"][0]) / (2 * 1.96 * np.sqrt(p * (1 - p) / 250)) == \
        pytest.approx(1.0, abs=0.25)
    # Identical sets: every indicator is 1, so is every replicate.
    same = prdc_ci(features_to_prdc(real, real), n_boot=20, seed=0)
    assert same["precision"] == (1.0, 1.0) and same["coverage"] == (1.0, 1.0)


# -- the registry ----------------------------------------------------------------------------------

def make_stats(rng, n, d=6, shift=0.0, keep=("pool", "logits"), path=None) -> FeatureStats:
    stats = FeatureStats(dim=d, keep=keep, meta={"path": path} if path else {})
    feats = rng.standard_normal((n, d)) + shift
    stats.update(feats, logits=rng.standard_normal((n, 4)) * 2)
    return stats


@pytest.fixture
def pair():
    rng = np.random.default_rng(8)
    return make_stats(rng, 120, path="real.npz"), make_stats(rng, 100, shift=0.4, path="fake.npz")


def test_builtins_registered_with_their_result_names():
    known = metrics.available_metrics()
    assert {n: e.results for n, e in known.items() if n in ("fid", "kid", "is", "pr", "dc")} == {
        "fid": ("fid",), "kid": ("kid",), "is": ("is",), "pr": ("precision", "recall"), "dc": ("density", "coverage")}
    assert known["is"].needs_real is False and known["fid"].needs_real is True


def test_required_kept():
    assert required_kept(["fid"]) == {"real": set(), "fake": set()}
    assert required_kept(["fid", "is", "pr"]) == {"real": {"pool"}, "fake": {"pool", "logits"}}
    assert required_kept(["fid"], MetricConfig(ci=0.95)) == {"real": {"pool"}, "fake": {"pool"}}
    with pytest.raises(BadInputError, match="unknown metric 'nope'"):
        required_kept(["nope"])


def test_compute_metrics_matches_the_pure_functions(pair):
    real, fake = pair
    cfg = MetricConfig(kid_subsets=5, kid_subset_size=50, seed=3)
    res = {r.metric: r for r in compute_metrics(["fid", "kid", "is", "pr", "dc"], real, fake, cfg)}
    assert list(res) == ["fid", "kid", "is", "precision", "recall", "density", "coverage"]
    assert res["fid"].value == stats_to_fid(real.mean, real.cov, fake.mean, fake.cov).value
    assert res["fid"].details["route"] == "cholesky-sigma1"
    kid = features_to_kid(fake.kept("pool"), real.kept("pool"), n_subsets=5, subset_size=50, seed=3)
    assert (res["kid"].value, res["kid"].std) == (kid.mean, kid.std)
    assert res["kid"].details["subset_size"] == 50 and res["kid"].details["reduced"] is False
    assert res["is"].value == logits_to_inception_score(fake.kept("logits"), seed=3).mean
    v = features_to_prdc(real.kept("pool"), fake.kept("pool"))
    for name in ("precision", "recall", "density", "coverage"):
        assert res[name].value == getattr(v, name)
    assert res["density"].details["k"] == 5 and res["precision"].details["k"] == 3
    for r in res.values():
        assert r.seed == 3 and r.n_fake == 100 and r.ci_low is None
        assert r.n_real == (None if r.metric == "is" else 120)


def test_compute_metrics_with_intervals(pair):
    real, fake = pair
    cfg = MetricConfig(ci=0.9, n_boot=20, kid_subsets=3, kid_subset_size=40)
    for r in compute_metrics(["fid", "kid", "is", "pr", "dc"], real, fake, cfg):
        assert r.ci_level == 0.9 and r.n_boot == 20
        assert r.ci_low <= r.ci_high
    first, second = (compute_metrics(["fid", "pr"], real, fake, cfg) for _ in range(2))
    assert [(r.ci_low, r.ci_high) for r in first] == [(r.ci_low, r.ci_high) for r in second]
    reseeded = compute_metrics(["fid", "pr"], real, fake, MetricConfig(ci=0.9, n_boot=20, seed=1))
    assert [(r.ci_low, r.ci_high) for r in reseeded] != [(r.ci_low, r.ci_high) for r in first]


def test_pr_and_dc_share_one_knn_computation(pair, monkeypatch):
    real, fake = pair
    calls = []
    original = metrics.features_to_prdc

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(metrics, "features_to_prdc", counting)
    compute_metrics(["pr", "dc"], real, fake, MetricConfig())
    assert len(calls) == 1
    compute_metrics(["dc"], real, fake, MetricConfig())
    assert len(calls) == 2


def test_mu_sigma_statistics_give_fid_but_not_kid(tmp_path, pair):
    real, fake = pair
    path = tmp_path / "pytorch_fid_stats.npz"
    np.savez(path, mu=real.mean, sigma=real.cov)  # pytorch-fid's format: no N, no features
    loaded = FeatureStats.load(path)
    loaded.meta["path"] = str(path)
    fid = compute_metrics(["fid"], loaded, fake, MetricConfig())[0]
    assert fid.value == pytest.approx(stats_to_fid(real.mean, real.cov, fake.mean, fake.cov).value, rel=1e-12)
    assert fid.n_real is None and fid.n_fake == 100
    with pytest.raises(BadInputError, match=r"KID needs the per-sample 'pool' arrays of the real input .*"
                                             r"pytorch_fid_stats\.npz, which has only mean/covariance"):
        compute_metrics(["kid"], loaded, fake, MetricConfig())
    with pytest.raises(BadInputError, match="FID confidence interval needs the per-sample 'pool'"):
        compute_metrics(["fid"], loaded, fake, MetricConfig(ci=0.95))


def test_missing_inputs_and_mismatches(pair):
    real, fake = pair
    rng = np.random.default_rng(9)
    assert compute_metrics(["is"], None, fake, MetricConfig())[0].metric == "is"
    with pytest.raises(BadInputError, match="compares two sets"):
        compute_metrics(["fid"], None, fake, MetricConfig())
    no_logits = make_stats(rng, 50, keep=("pool",), path="gen.npz")
    with pytest.raises(BadInputError, match="Inception Score needs the per-sample 'logits' arrays of the fake "
                                            "input gen.npz, which has per-sample pool but not logits"):
        compute_metrics(["is"], None, no_logits, MetricConfig())
    with pytest.raises(BadInputError, match="6-d features but the fake input has 7-d"):
        compute_metrics(["fid"], real, make_stats(rng, 50, d=7), MetricConfig())
    other = make_stats(rng, 50)
    other.meta["extractor"], real.meta["extractor"] = "fmnist-cnn", "inception"
    with pytest.raises(BadInputError, match="differ in extractor"):
        compute_metrics(["fid"], real, other, MetricConfig())
    with pytest.raises(BadInputError, match="unknown metric"):
        compute_metrics(["fid", "bogus"], real, fake, MetricConfig())
    with pytest.raises(BadInputError, match="between 0 and 1"):
        compute_metrics(["fid"], real, fake, MetricConfig(ci=95))


def test_plugin_metric_registers_through_the_public_call(pair):
    real, fake = pair

    def mean_gap(r, f, cfg):
        gap = float(np.abs(r.mean - f.mean).max())
        return [Result("mean_gap", gap, n_real=r.n, n_fake=f.n, seed=cfg.seed)]

    register_metric(MetricEntry("mean-gap", "largest per-feature mean difference", ("mean_gap",), True, {}, mean_gap))
    try:
        assert "mean-gap" in metrics.available_metrics()
        out = compute_metrics(["mean-gap", "fid"], real, fake, MetricConfig())
        assert [r.metric for r in out] == ["mean_gap", "fid"]
        assert out[0].value == pytest.approx(np.abs(real.mean - fake.mean).max())
    finally:
        metrics._REGISTRY.pop("mean-gap", None)


def test_kid_interval_with_fewer_subsets_per_replicate_matches_full_replicates():
    """The cheap KID interval (10 subsets per replicate, subset noise removed) has the width of the
    expensive one (all 60 subsets per replicate), and uncorrected cheap replicates would be wider."""
    rng = np.random.default_rng(11)
    x, y = rng.standard_normal((300, 8)), rng.standard_normal((300, 8)) * 1.1 + 0.15
    kw = dict(n_subsets=60, subset_size=100, kid_seed=0, n_boot=150, seed=4)
    full = kid_ci(x, y, boot_subsets=60, **kw)
    cheap = kid_ci(x, y, boot_subsets=10, **kw)
    width_full, width_cheap = full[1] - full[0], cheap[1] - cheap[0]
    assert abs(width_cheap - width_full) < 0.25 * width_full
    uncorrected = bootstrap_replicates(
        lambda i, j: resampled_kid(x, y, i, j, n_subsets=10, subset_size=100, seed=0)[0].mean(),
        [300, 300], n_boot=150, seed=4)
    assert 2 * 1.96 * uncorrected.std(ddof=1) > 1.05 * width_cheap
