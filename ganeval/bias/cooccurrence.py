"""Attribute co-occurrence: which attributes a set of images ties together, measured on the labels alone.

    audited 0/1 attributes (N, K) [+ reference (M, K)] -> phi of every pair (a, b), a before b in column order
        -> phi(audited), phi(reference), their difference -> percentile bootstrap (the two sets resampled
           independently, rows kept whole so every pair sees the same resample) -> Result rows

phi is the Pearson correlation of two 0/1 variables (= Matthews' correlation coefficient),

    phi = (P(a=1, b=1) - P(a=1) P(b=1)) / sqrt(P(a=1) (1 - P(a=1)) P(b=1) (1 - P(b=1))),

the quantity `ganeval data synthfaces --correlate a:b=R` plants. It is NaN where either attribute is
constant. This is the prevalence part's joint view of pairs: a generator trained on data where hats and
glasses go together draws them together (phi > 0 among its samples) even when no latent direction
encodes that tie in a way the implicit-association steps can follow; and a generator that exaggerates a
tie shows a positive difference against the real set.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ganeval.errors import BadInputError
from ganeval.metrics.bootstrap import bootstrap_replicates
from ganeval.results import Result

__all__ = ["Cooccurrence", "attribute_pairs", "cooccurrence", "phi_matrix"]

BY = "attribute pair"


def phi_matrix(values: Any) -> np.ndarray:
    """(K, K) float64 phi correlations of the columns of a 0/1 matrix (N, K); NaN rows/columns for constant
    attributes (and everywhere when N < 2); the diagonal is 1 for non-constant attributes."""
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 2:
        raise BadInputError(f"attributes must be a matrix (N, K), got shape {x.shape}")
    k = x.shape[1]
    if len(x) < 2:
        return np.full((k, k), np.nan)
    c = x - x.mean(axis=0)
    gram = c.T @ c
    sd = np.sqrt(np.diag(gram))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = gram / np.outer(sd, sd)
    still = sd <= 0
    out[still, :] = np.nan
    out[:, still] = np.nan
    return out


def attribute_pairs(names: Sequence[str]) -> list[tuple[str, str]]:
    """Every unordered pair of attribute names, in column order: (n0, n1), (n0, n2), ..., (n_{K-2}, n_{K-1})."""
    return [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]


def _upper(m: np.ndarray) -> np.ndarray:
    return m[np.triu_indices(m.shape[0], k=1)]


@dataclass(frozen=True)
class Cooccurrence:
    """phi of every attribute pair in the audited set and (optionally) the reference, with intervals.

    pairs: P = K (K - 1) / 2 name pairs; audited, reference, difference: (P,) float64 (reference and
    difference None without a reference); intervals: {"audited" | "reference" | "difference": (P, 2)};
    matrix_audited / matrix_reference: the full (K, K) phi matrices (for heatmaps).
    """

    names: tuple[str, ...]
    roles: tuple[str, str]
    pairs: list[tuple[str, str]]
    audited: np.ndarray
    reference: np.ndarray | None
    difference: np.ndarray | None
    matrix_audited: np.ndarray
    matrix_reference: np.ndarray | None
    intervals: dict[str, np.ndarray]
    level: float | None
    n_boot: int | None
    seed: int | None
    results: list[Result]

    def interval(self, which: str, pair: tuple[str, str]) -> tuple[float, float] | None:
        """(low, high) of `which` ("audited", "reference", "difference") for `pair`, or None."""
        iv = self.intervals.get(which)
        if iv is None:
            return None
        lo, hi = iv[self.pairs.index(tuple(pair))]
        return float(lo), float(hi)


def cooccurrence(audited: Any, reference: Any, names: Sequence[str], *, roles: tuple[str, str] = ("generated", "real"),
                 level: float | None = 0.95, n_boot: int = 1000, seed: int = 0) -> Cooccurrence:
    """phi of every pair of attributes among `audited` (N, K) 0/1 rows and `reference` (M, K) (or None), their
    difference audited - reference, and seeded percentile bootstrap intervals at `level` (None: none)."""
    names = tuple(names)
    a = np.asarray(audited, dtype=np.float64)
    r = None if reference is None else np.asarray(reference, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != len(names) or (r is not None and (r.ndim != 2 or r.shape[1] != len(names))):
        raise BadInputError(f"co-occurrence: attribute matrices must have {len(names)} columns ({', '.join(names)})")
    pairs = attribute_pairs(names)
    m_a = phi_matrix(a)
    m_r = None if r is None else phi_matrix(r)
    pa = _upper(m_a)
    pr = None if m_r is None else _upper(m_r)
    diff = None if pr is None else pa - pr
    p = len(pairs)
    intervals: dict[str, np.ndarray] = {}
    if level is not None and p:
        sizes = [len(a)] if r is None else [len(a), len(r)]

        def stat(ia: np.ndarray, ir: np.ndarray | None = None) -> np.ndarray:
            ua = _upper(phi_matrix(a[ia]))
            if r is None:
                return ua
            ur = _upper(phi_matrix(r[ir]))
            return np.concatenate([ua, ur, ua - ur])

        reps = bootstrap_replicates(stat, sizes, n_boot=n_boot, seed=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a pair undefined in every resample: (nan, nan)
            lo, hi = np.nanquantile(reps, [(1 - level) / 2, (1 + level) / 2], axis=0)
        keys = ["audited"] if r is None else ["audited", "reference", "difference"]
        for i, key in enumerate(keys):
            intervals[key] = np.stack([lo[i * p:(i + 1) * p], hi[i * p:(i + 1) * p]], axis=1)
    results: list[Result] = []
    series = [("audited", f"phi_{roles[0]}", pa)]
    if pr is not None and diff is not None:
        series += [("reference", f"phi_{roles[1]}", pr), ("difference", "phi_difference", diff)]
    for key, metric, values in series:
        for j, (x, y) in enumerate(pairs):
            iv = intervals.get(key)
            ci = {} if iv is None else {"ci_low": float(iv[j, 0]), "ci_high": float(iv[j, 1]), "ci_level": level,
                                        "n_boot": n_boot, "seed": seed}
            results.append(Result(metric=metric, value=float(values[j]), n_fake=len(a),
                                  n_real=None if r is None else len(r),
                                  details={"by": BY, "group": f"{x}:{y}",
                                           "reference": roles[1] if r is not None else None}, **ci))
    return Cooccurrence(names=names, roles=roles, pairs=pairs, audited=pa, reference=pr, difference=diff,
                        matrix_audited=m_a, matrix_reference=m_r, intervals=intervals,
                        level=level if intervals else None, n_boot=n_boot if intervals else None,
                        seed=seed if intervals else None, results=results)
