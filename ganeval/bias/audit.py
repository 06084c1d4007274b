"""The bias audit: a generator (or a labelled image set) and an attribute classifier -> RunResult -> report.

    generator --generate (seeded, per class)--> uint8 images --classifier--> attribute predictions (N, K)
    [or: labelled folder --read--> images + true attributes --classifier--> predictions]
        -> audit_prevalence   prevalence per attribute, audited vs reference; L1/L2/KL of joint distributions
        -> audit_fairness     demographic parity / equalized odds / equal opportunity of the target across
                              protected groups (fairlearn's definitions), per-group rates, signed gaps
        -> implicit_associations (generators only; ganeval.bias.associations)
        -> Result rows with seeded bootstrap intervals + provenance -> write_bias_report (index.html, json, csv)

Ground truth. Auditing a labelled set (`data=`): the folder's labels are the truth, the classifier's
outputs the predictions. Auditing a generator: a conditional generator trained on one binary attribute
(`ganeval train-reference cgan --condition-on smiling`: class names "smiling=0", "smiling=1") knows the
truth of that attribute -- its conditioning label; every other attribute is what the classifier says.
Demographic parity needs no truth (it compares P(prediction = 1) across groups); equalized odds and
equal opportunity need the target's truth, so they are computed when the target is the conditioning
attribute (or in a data audit) and left out otherwise. A protected attribute that is the conditioning
attribute takes its groups from the labels too. docs/bias.md describes every part and option.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganeval.bias.associations import (
    AssociationSettings, Associations, association_results, implicit_associations,
)
from ganeval.bias.classifier import AttributeClassifier, load_attribute_classifier
from ganeval.bias.cooccurrence import Cooccurrence, cooccurrence
from ganeval.errors import BadInputError
from ganeval.fairness import (
    GroupMetrics, discrepancy_ci, labels_discrepancy, parity_ci, parity_summary, prevalence_ci, prevalence_table,
    selection_rate, true_positive_rate,
)
from ganeval.fairness.bootstrap import DiscrepancyCI, PrevalenceCI
from ganeval.fairness.discrepancy import Discrepancy, Prevalence
from ganeval.fairness.metric_frame import METHODS, false_positive_rate
from ganeval.fairness.parity import AGGS
from ganeval.generators import LatentSpec, LoadedGenerator, generate, load_generator, to_uint8
from ganeval.latent_edit import LatentPath
from ganeval.metrics.bootstrap import bootstrap_ci
from ganeval.progress import NO_PROGRESS, ProgressReporter
from ganeval.provenance import collect_provenance, device_description
from ganeval.report.html import ReportExtras
from ganeval.results import Result, RunResult

__all__ = [
    "BiasAudit", "BiasConfig", "FairnessAudit", "PrevalenceAudit", "audit", "audit_fairness", "audit_prevalence",
    "bias_sections", "conditioning_attribute", "group_label", "reference_attributes", "sample_generator",
    "summary_lines", "write_bias_report",
]

MEASURES = ("demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference",
            "equalized_odds_ratio", "equal_opportunity_difference", "equal_opportunity_ratio")
RATES = {"selection_rate": selection_rate, "true_positive_rate": true_positive_rate,
         "false_positive_rate": false_positive_rate}
GAPS = {"selection_rate": "selection_rate_gap", "true_positive_rate": "true_positive_rate_gap",
        "false_positive_rate": "false_positive_rate_gap"}
PREVIEW = 32  # generated images kept for the report's sample grid
EDIT_PREVIEW = 8  # latents shown before / after the association steps
SUMMARY_PAIRS = 3  # co-occurrence pairs named in the summary

MSG_ONE_INPUT = "give either a generator (--generator) or a labelled image folder (--data), not both and not neither"
MSG_NO_COMMON = ("{path}: none of the classifier's attributes ({names}) is in its attribute table ({table}); "
                 "the names must match")


@dataclass(frozen=True)
class BiasConfig:
    """Every setting of a bias audit; the one home for its defaults (the CLI's options map onto these).

    target, protected: the attribute whose predictions are judged, and the attributes defining the groups
                  (several: intersectional groups, one per combination of values).
    n:            generated samples, per class for a conditional generator (balanced classes i mod C).
    seed:         the generator's latents (same seed, same images); truncation: psi, or None.
    threshold:    a probability >= threshold is a positive prediction.
    method, agg:  fairlearn's options: "between_groups" | "to_overall"; "worst_case" | "mean" (equalized odds).
    ci, n_boot, boot_seed, stratify: seeded percentile bootstrap intervals of every number (ci None: none);
                  group resampling stratified by group (ganeval.fairness.bootstrap).
    associations: run the implicit-association analysis (needs a generator and a target); its latents are
                  the first n_associations of the generator's seeded stream (None: min(500, samples)),
                  moved `steps` steps of `step_size` toward and away from the target, with an optional
                  `penalty` on the other attributes; top_k associated attributes are reported.
    classify_real: classify the --real images even when their folder has labels (like-for-like with the
                  generated predictions); otherwise labels are used when present.
    max_joint:    the joint distribution of all attributes is compared only up to this many (2^K cells).
    """

    target: str | None = None
    protected: tuple[str, ...] = ()
    n: int = 1000
    seed: int = 0
    truncation: float | None = None
    threshold: float = 0.5
    method: str = "between_groups"
    agg: str = "worst_case"
    ci: float | None = 0.95
    n_boot: int = 1000
    boot_seed: int = 0
    stratify: bool = True
    associations: bool = False
    n_associations: int | None = None
    steps: int = 10
    step_size: float = 0.2
    normalize: bool = True
    penalty: float = 0.0
    top_k: int = 5
    classify_real: bool = False
    max_joint: int = 8
    batch_size: int = 256

    def check(self) -> None:
        """Refuse impossible settings with a one-line BadInputError before any work."""
        def positive_int(v: Any, flag: str) -> None:
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise BadInputError(f"{flag} must be a positive integer, got {v!r}")

        positive_int(self.n, "-n")
        positive_int(self.batch_size, "--batch-size")
        positive_int(self.steps, "--steps")
        positive_int(self.max_joint, "max_joint")
        if self.n_associations is not None:
            positive_int(self.n_associations, "--n-associations")
        if self.method not in METHODS:
            raise BadInputError(f"--method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.agg not in AGGS:
            raise BadInputError(f"--agg must be one of {', '.join(AGGS)}, got {self.agg!r}")
        if not 0 < self.threshold < 1:
            raise BadInputError(f"--threshold must lie strictly between 0 and 1, got {self.threshold}")
        if self.ci is not None and not 0 < self.ci < 1:
            raise BadInputError(f"--ci must lie between 0 and 1 (e.g. 0.95), got {self.ci}")
        if self.ci is not None and (isinstance(self.n_boot, bool) or not isinstance(self.n_boot, int)
                                    or self.n_boot < 2):
            raise BadInputError(f"--n-boot must be at least 2, got {self.n_boot!r}")
        if not (np.isfinite(self.step_size) and self.step_size > 0):
            raise BadInputError(f"--step-size must be a positive number, got {self.step_size}")
        if not (np.isfinite(self.penalty) and self.penalty >= 0):
            raise BadInputError(f"--penalty must be a number >= 0, got {self.penalty}")
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, int) or self.top_k < 0:
            raise BadInputError(f"--top-k must be a non-negative integer, got {self.top_k!r}")
        if self.target is not None and self.target in self.protected:
            raise BadInputError(f"the target {self.target!r} cannot also be a protected attribute")
        if len(set(self.protected)) != len(self.protected):
            raise BadInputError(f"--protected names an attribute twice: {','.join(self.protected)}")
        if self.protected and self.target is None:
            raise BadInputError("--protected needs --target (the attribute whose predictions are compared "
                                "across the protected groups)")
        if self.associations and self.target is None:
            raise BadInputError("--associations needs --target (the attribute the latents are moved toward)")


# ---------------------------------------------------------------------------------------------------------
# Part (a): prevalence and discrepancy


@dataclass(frozen=True)
class PrevalenceAudit:
    """Per-attribute prevalence in the audited set vs the reference, and the discrepancy of joints.

    roles: names of the two sets, e.g. ("generated", "real") or ("predicted", "labelled").
    table / intervals: prevalence_table rows and their bootstrap intervals (None without a bootstrap).
    discrepancies / discrepancy_intervals: by joint name ("protected", "all", ...).
    cooccurrence: phi of every attribute pair, audited vs reference (ganeval.bias.cooccurrence).
    """

    names: tuple[str, ...]
    roles: tuple[str, str]
    table: list[Prevalence]
    intervals: list[PrevalenceCI] | None
    discrepancies: dict[str, Discrepancy]
    discrepancy_intervals: dict[str, DiscrepancyCI]
    joints: dict[str, tuple[str, ...]]
    uniform_reference: bool
    results: list[Result]
    cooccurrence: Cooccurrence | None = None


def audit_prevalence(audited: Any, reference: Any, names: Sequence[str], *,
                     joints: Mapping[str, Sequence[str]] | None = None, roles: tuple[str, str] = ("generated", "real"),
                     level: float | None = 0.95, n_boot: int = 1000, seed: int = 0) -> PrevalenceAudit:
    """Part (a): each attribute's rate in `audited` (N, K) 0/1 vs `reference` (M, K) 0/1 (None: the balanced
    0.5), their difference, the L1/L2/KL discrepancy (Choi et al. 2020) of each joint distribution in
    `joints` {name: attribute names} (default: all attributes), and the phi correlation of every pair of
    attributes in both sets (which attributes go together), each with a bootstrap interval at `level`."""
    names = tuple(names)
    a = np.asarray(audited)
    r = None if reference is None else np.asarray(reference)
    table = prevalence_table(a, r, names=names)
    intervals = prevalence_ci(a, r, names=names, level=level, n_boot=n_boot, seed=seed) if level else None
    joints = {k: tuple(v) for k, v in (joints or {"all": names}).items()}
    discrepancies, disc_iv = {}, {}
    for joint, members in joints.items():
        cols = [names.index(m) for m in members]
        g, ref = a[:, cols], None if r is None else r[:, cols]
        discrepancies[joint] = labels_discrepancy(g, ref)
        if level:
            disc_iv[joint] = discrepancy_ci(g, ref, level=level, n_boot=n_boot, seed=seed)
    results: list[Result] = []
    n_a, n_r = len(a), None if r is None else len(r)
    ci_kw = {"ci_level": level, "n_boot": n_boot, "seed": seed} if level else {}
    for j, row in enumerate(table):
        iv = intervals[j] if intervals else None
        details = {"by": "attribute", "group": row.attribute}
        pairs = [(f"prevalence_{roles[0]}", row.generated, iv.generated if iv else None)]
        if r is not None:
            pairs.append((f"prevalence_{roles[1]}", row.reference, iv.reference if iv else None))
        pairs.append(("prevalence_difference", row.difference, iv.difference if iv else None))
        for metric, value, interval in pairs:
            results.append(Result(metric=metric, value=value, ci_low=interval[0] if interval else None,
                                  ci_high=interval[1] if interval else None, n_real=n_r, n_fake=n_a,
                                  details=dict(details, reference="uniform 0.5" if r is None else roles[1]),
                                  **(ci_kw if interval else {})))
    for joint, d in discrepancies.items():
        iv = disc_iv.get(joint)
        for measure in ("l1", "l2", "kl"):
            interval = getattr(iv, measure) if iv else None
            results.append(Result(metric=f"discrepancy_{measure}", value=getattr(d, measure),
                                  ci_low=interval[0] if interval else None, ci_high=interval[1] if interval else None,
                                  n_real=n_r, n_fake=n_a,
                                  details={"by": "joint distribution", "group": joint,
                                           "attributes": list(joints[joint]), "cells": len(d.cells),
                                           "reference": "uniform" if r is None else roles[1]},
                                  **(ci_kw if interval else {})))
    pairs = cooccurrence(a, r, names, roles=roles, level=level, n_boot=n_boot, seed=seed) if len(names) > 1 else None
    if pairs is not None:
        results += pairs.results
    return PrevalenceAudit(names=names, roles=roles, table=table, intervals=intervals, discrepancies=discrepancies,
                           discrepancy_intervals=disc_iv, joints=joints, uniform_reference=r is None,
                           results=results, cooccurrence=pairs)


# ---------------------------------------------------------------------------------------------------------
# Part (b): group fairness


def group_label(names: Sequence[str], key: Sequence[Any]) -> str:
    """How reports name a group: "skin_tone=1" or "skin_tone=1, hat=0"."""
    return ", ".join(f"{n}={v}" for n, v in zip(names, key))


@dataclass(frozen=True)
class FairnessAudit:
    """Part (b). frame: the GroupMetrics (fairlearn's MetricFrame) of the rates; measures: the parity
    measures with fairlearn's definitions (DP only without ground truth); gaps: signed contrasts
    rate(high group) - rate(low group), the groups fixed on the full sample ({rate: (value, high, low)});
    intervals: {number: (low, high)} for every measure, gap and group rate (empty without a bootstrap)."""

    target: str
    protected: tuple[str, ...]
    frame: GroupMetrics
    measures: dict[str, float]
    gaps: dict[str, tuple[float, str, str]]
    intervals: dict[str, tuple[float, float]]
    has_truth: bool
    method: str
    agg: str
    results: list[Result]
    warnings: list[str] = field(default_factory=list)


def _extremes(table: np.ndarray) -> list[tuple[int, int]]:
    """Per metric column, (index of the highest, index of the lowest) group, NaN groups skipped."""
    out = []
    for col in table.T:
        finite = np.flatnonzero(np.isfinite(col))
        if finite.size == 0:
            out.append((0, 0))
            continue
        out.append((int(finite[np.argmax(col[finite])]), int(finite[np.argmin(col[finite])])))
    return out


def audit_fairness(y_pred: Any, sensitive: Mapping[str, Any], y_true: Any = None, *, target: str = "target",
                   sample_weight: Any = None, method: str = "between_groups", agg: str = "worst_case",
                   level: float | None = 0.95, n_boot: int = 1000, seed: int = 0,
                   stratify: bool = True) -> FairnessAudit:
    """Part (b): fairness of binary predictions y_pred (N,) of `target` across the groups of `sensitive`
    {name: (N,) values} (several names: intersectional groups), with fairlearn 0.15's definitions.

    y_true (N,) the true target labels; None computes demographic parity only (it needs no truth).
    Gives the six parity measures (method, agg as fairlearn), the per-group selection rate (and TPR, FPR
    with truth), and signed gaps rate(high) - rate(low) between the groups with the highest and lowest
    rate on the full sample: unlike a difference (>= 0 by construction) a signed gap's interval contains
    0 when the groups do not differ. Every number gets a seeded bootstrap interval at `level`, groups
    resampled within themselves (stratify).
    """
    if method not in METHODS:
        raise BadInputError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if agg not in AGGS:
        raise BadInputError(f"agg must be one of {', '.join(AGGS)}, got {agg!r}")
    if not sensitive:
        raise BadInputError("fairness needs at least one protected attribute")
    yp = np.asarray(y_pred)
    has_truth = y_true is not None
    yt = np.asarray(y_true) if has_truth else yp  # selection rate and DP do not read y_true
    rates = {k: v for k, v in RATES.items() if has_truth or k == "selection_rate"}
    sens = {name: np.asarray(v) for name, v in sensitive.items()}
    frame = GroupMetrics(rates, yt, yp, sensitive_features=sens, sample_weight=sample_weight)
    feature_names = frame.feature_names
    groups = frame.groups
    rate_names = list(rates)
    overall, table = frame.as_arrays()
    extremes = _extremes(table)
    summary = parity_summary(yt, yp, sensitive_features=frame.sensitive_groups, method=method,
                             sample_weight=sample_weight, agg=agg)
    measures = {k: v for k, v in summary.items() if has_truth or k.startswith("demographic_parity")}
    gaps = {GAPS[m]: (float(table[hi, j] - table[lo, j]), group_label(feature_names, groups[hi]),
                      group_label(feature_names, groups[lo]))
            for j, (m, (hi, lo)) in enumerate(zip(rate_names, extremes))}

    def numbers(yt_: np.ndarray, yp_: np.ndarray, *, sensitive_features: Any, sample_weight: Any = None,
                **_: Any) -> dict[str, float]:
        f = GroupMetrics(rates, yt_, yp_, sensitive_features=sensitive_features, sample_weight=sample_weight)
        ov, tab = f.as_arrays()
        s = parity_summary(yt_, yp_, sensitive_features=sensitive_features, method=method,
                           sample_weight=sample_weight, agg=agg)
        out = {k: s[k] for k in measures}
        for j, m in enumerate(rate_names):
            hi, lo = extremes[j]
            out[GAPS[m]] = float(tab[hi, j] - tab[lo, j])
            out[m] = float(ov[j])
            for g in range(len(groups)):
                out[f"{m}|{g}"] = float(tab[g, j])
        return out

    intervals: dict[str, tuple[float, float]] = {}
    if level:
        intervals = parity_ci(numbers, yt, yp, sensitive_features=frame.sensitive_groups, sample_weight=sample_weight,
                              level=level, n_boot=n_boot, seed=seed, stratify=stratify)  # type: ignore[assignment]

    warnings: list[str] = []
    sizes = frame.group_sizes
    present = [k for k, s in sizes.items() if s > 0]
    if len(present) < 2:
        warnings.append(f"only one group of {', '.join(feature_names)} occurs ({group_label(feature_names, present[0])}"
                        f"); the fairness measures compare nothing")
    missing = [group_label(feature_names, k) for k, s in sizes.items() if s == 0]
    if missing:
        warnings.append(f"groups with no samples (left out of every measure): {'; '.join(missing)}")
    if has_truth:
        positives = {k: 0 for k in groups}
        yt_bool = yt == 1
        for g, rows in zip(groups, frame.sensitive_groups.rows_by_group()):
            positives[g] = int(yt_bool[rows].sum())
        none = [group_label(feature_names, k) for k, c in positives.items() if sizes[k] > 0 and c == 0]
        if none:
            warnings.append(f"groups without a positive {target} label have a true positive rate of 0 by fairlearn's "
                            f"definition: {'; '.join(none)}")

    def iv(key: str) -> dict[str, Any]:
        if key not in intervals:
            return {}
        lo, hi = intervals[key]
        return {"ci_low": lo, "ci_high": hi, "ci_level": level, "n_boot": n_boot, "seed": seed}

    base = {"target": target, "protected": list(feature_names), "method": method,
            "ground_truth": bool(has_truth)}
    results: list[Result] = []
    n = len(yp)
    for key, value in measures.items():
        details = dict(base, agg=agg) if key.startswith("equalized_odds") else dict(base)
        results.append(Result(metric=key, value=float(value), n_fake=n, details=details, **iv(key)))
    for key, (value, hi, lo) in gaps.items():
        results.append(Result(metric=key, value=value, n_fake=n, details=dict(base, high_group=hi, low_group=lo),
                              **iv(key)))
    by = " × ".join(feature_names)
    for j, m in enumerate(rate_names):
        results.append(Result(metric=m, value=float(overall[j]), n_fake=n, details={"target": target}, **iv(m)))
        for g, key in enumerate(groups):
            results.append(Result(metric=m, value=float(table[g, j]), n_fake=sizes[key],
                                  details={"by": by, "group": group_label(feature_names, key), "target": target},
                                  **iv(f"{m}|{g}")))
    named_iv = {k: v for k, v in intervals.items() if "|" not in k}
    for j, m in enumerate(rate_names):
        for g, key in enumerate(groups):
            if f"{m}|{g}" in intervals:
                named_iv[f"{m}[{group_label(feature_names, key)}]"] = intervals[f"{m}|{g}"]
    return FairnessAudit(target=target, protected=tuple(feature_names), frame=frame, measures=measures, gaps=gaps,
                         intervals=named_iv, has_truth=has_truth, method=method, agg=agg, results=results,
                         warnings=warnings)


# ---------------------------------------------------------------------------------------------------------
# Inputs: generated samples, reference attributes


def conditioning_attribute(latent: LatentSpec) -> tuple[str, np.ndarray] | None:
    """(attribute, value of each class) when a conditional generator's classes are one binary attribute's
    values, named "ATTR=0" and "ATTR=1" (how `train-reference cgan --condition-on ATTR` names them); else None."""
    if latent.n_classes != 2 or len(latent.class_names) != 2:
        return None
    parts = [name.rsplit("=", 1) for name in latent.class_names]
    if any(len(p) != 2 for p in parts) or parts[0][0] != parts[1][0] or {p[1] for p in parts} != {"0", "1"}:
        return None
    return parts[0][0], np.array([int(p[1]) for p in parts], dtype=np.int64)


def sample_generator(gen: LoadedGenerator, n_per_class: int, *, seed: int = 0, truncation: float | None = None,
                     batch_size: int = 256, progress: ProgressReporter = NO_PROGRESS
                     ) -> tuple[torch.Tensor, np.ndarray | None]:
    """n_per_class * max(1, C) generated uint8 RGB images (N, 3, H, W) and their class labels (None when
    unconditional); classes balanced (sample i has class i mod C), deterministic in `seed`."""
    n = n_per_class * max(1, gen.latent.n_classes)
    task = progress.task("generating", total=n)
    images, labels = [], []
    for im, lb in generate(gen, n, seed=seed, batch_size=batch_size, truncation=truncation):
        images.append(im)
        if lb is not None:
            labels.append(lb)
        progress.advance(task, len(im))
    return torch.cat(images), (torch.cat(labels).numpy() if labels else None)


def _classify(classifier: AttributeClassifier, images: torch.Tensor, batch_size: int,
              progress: ProgressReporter) -> np.ndarray:
    task = progress.task("classifying", total=len(images))
    out = []
    for start in range(0, len(images), batch_size):
        out.append(classifier.probabilities(images[start:start + batch_size], batch_size))
        progress.advance(task, min(batch_size, len(images) - start))
    return np.concatenate(out) if out else np.empty((0, classifier.n_attributes))


def _square_size(classifier: AttributeClassifier) -> int | None:
    h, w = classifier.input_size
    return h if h == w else None


def reference_attributes(real: str | Path, classifier: AttributeClassifier, *, classify: bool = False,
                         threshold: float = 0.5, batch_size: int = 256, progress: ProgressReporter = NO_PROGRESS
                         ) -> tuple[np.ndarray, tuple[str, ...], dict[str, Any]]:
    """The reference set's 0/1 attributes (M, K'), their names and a provenance record.

    A folder with an attribute table (attributes.csv, CelebA's list_attr_celeba.txt) or the table file
    itself gives its labels (no image is read) unless `classify`; any other image input (folder, archive,
    array) is classified by `classifier` (its attributes thresholded at `threshold`).
    """
    from ganeval.datasets.attributes import read_attributes
    from ganeval.datasets.synthfaces import is_attribute_folder, load_synthfaces_folder
    from ganeval.sources import open_source

    p = Path(real)
    if not p.exists():
        raise BadInputError(f"no such file or folder: {p}")
    is_table = p.is_file() and p.suffix.lower() in (".csv", ".txt")
    if (is_attribute_folder(p) or is_table) and not classify:
        table = read_attributes(p)
        record = {"path": str(p), "kind": "attribute table", "n": len(table), "source": "labels",
                  "table": str(table.path), "layout": table.layout}
        return table.values.astype(np.uint8), table.names, record
    if is_attribute_folder(p) or is_table:
        data = load_synthfaces_folder(p, image_size=_square_size(classifier), progress=progress)
        probs = _classify(classifier, data.images, batch_size, progress)
        record = {"path": str(p), "kind": "attribute folder", "n": len(data), "fingerprint": data.fingerprint,
                  "source": "classified"}
        return (probs >= threshold).astype(np.uint8), classifier.names, record
    source = open_source(p)
    task = progress.task("classifying real", total=len(source))
    out = []
    for batch in source.batches(batch_size):
        out.append(classifier.probabilities(batch.images, batch_size))
        progress.advance(task, len(batch.images))
    record = dict(source.describe(), source="classified")
    return (np.concatenate(out) >= threshold).astype(np.uint8), classifier.names, record


# ---------------------------------------------------------------------------------------------------------
# The whole audit


@dataclass
class BiasAudit:
    """Everything one audit produced.

    run:           the RunResult (results.json / results.csv rows, provenance).
    mode:          "generator" or "data".
    names:         the classifier's attribute names (columns of probabilities / predictions).
    probabilities: (N, K) float64 classifier outputs on the audited images; predictions: (N, K) uint8 0/1.
    truth:         {attribute: (N,) 0/1} the known true attributes (data labels, or a conditional
                   generator's conditioning attribute).
    prevalence, fairness, associations: the parts (fairness None without target and protected,
                   associations None unless requested).
    images:        the first generated / audited images (uint8, for the report's grid).
    edits:         {"start", "toward", "away"}: uint8 images of the first latents before and after the
                   association steps (generator audits with associations).
    """

    run: RunResult
    mode: str
    names: tuple[str, ...]
    probabilities: np.ndarray
    predictions: np.ndarray
    truth: dict[str, np.ndarray]
    prevalence: PrevalenceAudit
    fairness: FairnessAudit | None = None
    associations: Associations | None = None
    paths: dict[str, LatentPath] | None = None
    images: torch.Tensor | None = None
    edits: dict[str, torch.Tensor] = field(default_factory=dict)
    sample_weight: np.ndarray | None = None

    @property
    def frame(self) -> GroupMetrics | None:
        """The fairness part's GroupMetrics (fairlearn's MetricFrame), for further questions in Python."""
        return None if self.fairness is None else self.fairness.frame


def _weights(sample_weight: Any, n: int) -> np.ndarray | None:
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
    if len(w) != n:
        raise BadInputError(f"sample weights: {len(w)} given for {n} audited images (one per image, in order)")
    return w


def _joints(names: tuple[str, ...], protected: Sequence[str], max_joint: int) -> dict[str, tuple[str, ...]]:
    joints: dict[str, tuple[str, ...]] = {}
    present = tuple(p for p in protected if p in names)
    if present:
        joints["protected"] = present
    if len(names) <= max_joint and tuple(names) != present:
        joints["all"] = tuple(names)
    return joints


def _accuracy_results(pred: np.ndarray, labels: np.ndarray, names: Sequence[str], level: float | None, n_boot: int,
                      seed: int) -> list[Result]:
    correct = (pred == labels).astype(np.float64)
    acc = correct.mean(axis=0)
    lo = hi = None
    if level:
        lo, hi = bootstrap_ci(lambda x: x.mean(axis=0), correct, n_boot=n_boot, level=level, seed=seed)
    out = []
    for j, name in enumerate(names):
        kw = {"ci_low": float(lo[j]), "ci_high": float(hi[j]), "ci_level": level, "n_boot": n_boot,
              "seed": seed} if level else {}
        out.append(Result(metric="classifier_accuracy", value=float(acc[j]), n_real=len(pred),
                          details={"by": "attribute", "group": name}, **kw))
    return out


def _check_names(config: BiasConfig, available: Sequence[str], where: str) -> None:
    for name in ([config.target] if config.target else []) + list(config.protected):
        if name not in available:
            raise BadInputError(f"{where} has no attribute {name!r} (it has: {', '.join(available)})")


def audit(classifier: AttributeClassifier | str | Path, *, generator: LoadedGenerator | str | Path | None = None,
          data: str | Path | None = None, real: str | Path | None = None, config: BiasConfig = BiasConfig(),
          attributes: str | Sequence[str] | None = None, sample_weight: Any = None,
          progress: ProgressReporter = NO_PROGRESS) -> BiasAudit:
    """Run the bias audit of a generator (`generator=`, optionally against `real=`) or of the classifier on a
    labelled image folder (`data=`); the call behind `ganeval bias`. Returns a BiasAudit whose `.run` is
    the RunResult that write_bias_report writes. sample_weight: (N,) weights of the audited images, in
    order (for a generator: sample order), passed to every fairness metric as fairlearn passes them.
    """
    config.check()
    if (generator is None) == (data is None):
        raise BadInputError(MSG_ONE_INPUT)
    if data is not None and real is not None:
        raise BadInputError("--real compares generated images with real ones; a --data audit already uses the "
                            "folder's labels as the reference")
    if config.associations and generator is None:
        raise BadInputError("--associations moves a generator's latents; it needs --generator")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    clf = classifier if isinstance(classifier, AttributeClassifier) else load_attribute_classifier(classifier,
                                                                                                   attributes)
    names = clf.names
    _check_names(config, names, clf.path)
    timings["load_classifier_s"] = time.perf_counter() - t0
    level = config.ci
    inputs: dict[str, Any] = {}
    truth: dict[str, np.ndarray] = {}
    extra_results: list[Result] = []
    warnings: list[str] = []
    gen = None
    if generator is not None:
        t0 = time.perf_counter()
        gen = generator if isinstance(generator, LoadedGenerator) else load_generator(generator)
        timings["load_generator_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        images, labels = sample_generator(gen, config.n, seed=config.seed, truncation=config.truncation,
                                          batch_size=config.batch_size, progress=progress)
        timings["sample_s"] = time.perf_counter() - t0
        cond = conditioning_attribute(gen.latent)
        if cond is not None and labels is not None:
            truth[cond[0]] = cond[1][labels]
        elif gen.latent.n_classes:
            warnings.append(f"the generator's classes ({', '.join(gen.latent.class_names) or gen.latent.n_classes}) "
                            "are not one binary attribute's values (ATTR=0, ATTR=1): no ground truth, demographic "
                            "parity only")
        described = gen.describe()
        inputs["generator"] = dict(described, path=described.get("checkpoint"),
                                   fingerprint=described.get("checkpoint_sha256"), n=len(images), seed=config.seed,
                                   truncation=config.truncation,
                                   classes="balanced, sample i has class i mod C" if labels is not None else None,
                                   kind="generator checkpoint")
        roles = ("generated", "real")
    else:
        from ganeval.datasets.synthfaces import load_synthfaces_folder

        t0 = time.perf_counter()
        table = load_synthfaces_folder(data, image_size=_square_size(clf), progress=progress)  # type: ignore[arg-type]
        images = table.images
        timings["read_data_s"] = time.perf_counter() - t0
        _check_names(config, table.attribute_names, str(data))
        for j, name in enumerate(table.attribute_names):
            truth[name] = table.attributes[:, j].astype(np.int64)
        inputs["data"] = {"path": str(data), "kind": "attribute folder", "n": len(table),
                          "fingerprint": table.fingerprint}
        roles = ("predicted", "labelled")

    t0 = time.perf_counter()
    probs = _classify(clf, images, config.batch_size, progress)
    preds = (probs >= config.threshold).astype(np.uint8)
    timings["classify_s"] = time.perf_counter() - t0
    weights = _weights(sample_weight, len(preds))

    # (a) prevalence against the reference
    t0 = time.perf_counter()
    if data is not None:
        common = [n for n in names if n in truth]
        if not common:
            raise BadInputError(MSG_NO_COMMON.format(path=data, names=", ".join(names), table=", ".join(truth)))
        cols = [names.index(n) for n in common]
        ref = np.stack([truth[n] for n in common], axis=1).astype(np.uint8)
        audited = preds[:, cols]
        extra_results += _accuracy_results(audited, ref, common, level, config.n_boot, config.boot_seed)
    elif real is not None:
        ref_all, ref_names, record = reference_attributes(real, clf, classify=config.classify_real,
                                                          threshold=config.threshold, batch_size=config.batch_size,
                                                          progress=progress)
        inputs["real"] = record
        common = [n for n in names if n in ref_names]
        if not common:
            raise BadInputError(MSG_NO_COMMON.format(path=real, names=", ".join(names), table=", ".join(ref_names)))
        missing = [n for n in names if n not in ref_names]
        if missing:
            warnings.append(f"the reference {real} has no {', '.join(missing)}: left out of the prevalence comparison")
        ref = ref_all[:, [list(ref_names).index(n) for n in common]]
        audited = preds[:, [names.index(n) for n in common]]
    else:
        common, ref, audited = list(names), None, preds
    timings["reference_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    prevalence = audit_prevalence(audited, ref, common, joints=_joints(tuple(common), config.protected,
                                                                       config.max_joint),
                                  roles=roles, level=level, n_boot=config.n_boot, seed=config.boot_seed)
    timings["prevalence_s"] = time.perf_counter() - t0

    # (b) fairness of the target across protected groups
    fairness = None
    if config.target and config.protected:
        t0 = time.perf_counter()
        t = names.index(config.target)
        groups = {p: (truth[p] if p in truth else preds[:, names.index(p)].astype(np.int64)) for p in config.protected}
        y_true = truth.get(config.target)
        if y_true is None:
            warnings.append(f"no ground truth for {config.target!r} (not the generator's conditioning attribute): "
                            "demographic parity only; equalized odds and equal opportunity need it")
        fairness = audit_fairness(preds[:, t].astype(np.int64), groups, y_true, target=config.target,
                                  sample_weight=weights, method=config.method, agg=config.agg, level=level,
                                  n_boot=config.n_boot, seed=config.boot_seed, stratify=config.stratify)
        warnings += fairness.warnings
        timings["fairness_s"] = time.perf_counter() - t0

    # (c) implicit associations
    assoc, paths, edits = None, None, {}
    if config.associations and gen is not None and config.target:
        t0 = time.perf_counter()
        n_assoc = config.n_associations or min(500, len(images))
        settings = AssociationSettings(n=max(2, n_assoc), seed=config.seed, steps=config.steps,
                                       step_size=config.step_size, normalize=config.normalize, penalty=config.penalty,
                                       truncation=config.truncation, batch_size=config.batch_size)
        assoc, paths = implicit_associations(gen, clf, config.target, settings=settings, top_k=config.top_k,
                                             level=level, n_boot=config.n_boot, boot_seed=config.boot_seed)
        edits = _edit_images(gen, paths)
        timings["associations_s"] = time.perf_counter() - t0

    results = prevalence.results + extra_results
    if fairness is not None:
        results += fairness.results
    if assoc is not None:
        results += association_results(assoc)
    prov_config = asdict(config)
    prov_config["protected"] = list(config.protected)
    provenance = collect_provenance(
        kind="bias", mode="generator" if gen is not None else "data", config=prov_config,
        extractor={"name": f"attribute-classifier:{Path(clf.path).name}", "weights_sha256": clf.sha256,
                   "input_size": list(clf.input_size), "attributes": list(names)},
        classifier=clf.describe(), protocol=None, inputs=inputs,
        seeds={"sample_seed": config.seed, "metric_seed": config.boot_seed},
        ground_truth={k: ("conditioning label" if gen is not None else "labels") for k in truth},
        sample_weight=None if weights is None else {"n": len(weights), "sum": float(weights.sum())},
        associations=None if assoc is None else {
            "target": assoc.target, "top": assoc.top_associations(), "settings": assoc.settings,
            "change_correlation": {"names": list(assoc.names), "matrix": assoc.change_correlation.tolist()}},
        timings=timings, device=device_description("cpu"), warnings=warnings)
    run = RunResult(results=results, provenance=provenance)
    return BiasAudit(run=run, mode="generator" if gen is not None else "data", names=names, probabilities=probs,
                     predictions=preds, truth=truth, prevalence=prevalence, fairness=fairness, associations=assoc,
                     paths=paths, images=images[:PREVIEW].clone(), edits=edits, sample_weight=weights)


@torch.no_grad()
def _edit_images(gen: LoadedGenerator, paths: Mapping[str, LatentPath]) -> dict[str, torch.Tensor]:
    """uint8 images of the first EDIT_PREVIEW latents at the start and after the steps toward / away."""
    out = {}
    toward = paths["toward"]
    m = min(EDIT_PREVIEW, toward.z.shape[1])
    labels = None if toward.labels is None else toward.labels[:m]

    def render(z: torch.Tensor) -> torch.Tensor:
        images = gen.module(z, labels) if labels is not None else gen.module(z)
        return to_uint8(images, gen.latent.output_range)

    out["start"] = render(toward.z_start[:m])
    out["toward"] = render(toward.z_end[:m])
    out["away"] = render(paths["away"].z_end[:m])
    return out


# ---------------------------------------------------------------------------------------------------------
# The report: sections that arrange the numbers above (nothing is computed here)


def _estimate(value: float, interval: tuple[float, float] | None) -> Any:
    from ganeval.report.plots import Estimate

    return Estimate(value, interval[0] if interval else None, interval[1] if interval else None)


def _excludes_zero(r: Result) -> bool | None:
    if r.ci_low is None or r.ci_high is None or not np.isfinite([r.ci_low, r.ci_high]).all():
        return None
    return bool(r.ci_low > 0 or r.ci_high < 0)


def _short(v: float | None) -> str:
    return "—" if v is None else f"{v:.3g}"


def _ci_text(r: Result) -> str:
    return "" if r.ci_low is None else f" [{_short(r.ci_low)}, {_short(r.ci_high)}]"


def summary_lines(run: RunResult) -> list[str]:
    """Plain sentences for the top of a bias report, read from the Result rows alone (also printed by the CLI)."""
    lines: list[str] = []
    rows = run.results
    level = next((r.ci_level for r in rows if r.ci_level), None)
    diffs = [r for r in rows if r.metric == "prevalence_difference"]
    if diffs:
        ref = diffs[0].details.get("reference", "reference")
        flagged = [r for r in diffs if _excludes_zero(r)]
        flagged.sort(key=lambda r: -abs(r.value))
        if level is None:
            lines.append("Prevalence: no intervals were computed (use --ci) to say which differences are real.")
        elif flagged:
            lines.append(f"Prevalence differs from the {ref} set (interval excludes 0) for: " + "; ".join(
                f"{r.details['group']} {r.value:+.3g}{_ci_text(r)}" for r in flagged) + ".")
        else:
            lines.append(f"Prevalence: no attribute's rate differs detectably from the {ref} set.")
    pairs = [r for r in rows if r.metric == "phi_difference"]
    label = "co-occurrence differs from the {ref} set"
    if not pairs:  # no reference: report the ties themselves
        pairs = [r for r in rows if r.metric.startswith("phi_") and r.details.get("reference") is None]
        label = "attributes tied together"
    if pairs and level is not None:
        flagged = sorted((r for r in pairs if _excludes_zero(r)), key=lambda r: -abs(r.value))
        ref = pairs[0].details.get("reference") or "reference"
        if flagged:
            shown = flagged[:SUMMARY_PAIRS]
            more = f" (and {len(flagged) - len(shown)} more pairs)" if len(flagged) > len(shown) else ""
            phis = {(r.metric, r.details.get("group")): r.value for r in rows if r.metric.startswith("phi_")}

            def pair_text(r: Result) -> str:
                if r.metric != "phi_difference":
                    return f"{r.details['group']} {r.value:+.3g}{_ci_text(r)}"
                own = [v for (m, g), v in phis.items() if g == r.details["group"] and m not in
                       ("phi_difference", f"phi_{ref}")]
                mine = f"{own[0]:.3g} vs " if own else ""
                return (f"{r.details['group']} {mine}{phis.get((f'phi_{ref}', r.details['group']), float('nan')):.3g}"
                        f" {ref} (difference {r.value:+.3g}{_ci_text(r)})")

            lines.append(f"Pairs whose {label.format(ref=ref)} (phi, interval excludes 0): "
                         + "; ".join(pair_text(r) for r in shown) + more + ".")
        else:
            what = "different from the reference" if "differs" in label else "tied"
            lines.append(f"Co-occurrence: no pair of attributes is detectably {what}.")
    for gap in (r for r in rows if r.metric.endswith("_gap")):
        d = gap.details
        verdict = {True: "the interval excludes 0: a real gap", False: "the interval includes 0: no detectable gap",
                   None: "no interval"}[_excludes_zero(gap)]
        lines.append(f"{gap.metric.replace('_gap', '').replace('_', ' ')} of {d['target']}: {d['high_group']} minus "
                     f"{d['low_group']} = {_short(gap.value)}{_ci_text(gap)} ({verdict}).")
    top = sorted((r for r in rows if r.metric == "association_covariance" and "rank" in r.details),
                 key=lambda r: r.details["rank"])
    if top:
        target = top[0].details["target"]
        parts = []
        for r in top:
            sign = "+" if r.value > 0 else "-" if r.value < 0 else "0"
            flag = {True: "", False: ", interval includes 0", None: ""}[_excludes_zero(r)]
            parts.append(f"{r.details['group']} ({sign}, covariance {_short(r.value)}{_ci_text(r)}{flag})")
        lines.append(f"Attributes moving with {target} under latent steps: " + "; ".join(parts) + ".")
    return lines


def _prevalence_section(audit: BiasAudit) -> Any:
    from ganeval.report.html import Section, bar_chart_block, table_block

    p = audit.prevalence
    iv = {c.attribute: c for c in p.intervals} if p.intervals else {}
    series: dict[str, list[Any]] = {}
    if not p.uniform_reference:
        series[p.roles[1]] = [_estimate(r.reference, iv[r.attribute].reference if iv else None) for r in p.table]
    series[p.roles[0]] = [_estimate(r.generated, iv[r.attribute].generated if iv else None) for r in p.table]
    chart = bar_chart_block([r.attribute for r in p.table], series, title="attribute prevalence", ylabel="P(attribute)",
                            reference=0.5 if p.uniform_reference else None,
                            caption="Whiskers: bootstrap intervals." + (" Dashed: the balanced 0.5 target."
                                                                        if p.uniform_reference else ""))
    rows = []
    for joint, d in p.discrepancies.items():
        div = p.discrepancy_intervals.get(joint)
        rows.append([joint, ", ".join(p.joints[joint]), len(d.cells),
                     *[_estimate(getattr(d, m), getattr(div, m) if div else None) for m in ("l1", "l2", "kl")]])
    table = table_block(["joint", "attributes", "cells", "L1", "L2", "KL(reference || audited)"], rows,
                        keys=list(p.discrepancies), caption="Discrepancy of the joint distributions (Choi et al. 2020);"
                        " distances are biased upwards at finite N: read the prevalence differences for which way.")
    reference = "the balanced target 0.5" if p.uniform_reference else f"the {p.roles[1]} set"
    return Section(f"Prevalence: {p.roles[0]} vs {p.roles[1] if not p.uniform_reference else 'balanced'}",
                   (chart, table), intro=f"Each attribute's rate among the {p.roles[0]} images against {reference}.")


def _cooccurrence_section(p: PrevalenceAudit) -> Any:
    from ganeval.report.html import Section, heatmap_block, table_block

    c = p.cooccurrence
    assert c is not None
    has_ref = c.reference is not None
    order = sorted(range(len(c.pairs)), key=lambda j: (-abs(c.audited[j]) if np.isfinite(c.audited[j]) else np.inf, j))
    rows = []
    for j in order:
        pair = c.pairs[j]
        row = [f"{pair[0]}:{pair[1]}", _estimate(float(c.audited[j]), c.interval("audited", pair))]
        if has_ref:
            row += [_estimate(float(c.reference[j]), c.interval("reference", pair)),  # type: ignore[index]
                    _estimate(float(c.difference[j]), c.interval("difference", pair))]  # type: ignore[index]
        rows.append(row)
    columns = ["pair", f"phi {c.roles[0]} [CI]"] + ([f"phi {c.roles[1]} [CI]", "difference [CI]"] if has_ref else [])
    blocks = [table_block(columns, rows, keys=[r[0] for r in rows],
                          caption="phi: the Pearson correlation of two 0/1 attributes (0: independent, 1: always "
                                  "together, -1: never together); pairs sorted by |phi| among the "
                                  f"{c.roles[0]} images. An interval that excludes 0 is a tie the resamples agree on.")]
    labels = list(c.names)
    blocks.append(heatmap_block(c.matrix_audited, labels, labels, center=0.0,
                                title=f"phi among the {c.roles[0]} images", colorbar_label="phi"))
    if c.matrix_reference is not None:
        blocks.append(heatmap_block(c.matrix_reference, labels, labels, center=0.0,
                                    title=f"phi among the {c.roles[1]} images", colorbar_label="phi"))
    return Section(f"Co-occurrence: which attributes go together ({c.roles[0]}"
                   + (f" vs {c.roles[1]})" if has_ref else ")"), tuple(blocks),
                   intro="How strongly each pair of attributes occurs together, from the 0/1 attributes alone "
                         "(predictions, or labels where the set has them).")


def _fairness_section(f: FairnessAudit) -> Any:
    from ganeval.report.html import Section, bar_chart_block, table_block

    measures = [[k, _estimate(v, f.intervals.get(k))] for k, v in f.measures.items()]
    gaps = [[k, hi, lo, _estimate(v, f.intervals.get(k))] for k, (v, hi, lo) in f.gaps.items()]
    overall, table = f.frame.as_arrays()
    labels = [group_label(f.protected, g) for g in f.frame.groups]
    series = {m: [_estimate(float(table[g, j]), f.intervals.get(f"{m}[{labels[g]}]")) for g in range(len(labels))]
              for j, m in enumerate(f.frame.metric_names)}
    blocks = (
        table_block(["measure", "value [CI]"], measures, keys=list(f.measures),
                    caption=f"fairlearn's definitions, method={f.method}, agg={f.agg} (equalized odds). "
                            "Differences: 0 is parity; ratios: 1 is parity."),
        table_block(["signed gap", "high group", "low group", "rate(high) - rate(low) [CI]"], gaps, keys=list(f.gaps),
                    caption="Groups fixed on the full sample; an interval that excludes 0 is a gap the resamples agree on."),
        bar_chart_block(labels, series, title=f"rates of {f.target} by group", ylabel="rate",
                        reference=float(overall[0]), caption="Whiskers: bootstrap intervals; dashed: the overall "
                                                             "selection rate."),
    )
    truth = "with ground truth" if f.has_truth else "without ground truth (demographic parity only)"
    return Section(f"Group fairness: {f.target} across {' × '.join(f.protected)}", blocks,
                   intro=f"Predictions of {f.target} compared across the protected groups, {truth}.")


def _association_section(audit: BiasAudit) -> Any:
    from ganeval.report.html import Section, bar_chart_block, heatmap_block, image_grids_block, table_block

    a = audit.associations
    assert a is not None
    rows = []
    for row in a.top_associations():
        rows.append([row["attribute"], row["sign"], _estimate(row["covariance"], row["covariance_ci"]),
                     _estimate(row["correlation"], row["correlation_ci"]),
                     _estimate(float(a.mean_change_toward[a.names.index(row["attribute"])]),
                               a.interval("mean_change_toward", row["attribute"])),
                     _estimate(float(a.mean_change_away[a.names.index(row["attribute"])]),
                               a.interval("mean_change_away", row["attribute"]))])
    others = [n for n in a.names if n != a.target]
    blocks = [
        table_block(["attribute", "sign", "covariance [CI]", "correlation [CI]", "mean change toward",
                     "mean change away"], rows, keys=[r[0] for r in rows],
                    caption=f"Top {len(rows)} by |covariance| of each attribute's probability change with "
                            f"{a.target}'s over {a.n_latents} latents, steps toward and away pooled."),
        bar_chart_block(others, {"covariance": [_estimate(float(a.covariance[a.names.index(n)]),
                                                          a.interval("covariance", n)) for n in others]},
                        title=f"covariance with the change of {a.target}", ylabel="covariance",
                        caption="Whiskers: bootstrap intervals over latents; a whisker clear of 0 is an association."),
        heatmap_block(a.change_correlation, list(a.names), list(a.names), center=0.0,
                      title="correlation of probability changes", colorbar_label="correlation"),
    ]
    if audit.edits:
        blocks.append(image_grids_block({f"start": audit.edits["start"], f"toward {a.target}": audit.edits["toward"],
                                         f"away from {a.target}": audit.edits["away"]}, columns=4))
    s = a.settings
    return Section(f"Implicit associations with {a.target}", tuple(blocks),
                   intro=f"Each latent was moved {s.get('steps')} steps of {s.get('step_size')} toward and away from "
                         f"{a.target} along the classifier's gradient; attributes whose probability moves with "
                         f"{a.target}'s are associated with it by the generator (or the classifier).")


def bias_sections(audit: BiasAudit) -> list[Any]:
    """The report sections of an audit: prevalence, group fairness, implicit associations."""
    sections = [_prevalence_section(audit)]
    if audit.prevalence.cooccurrence is not None:
        sections.append(_cooccurrence_section(audit.prevalence))
    if audit.fairness is not None:
        sections.append(_fairness_section(audit.fairness))
    if audit.associations is not None:
        sections.append(_association_section(audit))
    return sections


def write_bias_report(audit: BiasAudit, out: str | Path, *, title: str | None = None) -> dict[str, Path]:
    """Write out/index.html (self-contained), results.json and results.csv for an audit; returns their paths.

    As ganeval.report.write_report writes them (all three rendered first, each written atomically), except
    that the audit's own sections come right after its summary and headline, before the table of every
    result, instead of at the end of the page where write_report puts a caller's sections.
    """
    from ganeval.atomic import atomic_write_text
    from ganeval.report.files import results_csv, results_json
    from ganeval.report.html import render_report

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise BadInputError(f"cannot write a report into {out}: it is a file, not a folder")
    name = "generated" if audit.mode == "generator" else "audited"
    images = {name: audit.images} if audit.images is not None and len(audit.images) else None
    inputs = audit.run.provenance.get("inputs") or {}
    what = (inputs.get("generator") or {}).get("checkpoint") or (inputs.get("data") or {}).get("path") or "images"
    extras = BiasReportExtras(images=images, parts=tuple(bias_sections(audit)))
    texts = {"html": render_report(audit.run, extras, title=title or f"ganeval bias audit: {what}"),
             "json": results_json(audit.run), "csv": results_csv(audit.run)}
    paths = {"html": out / "index.html", "json": out / "results.json", "csv": out / "results.csv"}
    for key in ("json", "csv", "html"):
        atomic_write_text(paths[key], texts[key])
    return paths


@dataclass(frozen=True)
class BiasReportExtras(ReportExtras):
    """ReportExtras plus the audit's sections ("parts"), which the "bias-parts" section entry places."""

    parts: tuple[Any, ...] = ()


def _register_summary() -> None:
    from ganeval.report.html import Section, SectionEntry, notes_block, register_section

    register_section(SectionEntry(
        "bias-summary", 15, lambda run, extras: run.provenance.get("kind") == "bias" and bool(summary_lines(run)),
        lambda run, extras: [Section("Bias audit summary", (notes_block(summary_lines(run), level="info"),))]))
    register_section(SectionEntry(
        "bias-parts", 22, lambda run, extras: bool(getattr(extras, "parts", ())),
        lambda run, extras: list(extras.parts)))


_register_summary()
