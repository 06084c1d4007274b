"""Attribute co-occurrence (phi of every pair): against scikit-learn's Matthews correlation, against pairs
planted by synthfaces' copula, and its intervals' behaviour on independent and tied attributes."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import matthews_corrcoef

from ganeval.bias.cooccurrence import attribute_pairs, cooccurrence, phi_matrix
from ganeval.datasets.synthfaces import ATTRIBUTES, build_attribute_model, sample_attributes


def test_phi_is_matthews_correlation_for_every_pair():
    rng = np.random.default_rng(0)
    x = (rng.random((500, 4)) < [0.2, 0.5, 0.7, 0.4]).astype(np.uint8)
    x[:, 3] = np.where(rng.random(500) < 0.7, x[:, 0], x[:, 3])  # a tie between columns 0 and 3
    m = phi_matrix(x)
    for i in range(4):
        for j in range(4):
            assert m[i, j] == pytest.approx(matthews_corrcoef(x[:, i], x[:, j]), abs=1e-12)
    assert m[0, 3] > 0.3


def test_constant_attributes_give_nan_not_zero():
    x = np.array([[1, 0, 1], [1, 1, 0], [1, 0, 0], [1, 1, 1]])
    m = phi_matrix(x)
    assert np.isnan(m[0]).all() and np.isnan(m[:, 0]).all()
    assert m[1, 2] == pytest.approx(0.0)
    assert np.isnan(phi_matrix(x[:1])).all()


def _planted(n: int, seed: int, correlations=()):
    model = build_attribute_model((), correlations)
    return sample_attributes(model, n, seed)


def test_a_planted_pair_is_found_with_its_value_and_the_others_are_not():
    values = _planted(3000, 4, ((("hat", "glasses"), 0.8),))
    c = cooccurrence(values, None, ATTRIBUTES, n_boot=300, seed=1)
    assert c.pairs == attribute_pairs(ATTRIBUTES) and len(c.pairs) == 15
    lo, hi = c.interval("audited", ("hat", "glasses"))
    assert lo < 0.8 < hi and lo > 0.7
    others = [p for p in c.pairs if p != ("hat", "glasses")]
    covering = [c.interval("audited", p)[0] < 0 < c.interval("audited", p)[1] for p in others]
    assert sum(covering) >= 12  # 95% intervals: at most a couple of the 14 independent pairs miss 0 by chance


def test_the_difference_against_a_reference_has_the_right_sign():
    real = _planted(2000, 5)
    tied = _planted(2000, 6, ((("hat", "glasses"), 0.6),))
    c = cooccurrence(tied, real, ATTRIBUTES, roles=("generated", "real"), n_boot=200, seed=0)
    j = c.pairs.index(("hat", "glasses"))
    assert c.difference[j] == pytest.approx(c.audited[j] - c.reference[j])
    assert c.interval("difference", ("hat", "glasses"))[0] > 0.4
    same = cooccurrence(_planted(2000, 7), real, ATTRIBUTES, n_boot=200, seed=0)
    lo, hi = same.interval("difference", ("hat", "glasses"))
    assert lo < 0 < hi
    metrics = {r.metric for r in c.results}
    assert metrics == {"phi_generated", "phi_real", "phi_difference"}
    assert all(r.ci_low is not None and r.details["by"] == "attribute pair" for r in c.results)


def test_intervals_are_seeded_and_optional():
    values = _planted(400, 8, ((("hat", "glasses"), 0.5),))
    a = cooccurrence(values, None, ATTRIBUTES, n_boot=50, seed=3)
    b = cooccurrence(values, None, ATTRIBUTES, n_boot=50, seed=3)
    assert np.array_equal(a.intervals["audited"], b.intervals["audited"])
    none = cooccurrence(values, None, ATTRIBUTES, level=None)
    assert none.intervals == {} and all(r.ci_low is None for r in none.results)
