"""The `ganeval` command line: parse, build a config, call one library function, print or write.

Every command is also one call in Python (ganeval.evaluate, ganeval.weights, ganeval.cache).
Errors are one line on stderr with the exit codes of DESIGN.md: 2 bad input, 3 missing weights,
1 anything unexpected (run with GANEVAL_DEBUG=1 to see the traceback).
"""

from __future__ import annotations

import datetime
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ganeval import __version__, cli_bias, cli_data, cli_generate, cli_report, cli_sweep, cli_train
from ganeval import cli_translate
from ganeval import cli_augment, cli_edit
from ganeval.config import EvalConfig, MetricConfig, SamplingConfig
from ganeval.errors import BadInputError, GanevalError
from ganeval.progress import ProgressReporter

app = typer.Typer(
    help="GAN evaluation and bias audits: FID, KID, IS, precision/recall, density/coverage, with provenance.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False, rich_markup_mode="rich",
)
weights_app = typer.Typer(help="Feature-network weights: where they are, whether they verify, how to install them.",
                          no_args_is_help=True)
cache_app = typer.Typer(help="The statistics cache ($GANEVAL_CACHE_DIR, default ~/.cache/ganeval).",
                        no_args_is_help=True)
app.add_typer(weights_app, name="weights")
app.add_typer(cache_app, name="cache")

out_console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

# -- shared options ------------------------------------------------------------------------------
Real = Annotated[str, typer.Argument(help="Real images: a folder, .zip/.tar, .npy/.npz array, a statistics .npz, "
                                     "or a generator checkpoint (.pt/.pth/.ckpt).", show_default=False)]
Fake = Annotated[str, typer.Argument(help="Generated images, in any of the forms REAL takes.", show_default=False)]
ExtractorOpt = Annotated[Optional[str], typer.Option(
    "--extractor", "-e",
    help="Feature network: inception (the standard FID Inception; needs its weights file), fmnist-cnn (offline, "
         "Fashion-MNIST-like data), torchscript:PATH or export:PATH. Default: inception, or what saved "
         "statistics record.", show_default=False)]
ProtocolOpt = Annotated[Optional[str], typer.Option(
    "--protocol", "-p", help="Preprocessing: tf (TTUR/torch-fidelity, the default), pytorch-fid, clean (clean-fid).",
    show_default=False)]
WeightsOpt = Annotated[Optional[Path], typer.Option("--weights", help="An explicit weights file for the extractor "
                                                    "(verified by sha256).", show_default=False)]
BatchOpt = Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Images per forward pass.")]
DeviceOpt = Annotated[str, typer.Option("--device", help="torch device, e.g. cpu or cuda:0.")]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the statistics cache.")]
SkipBadOpt = Annotated[bool, typer.Option("--skip-bad", help="Skip unreadable images (counted in the results) "
                                          "instead of stopping.")]
MixedOpt = Annotated[bool, typer.Option("--allow-mixed-sizes", help="Accept images of different sizes (each is "
                                        "resized to the extractor's input).")]
OfflineOpt = Annotated[bool, typer.Option("--offline", help="Never try to download weights.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of every random choice (KID subsets, IS shuffle, "
                                      "bootstrap).")]
CiOpt = Annotated[Optional[float], typer.Option("--ci", min=0.5, max=0.9999, help="Add seeded bootstrap "
                                                "confidence intervals at this level, e.g. 0.95.",
                                                show_default=False)]
NBootOpt = Annotated[int, typer.Option("--n-boot", min=10, help="Bootstrap resamples for --ci.")]
InputSizeOpt = Annotated[Optional[str], typer.Option("--input-size", help="Input size of a torchscript:/export: "
                                                     "network, e.g. 224 or 224x224.", show_default=False)]
MeanOpt = Annotated[Optional[str], typer.Option("--mean", help="Per-channel mean (on 0..1 pixels) of a user "
                                                "network, e.g. 0.485,0.456,0.406.", show_default=False)]
StdOpt = Annotated[Optional[str], typer.Option("--std", help="Per-channel std of a user network.",
                                               show_default=False)]
ValueRangeOpt = Annotated[Optional[str], typer.Option("--value-range", help="Input range of a user network: unit "
                                                     "(pixels/255, then --mean/--std) or signed ([-1, 1]).",
                                                     show_default=False)]
OutOpt = Annotated[Optional[Path], typer.Option("--out", "-o", help="Write index.html (a self-contained report), "
                                                "results.json and results.csv into this folder.",
                                                show_default=False)]
MetricsOutOpt = Annotated[Optional[Path], typer.Option("--out", "-o", help="Write index.html (a self-contained "
                                                       "report), results.json and results.csv into this folder "
                                                       "(default: reports/YYYYmmdd-HHMMSS-metrics).",
                                                       show_default=False)]
NoNeighboursOpt = Annotated[bool, typer.Option("--no-neighbours", help="Leave the nearest-real-neighbour gallery "
                                               "out of the report (it needs per-sample real features: from the "
                                               "cache, else one more pass over the real images).")]
# Sampling of generator checkpoint inputs (ganeval.config.SamplingConfig; docs/generators.md).
NSamplesOpt = Annotated[int, typer.Option("--n-samples", help="Generator checkpoint inputs: how many images to "
                                          "generate.")]
SampleSeedOpt = Annotated[int, typer.Option("--sample-seed", help="Generator checkpoint inputs: seed of the latents "
                                            "(same seed, same images).")]
ClassOpt = Annotated[Optional[int], typer.Option("--class", help="Conditional generator checkpoints: generate only "
                                                 "this class (default: all classes, balanced).", show_default=False)]
TruncationOpt = Annotated[Optional[float], typer.Option("--truncation", help="Generator checkpoint inputs: "
                                                        "truncation psi, every latent component |z| <= psi "
                                                        "(0: the mean latent).", show_default=False)]


def _floats3(text: str | None, what: str) -> tuple[float, float, float] | None:
    if text is None:
        return None
    try:
        vals = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise BadInputError(f"--{what} expects three comma-separated numbers, got {text!r}") from None
    if len(vals) == 1:
        vals = vals * 3
    if len(vals) != 3:
        raise BadInputError(f"--{what} expects three comma-separated numbers, got {text!r}")
    return vals  # type: ignore[return-value]


def _size(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        parts = [int(v) for v in text.lower().replace("x", ",").split(",")]
    except ValueError:
        raise BadInputError(f"--input-size expects N or HxW, got {text!r}") from None
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or min(parts) < 1:
        raise BadInputError(f"--input-size expects N or HxW, got {text!r}")
    return parts[0], parts[1]


def _sampling(inputs: tuple[str, ...], n: int, seed: int, class_index: int | None,
              truncation: float | None) -> SamplingConfig:
    """The sampling settings; a warning when they are set but no input is a generator checkpoint."""
    from ganeval.generators import CHECKPOINT_EXTENSIONS

    sampling = SamplingConfig(n=n, seed=seed, class_index=class_index, truncation=truncation)
    if sampling != SamplingConfig() and not any(str(p).lower().endswith(CHECKPOINT_EXTENSIONS) for p in inputs):
        err_console.print("[yellow]warning:[/] --n-samples/--sample-seed/--class/--truncation apply to generator "
                          "checkpoint inputs only; none was given", soft_wrap=True)
    return sampling


def _eval_config(*, metrics: tuple[str, ...], extractor, protocol, weights, batch_size, device, no_cache, skip_bad,
                 allow_mixed_sizes, offline, input_size, mean, std, value_range, metric: MetricConfig,
                 sampling: SamplingConfig | None = None) -> EvalConfig:
    return EvalConfig(
        metrics=metrics, extractor=extractor, protocol=protocol,
        weights_path=str(weights) if weights else None, batch_size=batch_size, device=device,
        use_cache=not no_cache, skip_bad=skip_bad, allow_mixed_sizes=allow_mixed_sizes,
        allow_download=not offline and os.environ.get("GANEVAL_OFFLINE") != "1",
        input_size=_size(input_size), mean=_floats3(mean, "mean"), std=_floats3(std, "std"),
        value_range=value_range, metric=metric, sampling=sampling or SamplingConfig(),
    )


def _fmt(value: float | None, digits: int = 6) -> str:
    if value is None:
        return ""
    return f"{value:.{digits}g}"


def _results_table(run) -> Table:
    from ganeval.report.html import result_label

    table = Table(title=None, show_edge=False)
    for col in ("metric", "value", "± std", "CI", "N real", "N fake"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for r in run.results:
        ci = f"[{_fmt(r.ci_low)}, {_fmt(r.ci_high)}] @{r.ci_level:g}" if r.ci_low is not None else ""
        table.add_row(escape(result_label(r)), _fmt(r.value), _fmt(r.std, 3), ci, str(r.n_real or ""),
                      str(r.n_fake or ""))
    return table


def _provenance_line(run) -> str:
    p = run.provenance
    ext = p.get("extractor", {})
    sha = (ext.get("weights_sha256") or "none")[:12]
    ins = p.get("inputs", {})
    cached = [role for role, d in ins.items() if d.get("cached")]
    line = f"extractor {ext.get('name')} (weights {sha}), protocol {p.get('protocol')}, seed {p['seeds']['metric_seed']}"
    if cached:
        line += f", cached: {', '.join(cached)}"
    skipped = {role: d.get("skipped") for role, d in ins.items() if d.get("skipped")}
    if skipped:
        line += ", skipped " + ", ".join(f"{n} in {role}" for role, n in skipped.items())
    return line


def _run_eval(real, fake, config: EvalConfig, quiet: bool, out: Path | None, *, extras: bool = False,
              neighbours: bool = False):
    """evaluate(); with `out`, the report: sample grids and, with `extras`, the neighbour gallery (when
    `neighbours`) and per-class metrics of a conditional generator (cli_report.metrics_extras)."""
    from ganeval.evaluate import evaluate
    from ganeval.report import write_report

    progress = ProgressReporter(enabled=not quiet)
    paths = None
    with progress.session():
        run = evaluate(real, fake, config, progress=progress)
        if out:
            images = cli_report.preview_images({"real": real, "fake": fake}, skip_bad=config.skip_bad,
                                               allow_mixed_sizes=config.allow_mixed_sizes, sampling=config.sampling)
            sections: list = []
            gallery = None
            if extras:
                added = cli_report.metrics_extras(real, fake, run, config, fake_images=images.get("fake"),
                                                  neighbours=neighbours, progress=progress)
                run, gallery, sections = added.apply(run), added.neighbours, added.sections()
            paths = write_report(run, out, images=images, neighbours=gallery, sections=sections)
    return run, paths


@app.command()
def fid(
    real: Real, fake: Fake, extractor: ExtractorOpt = None, protocol: ProtocolOpt = None, weights: WeightsOpt = None,
    batch_size: BatchOpt = 50, device: DeviceOpt = "cpu", no_cache: NoCacheOpt = False, skip_bad: SkipBadOpt = False,
    allow_mixed_sizes: MixedOpt = False, offline: OfflineOpt = False, seed: SeedOpt = 2020, ci: CiOpt = None,
    n_boot: NBootOpt = 100, input_size: InputSizeOpt = None, mean: MeanOpt = None, std: StdOpt = None, value_range: ValueRangeOpt = None,
    out: OutOpt = None, quiet: QuietOpt = False, n_samples: NSamplesOpt = SamplingConfig.n,
    sample_seed: SampleSeedOpt = SamplingConfig.seed, class_index: ClassOpt = None, truncation: TruncationOpt = None,
) -> None:
    """Print the Frechet Inception Distance between REAL and FAKE.

    Example: ganeval fid data/real samples/dcgan --extractor fmnist-cnn
    Example: ganeval fid data/real runs/dcgan/best.pt --n-samples 10000 --sample-seed 0
    """
    config = _eval_config(metrics=("fid",), extractor=extractor, protocol=protocol, weights=weights,
                          batch_size=batch_size, device=device, no_cache=no_cache, skip_bad=skip_bad,
                          allow_mixed_sizes=allow_mixed_sizes, offline=offline, input_size=input_size, mean=mean,
                          std=std, value_range=value_range, metric=MetricConfig(seed=seed, ci=ci, n_boot=n_boot),
                          sampling=_sampling((real, fake), n_samples, sample_seed, class_index, truncation))
    run, paths = _run_eval(real, fake, config, quiet, out)
    r = run.get("fid")
    shown = 0.0 if abs(r.value) < 5e-7 else r.value  # rounding can leave -1e-12 for identical sets
    line = f"FID: {shown:.6f}"
    if r.ci_low is not None:
        line += f"  ({r.ci_level:g} CI {r.ci_low:.6f} .. {r.ci_high:.6f}, {r.n_boot} resamples)"
    out_console.print(line)
    err_console.print(f"[dim]{escape(_provenance_line(run))}[/]")
    for w in r.details.get("warnings", []) if isinstance(r.details, dict) else []:
        err_console.print(f"[yellow]warning:[/] {escape(w)}")
    if paths:
        err_console.print(escape(f"report: {paths['html']}  (results: {paths['json']}, {paths['csv']})"))


@app.command()
def metrics(
    real: Real, fake: Fake,
    metrics: Annotated[str, typer.Option("--metrics", "-m", help="Comma-separated: fid, kid, is, pr "
                                         "(precision+recall), dc (density+coverage).")] = "fid,kid,is,pr,dc",
    extractor: ExtractorOpt = None, protocol: ProtocolOpt = None, weights: WeightsOpt = None,
    batch_size: BatchOpt = 50, device: DeviceOpt = "cpu", no_cache: NoCacheOpt = False, skip_bad: SkipBadOpt = False,
    allow_mixed_sizes: MixedOpt = False, offline: OfflineOpt = False, seed: SeedOpt = 2020, ci: CiOpt = None,
    n_boot: NBootOpt = 100,
    kid_subsets: Annotated[int, typer.Option(min=1, help="KID: number of subsets.")] = 100,
    kid_subset_size: Annotated[int, typer.Option(min=2, help="KID: subset size (reduced to N when N is "
                                                 "smaller; the result says so).")] = 1000,
    is_splits: Annotated[int, typer.Option(min=1, help="IS: number of splits.")] = 10,
    pr_k: Annotated[int, typer.Option(min=1, help="Precision/recall: k of the k-NN balls.")] = 3,
    dc_k: Annotated[int, typer.Option(min=1, help="Density/coverage: k of the k-NN balls.")] = 5,
    nn_inclusive: Annotated[bool, typer.Option("--nn-inclusive", help="Count distance == radius as inside "
                                               "(<=, Kynkaanniemi et al.'s code) instead of < (prdc).")] = False,
    input_size: InputSizeOpt = None, mean: MeanOpt = None, std: StdOpt = None, value_range: ValueRangeOpt = None,
    out: MetricsOutOpt = None, quiet: QuietOpt = False, n_samples: NSamplesOpt = SamplingConfig.n,
    sample_seed: SampleSeedOpt = SamplingConfig.seed, class_index: ClassOpt = None, truncation: TruncationOpt = None,
    no_neighbours: NoNeighboursOpt = False,
) -> None:
    """Compute several metrics between REAL and FAKE and write a report (index.html, results.json, results.csv).

    The report goes to --out, else to reports/YYYYmmdd-HHMMSS-metrics; its path is printed at the end.
    Example: ganeval metrics data/real samples/dcgan --metrics fid,kid,pr,dc --ci 0.95 --out reports/run1
    """
    from ganeval.report.files import default_report_dir

    started = datetime.datetime.now()
    names = tuple(m for m in metrics.split(",") if m.strip())
    mcfg = MetricConfig(seed=seed, ci=ci, n_boot=n_boot, kid_subsets=kid_subsets, kid_subset_size=kid_subset_size,
                        is_splits=is_splits, pr_k=pr_k, dc_k=dc_k, nn_strict=not nn_inclusive)
    config = _eval_config(metrics=names, extractor=extractor, protocol=protocol, weights=weights,
                          batch_size=batch_size, device=device, no_cache=no_cache, skip_bad=skip_bad,
                          allow_mixed_sizes=allow_mixed_sizes, offline=offline, input_size=input_size, mean=mean,
                          std=std, value_range=value_range, metric=mcfg,
                          sampling=_sampling((real, fake), n_samples, sample_seed, class_index, truncation))
    out = out or default_report_dir("metrics", now=started)
    run, paths = _run_eval(real, fake, config, quiet, out, extras=True, neighbours=not no_neighbours)
    out_console.print(_results_table(run))
    err_console.print(f"[dim]{escape(_provenance_line(run))}[/]")
    if paths:
        err_console.print(escape(f"report: {paths['html']}  (results: {paths['json']}, {paths['csv']})"))


@app.command()
def stats(
    input: Annotated[str, typer.Argument(help="Images: a folder, archive or array file, or a generator checkpoint "
                                         "(.pt/.pth/.ckpt).", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="The .npz to write (mu/sigma readable by "
                                         "pytorch-fid).", show_default=False)],
    keep_features: Annotated[bool, typer.Option("--keep-features", help="Also store the per-sample features "
                                                "(and logits), so KID, IS, PR and DC can use the file.")] = False,
    extractor: ExtractorOpt = None, protocol: ProtocolOpt = None, weights: WeightsOpt = None,
    batch_size: BatchOpt = 50, device: DeviceOpt = "cpu", no_cache: NoCacheOpt = False, skip_bad: SkipBadOpt = False,
    allow_mixed_sizes: MixedOpt = False, offline: OfflineOpt = False,
    input_size: InputSizeOpt = None, mean: MeanOpt = None, std: StdOpt = None, value_range: ValueRangeOpt = None, quiet: QuietOpt = False,
    n_samples: NSamplesOpt = SamplingConfig.n, sample_seed: SampleSeedOpt = SamplingConfig.seed,
    class_index: ClassOpt = None, truncation: TruncationOpt = None,
) -> None:
    """Save the feature statistics of INPUT; the file is accepted anywhere a folder is.

    Example: ganeval stats data/real -o real.npz --keep-features
    """
    from ganeval.evaluate import build_extractor, compute_stats, settle_extractor_and_protocol  # noqa: F401

    config = _eval_config(metrics=("fid",), extractor=extractor, protocol=protocol, weights=weights,
                          batch_size=batch_size, device=device, no_cache=no_cache, skip_bad=skip_bad,
                          allow_mixed_sizes=allow_mixed_sizes, offline=offline, input_size=input_size, mean=mean,
                          std=std, value_range=value_range, metric=MetricConfig(),
                          sampling=_sampling((input,), n_samples, sample_seed, class_index, truncation))
    keep: tuple[str, ...] = ()
    if keep_features:
        keep = ("pool", "logits")
    progress = ProgressReporter(enabled=not quiet)
    with progress.session():
        result, prov = compute_stats(input, config, keep=keep, progress=progress)
    result.save(output)
    out_console.print(f"wrote {output}: {result.n} images, {result.dim}-d {prov['extractor']['name']} features, "
                      f"protocol {prov['protocol']}")


@app.command()
def extractors() -> None:
    """List the registered feature extractors."""
    from ganeval.extractors import available_extractors

    table = Table(show_edge=False)
    for col in ("name", "offline", "weights", "description"):
        table.add_column(col)
    for name, e in sorted(available_extractors().items()):
        table.add_row(name + (":PATH" if e.takes_argument else ""), "yes" if e.offline else "no",
                      e.weights or "-", e.description)
    out_console.print(table)


@weights_app.command("status")
def weights_status() -> None:
    """Show each known weights file: found where, verified or not."""
    from ganeval.weights import weights_status as status

    table = Table(show_edge=False)
    for col in ("name", "status", "where", "path / how to get it"):
        table.add_column(col)
    for row in status():
        if row.get("found"):
            state = "[green]verified[/]" if row.get("verified") else "[red]unverified[/]"
            table.add_row(row["name"], state, str(row.get("where", "")), str(row.get("path", "")))
        else:
            table.add_row(row["name"], "[yellow]missing[/]", "", f"ganeval weights install {row['name']} FILE "
                          f"(from {row.get('url')})")
    out_console.print(table)


@weights_app.command("install")
def weights_install(
    name: Annotated[str, typer.Argument(help="Which weights, e.g. inception.")],
    file: Annotated[Path, typer.Argument(help="The downloaded file; it is verified and copied, never moved.")],
) -> None:
    """Verify FILE and copy it into ganeval's weights folder."""
    from ganeval.weights import install_weights

    resolved = install_weights(name, file)
    out_console.print(f"installed {name} weights at {resolved.path} (sha256 {resolved.sha256[:16]}...)")


@weights_app.command("download")
def weights_download(name: Annotated[str, typer.Argument(help="Which weights, e.g. inception.")]) -> None:
    """Download the weights from their canonical URL (needs a network), verify and install them."""
    from ganeval.weights import download_weights

    resolved = download_weights(name)
    out_console.print(f"downloaded {name} weights to {resolved.path} (sha256 {resolved.sha256[:16]}...)")


@cache_app.command("ls")
def cache_ls() -> None:
    """List cached statistics: input, extractor, protocol, N, size, age."""
    from ganeval.cache import StatsCache, describe_age

    cache = StatsCache()
    entries = cache.entries()
    table = Table(show_edge=False, title=f"{cache.root} ({len(entries)} entries)")
    for col in ("key", "input", "extractor", "protocol", "N", "size", "age"):
        table.add_column(col)
    for e in entries:
        src = e.meta.get("source") or {}
        table.add_row(e.key[:12], str(src.get("path", "?")), str(e.meta.get("extractor", "?")),
                      str(e.meta.get("protocol", "?")), str(e.meta.get("n", "?")),
                      f"{e.size_bytes / 2**20:.1f} MiB", describe_age(e.modified))
    out_console.print(table)


@cache_app.command("clear")
def cache_clear() -> None:
    """Remove every cached statistics file."""
    from ganeval.cache import StatsCache

    cache = StatsCache()
    n = cache.clear()
    out_console.print(f"removed {n} cached entr{'y' if n == 1 else 'ies'} from {cache.root}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write data and results.")] = Path("reports/demo"),
    n: Annotated[int, typer.Option("-n", min=100, help="Images per set.")] = 2000,
    quiet: QuietOpt = False,
) -> None:
    """Run the main job end to end on built-in data (Fashion-MNIST) and print where the results are."""
    from ganeval.demo import run_demo

    run_demo(Path(out), n=n, progress=ProgressReporter(enabled=not quiet), console=out_console)


# Commands that live in their own modules register on the app here.
cli_data.register(app)
cli_generate.register(app)
cli_report.register(app)
cli_train.register(app)
cli_bias.register(app)
cli_sweep.register(app)
cli_translate.register(app)
cli_edit.register(app)
cli_augment.register(app)


def _version_callback(value: bool) -> None:
    if value:
        out_console.print(f"ganeval {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version_callback, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """GAN evaluation and bias audits with trustworthy numbers."""


def main() -> None:
    """Entry point: run the app, turning errors into one line and an exit code."""
    try:
        app()
    except GanevalError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("[bold red]interrupted[/]")
        sys.exit(130)
    except Exception as exc:  # a traceback is a bug: say so in one line
        if os.environ.get("GANEVAL_DEBUG"):
            raise
        err_console.print(f"[bold red]internal error:[/] {type(exc).__name__}: {escape(str(exc))} "
                          "(set GANEVAL_DEBUG=1 for the traceback; please report it)", soft_wrap=True)
        sys.exit(1)
