"""`ganeval sweep CKPT --real DIR --psi 0.1,0.2,...,1.0`: metrics across truncation values, with a report.

    register(app)   # adds the command to a typer app (ganeval/cli.py wires it)

Thin: parse, build an EvalConfig, call ganeval.sweep.sweep, write the report (ganeval.report.write_report:
the truncation curves, a sample grid per psi), print a psi x metrics table and where the report is.
Errors reach cli.main, which prints them as one line with their exit code. docs/sweep.md has the details.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ganeval.config import MetricConfig, SamplingConfig

_out = Console(highlight=False)
_err = Console(stderr=True, highlight=False)


def sweep_command(
    checkpoint: Annotated[Path, typer.Argument(help="A generator checkpoint (.pt/.pth/.ckpt, e.g. runs/dcgan/best.pt).",
                                               show_default=False)],
    real: Annotated[str, typer.Option("--real", "-r", help="Real images: a folder, .zip/.tar, .npy/.npz array or a "
                                      "statistics .npz (kept features are needed for pr, dc).", show_default=False)],
    psi: Annotated[Optional[str], typer.Option("--psi", help="Truncation values: 0.2,0.5,1.0, or 0.1,0.2,...,1.0 (the "
                                               "step of the first two, up to the last), or start:stop:step. "
                                               "Default: 0.25,0.5,...,2.0 for z-space generators, 0.1,0.2,...,1.0 "
                                               "for w-space ones.", show_default=False)] = None,
    n: Annotated[int, typer.Option("-n", "--n-samples", min=1, help="Samples generated per psi.")] = SamplingConfig.n,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the latents; every psi uses the same seed.")]
    = SamplingConfig.seed,
    class_index: Annotated[Optional[int], typer.Option("--class", help="Conditional generators: only this class "
                                                       "(default: all classes, balanced).", show_default=False)] = None,
    metrics: Annotated[str, typer.Option("--metrics", "-m", help="Comma-separated: fid, kid, is, pr "
                                         "(precision+recall), dc (density+coverage).")] = "fid,pr,dc",
    ci: Annotated[Optional[float], typer.Option("--ci", min=0.5, max=0.9999, help="Add seeded bootstrap confidence "
                                                "intervals at this level, e.g. 0.95.", show_default=False)] = None,
    n_boot: Annotated[int, typer.Option("--n-boot", min=10, help="Bootstrap resamples for --ci.")] = 100,
    metric_seed: Annotated[int, typer.Option("--metric-seed", help="Seed of the metrics' random choices (KID "
                                             "subsets, bootstrap).")] = MetricConfig.seed,
    extractor: Annotated[Optional[str], typer.Option("--extractor", "-e", help="Feature network: inception, "
                                                     "fmnist-cnn, torchscript:PATH or export:PATH. Default: inception, "
                                                     "or what saved statistics record.", show_default=False)] = None,
    protocol: Annotated[Optional[str], typer.Option("--protocol", "-p", help="Preprocessing: tf (default), "
                                                    "pytorch-fid, clean.", show_default=False)] = None,
    weights: Annotated[Optional[Path], typer.Option("--weights", help="An explicit weights file for the extractor.",
                                                    show_default=False)] = None,
    input_size: Annotated[Optional[str], typer.Option("--input-size", help="Input size of a torchscript:/export: "
                                                      "network, e.g. 224 or 224x224.", show_default=False)] = None,
    mean: Annotated[Optional[str], typer.Option("--mean", help="Per-channel mean of a user network.",
                                                show_default=False)] = None,
    std: Annotated[Optional[str], typer.Option("--std", help="Per-channel std of a user network.",
                                               show_default=False)] = None,
    value_range: Annotated[Optional[str], typer.Option("--value-range", help="Input range of a user network: unit "
                                                       "or signed.", show_default=False)] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Images per forward pass.")] = 50,
    device: Annotated[str, typer.Option("--device", help="torch device, e.g. cpu or cuda:0.")] = "cpu",
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the statistics cache (the "
                                           "real set is then extracted once per run).")] = False,
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="Skip unreadable real images.")] = False,
    allow_mixed_sizes: Annotated[bool, typer.Option("--allow-mixed-sizes", help="Accept real images of "
                                                    "different sizes.")] = False,
    offline: Annotated[bool, typer.Option("--offline", help="Never try to download weights.")] = False,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Report folder (default: "
                                                "reports/YYYYmmdd-HHMMSS-sweep).", show_default=False)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Evaluate a generator at several truncation values: the fidelity-diversity trade-off.

    For each psi: FID, precision, recall, density, coverage (by default) of N samples truncated at psi,
    against the real set (its statistics computed once, cached). Writes index.html with the curves
    (precision vs recall, each metric vs psi) and a sample grid per psi, results.json and results.csv
    (one row per metric per psi, with a psi column).

    Example: ganeval sweep runs/dcgan/best.pt --real data/real --psi 0.2,0.4,...,1.0 -n 5000 -e fmnist-cnn
    """
    from ganeval.cli import _floats3, _size
    from ganeval.cli_report import preview_images
    from ganeval.config import EvalConfig
    from ganeval.progress import ProgressReporter
    from ganeval.report import write_report
    from ganeval.report.files import default_report_dir
    from ganeval.report.html import GRID_IMAGES
    from ganeval.sweep import default_psis, parse_psis, sweep, sweep_images

    started = datetime.datetime.now()
    psis = parse_psis(psi) if psi is not None else default_psis(checkpoint)
    config = EvalConfig(
        metrics=tuple(m for m in metrics.split(",") if m.strip()), extractor=extractor, protocol=protocol,
        weights_path=str(weights) if weights else None, batch_size=batch_size, device=device,
        use_cache=not no_cache, skip_bad=skip_bad, allow_mixed_sizes=allow_mixed_sizes,
        allow_download=not offline and os.environ.get("GANEVAL_OFFLINE") != "1",
        input_size=_size(input_size), mean=_floats3(mean, "mean"), std=_floats3(std, "std"), value_range=value_range,
        sampling=SamplingConfig(n=n, seed=seed, class_index=class_index),
        metric=MetricConfig(seed=metric_seed, ci=ci, n_boot=n_boot),
    )
    progress = ProgressReporter(enabled=not quiet)
    with progress.session():
        run = sweep(checkpoint, real, psis, config, progress=progress)
        images = preview_images({"real": real}, skip_bad=skip_bad, allow_mixed_sizes=allow_mixed_sizes)
        images.update(sweep_images(checkpoint, psis, config, n=GRID_IMAGES))
        target = out or default_report_dir("sweep", now=started)
        paths = write_report(run, target, images=images, title=f"ganeval sweep: {checkpoint} vs {real}")

    per_psi: dict[float, dict[str, float]] = {}
    for r in run.results:
        per_psi.setdefault(float(r.details["psi"]), {})[r.metric] = r.value
    columns = list(dict.fromkeys(m for row in per_psi.values() for m in row))
    table = Table(show_edge=False)
    table.add_column("psi", justify="right")
    for m in columns:
        table.add_column(m, justify="right")
    for p, row in sorted(per_psi.items()):
        table.add_row(f"{p:g}", *(f"{row[m]:.6g}" if m in row else "" for m in columns))
    _out.print(table)
    trunc = run.provenance.get("truncation") or {}
    _err.print(escape(f"truncation in {trunc.get('space')}-space: {trunc.get('meaning')}"), soft_wrap=True)
    _err.print(escape(f"report: {paths['html']}  (results: {paths['json']}, {paths['csv']})"), soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the `sweep` command to `app`."""
    app.command("sweep")(sweep_command)
