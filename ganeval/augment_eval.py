"""GAN data augmentation (course 3 week 1) and the Classification Accuracy Score (Ravuri & Vinyals 2019).

    conditional generator + labelled real train / test sets
        -> for each seed s and real-data fraction f: a stratified subset of the real training set (seeded)
        -> the same small classifier (fmnist-cnn's FashionCNN, fresh weights) trained on
           (a) "real": the real subset, (b) "real+generated": the subset plus gen_per_class generated images
           per class, (c) "generated": the generated images only (CAS; it uses no real data, so it is
           trained once per seed, not per fraction)
        -> accuracy on the whole real test set
        -> per regime and fraction: mean over seeds with a Student-t interval; per fraction the paired gain
           (b) - (a) with a paired t-interval (the same seed shares the real subset)
        -> Result rows + provenance -> index.html (accuracy against fraction per regime), results.json/csv

Every image goes through one preprocessing: resized to 28x28 (bilinear, antialiased, ganeval.datasets.
resize_images), mapped to (x - 128) / 128 -- fmnist-cnn's input convention -- and averaged over colour
channels, which is the first thing FashionCNN does (it is a grayscale network); images stay uint8 until
a batch is drawn. Training: AdamW with a one-cycle
schedule (as reference_models.fmnist_classifier), `epochs` passes over that regime's training set and at
least `min_steps` updates, no augmentation; init, data order and generated samples all follow the seed.
docs/augment.md describes the command, the inputs and measured numbers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ganeval.datasets import ImageDataset, available_datasets, load_dataset, resize_images
from ganeval.errors import BadInputError
from ganeval.generators import LoadedGenerator, generate, load_generator
from ganeval.progress import NO_PROGRESS, ProgressReporter
from ganeval.results import Result, RunResult

__all__ = ["REGIMES", "AugmentConfig", "AugmentRun", "augment_eval", "class_mapping", "load_labelled",
           "stratified_subset", "t_interval", "train_classifier", "write_augment_report"]

REGIMES = ("real", "real+generated", "generated")
INPUT_SIZE = 28
MSG_UNCONDITIONAL = ("{path} is an unconditional generator (its checkpoint declares no classes); augment-eval needs "
                     "a conditional one (e.g. `ganeval train-reference cgan`) to label the images it generates")
MSG_UNLABELLED = ("{spec} has no class labels; put each class's images in its own subfolder (class = first-level "
                  "subfolder), or name a built-in dataset such as fashion-mnist:train")
MSG_CLASSES = "the generator {path} has {k} classes ({gen}) but {spec} has {m} ({real}); they must match"
MSG_TEST_CLASSES = "{train} and {test} have different classes ({a} vs {b})"


@dataclass(frozen=True)
class AugmentConfig:
    """Settings of `ganeval augment-eval` (module docstring); the one home for its defaults.

    fractions: real-data fractions in (0, 1]; seeds: one full repetition each (subset, generated images,
    init, data order); gen_per_class: generated images per class for regimes (b) and (c); epochs: passes
    over each regime's training set, at least min_steps updates of batch_size; width: FashionCNN's width
    (32 is fmnist-cnn's); ci: level of the t-intervals over seeds; truncation: of the generator's latents;
    test_limit: test on a stratified subset of about this many test images (seed 0; None: all of them).
    """

    fractions: tuple[float, ...] = (0.01, 0.1, 1.0)
    seeds: tuple[int, ...] = (0, 1, 2)
    gen_per_class: int = 1000
    epochs: float = 5.0
    min_steps: int = 200
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 5e-4
    width: int = 32
    ci: float = 0.95
    truncation: float | None = None
    regimes: tuple[str, ...] = REGIMES
    test_limit: int | None = None

    def check(self) -> AugmentConfig:
        """Return self, or raise BadInputError naming the impossible setting."""
        if not self.fractions or not all(isinstance(f, (int, float)) and 0 < f <= 1 for f in self.fractions):
            raise BadInputError(f"--fractions must be numbers in (0, 1], e.g. 0.01,0.1,1.0; got {list(self.fractions)}")
        if len(set(self.fractions)) != len(self.fractions):
            raise BadInputError(f"--fractions repeat: {list(self.fractions)}")
        if not self.seeds or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in self.seeds):
            raise BadInputError(f"--seeds must be non-negative integers, e.g. 0,1,2; got {list(self.seeds)}")
        if len(set(self.seeds)) != len(self.seeds):
            raise BadInputError(f"--seeds repeat: {list(self.seeds)}")
        for flag, v, low in (("--gen-per-class", self.gen_per_class, 1), ("--min-steps", self.min_steps, 0),
                             ("--batch-size", self.batch_size, 1), ("--width", self.width, 1)):
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise BadInputError(f"{flag} must be an integer >= {low}, got {v!r}")
        if self.test_limit is not None and (isinstance(self.test_limit, bool) or not isinstance(self.test_limit, int)
                                            or self.test_limit < 1):
            raise BadInputError(f"--test-limit must be a positive integer, got {self.test_limit!r}")
        if not (isinstance(self.epochs, (int, float)) and math.isfinite(self.epochs) and self.epochs >= 0):
            raise BadInputError(f"--epochs must be a number >= 0, got {self.epochs!r}")
        if not 0 < self.ci < 1:
            raise BadInputError(f"--ci must be between 0 and 1, got {self.ci}")
        bad = [r for r in self.regimes if r not in REGIMES]
        if bad or not self.regimes:
            raise BadInputError(f"unknown regime(s) {bad}; use some of {', '.join(REGIMES)}")
        return self


# -- data ------------------------------------------------------------------------------------------------------

def load_labelled(spec: str | ImageDataset, *, default_split: str = "train", limit: int | None = None
                  ) -> ImageDataset:
    """A labelled dataset from a built-in name with an optional split ("fashion-mnist:test", "digits", also
    spelled "dataset:fashion-mnist:test" as everywhere else in ganeval),
    an image folder or archive whose first-level subfolders are the classes, or an ImageDataset as is.
    BadInputError when the data has no labels."""
    if isinstance(spec, ImageDataset):
        data = spec
        where = spec.name
    else:
        where = str(spec)
        if where.startswith("dataset:"):  # the input spelling of ganeval.sources ("dataset:NAME[:SPLIT]")
            where = where[len("dataset:"):]
        name, _, split = where.rpartition(":")
        if name and name in available_datasets() and not Path(where).exists():
            data = load_dataset(name, split=split, limit=limit)
        else:
            data = load_dataset(where, split=default_split if where in available_datasets() else "train",
                                limit=limit)
    if data.labels is None or not data.class_names:
        raise BadInputError(MSG_UNLABELLED.format(spec=where))
    return data


def stratified_subset(labels: Any, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of a seeded stratified subset: round(fraction * n_c) images of every class c (at least
    one), drawn without replacement by np.random.default_rng((seed, class)). fraction 1 keeps every index."""
    y = np.asarray(labels)
    if not 0 < fraction <= 1:
        raise BadInputError(f"a fraction must be in (0, 1], got {fraction}")
    if fraction == 1:
        return np.arange(len(y))
    keep = []
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        k = max(1, int(round(fraction * len(members))))
        keep.append(np.random.default_rng((int(seed), int(c))).choice(members, size=k, replace=False))
    return np.sort(np.concatenate(keep))


def class_mapping(gen: LoadedGenerator, data: ImageDataset, spec: str) -> tuple[np.ndarray, str | None]:
    """(K,) int64: the real class index of each generator class, and a warning or None. Classes are matched
    by name when both sides name the same set, else by index (with a warning) when the counts agree."""
    k, m = gen.latent.n_classes, data.n_classes
    if k == 0:
        raise BadInputError(MSG_UNCONDITIONAL.format(path=gen.label))
    gen_names, real_names = tuple(gen.latent.class_names), tuple(data.class_names)
    if gen_names and set(gen_names) == set(real_names) and len(gen_names) == len(real_names):
        return np.array([real_names.index(n) for n in gen_names], dtype=np.int64), None
    if k != m:
        raise BadInputError(MSG_CLASSES.format(path=gen.label, k=k, gen=", ".join(gen_names) or "unnamed", spec=spec,
                                               m=m, real=", ".join(real_names)))
    warning = (f"the generator's class names ({', '.join(gen_names) or 'none'}) differ from {spec}'s "
               f"({', '.join(real_names)}); classes were matched by index")
    return np.arange(k, dtype=np.int64), warning


def to_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, C, 28, 28), C 1 or 3 -> float32 (N, 1, 28, 28): the channel mean of (x - 128) / 128, which is
    exactly what FashionCNN computes first from its RGB input (for grayscale: the pixel's own value)."""
    return ((images.float() - 128.0) / 128.0).mean(dim=1, keepdim=True)


def _sized(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, C, H, W) -> uint8 (N, C', 28, 28): resized; RGB kept only when the channels differ."""
    x = resize_images(images, INPUT_SIZE)
    if x.shape[1] == 3 and bool((x[:, :1] == x).all()):
        x = x[:, :1]
    return x.contiguous()


def generate_labelled(gen: LoadedGenerator, per_class: int, seed: int, truncation: float | None = None,
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """per_class * K generated uint8 images (N, C, H, W) and their generator class labels (sample i has
    class i mod K), deterministic in `seed` (ganeval.generators.generate)."""
    n = per_class * gen.latent.n_classes
    images, labels = [], []
    for im, lb in generate(gen, n, seed=seed, batch_size=1024, truncation=truncation, rgb=False):
        images.append(im)
        labels.append(lb)
    return torch.cat(images), torch.cat(labels)


# -- the classifier ---------------------------------------------------------------------------------------------

def train_classifier(x: torch.Tensor, y: torch.Tensor, n_classes: int, config: AugmentConfig, seed: int
                     ) -> tuple[torch.nn.Module, int]:
    """Train a fresh FashionCNN on x uint8 (N, C, 28, 28) (mapped batch by batch by to_input) and y (N,) int64;
    returns it in eval
    mode and the number of updates. Init from torch's RNG seeded with `seed` inside a fork (the caller's
    RNG is untouched), data order from torch.Generator(seed)."""
    from ganeval.extractors.fmnist_cnn import FashionCNN

    n = len(x)
    per_epoch = max(1, math.ceil(n / config.batch_size))
    steps = max(config.min_steps, math.ceil(config.epochs * per_epoch), 1)
    order_gen = torch.Generator().manual_seed(int(seed))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        net = FashionCNN(width=config.width, num_classes=n_classes)
        opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=steps)
        net.train()
        order = torch.randperm(n, generator=order_gen)
        pos = 0
        for _ in range(steps):
            if pos + config.batch_size > n and pos > 0:
                order, pos = torch.randperm(n, generator=order_gen), 0
            idx = order[pos:pos + config.batch_size]
            pos += config.batch_size
            loss = F.cross_entropy(net(to_input(x[idx])), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return net.eval(), steps


@torch.no_grad()
def accuracy(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """Fraction of x uint8 (N, C, 28, 28) whose argmax logit equals y (N,)."""
    correct = 0
    for start in range(0, len(x), batch_size):
        correct += int((net(to_input(x[start:start + batch_size])).argmax(1) == y[start:start + batch_size]).sum())
    return correct / len(x)


def t_interval(values: Sequence[float], level: float) -> tuple[float, float | None, float | None]:
    """(mean, low, high): mean +- t_{(1+level)/2, n-1} * s / sqrt(n), s the sample standard deviation
    (ddof 1); no interval (None, None) for fewer than two values."""
    from scipy import stats

    v = np.asarray(values, dtype=np.float64)
    mean = float(v.mean())
    if len(v) < 2:
        return mean, None, None
    half = float(stats.t.ppf((1 + level) / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))
    return mean, mean - half, mean + half


# -- the run ----------------------------------------------------------------------------------------------------

@dataclass(eq=False)
class AugmentRun:
    """Results of augment-eval: run (Result rows + provenance) and accuracies {(regime, fraction or None):
    [accuracy per seed]}, in config.seeds order; previews {"real", "generated"}: uint8 images for the report."""

    run: RunResult
    accuracies: dict[tuple[str, float | None], list[float]]
    config: AugmentConfig
    previews: dict[str, torch.Tensor] = field(default_factory=dict)


def _fraction_label(f: float | None) -> str:
    return "-" if f is None else f"{f:g}"


def augment_eval(generator: str | Path | LoadedGenerator, real_train: str | ImageDataset,
                 real_test: str | ImageDataset, config: AugmentConfig = AugmentConfig(), *,
                 progress: ProgressReporter = NO_PROGRESS) -> AugmentRun:
    """Train-on-real / real+generated / generated, test-on-real (module docstring); returns an AugmentRun."""
    config.check()
    started = time.perf_counter()
    gen = generator if isinstance(generator, LoadedGenerator) else load_generator(generator)
    if gen.latent.n_classes == 0:
        raise BadInputError(MSG_UNCONDITIONAL.format(path=gen.label))
    train = load_labelled(real_train, default_split="train")
    test = load_labelled(real_test, default_split="test")
    train_name = real_train if isinstance(real_train, str) else train.name
    test_name = real_test if isinstance(real_test, str) else test.name
    if tuple(train.class_names) != tuple(test.class_names):
        raise BadInputError(MSG_TEST_CLASSES.format(train=train_name, test=test_name, a=", ".join(train.class_names),
                                                    b=", ".join(test.class_names)))
    mapping, warning = class_mapping(gen, train, str(train_name))
    k = train.n_classes
    x_train, y_train = _sized(train.images), train.labels.long()
    x_test, y_test = _sized(test.images), test.labels.long()
    if config.test_limit is not None and config.test_limit < len(test):
        keep = torch.from_numpy(stratified_subset(y_test.numpy(), config.test_limit / len(test), 0))
        x_test, y_test = x_test[keep], y_test[keep]
    accs: dict[tuple[str, float | None], list[float]] = {}
    meta: dict[tuple[str, float | None], dict[str, Any]] = {}
    generated_any = any(r != "real" for r in config.regimes)
    n_jobs = len(config.seeds) * (len(config.fractions) * sum(r != "generated" for r in config.regimes)
                                  + ("generated" in config.regimes))
    task = progress.task("training classifiers", total=n_jobs)
    previews: dict[str, torch.Tensor] = {}
    timings = {"generate_s": 0.0, "train_s": 0.0}
    for seed in config.seeds:
        if generated_any:
            t0 = time.perf_counter()
            g_images, g_labels = generate_labelled(gen, config.gen_per_class, seed, config.truncation)
            x_gen, y_gen = _sized(g_images), torch.from_numpy(mapping[g_labels.numpy()])
            timings["generate_s"] += time.perf_counter() - t0
            if "generated" not in previews:
                previews["generated"] = g_images[:32]
        jobs: list[tuple[str, float | None]] = [(r, f) for f in config.fractions for r in config.regimes
                                                if r != "generated"]
        if "generated" in config.regimes:
            jobs.append(("generated", None))
        for regime, fraction in jobs:
            t0 = time.perf_counter()
            if regime == "generated":
                x, y, n_real = x_gen, y_gen, 0
            else:
                idx = torch.from_numpy(stratified_subset(y_train.numpy(), fraction, seed))
                x, y, n_real = x_train[idx], y_train[idx], len(idx)
                if regime == "real+generated":
                    c = max(x.shape[1], x_gen.shape[1])  # grayscale repeated: to_input's mean is unchanged
                    x = torch.cat([x.expand(-1, c, -1, -1), x_gen.expand(-1, c, -1, -1)])
                    y = torch.cat([y, y_gen])
            net, steps = train_classifier(x, y, k, config, seed)
            acc = accuracy(net, x_test, y_test)
            timings["train_s"] += time.perf_counter() - t0
            accs.setdefault((regime, fraction), []).append(acc)
            meta[(regime, fraction)] = {"n_train_real": n_real, "n_train_generated": len(x) - n_real, "steps": steps}
            progress.advance(task, 1, rate=f"seed {seed} {regime} {_fraction_label(fraction)}: {acc:.3f}")
    progress.finish(task)
    previews["real"] = train.images[:32]
    results = _results(accs, meta, config, n_test=len(y_test))
    provenance = _provenance(gen, train, test, train_name, test_name, config, mapping, warning, timings, started,
                             len(y_test))
    return AugmentRun(run=RunResult(results=results, provenance=provenance), accuracies=accs, config=config,
                      previews=previews)


def _results(accs: dict[tuple[str, float | None], list[float]], meta: dict[tuple[str, float | None], dict[str, Any]],
             config: AugmentConfig, n_test: int) -> list[Result]:
    rows = []
    for (regime, fraction), values in accs.items():
        mean, lo, hi = t_interval(values, config.ci)
        rows.append(Result(metric="test_accuracy", value=mean, ci_low=lo, ci_high=hi,
                           ci_level=config.ci if lo is not None else None, n_real=n_test,
                           details={"by": "regime", "group": regime if fraction is None else
                                    f"{regime}, fraction {fraction:g}",
                                    "regime": regime, "fraction": fraction, "per_seed": values,
                                    "seeds": list(config.seeds), "ci_method": "Student t over seeds",
                                    "std_over_seeds": float(np.std(values, ddof=1)) if len(values) > 1 else None,
                                    **meta[(regime, fraction)]}))
    for fraction in config.fractions:
        a, b = accs.get(("real", fraction)), accs.get(("real+generated", fraction))
        if a is None or b is None:
            continue
        diff = [y - x for x, y in zip(a, b)]
        mean, lo, hi = t_interval(diff, config.ci)
        rows.append(Result(metric="augmentation_gain", value=mean, ci_low=lo, ci_high=hi,
                           ci_level=config.ci if lo is not None else None, n_real=n_test,
                           details={"by": "real fraction", "group": _fraction_label(fraction), "fraction": fraction,
                                    "per_seed": diff, "meaning": "accuracy(real+generated) - accuracy(real)",
                                    "ci_method": "paired Student t over seeds"}))
    full = max(config.fractions)
    a, c = accs.get(("real", full)), accs.get(("generated", None))
    if a is not None and c is not None:
        ratio = [z / x if x > 0 else float("nan") for x, z in zip(a, c)]
        mean, lo, hi = t_interval(ratio, config.ci)
        rows.append(Result(metric="cas_ratio", value=mean, ci_low=lo, ci_high=hi,
                           ci_level=config.ci if lo is not None else None, n_real=n_test,
                           details={"per_seed": ratio, "fraction": full, "ci_method": "paired Student t over seeds",
                                    "meaning": f"accuracy(generated only) / accuracy(real, fraction {full:g}), "
                                               "per seed"}))
    return rows


def _provenance(gen: LoadedGenerator, train: ImageDataset, test: ImageDataset, train_name: Any, test_name: Any,
                config: AugmentConfig, mapping: np.ndarray, warning: str | None, timings: dict[str, float],
                started: float, n_test_used: int) -> dict[str, Any]:
    from ganeval.extractors.fmnist_cnn import NAME
    from ganeval.provenance import collect_provenance, device_description

    def record(data: ImageDataset, name: Any) -> dict[str, Any]:
        return {"path": str(name), "n": len(data), "classes": list(data.class_names), "fingerprint": data.fingerprint,
                "image_shape": list(data.image_shape)}

    timings = dict(timings, total_s=time.perf_counter() - started)
    return collect_provenance(
        kind="augment-eval", config=asdict(config),
        inputs={"generator": dict(gen.describe(), path=str(gen.path) if gen.path else None),
                "real_train": record(train, train_name),
                "real_test": dict(record(test, test_name), n_used=n_test_used)},
        classifier={"architecture": f"{NAME} FashionCNN", "width": config.width, "input": "28x28, (x - 128) / 128, "
                    "channel mean", "optimizer": "AdamW + one-cycle", "lr": config.lr,
                    "weight_decay": config.weight_decay, "batch_size": config.batch_size},
        class_mapping=mapping.tolist(), seeds={"seeds": list(config.seeds)},
        ci_method="Student t interval over seeds (mean +- t * sd / sqrt(n)); gains and ratios paired by seed",
        protocol=None, timings=timings, device=device_description("cpu"), warnings=[warning] if warning else [])


def _accuracy_section(run: RunResult) -> list[Any]:
    """The report's "Accuracy by regime" section (a fraction x regime table with the paired gain, and accuracy
    against log10(fraction) per regime with interval bands), arranged from the run's Result rows."""
    from ganeval.report import Section
    from ganeval.report.html import format_interval, format_number, line_chart_block, table_block
    from ganeval.report.plots import LineSeries

    cfg = run.provenance.get("config") or {}
    rows_by = {(r.details["regime"], r.details["fraction"]): r for r in run.results if r.metric == "test_accuracy"}
    gains = {r.details["fraction"]: r for r in run.results if r.metric == "augmentation_gain"}
    fractions = sorted(float(f) for f in cfg.get("fractions") or [])
    regimes = [r for r in REGIMES if r in (cfg.get("regimes") or REGIMES)]
    level = cfg.get("ci", 0.95)

    def at(regime: str, f: float) -> Result | None:
        return rows_by.get((regime, None if regime == "generated" else f))

    def shown(r: Result | None) -> str:
        return "" if r is None else f"{format_number(r.value)} {format_interval(r.ci_low, r.ci_high)}".strip()

    table_rows = [[f"{f:g}", *(shown(at(g, f)) for g in regimes), shown(gains.get(f))] for f in fractions]
    table = table_block(["real fraction", *regimes, "gain (b) - (a)"], table_rows, keys=[f"{f:g}" for f in fractions],
                        caption=f"test accuracy, mean over seeds {cfg.get('seeds')} [{level:g} Student-t interval]; "
                                "'generated' uses no real data, so it is the same at every fraction")
    x = [math.log10(f) for f in fractions]
    series = []
    for regime in regimes:
        rs = [at(regime, f) for f in fractions]
        series.append(LineSeries(regime, x, [r.value if r else None for r in rs], [r.ci_low if r else None for r in rs],
                                 [r.ci_high if r else None for r in rs],
                                 point_labels=[f"{f:g}" for f in fractions] if regime == "real" else None))
    chart = line_chart_block(series, title="test accuracy against real-data fraction",
                             xlabel="log10(fraction of the real training set)", ylabel="test accuracy",
                             caption=f"Bands: {level:g} Student-t intervals over {len(cfg.get('seeds') or [])} seeds.")
    return [Section("Accuracy by regime", (table, chart),
                    intro="(a) real only, (b) real + generated, (c) generated only -- the Classification Accuracy "
                          "Score (Ravuri & Vinyals 2019) -- each tested on the real test set.")]


def _register_section() -> None:
    from ganeval.report.html import SectionEntry, register_section

    register_section(SectionEntry("augment-accuracy", 15,
                                  lambda run, extras: run.provenance.get("kind") == "augment-eval",
                                  lambda run, extras: _accuracy_section(run)))


def write_augment_report(result: AugmentRun, out: str | Path, *, title: str | None = None) -> dict[str, Path]:
    """Write out/index.html (the accuracy section above, real and generated sample grids), results.json and
    results.csv through ganeval.report.write_report; returns their paths."""
    from ganeval.report import write_report

    gen = (result.run.provenance.get("inputs") or {}).get("generator") or {}
    return write_report(result.run, out, images=dict(result.previews),
                        title=title or f"ganeval augment-eval: {gen.get('checkpoint') or 'generator'}")


_register_section()
