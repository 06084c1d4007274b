"""Seeded percentile bootstrap intervals for the fairness numbers: group metrics (overall, by group, min, max,
difference, ratio), the parity measures, the discrepancy measures and the prevalence table.

A replicate resamples rows with replacement (ganeval.metrics.bootstrap.bootstrap_replicates, so one
np.random.default_rng(seed) draws every index, in a fixed order), recomputes the numbers, and the interval
is the (1 - level) / 2 and (1 + level) / 2 quantiles of the replicates (numpy's linear interpolation).
Same inputs + same seed = same intervals.

Group resampling is stratified by default: each group (each observed combination of the sensitive
features) is resampled within itself to its own size. Group metrics and parity measures are statements
about groups *given* who is in them -- P(h = 1 | A = a) -- so the group sizes are part of the design, not
of the noise; and an unstratified resample can lose a small group altogether, which changes what a
between-groups difference is taken over (fairlearn's own bootstrap, unstratified, then skips the group).
stratify=False resamples all rows together instead; the interval of a number that is undefined in some
replicates (a group absent, weights summing to 0) is then taken over the replicates where it is defined,
and it is (nan, nan) only if it is undefined in all of them. The overall value's interval is, under
stratification, the interval at fixed group proportions.

The discrepancy measures resample the generated and the reference rows independently (not at all for a
uniform reference). L1, L2 and KL are distances, >= 0 and biased upwards at finite N: for two identical
populations their plug-in value and their replicates sit above 0, so their interval need not contain 0.
To ask "is this attribute's rate different?", use the prevalence difference, whose interval is centred.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ganeval.errors import BadInputError
from ganeval.fairness.discrepancy import KL_EPS, _attribute_matrix, _names, cell_rows, distribution_discrepancy
from ganeval.fairness.metric_frame import (
    METHODS, GroupMetrics, SensitiveGroups, sensitive_groups, table_difference, table_group_max,
    table_group_min, table_ratio,
)
from ganeval.metrics.bootstrap import bootstrap_replicates

Interval = tuple[float, float]
DEFAULT_N_BOOT = 1000
DEFAULT_LEVEL = 0.95


def _check(level: float, n_boot: int) -> None:
    if not 0 < level < 1:
        raise BadInputError(f"the confidence level must be between 0 and 1 (e.g. 0.95), got {level}")
    if int(n_boot) != n_boot or n_boot < 2:
        raise BadInputError(f"a bootstrap needs at least 2 resamples, got n_boot={n_boot}")


def _intervals(reps: np.ndarray, level: float) -> list[Interval]:
    """Per column of (B, k) replicates, the central `level` quantiles over its non-NaN entries."""
    reps = np.asarray(reps, dtype=np.float64).reshape(len(reps), -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give (nan, nan)
        lo, hi = np.nanquantile(reps, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return [(float(a), float(b)) for a, b in zip(lo, hi)]


def _row_sampler(groups: SensitiveGroups, stratify: bool) -> tuple[list[int], Callable[..., np.ndarray]]:
    """(sizes for bootstrap_replicates, function of its index arrays -> resampled row indices)."""
    n = len(groups)
    if not stratify:
        return [n], lambda idx: idx
    members = [rows for rows in groups.rows_by_group() if rows.size]
    return [len(m) for m in members], lambda *idx: np.concatenate([m[i] for m, i in zip(members, idx)])


# ---------------------------------------------------------------------------------------------
# Group metrics


@dataclass(frozen=True)
class GroupMetricsCI:
    """Intervals (low, high) shaped like the GroupMetrics values they belong to.

    overall, group_min, group_max:  (low, high) for one callable, {metric name: (low, high)} for a dict.
    by_group:                       {group: (low, high)} or {metric name: {group: (low, high)}}.
    difference, ratio:              {"between_groups": <like overall>, "to_overall": <like overall>}.
    """

    overall: Any
    by_group: Any
    group_min: Any
    group_max: Any
    difference: dict[str, Any]
    ratio: dict[str, Any]
    level: float
    n_boot: int
    seed: int
    stratified: bool


def group_metrics_ci(frame: GroupMetrics, *, level: float = DEFAULT_LEVEL, n_boot: int = DEFAULT_N_BOOT,
                     seed: int = 0, stratify: bool = True) -> GroupMetricsCI:
    """Bootstrap intervals of every number a GroupMetrics gives (rows resampled; by group when stratify)."""
    _check(level, n_boot)
    sizes, to_rows = _row_sampler(frame.sensitive_groups, stratify)
    n_groups, m = len(frame.groups), len(frame.metric_names)

    def stat(*idx: np.ndarray) -> np.ndarray:
        overall, table = frame.take(to_rows(*idx)).as_arrays()
        parts = [overall, table.ravel(), table_group_min(table), table_group_max(table)]
        parts += [table_difference(table, overall, method) for method in METHODS]
        parts += [table_ratio(table, overall, method) for method in METHODS]
        return np.concatenate(parts)

    iv = _intervals(bootstrap_replicates(stat, sizes, n_boot=n_boot, seed=seed), level)
    blocks = [iv[:m], iv[m:m + n_groups * m]]
    rest = iv[m + n_groups * m:]
    blocks += [rest[i * m:(i + 1) * m] for i in range(6)]
    table_iv = [blocks[1][g * m:(g + 1) * m] for g in range(n_groups)]
    vec = frame.shape_vector
    return GroupMetricsCI(
        overall=vec(blocks[0]), by_group=frame.shape_table(table_iv),
        group_min=vec(blocks[2]), group_max=vec(blocks[3]),
        difference={"between_groups": vec(blocks[4]), "to_overall": vec(blocks[5])},
        ratio={"between_groups": vec(blocks[6]), "to_overall": vec(blocks[7])},
        level=level, n_boot=int(n_boot), seed=seed, stratified=stratify)


# ---------------------------------------------------------------------------------------------
# Parity measures


def parity_ci(measure: Callable[..., Any], y_true: Any, y_pred: Any, *, sensitive_features: Any,
              sample_weight: Any = None, level: float = DEFAULT_LEVEL, n_boot: int = DEFAULT_N_BOOT,
              seed: int = 0, stratify: bool = True, **options: Any) -> Interval | dict[str, Interval]:
    """Bootstrap interval of measure(y_true, y_pred, sensitive_features=, sample_weight=, **options).

    measure: a parity function (e.g. demographic_parity_difference), parity_summary, or your own function
    with that signature (it receives the groups as a SensitiveGroups, which GroupMetrics accepts as
    sensitive_features); options are passed on (method=, agg=). Returns (low, high), or
    {name: (low, high)} for a measure that returns a dict, all names sharing the same resamples.
    """
    _check(level, n_boot)
    yt, yp = np.asarray(y_true), np.asarray(y_pred)
    groups = sensitive_groups(sensitive_features, len(yt))
    w = None if sample_weight is None else np.asarray(sample_weight)

    def call(rows: np.ndarray | None) -> Any:
        if rows is None:
            return measure(yt, yp, sensitive_features=groups, sample_weight=w, **options)
        return measure(yt[rows], yp[rows], sensitive_features=groups.take(rows),
                       sample_weight=None if w is None else w[rows], **options)

    first = call(None)  # checks the inputs once and fixes the shape of the answer
    keys = list(first) if isinstance(first, Mapping) else None
    sizes, to_rows = _row_sampler(groups, stratify)

    def stat(*idx: np.ndarray) -> list[float]:
        value = call(to_rows(*idx))
        return [value[k] for k in keys] if keys is not None else [value]

    iv = _intervals(bootstrap_replicates(stat, sizes, n_boot=n_boot, seed=seed), level)
    return dict(zip(keys, iv)) if keys is not None else iv[0]


# ---------------------------------------------------------------------------------------------
# Discrepancy and prevalence


@dataclass(frozen=True)
class DiscrepancyCI:
    """Intervals (low, high) of the Discrepancy measures l1, l2, kl (see the module docstring on their bias)."""

    l1: Interval
    l2: Interval
    kl: Interval
    level: float
    n_boot: int
    seed: int


def discrepancy_ci(generated: Any, reference: Any = None, *, values: Sequence[Any] | None = None,
                   kl_eps: float = KL_EPS, level: float = DEFAULT_LEVEL, n_boot: int = DEFAULT_N_BOOT,
                   seed: int = 0) -> DiscrepancyCI:
    """Bootstrap intervals of labels_discrepancy(generated, reference) (same input forms, cells fixed)."""
    _check(level, n_boot)
    cells, g, r = cell_rows(generated, reference, values=values)
    sizes = [len(g)] if r is None else [len(g), len(r)]

    def stat(gi: np.ndarray, ri: np.ndarray | None = None) -> list[float]:
        d = distribution_discrepancy(g.distribution(gi), None if r is None else r.distribution(ri),
                                     cells=cells, kl_eps=kl_eps)
        return [d.l1, d.l2, d.kl]

    l1, l2, kl = _intervals(bootstrap_replicates(stat, sizes, n_boot=n_boot, seed=seed), level)
    return DiscrepancyCI(l1, l2, kl, level, int(n_boot), seed)


@dataclass(frozen=True)
class PrevalenceCI:
    """Intervals (low, high) for one row of prevalence_table; reference is None for the fixed 0.5 target."""

    attribute: str
    reference: Interval | None
    generated: Interval
    difference: Interval


def prevalence_ci(generated: Any, reference: Any = None, *, names: Sequence[str] | None = None,
                  level: float = DEFAULT_LEVEL, n_boot: int = DEFAULT_N_BOOT,
                  seed: int = 0) -> list[PrevalenceCI]:
    """Bootstrap intervals of prevalence_table(generated, reference): both sets resampled independently."""
    _check(level, n_boot)
    g = _attribute_matrix(generated, "the generated attributes")
    r = None if reference is None else _attribute_matrix(reference, "the reference attributes")
    if r is not None and r.shape[1] != g.shape[1]:
        raise BadInputError(f"the reference has {r.shape[1]} attributes but the generated set {g.shape[1]}")
    k = g.shape[1]
    attribute_names = _names(names, k)
    sizes = [len(g)] if r is None else [len(g), len(r)]

    def stat(gi: np.ndarray, ri: np.ndarray | None = None) -> np.ndarray:
        gp = g[gi].mean(axis=0)
        rp = np.full(k, 0.5) if r is None else r[ri].mean(axis=0)
        return np.concatenate([rp, gp, gp - rp])

    iv = _intervals(bootstrap_replicates(stat, sizes, n_boot=n_boot, seed=seed), level)
    return [PrevalenceCI(name, None if r is None else iv[j], iv[k + j], iv[2 * k + j])
            for j, name in enumerate(attribute_names)]
