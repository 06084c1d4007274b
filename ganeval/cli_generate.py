"""`ganeval sample` and `ganeval export`: generator checkpoints to images, or to programs usable elsewhere.

Thin, like the rest of the CLI: parse, call ganeval.generators.write_samples / export_generator, print.
cli.py calls `register(app)`; errors reach cli.main, which prints them as one line with their exit code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from ganeval.config import SamplingConfig
from ganeval.progress import ProgressReporter

_out = Console(highlight=False)

Checkpoint = Annotated[Path, typer.Argument(help="A ganeval generator checkpoint (.pt/.pth/.ckpt).",
                                            show_default=False)]


def sample(
    checkpoint: Checkpoint,
    out: Annotated[Path, typer.Option("--out", "-o", help="A folder for PNGs (000000.png, ...) or a FILE.npz.",
                                      show_default=False)],
    n: Annotated[int, typer.Option("-n", "--n-samples", help="How many images.")] = SamplingConfig.n,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the latents: same seed, same images.")]
    = SamplingConfig.seed,
    class_index: Annotated[Optional[int], typer.Option("--class", help="Conditional generators: only this class "
                                                       "(default: all classes, balanced).", show_default=False)] = None,
    truncation: Annotated[Optional[float], typer.Option("--truncation", help="Truncation psi: every latent component "
                                                        "|z| <= psi (0: the mean latent).", show_default=False)] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", help="Images generated and written per step; the "
                                            "images do not depend on it.")] = 256,
    device: Annotated[str, typer.Option("--device", help="torch device, e.g. cpu or cuda:0.")] = "cpu",
    force: Annotated[bool, typer.Option("--force", help="Replace an existing .npz, or a folder holding a previous "
                                        "`ganeval sample` output.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Generate N images from CHECKPOINT into a folder of PNGs or one .npz, with samples.json describing them.

    Example: ganeval sample runs/dcgan/best.pt -n 10000 --seed 0 --out samples/dcgan
    """
    from ganeval.generators import load_generator, samples_json_path, write_samples

    gen = load_generator(checkpoint, device)
    progress = ProgressReporter(enabled=not quiet)
    with progress.session():
        written = write_samples(gen, out, n, seed=seed, batch_size=batch_size, class_index=class_index,
                                truncation=truncation, force=force, progress=progress)
    what = "an .npz" if written.suffix.lower() == ".npz" else "PNGs"
    _out.print(escape(f"wrote {n} samples of {gen.architecture} (seed {seed}) as {what} to {written}; "
                      f"settings in {samples_json_path(written)}"))


def export(
    checkpoint: Checkpoint,
    format: Annotated[str, typer.Option("--format", "-f", help="torchscript (torch.jit.load) or export "
                                        "(torch.export.load; usually named .pt2).", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="The file to write.", show_default=False)],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> None:
    """Write CHECKPOINT's generator as a TorchScript file or a torch.export program, usable without ganeval.

    It takes z (N, z_dim) (and labels (N,) for conditional generators) and returns images (N, C, H, W)
    in the declared output range; the latent spec is embedded as the extra file ganeval.json.

    Example: ganeval export runs/dcgan/best.pt --format export --out dcgan.pt2
    """
    from ganeval.generators import export_generator, load_generator

    gen = load_generator(checkpoint)
    written = export_generator(gen, out, format, force=force)
    inputs = "z, labels" if gen.latent.n_classes else "z"
    _out.print(escape(f"wrote {format} program of {gen.architecture} to {written}: ({inputs}) -> images "
                      f"{list(gen.latent.image_shape)} in {list(gen.latent.output_range)}"))
    if format == "export" and written.suffix != ".pt2":
        _out.print("note: torch.export.load warns about files not named .pt2")


def register(app: typer.Typer) -> None:
    """Add `sample` and `export` to the ganeval app."""
    app.command("sample")(sample)
    app.command("export")(export)
