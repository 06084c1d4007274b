"""Controllable generation (course 1 week 4): move a generator's latents along an attribute classifier's
gradient and measure what changed -- the edited attribute and every other one (entanglement).

    checkpoint + attribute classifier -> N seeded latents (class held fixed for conditional generators)
        -> latent_steps toward (strength > 0) or away (< 0) from the attribute, optionally penalising the
           other attributes' logit changes (the disentanglement regulariser)       [ganeval.latent_edit]
        -> per attribute: mean probability before, after, mean change and mean |change| with a seeded
           percentile bootstrap over latents                                          [changes_to_entanglement]
        -> Result rows + provenance -> before/after grids, per-sample strips, index.html  [write_edit_report]

`--strength S` is the length of each step in latent space (the gradient is normalised, so S does not
depend on the classifier's logit scale); K steps move a latent at most K * |S|. The penalty weight
multiplies the squared change of each penalised attribute's logit from its starting value.
docs/edit.md describes the command and how to read the entanglement table.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganeval.errors import BadInputError
from ganeval.generators import LoadedGenerator, check_sampling, labels_for, seeded_latents, to_uint8
from ganeval.latent_edit import LatentPath, generator_forward, latent_steps
from ganeval.metrics.bootstrap import bootstrap_replicates, percentile_interval
from ganeval.results import Result, RunResult

__all__ = ["DEFAULT_KEEP_PENALTY", "EditConfig", "EditRun", "Entanglement", "changes_to_entanglement",
           "edit_generator", "edit_results", "run_edit", "write_edit_report"]

# The penalty weight used when --keep names attributes but --penalty is not given.
DEFAULT_KEEP_PENALTY = 1.0
STATS = ("probability_change", "abs_probability_change")
MSG_KEEP_TARGET = "--keep lists {name!r}, the attribute being edited; --keep names the attributes to hold still"
MSG_KEEP_UNKNOWN = "{path} has no attribute {name!r} to --keep (it has: {names})"


@dataclass(frozen=True)
class EditConfig:
    """One edit: the settings of `ganeval edit` (module docstring), defaults in one place.

    attribute: the classifier's attribute to move; strength: step length in latent space, negative moves
    away from the attribute; keep: attributes whose logit changes are penalised (empty with a penalty:
    every other attribute); penalty: the penalty weight (None: DEFAULT_KEEP_PENALTY when keep is given,
    else no penalty); n latents from `seed` (the generator's own seeded stream, so latent i is sample i of
    `ganeval sample --seed`), class_index holds a conditional generator's class (None: balanced i mod C);
    ci / n_boot: the bootstrap of the entanglement table (ci None: no intervals); preview / frames: how
    many samples the report shows as strips and with how many frames each.
    """

    attribute: str
    steps: int = 10
    strength: float = 0.25
    keep: tuple[str, ...] = ()
    penalty: float | None = None
    n: int = 64
    seed: int = 0
    class_index: int | None = None
    truncation: float | None = None
    normalize: bool = True
    ci: float | None = 0.95
    n_boot: int = 1000
    batch_size: int = 256
    preview: int = 8
    frames: int = 9

    @property
    def direction(self) -> int:
        """+1 toward the attribute, -1 away from it."""
        return 1 if self.strength > 0 else -1

    @property
    def penalty_weight(self) -> float:
        """The penalty actually applied (the `penalty` docstring rule)."""
        if self.penalty is not None:
            return float(self.penalty)
        return DEFAULT_KEEP_PENALTY if self.keep else 0.0

    def check(self) -> EditConfig:
        """Return self, or raise BadInputError naming the flag that is impossible."""
        if not isinstance(self.attribute, str) or not self.attribute.strip():
            raise BadInputError("--attribute must name one of the classifier's attributes")
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise BadInputError(f"--steps must be a positive integer, got {self.steps!r}")
        if not (isinstance(self.strength, (int, float)) and math.isfinite(self.strength) and self.strength != 0):
            raise BadInputError(f"--strength must be a non-zero number (negative moves away), got {self.strength!r}")
        if self.penalty is not None and not (isinstance(self.penalty, (int, float)) and math.isfinite(self.penalty)
                                             and self.penalty >= 0):
            raise BadInputError(f"--penalty must be a number >= 0, got {self.penalty!r}")
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 2:
            raise BadInputError(f"-n must be an integer >= 2 (latents to edit), got {self.n!r}")
        if self.ci is not None and not 0 < self.ci < 1:
            raise BadInputError(f"--ci must be between 0 and 1 (e.g. 0.95), got {self.ci}")
        if isinstance(self.n_boot, bool) or not isinstance(self.n_boot, int) or self.n_boot < 2:
            raise BadInputError(f"--n-boot must be an integer >= 2, got {self.n_boot!r}")
        for name, v in (("--preview", self.preview), ("--frames", self.frames)):
            if isinstance(v, bool) or not isinstance(v, int) or v < (0 if name == "--preview" else 2):
                raise BadInputError(f"{name} must be an integer >= {0 if name == '--preview' else 2}, got {v!r}")
        return self


@dataclass(frozen=True, eq=False)
class Entanglement:
    """How every attribute's probability changed under the edit of `target`.

    names: the K attributes; start, end: (K,) mean probability before / after; change, abs_change: (K,)
    mean over latents of p_end - p_start and |p_end - p_start|; intervals: {stat: (K, 2)} percentile
    bootstrap intervals over latents (empty without a bootstrap); increased: (K,) fraction of latents whose
    probability rose; n: the latents.
    """

    target: str
    names: tuple[str, ...]
    start: np.ndarray
    end: np.ndarray
    change: np.ndarray
    abs_change: np.ndarray
    increased: np.ndarray
    n: int
    intervals: dict[str, np.ndarray] = field(default_factory=dict)
    level: float | None = None
    n_boot: int | None = None
    seed: int | None = None

    def interval(self, stat: str, name: str) -> tuple[float, float] | None:
        """(low, high) of `stat` ("probability_change" or "abs_probability_change") for `name`, or None."""
        if stat not in self.intervals:
            return None
        lo, hi = self.intervals[stat][self.names.index(name)]
        return float(lo), float(hi)

    def value(self, name: str, stat: str = "probability_change") -> float:
        """Mean change (or mean |change|) of attribute `name`."""
        arr = self.change if stat == "probability_change" else self.abs_change
        return float(arr[self.names.index(name)])


def changes_to_entanglement(p_start: Any, p_end: Any, names: tuple[str, ...] | list[str], target: str, *,
                            level: float | None = 0.95, n_boot: int = 1000, seed: int = 0) -> Entanglement:
    """The entanglement table from probabilities before and after the edit, p_start and p_end (N, K).

    Pure math: column means, and with `level` a percentile bootstrap of the mean change and the mean
    |change| resampling latents (rows) with np.random.default_rng(seed), n_boot times.
    """
    names = tuple(names)
    a = np.asarray(p_start, dtype=np.float64)
    b = np.asarray(p_end, dtype=np.float64)
    if a.ndim != 2 or a.shape != b.shape or a.shape[1] != len(names) or a.shape[0] < 1:
        raise BadInputError(f"probabilities must be two (N, K) arrays with K = {len(names)}, got {a.shape} and "
                            f"{b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise BadInputError("the attribute probabilities contain NaN or infinite values")
    if target not in names:
        raise BadInputError(f"the target {target!r} is not one of the attributes ({', '.join(names)})")
    d = b - a
    k = len(names)
    intervals: dict[str, np.ndarray] = {}
    if level is not None:
        if not 0 < level < 1:
            raise BadInputError(f"the confidence level must be between 0 and 1 (e.g. 0.95), got {level}")
        reps = bootstrap_replicates(lambda idx: np.concatenate([d[idx].mean(axis=0), np.abs(d[idx]).mean(axis=0)]),
                                    [len(d)], n_boot=n_boot, seed=seed)
        lo, hi = percentile_interval(reps, level)
        for i, stat in enumerate(STATS):
            intervals[stat] = np.stack([lo[i * k:(i + 1) * k], hi[i * k:(i + 1) * k]], axis=1)
    return Entanglement(target=target, names=names, start=a.mean(axis=0), end=b.mean(axis=0), change=d.mean(axis=0),
                        abs_change=np.abs(d).mean(axis=0), increased=(d > 0).mean(axis=0), n=len(d),
                        intervals=intervals, level=level, n_boot=int(n_boot) if level is not None else None,
                        seed=seed if level is not None else None)


@dataclass(eq=False)
class EditRun:
    """An edit's numbers and pictures.

    run: the Result rows and provenance (results.json); path: the LatentPath of all N latents;
    entanglement: the table; step_means: (steps + 1, K) mean probability of every attribute at every step;
    images: {"before", "after"}: uint8 (M, 3, H, W) of the first M = preview latents; strips: uint8
    (M * F, 3, H, W), F frames per latent (evenly spaced steps, first and last included), latent-major.
    """

    run: RunResult
    path: LatentPath
    entanglement: Entanglement
    step_means: np.ndarray
    images: dict[str, torch.Tensor]
    strips: torch.Tensor
    frame_steps: tuple[int, ...]
    penalised: tuple[str, ...]


def _penalised(classifier: Any, config: EditConfig, target: int) -> tuple[int, ...] | None:
    """Columns the penalty holds still: --keep's, or None (every attribute but the target)."""
    if not config.keep:
        return None
    cols = []
    for name in config.keep:
        if name == config.attribute:
            raise BadInputError(MSG_KEEP_TARGET.format(name=name))
        if name not in classifier.names:
            raise BadInputError(MSG_KEEP_UNKNOWN.format(path=classifier.path, name=name,
                                                        names=", ".join(classifier.names)))
        cols.append(classifier.names.index(name))
    return tuple(cols)


def _render(gen: LoadedGenerator, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    with torch.no_grad():
        out = gen.module(z, labels) if labels is not None else gen.module(z)
    return to_uint8(out, gen.latent.output_range)


def frame_steps(steps: int, frames: int) -> tuple[int, ...]:
    """Which of the steps + 1 positions a strip shows: at most `frames`, evenly spaced, first and last kept."""
    count = min(steps + 1, frames)
    return tuple(sorted({int(round(i * steps / (count - 1))) for i in range(count)}))


def edit_generator(gen: LoadedGenerator, classifier: Any, config: EditConfig) -> EditRun:
    """Edit N seeded latents of `gen` along `classifier`'s gradient of config.attribute (module docstring).

    classifier: an AttributeClassifier (ganeval.bias.classifier) or anything with `names`, `path`,
    `logits_from_unit` (float [0, 1] RGB (N, 3, H, W) -> (N, K) logits) and `describe()`.
    Deterministic for a config: the latents, the labels and the bootstrap all follow config.seed.
    """
    config.check()
    target = classifier.index(config.attribute) if hasattr(classifier, "index") else _index(classifier, config)
    cols = _penalised(classifier, config, target)
    check_sampling(gen.latent, config.n, config.seed, config.class_index, config.truncation, where=gen.label)
    started = time.perf_counter()
    z = seeded_latents(gen.latent, config.n, config.seed, config.truncation)
    labels = labels_for(gen.latent, config.n, config.class_index)
    forward = generator_forward(gen, classifier.logits_from_unit)
    path = latent_steps(forward, z, target, direction=config.direction, steps=config.steps,
                        step_size=abs(float(config.strength)), normalize=config.normalize,
                        penalty=config.penalty_weight, penalised=cols, labels=labels, batch_size=config.batch_size)
    seconds_steps = time.perf_counter() - started
    names = tuple(classifier.names)
    probs = path.probabilities()
    table = changes_to_entanglement(probs[0], probs[-1], names, config.attribute, level=config.ci,
                                    n_boot=config.n_boot, seed=config.seed)
    step_means = probs.mean(axis=1)
    m = min(config.preview, config.n)
    shown = frame_steps(config.steps, config.frames)
    lb = None if labels is None else labels[:m]
    images = {"before": _render(gen, path.z[0, :m], lb), "after": _render(gen, path.z[-1, :m], lb)}
    if m:
        frames = path.z[list(shown), :m]  # (F, M, d)
        flat = frames.permute(1, 0, 2).reshape(m * len(shown), -1)
        strips = _render(gen, flat, None if lb is None else lb.repeat_interleave(len(shown)))
    else:
        strips = images["before"][:0]
    target_p = probs[:, :, target]
    step_diff = np.diff(target_p, axis=0) * config.direction
    monotone = float((step_diff >= -1e-6).all(axis=0).mean())
    distance = float((path.z_end - path.z_start).norm(dim=1).mean())
    penalised_names = tuple(names[i] for i in path.penalised) if config.penalty_weight > 0 else ()
    results = edit_results(table, penalised_names, monotone=monotone, distance=distance, seed=config.seed)
    prov_config = asdict(config)
    prov_config.update(keep=list(config.keep), penalty_applied=config.penalty_weight,
                       penalised=list(penalised_names), direction=config.direction)
    from ganeval.provenance import collect_provenance, device_description

    provenance = collect_provenance(
        kind="edit", config=prov_config,
        inputs={"generator": dict(gen.describe(), path=str(gen.path) if gen.path else None, n=config.n,
                                  seed=config.seed, truncation=config.truncation,
                                  labels=None if labels is None else (
                                      f"all class {config.class_index}" if config.class_index is not None
                                      else f"balanced: latent i has class i mod {gen.latent.n_classes}")),
                "classifier": dict(classifier.describe())},
        classifier=classifier.describe(), protocol=None,
        seeds={"latent_seed": config.seed, "bootstrap_seed": config.seed},
        step_means={"names": list(names), "matrix": step_means.tolist()},
        ci_method=None if config.ci is None else (f"percentile bootstrap over latents, {config.n_boot} resamples, "
                                                  f"seed {config.seed}"),
        timings={"steps_s": seconds_steps, "total_s": time.perf_counter() - started},
        device=device_description("cpu"))
    return EditRun(run=RunResult(results=results, provenance=provenance), path=path, entanglement=table,
                   step_means=step_means, images=images, strips=strips, frame_steps=shown,
                   penalised=penalised_names)


def _index(classifier: Any, config: EditConfig) -> int:
    from ganeval.bias.classifier import MSG_UNKNOWN_ATTRIBUTE

    if config.attribute not in classifier.names:
        raise BadInputError(MSG_UNKNOWN_ATTRIBUTE.format(path=classifier.path, name=config.attribute,
                                                         names=", ".join(classifier.names)))
    return list(classifier.names).index(config.attribute)


def edit_results(table: Entanglement, penalised: tuple[str, ...], *, monotone: float, distance: float,
                 seed: int | None) -> list[Result]:
    """Result rows: per attribute (details {"by": "attribute", "group": name}) the mean probability change
    and mean |change| with intervals, and overall the fraction of latents whose target probability moved
    monotonically and the mean latent distance travelled."""
    rows = []
    for stat in STATS:
        values = table.change if stat == "probability_change" else table.abs_change
        for j, name in enumerate(table.names):
            iv = table.interval(stat, name)
            role = "target" if name == table.target else ("penalised" if name in penalised else "free")
            details = {"by": "attribute", "group": name, "target": table.target, "role": role,
                       "mean_probability_before": float(table.start[j]),
                       "mean_probability_after": float(table.end[j]),
                       "fraction_increased": float(table.increased[j])}
            rows.append(Result(metric=stat, value=float(values[j]), ci_low=None if iv is None else iv[0],
                               ci_high=None if iv is None else iv[1], ci_level=table.level if iv else None,
                               n_boot=table.n_boot if iv else None, n_fake=table.n, seed=table.seed,
                               details=details))
    rows.append(Result(metric="target_monotone_fraction", value=monotone, n_fake=table.n, seed=seed,
                       details={"target": table.target, "meaning": "fraction of latents whose target probability "
                                "moved in the asked direction at every step (1e-6 tolerance)"}))
    rows.append(Result(metric="mean_latent_distance", value=distance, n_fake=table.n, seed=seed,
                       details={"meaning": "mean Euclidean distance between a latent's start and end"}))
    return rows


def run_edit(checkpoint: str | Path | LoadedGenerator, classifier: str | Path | Any, config: EditConfig, *,
             attributes: str | None = None) -> EditRun:
    """Load the generator checkpoint and the attribute classifier (safely) and edit (edit_generator)."""
    from ganeval.bias.classifier import load_attribute_classifier
    from ganeval.generators import load_generator

    config.check()
    gen = checkpoint if isinstance(checkpoint, LoadedGenerator) else load_generator(checkpoint)
    clf = classifier if hasattr(classifier, "logits_from_unit") else load_attribute_classifier(classifier,
                                                                                               attributes)
    return edit_generator(gen, clf, config)


def entanglement_rows(run: RunResult) -> list[list[Any]]:
    """Rows of the printed and reported entanglement table, read from the run's Result rows: attribute,
    role, P before, P after, mean change (Estimate), mean |change| (Estimate), fraction increased."""
    from ganeval.report.plots import Estimate

    per: dict[str, dict[str, Result]] = {}
    for r in run.results:
        if r.metric in STATS and r.details.get("by") == "attribute":
            per.setdefault(str(r.details["group"]), {})[r.metric] = r
    rows = []
    for name, rs in per.items():
        c, a = rs["probability_change"], rs["abs_probability_change"]
        rows.append([name, c.details.get("role"), c.details.get("mean_probability_before"),
                     c.details.get("mean_probability_after"), Estimate(c.value, c.ci_low, c.ci_high),
                     Estimate(a.value, a.ci_low, a.ci_high), c.details.get("fraction_increased")])
    return rows


def _entanglement_section(run: RunResult) -> list[Any]:
    """The report's "Entanglement" section: the table and the mean probability of every attribute per step
    (provenance step_means); arranged from numbers already in the run."""
    from ganeval.report import Section
    from ganeval.report.html import format_interval, line_chart_block, notes_block, table_block
    from ganeval.report.plots import Estimate, LineSeries

    prov = run.provenance
    cfg = prov.get("config") or {}
    target = cfg.get("attribute")
    rows = [[f"{v.value:{'+' if i == 4 else ''}.4f} {format_interval(v.low, v.high)}".strip()
             if isinstance(v, Estimate) else v for i, v in enumerate(row)] for row in entanglement_rows(run)]
    n = next((r.n_fake for r in run.results if r.metric in STATS), None)
    table = table_block(["attribute", "role", "P before", "P after", "mean change [CI]", "mean |change| [CI]",
                         "fraction increased"], rows, keys=[str(r[0]) for r in rows],
                        caption=f"{n} latents; intervals: {prov.get('ci_method') or 'none'}")
    blocks = [notes_block([f"{'toward' if cfg.get('direction', 1) > 0 else 'away from'} {target}: {cfg.get('steps')} "
                           f"steps of length {abs(cfg.get('strength') or 0)} in latent space; penalty "
                           f"{cfg.get('penalty_applied')} on {', '.join(cfg.get('penalised') or []) or 'nothing'}."],
                          level="info"), table]
    means = prov.get("step_means") or {}
    if means.get("matrix"):
        m = np.asarray(means["matrix"], dtype=np.float64)
        steps = list(range(m.shape[0]))
        lines = [LineSeries(name, steps, m[:, j].tolist()) for j, name in enumerate(means["names"])]
        blocks.append(line_chart_block(lines, title=f"mean probability per step, editing {target}", xlabel="step",
                                       ylabel="mean P(attribute)"))
    return [Section("Entanglement", tuple(blocks),
                    intro="How every attribute's probability (the classifier's sigmoid) moved while the latents were "
                          "pushed along the edited attribute's gradient. A large change of an attribute other than "
                          "the target is entanglement (or a classifier that confuses the two).")]


def _register_section() -> None:
    from ganeval.report.html import SectionEntry, register_section

    register_section(SectionEntry("edit-entanglement", 15, lambda run, extras: run.provenance.get("kind") == "edit",
                                  lambda run, extras: _entanglement_section(run)))


def write_edit_report(edit: EditRun, out: str | Path, *, title: str | None = None) -> dict[str, Path]:
    """Write out/index.html, results.json, results.csv (ganeval.report.write_report) and out/before.png,
    out/after.png, out/strips.png (one row of frames per shown latent); returns their paths. The PNGs are
    rendered before anything is written, and every file is written atomically."""
    from ganeval.atomic import atomic_write_bytes
    from ganeval.report import Section, write_report
    from ganeval.report.html import image_grids_block
    from ganeval.report.plots import image_grid

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise BadInputError(f"cannot write a report into {out}: it is a file, not a folder")
    m = len(edit.images["before"])
    sections, pngs = [], {}
    if m:
        frames = len(edit.frame_steps)
        sections.append(Section("Before and after", (image_grids_block(
            {"before": edit.images["before"], "after": edit.images["after"]}, columns=min(8, m)),)))
        sections.append(Section("Edit strips", (image_grids_block({"strips": edit.strips}, columns=frames,
                                                                  max_images=len(edit.strips)),),
                                intro="One row per latent; columns are steps "
                                      f"{', '.join(map(str, edit.frame_steps))}."))
        pngs = {"before.png": image_grid(edit.images["before"], columns=min(8, m), max_images=m),
                "after.png": image_grid(edit.images["after"], columns=min(8, m), max_images=m),
                "strips.png": image_grid(edit.strips, columns=frames, max_images=len(edit.strips))}
    gen = (edit.run.provenance.get("inputs") or {}).get("generator") or {}
    target = edit.entanglement.target
    paths = write_report(edit.run, out, sections=sections,
                         title=title or f"ganeval edit: {target} on {gen.get('checkpoint') or 'generator'}")
    for name, png in pngs.items():
        atomic_write_bytes(out / name, png)
        paths[name.removesuffix(".png")] = out / name
    return paths


_register_section()
