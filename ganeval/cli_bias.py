"""`ganeval bias`: audit a generator (or a classifier on a labelled folder) for bias; see docs/bias.md.

    register(app)   # adds the command to a typer app; ganeval/cli.py calls it

The command parses, builds a BiasConfig, calls ganeval.bias.audit.audit, prints the numbers and writes
index.html, results.json and results.csv through write_bias_report (into --out, else into
reports/YYYYmmdd-HHMMSS-bias, as docs/reports.md says). Torch and the
audit are imported when the command runs, so `ganeval --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

out_console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)
PAIRS_SHOWN = 5  # co-occurrence pairs printed (the report and results.csv have all of them)
PIPE_WIDTH = 200  # tables printed into a pipe or file keep full names instead of rich's 80-column ellipses


def _console() -> Console:
    return out_console if out_console.is_terminal else Console(highlight=False, width=PIPE_WIDTH)


def _names(text: str | None, flag: str) -> tuple[str, ...]:
    from ganeval.errors import BadInputError

    if text is None:
        return ()
    names = tuple(t.strip() for t in text.split(","))
    if not all(names):
        raise BadInputError(f"{flag} expects comma-separated attribute names, got {text!r}")
    return names


def read_sample_weights(path: Path) -> Any:
    """(N,) float64 weights from a .npy file or a text file with one number per line (BadInputError otherwise)."""
    import numpy as np

    from ganeval.errors import BadInputError

    if not path.is_file():
        raise BadInputError(f"no such sample-weights file: {path}")
    try:
        if path.suffix.lower() == ".npy":
            w = np.load(path, allow_pickle=False)
        else:
            w = np.loadtxt(path, dtype=np.float64, ndmin=1, delimiter=",")
    except (ValueError, OSError) as exc:
        raise BadInputError(f"cannot read sample weights from {path}: {' '.join(str(exc).split())[:200]}") from None
    w = np.asarray(w)
    if w.ndim != 1 or w.dtype.kind not in "biuf":
        raise BadInputError(f"{path}: sample weights must be one number per image (a 1-D array), got "
                            f"{w.dtype} {w.shape}")
    return w.astype(np.float64)


def _fmt(value: float | None) -> str:
    from ganeval.report.html import format_number

    return "" if value is None else format_number(value)


def _ci(r: Any) -> str:
    return "" if r.ci_low is None else f"[{_fmt(r.ci_low)}, {_fmt(r.ci_high)}]"


def _iv(interval: tuple[float, float] | None) -> str:
    return "" if interval is None else f"[{_fmt(interval[0])}, {_fmt(interval[1])}]"


def _print_tables(bias: Any) -> None:
    console = _console()
    rows = bias.run.results
    prevalence = {}
    for r in rows:
        if r.metric.startswith("prevalence_") or r.metric == "classifier_accuracy":
            prevalence.setdefault(r.details["group"], {})[r.metric] = r
    if prevalence:
        metrics = list(dict.fromkeys(m for per in prevalence.values() for m in per))
        table = Table(title="prevalence", show_edge=False, title_justify="left")
        table.add_column("attribute")
        for m in metrics:
            table.add_column(m.replace("prevalence_", ""), justify="right")
        for name, per in prevalence.items():
            table.add_row(escape(name), *[escape(f"{_fmt(per[m].value)} {_ci(per[m])}".strip()) if m in per else ""
                                          for m in metrics])
        console.print(table)
    overall = [r for r in rows if "by" not in r.details and not r.metric.startswith("prevalence_")]
    discrepancy = [r for r in rows if r.metric.startswith("discrepancy_")]
    if overall or discrepancy:
        table = Table(title="measures", show_edge=False, title_justify="left")
        for col in ("measure", "value", "CI", "note"):
            table.add_column(col, justify="left" if col in ("measure", "note") else "right")
        for r in discrepancy:
            table.add_row(escape(f"{r.metric} [{r.details['group']}]"), _fmt(r.value), escape(_ci(r)),
                          escape(f"vs {r.details['reference']}, {r.details['cells']} cells"))
        for r in overall:
            note = ""
            if r.metric.endswith("_gap"):
                note = f"{r.details['high_group']} minus {r.details['low_group']}"
            table.add_row(escape(r.metric), _fmt(r.value), escape(_ci(r)), escape(note))
        console.print(table)
    pairs = bias.prevalence.cooccurrence
    if pairs is not None:
        roles = pairs.roles
        has_ref = pairs.reference is not None
        table = Table(title=f"co-occurrence (phi of each pair; the {PAIRS_SHOWN} strongest among the {roles[0]} "
                            "images)", show_edge=False, title_justify="left")
        for col in ["pair", f"phi {roles[0]}", "CI"] + ([f"phi {roles[1]}", "CI ", "difference", "CI  "]
                                                         if has_ref else []):
            table.add_column(col, justify="left" if col == "pair" else "right")
        finite = [j for j in range(len(pairs.pairs)) if pairs.audited[j] == pairs.audited[j]]
        for j in sorted(finite, key=lambda j: -abs(pairs.audited[j]))[:PAIRS_SHOWN]:
            pair = pairs.pairs[j]
            cells = [f"{pair[0]}:{pair[1]}", _fmt(float(pairs.audited[j])), _iv(pairs.interval("audited", pair))]
            if has_ref:
                cells += [_fmt(float(pairs.reference[j])), _iv(pairs.interval("reference", pair)),
                          _fmt(float(pairs.difference[j])), _iv(pairs.interval("difference", pair))]
            table.add_row(*[escape(c) for c in cells])
        console.print(table)
    if bias.associations is not None:
        a = bias.associations
        table = Table(title=f"implicit associations with {a.target} ({a.n_latents} latents)", show_edge=False,
                      title_justify="left")
        for col in ("attribute", "sign", "covariance", "CI", "correlation", "CI "):
            table.add_column(col, justify="left" if col == "attribute" else "right")
        for row in a.top_associations():
            cov_ci, corr_ci = row["covariance_ci"], row["correlation_ci"]
            table.add_row(escape(row["attribute"]), row["sign"], _fmt(row["covariance"]), escape(_iv(cov_ci)),
                          _fmt(row["correlation"]), escape(_iv(corr_ci)))
        console.print(table)


def register(app: typer.Typer) -> None:
    """Add the `bias` command to `app`."""

    @app.command("bias")
    def bias(
        classifier: Annotated[Path, typer.Option("--classifier", "-c", help="Attribute classifier: a TorchScript or "
                                                 "torch.export file returning (N, K) logits (e.g. from `ganeval "
                                                 "train-reference attr-classifier`).", show_default=False)],
        generator: Annotated[Optional[Path], typer.Option("--generator", "-g", help="Generator checkpoint to audit "
                                                          "(.pt from `ganeval train-reference`).",
                                                          show_default=False)] = None,
        data: Annotated[Optional[Path], typer.Option("--data", help="Instead of a generator: audit the classifier on "
                                                     "this labelled folder (attributes.csv or CelebA's "
                                                     "list_attr_celeba.txt); its labels are the ground truth.",
                                                     show_default=False)] = None,
        real: Annotated[Optional[Path], typer.Option("--real", help="Reference images for the prevalence comparison: "
                                                     "a labelled folder (its labels are used) or any image folder "
                                                     "(classified). Default: the balanced 0.5 target.",
                                                     show_default=False)] = None,
        target: Annotated[Optional[str], typer.Option("--target", "-t", help="The attribute whose predictions are "
                                                      "compared across groups, and the latents are moved toward.",
                                                      show_default=False)] = None,
        protected: Annotated[Optional[str], typer.Option("--protected", help="Protected attribute(s), comma-separated; "
                                                         "several define intersectional groups.",
                                                         show_default=False)] = None,
        n: Annotated[int, typer.Option("-n", "--n-samples", min=1, help="Generated samples (per class for a "
                                       "conditional generator).")] = 1000,
        seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the latents and of the bootstrap.")] = 0,
        truncation: Annotated[Optional[float], typer.Option("--truncation", min=0.0, help="Truncation psi of the "
                                                            "latents.", show_default=False)] = None,
        threshold: Annotated[float, typer.Option("--threshold", help="A probability >= this is a positive "
                                                 "prediction.")] = 0.5,
        method: Annotated[str, typer.Option("--method", help="Differences and ratios between_groups or to_overall "
                                            "(fairlearn's option).")] = "between_groups",
        agg: Annotated[str, typer.Option("--agg", help="Equalized odds: worst_case or mean of the TPR and FPR "
                                         "measures (fairlearn's option).")] = "worst_case",
        ci: Annotated[float, typer.Option("--ci", min=0.5, max=0.9999, help="Level of the bootstrap intervals.")] = 0.95,
        no_ci: Annotated[bool, typer.Option("--no-ci", help="Compute no intervals (faster).")] = False,
        n_boot: Annotated[int, typer.Option("--n-boot", min=10, help="Bootstrap resamples.")] = 1000,
        unstratified: Annotated[bool, typer.Option("--unstratified", help="Resample all rows together instead of "
                                                   "each protected group within itself.")] = False,
        associations: Annotated[bool, typer.Option("--associations", help="Implicit associations: move latents "
                                                   "toward / away from --target and see which attributes follow.")
                                ] = False,
        n_associations: Annotated[Optional[int], typer.Option("--n-associations", min=2, help="Latents moved "
                                                              "(default: min(500, samples)).",
                                                              show_default=False)] = None,
        steps: Annotated[int, typer.Option("--steps", min=1, help="Gradient steps per direction.")] = 10,
        step_size: Annotated[float, typer.Option("--step-size", help="Length of each step in latent space.")] = 0.2,
        penalty: Annotated[float, typer.Option("--penalty", min=0.0, help="Weight of a penalty on the other "
                                               "attributes' logit changes.")] = 0.0,
        top_k: Annotated[int, typer.Option("--top-k", min=0, help="Associated attributes reported.")] = 5,
        classify_real: Annotated[bool, typer.Option("--classify-real", help="Classify the --real images even when "
                                                    "their folder has labels.")] = False,
        attributes: Annotated[Optional[str], typer.Option("--attributes", help="Attribute names of a classifier "
                                                          "file that embeds none, comma-separated, in logit order.",
                                                          show_default=False)] = None,
        sample_weights: Annotated[Optional[Path], typer.Option("--sample-weights", help="One weight per audited "
                                                               "image, in order (.npy, or text: one per line), for "
                                                               "the fairness metrics.", show_default=False)] = None,
        batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Images per forward pass.")] = 256,
        threads: Annotated[Optional[int], typer.Option("--threads", min=1, help="CPU threads for torch.",
                                                       show_default=False)] = None,
        out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write index.html, results.json and "
                                                    "results.csv into this folder (default: "
                                                    "reports/YYYYmmdd-HHMMSS-bias).", show_default=False)] = None,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    ) -> None:
        """Audit a generator for bias with an attribute classifier: prevalence vs real data, group fairness
        (fairlearn's definitions) and implicit associations, each with bootstrap intervals.

        Example: ganeval bias --generator runs/cgan/best.pt --classifier attr.pt --real data/faces
        --target smiling --protected skin_tone --associations --out reports/bias1

        Example: ganeval bias --classifier attr.pt --data data/faces --target smiling --protected skin_tone

        The report goes to --out, else to reports/YYYYmmdd-HHMMSS-bias; its path is printed at the end.
        """
        import datetime

        from ganeval.bias.audit import BiasConfig, audit, summary_lines, write_bias_report
        from ganeval.progress import ProgressReporter
        from ganeval.report.files import default_report_dir

        started = datetime.datetime.now()

        config = BiasConfig(
            target=target, protected=_names(protected, "--protected"), n=n, seed=seed, truncation=truncation,
            threshold=threshold, method=method, agg=agg, ci=None if no_ci else ci, n_boot=n_boot, boot_seed=seed,
            stratify=not unstratified, associations=associations, n_associations=n_associations, steps=steps,
            step_size=step_size, penalty=penalty, top_k=top_k, classify_real=classify_real, batch_size=batch_size)
        config.check()
        weights = read_sample_weights(sample_weights) if sample_weights is not None else None
        if threads is not None:
            import torch

            torch.set_num_threads(threads)
        progress = ProgressReporter(enabled=not quiet)
        with progress.session():
            result = audit(classifier, generator=generator, data=data, real=real, config=config,
                           attributes=attributes, sample_weight=weights, progress=progress)
        _print_tables(result)
        for line in summary_lines(result.run):
            out_console.print(escape(line), soft_wrap=True)
        for warning in result.run.provenance.get("warnings") or []:
            err_console.print(f"[yellow]warning:[/] {escape(str(warning))}", soft_wrap=True)
        paths = write_bias_report(result, out or default_report_dir("bias", now=started))
        err_console.print(escape(f"report: {paths['html']}  (results: {paths['json']}, {paths['csv']})"))
