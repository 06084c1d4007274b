"""FeatureStats: streaming sums against numpy's two-pass estimates, exact merges, save/load, peer formats."""

from __future__ import annotations

import numpy as np
import pytest

from ganeval.errors import BadInputError
from ganeval.stats import FeatureStats

META = {"extractor": "x", "weights_sha256": "none", "protocol": "tf", "feature": "pool"}


def _features(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # a non-zero mean and correlated columns, as real network features have
    return (rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) * 0.3 + 2.0).astype(np.float32)


def _stream(x: np.ndarray, batch: int, keep=()) -> FeatureStats:
    s = FeatureStats(dim=x.shape[1], keep=keep, meta=dict(META))
    for i in range(0, len(x), batch):
        s.update(x[i:i + batch])
    return s


def test_mean_and_cov_match_numpy_two_pass():
    x = _features(500, 16)
    s = _stream(x, 37)
    assert s.n == 500
    np.testing.assert_allclose(s.mean, x.astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(s.cov, np.cov(x.astype(np.float64), rowvar=False), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("batch", [1, 7, 64, 500])
def test_batch_size_invariance(batch):
    x = _features(300, 8, seed=1)
    ref = _stream(x, 300)
    s = _stream(x, batch)
    np.testing.assert_allclose(s.mean, ref.mean, rtol=1e-13)
    np.testing.assert_allclose(s.cov, ref.cov, rtol=1e-10, atol=1e-13)


def test_merge_of_shards_equals_whole():
    x = _features(400, 12, seed=2)
    whole = _stream(x, 50, keep=("pool",))
    shards = [_stream(x[a:b], 13, keep=("pool",)) for a, b in ((0, 90), (90, 91), (91, 400))]
    merged = shards[0].merge(shards[1]).merge(shards[2])
    assert merged.n == 400
    np.testing.assert_allclose(merged.mean, whole.mean, rtol=1e-13)
    np.testing.assert_allclose(merged.cov, whole.cov, rtol=1e-10, atol=1e-13)
    np.testing.assert_array_equal(merged.kept("pool"), x)


def test_merge_refuses_incompatible_stats():
    a = _stream(_features(10, 4), 5)
    b = FeatureStats(dim=4, meta=dict(META, protocol="clean"))
    b.update(_features(10, 4, seed=3))
    with pytest.raises(BadInputError, match="protocol"):
        a.merge(b)
    with pytest.raises(BadInputError, match="dimension"):
        a.merge(FeatureStats(dim=5, meta=dict(META)))


def test_save_load_round_trip_and_merge_after_load(tmp_path):
    x = _features(200, 10, seed=4)
    a, b = _stream(x[:120], 32, keep=("pool",)), _stream(x[120:], 32, keep=("pool",))
    a.save(tmp_path / "a.npz")
    b.save(tmp_path / "b.npz")
    la, lb = FeatureStats.load(tmp_path / "a.npz"), FeatureStats.load(tmp_path / "b.npz")
    assert la.meta["extractor"] == "x" and la.n == 120
    merged = la.merge(lb)
    whole = _stream(x, 200)
    np.testing.assert_allclose(merged.mean, whole.mean, rtol=1e-12)
    np.testing.assert_allclose(merged.cov, whole.cov, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(merged.kept("pool"), x)


def test_pytorch_fid_reads_ganeval_stats_and_vice_versa(tmp_path):
    from pytorch_fid.fid_score import calculate_frechet_distance

    x, y = _features(300, 6, seed=5), _features(300, 6, seed=6) + 0.5
    sx, sy = _stream(x, 100), _stream(y, 100)
    sx.save(tmp_path / "x.npz")
    # pytorch-fid's own loader reads exactly these keys
    with np.load(tmp_path / "x.npz") as f:
        mu, sigma = f["mu"][:], f["sigma"][:]
    np.testing.assert_allclose(mu, np.mean(x, axis=0), rtol=1e-6)
    np.testing.assert_allclose(sigma, np.cov(x, rowvar=False), rtol=1e-6, atol=1e-9)
    # a file in pytorch-fid's --save-stats layout (mu and sigma only) loads, without N
    np.savez(tmp_path / "pf.npz", mu=np.mean(y, axis=0), sigma=np.cov(y, rowvar=False))
    pf = FeatureStats.load(tmp_path / "pf.npz")
    assert pf.n is None
    ref = calculate_frechet_distance(np.mean(x, 0), np.cov(x, rowvar=False), np.mean(y, 0), np.cov(y, rowvar=False))
    got = calculate_frechet_distance(sx.mean, sx.cov, pf.mean, pf.cov)
    assert got == pytest.approx(ref, rel=1e-6)
    with pytest.raises(BadInputError, match="cannot be merged"):
        sx.merge(pf)


def test_load_rejects_non_stats_files(tmp_path):
    np.savez(tmp_path / "arr.npz", images=np.zeros((2, 3, 4, 4), np.uint8))
    with pytest.raises(BadInputError, match="arr.npz"):
        FeatureStats.load(tmp_path / "arr.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(BadInputError, match="junk.npz"):
        FeatureStats.load(tmp_path / "junk.npz")
    # a pickled object array is never unpickled
    np.savez(tmp_path / "obj.npz", mu=np.array([object()], dtype=object), sigma=np.eye(1))
    with pytest.raises(BadInputError, match="obj.npz"):
        FeatureStats.load(tmp_path / "obj.npz")


def test_failed_save_leaves_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "s.npz"
    s = _stream(_features(20, 3), 10)
    s.save(path)
    before = path.read_bytes()

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(RuntimeError):
        s.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["s.npz"]


def test_loaded_stats_give_bit_identical_moments(tmp_path):
    """A cache hit must reproduce the numbers of the run that wrote it, to the last bit."""
    from ganeval.metrics.fid import stats_to_fid

    x, y = _features(700, 64, seed=7), _features(700, 64, seed=8) * 1.1
    sx, sy = _stream(x, 64), _stream(y, 64)
    sx.save(tmp_path / "x.npz")
    lx = FeatureStats.load(tmp_path / "x.npz")
    assert np.array_equal(lx.mean, sx.mean) and np.array_equal(lx.cov, sx.cov)
    assert stats_to_fid(lx.mean, lx.cov, sy.mean, sy.cov).value == stats_to_fid(sx.mean, sx.cov, sy.mean, sy.cov).value
    # extending a loaded object switches back to the sums
    lx.update(y[:10])
    ref = _stream(np.concatenate([x, y[:10]]), 64)
    np.testing.assert_allclose(lx.cov, ref.cov, rtol=1e-9, atol=1e-12)
