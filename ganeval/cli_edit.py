"""`ganeval edit CKPT --classifier attr.pt --attribute smiling --steps K --strength S`: controllable generation.

    register(app)   # adds the command to a typer app (ganeval/cli.py wires it)

Thin: parse, build an EditConfig, call ganeval.edit.run_edit, print the entanglement table and write the
report (index.html, results.json, results.csv, before.png, after.png, strips.png) through
ganeval.edit.write_edit_report. Errors reach cli.main, which prints one line and exits 2 or 3.
docs/edit.md has the details.
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


def _names(text: str | None) -> tuple[str, ...]:
    from ganeval.errors import BadInputError

    if text is None:
        return ()
    names = tuple(t.strip() for t in text.split(","))
    if not all(names):
        raise BadInputError(f"--keep expects comma-separated attribute names, got {text!r}")
    return names


def edit_command(
    checkpoint: Annotated[Path, typer.Argument(help="A generator checkpoint (.pt from `ganeval train-reference`).",
                                               show_default=False)],
    classifier: Annotated[Path, typer.Option("--classifier", "-c", help="Attribute classifier: a TorchScript or "
                                             "torch.export file returning (N, K) logits (e.g. from `ganeval "
                                             "train-reference attr-classifier`).", show_default=False)],
    attribute: Annotated[str, typer.Option("--attribute", "-a", help="The attribute to move the latents toward "
                                           "(or away from, with a negative --strength).", show_default=False)],
    steps: Annotated[int, typer.Option("--steps", "-k", min=1, help="Gradient steps.")] = 10,
    strength: Annotated[float, typer.Option("--strength", "-s", help="Length of each step in latent space (the "
                                            "gradient is normalised); negative moves away from the attribute.")
                        ] = 0.25,
    keep: Annotated[Optional[str], typer.Option("--keep", help="Attributes to hold still, comma-separated: their "
                                                "logit changes are penalised (weight --penalty, default 1).",
                                                show_default=False)] = None,
    penalty: Annotated[Optional[float], typer.Option("--penalty", min=0.0, help="Weight of the penalty on the "
                                                     "squared logit changes of the --keep attributes (all other "
                                                     "attributes when --keep is not given).",
                                                     show_default=False)] = None,
    n: Annotated[int, typer.Option("-n", "--n-samples", min=2, help="Latents edited (the table averages over "
                                   "them).")] = 64,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the latents and of the bootstrap.")] = 0,
    class_index: Annotated[Optional[int], typer.Option("--class", help="Conditional generators: hold every latent "
                                                       "at this class (default: class i mod C for latent i; the "
                                                       "class never changes during the edit).",
                                                       show_default=False)] = None,
    truncation: Annotated[Optional[float], typer.Option("--truncation", min=0.0, help="Truncation psi of the "
                                                        "starting latents.", show_default=False)] = None,
    ci: Annotated[float, typer.Option("--ci", min=0.5, max=0.9999, help="Level of the bootstrap intervals.")] = 0.95,
    no_ci: Annotated[bool, typer.Option("--no-ci", help="Compute no intervals.")] = False,
    n_boot: Annotated[int, typer.Option("--n-boot", min=10, help="Bootstrap resamples.")] = 1000,
    preview: Annotated[int, typer.Option("--preview", min=0, help="Latents shown before/after and as strips.")] = 8,
    frames: Annotated[int, typer.Option("--frames", min=2, help="Frames per strip (evenly spaced steps).")] = 9,
    attributes: Annotated[Optional[str], typer.Option("--attributes", help="Attribute names of a classifier file "
                                                      "that embeds none, comma-separated, in logit order.",
                                                      show_default=False)] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Latents per gradient pass.")] = 256,
    threads: Annotated[Optional[int], typer.Option("--threads", min=1, help="CPU threads for torch.",
                                                   show_default=False)] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Report folder (default: "
                                                "reports/YYYYmmdd-HHMMSS-edit).", show_default=False)] = None,
) -> None:
    """Controllable generation: move latents along an attribute classifier's gradient, optionally holding
    other attributes still, and report how every attribute changed (the entanglement table).

    Example: ganeval edit runs/dcgan/best.pt --classifier attr.pt --attribute smiling --steps 10 --strength 0.25

    Example: ganeval edit runs/dcgan/best.pt -c attr.pt -a hat --keep glasses,beard --penalty 2 --out reports/e1
    """
    from ganeval.edit import EditConfig, entanglement_rows, run_edit, write_edit_report
    from ganeval.report.files import default_report_dir
    from ganeval.report.html import format_interval, format_number

    started = datetime.datetime.now()
    config = EditConfig(attribute=attribute.strip(), steps=steps, strength=strength, keep=_names(keep),
                        penalty=penalty, n=n, seed=seed, class_index=class_index, truncation=truncation,
                        ci=None if no_ci else ci, n_boot=n_boot, batch_size=batch_size, preview=preview,
                        frames=frames).check()
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    edit = run_edit(checkpoint, classifier, config, attributes=attributes)
    console = _out if _out.is_terminal else Console(highlight=False, width=PIPE_WIDTH)
    direction = "toward" if config.direction > 0 else "away from"
    table = Table(title=f"entanglement: {config.steps} steps {direction} {config.attribute} ({config.n} latents)",
                  show_edge=False, title_justify="left")
    for col in ("attribute", "role", "P before", "P after", "mean change", "CI", "mean |change|", "CI "):
        table.add_column(col, justify="left" if col in ("attribute", "role") else "right")
    for name, role, before, after, change, abs_change, _ in entanglement_rows(edit.run):
        table.add_row(name, role, format_number(before), format_number(after), f"{change.value:+.4f}",
                      format_interval(change.low, change.high), f"{abs_change.value:.4f}",
                      format_interval(abs_change.low, abs_change.high))
    console.print(table)
    monotone = edit.run.get("target_monotone_fraction").value
    _out.print(escape(f"{config.attribute} moved monotonically for {monotone:.1%} of latents; mean latent distance "
                      f"{edit.run.get('mean_latent_distance').value:.4g}"), soft_wrap=True)
    target = out or default_report_dir("edit", now=started)
    paths = write_edit_report(edit, target)
    _err.print(escape(f"report: {paths['html']}  (results: {paths['json']}, {paths['csv']}; grids: "
                      f"{paths.get('before', '-')}, {paths.get('after', '-')}, {paths.get('strips', '-')})"),
               soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the `edit` command to `app`."""
    app.command("edit")(edit_command)
