"""Implicit associations of a generator (course 2, week 2): which attributes move when a latent is pushed
toward, or away from, a target attribute through an attribute classifier.

    N seeded latents z_i -> latent_steps toward the target (+) and away from it (-)   [ganeval.latent_edit]
        -> per latent and direction, every attribute's probability change
           d+_ik = p_k(z_i after K steps toward) - p_k(z_i),  d-_ik likewise away
        -> over the 2N changes (both directions pooled, each latent's pair kept together):
           covariance(d_k, d_target) (N - 1 normalisation, the course's np.cov), correlation, mean changes
        -> top-k attributes by |covariance| (target excluded), with signs
        -> percentile bootstrap over latents (a latent's two changes resampled together)

Why both directions: steps toward the target raise its probability for almost every latent, so with
one direction the covariance across latents only compares how much each latent moved. Pooling the
steps away (d_target < 0) makes the covariance measure whether an attribute moves *with* the target:
positive when it rises as the target rises and falls as it falls (hat <-> glasses in a generator that
draws them together), negative for an attribute the generator trades against the target, about 0 for an
attribute it keeps independent. A covariance reflects the generator and the classifier together: a
classifier that itself confuses two attributes creates an association as well (use a classifier trained
on data where they are independent to audit the generator alone).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ganeval.errors import BadInputError
from ganeval.fairness.bootstrap import DEFAULT_LEVEL, DEFAULT_N_BOOT
from ganeval.generators import LoadedGenerator, labels_for, seeded_latents
from ganeval.latent_edit import LatentPath, generator_forward, latent_steps
from ganeval.metrics.bootstrap import bootstrap_replicates
from ganeval.results import Result

__all__ = ["AssociationSettings", "Associations", "association_results", "changes_to_associations",
           "implicit_associations"]

STATS = ("covariance", "correlation", "mean_change_toward", "mean_change_away")
# Probability changes with a smaller standard deviation are float32 round-off, not movement: their
# covariance is reported (and is tiny), their correlation -- which would rescale the round-off to any
# value in [-1, 1] -- is NaN.
MIN_CHANGE_SD = 1e-6


@dataclass(frozen=True)
class AssociationSettings:
    """How the latents are moved: n latents from `seed` (the generator's own seeded stream, so latent i
    is sample i of the audit), `steps` steps of length `step_size` (normalize) toward and away from the
    target, with an optional penalty on the other attributes' logits (ganeval.latent_edit)."""

    n: int = 500
    seed: int = 0
    steps: int = 10
    step_size: float = 0.2
    normalize: bool = True
    penalty: float = 0.0
    truncation: float | None = None
    batch_size: int = 256


@dataclass(frozen=True, eq=False)
class Associations:
    """Association of every attribute's change with the target's (module docstring).

    covariance, correlation, mean_change_toward, mean_change_away: (K,) float64, column k for names[k]
    (the target's own covariance is its variance, its correlation 1).
    change_correlation: (K, K) correlation matrix of the pooled changes.
    correlations of an attribute that did not move (change sd < MIN_CHANGE_SD) are NaN.
    intervals: {stat: (K, 2) [low, high]} percentile bootstrap intervals, or {} without a bootstrap.
    top: indices of the top_k attributes by |covariance|, target excluded, largest first.
    n_latents: N (each contributes one change per direction).
    """

    target: str
    names: tuple[str, ...]
    covariance: np.ndarray
    correlation: np.ndarray
    mean_change_toward: np.ndarray
    mean_change_away: np.ndarray
    change_correlation: np.ndarray
    top: tuple[int, ...]
    n_latents: int
    intervals: dict[str, np.ndarray] = field(default_factory=dict)
    level: float | None = None
    n_boot: int | None = None
    seed: int | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def target_index(self) -> int:
        return self.names.index(self.target)

    def interval(self, stat: str, name: str) -> tuple[float, float] | None:
        """(low, high) of `stat` for attribute `name`, or None without a bootstrap."""
        if stat not in self.intervals:
            return None
        lo, hi = self.intervals[stat][self.names.index(name)]
        return float(lo), float(hi)

    def excludes_zero(self, name: str, stat: str = "covariance") -> bool | None:
        """Whether the interval of `stat` for `name` lies entirely on one side of 0 (None without one)."""
        iv = self.interval(stat, name)
        if iv is None or not np.isfinite(iv).all():
            return None
        return bool(iv[0] > 0 or iv[1] < 0)

    def top_associations(self) -> list[dict[str, Any]]:
        """The top-k rows: attribute, sign ("+"/"-"), covariance, correlation and their intervals."""
        rows = []
        for j in self.top:
            name = self.names[j]
            cov = float(self.covariance[j])
            rows.append({"attribute": name, "sign": "+" if cov > 0 else "-" if cov < 0 else "0",
                         "covariance": cov, "covariance_ci": self.interval("covariance", name),
                         "correlation": float(self.correlation[j]),
                         "correlation_ci": self.interval("correlation", name),
                         "excludes_zero": self.excludes_zero(name)})
        return rows


def _pooled(toward: np.ndarray, away: np.ndarray | None) -> np.ndarray:
    return toward if away is None else np.concatenate([toward, away])


def _cov_corr(d: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
    """Covariance (ddof 1) and correlation of every column of d (M, K) with column t; the correlation is
    NaN for a column that did not move (standard deviation below MIN_CHANGE_SD)."""
    c = d - d.mean(axis=0)
    cov = c.T @ c[:, t] / max(len(d) - 1, 1)
    sd = np.sqrt(np.einsum("ij,ij->j", c, c) / max(len(d) - 1, 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = cov / (sd * sd[t])
    corr[(sd < MIN_CHANGE_SD) | (sd[t] < MIN_CHANGE_SD)] = np.nan
    return cov, corr


def _check_changes(toward: Any, away: Any, names: Sequence[str], target: str) -> tuple[np.ndarray, np.ndarray | None]:
    a = np.asarray(toward, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 2 or a.shape[1] != len(names):
        raise BadInputError(f"changes must be (N, K) with N >= 2 and K = {len(names)} attributes, got {a.shape}")
    b = None
    if away is not None:
        b = np.asarray(away, dtype=np.float64)
        if b.shape != a.shape:
            raise BadInputError(f"the changes away {b.shape} must have the shape of the changes toward {a.shape}")
    if not np.isfinite(a).all() or (b is not None and not np.isfinite(b).all()):
        raise BadInputError("the attribute changes contain NaN or infinite values")
    if target not in names:
        raise BadInputError(f"the target {target!r} is not one of the attributes ({', '.join(names)})")
    return a, b


def changes_to_associations(toward: Any, away: Any, names: Sequence[str], target: str, *, top_k: int = 5,
                            level: float | None = DEFAULT_LEVEL, n_boot: int = DEFAULT_N_BOOT, seed: int = 0,
                            settings: dict[str, Any] | None = None) -> Associations:
    """Associations from per-latent probability changes toward (N, K) and away (N, K) (away None: one
    direction only). Pure math: covariance and correlation of each column with the target's over the
    pooled rows, mean changes, top_k by |covariance|, and with `level` a percentile bootstrap over the N
    latents (n_boot resamples from np.random.default_rng(seed), a latent's two rows kept together)."""
    names = tuple(names)
    a, b = _check_changes(toward, away, names, target)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0:
        raise BadInputError(f"--top-k must be a non-negative integer, got {top_k!r}")
    t = names.index(target)
    k = len(names)

    def stats(rows: np.ndarray | None) -> np.ndarray:
        ta = a if rows is None else a[rows]
        tb = None if b is None else (b if rows is None else b[rows])
        cov, corr = _cov_corr(_pooled(ta, tb), t)
        mean_away = np.full(k, np.nan) if tb is None else tb.mean(axis=0)
        return np.concatenate([cov, corr, ta.mean(axis=0), mean_away])

    point = stats(None)
    cov, corr, m_toward, m_away = (point[i * k:(i + 1) * k] for i in range(4))
    intervals: dict[str, np.ndarray] = {}
    if level is not None:
        if not 0 < level < 1:
            raise BadInputError(f"the confidence level must be between 0 and 1 (e.g. 0.95), got {level}")
        if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 2:
            raise BadInputError(f"a bootstrap needs at least 2 resamples, got n_boot={n_boot}")
        reps = bootstrap_replicates(stats, [len(a)], n_boot=n_boot, seed=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: an attribute that never moved
            lo, hi = np.nanquantile(reps, [(1 - level) / 2, (1 + level) / 2], axis=0)
        for i, stat in enumerate(STATS):
            intervals[stat] = np.stack([lo[i * k:(i + 1) * k], hi[i * k:(i + 1) * k]], axis=1)
    pooled = _pooled(a, b)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = pooled - pooled.mean(axis=0)
        gram = c.T @ c
        sd = np.sqrt(np.diag(gram))
        change_corr = gram / np.outer(sd, sd)
    still = sd / np.sqrt(max(len(pooled) - 1, 1)) < MIN_CHANGE_SD
    change_corr[still, :] = np.nan
    change_corr[:, still] = np.nan
    order = sorted((j for j in range(k) if j != t), key=lambda j: (-abs(cov[j]) if np.isfinite(cov[j]) else np.inf, j))
    return Associations(target=target, names=names, covariance=cov, correlation=corr, mean_change_toward=m_toward,
                        mean_change_away=m_away, change_correlation=change_corr, top=tuple(order[:top_k]),
                        n_latents=len(a), intervals=intervals, level=level if level is not None else None,
                        n_boot=int(n_boot) if level is not None else None, seed=seed if level is not None else None,
                        settings=dict(settings or {}))


def implicit_associations(generator: LoadedGenerator, classifier: Any, target: str, *,
                          settings: AssociationSettings = AssociationSettings(), top_k: int = 5,
                          level: float | None = DEFAULT_LEVEL, n_boot: int = DEFAULT_N_BOOT, boot_seed: int = 0,
                          ) -> tuple[Associations, dict[str, LatentPath]]:
    """The generator's implicit associations with `target` through an AttributeClassifier (module docstring).

    Latents are the generator's own seeded ones (ganeval.generators.seeded_latents(settings.seed)), with
    balanced class labels i mod C for a conditional generator. Returns the Associations and the two
    LatentPaths {"toward": ..., "away": ...} (for before/after images). settings.n >= 2.
    """
    t = classifier.index(target)
    s = settings
    if isinstance(s.n, bool) or not isinstance(s.n, int) or s.n < 2:
        raise BadInputError(f"implicit associations need at least 2 latents, got {s.n!r}")
    started = time.perf_counter()
    z = seeded_latents(generator.latent, s.n, s.seed, s.truncation)
    labels = labels_for(generator.latent, s.n, None)
    forward = generator_forward(generator, classifier.logits_from_unit)
    paths = {name: latent_steps(forward, z, t, direction=d, steps=s.steps, step_size=s.step_size,
                                normalize=s.normalize, penalty=s.penalty, labels=labels, batch_size=s.batch_size)
             for name, d in (("toward", 1), ("away", -1))}
    record = {"n": s.n, "latent_seed": s.seed, "steps": s.steps, "step_size": s.step_size, "normalize": s.normalize,
              "penalty": s.penalty, "truncation": s.truncation, "seconds_steps": time.perf_counter() - started}
    assoc = changes_to_associations(paths["toward"].change(), paths["away"].change(), classifier.names, target,
                                    top_k=top_k, level=level, n_boot=n_boot, seed=boot_seed, settings=record)
    return assoc, paths


def association_results(assoc: Associations) -> list[Result]:
    """Result rows: per attribute (details {"by": "association with TARGET", "group": attribute}) the
    covariance, correlation and mean changes toward / away, with intervals; the top-k carry their rank."""
    by = f"association with {assoc.target}"
    rank = {j: i + 1 for i, j in enumerate(assoc.top)}
    values = {"covariance": assoc.covariance, "correlation": assoc.correlation,
              "mean_change_toward": assoc.mean_change_toward, "mean_change_away": assoc.mean_change_away}
    rows = []
    for stat in STATS:
        metric = stat if stat.startswith("mean_") else f"association_{stat}"
        for j, name in enumerate(assoc.names):
            v = float(values[stat][j])
            iv = assoc.interval(stat, name)
            details: dict[str, Any] = {"by": by, "group": name, "target": assoc.target}
            if j in rank:
                details["rank"] = rank[j]
            if name == assoc.target:
                details["is_target"] = True
            rows.append(Result(metric=metric, value=v, ci_low=None if iv is None else iv[0],
                               ci_high=None if iv is None else iv[1], ci_level=assoc.level if iv else None,
                               n_boot=assoc.n_boot if iv else None, n_fake=assoc.n_latents, seed=assoc.seed,
                               details=details))
    return rows
