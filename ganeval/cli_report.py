"""`ganeval report DIR [DIR...] --out DIR`: several runs side by side, as index.html and comparison.csv.

Thin, like the rest of the CLI: parse, call ganeval.report.write_comparison, print. cli.py calls
`register(app)`; errors reach cli.main, which prints them as one line with their exit code.

`preview_images` is here for the computing commands (fid, metrics, ...): the few images their reports
show as sample grids, read from the same inputs with the same reading options.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape

from ganeval.config import SamplingConfig
from ganeval.report.html import GRID_IMAGES

_out = Console(highlight=False)
_err = Console(stderr=True, highlight=False)


def report(
    dirs: Annotated[list[Path], typer.Argument(help="Run folders (each with the results.json that `ganeval metrics "
                                               "--out` or `ganeval fid --out` wrote), or results.json files.",
                                               show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for index.html and comparison.csv.",
                                      show_default=False)],
    names: Annotated[Optional[str], typer.Option("--names", help="Comma-separated column names, one per run "
                                                 "(default: the folder names).", show_default=False)] = None,
    title: Annotated[Optional[str], typer.Option("--title", help="Page title (default: the run names).",
                                                 show_default=False)] = None,
) -> None:
    """Compare runs side by side: one column per run, one row per metric with CIs, provenance differences
    highlighted and a warning when the numbers were measured differently (not comparable).

    Example: ganeval report reports/dcgan reports/wgan-gp reports/cgan --out reports/compare
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
