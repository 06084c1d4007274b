"""Truncation sweeps: a generator's metrics at several truncation values psi, for the fidelity-diversity curves.

    checkpoint -> load_generator (once) -> truncation_space: "z" (truncated-normal latents, |z| <= psi)
        or "w" (the module's own truncate_w toward its mean w)
    real input -> extractor + protocol -> FeatureStats (statistics cache; computed once for all psis)
    for each psi: truncated_source -> source_to_stats (cached by checkpoint bytes, n, seed and psi)
        -> metrics.compute_metrics -> Results with details {"psi": psi}
    -> RunResult (one row per metric per psi), which the report draws as the truncation curves

Every psi draws its latents from the same seed. In z-space the truncated normal is drawn by the inverse
CDF from the same uniforms, so psi only shrinks each latent (common random numbers): the curves move
with psi, not with sampling noise. docs/sweep.md explains the curves and how to read them.

The w-space hook, for style-based generators: a generator module with callable `mapping(z[, labels])
-> w`, `truncate_w(w, psi) -> w` (e.g. w_avg + psi * (w - w_avg)) and `synthesis(w) -> images` is
truncated in w (psi = 1: no truncation, 0: the mean w); any other module in z.
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ganeval import metrics as metric_registry
from ganeval.cache import StatsCache
from ganeval.config import EvalConfig, SamplingConfig
from ganeval.errors import BadInputError
from ganeval.evaluate import build_extractor, inputs_to_stats, metric_names
from ganeval.extract import source_to_stats
from ganeval.generators import W_HOOK, LoadedGenerator, check_sampling, load_generator, truncation_space
from ganeval.progress import NO_PROGRESS, ProgressReporter
from ganeval.provenance import collect_provenance
from ganeval.results import Result, RunResult
from ganeval.sources import GeneratorSource, ImageSource
from ganeval.stats import FeatureStats

__all__ = [
    "DEFAULT_PSIS", "DEFAULT_SWEEP_METRICS", "W_HOOK", "check_psis", "default_psis",
    "parse_psis", "sweep", "sweep_images", "truncated_source", "truncation_space",
]

DEFAULT_SWEEP_METRICS = ("fid", "pr", "dc")
# Per truncation space: z-space psi is a threshold in standard deviations (2 barely truncates), w-space psi
# an interpolation weight (1 is no truncation).
DEFAULT_PSIS = {"z": "0.25,0.5,...,2.0", "w": "0.1,0.2,...,1.0"}
MSG_BAD_PSI = "--psi {why} (got {text!r}); give values like 0.2,0.5,1.0 or 0.1,0.2,...,1.0 or 0.1:1.0:0.1"
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
MAX_PSIS = 200  # each psi costs a full evaluation; a typo like 0:1:0.0001 should not start 10001 of them
_DIGITS = 10  # psi values of a progression are rounded to this many decimals (0.1 * 3 is 0.3, not 0.30000000000000004)


# -- psi values -----------------------------------------------------------------------------------


def _bad_psi(why: str, text: str) -> BadInputError:
    return BadInputError(MSG_BAD_PSI.format(why=why, text=text))


def _progression(first: float, second: float, last: float, text: str) -> list[float]:
    step = second - first
    if not step > 0:
        raise _bad_psi("needs increasing values before '...'", text)
    count = (last - first) / step
    if count < 1 or abs(count - round(count)) > 1e-6:
        raise _bad_psi(f"steps of {step:g} from {first:g} do not reach {last:g}", text)
    if count >= MAX_PSIS:
        raise _bad_psi(f"makes {int(round(count)) + 1} values; a sweep takes at most {MAX_PSIS}", text)
    return [round(first + i * step, _DIGITS) for i in range(int(round(count)) + 1)]


def parse_psis(text: str) -> tuple[float, ...]:
    """Truncation values from the command line, sorted ascending.

    Accepts a comma list ("0.2,0.5,1"), an arithmetic progression written out ("0.1,0.2,...,1.0": the step
    is the difference of the first two, the last value must be reached exactly) or a range
    "start:stop:step" (stop included). Values must be finite, >= 0 and distinct. BadInputError otherwise.
    """
    raw = str(text).replace(" ", "")
    if not raw:
        raise _bad_psi("is empty", text)
    if ":" in raw:
        parts = raw.split(":")
        if len(parts) != 3 or not all(re.fullmatch(_NUMBER, p) for p in parts):
            raise _bad_psi("range must be start:stop:step", text)
        start, stop, step = (float(p) for p in parts)
        values = _progression(start, start + step, stop, text) if stop != start else [start]
    else:
        tokens = raw.split(",")
        if "..." in tokens:
            at = tokens.index("...")
            if at < 2 or at != len(tokens) - 2 or tokens.count("...") != 1:
                raise _bad_psi("'...' must follow two values and precede the last one", text)
            if not all(re.fullmatch(_NUMBER, t) for i, t in enumerate(tokens) if i != at):
                raise _bad_psi("holds something that is not a number", text)
            head = [float(t) for t in tokens[:at]]
            values = _progression(head[-2], head[-1], float(tokens[-1]), text)
            values = head[:-2] + values
        else:
            if not all(re.fullmatch(_NUMBER, t) for t in tokens):
                raise _bad_psi("holds something that is not a number", text)
            values = [float(t) for t in tokens]
    return check_psis(values, text=str(text))


def check_psis(psis: Sequence[float], text: str | None = None) -> tuple[float, ...]:
    """`psis` as sorted floats; BadInputError for an empty list, a negative or non-finite value, or a repeat."""
    shown = text if text is not None else ",".join(str(p) for p in psis)
    values = []
    for p in psis:
        if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)):
            raise _bad_psi(f"holds {p!r}, not a number", shown)
        values.append(float(p))
    if not values:
        raise _bad_psi("is empty", shown)
    for v in values:
        if not (math.isfinite(v) and v >= 0):
            raise _bad_psi(f"values must be finite and >= 0, not {v:g}", shown)
    if len(set(values)) != len(values):
        twice = next(v for v in values if values.count(v) > 1)
        raise _bad_psi(f"lists {twice:g} twice", shown)
    return tuple(sorted(values))


# -- truncation spaces ----------------------------------------------------------------------------


def default_psis(checkpoint: str | Path) -> tuple[float, ...]:
    """The psis swept when none are given: DEFAULT_PSIS of the checkpoint's truncation space."""
    return parse_psis(DEFAULT_PSIS[truncation_space(load_generator(checkpoint))])


def truncated_source(checkpoint: str | Path, gen: LoadedGenerator, psi: float, sampling: SamplingConfig, *,
                     device: str = "cpu") -> GeneratorSource:
    """The images of `gen` (loaded from `checkpoint`) truncated at psi, in its truncation space
    (ganeval.generators.generate dispatches: z-space truncated normal, or w-space lerp toward the mean w)."""
    return GeneratorSource(checkpoint, dataclasses.replace(sampling, truncation=float(psi)), device=device,
                           loaded=gen)


# -- the sweep ------------------------------------------------------------------------------------


def _check_config(config: EvalConfig, gen: LoadedGenerator, psis: tuple[float, ...]) -> None:
    s = config.sampling
    if s.truncation is not None:
        raise BadInputError("a sweep sets the truncation itself from --psi; leave --truncation unset")
    for psi in psis:
        check_sampling(gen.latent, s.n, s.seed, s.class_index, psi, where=gen.label)


def sweep(
    checkpoint: str | Path,
    real: str | Path | ImageSource | FeatureStats,
    psis: Sequence[float],
    config: EvalConfig | None = None,
    *,
    progress: ProgressReporter = NO_PROGRESS,
    cache: StatsCache | None = None,
) -> RunResult:
    """`config.metrics` of the generator in `checkpoint` against `real`, once per truncation value in `psis`.

    config.sampling gives n, the latent seed and the class (its truncation must be None);
    config.metrics defaults to fid, pr, dc when config is None. The real statistics are computed once
    (or read from the cache) and reused for every psi; each psi's generated statistics are cached too,
    so a re-run computes nothing. Returns one Result per metric per psi, each with details["psi"],
    ordered by psi. Raises BadInputError for bad psis, settings or inputs before any long work.
    """
    config = config or EvalConfig(metrics=DEFAULT_SWEEP_METRICS)
    t0 = time.perf_counter()
    psis = check_psis(psis)
    names = metric_names(config.metrics)
    keep = metric_registry.required_kept(names, config.metric)
    gen = load_generator(checkpoint, config.device)
    space = truncation_space(gen)
    _check_config(config, gen, psis)
    if cache is None and config.use_cache:
        cache = StatsCache()

    stats, prov = inputs_to_stats({"real": real}, {"real": keep.get("real", set())}, config, progress=progress,
                                  cache=cache)
    real_stats = stats["real"]
    spec, protocol = prov["extractor"]["spec"], prov["protocol"]
    extractor = build_extractor(config, spec)
    info = extractor.info
    prov["extractor"] = {"name": info.name, "spec": spec, "weights_sha256": info.weights_sha256,
                         "input_size": list(info.input_size), "features": info.features}
    t1 = time.perf_counter()

    read_options = {"skip_bad": config.skip_bad, "allow_mixed_sizes": config.allow_mixed_sizes}
    results: list[Result] = []
    per_psi: dict[str, dict[str, Any]] = {}
    metric_seconds = 0.0
    for psi in psis:
        source = truncated_source(checkpoint, gen, psi, config.sampling, device=config.device)
        ex = source_to_stats(source, extractor, protocol, keep=keep.get("fake", set()), batch_size=config.batch_size,
                             cache=cache if config.use_cache else None, read_options=read_options,
                             progress=progress, label=f"psi={psi:g} features")
        tm = time.perf_counter()
        rows = metric_registry.compute_metrics(names, real_stats, ex.stats, config.metric)
        metric_seconds += time.perf_counter() - tm
        results.extend(dataclasses.replace(r, details={"psi": psi, **r.details}) for r in rows)
        per_psi[f"{psi:g}"] = {"fingerprint": source.fingerprint(), "cached": ex.cached,
                               "seconds": round(ex.seconds, 3)}
        progress.log(f"psi={psi:g}: " + ", ".join(f"{r.metric} {r.value:.4g}" for r in rows))

    s = config.sampling
    prov["inputs"]["fake"] = {
        "path": str(checkpoint), "kind": "generator", "n": s.n, "fingerprint": gen.sha256,
        "cached": all(v["cached"] for v in per_psi.values()),
        "seconds": round(sum(v["seconds"] for v in per_psi.values()), 3),
        "architecture": gen.architecture, "seed": s.seed, "class_index": s.class_index,
    }
    t2 = time.perf_counter()
    provenance = collect_provenance(
        kind="sweep", **prov,
        config=dataclasses.replace(config, metrics=tuple(names)),
        seeds={"metric_seed": config.metric.seed, "sample_seed": s.seed},
        truncation={"space": space, "psis": list(psis), "per_psi": per_psi,
                    "meaning": ("every latent component conditioned on |z| <= psi (truncated normal)" if space == "z"
                                else "w moved toward the mean w: w_avg + psi * (w - w_avg)")},
        generator=gen.describe(),
        timings={"real_features_s": round(t1 - t0, 3), "generated_features_s": round(t2 - t1 - metric_seconds, 3),
                 "metrics_s": round(metric_seconds, 3), "total_s": round(t2 - t0, 3)},
    )
    return RunResult(results=results, provenance=provenance)


def sweep_images(checkpoint: str | Path, psis: Sequence[float], config: EvalConfig | None = None, *,
                 n: int = 32) -> dict[str, np.ndarray]:
    """The first n images at each psi, uint8 (n, 3, H, W), keyed "psi=0.5": the report's grid per psi.

    They are the first n of the very samples `sweep` evaluates with the same config (sampling is
    prefix-stable: generators.generate).
    """
    config = config or EvalConfig(metrics=DEFAULT_SWEEP_METRICS)
    psis = check_psis(psis)
    gen = load_generator(checkpoint, config.device)
    truncation_space(gen)  # an incomplete w-space hook is refused before any work
    sampling = dataclasses.replace(config.sampling, n=min(int(n), config.sampling.n))
    out: dict[str, np.ndarray] = {}
    for psi in psis:
        source = truncated_source(checkpoint, gen, psi, sampling, device=config.device)
        batch = next(iter(source.batches(sampling.n)))
        out[f"psi={psi:g}"] = batch.images.numpy()
    return out
