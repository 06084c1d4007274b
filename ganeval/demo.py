"""`ganeval demo`: the main job end to end on built-in data, offline.

Fashion-MNIST train images are the reference ("real") set; Fashion-MNIST test images and copies of
them degraded by increasing blur and noise play the generated sets. Every set is written as a PNG
folder and evaluated through the same path a user's folders take (source -> protocol -> extractor
-> cached statistics -> metrics -> results files). A sound metric must rank the sets: the FID of
the clean test images is the floor, and it rises with each degradation step.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ganeval.atomic import atomic_write_text
from ganeval.cli_report import preview_images
from ganeval.config import EvalConfig, MetricConfig
from ganeval.datasets.fashion_mnist import load_fashion_mnist
from ganeval.evaluate import evaluate
from ganeval.progress import NO_PROGRESS, ProgressReporter
from ganeval.report import write_comparison, write_report

SEED = 2020
DEMO_METRICS = ("fid", "kid", "is", "pr", "dc")


@dataclass(frozen=True)
class Degradation:
    name: str
    kind: str  # "none" | "blur" | "noise"
    level: float


LADDERS = (
    (Degradation("test", "none", 0.0),),
    (Degradation("blur-0.5", "blur", 0.5), Degradation("blur-1.0", "blur", 1.0), Degradation("blur-2.0", "blur", 2.0)),
    (Degradation("noise-16", "noise", 16.0), Degradation("noise-32", "noise", 32.0),
     Degradation("noise-64", "noise", 64.0)),
)


def degrade(images: np.ndarray, d: Degradation, seed: int) -> np.ndarray:
    """Apply `d` to uint8 (N, H, W) images: Gaussian blur of radius `level`, or additive N(0, level^2) noise."""
    if d.kind == "none":
        return images
    if d.kind == "blur":
        return np.stack([np.asarray(Image.fromarray(im).filter(ImageFilter.GaussianBlur(d.level))) for im in images])
    rng = np.random.default_rng(seed)
    noisy = images.astype(np.float64) + rng.normal(0.0, d.level, size=images.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def write_png_folder(images: np.ndarray, folder: Path) -> Path:
    """Write uint8 (N, H, W) images as 00000.png ...; rewrites only files whose bytes differ."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, im in enumerate(images):
        buf = io.BytesIO()
        Image.fromarray(im).save(buf, format="PNG")
        path = folder / f"{i:05d}.png"
        data = buf.getvalue()
        if not path.is_file() or path.read_bytes() != data:
            path.write_bytes(data)
    for stale in sorted(folder.glob("*.png"))[len(images):]:
        stale.unlink()
    return folder


def run_demo(out: Path, *, n: int = 2000, extractor: str = "fmnist-cnn", progress: ProgressReporter = NO_PROGRESS,
             console: Console | None = None) -> list[dict]:
    """Write the demo sets under out/data, evaluate each against the real set, write results; return the rows."""
    console = console or Console()
    train, _ = load_fashion_mnist("train")
    test, _ = load_fashion_mnist("test")
    rng = np.random.default_rng(SEED)
    real_images = train[np.sort(rng.choice(len(train), n, replace=False))]
    test_images = test[np.sort(rng.choice(len(test), n, replace=False))]

    data = out / "data"
    console.print(escape(f"writing {n} Fashion-MNIST train images and the test/degraded sets under {data}"))
    real_dir = write_png_folder(real_images, data / "real-train")
    config = EvalConfig(metrics=DEMO_METRICS, extractor=extractor, protocol="tf", batch_size=200,
                        metric=MetricConfig(seed=SEED, ci=0.95, n_boot=50))
    rows: list[dict] = []
    with progress.session():
        for ladder in LADDERS:
            for step, d in enumerate(ladder):
                fake_dir = write_png_folder(degrade(test_images, d, SEED + step), data / d.name)
                run = evaluate(real_dir, fake_dir, config, progress=progress)
                write_report(run, out / d.name, images=preview_images({"real": real_dir, "fake": fake_dir}),
                             title=f"Fashion-MNIST train vs {d.name}")
                row = {"set": d.name, "degradation": d.kind, "level": d.level}
                for r in run.results:
                    row[r.metric] = r.value
                    if r.metric == "fid":
                        row["fid_ci_low"], row["fid_ci_high"] = r.ci_low, r.ci_high
                rows.append(row)

    names = [d.name for ladder in LADDERS for d in ladder]
    index, _ = write_comparison([out / name for name in names], out, names=names,
                                title="ganeval demo: Fashion-MNIST train vs test and degraded copies")
    summary = out / "summary.csv"
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(summary, buf.getvalue())

    table = Table(title=f"Fashion-MNIST train (N={n}) vs ...", show_edge=False)
    cols = ["set", "fid", "kid", "is", "precision", "recall", "density", "coverage"]
    for c in cols:
        table.add_column(c, justify="left" if c == "set" else "right")
    for row in rows:
        table.add_row(*[row["set"]] + [f"{row[c]:.4g}" if c in row else "" for c in cols[1:]])
    console.print(table)

    by_name = {r["set"]: r["fid"] for r in rows}
    checks = []
    for ladder in LADDERS[1:]:
        fids = [by_name["test"]] + [by_name[d.name] for d in ladder]
        ok = all(a < b for a, b in zip(fids, fids[1:]))
        checks.append(ok)
        kind = ladder[0].kind
        console.print(f"FID rises with {kind}: {'[green]yes[/]' if ok else '[red]NO[/]'} "
                      f"({' < '.join(f'{f:.3g}' for f in fids)})")
    console.print(escape(f"report: {index['html']} (open it in a browser); per set: {out}/<set>/index.html; "
                         f"tables: {summary}, {out}/<set>/results.csv (extractor {extractor}, protocol tf, "
                         f"seed {SEED}, 95% bootstrap CIs)"))
    if not all(checks):
        console.print("[red]warning: a degradation did not raise the FID; the metric or the data is suspect[/]")
    return rows
