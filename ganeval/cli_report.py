"""`ganeval report DIR [DIR...] --out DIR`: several runs (report or training run folders) side by side, as
index.html and comparison.csv.

Thin, like the rest of the CLI: parse, call ganeval.report.write_comparison, print. cli.py calls
`register(app)`; errors reach cli.main, which prints them as one line with their exit code.

Also here, for the computing commands (fid, metrics, sweep), what their reports show beyond the metrics:

    preview_images    the first images of each input, for the sample grids
    metrics_extras    after evaluate(): the nearest-real-neighbour gallery and, for a conditional generator,
                      per-class FID and class consistency
        real input -> kept "pool" features (statistics cache, else one extraction pass that is then cached)
        shown generated images -> their features (one batch) -> neighbours.nearest_neighbours -> Neighbours
        conditional checkpoint -> kept pool (+ logits) features, sample i of class i mod K
            -> FID per class against the real images of the subfolder named like the class
            -> class consistency: the extractor's argmax logit equals the conditioning class
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape

from ganeval.config import EvalConfig, SamplingConfig
from ganeval.progress import NO_PROGRESS, ProgressReporter
from ganeval.report.html import GRID_IMAGES, NEIGHBOUR_K, Neighbours, Section, notes_block
from ganeval.results import Result, RunResult

if TYPE_CHECKING:
    from ganeval.cache import StatsCache
    from ganeval.extractors import Extractor, ExtractorInfo
    from ganeval.sources import ImageSource
    from ganeval.stats import FeatureStats

_out = Console(highlight=False)
_err = Console(stderr=True, highlight=False)


def report(
    dirs: Annotated[list[Path], typer.Argument(help="Report folders (each with the results.json that `ganeval "
                                               "metrics`, `sweep`, `bias` or `fid --out` wrote), "
                                               "`train-reference` run folders, or results.json files.",
                                               show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for index.html and comparison.csv.",
                                      show_default=False)],
    names: Annotated[Optional[str], typer.Option("--names", help="Comma-separated column names, one per run "
                                                 "(default: the folder names).", show_default=False)] = None,
    title: Annotated[Optional[str], typer.Option("--title", help="Page title (default: the run names).",
                                                 show_default=False)] = None,
) -> None:
    """Compare runs side by side: one column per run, one row per metric with CIs, a bar chart per metric,
    the training curves of train-reference run folders overlaid, provenance differences highlighted and a
    warning when the numbers were measured differently (not comparable).

    Example: ganeval report runs/dcgan runs/wgan-gp runs/cgan --out reports/compare
    """
    from ganeval.report import write_comparison

    name_list = names.split(",") if names is not None else None
    paths, comparison = write_comparison(dirs, out, names=name_list, title=title)
    for fact in comparison.blocking:
        values = "; ".join(f"{n}: {v}" for n, v in zip(comparison.names, fact.values))
        _err.print(f"[yellow]warning:[/] not comparable: {escape(fact.name)} differs ({escape(values)})",
                   soft_wrap=True)
    _out.print(escape(f"compared {len(comparison.runs)} runs ({', '.join(comparison.names)}): "
                      f"{paths['html']}  {paths['csv']}"), soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add `report` to the ganeval app."""
    app.command("report")(report)


def preview_images(inputs: Mapping[str, str | Path], *, n: int = GRID_IMAGES, skip_bad: bool = False,
                   allow_mixed_sizes: bool = False, sampling: SamplingConfig | None = None) -> dict[str, np.ndarray]:
    """The first `n` images of each image input, uint8 (n, 3, H, W), for a report's sample grids.

    Statistics files have no images and are left out. Reads (or generates) one batch only.
    """
    from ganeval.sources import ImageSource, open_input

    out: dict[str, np.ndarray] = {}
    for role, path in inputs.items():
        src = open_input(path, skip_bad=skip_bad, allow_mixed_sizes=allow_mixed_sizes, sampling=sampling)
        if not isinstance(src, ImageSource):
            continue
        batches = src.batches(n)
        try:
            batch = next(batches, None)
        finally:
            batches.close()
        if batch is not None and len(batch.images):
            out[role] = batch.images.numpy()
    return out


# -- what a metrics report adds: the neighbour gallery and per-class metrics ---------------------------------

MSG_GALLERY_SKIPPED = "nearest-neighbour gallery skipped: {why}"
MSG_PER_CLASS_SKIPPED = "per-class {what} skipped: {why}"


@dataclass(frozen=True)
class MetricsExtras:
    """What `metrics_extras` found: rows to add to the run, the gallery, notes for the reader, provenance.

    results:    per-class FID rows (details {"by": "class", "group": NAME}) and class consistency (overall,
                then per class); empty for an unconditional generator.
    neighbours: the gallery, or None when it was not asked for or could not be made (a note says why).
    notes:      one sentence per thing that was skipped and why.
    provenance: {"neighbours": {...}, "per_class": {...}}, merged into the run's provenance.
    """

    results: tuple[Result, ...] = ()
    neighbours: Neighbours | None = None
    notes: tuple[str, ...] = ()
    provenance: dict[str, Any] = field(default_factory=dict)

    def apply(self, run: RunResult) -> RunResult:
        """The run with these results appended and this provenance merged (a new RunResult)."""
        return RunResult(results=[*run.results, *self.results], provenance={**run.provenance, **self.provenance})

    def sections(self) -> list[Section]:
        """A "Report notes" section listing what was skipped, when anything was."""
        if not self.notes:
            return []
        return [Section("Report notes", (notes_block(list(self.notes), level="info"),))]


def classifier_classes(info: ExtractorInfo) -> tuple[str, ...] | None:
    """The class names of an extractor's logits, in order, when known.

    From `info.extra["class_names"]` (comma-separated) when the extractor declares them; fmnist-cnn's
    logits are the Fashion-MNIST classes. None otherwise (e.g. Inception's 1008 ImageNet logits).
    """
    declared = (info.extra or {}).get("class_names")
    if declared:
        return tuple(c.strip() for c in str(declared).split(","))
    if info.name == "fmnist-cnn":
        from ganeval.datasets.fashion_mnist import CLASSES

        return tuple(CLASSES)
    return None


def classifier_mapping(info: ExtractorInfo, class_names: tuple[str, ...]) -> tuple[Any, str]:
    """(logit index of each generator class as an int array, how it was matched), or (None, why not).

    By name when the extractor's class names are known and hold every generator class; by position
    (logit k is class k) when they are not known and there are exactly as many logits as classes.
    """
    import numpy as np

    n_logits = info.features.get("logits")
    if not n_logits:
        return None, f"extractor {info.name!r} has no logits to classify the samples with"
    known = classifier_classes(info)
    if known is not None and len(known) == n_logits:
        missing = [c for c in class_names if c not in known]
        if missing:
            return None, (f"the generator's classes {', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''} "
                          f"are not among the {info.name} classifier's")
        return np.array([known.index(c) for c in class_names], dtype=np.int64), "by class name"
    if n_logits == len(class_names):
        return np.arange(len(class_names), dtype=np.int64), "by position (logit k is class k)"
    return None, f"extractor {info.name!r} has {n_logits} logits for the generator's {len(class_names)} classes"


def _features_of_images(extractor: Extractor, images: Any, protocol: str) -> Any:
    """(n, d) float32 "pool" features of uint8 (n, 3, H, W) images: one forward pass."""
    import numpy as np
    import torch

    from ganeval.preprocess import prepare

    device = next(extractor.parameters(), torch.empty(0)).device
    x = prepare(torch.as_tensor(np.ascontiguousarray(images)), protocol, extractor.info).to(device)
    with torch.inference_mode():
        return extractor(x)["pool"].float().cpu().numpy()


def _read_real(source: ImageSource, batch_size: int, wanted: set[int], names: bool) -> tuple[list[str], dict]:
    """One decoding pass (no features): every image name when `names`, and the images at `wanted` positions
    (uint8 (3, H, W) each). Stops early when only images are wanted and all were found."""
    found: dict[int, Any] = {}
    all_names: list[str] = []
    last = max(wanted, default=-1)
    pos = 0
    batches = source.batches(batch_size)
    try:
        for batch in batches:
            for j in range(len(batch.names)):
                if pos + j in wanted:
                    found[pos + j] = batch.images[j].numpy()
            if names:
                all_names.extend(batch.names)
            pos += len(batch.names)
            if not names and pos > last:
                break
    finally:
        batches.close()
    return all_names, found


def _fit(image: Any, height: int, width: int) -> Any:
    """uint8 (3, h, w) resized to (3, height, width) for display beside a generated sample (bilinear)."""
    import numpy as np
    from PIL import Image

    if image.shape[1:] == (height, width):
        return image
    pil = Image.fromarray(np.ascontiguousarray(image.transpose(1, 2, 0)))
    return np.asarray(pil.resize((width, height), Image.Resampling.BILINEAR)).transpose(2, 0, 1)


def _stats_from(features: Any, meta: Mapping[str, Any]) -> FeatureStats:
    from ganeval.stats import FeatureStats

    stats = FeatureStats(dim=features.shape[1], keep=("pool",), meta=dict(meta))
    stats.update(features)
    return stats


def metrics_extras(
    real: str | Path | ImageSource | FeatureStats | None,
    fake: str | Path | ImageSource | FeatureStats,
    run: RunResult,
    config: EvalConfig,
    *,
    fake_images: Any = None,
    neighbours: bool = True,
    per_class: bool = True,
    progress: ProgressReporter = NO_PROGRESS,
    cache: StatsCache | None = None,
) -> MetricsExtras:
    """The nearest-real-neighbour gallery and per-class metrics of an evaluated run (module docstring).

    real, fake, config: what `evaluate` was given; run: what it returned (its extractor and protocol are
    used). fake_images: uint8 (M, 3, H, W), the generated samples the report shows; the gallery gives
    each its NEIGHBOUR_K nearest real images in the extractor's pool-feature space, with the median
    real-to-real nearest-neighbour distance as the reference (median_nn_distance, seeded by the metric
    seed). Per-class metrics apply when `fake` is a conditional generator checkpoint sampled with
    balanced classes.

    Cost: the real and generated per-sample features come from the statistics cache, which holds them
    when the evaluated metrics kept them (kid, pr, dc, is, CIs); otherwise (or with config.use_cache
    False) they are extracted once more. Then one decoding pass over the real images (names, and the
    neighbours' pixels), a k-NN of M x N_real and one of 1000 x N_real distances. What cannot be done is
    skipped with a note, never an error.
    """
    import numpy as np

    from ganeval.cache import StatsCache
    from ganeval.datasets.folder import class_of
    from ganeval.evaluate import build_extractor
    from ganeval.extract import source_to_stats
    from ganeval.metrics import compute_metrics
    from ganeval.neighbours import REFERENCE_QUERIES, median_nn_distance, nearest_neighbours
    from ganeval.sources import GeneratorSource, ImageSource, open_input
    from ganeval.stats import FeatureStats

    notes: list[str] = []
    out_results: list[Result] = []
    prov: dict[str, Any] = {}
    if not neighbours and not per_class:
        return MetricsExtras()
    t0 = time.perf_counter()
    spec = (run.provenance.get("extractor") or {}).get("spec")
    protocol = run.provenance.get("protocol")
    opts = {"skip_bad": config.skip_bad, "allow_mixed_sizes": config.allow_mixed_sizes,
            "sampling": config.sampling}

    def opened(inp: Any) -> Any:
        if inp is None or isinstance(inp, (ImageSource, FeatureStats)):
            return inp
        return open_input(inp, **opts)

    real_in, fake_in = opened(real), opened(fake)
    conditional = per_class and isinstance(fake_in, GeneratorSource) and fake_in.generator.latent.n_classes > 0
    if cache is None and config.use_cache:
        cache = StatsCache()
    read_options = {"skip_bad": config.skip_bad, "allow_mixed_sizes": config.allow_mixed_sizes}
    built: list[Extractor] = []

    def extractor() -> Extractor:
        if not built:
            built.append(build_extractor(config, spec))
        return built[0]

    def kept_stats(source: ImageSource, keep: tuple[str, ...], label: str) -> FeatureStats:
        return source_to_stats(source, extractor(), protocol, keep=keep, batch_size=config.batch_size,
                               cache=cache if config.use_cache else None, read_options=read_options,
                               progress=progress, label=label).stats

    real_pool: list[Any] = []

    def real_features() -> Any:
        """(N, d) kept pool features of the real images (real_in is an ImageSource here)."""
        if not real_pool:
            real_pool.append(kept_stats(real_in, ("pool",), "real features (kept)").kept("pool"))
        return real_pool[0]

    # The gallery's k-NN first: it says which real images the decoding pass must keep.
    knn = shown = reference = None
    if neighbours:
        if real_in is None:
            notes.append(MSG_GALLERY_SKIPPED.format(why="there is no real input"))
        elif isinstance(real_in, FeatureStats):
            notes.append(MSG_GALLERY_SKIPPED.format(why="the real input is a statistics file, which holds no images"))
        elif fake_images is None or len(fake_images) == 0:
            notes.append(MSG_GALLERY_SKIPPED.format(why="the generated input is a statistics file, which holds no "
                                                        "images"))
        else:
            pool = real_features()
            if len(pool) < 2:
                notes.append(MSG_GALLERY_SKIPPED.format(why=f"the real set has {len(pool)} image(s); it needs 2"))
            else:
                shown = np.asarray(fake_images)
                progress.log(f"nearest-neighbour gallery: {len(shown)} generated samples among {len(pool)} real")
                feats = _features_of_images(extractor(), shown, protocol)
                k = min(NEIGHBOUR_K, len(pool))
                knn = nearest_neighbours(feats, pool, k, block_mib=config.metric.block_mib)
                reference = median_nn_distance(pool, seed=config.metric.seed, block_mib=config.metric.block_mib)

    classes: tuple[str, ...] = ()
    if conditional:
        latent = fake_in.generator.latent
        if fake_in.sampling.class_index is not None:
            notes.append(MSG_PER_CLASS_SKIPPED.format(
                what="metrics", why=f"every generated sample is class {fake_in.sampling.class_index} (--class)"))
        else:
            classes = latent.class_names or tuple(str(i) for i in range(latent.n_classes))
    real_labelled = bool(classes) and isinstance(real_in, ImageSource)
    if classes and not real_labelled:
        notes.append(MSG_PER_CLASS_SKIPPED.format(what="FID", why="per-class FID needs real images in one subfolder "
                                                  "per class, and the real input is not an image set"))

    names: list[str] = []
    real_images: dict[int, Any] = {}
    if knn is not None or real_labelled:
        wanted = set(knn.indices.ravel().tolist()) if knn is not None else set()
        names, real_images = _read_real(real_in, config.batch_size, wanted, names=real_labelled)

    gallery = None
    if knn is not None and shown is not None and reference is not None:
        h, w = shown.shape[2:]
        near = np.stack([np.stack([_fit(real_images[int(j)], h, w) for j in row]) for row in knn.indices])
        info = extractor().info
        feature = f"{info.name} pool features ({info.features['pool']}-d), Euclidean distance"
        gallery = Neighbours(fake_images=shown, real_images=near, distances=knn.distances,
                             real_indices=knn.indices, feature=feature, reference_distance=reference)
        prov["neighbours"] = {"shown": int(len(shown)), "k": int(knn.indices.shape[1]), "feature": feature,
                              "n_real": int(len(real_features())), "reference_distance": reference,
                              "reference": f"median distance of a real sample to its nearest other real sample, "
                                           f"over a seeded subset of at most {REFERENCE_QUERIES}",
                              "min_distance": float(knn.distances[:, 0].min())}

    if classes:
        info = extractor().info
        mapping, how = classifier_mapping(info, classes)
        keep = ("logits", "pool") if mapping is not None else ("pool",)
        fake_stats = kept_stats(fake_in, keep, "generated features (kept)")
        n_fake = int(fake_stats.n or 0)
        labels_fake = np.arange(n_fake) % len(classes)
        pc: dict[str, Any] = {"classes": list(classes), "fake_labels": f"sample i has class i mod {len(classes)}"}
        if real_labelled:
            real_classes = [class_of(nm) for nm in names]
            rows = {c: np.flatnonzero([rc == c for rc in real_classes]) for c in classes}
            if not any(len(v) for v in rows.values()):
                notes.append(MSG_PER_CLASS_SKIPPED.format(
                    what="FID", why=f"no real image lies in a subfolder named like a generator class "
                                    f"({', '.join(classes[:4])}{', ...' if len(classes) > 4 else ''})"))
            else:
                pool = real_features()
                fpool = fake_stats.kept("pool")
                pc["real_labels"] = "the first-level subfolder of each real image"
                for k, c in enumerate(classes):
                    r_rows, f_rows = rows[c], np.flatnonzero(labels_fake == k)
                    if len(r_rows) < 2 or len(f_rows) < 2:
                        notes.append(MSG_PER_CLASS_SKIPPED.format(
                            what="FID", why=f"class {c} has {len(r_rows)} real and {len(f_rows)} generated "
                                            "images; FID needs 2 of each"))
                        continue
                    r_stats = _stats_from(pool[r_rows], _compat_meta(fake_stats))
                    f_stats = _stats_from(fpool[f_rows], _compat_meta(fake_stats))
                    for r in compute_metrics(("fid",), r_stats, f_stats, config.metric):
                        out_results.append(dataclasses.replace(r, details={"by": "class", "group": c, **r.details}))
        if mapping is not None:
            predicted = fake_stats.kept("logits").argmax(axis=1)
            hit = predicted == mapping[labels_fake]
            details = {"classifier": info.name, "matched": how,
                       "definition": "fraction of samples whose argmax logit is their conditioning class"}
            out_results.append(Result("class_consistency", float(hit.mean()), n_fake=n_fake, details=details))
            for k, c in enumerate(classes):
                mine = hit[labels_fake == k]
                if len(mine):
                    out_results.append(Result("class_consistency", float(mine.mean()), n_fake=int(len(mine)),
                                              details={"by": "class", "group": c}))
            pc["classifier"] = {"extractor": info.name, "matched": how}
        else:
            notes.append(MSG_PER_CLASS_SKIPPED.format(what="class consistency", why=how))
        prov["per_class"] = pc
    if prov:
        prov["extras_seconds"] = round(time.perf_counter() - t0, 3)
    return MetricsExtras(results=tuple(out_results), neighbours=gallery, notes=tuple(notes), provenance=prov)


def _compat_meta(stats: FeatureStats) -> dict[str, Any]:
    """The comparability meta (extractor, weights, protocol, feature) of `stats`, for per-class subsets."""
    from ganeval.stats import COMPAT_KEYS

    return {k: stats.meta.get(k) for k in COMPAT_KEYS}
