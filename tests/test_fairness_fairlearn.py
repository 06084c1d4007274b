"""Group metrics and parity measures against fairlearn 0.15 on the same inputs: its documented examples,
randomised inputs (hypothesis: groups without positives or negatives, one group, missing intersections,
weights, up to 27 groups, both methods, both aggregations), degenerate cases, and bootstrap intervals."""

from __future__ import annotations

import functools
import math
import warnings

import fairlearn.metrics as flm
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, fbeta_score, recall_score

from ganeval.errors import BadInputError
from ganeval.fairness import (
    BUILTIN_METRICS, PARITY_MEASURES, GroupMetrics, accuracy, count, demographic_parity_difference,
    equal_opportunity_difference, equalized_odds_difference, equalized_odds_ratio, false_negative_rate,
    false_positive_rate, parity_ci, parity_summary, selection_rate, true_negative_rate, true_positive_rate,
)

# Our built-in metric -> fairlearn's (scikit-learn's accuracy_score for accuracy).
PEERS = {
    "selection_rate": flm.selection_rate,
    "true_positive_rate": flm.true_positive_rate,
    "false_positive_rate": flm.false_positive_rate,
    "true_negative_rate": flm.true_negative_rate,
    "false_negative_rate": flm.false_negative_rate,
    "accuracy": accuracy_score,
    "count": flm.count,
}
FL_PARITY = {name: getattr(flm, name) for name in PARITY_MEASURES}


def same(a: float, b: float) -> bool:
    """Equal to 1e-12 (absolute or relative), NaN where the other is NaN."""
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


def key(k) -> tuple:
    return k if isinstance(k, tuple) else (k,)


def peer_frame(names, y_true, y_pred, sf, w=None) -> flm.MetricFrame:
    params = {n: {"sample_weight": w} for n in names if n != "count"} if w is not None else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 0/0 selection rates warn in fairlearn
        return flm.MetricFrame(metrics={n: PEERS[n] for n in names}, y_true=y_true, y_pred=y_pred,
                               sensitive_features=sf, sample_params=params)


def assert_frames_equal(ours: GroupMetrics, peer: flm.MetricFrame) -> None:
    """overall, by_group (every group, NaN positions included), min, max, difference, ratio (both methods)."""
    names = ours.metric_names
    for name in names:
        assert same(ours.overall[name], peer.overall[name]), name
        peer_groups = {key(k): v for k, v in peer.by_group[name].items()}
        assert set(ours.by_group[name]) == set(peer_groups), name
        for g, v in ours.by_group[name].items():
            assert same(v, peer_groups[g]), (name, g, v, peer_groups[g])
        assert same(ours.group_min()[name], peer.group_min()[name]), name
        assert same(ours.group_max()[name], peer.group_max()[name]), name
        for method in ("between_groups", "to_overall"):
            assert same(ours.difference(method)[name], peer.difference(method=method)[name]), (name, method)
            assert same(ours.ratio(method)[name], peer.ratio(method=method)[name]), (name, method)


# ------------------------------------------------------------------------------------------------
# fairlearn's documented examples


# The MetricFrame docstring (fairlearn/metrics/_metric_frame.py).
DOC_Y_TRUE = [1, 1, 1, 1, 1, 0, 0, 1, 1, 0]
DOC_Y_PRED = [0, 1, 1, 1, 1, 0, 0, 0, 1, 1]
DOC_SEX = ["Female"] * 5 + ["Male"] * 5


def test_metricframe_docstring_example():
    ours = GroupMetrics({"accuracy": accuracy, "selection_rate": selection_rate}, DOC_Y_TRUE, DOC_Y_PRED,
                        sensitive_features=DOC_SEX)
    assert_frames_equal(ours, peer_frame(["accuracy", "selection_rate"], DOC_Y_TRUE, DOC_Y_PRED, DOC_SEX))
    # The values the docstring prints.
    assert ours.by_group["selection_rate"] == {("Female",): 0.8, ("Male",): 0.4}
    assert ours.by_group["accuracy"] == {("Female",): 0.8, ("Male",): 0.6}
    assert ours.difference() == pytest.approx({"accuracy": 0.2, "selection_rate": 0.4}, abs=1e-12)
    assert ours.ratio() == pytest.approx({"accuracy": 0.75, "selection_rate": 0.5}, abs=1e-12)
    assert ours.group_min() == {"accuracy": 0.6, "selection_rate": 0.4}
    assert ours.group_max() == {"accuracy": 0.8, "selection_rate": 0.8}
    # One callable: plain floats, as fairlearn's single-metric frame.
    single = GroupMetrics(selection_rate, DOC_Y_TRUE, DOC_Y_PRED, sensitive_features=DOC_SEX)
    assert single.difference() == pytest.approx(0.4, abs=1e-12) and single.ratio() == pytest.approx(0.5)
    assert single.group_max() == 0.8 and single.metric_names == ("selection_rate",)


# The "Advanced usage of MetricFrame" user guide page: three groups, per-sample weights.
ADV_Y_TRUE = [0, 1, 1, 1, 1, 0, 1, 0, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1]
ADV_Y_PRED = [0, 0, 1, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 1, 1, 0]
ADV_SF = ["b", "b", "a", "b", "b", "c", "c", "c", "a", "a", "c", "a", "b", "c", "c", "b", "c", "c"]
ADV_W = [1, 2, 1, 3, 2, 3, 1, 2, 1, 2, 3, 1, 2, 3, 2, 3, 1, 1]


@pytest.mark.filterwarnings("ignore:Supplied 'func' had no __name__")
def test_user_guide_example_with_a_user_metric_and_weights():
    # A user callable (functools.partial of scikit-learn's fbeta_score), as in the guide.
    fbeta_06 = functools.partial(fbeta_score, beta=0.6)
    ours = GroupMetrics(fbeta_06, ADV_Y_TRUE, ADV_Y_PRED, sensitive_features=ADV_SF)
    peer = flm.MetricFrame(metrics=fbeta_06, y_true=ADV_Y_TRUE, y_pred=ADV_Y_PRED, sensitive_features=ADV_SF)
    assert same(ours.overall, peer.overall) and ours.overall == pytest.approx(0.56983, abs=1e-5)
    assert ours.by_group == pytest.approx({("a",): 0.365591, ("b",): 0.85, ("c",): 0.468966}, abs=1e-6)
    # Weighted recall (the guide's sample_params example) is our weighted true positive rate.
    ours_w = GroupMetrics(true_positive_rate, ADV_Y_TRUE, ADV_Y_PRED, sensitive_features=ADV_SF,
                          sample_weight=ADV_W)
    peer_w = flm.MetricFrame(metrics=recall_score, y_true=ADV_Y_TRUE, y_pred=ADV_Y_PRED,
                             sensitive_features=ADV_SF, sample_params={"sample_weight": ADV_W})
    assert same(ours_w.overall, peer_w.overall)
    for g, v in peer_w.by_group.items():
        assert same(ours_w.by_group[(g,)], v)
    assert_frames_equal(GroupMetrics({n: BUILTIN_METRICS[n] for n in PEERS}, ADV_Y_TRUE, ADV_Y_PRED,
                                     sensitive_features=ADV_SF, sample_weight=ADV_W),
                        peer_frame(list(PEERS), ADV_Y_TRUE, ADV_Y_PRED, ADV_SF, ADV_W))


# The assessment user guide (v0.5-0.7): four groups of a sensitive feature.
GUIDE_Y_TRUE = [0, 1, 1, 1, 1, 0, 1, 0, 1, 0, 0, 0, 1, 1, 1, 1]
GUIDE_Y_PRED = [0, 0, 1, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 1]
GUIDE_GROUPS = ["d", "a", "c", "b", "b", "c", "c", "c", "b", "d", "c", "a", "b", "d", "c", "c"]


@pytest.mark.parametrize("method", ["between_groups", "to_overall"])
@pytest.mark.parametrize("agg", ["worst_case", "mean"])
def test_parity_measures_on_the_guide_example(method, agg):
    assert true_positive_rate(GUIDE_Y_TRUE, GUIDE_Y_PRED) == 0.5  # the guide's recall
    for name, fn in PARITY_MEASURES.items():
        kw = {"agg": agg} if name.startswith("equalized_odds") else {}
        ours = fn(GUIDE_Y_TRUE, GUIDE_Y_PRED, sensitive_features=GUIDE_GROUPS, method=method, **kw)
        peer = FL_PARITY[name](GUIDE_Y_TRUE, GUIDE_Y_PRED, sensitive_features=GUIDE_GROUPS, method=method, **kw)
        assert same(ours, peer), (name, ours, peer)
        assert isinstance(ours, float)
    summary = parity_summary(GUIDE_Y_TRUE, GUIDE_Y_PRED, sensitive_features=GUIDE_GROUPS, method=method,
                             agg=agg)
    for name, value in summary.items():
        kw = {"agg": agg} if name.startswith("equalized_odds") else {}
        assert value == PARITY_MEASURES[name](GUIDE_Y_TRUE, GUIDE_Y_PRED, sensitive_features=GUIDE_GROUPS,
                                              method=method, **kw)


# ------------------------------------------------------------------------------------------------
# Randomised inputs


@st.composite
def cases(draw):
    """Small data sets: 1-3 features of 1-3 levels (strings or ints), labels that may lack a class
    entirely or within groups, optional weights (ints or floats)."""
    n = draw(st.integers(1, 30))
    n_features = draw(st.integers(1, 3))
    sf = {}
    for j in range(n_features):
        n_levels = draw(st.integers(1, 3))
        values = draw(st.lists(st.integers(0, n_levels - 1), min_size=n, max_size=n))
        sf[f"f{j}"] = [("abc"[v] if j % 2 == 0 else v) for v in values]
    bits = st.lists(st.integers(0, 1), min_size=n, max_size=n)
    mode = draw(st.sampled_from(["random", "random", "no_positives", "no_negatives"]))
    y_true = {"random": draw(bits), "no_positives": [0] * n, "no_negatives": [1] * n}[mode]
    y_pred = draw(bits)
    w_kind = draw(st.sampled_from([None, "int", "float"]))
    if w_kind == "int":
        w = draw(st.lists(st.integers(1, 5), min_size=n, max_size=n))
    elif w_kind == "float":
        w = draw(st.lists(st.floats(0.125, 8.0, allow_nan=False), min_size=n, max_size=n))
    else:
        w = None
    return y_true, y_pred, sf, w


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_group_metrics_equal_metricframe(case):
    y_true, y_pred, sf, w = case
    ours = GroupMetrics({n: BUILTIN_METRICS[n] for n in PEERS}, y_true, y_pred, sensitive_features=sf,
                        sample_weight=w)
    assert_frames_equal(ours, peer_frame(list(PEERS), y_true, y_pred, sf, w))
    # Missing intersections are kept as NaN groups, like fairlearn's reindexed by_group.
    sizes = ours.group_sizes
    assert len(sizes) == math.prod(len(set(v)) for v in sf.values())
    assert all(math.isnan(ours.by_group["accuracy"][g]) == (s == 0) for g, s in sizes.items())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.sampled_from(["between_groups", "to_overall"]), st.sampled_from(["worst_case", "mean"]))
def test_parity_measures_equal_fairlearn(case, method, agg):
    y_true, y_pred, sf, w = case
    summary = parity_summary(y_true, y_pred, sensitive_features=sf, method=method, sample_weight=w, agg=agg)
    for name, fn in PARITY_MEASURES.items():
        kw = {"agg": agg} if name.startswith("equalized_odds") else {}
        ours = fn(y_true, y_pred, sensitive_features=sf, method=method, sample_weight=w, **kw)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            peer = FL_PARITY[name](y_true, y_pred, sensitive_features=sf, method=method, sample_weight=w, **kw)
        assert same(ours, peer), (name, ours, peer)
        assert same(summary[name], ours), name


# ------------------------------------------------------------------------------------------------
# Degenerate groups, label conventions, input forms


def test_group_without_positives_has_tpr_zero_as_in_fairlearn():
    y_true = [0, 0, 1, 1, 0, 1]
    y_pred = [1, 0, 1, 0, 0, 1]
    sf = ["a", "a", "b", "b", "c", "c"]  # group a has no positives
    ours = GroupMetrics({"tpr": true_positive_rate, "fnr": false_negative_rate}, y_true, y_pred,
                        sensitive_features=sf)
    assert ours.by_group["tpr"][("a",)] == 0.0 and ours.by_group["fnr"][("a",)] == 0.0
    assert flm.true_positive_rate([0, 0], [1, 0]) == 0.0  # the fairlearn behaviour matched
    assert equal_opportunity_difference(y_true, y_pred, sensitive_features=sf) == 1.0


def test_single_group_and_all_zero_rates():
    # One group: difference 0; ratio 0/0 = NaN when the rate is 0, as fairlearn.
    y = [1, 0, 1]
    for pred, ratio in (([1, 0, 0], 1.0), ([0, 0, 0], math.nan)):
        ours = GroupMetrics(selection_rate, y, pred, sensitive_features=["x"] * 3)
        flm_value = flm.demographic_parity_ratio(y, pred, sensitive_features=["x"] * 3)
        assert ours.difference() == 0.0 and same(ours.ratio(), ratio) and same(flm_value, ratio)


def test_zero_weight_group():
    y_true, y_pred, sf = [1, 0, 1, 1], [1, 0, 0, 1], ["a", "a", "b", "b"]
    w = [0.0, 0.0, 1.0, 2.0]
    ours = GroupMetrics({"selection_rate": selection_rate}, y_true, y_pred, sensitive_features=sf,
                        sample_weight=w)
    assert math.isnan(ours.by_group["selection_rate"][("a",)])  # 0/0, fairlearn's too
    assert_frames_equal(ours, peer_frame(["selection_rate"], y_true, y_pred, sf, w))
    # The confusion-matrix rates and accuracy refuse a group whose weights are all 0, as scikit-learn does.
    for name in ("true_positive_rate", "false_positive_rate", "accuracy"):
        with pytest.raises(ValueError, match="at least one non-zero"):
            peer_frame([name], y_true, y_pred, sf, w)
        with pytest.raises(BadInputError, match="sample_weight of these rows is 0"):
            GroupMetrics(BUILTIN_METRICS[name], y_true, y_pred, sensitive_features=sf, sample_weight=w)
    # A zero weight on some rows of a group only removes them.
    w = [0.0, 1.0, 0.0, 2.0]
    ours = GroupMetrics({n: BUILTIN_METRICS[n] for n in PEERS}, y_true, y_pred, sensitive_features=sf,
                        sample_weight=w)
    assert_frames_equal(ours, peer_frame(list(PEERS), y_true, y_pred, sf, w))
    assert ours.by_group["true_positive_rate"][("b",)] == 1.0


def test_minus_one_one_labels_and_pos_label():
    y_true = np.array([-1, 1, 1, -1, 1, -1])
    y_pred = np.array([1, 1, -1, -1, 1, 1])
    pairs = ((true_positive_rate, flm.true_positive_rate), (false_positive_rate, flm.false_positive_rate),
             (true_negative_rate, flm.true_negative_rate), (false_negative_rate, flm.false_negative_rate))
    for fn, peer in pairs:
        assert same(fn(y_true, y_pred), peer(y_true, y_pred))
    s_true, s_pred = np.where(y_true == 1, "yes", "no"), np.where(y_pred == 1, "yes", "no")
    assert same(true_positive_rate(s_true, s_pred, pos_label="no"),
                flm.true_positive_rate(s_true, s_pred, pos_label="no"))
    assert same(selection_rate(s_true, s_pred, pos_label="yes"),
                flm.selection_rate(s_true, s_pred, pos_label="yes"))
    with pytest.raises(BadInputError, match="binary labels"):
        true_positive_rate([0, 1, 2], [0, 1, 1])
    with pytest.raises(BadInputError, match="binary labels"):
        true_positive_rate(s_true, s_pred)


def test_sensitive_feature_forms_and_names():
    y_true, y_pred = [1, 0, 1, 0, 1, 1], [1, 1, 0, 0, 1, 0]
    a, b = ["p", "q", "p", "q", "p", "p"], [0, 0, 1, 1, 1, 1]  # (q, 1) and (p, 0) present, no missing cell
    as_dict = GroupMetrics(selection_rate, y_true, y_pred, sensitive_features={"a": a, "b": b})
    as_array = GroupMetrics(selection_rate, y_true, y_pred, sensitive_features=np.array([a, b], dtype=object).T)
    assert as_dict.feature_names == ("a", "b")
    assert as_array.feature_names == ("sensitive_feature_0", "sensitive_feature_1")  # fairlearn's names
    assert as_dict.by_group == as_array.by_group
    peer = flm.MetricFrame(metrics=selection_rate, y_true=y_true, y_pred=y_pred,
                           sensitive_features=np.array([a, b], dtype=object).T)
    assert {key(k): v for k, v in peer.by_group.items()} == as_array.by_group
    # A missing intersection: (q, 0) has no row -> NaN, kept.
    gm = GroupMetrics(count, y_true, y_pred, sensitive_features={"a": a, "b": [0, 1, 1, 1, 1, 1]})
    assert math.isnan(gm.by_group[("q", 0)]) and gm.group_sizes[("q", 0)] == 0
    import pandas as pd  # pandas objects are read without ganeval importing pandas
    df = pd.DataFrame({"a": a, "b": b})
    assert GroupMetrics(selection_rate, y_true, y_pred, sensitive_features=df).by_group == as_dict.by_group
    series = pd.Series(a, name="s")
    assert GroupMetrics(selection_rate, y_true, y_pred, sensitive_features=series).feature_names == ("s",)


def test_bad_inputs_are_one_line_errors():
    y = [0, 1, 1, 0]
    with pytest.raises(BadInputError, match="method"):
        demographic_parity_difference(y, y, sensitive_features=["a", "b", "a", "b"], method="pairwise")
    with pytest.raises(BadInputError, match="agg"):
        equalized_odds_difference(y, y, sensitive_features=["a", "b", "a", "b"], agg="max")
    with pytest.raises(BadInputError, match="missing values"):
        GroupMetrics(selection_rate, y, y, sensitive_features=["a", None, "a", "b"])
    with pytest.raises(BadInputError, match="missing values"):
        GroupMetrics(selection_rate, y, y, sensitive_features=[1.0, float("nan"), 1.0, 2.0])
    with pytest.raises(BadInputError, match="rows"):
        GroupMetrics(selection_rate, y, y, sensitive_features=["a", "b"])
    with pytest.raises(BadInputError, match="negative"):
        GroupMetrics(selection_rate, y, y, sensitive_features=["a"] * 4, sample_weight=[1, -1, 1, 1])
    with pytest.raises(BadInputError, match="one number"):
        GroupMetrics(lambda t, p: np.array([1.0, 2.0]), y, y, sensitive_features=["a"] * 4)
    with pytest.raises(BadInputError, match="take no sample_weight"):
        GroupMetrics(lambda t, p: 1.0, y, y, sensitive_features=["a"] * 4, sample_weight=[1, 1, 1, 1])
    with pytest.raises(BadInputError, match="cannot be ordered"):
        GroupMetrics(selection_rate, y, y, sensitive_features=["a", 1, "a", 1])
    with pytest.raises(BadInputError, match="empty"):
        GroupMetrics(selection_rate, [], [], sensitive_features=[])
    with pytest.raises(BadInputError) as info:
        GroupMetrics(selection_rate, y, y, sensitive_features=["a", "b"])
    assert "\n" not in str(info.value) and info.value.exit_code == 2


# ------------------------------------------------------------------------------------------------
# Bootstrap intervals


def planted(n_per_group: int, rates: tuple[float, float], seed: int):
    """Two groups of n_per_group rows whose predictions are 1 with the given rates (exactly)."""
    rng = np.random.default_rng(seed)
    y_pred, groups = [], []
    for g, r in zip(("dark", "light"), rates):
        k = round(r * n_per_group)
        y_pred.append(rng.permutation(np.r_[np.ones(k, int), np.zeros(n_per_group - k, int)]))
        groups += [g] * n_per_group
    y_pred = np.concatenate(y_pred)
    return rng.integers(0, 2, len(y_pred)), y_pred, np.array(groups)


def signed_selection_gap(y_true, y_pred, *, sensitive_features, sample_weight=None):
    """Selection rate of "light" minus that of "dark": a user's own measure, bootstrapped by parity_ci."""
    by = GroupMetrics(selection_rate, y_true, y_pred, sensitive_features=sensitive_features).by_group
    return by[("light",)] - by[("dark",)]


def test_planted_demographic_parity_gap_is_detected_and_balanced_set_passes():
    y_true, y_pred, sf = planted(400, (0.30, 0.45), seed=0)
    gap = demographic_parity_difference(y_true, y_pred, sensitive_features=sf)
    assert gap == pytest.approx(0.15, abs=1e-12)
    planted_lo, hi = parity_ci(demographic_parity_difference, y_true, y_pred, sensitive_features=sf,
                               n_boot=400, seed=1)
    assert 0 < planted_lo < 0.15 < hi
    lo, hi = parity_ci(signed_selection_gap, y_true, y_pred, sensitive_features=sf, n_boot=400, seed=1)
    assert 0 < lo < 0.15 < hi

    y_true, y_pred, sf = planted(400, (0.40, 0.40), seed=2)
    lo, hi = parity_ci(signed_selection_gap, y_true, y_pred, sensitive_features=sf, n_boot=400, seed=1)
    assert lo < 0 < hi
    # The difference itself is |gap| >= 0, so its interval sits on [0, ...): for the balanced set it
    # starts below the planted set's interval and is about as wide as the sampling noise (se ~ 0.035).
    lo, hi = parity_ci(demographic_parity_difference, y_true, y_pred, sensitive_features=sf, n_boot=400, seed=1)
    assert lo < 0.01 and hi < 0.1 and lo < planted_lo
    ci = GroupMetrics(selection_rate, y_true, y_pred, sensitive_features=sf).ci(n_boot=400, seed=3)
    (a_lo, a_hi), (b_lo, b_hi) = ci.by_group[("dark",)], ci.by_group[("light",)]
    assert a_lo < 0.40 < a_hi and b_lo < 0.40 < b_hi


def test_intervals_are_seeded_and_shaped_like_the_values():
    y_true, y_pred, sf = planted(60, (0.3, 0.6), seed=5)
    gm = GroupMetrics({"sel": selection_rate, "tpr": true_positive_rate}, y_true, y_pred, sensitive_features=sf)
    a, b = gm.ci(n_boot=100, seed=7), gm.ci(n_boot=100, seed=7)
    assert a == b and a != gm.ci(n_boot=100, seed=8)
    assert set(a.by_group) == {"sel", "tpr"} and set(a.by_group["sel"]) == set(gm.groups)
    assert set(a.difference) == {"between_groups", "to_overall"}
    for name in ("sel", "tpr"):
        lo, hi = a.overall[name]
        assert lo <= gm.overall[name] <= hi
        lo, hi = a.difference["between_groups"][name]
        assert lo <= hi
    # Stratified: every replicate keeps each group's size, so each group's interval of its size
    # (count) collapses to a point.
    counts = GroupMetrics(count, y_true, y_pred, sensitive_features=sf).ci(n_boot=50, seed=0)
    assert counts.by_group == {("dark",): (60.0, 60.0), ("light",): (60.0, 60.0)}
    loose = GroupMetrics(count, y_true, y_pred, sensitive_features=sf).ci(n_boot=50, seed=0, stratify=False)
    assert loose.by_group[("dark",)][0] < 60 < loose.by_group[("dark",)][1]
    summary = parity_ci(parity_summary, y_true, y_pred, sensitive_features=sf, n_boot=50, seed=0)
    assert set(summary) == set(PARITY_MEASURES)
    assert summary["demographic_parity_difference"] == parity_ci(
        demographic_parity_difference, y_true, y_pred, sensitive_features=sf, n_boot=50, seed=0)
    with pytest.raises(BadInputError, match="level"):
        gm.ci(level=95)
    with pytest.raises(BadInputError, match="n_boot"):
        parity_ci(equalized_odds_ratio, y_true, y_pred, sensitive_features=sf, n_boot=1)
