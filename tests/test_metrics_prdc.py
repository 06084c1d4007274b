"""Precision/recall/density/coverage: against prdc and torch-fidelity on the same features, block-size
and dtype invariance, exact ties (identical sets, memorised samples), and the memory bound."""

from __future__ import annotations

import contextlib
import io
import tracemalloc

import numpy as np
import prdc
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_fidelity.metric_prc import calculate_precision_recall_full

from ganeval.errors import BadInputError
from ganeval.metrics.prdc import features_to_prdc

FOUR = ("precision", "recall", "density", "coverage")


def mixture(rng: np.random.Generator, n: int, d: int, centres: np.ndarray, spread: float, dtype=np.float64):
    """n points around randomly chosen `centres`, with a shared random linear structure."""
    mix = np.eye(d) + 0.3 * np.random.default_rng(99).standard_normal((d, d)) / np.sqrt(d)
    pick = rng.integers(0, len(centres), n)
    return ((centres[pick] + spread * rng.standard_normal((n, d))) @ mix + 2.0).astype(dtype)


@pytest.fixture(scope="module")
def sets():
    rng = np.random.default_rng(0)
    d = 32
    centres = rng.standard_normal((6, d)) * 2.0
    real = mixture(rng, 400, d, centres, 1.0)
    fake = mixture(rng, 350, d, centres[:4] * 1.1, 1.2)  # misses two modes, a little wider
    return real, fake


def peer_prdc(real, fake, pr_k=3, dc_k=5):
    """prdc.compute_prdc uses one k for all four: k=pr_k for P/R, k=dc_k for D/C."""
    with contextlib.redirect_stdout(io.StringIO()):  # it prints the set sizes
        a = prdc.compute_prdc(real, fake, pr_k)
        b = prdc.compute_prdc(real, fake, dc_k)
    return {"precision": a["precision"], "recall": a["recall"], "density": b["density"], "coverage": b["coverage"]}


def values(v) -> dict[str, float]:
    return {name: getattr(v, name) for name in FOUR}


def test_equals_prdc_exactly_in_float64(sets):
    real, fake = sets
    ref = peer_prdc(real, fake)
    ours = features_to_prdc(real, fake, dtype=np.float64)
    assert values(ours) == {k: float(v) for k, v in ref.items()}
    assert 0.2 < ours.precision < 0.99 and 0.2 < ours.recall < 0.99  # a discriminating case, not 0 or 1


def test_float32_mode_within_one_sample_of_prdc(sets):
    real, fake = (x.astype(np.float32) for x in sets)
    ref = peer_prdc(real, fake)
    ours = features_to_prdc(real, fake, dtype=np.float32)
    assert abs(ours.precision - ref["precision"]) <= 1 / len(fake)
    assert abs(ours.density - ref["density"]) <= 1 / len(fake)
    assert abs(ours.recall - ref["recall"]) <= 1 / len(real)
    assert abs(ours.coverage - ref["coverage"]) <= 1 / len(real)


def test_other_k_match_prdc(sets):
    real, fake = sets
    ref = peer_prdc(real, fake, pr_k=1, dc_k=10)
    assert values(features_to_prdc(real, fake, pr_k=1, dc_k=10, dtype=np.float64)) == \
        {k: float(v) for k, v in ref.items()}


def test_non_strict_matches_torch_fidelity(sets):
    real, fake = sets
    # torch-fidelity's convention: features_1 is the generated set, features_2 the real one.
    precision, recall = calculate_precision_recall_full(torch.from_numpy(fake), torch.from_numpy(real), 3)
    ours = features_to_prdc(real, fake, strict=False)
    # torch-fidelity averages in float32: equal counts show as a difference below 1e-6 (1/N is 3e-3).
    assert ours.precision == pytest.approx(precision, abs=1e-6)
    assert ours.recall == pytest.approx(recall, abs=1e-6)


def test_float32_and_float64_tiles_agree_sample_by_sample(sets):
    real, fake = sets
    a = features_to_prdc(real, fake, dtype=np.float32)
    b = features_to_prdc(real, fake, dtype=np.float64)
    for name in ("precision_per_fake", "density_count_per_fake", "recall_per_real", "coverage_per_real"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_block_size_does_not_change_anything(sets, dtype):
    real, fake = sets
    big = features_to_prdc(real, fake, dtype=dtype)
    tiny = features_to_prdc(real, fake, dtype=dtype, block_mib=0.02)  # tiles of a few dozen rows
    assert values(tiny) == values(big)
    np.testing.assert_array_equal(tiny.density_count_per_fake, big.density_count_per_fake)
    np.testing.assert_array_equal(tiny.coverage_per_real, big.coverage_per_real)


def test_indicators_average_to_the_values(sets):
    real, fake = sets
    v = features_to_prdc(real, fake)
    assert v.precision == v.precision_per_fake.mean()
    assert v.recall == v.recall_per_real.mean()
    assert v.coverage == v.coverage_per_real.mean()
    assert v.density == pytest.approx(v.density_count_per_fake.sum() / (5 * len(fake)), rel=1e-12)
    assert v.precision_per_fake.shape == (len(fake),) and v.recall_per_real.shape == (len(real),)
    # A fake sample inside some real pr-ball: with dc_k > pr_k its dc-ball count is positive too.
    assert (v.density_count_per_fake[v.precision_per_fake] > 0).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_identical_sets_closed_form(sets, dtype):
    """Every point is at distance 0 from its copy, and each k-ball holds exactly k points with `<`
    (itself and k-1 neighbours; the k-th sits on the boundary), k+1 with `<=`."""
    real = sets[0].astype(np.float32)
    strict = features_to_prdc(real, real.copy(), dtype=dtype)
    assert values(strict) == {"precision": 1.0, "recall": 1.0, "density": 1.0, "coverage": 1.0}
    loose = features_to_prdc(real, real[::-1].copy(), dtype=dtype, strict=False)
    assert (loose.precision, loose.recall, loose.coverage) == (1.0, 1.0, 1.0)
    assert loose.density == pytest.approx(6 / 5, rel=1e-12)
    assert (loose.density_count_per_fake.sum(), strict.density_count_per_fake.sum()) == (6 * len(real), 5 * len(real))


def test_memorised_and_far_samples_closed_form(sets):
    """Half the fake set copies real samples, half is far away: precision and density count exactly."""
    real = sets[0]
    copies = real[:100]
    far = real[100:200] + 1e3
    fake = np.concatenate([copies, far])
    v = features_to_prdc(real, fake)
    assert v.precision == 0.5
    np.testing.assert_array_equal(v.precision_per_fake, np.r_[np.ones(100, bool), np.zeros(100, bool)])
    assert (v.density_count_per_fake[100:] == 0).all()
    ref = peer_prdc(real, fake)
    assert values(v) == {k: float(x) for k, x in ref.items()}


def test_duplicated_points_behave_like_prdc():
    """Every real point three times: the 1st and 2nd neighbours are copies at distance 0, so with
    k=2 the radius is 0 and `<` admits nothing, `<=` admits the copies."""
    rng = np.random.default_rng(1)
    base = rng.standard_normal((60, 8))
    real = np.repeat(base, 3, axis=0)
    fake = np.concatenate([base[:30], rng.standard_normal((30, 8))])
    strict = features_to_prdc(real, fake, pr_k=2, dc_k=2)
    assert strict.precision == 0.0 and strict.coverage == 0.0
    loose = features_to_prdc(real, fake, pr_k=2, dc_k=2, strict=False)
    assert loose.precision == 0.5  # exactly the 30 copies
    assert (loose.density_count_per_fake[:30] == 3).all()
    ref = peer_prdc(real, fake, pr_k=2, dc_k=2)
    assert (strict.precision, strict.coverage) == (ref["precision"], ref["coverage"])


def brute_force(real, fake, pr_k, dc_k, strict):
    """The definitions on full distance matrices; exact for integer-valued features."""
    op = np.less if strict else np.less_equal
    sq = lambda a, b: ((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=-1)  # noqa: E731
    d_rr, d_ff, d_rf = sq(real, real), sq(fake, fake), sq(real, fake)
    r_pr, r_dc = np.sort(d_rr, axis=1)[:, pr_k], np.sort(d_rr, axis=1)[:, dc_k]  # index k: self is 0th
    f_pr = np.sort(d_ff, axis=1)[:, pr_k]
    return {"precision": op(d_rf, r_pr[:, None]).any(axis=0).mean(),
            "recall": op(d_rf, f_pr[None, :]).any(axis=1).mean(),
            "density": op(d_rf, r_dc[:, None]).sum(axis=0).mean() / dc_k,
            "coverage": op(d_rf.min(axis=1), r_dc).mean()}


@settings(max_examples=60, deadline=None, database=None)
@given(
    n=st.integers(7, 40), m=st.integers(4, 40), d=st.integers(1, 4), span=st.integers(1, 3),
    offset=st.sampled_from([0.0, 1e4]), strict=st.booleans(), dtype=st.sampled_from([np.float32, np.float64]),
    block=st.sampled_from([0.001, 256.0]), seed=st.integers(0, 2**16),
)
def test_integer_features_with_ties_match_brute_force(n, m, d, span, offset, strict, dtype, block, seed):
    """Small integer grids: many exact ties and duplicates, far from the origin or not, tiny tiles or one."""
    rng = np.random.default_rng(seed)
    real = (rng.integers(-span, span + 1, (n, d)) + offset).astype(np.float32)
    fake = (rng.integers(-span, span + 1, (m, d)) + offset).astype(np.float32)
    pr_k, dc_k = 3, min(5, n - 1)
    ours = features_to_prdc(real, fake, pr_k=pr_k, dc_k=dc_k, strict=strict, dtype=dtype, block_mib=block)
    ref = brute_force(real.astype(np.float64), fake.astype(np.float64), pr_k, dc_k, strict)
    assert values(ours) == pytest.approx(ref, abs=1e-12)


@pytest.mark.parametrize("n", [22, 30, 41])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ragged_last_block_matches_brute_force(n, dtype):
    """block_mib=0.01 at d=5 makes tiles of 21 (float64) or 29 (float32) rows: the last block has
    one or a few rows (a one-row tile once scrambled the neighbour ids of that row)."""
    rng = np.random.default_rng(n)
    real = (rng.integers(-2, 3, (n, 5)) + 1e4).astype(np.float32)
    fake = (rng.integers(-2, 3, (n + 3, 5)) + 1e4).astype(np.float32)
    for strict in (True, False):
        ours = features_to_prdc(real, fake, pr_k=3, dc_k=1, strict=strict, dtype=dtype, block_mib=0.01)
        ref = brute_force(real.astype(np.float64), fake.astype(np.float64), 3, 1, strict)
        assert values(ours) == pytest.approx(ref, abs=1e-12)


def test_memory_stays_bounded_without_an_n_by_n_matrix():
    """2000 x 2000 distances would be 16 MB in float32; a 1 MiB block budget keeps the peak far below
    (numpy reports its allocations to tracemalloc)."""
    rng = np.random.default_rng(2)
    real = rng.standard_normal((2000, 16)).astype(np.float32)
    fake = (rng.standard_normal((2000, 16)) * 1.1).astype(np.float32)
    tracemalloc.start()
    try:
        features_to_prdc(real, fake, block_mib=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20


def test_bad_inputs(sets):
    real, fake = sets
    with pytest.raises(BadInputError, match="width"):
        features_to_prdc(real, fake[:, :10])
    with pytest.raises(BadInputError, match="more samples than k"):
        features_to_prdc(real[:5], fake)
    with pytest.raises(BadInputError, match="more samples than k"):
        features_to_prdc(real, fake[:3])
    bad = fake.copy()
    bad[2, 2] = np.nan
    with pytest.raises(BadInputError, match="NaN"):
        features_to_prdc(real, bad)
    with pytest.raises(BadInputError, match="dtype"):
        features_to_prdc(real, fake, dtype=np.float16)
    with pytest.raises(BadInputError, match=r"\(N, d\)"):
        features_to_prdc(real[0], fake)
