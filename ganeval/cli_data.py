"""`ganeval data ...`: make and inspect labelled datasets (synthfaces, attribute tables).

    register(app)   # adds the `data` command group to a typer app; ganeval/cli.py calls it

Thin, like the rest of the CLI: parse, build a SynthFacesConfig, call
ganeval.datasets.synthfaces.write_synthfaces (or read an attribute table), print. Errors reach
cli.main, which prints them as one line with their exit code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ganeval.datasets.synthfaces import ATTRIBUTES, DEFAULT_MARGINALS, DEFAULT_N, DEFAULT_SIZE, MAX_SIZE, MIN_SIZE

_out = Console(highlight=False)

_DEFAULTS = ", ".join(f"{name}={p:g}" for name, p in DEFAULT_MARGINALS.items())


def synthfaces(
    out: Annotated[Path, typer.Option("--out", "-o", help="The folder to create (images/, attributes.csv, "
                                      "synthfaces.json).", show_default=False)],
    n: Annotated[int, typer.Option("--n", "-n", help="Number of images.")] = DEFAULT_N,
    size: Annotated[int, typer.Option("--size", help=f"Image side in pixels ({MIN_SIZE}..{MAX_SIZE}).")]
    = DEFAULT_SIZE,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the attributes and of the nuisance: same seed and "
                                      "settings, same bytes.")] = 0,
    p: Annotated[Optional[list[str]], typer.Option(
        "--p", metavar="NAME=P", help=f"NAME=P: the fraction of images with attribute NAME (repeatable). Attributes: "
                    f"{', '.join(ATTRIBUTES)} (skin_tone: 1 = dark, 0 = light). Defaults: {_DEFAULTS}.",
        show_default=False)] = None,
    correlate: Annotated[Optional[list[str]], typer.Option(
        "--correlate", metavar="A:B=R", help="A:B=R: the phi (Pearson) correlation of attributes A and B (repeatable), e.g. "
                            "hat:glasses=0.8; pairs not named are independent.", show_default=False)] = None,
    workers: Annotated[int, typer.Option("--workers", "-j", min=1, help="Processes that render (the files do not "
                                         "depend on it).")] = 1,
    force: Annotated[bool, typer.Option("--force", help="Replace a previous synthfaces folder at --out.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Render a procedural, labelled face-like dataset with the attribute distribution you ask for.

    Example: ganeval data synthfaces --n 20000 --size 64 --out data/faces --p hat=0.3 --correlate hat:glasses=0.8
    """
    from ganeval.datasets.synthfaces import SynthFacesConfig, parse_correlation, parse_marginal, write_synthfaces
    from ganeval.progress import ProgressReporter

    config = SynthFacesConfig(n=n, size=size, seed=seed, marginals=tuple(parse_marginal(t) for t in p or ()),
                              correlations=tuple(parse_correlation(t) for t in correlate or ()))
    progress = ProgressReporter(enabled=not quiet)
    with progress.session():
        summary = write_synthfaces(out, config, force=force, workers=workers, progress=progress)
    record = summary.record
    _out.print(escape(f"wrote {n} synthfaces images ({size}x{size}, seed {seed}) to {summary.out} in "
                      f"{summary.seconds:.1f} s ({n / max(summary.seconds, 1e-9):.0f} img/s)"))
    table = Table("attribute", "requested P", "realised P")
    for name in ATTRIBUTES:
        table.add_row(name, f"{record['marginals']['model'][name]:.3f}", f"{record['marginals']['realised'][name]:.3f}")
    _out.print(table)
    for pair, r in record["correlations"]["requested"].items():
        realised = record["correlations"]["realised"].get(pair)
        _out.print(escape(f"phi({pair}): requested {r:g}, realised {realised:.3f}" if realised is not None else
                          f"phi({pair}): requested {r:g}, realised undefined (a constant attribute)"))


def attributes(
    path: Annotated[Path, typer.Argument(help="An attribute table (attributes.csv or CelebA's list_attr_celeba.txt "
                                         "layout) or a folder holding one.", show_default=False)],
    convert: Annotated[Optional[Path], typer.Option("--convert", help="Also write the table to this file: .csv "
                                                    "as ganeval's attributes.csv, .txt in CelebA's layout.",
                                                    show_default=False)] = None,
) -> None:
    """Check an attribute table and print each attribute's prevalence; optionally convert its layout.

    Example: ganeval data attributes celeba/Anno/list_attr_celeba.txt --convert celeba/attributes.csv
    """
    from ganeval.datasets.attributes import read_attributes, write_attributes

    table = read_attributes(path)
    _out.print(escape(f"{table.path}: {len(table)} images, {len(table.names)} attributes ({table.layout} layout)"))
    out = Table("attribute", "prevalence")
    for name, value in table.prevalence().items():
        out.add_row(escape(name), f"{value:.4f}")
    _out.print(out)
    if convert is not None:
        written = write_attributes(convert, table)
        _out.print(escape(f"wrote {written}"))


def register(app: typer.Typer) -> None:
    """Add the `data` command group (`synthfaces`, `attributes`) to `app`."""
    data_app = typer.Typer(help="Labelled datasets: render synthfaces, check and convert attribute tables.",
                           no_args_is_help=True)
    data_app.command("synthfaces")(synthfaces)
    data_app.command("attributes")(attributes)
    app.add_typer(data_app, name="data")
