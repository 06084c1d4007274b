"""Group metrics shaped like fairlearn's MetricFrame: metric callables + group labels -> overall, by_group,
group_min, group_max, difference, ratio (fairlearn 0.15's definitions), and bootstrap intervals.

    y_true, y_pred, sensitive features -> SensitiveGroups (one group per combination of feature values)
        -> metric(y_true[rows], y_pred[rows], sample_weight=w[rows]) on all rows and on each group
        -> (G, m) table -> min / max / difference / ratio over groups, NaN cells skipped

The built-in metrics (selection_rate, true/false positive/negative rates, accuracy, count) return what
fairlearn's (and scikit-learn's accuracy_score) return on the same rows, degenerate groups included:
a rate whose denominator is empty (a group with no positives for the true positive rate) is 0.0, as
fairlearn's confusion matrix normalisation makes it; a selection rate whose weights sum to 0 is NaN;
rates and accuracy on rows whose weights are all 0 raise BadInputError (scikit-learn raises there).

Return types are fixed by how the metrics were given, never by the data: one callable gives floats and
{group key: float}; a dict of callables gives {metric name: float} and {metric name: {group key: float}}.
A group key is always a tuple with one value per sensitive feature, e.g. ("Female",) or ("F", 1).
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ganeval.errors import BadInputError

if TYPE_CHECKING:
    from ganeval.fairness.bootstrap import GroupMetricsCI

GroupKey = tuple[Any, ...]
MetricFn = Callable[..., Any]
METHODS = ("between_groups", "to_overall")


# ---------------------------------------------------------------------------------------------
# Input handling


def _rows(x: Any, what: str) -> np.ndarray:
    """x as an array whose axis 0 is the rows; an (N, 1) column is flattened (as fairlearn squeezes)."""
    a = np.asarray(x)
    if a.ndim == 0:
        raise BadInputError(f"{what} must be an array with one entry per row, got a scalar")
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    return a


def _check_length(a: Any, n: int, what: str) -> None:
    if len(a) != n:
        raise BadInputError(f"{what} has {len(a)} rows but y_true has {n}")


def _weights(sample_weight: Any, n: int) -> np.ndarray | None:
    if sample_weight is None:
        return None
    w = _rows(sample_weight, "sample_weight")
    if w.ndim != 1:
        raise BadInputError(f"sample_weight must be 1-D, got shape {w.shape}")
    _check_length(w, n, "sample_weight")
    try:
        w = w.astype(np.float64) if w.dtype.kind not in "iub" else w
    except (TypeError, ValueError) as e:
        raise BadInputError(f"sample_weight must be numbers: {e}") from None
    if w.dtype.kind == "f" and not np.all(np.isfinite(w)):
        raise BadInputError("sample_weight contains NaN or infinite values")
    if np.any(w < 0):
        raise BadInputError("sample_weight contains negative values; weights must be >= 0")
    return w


def _python_scalar(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _is_missing(v: Any) -> bool:
    if v is None:
        return True
    try:
        return bool(v != v)  # NaN
    except (TypeError, ValueError):
        return True


@dataclass(frozen=True, eq=False)
class SensitiveGroups:
    """Rows assigned to groups: every combination of the sensitive features' values is one group.

    names:  the feature names (dict keys or a DataFrame's / Series' names, else sensitive_feature_<i>
            as fairlearn names them).
    levels: per feature, its distinct values, sorted.
    keys:   every combination of levels (itertools.product order: the last feature varies fastest).
            With two or more features a combination may have no rows (a missing intersection): it
            is kept, and its metric values are NaN, as in fairlearn's by_group.
    codes:  (N,) int64, row i belongs to keys[codes[i]].
    """

    names: tuple[str, ...]
    levels: tuple[tuple[Any, ...], ...]
    keys: tuple[GroupKey, ...]
    codes: np.ndarray

    def __len__(self) -> int:
        return len(self.codes)

    def sizes(self) -> np.ndarray:
        """(G,) int64 number of rows in each group, in `keys` order."""
        return np.bincount(self.codes, minlength=len(self.keys))

    def rows_by_group(self) -> list[np.ndarray]:
        """Row indices of each group (ascending), in `keys` order; empty arrays for missing groups."""
        order = np.argsort(self.codes, kind="stable")
        return np.split(order, np.cumsum(self.sizes())[:-1])

    def take(self, rows: np.ndarray) -> SensitiveGroups:
        """The groups of rows `rows` (indices, repeats allowed); keys and levels are kept unchanged."""
        return SensitiveGroups(self.names, self.levels, self.keys, self.codes[np.asarray(rows)])


def _feature_columns(sensitive_features: Any) -> list[tuple[str | None, Any]]:
    """[(name or None, 1-D values)] from an array, a 2-D array, a dict or a pandas object."""
    sf = sensitive_features
    if isinstance(sf, Mapping):
        cols = list(sf.items())
    elif hasattr(sf, "columns") and hasattr(sf, "iloc"):  # a DataFrame (pandas is not imported)
        cols = [(c, sf[c]) for c in sf.columns]
    elif hasattr(sf, "name") and hasattr(sf, "to_numpy"):  # a Series
        cols = [(sf.name, sf.to_numpy())]
    else:
        a = np.asarray(sf, dtype=object)
        if a.ndim == 1:
            cols = [(None, a)]
        elif a.ndim == 2:
            cols = [(None, a[:, j]) for j in range(a.shape[1])]
        else:
            raise BadInputError(f"sensitive_features must be 1-D (one feature) or 2-D (rows x features), "
                                f"got {a.ndim} dimensions")
    if not cols:
        raise BadInputError("sensitive_features is empty: give at least one sensitive feature")
    for name, _ in cols:
        if name is not None and not isinstance(name, str):
            raise BadInputError(f"sensitive feature names must be strings, got {name!r}")
    return cols


def sensitive_groups(sensitive_features: Any, n_rows: int | None = None) -> SensitiveGroups:
    """Parse sensitive features into groups.

    sensitive_features: a 1-D array-like (one feature), a 2-D array (N, k) (k features, intersected),
    a dict {name: 1-D array} or a pandas Series / DataFrame, or an already parsed SensitiveGroups.
    Values are any hashable, mutually sortable labels (strings, ints, bools); None and NaN are refused,
    as fairlearn refuses them.
    """
    if isinstance(sensitive_features, SensitiveGroups):
        if n_rows is not None:
            _check_length(sensitive_features, n_rows, "sensitive_features")
        return sensitive_features
    names: list[str] = []
    levels: list[tuple[Any, ...]] = []
    codes: list[np.ndarray] = []
    for i, (name, values) in enumerate(_feature_columns(sensitive_features)):
        name = name if name is not None else f"sensitive_feature_{i}"
        col = np.asarray(values, dtype=object)
        if col.ndim == 2 and col.shape[1] == 1:
            col = col[:, 0]
        if col.ndim != 1:
            raise BadInputError(f"sensitive feature {name!r} must be 1-D, got shape {col.shape}")
        if n_rows is not None:
            _check_length(col, n_rows, f"sensitive feature {name!r}")
        vals = [_python_scalar(v) for v in col]
        if any(_is_missing(v) for v in vals):
            raise BadInputError(f"sensitive feature {name!r} contains missing values (None or NaN); "
                                "remove or replace them")
        try:
            lv = tuple(sorted(set(vals)))
        except TypeError:
            raise BadInputError(f"sensitive feature {name!r} mixes values that cannot be ordered "
                                f"(e.g. strings and numbers): {sorted(map(repr, set(vals)))[:5]}") from None
        index = {v: j for j, v in enumerate(lv)}
        names.append(name)
        levels.append(lv)
        codes.append(np.fromiter((index[v] for v in vals), dtype=np.int64, count=len(vals)))
    if len(set(names)) != len(names):
        raise BadInputError(f"duplicate sensitive feature names: {names}")
    if len({len(c) for c in codes}) != 1:
        raise BadInputError("sensitive features have different numbers of rows: "
                            + ", ".join(f"{n}={len(c)}" for n, c in zip(names, codes)))
    flat = np.ravel_multi_index(tuple(codes), tuple(len(lv) for lv in levels)) if codes[0].size else codes[0]
    keys = tuple(itertools.product(*levels))
    return SensitiveGroups(tuple(names), tuple(levels), keys, np.asarray(flat, dtype=np.int64))


# ---------------------------------------------------------------------------------------------
# Built-in metrics (fairlearn's / scikit-learn's behaviour on the same rows)


def _label_vector(y: Any, what: str) -> np.ndarray:
    a = _rows(y, what)
    if a.ndim != 1:
        raise BadInputError(f"{what} must be 1-D labels, got shape {a.shape}")
    return a


def _positives(y_true: Any, y_pred: Any, pos_label: Any) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (y_true == positive, y_pred == positive) for binary labels, checked as fairlearn checks.

    pos_label None: every label must be in {0, 1} or every label in {-1, 1}; 1 is positive.
    Otherwise at most two distinct labels, one of them pos_label when there are two.
    """
    yt, yp = _label_vector(y_true, "y_true"), _label_vector(y_pred, "y_pred")
    if len(yt) != len(yp):
        raise BadInputError(f"y_pred has {len(yp)} rows but y_true has {len(yt)}")
    both = np.concatenate([yt, yp])
    if pos_label is None:
        if both.dtype.kind not in "biuf" and both.dtype != object:
            raise BadInputError(f"binary labels must be in {{0, 1}} or {{-1, 1}} (or pass pos_label); "
                                f"got labels of type {both.dtype}")
        one = both == 1
        if not (np.all(one | (both == 0)) or np.all(one | (both == -1))):
            seen = np.unique(both)[:5].tolist()
            raise BadInputError(f"binary labels must be in {{0, 1}} or {{-1, 1}} (or pass pos_label); "
                                f"got {seen}")
        pos_label = 1
    else:
        seen = np.unique(both)
        if len(seen) > 2 or (len(seen) == 2 and not np.any(seen == pos_label)):
            raise BadInputError(f"binary labels with pos_label={pos_label!r} need at most two label values, "
                                f"one of them {pos_label!r}; got {seen[:5].tolist()}")
    return np.asarray(yt == pos_label, dtype=bool), np.asarray(yp == pos_label, dtype=bool)


MSG_ZERO_WEIGHTS = ("{metric}: every sample_weight of these rows is 0 (a group with zero total weight); "
                    "scikit-learn refuses this too -- drop the group or give it weight")


def _nonzero_weights(sample_weight: Any, n: int, metric: str) -> np.ndarray | None:
    w = None if sample_weight is None else _weights(sample_weight, n)
    if w is not None and n and not np.any(w != 0):
        raise BadInputError(MSG_ZERO_WEIGHTS.format(metric=metric))
    return w


def _rate(hit: float, miss: float) -> float:
    """hit / (miss + hit) of one confusion-matrix row; 0.0 for an empty row (scikit-learn's
    normalize="true" turns its 0/0 into 0)."""
    total = miss + hit
    return float(hit / total) if total != 0 else 0.0


def _confusion_rates(y_true: Any, y_pred: Any, sample_weight: Any, pos_label: Any) -> dict[str, float]:
    t, p = _positives(y_true, y_pred, pos_label)
    w = _nonzero_weights(sample_weight, len(t), "a true/false positive/negative rate")
    tn, fp, fn, tp = np.bincount(2 * t.astype(np.intp) + p, weights=w, minlength=4)
    return {"tpr": _rate(tp, fn), "fnr": _rate(fn, tp), "fpr": _rate(fp, tn), "tnr": _rate(tn, fp)}


def true_positive_rate(y_true: Any, y_pred: Any, sample_weight: Any = None, pos_label: Any = None) -> float:
    """P(y_pred = positive | y_true = positive), weighted by sample_weight; 0.0 when no row is positive.

    Labels must be binary: {0, 1} or {-1, 1} with 1 positive, or any two values with pos_label given.
    Weights that are all 0 are refused (BadInputError), as scikit-learn's confusion matrix refuses them.
    """
    return _confusion_rates(y_true, y_pred, sample_weight, pos_label)["tpr"]


def false_negative_rate(y_true: Any, y_pred: Any, sample_weight: Any = None, pos_label: Any = None) -> float:
    """P(y_pred = negative | y_true = positive) = 1 - TPR; 0.0 when no row is positive."""
    return _confusion_rates(y_true, y_pred, sample_weight, pos_label)["fnr"]


def false_positive_rate(y_true: Any, y_pred: Any, sample_weight: Any = None, pos_label: Any = None) -> float:
    """P(y_pred = positive | y_true = negative); 0.0 when no row is negative."""
    return _confusion_rates(y_true, y_pred, sample_weight, pos_label)["fpr"]


def true_negative_rate(y_true: Any, y_pred: Any, sample_weight: Any = None, pos_label: Any = None) -> float:
    """P(y_pred = negative | y_true = negative) = 1 - FPR; 0.0 when no row is negative."""
    return _confusion_rates(y_true, y_pred, sample_weight, pos_label)["tnr"]


def selection_rate(y_true: Any, y_pred: Any, *, pos_label: Any = 1, sample_weight: Any = None) -> float:
    """Weighted fraction of rows predicted pos_label, sum(w [y_pred = pos_label]) / sum(w); y_true is unused.

    NaN when the weights sum to 0 (fairlearn divides 0 by 0 there too).
    """
    selected = _label_vector(y_pred, "y_pred") == pos_label
    if len(selected) == 0:
        raise BadInputError("selection_rate needs at least one row")
    if sample_weight is None:  # sum of ones: exactly the count, as fairlearn's dot with ones gives
        return float(np.count_nonzero(selected) / len(selected))
    w = _weights(sample_weight, len(selected))
    # fairlearn takes np.dot(selected, w); a masked sum is the same number up to summation order and
    # avoids BLAS, whose threads stall on a loaded machine for N above ~10^4.
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(w[selected].sum() / w.sum())


def accuracy(y_true: Any, y_pred: Any, *, sample_weight: Any = None) -> float:
    """Weighted fraction of rows with y_pred == y_true (scikit-learn's accuracy_score)."""
    yt, yp = _label_vector(y_true, "y_true"), _label_vector(y_pred, "y_pred")
    if len(yt) != len(yp):
        raise BadInputError(f"y_pred has {len(yp)} rows but y_true has {len(yt)}")
    if len(yt) == 0:
        raise BadInputError("accuracy needs at least one row")
    correct = np.asarray(yt == yp, dtype=np.float64)
    if sample_weight is None:
        return float(correct.mean())
    w = _nonzero_weights(sample_weight, len(yt), "accuracy")
    return float((correct * w).sum() / w.sum())


def count(y_true: Any, y_pred: Any, sample_weight: Any = None) -> int:
    """Number of rows (fairlearn's count); sample_weight is accepted and ignored: a count is unweighted."""
    if len(y_true) != len(y_pred):
        raise BadInputError(f"y_pred has {len(y_pred)} rows but y_true has {len(y_true)}")
    return len(y_true)


BUILTIN_METRICS: dict[str, MetricFn] = {
    "selection_rate": selection_rate,
    "true_positive_rate": true_positive_rate,
    "false_positive_rate": false_positive_rate,
    "true_negative_rate": true_negative_rate,
    "false_negative_rate": false_negative_rate,
    "accuracy": accuracy,
    "count": count,
}


# ---------------------------------------------------------------------------------------------
# Aggregation over groups: pure functions on a (G, m) table, NaN cells skipped (pandas' skipna)


def _skipna(a: np.ndarray, reduce: Callable[[np.ndarray], Any]) -> np.ndarray:
    """reduce(column without NaN) per column of a (G, m) array; NaN for an all-NaN column."""
    out = np.full(a.shape[1], np.nan)
    for j in range(a.shape[1]):
        col = a[:, j][~np.isnan(a[:, j])]
        if col.size:
            out[j] = reduce(col)
    return out


def table_group_min(table: np.ndarray) -> np.ndarray:
    """(m,) smallest value per metric over the groups."""
    return _skipna(table, np.min)


def table_group_max(table: np.ndarray) -> np.ndarray:
    """(m,) largest value per metric over the groups."""
    return _skipna(table, np.max)


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise BadInputError(f"method must be 'between_groups' or 'to_overall', got {method!r}")


def table_difference(table: np.ndarray, overall: np.ndarray, method: str = "between_groups") -> np.ndarray:
    """(m,) max over groups of |value - reference|: reference = group min (between_groups) or overall."""
    _check_method(method)
    ref = table_group_min(table) if method == "between_groups" else np.asarray(overall, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return _skipna(np.abs(table - ref[None, :]), np.max)


def table_ratio(table: np.ndarray, overall: np.ndarray, method: str = "between_groups") -> np.ndarray:
    """(m,) group min / group max (between_groups), or min over groups of value / overall folded to <= 1.

    to_overall folds each ratio r > 1 to 1 / r, so the result is the worst relative gap to overall.
    0 / 0 is NaN (then skipped); x / 0 is inf, folded to 0.
    """
    _check_method(method)
    with np.errstate(invalid="ignore", divide="ignore"):
        if method == "between_groups":
            return table_group_min(table) / table_group_max(table)
        r = table / np.asarray(overall, dtype=np.float64)[None, :]
        r = np.where(r > 1, 1 / r, r)
    return _skipna(r, np.min)


# ---------------------------------------------------------------------------------------------
# GroupMetrics


def _metric_dict(metrics: MetricFn | Mapping[str, MetricFn]) -> tuple[dict[str, MetricFn], bool]:
    if isinstance(metrics, Mapping):
        if not metrics:
            raise BadInputError("metrics is an empty dict: give at least one metric callable")
        for name, fn in metrics.items():
            if not isinstance(name, str) or not callable(fn):
                raise BadInputError(f"metrics must map names (str) to callables, got {name!r}: {fn!r}")
        return dict(metrics), False
    if not callable(metrics):
        raise BadInputError(f"metrics must be a callable or a dict of callables, got {metrics!r}")
    return {getattr(metrics, "__name__", "metric"): metrics}, True


def _accepts_sample_weight(fn: MetricFn) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return True  # cannot tell (a builtin): pass it and let the call decide
    return any(p.name == "sample_weight" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def _scalar(value: Any, name: str) -> float:
    if np.ndim(value) != 0:
        raise BadInputError(f"metric {name!r} returned an array of shape {np.shape(value)}; "
                            "group metrics need metrics that return one number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise BadInputError(f"metric {name!r} returned {value!r}, not a number") from None


class GroupMetrics:
    """Metrics computed on all rows and on every group of the sensitive features (fairlearn's MetricFrame).

    metrics:            a callable metric(y_true, y_pred[, sample_weight=]) -> number, or a dict of them.
    y_true, y_pred:     (N,) labels (or any arrays whose axis 0 is the rows, for your own metrics).
    sensitive_features: (N,) one feature, (N, k) k features, {name: (N,)}, a pandas Series/DataFrame,
                        or a SensitiveGroups; several features define intersectional groups.
    sample_weight:      (N,) weights >= 0, passed to every metric that takes a sample_weight argument
                        (fairlearn's sample_params={"sample_weight": w} for each metric); count ignores it.

    overall and by_group hold floats; see the module docstring for the shapes.
    """

    def __init__(self, metrics: MetricFn | Mapping[str, MetricFn], y_true: Any, y_pred: Any, *,
                 sensitive_features: Any, sample_weight: Any = None) -> None:
        fns, self._single = _metric_dict(metrics)
        yt, yp = _rows(y_true, "y_true"), _rows(y_pred, "y_pred")
        n = len(yt)
        if n == 0:
            raise BadInputError("y_true is empty: group metrics need at least one row")
        _check_length(yp, n, "y_pred")
        self._groups = sensitive_groups(sensitive_features, n)
        self._w = _weights(sample_weight, n)
        self._yt, self._yp, self._fns = yt, yp, fns
        self._pass_weight = {name: _accepts_sample_weight(fn) for name, fn in fns.items()}
        if self._w is not None:
            refusing = [name for name, ok in self._pass_weight.items() if not ok]
            if refusing:
                raise BadInputError(f"sample_weight was given but metric(s) {refusing} take no sample_weight "
                                    "argument; wrap them or leave the weights out")
        self._overall = self._evaluate(np.arange(n))
        self._table = np.full((len(self._groups.keys), len(fns)), np.nan)
        for g, rows in enumerate(self._groups.rows_by_group()):
            if rows.size:
                self._table[g] = self._evaluate(rows)

    def _evaluate(self, rows: np.ndarray) -> np.ndarray:
        yt, yp = self._yt[rows], self._yp[rows]
        out = np.empty(len(self._fns))
        for j, (name, fn) in enumerate(self._fns.items()):
            if self._w is not None and self._pass_weight[name]:
                value = fn(yt, yp, sample_weight=self._w[rows])
            else:
                value = fn(yt, yp)
            out[j] = _scalar(value, name)
        return out

    def take(self, rows: np.ndarray) -> GroupMetrics:
        """The same metrics on rows `rows` (indices, repeats allowed) with the same group keys (a resample)."""
        rows = np.asarray(rows)
        metrics = next(iter(self._fns.values())) if self._single else self._fns
        return GroupMetrics(metrics, self._yt[rows], self._yp[rows], sensitive_features=self._groups.take(rows),
                            sample_weight=None if self._w is None else self._w[rows])

    # -- shapes -------------------------------------------------------------------------------

    @property
    def metric_names(self) -> tuple[str, ...]:
        """Metric names in column order (a single callable is named by its __name__)."""
        return tuple(self._fns)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Sensitive feature names, in the order of the values in each group key."""
        return self._groups.names

    @property
    def groups(self) -> tuple[GroupKey, ...]:
        """Every group key (all combinations of feature values), in row order of by_group."""
        return self._groups.keys

    @property
    def sensitive_groups(self) -> SensitiveGroups:
        """The parsed groups (reusable as sensitive_features for the same rows)."""
        return self._groups

    @property
    def group_sizes(self) -> dict[GroupKey, int]:
        """Number of rows in each group (0 for a missing intersection)."""
        return {k: int(s) for k, s in zip(self._groups.keys, self._groups.sizes())}

    @property
    def single(self) -> bool:
        """True when one callable was given (results are floats rather than dicts by metric name)."""
        return self._single

    def shape_vector(self, values: Sequence[Any]) -> Any:
        """One value per metric -> that value (one callable) or {metric name: value}."""
        return values[0] if self._single else dict(zip(self._fns, values))

    def shape_table(self, rows: Sequence[Sequence[Any]]) -> Any:
        """(G, m) values -> {group: value} (one callable) or {metric name: {group: value}}."""
        if self._single:
            return {k: row[0] for k, row in zip(self._groups.keys, rows)}
        return {name: {k: row[j] for k, row in zip(self._groups.keys, rows)}
                for j, name in enumerate(self._fns)}

    def as_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(overall (m,), by_group (G, m)) as float64 copies, in metric_names / groups order; NaN = no rows."""
        return self._overall.copy(), self._table.copy()

    # -- fairlearn's MetricFrame API ------------------------------------------------------------

    @property
    def overall(self) -> float | dict[str, float]:
        """The metric(s) on all rows."""
        return self.shape_vector([float(v) for v in self._overall])

    @property
    def by_group(self) -> dict[GroupKey, float] | dict[str, dict[GroupKey, float]]:
        """The metric(s) on each group; NaN for a combination of feature values with no rows."""
        return self.shape_table([[float(v) for v in row] for row in self._table])

    def group_min(self) -> float | dict[str, float]:
        """Smallest group value of each metric (NaN groups skipped)."""
        return self.shape_vector([float(v) for v in table_group_min(self._table)])

    def group_max(self) -> float | dict[str, float]:
        """Largest group value of each metric (NaN groups skipped)."""
        return self.shape_vector([float(v) for v in table_group_max(self._table)])

    def difference(self, method: str = "between_groups") -> float | dict[str, float]:
        """Largest absolute gap: group max - group min ("between_groups") or max |group - overall|
        ("to_overall"). 0 means every group has the same value."""
        return self.shape_vector([float(v) for v in table_difference(self._table, self._overall, method)])

    def ratio(self, method: str = "between_groups") -> float | dict[str, float]:
        """Smallest ratio: group min / group max ("between_groups") or min over groups of
        group / overall with ratios above 1 inverted ("to_overall"). 1 means every group is equal."""
        return self.shape_vector([float(v) for v in table_ratio(self._table, self._overall, method)])

    def ci(self, level: float | None = None, n_boot: int | None = None, seed: int = 0, *,
           stratify: bool = True) -> GroupMetricsCI:
        """Seeded percentile bootstrap intervals of every number above (see fairness.bootstrap; level and
        n_boot default to its DEFAULT_LEVEL = 0.95 and DEFAULT_N_BOOT = 1000)."""
        from ganeval.fairness.bootstrap import DEFAULT_LEVEL, DEFAULT_N_BOOT, group_metrics_ci

        return group_metrics_ci(self, level=DEFAULT_LEVEL if level is None else level,
                                n_boot=DEFAULT_N_BOOT if n_boot is None else n_boot, seed=seed, stratify=stratify)

    def __repr__(self) -> str:
        return (f"GroupMetrics(metrics={list(self._fns)}, features={list(self.feature_names)}, "
                f"groups={len(self.groups)}, rows={len(self._yt)})")
