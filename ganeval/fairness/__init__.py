"""Fairness math: group metrics shaped like fairlearn's MetricFrame, parity measures with fairlearn 0.15's
exact definitions, attribute-distribution discrepancy (Choi et al. 2020), and seeded bootstrap intervals.

    labels, predictions, sensitive features -> GroupMetrics -> parity measures     (+ bootstrap intervals)
    reference and generated attribute labels -> distributions -> L1, L2, KL, prevalence (+ intervals)

Pure functions on arrays (no files, no models, no pandas); docs/fairness.md has the definitions.
"""

from __future__ import annotations

from ganeval.fairness.bootstrap import (
    DiscrepancyCI, GroupMetricsCI, PrevalenceCI, discrepancy_ci, group_metrics_ci, parity_ci, prevalence_ci,
)
from ganeval.fairness.discrepancy import (
    KL_EPS, CellRows, Discrepancy, Prevalence, cell_rows, distribution_discrepancy, kl_divergence,
    l1_distance, l2_distance, label_distribution, labels_discrepancy, prevalence_table,
)
from ganeval.fairness.metric_frame import (
    BUILTIN_METRICS, GroupMetrics, SensitiveGroups, accuracy, count, false_negative_rate,
    false_positive_rate, selection_rate, sensitive_groups, true_negative_rate, true_positive_rate,
)
from ganeval.fairness.parity import (
    PARITY_MEASURES, demographic_parity_difference, demographic_parity_ratio, equal_opportunity_difference,
    equal_opportunity_ratio, equalized_odds_difference, equalized_odds_ratio, parity_summary,
)

__all__ = [
    "BUILTIN_METRICS", "CellRows", "Discrepancy", "DiscrepancyCI", "GroupMetrics", "GroupMetricsCI", "KL_EPS",
    "PARITY_MEASURES", "Prevalence", "PrevalenceCI", "SensitiveGroups", "accuracy", "cell_rows", "count",
    "demographic_parity_difference", "demographic_parity_ratio", "discrepancy_ci", "distribution_discrepancy",
    "equal_opportunity_difference", "equal_opportunity_ratio", "equalized_odds_difference",
    "equalized_odds_ratio", "false_negative_rate", "false_positive_rate", "group_metrics_ci", "kl_divergence",
    "l1_distance", "l2_distance", "label_distribution", "labels_discrepancy", "parity_ci", "parity_summary",
    "prevalence_ci", "prevalence_table", "selection_rate", "sensitive_groups", "true_negative_rate",
    "true_positive_rate",
]
