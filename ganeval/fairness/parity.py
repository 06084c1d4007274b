"""Demographic parity, equalized odds and equal opportunity: differences and ratios across groups.

Each is a GroupMetrics of one or two built-in rates, aggregated exactly as fairlearn 0.15 does:

    demographic parity   selection rate       P(h = 1 | A = a)
    equal opportunity    true positive rate   P(h = 1 | A = a, Y = 1)
    equalized odds       TPR and FPR          P(h = 1 | A = a, Y = 1) and P(h = 1 | A = a, Y = 0)

    *_difference: GroupMetrics.difference(method)      0 = parity
    *_ratio:      GroupMetrics.ratio(method)           1 = parity
    equalized odds combines its two rates with agg="worst_case" (the larger difference / smaller ratio,
    Python's max / min of [tpr, fpr] as fairlearn takes them) or agg="mean" (their mean, NaN skipped).

sensitive_features may hold several features (intersectional groups), sample_weight weights every rate.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ganeval.errors import BadInputError
from ganeval.fairness.metric_frame import (
    GroupMetrics, false_positive_rate, selection_rate, true_positive_rate,
)

AGGS = ("worst_case", "mean")


def _frame(metrics: Any, y_true: Any, y_pred: Any, sensitive_features: Any, sample_weight: Any) -> GroupMetrics:
    return GroupMetrics(metrics, y_true, y_pred, sensitive_features=sensitive_features,
                        sample_weight=sample_weight)


def demographic_parity_difference(y_true: Any, y_pred: Any, *, sensitive_features: Any,
                                  method: str = "between_groups", sample_weight: Any = None) -> float:
    """Largest gap in selection rate P(y_pred = 1 | group) between groups (or to the overall rate).

    y_true is not used by the selection rate; it is taken for the common signature (as in fairlearn).
    """
    return _frame(selection_rate, y_true, y_pred, sensitive_features, sample_weight).difference(method)


def demographic_parity_ratio(y_true: Any, y_pred: Any, *, sensitive_features: Any,
                             method: str = "between_groups", sample_weight: Any = None) -> float:
    """Smallest ratio of selection rates between groups (or group to overall, folded to <= 1)."""
    return _frame(selection_rate, y_true, y_pred, sensitive_features, sample_weight).ratio(method)


def equal_opportunity_difference(y_true: Any, y_pred: Any, *, sensitive_features: Any,
                                 method: str = "between_groups", sample_weight: Any = None) -> float:
    """Largest gap in true positive rate between groups (a group with no positives has TPR 0)."""
    return _frame(true_positive_rate, y_true, y_pred, sensitive_features, sample_weight).difference(method)


def equal_opportunity_ratio(y_true: Any, y_pred: Any, *, sensitive_features: Any,
                            method: str = "between_groups", sample_weight: Any = None) -> float:
    """Smallest ratio of true positive rates between groups (or group to overall, folded to <= 1)."""
    return _frame(true_positive_rate, y_true, y_pred, sensitive_features, sample_weight).ratio(method)


def _check_agg(agg: str) -> None:
    if agg not in AGGS:
        raise BadInputError(f"agg must be 'worst_case' or 'mean', got {agg!r}")


def _odds_frame(y_true: Any, y_pred: Any, sensitive_features: Any, sample_weight: Any) -> GroupMetrics:
    return _frame({"tpr": true_positive_rate, "fpr": false_positive_rate}, y_true, y_pred,
                  sensitive_features, sample_weight)


def _combine(values: dict[str, float], worst: Any, agg: str) -> float:
    pair = [values["tpr"], values["fpr"]]
    if agg == "worst_case":
        # builtin max/min as fairlearn applies them to its Series: a NaN first element wins, a NaN second loses
        return float(worst(pair))
    kept = [v for v in pair if not np.isnan(v)]
    return float(sum(kept) / len(kept)) if kept else float("nan")


def equalized_odds_difference(y_true: Any, y_pred: Any, *, sensitive_features: Any,
                              method: str = "between_groups", sample_weight: Any = None,
                              agg: str = "worst_case") -> float:
    """Gap in TPR and FPR between groups: the larger of the two differences (worst_case) or their mean."""
    _check_agg(agg)
    frame = _odds_frame(y_true, y_pred, sensitive_features, sample_weight)
    return _combine(frame.difference(method), max, agg)


def equalized_odds_ratio(y_true: Any, y_pred: Any, *, sensitive_features: Any,
                         method: str = "between_groups", sample_weight: Any = None,
                         agg: str = "worst_case") -> float:
    """Ratio of TPRs and of FPRs between groups: the smaller of the two ratios (worst_case) or their mean."""
    _check_agg(agg)
    frame = _odds_frame(y_true, y_pred, sensitive_features, sample_weight)
    return _combine(frame.ratio(method), min, agg)


PARITY_MEASURES = {
    "demographic_parity_difference": demographic_parity_difference,
    "demographic_parity_ratio": demographic_parity_ratio,
    "equalized_odds_difference": equalized_odds_difference,
    "equalized_odds_ratio": equalized_odds_ratio,
    "equal_opportunity_difference": equal_opportunity_difference,
    "equal_opportunity_ratio": equal_opportunity_ratio,
}


def parity_summary(y_true: Any, y_pred: Any, *, sensitive_features: Any, method: str = "between_groups",
                   sample_weight: Any = None, agg: str = "worst_case") -> dict[str, float]:
    """All six measures of PARITY_MEASURES from one pass over the groups (same values as the functions)."""
    _check_agg(agg)
    frame = _frame({"sel": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate},
                   y_true, y_pred, sensitive_features, sample_weight)
    diff, ratio = frame.difference(method), frame.ratio(method)
    return {
        "demographic_parity_difference": diff["sel"],
        "demographic_parity_ratio": ratio["sel"],
        "equalized_odds_difference": _combine(diff, max, agg),
        "equalized_odds_ratio": _combine(ratio, min, agg),
        "equal_opportunity_difference": diff["tpr"],
        "equal_opportunity_ratio": ratio["tpr"],
    }
