"""Attribute-distribution discrepancy (L1, L2, KL), distributions from labels, the prevalence table, and
their bootstrap intervals: closed forms worked by hand, scipy's entropy, invariances, planted imbalances."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.stats import entropy

from ganeval.errors import BadInputError
from ganeval.fairness import (
    KL_EPS, discrepancy_ci, distribution_discrepancy, kl_divergence, l1_distance, l2_distance,
    label_distribution, labels_discrepancy, prevalence_ci, prevalence_table,
)


def test_identical_distributions_give_zero():
    p = np.array([0.1, 0.0, 0.6, 0.3])
    d = distribution_discrepancy(p, p)
    assert (d.l1, d.l2, d.kl) == (0.0, 0.0, 0.0)  # exactly, zero cell included
    labels = np.array(["a", "b", "b", "c", "c", "c"])
    d = labels_discrepancy(labels, labels[::-1])
    assert (d.l1, d.l2, d.kl) == (0.0, 0.0, 0.0)
    balanced = np.array(list(itertools.product((0, 1), repeat=3)) * 5)  # every joint cell 5 times
    d = labels_discrepancy(balanced)  # against the uniform reference
    assert (d.l1, d.l2, d.kl) == (0.0, 0.0, 0.0) and d.uniform_reference


def test_hand_worked_example():
    # p = (1/2, 1/2), q = (1/4, 3/4): L1 = 1/4 + 1/4, L2 = sqrt(2/16), KL = 1/2 ln 2 + 1/2 ln(2/3).
    p, q = [0.5, 0.5], [0.25, 0.75]
    assert l1_distance(p, q) == pytest.approx(0.5, abs=1e-15)
    assert l2_distance(p, q) == pytest.approx(math.sqrt(0.125), abs=1e-15)
    kl = 0.5 * math.log(2) + 0.5 * math.log(2 / 3)
    assert kl_divergence(p, q, eps=0) == pytest.approx(kl, abs=1e-15)
    assert kl_divergence(p, q, eps=0) == pytest.approx(entropy(p, q), abs=1e-15)  # scipy's KL(p || q)
    assert kl_divergence(p, q) == pytest.approx(kl, abs=1e-5)  # the default smoothing moves it by ~eps
    # Direction: KL(reference || generated), not the reverse.
    assert kl_divergence(p, q, eps=0) != pytest.approx(entropy(q, p), abs=1e-3)
    # Uniform reference by default: q = (1, 0, 0, 0) -> L1 = 3/4 + 3 * 1/4, L2 = sqrt(9/16 + 3/16).
    d = distribution_discrepancy([1.0, 0.0, 0.0, 0.0])
    assert d.l1 == pytest.approx(1.5, abs=1e-15) and d.l2 == pytest.approx(math.sqrt(0.75), abs=1e-15)
    assert np.array_equal(d.reference, np.full(4, 0.25))


def test_kl_smoothing_of_a_dropped_cell_has_the_documented_closed_form():
    # p = (1, 0), q = (0, 1): smoothed KL = ln((1 + e) / e) / (1 + 2e).
    for eps in (1e-6, 1e-3, 0.1):
        closed_form = math.log((1 + eps) / eps) / (1 + 2 * eps)
        assert kl_divergence([1, 0], [0, 1], eps=eps) == pytest.approx(closed_form, rel=1e-12)
    assert kl_divergence([1, 0], [0, 1], eps=0) == math.inf
    assert kl_divergence([0, 1], [0.5, 0.5], eps=0) == pytest.approx(math.log(2), abs=1e-15)  # 0 log 0 = 0
    # A dropped reference cell of mass p adds about p ln(p / eps): 13.8 p nats at the default eps.
    assert KL_EPS == 1e-6
    gap = kl_divergence([0.5, 0.5], [1.0, 0.0]) - 0.5 * math.log(0.5 / 1.0)
    assert gap == pytest.approx(0.5 * math.log(0.5 / KL_EPS), rel=1e-4)


def test_distributions_from_labels():
    cells, p = label_distribution(np.array(["b", "a", "b", "c"]))
    assert cells == ("a", "b", "c") and p.tolist() == [0.25, 0.5, 0.25]
    # Cells come from both sets and `values`; a value neither set holds is a zero cell only if listed.
    d = labels_discrepancy(["a", "a"], ["a", "b"], values=["a", "b", "z"])
    assert d.cells == ("a", "b", "z")
    assert d.generated.tolist() == [1, 0, 0] and d.reference.tolist() == [0.5, 0.5, 0]
    assert d.l1 == pytest.approx(1.0) and d.l2 == pytest.approx(math.sqrt(0.5))
    # All-0/1 labels get both cells, so a generator that makes only 1s is 1.0 away (L1) from balanced.
    d = labels_discrepancy(np.ones(10, dtype=int))
    assert d.cells == (0, 1) and d.l1 == 1.0
    # (N, k) binary attributes: the joint over {0, 1}^k in itertools.product order.
    x = np.array([[0, 0], [0, 1], [0, 1], [1, 1]])
    cells, p = label_distribution(x)
    assert cells == ((0, 0), (0, 1), (1, 0), (1, 1)) and p.tolist() == [0.25, 0.5, 0.0, 0.25]
    # Soft scores: each row spreads over the cells as independent Bernoullis (Choi et al.'s E[p(u|x)]).
    cells, p = label_distribution(np.array([[0.2, 0.7], [1.0, 0.0]]))
    by_hand = (np.array([0.8 * 0.3, 0.8 * 0.7, 0.2 * 0.3, 0.2 * 0.7]) + np.array([0, 0, 1, 0])) / 2
    np.testing.assert_allclose(p, by_hand, rtol=0, atol=1e-15)


def test_measures_are_invariant_to_row_order_and_consistent_cell_relabelling():
    rng = np.random.default_rng(0)
    g, r = rng.integers(0, 4, 300), rng.integers(0, 4, 200)
    d = labels_discrepancy(g, r)
    d2 = labels_discrepancy(rng.permutation(g), rng.permutation(r))
    assert (d.l1, d.l2, d.kl) == pytest.approx((d2.l1, d2.l2, d2.kl), abs=1e-15)
    names = np.array(["w", "x", "y", "z"])[::-1]  # relabel the cells in reverse order in both sets
    d3 = labels_discrepancy(names[g], names[r])
    assert (d.l1, d.l2, d.kl) == pytest.approx((d3.l1, d3.l2, d3.kl), abs=1e-15)
    # The joint of two independent attributes against its own reference, columns swapped in both sets.
    a, b = rng.integers(0, 2, (500, 2)), rng.integers(0, 2, (400, 2))
    d4, d5 = labels_discrepancy(a, b), labels_discrepancy(a[:, ::-1], b[:, ::-1])
    assert (d4.l1, d4.l2, d4.kl) == pytest.approx((d5.l1, d5.l2, d5.kl), abs=1e-15)


def test_prevalence_table():
    gen = np.array([[1, 0, 1], [1, 0, 0], [1, 1, 0], [0, 0, 0]])
    ref = np.array([[1, 0, 0], [0, 0, 0]])
    rows = prevalence_table(gen, ref, names=["hat", "glasses", "beard"])
    assert [r.attribute for r in rows] == ["hat", "glasses", "beard"]
    assert [(r.reference, r.generated, r.difference) for r in rows] == [(0.5, 0.75, 0.25), (0.0, 0.25, 0.25),
                                                                       (0.0, 0.25, 0.25)]
    assert rows[0].n_reference == 2 and rows[0].n_generated == 4
    rows = prevalence_table(np.array([[0.9], [0.5]]))  # probabilities; no reference: the balanced 0.5
    assert rows[0].reference == 0.5 and rows[0].generated == pytest.approx(0.7) and rows[0].n_reference is None


def test_bad_inputs():
    with pytest.raises(BadInputError, match="sum to 1"):
        l1_distance([0.5, 0.6], [0.5, 0.5])
    with pytest.raises(BadInputError, match="cells"):
        l2_distance([0.5, 0.5], [1.0, 0.0, 0.0])
    with pytest.raises(BadInputError, match=">= 0"):
        kl_divergence([1.5, -0.5], [0.5, 0.5])
    with pytest.raises(BadInputError, match=r"\[0, 1\]"):
        labels_discrepancy(np.array([[0, 2], [1, 1]]))
    with pytest.raises(BadInputError, match="attributes"):
        labels_discrepancy(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(BadInputError, match="values lists"):
        labels_discrepancy(np.zeros((3, 2)), values=[0, 1])
    with pytest.raises(BadInputError, match="missing"):
        labels_discrepancy(["a", None])
    with pytest.raises(BadInputError, match="names"):
        prevalence_table(np.zeros((3, 2)), names=["a"])


# ------------------------------------------------------------------------------------------------
# Intervals


def test_discrepancy_intervals_are_seeded_and_separate_a_planted_imbalance():
    rng = np.random.default_rng(1)
    fair = rng.integers(0, 2, (2000, 2))  # two independent balanced attributes: uniform joint
    skewed = (rng.random((2000, 2)) < [0.7, 0.5]).astype(int)  # the first attribute over-represented
    a = discrepancy_ci(skewed, n_boot=200, seed=3)
    assert a == discrepancy_ci(skewed, n_boot=200, seed=3) and a != discrepancy_ci(skewed, n_boot=200, seed=4)
    d = labels_discrepancy(skewed)
    assert a.l1[0] <= d.l1 <= a.l1[1] and a.kl[0] <= d.kl <= a.kl[1]
    # Population values: joint (0.15, 0.15, 0.35, 0.35) vs uniform -> L1 = 0.4, L2 = 0.2.
    assert a.l1[0] < 0.4 < a.l1[1] and a.l2[0] < 0.2 < a.l2[1]
    b = discrepancy_ci(fair, n_boot=200, seed=3)
    assert b.l1[1] < a.l1[0] and b.kl[1] < a.kl[0]  # the fair set's interval lies wholly below
    # With a reference set both sides are resampled: wider than against the fixed uniform target.
    c = discrepancy_ci(skewed, fair, n_boot=200, seed=3)
    assert c.l2[1] - c.l2[0] > a.l2[1] - a.l2[0]


def test_prevalence_intervals_detect_a_planted_difference_and_cover_at_the_nominal_rate():
    rng = np.random.default_rng(2)
    ref = (rng.random((1500, 2)) < [0.3, 0.5]).astype(float)
    gen = (rng.random((1500, 2)) < [0.3, 0.6]).astype(float)  # second attribute +0.1
    rows = prevalence_ci(gen, ref, names=["hat", "smiling"], n_boot=300, seed=0)
    assert rows[0].difference[0] < 0 < rows[0].difference[1]  # same rate: the interval holds 0
    assert 0 < rows[1].difference[0] < 0.1 < rows[1].difference[1]  # planted +0.1, 0 excluded
    assert rows[1].reference[0] < 0.5 < rows[1].reference[1]
    assert rows[1].generated[0] < 0.6 < rows[1].generated[1]
    assert prevalence_ci(gen, names=["hat", "smiling"], n_boot=50, seed=0)[0].reference is None
    hits = 0
    for rep in range(100):
        x = (np.random.default_rng(100 + rep).random((200, 1)) < 0.3).astype(float)
        lo, hi = prevalence_ci(x, n_boot=200, seed=rep)[0].generated
        hits += lo <= 0.3 <= hi
    assert 0.85 <= hits / 100 <= 1.0  # 95% intervals; binomial sd 0.022 over 100 repetitions
    with pytest.raises(BadInputError, match="n_boot"):
        prevalence_ci(gen, n_boot=0)
