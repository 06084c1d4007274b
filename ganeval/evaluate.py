"""Orchestration: (real, fake, EvalConfig) -> RunResult. The CLI's `fid`, `metrics` and `stats` call this.

Flow: open each input (images or saved statistics) -> settle the extractor and protocol (the
configured ones, or the statistics files' own) -> source_to_stats for image inputs (cached) ->
metrics.compute_metrics -> Result rows with shared provenance.
"""

from __future__ import annotations

import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from rich.markup import escape

from ganeval import metrics as metric_registry
from ganeval.cache import StatsCache
from ganeval.config import DEFAULT_EXTRACTOR, EvalConfig
from ganeval.errors import BadInputError
from ganeval.extract import Extraction, source_to_stats
from ganeval.extractors import Extractor, ExtractorOptions, get_extractor
from ganeval.preprocess import DEFAULT_PROTOCOL, get_protocol
from ganeval.progress import NO_PROGRESS, ProgressReporter
from ganeval.provenance import collect_provenance, device_description
from ganeval.results import RunResult
from ganeval.sources import ImageSource, open_input
from ganeval.stats import FeatureStats

Input = str | Path | ImageSource | FeatureStats


ALIASES = {"precision": "pr", "recall": "pr", "density": "dc", "coverage": "dc", "inception_score": "is",
           "isc": "is", "prdc": None}


def metric_names(requested: tuple[str, ...] | list[str]) -> list[str]:
    """Registry names for the requested metrics: aliases resolved, duplicates dropped, order kept."""
    known = metric_registry.available_metrics()
    out: list[str] = []
    for raw in requested:
        name = raw.strip().lower()
        if not name:
            continue
        expanded = ["pr", "dc"] if name == "prdc" else [ALIASES.get(name, name)]
        for n in expanded:
            if n not in known:
                raise BadInputError(f"unknown metric {raw!r}; choose from: {', '.join(sorted(known))}")
            if n not in out:
                out.append(n)
    if not out:
        raise BadInputError("no metrics requested")
    return out


def _open(inp: Input, config: EvalConfig) -> ImageSource | FeatureStats:
    if isinstance(inp, (ImageSource, FeatureStats)):
        return inp
    return open_input(inp, skip_bad=config.skip_bad, allow_mixed_sizes=config.allow_mixed_sizes,
                      sampling=config.sampling)


def _label(inp: Input) -> str:
    if isinstance(inp, ImageSource):
        return str(inp.path)
    if isinstance(inp, FeatureStats):
        return str(inp.meta.get("path", "<statistics>"))
    return str(inp)


def settle_extractor_and_protocol(
    config: EvalConfig, opened: dict[str, ImageSource | FeatureStats], labels: dict[str, str]
) -> tuple[str, str, list[str]]:
    """The extractor spec and protocol to use, checked against any statistics inputs.

    Statistics files record what computed them; an explicit choice that contradicts them is an error,
    an unset one is taken from them. pytorch-fid mu/sigma files record nothing: they are assumed to
    match, and a warning says so.
    """
    extractor, protocol = config.extractor, config.protocol
    warnings: list[str] = []
    for role, obj in opened.items():
        if not isinstance(obj, FeatureStats):
            continue
        meta_ext, meta_proto = obj.meta.get("extractor"), obj.meta.get("protocol")
        if meta_ext is None:
            warnings.append(
                f"{labels[role]} records no extractor or protocol (a mu/sigma file, e.g. pytorch-fid's); "
                "it is assumed to match the ones used here"
            )
            continue
        for what, chosen, recorded in (("extractor", extractor, meta_ext), ("protocol", protocol, meta_proto)):
            if chosen is not None and chosen != recorded:
                raise BadInputError(
                    f"{labels[role]} was computed with {what} {recorded!r}, not {chosen!r}; "
                    f"use --{what} {recorded} or recompute the statistics"
                )
        extractor, protocol = meta_ext, meta_proto
    extractor = extractor or DEFAULT_EXTRACTOR
    protocol = get_protocol(protocol or DEFAULT_PROTOCOL).name
    return extractor, protocol, warnings


def build_extractor(config: EvalConfig, spec: str) -> Extractor:
    options = ExtractorOptions(
        weights_path=config.weights_path, allow_download=config.allow_download, device=config.device,
        input_size=config.input_size, mean=config.mean, std=config.std, value_range=config.value_range,
    )
    return get_extractor(spec, options)


def _check_stats_fit(stats: FeatureStats, extractor: Extractor | None, label: str) -> None:
    if extractor is None:
        return
    dim = extractor.info.features["pool"]
    if stats.dim != dim:
        raise BadInputError(f"{label} holds {stats.dim}-d statistics but {extractor.info.name} gives {dim}-d features")
    recorded = stats.meta.get("weights_sha256")
    if recorded and recorded != extractor.info.weights_sha256:
        raise BadInputError(
            f"{label} was computed with other {extractor.info.name} weights (sha256 {recorded[:12]}..., "
            f"these are {extractor.info.weights_sha256[:12]}...); recompute the statistics"
        )


def inputs_to_stats(
    inputs: dict[str, Input],
    keep: dict[str, set[str]],
    config: EvalConfig,
    *,
    progress: ProgressReporter = NO_PROGRESS,
    cache: StatsCache | None = None,
) -> tuple[dict[str, FeatureStats], dict[str, Any]]:
    """Statistics for each named input, plus the provenance of how they were obtained."""
    labels = {role: _label(inp) for role, inp in inputs.items()}
    opened = {role: _open(inp, config) for role, inp in inputs.items()}
    for role, obj in opened.items():
        if isinstance(obj, FeatureStats):
            obj.meta.setdefault("path", labels[role])
    spec, protocol, warnings = settle_extractor_and_protocol(config, opened, labels)
    for w in warnings:
        progress.log(f"[yellow]warning:[/] {escape(w)}")
    needs_network = any(isinstance(o, ImageSource) for o in opened.values())
    extractor = build_extractor(config, spec) if needs_network else None
    if cache is None and config.use_cache:
        cache = StatsCache()
    read_options = {"skip_bad": config.skip_bad, "allow_mixed_sizes": config.allow_mixed_sizes}

    stats: dict[str, FeatureStats] = {}
    described: dict[str, Any] = {}
    for role, obj in opened.items():
        if isinstance(obj, FeatureStats):
            _check_stats_fit(obj, extractor, labels[role])
            missing = sorted(k for k in keep.get(role, ()) if not obj.has(k))
            if missing:
                raise BadInputError(
                    f"{labels[role]} is a statistics file without per-sample {', '.join(missing)} arrays, "
                    f"which the requested metrics need; pass the images, or save statistics with --keep-features"
                )
            stats[role] = obj
            described[role] = {"path": labels[role], "kind": "statistics", "n": obj.n,
                               "source": obj.meta.get("source"), "cached": False}
            continue
        ex: Extraction = source_to_stats(
            obj, extractor, protocol, keep=keep.get(role, ()), batch_size=config.batch_size,
            cache=cache if config.use_cache else None, read_options=read_options,
            progress=progress, label=f"{role} features",
        )
        stats[role] = ex.stats
        src = dict(ex.stats.meta.get("source") or obj.describe())
        described[role] = dict(src, cached=ex.cached, seconds=round(ex.seconds, 3))
        if src.get("skipped"):
            progress.log(f"[yellow]skipped {src['skipped']} unreadable file(s) in {escape(labels[role])}[/]")

    if extractor is not None:
        info = extractor.info
        ext_prov = {"name": info.name, "spec": spec, "weights_sha256": info.weights_sha256,
                    "input_size": list(info.input_size), "features": info.features}
    else:
        any_stats = next(iter(stats.values()))
        ext_prov = {"name": spec, "spec": spec, "weights_sha256": any_stats.meta.get("weights_sha256")}
    prov = {"extractor": ext_prov, "protocol": protocol, "inputs": described, "warnings": warnings,
            "device": device_description(config.device)}
    return stats, prov


def evaluate(
    real: Input | None,
    fake: Input,
    config: EvalConfig | None = None,
    *,
    progress: ProgressReporter = NO_PROGRESS,
    cache: StatsCache | None = None,
) -> RunResult:
    """Compute `config.metrics` between `real` and `fake` (folders, archives, arrays or statistics files).

    `real` may be None only when every requested metric needs the generated set alone (e.g. "is").
    """
    config = config or EvalConfig()
    t0 = time.perf_counter()
    names = metric_names(config.metrics)
    keep = metric_registry.required_kept(names, config.metric)
    inputs: dict[str, Input] = {"fake": fake}
    if real is not None:
        inputs = {"real": real, "fake": fake}
    elif any(metric_registry.available_metrics()[n].needs_real for n in names):
        raise BadInputError("these metrics compare two sets: give the real images too")
    stats, prov = inputs_to_stats(inputs, keep, config, progress=progress, cache=cache)
    t1 = time.perf_counter()
    ci = f" with {config.metric.ci:g} CIs ({config.metric.n_boot} resamples)" if config.metric.ci else ""
    task = progress.task(f"metrics{ci}", total=len(names))
    done: list[str] = []

    def on_metric(name: str) -> None:
        if done:
            progress.advance(task, 1, rate=f"done: {', '.join(done)}")
        done.append(name)
        progress.advance(task, 0, rate=f"computing {name}")

    results = metric_registry.compute_metrics(names, stats.get("real"), stats["fake"], config.metric,
                                              on_metric=on_metric)
    progress.finish(task, note=", ".join(done))
    t2 = time.perf_counter()
    prov = collect_provenance(
        **prov,
        config=replace(config, metrics=tuple(names)),
        seeds={"metric_seed": config.metric.seed},
        timings={"features_s": round(t1 - t0, 3), "metrics_s": round(t2 - t1, 3), "total_s": round(t2 - t0, 3)},
    )
    return RunResult(results=results, provenance=prov)


def compute_stats(
    inp: Input,
    config: EvalConfig | None = None,
    *,
    keep: tuple[str, ...] = (),
    progress: ProgressReporter = NO_PROGRESS,
    cache: StatsCache | None = None,
) -> tuple[FeatureStats, dict[str, Any]]:
    """Statistics of one input (for `ganeval stats`), with provenance in their meta."""
    config = config or EvalConfig()
    stats, prov = inputs_to_stats({"input": inp}, {"input": set(keep)}, config, progress=progress, cache=cache)
    result = stats["input"]
    result.meta["provenance"] = collect_provenance(**prov, config=asdict(config))
    return result, prov
