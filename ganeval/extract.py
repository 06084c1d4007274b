"""The one batching loop: source -> preprocess -> extractor -> FeatureStats, through the cache.

Every feature ever computed by ganeval goes through `source_to_stats`; progress bars, device
placement and cache lookups live here and nowhere else.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from rich.markup import escape

from ganeval.cache import StatsCache, stats_key
from ganeval.extractors import Extractor
from ganeval.preprocess import prepare
from ganeval.progress import NO_PROGRESS, ProgressReporter
from ganeval.sources import ImageSource
from ganeval.stats import FeatureStats


@dataclass(frozen=True)
class Extraction:
    """Stats of one input and how they were obtained (for provenance)."""

    stats: FeatureStats
    cached: bool
    seconds: float


def stats_meta(extractor: Extractor, protocol: str) -> dict:
    """The meta that makes stats comparable: the same extractor, weights and protocol."""
    info = extractor.info
    return {"extractor": info.name, "weights_sha256": info.weights_sha256, "protocol": protocol, "feature": "pool"}


def cache_key(source: ImageSource, extractor: Extractor, protocol: str, read_options: dict) -> str:
    return stats_key(fingerprint=source.fingerprint(), **stats_meta(extractor, protocol),
                     input_size=list(extractor.info.input_size), read=read_options)


def source_to_stats(
    source: ImageSource,
    extractor: Extractor,
    protocol: str,
    *,
    keep: Iterable[str] = (),
    batch_size: int = 50,
    cache: StatsCache | None = None,
    read_options: dict | None = None,
    progress: ProgressReporter = NO_PROGRESS,
    label: str = "features",
) -> Extraction:
    """Features of every image in `source`, accumulated into FeatureStats (kept arrays on request).

    keep:  names of per-sample arrays to keep ("pool", "logits") for metrics that need samples.
    cache: when given, a hit returns at once; a miss computes and stores the stats atomically.
    """
    t0 = time.perf_counter()
    keep = tuple(sorted(set(keep)))
    for name in keep:
        if name not in extractor.info.features:
            from ganeval.errors import BadInputError
            raise BadInputError(
                f"extractor {extractor.info.name!r} provides {sorted(extractor.info.features)}, not {name!r}"
            )
    key = cache_key(source, extractor, protocol, read_options or {}) if cache is not None else None
    if cache is not None:
        hit = cache.get(key, set(keep))
        if hit is not None:
            progress.log(escape(f"{label}: cached statistics ({hit.n} images) from {cache.path(key)}"))
            return Extraction(hit, cached=True, seconds=time.perf_counter() - t0)

    info = extractor.info
    device = next(extractor.parameters(), torch.empty(0)).device
    stats = FeatureStats(dim=info.features["pool"], keep=keep, meta=stats_meta(extractor, protocol))
    task = progress.task(label, total=len(source))
    done = 0
    with torch.inference_mode():
        for batch in source.batches(batch_size):
            x = prepare(batch.images, protocol, info).to(device)
            out = extractor(x)
            stats.update(out["pool"], **{name: out[name] for name in keep if name != "pool"})
            done += len(batch.names)
            elapsed = time.perf_counter() - t0
            progress.advance(task, len(batch.names), rate=f"{done / max(elapsed, 1e-9):.1f} img/s")
    progress.finish(task, note=f"{done} images")
    stats.meta["source"] = source.describe()
    stats.meta["n"] = stats.n
    if cache is not None:
        cache.put(key, stats)
    return Extraction(stats, cached=False, seconds=time.perf_counter() - t0)
