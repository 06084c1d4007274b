"""Metric registry: names -> MetricEntry; compute_metrics turns FeatureStats into Result rows.

    requested names -> required_kept (what extraction must keep per sample) -> compute_metrics -> [Result]

The math lives in one pure module per metric (fid, kid, inception_score, prdc) and bootstrap; the
entries here only pick arrays out of FeatureStats, call those functions with MetricConfig's values,
and wrap the numbers as Results. Built-ins register through register_metric, as a plugin would:

    register_metric(MetricEntry(name="my", description=..., results=("my",), needs_real=True,
                                needs_kept={"real": ("pool",), "fake": ("pool",)}, compute=my_compute))
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ganeval.config import MetricConfig
from ganeval.errors import BadInputError
from ganeval.metrics.bootstrap import bootstrap_ci, fid_ci, is_ci, kid_ci, prdc_ci
from ganeval.metrics.fid import FidValue, stats_to_fid
from ganeval.metrics.inception_score import IsValue, logits_to_inception_score
from ganeval.metrics.kid import KidValue, features_to_kid
from ganeval.metrics.prdc import PrdcValue, features_to_prdc
from ganeval.results import Result
from ganeval.stats import COMPAT_KEYS, FeatureStats

__all__ = [
    "FidValue", "IsValue", "KidValue", "MetricEntry", "PrdcValue", "available_metrics", "bootstrap_ci",
    "compute_metrics", "features_to_kid", "features_to_prdc", "logits_to_inception_score",
    "register_metric", "required_kept", "stats_to_fid",
]

ComputeFn = Callable[[FeatureStats | None, FeatureStats, MetricConfig], list[Result]]


@dataclass(frozen=True)
class MetricEntry:
    """A registered metric.

    results:       the Result.metric names it produces, in order (e.g. ("precision", "recall")).
    needs_real:    whether it compares against a real set (False: the generated set alone, like IS).
    needs_kept:    per-sample arrays each side must keep, e.g. {"real": ("pool",), "fake": ("pool",)}.
    ci_needs_kept: further arrays needed only for a bootstrap interval (FID's resampled features).
    compute:       (real stats or None, fake stats, config) -> list of Results named as `results`.
    """

    name: str
    description: str
    results: tuple[str, ...]
    needs_real: bool
    needs_kept: dict[str, tuple[str, ...]]
    compute: ComputeFn
    ci_needs_kept: dict[str, tuple[str, ...]] = field(default_factory=dict)


_REGISTRY: dict[str, MetricEntry] = {}
# One computation shared by the entries of a compute_metrics call (pr and dc share their k-NN pass).
_SHARED: contextvars.ContextVar[dict[Any, Any] | None] = contextvars.ContextVar("ganeval_metric_memo",
                                                                                 default=None)


def register_metric(entry: MetricEntry) -> None:
    """Add (or replace) a metric in the registry."""
    _REGISTRY[entry.name] = entry


def available_metrics() -> dict[str, MetricEntry]:
    """The registered metrics by name (the CLI's choices and help text come from here)."""
    return dict(_REGISTRY)


def _entry(name: str) -> MetricEntry:
    entry = _REGISTRY.get(name)
    if entry is None:
        raise BadInputError(f"unknown metric {name!r}; choose from: {', '.join(sorted(_REGISTRY))}")
    return entry


def required_kept(names: Sequence[str], cfg: MetricConfig | None = None) -> dict[str, set[str]]:
    """Which per-sample arrays each side ("real", "fake") must keep for these metrics.

    With a `cfg` that asks for confidence intervals, what the intervals need is included too.
    """
    out: dict[str, set[str]] = {"real": set(), "fake": set()}
    for name in names:
        entry = _entry(name)
        wanted = [entry.needs_kept]
        if cfg is not None and cfg.ci is not None:
            wanted.append(entry.ci_needs_kept)
        for need in wanted:
            for side, arrays in need.items():
                out.setdefault(side, set()).update(arrays)
    return out


@contextmanager
def _shared_scope() -> Iterator[None]:
    token = _SHARED.set({})
    try:
        yield
    finally:
        _SHARED.reset(token)


def _shared(key: Any, fn: Callable[[], Any]) -> Any:
    memo = _SHARED.get()
    if memo is None:
        return fn()
    if key not in memo:
        memo[key] = fn()
    return memo[key]


def _describe(stats: FeatureStats, role: str) -> str:
    meta = stats.meta
    source = meta.get("source")
    where = meta.get("path") or (source.get("path") if isinstance(source, dict) else source)
    return f"the {role} input {where}" if where else f"the {role} input"


def _kept(stats: FeatureStats, name: str, role: str, metric: str) -> np.ndarray:
    arr = stats.kept(name) if stats.has(name) else None
    if arr is None:
        what = "only mean/covariance statistics" if stats.n is None or not stats.keep else \
            f"per-sample {', '.join(stats.keep)} but not {name}"
        raise BadInputError(
            f"{metric} needs the per-sample {name!r} arrays of {_describe(stats, role)}, which has {what}; "
            f"compute it from the images, or save statistics that keep {name}"
        )
    if len(arr) and not np.isfinite(arr).all():
        raise BadInputError(f"the {name} features of {_describe(stats, role)} contain NaN or infinite values")
    return arr


def _real(real: FeatureStats | None, metric: str) -> FeatureStats:
    if real is None:
        raise BadInputError(f"{metric} compares two sets: give the real images or statistics too")
    return real


def _ci_fields(cfg: MetricConfig, low: float, high: float) -> dict[str, Any]:
    return {"ci_low": low, "ci_high": high, "ci_level": cfg.ci, "n_boot": cfg.n_boot}


# -- built-ins ------------------------------------------------------------------------------------

def _fid(real: FeatureStats | None, fake: FeatureStats, cfg: MetricConfig) -> list[Result]:
    real = _real(real, "FID")
    v = stats_to_fid(real.mean, real.cov, fake.mean, fake.cov, n1=real.n, n2=fake.n, diagnostics="fast")
    details = dict(v.diagnostics)
    ci: dict[str, Any] = {}
    if cfg.ci is not None:
        pools = _kept(real, "pool", "real", "an FID confidence interval"), \
            _kept(fake, "pool", "fake", "an FID confidence interval")
        ci = _ci_fields(cfg, *fid_ci(*pools, n_boot=cfg.n_boot, level=cfg.ci, seed=cfg.seed))
        details["ci_method"] = "percentile bootstrap, re-centred on the estimate"
    return [Result("fid", v.value, n_real=real.n, n_fake=fake.n, seed=cfg.seed, details=details, **ci)]


def _kid(real: FeatureStats | None, fake: FeatureStats, cfg: MetricConfig) -> list[Result]:
    r = _kept(_real(real, "KID"), "pool", "real", "KID")
    f = _kept(fake, "pool", "fake", "KID")
    # torch-fidelity's order: input1 is the generated set, input2 the real one.
    kw = dict(n_subsets=cfg.kid_subsets, subset_size=cfg.kid_subset_size, degree=cfg.kid_degree)
    v = features_to_kid(f, r, seed=cfg.seed, **kw)
    ci: dict[str, Any] = {}
    if cfg.ci is not None:
        ci = _ci_fields(cfg, *kid_ci(f, r, kid_seed=cfg.seed, n_boot=cfg.n_boot, level=cfg.ci, seed=cfg.seed,
                                     estimate=v.mean, **kw))
    details = {"subset_size": v.subset_size, "n_subsets": v.n_subsets, "reduced": v.reduced,
               "requested_subset_size": cfg.kid_subset_size, "kernel": f"(x.y/d + 1)^{cfg.kid_degree}"}
    return [Result("kid", v.mean, std=v.std, n_real=len(r), n_fake=len(f), seed=cfg.seed, details=details, **ci)]


def _is(real: FeatureStats | None, fake: FeatureStats, cfg: MetricConfig) -> list[Result]:
    logits = _kept(fake, "logits", "fake", "the Inception Score")
    v = logits_to_inception_score(logits, splits=cfg.is_splits, shuffle=cfg.is_shuffle, seed=cfg.seed)
    ci: dict[str, Any] = {}
    if cfg.ci is not None:
        ci = _ci_fields(cfg, *is_ci(logits, splits=cfg.is_splits, shuffle=cfg.is_shuffle, is_seed=cfg.seed,
                                    n_boot=cfg.n_boot, level=cfg.ci, seed=cfg.seed))
    details = {"splits": cfg.is_splits, "shuffle": cfg.is_shuffle, "classes": int(logits.shape[1])}
    return [Result("is", v.mean, std=v.std, n_fake=len(logits), seed=cfg.seed, details=details, **ci)]


def _prdc_results(names: tuple[str, str], real: FeatureStats | None, fake: FeatureStats,
                  cfg: MetricConfig) -> list[Result]:
    label = "precision/recall" if names[0] == "precision" else "density/coverage"
    r = _kept(_real(real, label), "pool", "real", label)
    f = _kept(fake, "pool", "fake", label)

    def run() -> tuple[PrdcValue, dict[str, tuple[float, float]] | None]:
        v = features_to_prdc(r, f, pr_k=cfg.pr_k, dc_k=cfg.dc_k, strict=cfg.nn_strict, block_mib=cfg.block_mib)
        cis = prdc_ci(v, n_boot=cfg.n_boot, level=cfg.ci, seed=cfg.seed) if cfg.ci is not None else None
        return v, cis

    v, cis = _shared(("prdc", id(r), id(f)), run)
    k = cfg.pr_k if names[0] == "precision" else cfg.dc_k
    details = {"k": k, "comparison": "<" if cfg.nn_strict else "<="}
    out = []
    for name in names:
        ci = _ci_fields(cfg, *cis[name]) if cis is not None else {}
        out.append(Result(name, getattr(v, name), n_real=len(r), n_fake=len(f), seed=cfg.seed,
                          details=dict(details), **ci))
    return out


def _pr(real: FeatureStats | None, fake: FeatureStats, cfg: MetricConfig) -> list[Result]:
    return _prdc_results(("precision", "recall"), real, fake, cfg)


def _dc(real: FeatureStats | None, fake: FeatureStats, cfg: MetricConfig) -> list[Result]:
    return _prdc_results(("density", "coverage"), real, fake, cfg)


_POOLS = {"real": ("pool",), "fake": ("pool",)}
for _e in (
    MetricEntry("fid", "Frechet Inception Distance (Heusel et al. 2017); lower is better",
                ("fid",), True, {}, _fid, ci_needs_kept=_POOLS),
    MetricEntry("kid", "Kernel Inception Distance, unbiased MMD^2 over subsets (Binkowski et al. 2018); "
                "lower is better", ("kid",), True, _POOLS, _kid),
    MetricEntry("is", "Inception Score of the generated set (Salimans et al. 2016); higher is better",
                ("is",), False, {"fake": ("logits",)}, _is),
    MetricEntry("pr", "precision and recall, k-NN manifolds (Kynkaanniemi et al. 2019)",
                ("precision", "recall"), True, _POOLS, _pr),
    MetricEntry("dc", "density and coverage, k-NN manifolds (Naeem et al. 2020)",
                ("density", "coverage"), True, _POOLS, _dc),
):
    register_metric(_e)


def _check_pair(real: FeatureStats | None, fake: FeatureStats) -> None:
    if real is None:
        return
    if real.dim != fake.dim:
        raise BadInputError(
            f"{_describe(real, 'real')} has {real.dim}-d features but {_describe(fake, 'fake')} has {fake.dim}-d"
        )
    for key in COMPAT_KEYS:
        a, b = real.meta.get(key), fake.meta.get(key)
        if a is not None and b is not None and a != b:
            raise BadInputError(f"the real and fake statistics differ in {key}: {a!r} vs {b!r}; "
                                f"compare features computed the same way")


def compute_metrics(names: Sequence[str], real: FeatureStats | None, fake: FeatureStats,
                    cfg: MetricConfig, on_metric: Callable[[str], None] | None = None) -> list[Result]:
    """Results of the named metrics (registry names, in order) between `real` and `fake`.

    `real` may be None when every named metric needs the generated set alone. `on_metric(name)` is
    called before each metric starts (the caller's progress display). Raises BadInputError
    naming the input and the missing array when a metric needs per-sample arrays a side lacks (e.g.
    KID from a mu/sigma statistics file).
    """
    entries = [_entry(n) for n in names]
    if cfg.ci is not None and not 0 < cfg.ci < 1:
        raise BadInputError(f"the confidence level must be between 0 and 1 (e.g. 0.95), got {cfg.ci}")
    _check_pair(real, fake)
    results: list[Result] = []
    with _shared_scope():
        for entry in entries:
            if entry.needs_real and real is None:
                raise BadInputError(f"{entry.name} compares two sets: give the real images or statistics too")
            if on_metric is not None:
                on_metric(entry.name)
            results.extend(entry.compute(real, fake, cfg))
    return results
