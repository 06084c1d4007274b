"""`ganeval augment-eval --generator CKPT --real-train DATA --real-test DATA`: GAN data augmentation and CAS.

    register(app)   # adds the command to a typer app (ganeval/cli.py wires it)

Thin: parse, build an AugmentConfig, call ganeval.augment_eval.augment_eval, print the fraction x regime
table and write the report (index.html, results.json, results.csv) through write_augment_report.
Errors reach cli.main, which prints one line and exits 2 or 3. docs/augment.md has the details.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

_out = Console(highlight=False)
_err = Console(stderr=True, highlight=False)
PIPE_WIDTH = 160


def _numbers(text: str, flag: str, kind: type) -> tuple:
    from ganeval.errors import BadInputError

    try:
        values = tuple(kind(t.strip()) for t in text.split(",") if t.strip())
    except ValueError:
        raise BadInputError(f"{flag} expects comma-separated {'integers' if kind is int else 'numbers'}, "
                            f"got {text!r}") from None
    if not values:
        raise BadInputError(f"{flag} is empty")
    return values


def augment_command(
    generator: Annotated[Path, typer.Option("--generator", "-g", help="A conditional generator checkpoint (e.g. "
                                            "from `ganeval train-reference cgan`).", show_default=False)],
    real_train: Annotated[str, typer.Option("--real-train", help="Labelled real training images: a folder or "
                                            "archive (class = first-level subfolder) or a built-in dataset, "
                                            "NAME[:SPLIT], e.g. fashion-mnist:train.", show_default=False)],
    real_test: Annotated[str, typer.Option("--real-test", help="Labelled real test images, as --real-train, e.g. "
                                           "fashion-mnist:test.", show_default=False)],
    fractions: Annotated[str, typer.Option("--fractions", help="Fractions of the real training set (stratified, "
                                           "seeded subsets).")] = "0.01,0.1,1.0",
    seeds: Annotated[str, typer.Option("--seeds", help="One repetition per seed (subset, generated images, init, "
                                       "data order); the intervals are over seeds.")] = "0,1,2",
    gen_per_class: Annotated[int, typer.Option("--gen-per-class", min=1, help="Generated images per class.")] = 1000,
    epochs: Annotated[float, typer.Option("--epochs", min=0.0, help="Passes over each regime's training set.")] = 5.0,
    min_steps: Annotated[int, typer.Option("--min-steps", min=0, help="At least this many updates per "
                                           "classifier (small subsets).")] = 200,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Training batch size.")] = 128,
    width: Annotated[int, typer.Option("--width", min=1, help="Classifier width (FashionCNN; 32 is fmnist-cnn's).")
                     ] = 32,
    lr: Annotated[float, typer.Option("--lr", min=0.0, help="Peak learning rate (AdamW, one-cycle).")] = 3e-3,
    regimes: Annotated[str, typer.Option("--regimes", help="Which of real, real+generated, generated to train.")
                       ] = "real,real+generated,generated",
    test_limit: Annotated[Optional[int], typer.Option("--test-limit", min=1, help="Test on a stratified subset of "
                                                      "about this many real test images.", show_default=False)] = None,
    truncation: Annotated[Optional[float], typer.Option("--truncation", min=0.0, help="Truncation psi of the "
                                                        "generator's latents.", show_default=False)] = None,
    ci: Annotated[float, typer.Option("--ci", min=0.5, max=0.9999, help="Level of the t-intervals over seeds.")
                  ] = 0.95,
    threads: Annotated[Optional[int], typer.Option("--threads", min=1, help="CPU threads for torch.",
                                                   show_default=False)] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Report folder (default: "
                                                "reports/YYYYmmdd-HHMMSS-augment-eval).", show_default=False)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Does a conditional generator's data help a classifier? Train the same small classifier on real, real +
    generated and generated-only data (Classification Accuracy Score) at several real-data fractions and
    test each on real test images; accuracy means with Student-t intervals over seeds.

    Example: ganeval augment-eval --generator runs/cgan/best.pt --real-train fashion-mnist:train
    --real-test fashion-mnist:test --fractions 0.01,0.1,1.0 --seeds 0,1,2 --out reports/aug1
    """
    from ganeval.augment_eval import AugmentConfig, augment_eval, write_augment_report
    from ganeval.progress import ProgressReporter
    from ganeval.report.files import default_report_dir
    from ganeval.report.html import format_interval, format_number

    started = datetime.datetime.now()
    config = AugmentConfig(fractions=_numbers(fractions, "--fractions", float), seeds=_numbers(seeds, "--seeds", int),
                           gen_per_class=gen_per_class, epochs=epochs, min_steps=min_steps, batch_size=batch_size,
                           lr=lr, width=width, ci=ci, truncation=truncation,
                           regimes=tuple(r.strip() for r in regimes.split(",") if r.strip()),
                           test_limit=test_limit).check()
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    progress = ProgressReporter(enabled=not quiet)
    with progress.session():
        result = augment_eval(generator, real_train, real_test, config, progress=progress)
    console = _out if _out.is_terminal else Console(highlight=False, width=PIPE_WIDTH)
    rows = {(r.details["regime"], r.details["fraction"]): r for r in result.run.results if r.metric == "test_accuracy"}
    gains = {r.details["fraction"]: r for r in result.run.results if r.metric == "augmentation_gain"}
    regs = [r for r in ("real", "real+generated", "generated") if r in config.regimes]
    table = Table(title=f"test accuracy, mean [{ci:g} t-interval] over seeds {list(config.seeds)}", show_edge=False,
                  title_justify="left")
    for col in ("fraction", *regs, "gain (b)-(a)"):
        table.add_column(col, justify="right")

    def shown(r: object) -> str:
        return "" if r is None else f"{format_number(r.value)} {format_interval(r.ci_low, r.ci_high)}".strip()

    for f in sorted(config.fractions):
        table.add_row(f"{f:g}", *(shown(rows.get((g, None if g == "generated" else f))) for g in regs),
                      shown(gains.get(f)))
    console.print(table)
    for warning in result.run.provenance.get("warnings") or []:
        _err.print(f"[yellow]warning:[/] {escape(str(warning))}", soft_wrap=True)
    target = out or default_report_dir("augment-eval", now=started)
    paths = write_augment_report(result, target)
    _err.print(escape(f"report: {paths['html']}  (results: {paths['json']}, {paths['csv']})"), soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the `augment-eval` command to `app`."""
    app.command("augment-eval")(augment_command)
