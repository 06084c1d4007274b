"""The extraction loop, the cache and the orchestration: invariances, cache keys, closed forms.

Uses the tiny plugin extractor from conftest.py, so every check is about the pipeline, not a network.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import TinyExtractor, write_pngs
from ganeval.cache import StatsCache
from ganeval.config import EvalConfig, MetricConfig
from ganeval.evaluate import compute_stats, evaluate
from ganeval.extract import source_to_stats
from ganeval.preprocess import prepare
from ganeval.sources import open_source
from ganeval.stats import FeatureStats


def _config(**kw) -> EvalConfig:
    kw.setdefault("extractor", "test-tiny")
    return EvalConfig(**kw)


def _direct_features(images: np.ndarray) -> np.ndarray:
    """Features computed without the pipeline: the network on the protocol's output, one pass."""
    net = TinyExtractor().eval()
    x = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    with torch.no_grad():
        return net(prepare(x, "tf", net.info))["pool"].double().numpy()


def test_stats_equal_direct_computation(image_sets):
    a_dir, _, a, _ = image_sets
    ex = source_to_stats(open_source(a_dir), TinyExtractor().eval(), "tf", keep=("pool",), batch_size=7)
    f = _direct_features(a)
    np.testing.assert_allclose(ex.stats.mean, f.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ex.stats.cov, np.cov(f, rowvar=False), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ex.stats.kept("pool"), f, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("batch_size", [1, 6, 64])
def test_batch_size_invariance(image_sets, batch_size):
    a_dir, b_dir, _, _ = image_sets
    ref = evaluate(a_dir, b_dir, _config(batch_size=40, use_cache=False)).get("fid").value
    got = evaluate(a_dir, b_dir, _config(batch_size=batch_size, use_cache=False)).get("fid").value
    # fp32 convolutions round differently for other batch shapes (~1e-7 per feature); the sums do not
    assert got == pytest.approx(ref, rel=1e-6)


def test_shard_split_merges_to_whole(tmp_path, image_sets):
    _, _, a, _ = image_sets
    whole = write_pngs(tmp_path / "whole", a)
    s1 = write_pngs(tmp_path / "s1", a[:15])
    s2 = write_pngs(tmp_path / "s2", a[15:], start=15)
    net = TinyExtractor().eval()
    full = source_to_stats(open_source(whole), net, "tf").stats
    merged = source_to_stats(open_source(s1), net, "tf").stats.merge(source_to_stats(open_source(s2), net, "tf").stats)
    assert merged.n == full.n == 40
    np.testing.assert_allclose(merged.mean, full.mean, rtol=1e-12)
    np.testing.assert_allclose(merged.cov, full.cov, rtol=1e-10, atol=1e-14)


def test_identical_sets_give_zero_fid(image_sets):
    a_dir, _, _, _ = image_sets
    assert evaluate(a_dir, a_dir, _config(use_cache=False)).get("fid").value == pytest.approx(0.0, abs=1e-8)


def test_cached_equals_uncached_and_is_reused(image_sets):
    a_dir, b_dir, _, _ = image_sets
    cache = StatsCache()
    cfg = _config(metrics=("fid", "kid", "pr"), metric=MetricConfig(kid_subset_size=20, kid_subsets=5))
    first = evaluate(a_dir, b_dir, cfg, cache=cache)
    second = evaluate(a_dir, b_dir, cfg, cache=cache)
    uncached = evaluate(a_dir, b_dir, _config(metrics=cfg.metrics, metric=cfg.metric, use_cache=False))
    assert [i["cached"] for i in first.provenance["inputs"].values()] == [False, False]
    assert [i["cached"] for i in second.provenance["inputs"].values()] == [True, True]
    for r1, r2, r3 in zip(first.results, second.results, uncached.results):
        assert r1.metric == r2.metric == r3.metric
        assert r1.value == r2.value
        assert r3.value == pytest.approx(r1.value, rel=1e-12, abs=1e-15)
    assert len(cache.entries()) == 2


def test_changed_or_added_file_invalidates_the_cache(tmp_path, image_sets):
    a_dir, b_dir, a, _ = image_sets
    cache = StatsCache()
    cfg = _config()
    base = evaluate(a_dir, b_dir, cfg, cache=cache).get("fid").value
    # change one pixel of one file
    changed = a[3].copy()
    changed[0, 0] = 255 - changed[0, 0]
    write_pngs(tmp_path / "tmp", changed[None])
    (tmp_path / "tmp" / "img_00000.png").replace(a_dir / "img_00003.png")
    run = evaluate(a_dir, b_dir, cfg, cache=cache)
    assert run.provenance["inputs"]["real"]["cached"] is False
    assert run.provenance["inputs"]["fake"]["cached"] is True
    assert run.get("fid").value != base
    # add a file
    write_pngs(a_dir, a[:1], start=999)
    run = evaluate(a_dir, b_dir, cfg, cache=cache)
    assert run.provenance["inputs"]["real"]["cached"] is False
    assert run.get("fid").n_real == 41


def test_cache_key_depends_on_protocol(image_sets):
    a_dir, b_dir, _, _ = image_sets
    cache = StatsCache()
    evaluate(a_dir, b_dir, _config(protocol="tf"), cache=cache)
    run = evaluate(a_dir, b_dir, _config(protocol="pytorch-fid"), cache=cache)
    assert not any(i["cached"] for i in run.provenance["inputs"].values())
    assert run.provenance["protocol"] == "pytorch-fid"


def test_corrupt_cache_entry_is_recomputed(image_sets):
    a_dir, b_dir, _, _ = image_sets
    cache = StatsCache()
    base = evaluate(a_dir, b_dir, _config(), cache=cache).get("fid").value
    for e in cache.entries():
        e.path.write_bytes(b"garbage")
    run = evaluate(a_dir, b_dir, _config(), cache=cache)
    assert run.get("fid").value == pytest.approx(base, rel=1e-12)
    assert not any(i["cached"] for i in run.provenance["inputs"].values())


def test_saved_stats_stand_in_for_the_folder(tmp_path, image_sets):
    a_dir, b_dir, _, _ = image_sets
    stats, _ = compute_stats(a_dir, _config(), keep=("pool",))
    stats.save(tmp_path / "a.npz")
    cfg = _config(metrics=("fid", "kid"), metric=MetricConfig(kid_subset_size=20, kid_subsets=4), use_cache=False)
    from_folder = evaluate(a_dir, b_dir, cfg)
    from_stats = evaluate(tmp_path / "a.npz", b_dir, cfg)
    assert from_stats.get("fid").value == pytest.approx(from_folder.get("fid").value, rel=1e-9)
    assert from_stats.get("kid").value == pytest.approx(from_folder.get("kid").value, rel=1e-6)
    # the statistics file says what computed it; a contradicting choice is an error
    from ganeval.errors import BadInputError
    with pytest.raises(BadInputError, match="protocol"):
        evaluate(tmp_path / "a.npz", b_dir, _config(protocol="clean"))


def test_mu_sigma_only_stats_give_fid_but_not_kid(tmp_path, image_sets):
    a_dir, b_dir, _, _ = image_sets
    stats, _ = compute_stats(a_dir, _config())
    np.savez(tmp_path / "pf.npz", mu=stats.mean, sigma=stats.cov)  # pytorch-fid's --save-stats layout
    run = evaluate(tmp_path / "pf.npz", b_dir, _config(use_cache=False))
    ref = evaluate(a_dir, b_dir, _config(use_cache=False))
    assert run.get("fid").value == pytest.approx(ref.get("fid").value, rel=1e-9)
    assert run.provenance["warnings"]
    from ganeval.errors import BadInputError
    with pytest.raises(BadInputError, match="pf.npz"):
        evaluate(tmp_path / "pf.npz", b_dir, _config(metrics=("kid",)))


def test_same_inputs_and_seed_give_same_numbers(image_sets):
    a_dir, b_dir, _, _ = image_sets
    cfg = _config(metrics=("fid", "kid", "is", "pr", "dc"), use_cache=False,
                  metric=MetricConfig(kid_subset_size=20, kid_subsets=5, ci=0.9, n_boot=20))
    r1 = evaluate(a_dir, b_dir, cfg)
    r2 = evaluate(a_dir, b_dir, cfg)
    assert [r.to_dict() for r in r1.results] == [r.to_dict() for r in r2.results]
    prov = r1.provenance
    assert prov["extractor"]["name"] == "test-tiny" and prov["protocol"] == "tf"
    assert prov["seeds"]["metric_seed"] == 2020
    assert prov["inputs"]["real"]["fingerprint"] and prov["inputs"]["real"]["n"] == 40
    assert {"ganeval", "torch", "numpy", "python"} <= set(prov["versions"])


def test_is_needs_only_the_generated_set(image_sets):
    _, b_dir, _, _ = image_sets
    run = evaluate(None, b_dir, _config(metrics=("is",), use_cache=False))
    assert run.get("is").value >= 1.0
    from ganeval.errors import BadInputError
    with pytest.raises(BadInputError):
        evaluate(None, b_dir, _config(metrics=("fid",)))


def test_loaded_stats_is_featurestats(tmp_path, image_sets):
    a_dir, _, _, _ = image_sets
    stats, _ = compute_stats(a_dir, _config())
    stats.save(tmp_path / "s.npz")
    loaded = FeatureStats.load(tmp_path / "s.npz")
    assert loaded.meta["extractor"] == "test-tiny"
    assert loaded.meta["source"]["n"] == 40
