"""`ganeval translate-eval CKPT --a DIR --b DIR`: evaluate an image-to-image translator (pix2pix, cyclegan).

    register(app)   # adds the command to a typer app; ganeval/cli.py calls it

The command builds a TranslateEvalConfig, calls ganeval.translate_eval.translate_eval and writes the report
(ganeval.translate_eval.write_translation_report); torch is imported only when the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape


def register(app: typer.Typer) -> None:
    """Add the `translate-eval` command to `app`."""

    @app.command("translate-eval")
    def translate_eval_command(
        checkpoint: Annotated[Path, typer.Argument(help="A translator checkpoint (best.pt / final.pt of "
                                                   "`ganeval train-reference pix2pix|cyclegan`).",
                                                   show_default=False)],
        a: Annotated[Path, typer.Option("--a", help="Folder of domain-A images (the translator's inputs).",
                                        show_default=False)],
        b: Annotated[Path, typer.Option("--b", help="Folder of domain-B images (real targets). When the file names "
                                        "of A and B match (up to the extension) they are pairs, and L1/PSNR/SSIM to "
                                        "the targets are computed too.", show_default=False)],
        out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Report folder: index.html, results.json, "
                                                    "results.csv, grid_a2b.png (default: "
                                                    "reports/YYYYmmdd-HHMMSS-translate-eval).",
                                                    show_default=False)] = None,
        metrics: Annotated[str, typer.Option("--metrics", help="Distribution metrics of translations against the "
                                             "real target images: fid,kid, or none.")] = "fid,kid",
        extractor: Annotated[Optional[str], typer.Option("--extractor", "-e", help="Feature network of FID/KID: "
                                                         "inception (default; needs its weights), fmnist-cnn "
                                                         "(offline), torchscript:PATH, export:PATH.",
                                                         show_default=False)] = None,
        weights: Annotated[Optional[Path], typer.Option("--weights", help="An explicit weights file for the "
                                                        "extractor.", show_default=False)] = None,
        protocol: Annotated[Optional[str], typer.Option("--protocol", "-p", help="Preprocessing protocol (tf, "
                                                        "pytorch-fid, clean).", show_default=False)] = None,
        image_size: Annotated[Optional[int], typer.Option("--image-size", min=1, help="Resize A and B images to "
                                                          "this square side first (bilinear, antialiased).",
                                                          show_default=False)] = None,
        dropout_seed: Annotated[Optional[int], typer.Option("--dropout-seed", min=0, help="pix2pix: keep dropout "
                                                            "on at test time, its noise seeded with this (default: "
                                                            "off, deterministic).", show_default=False)] = None,
        seed: Annotated[int, typer.Option("--seed", help="Seed of KID's subsets.")] = 0,
        batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Images per forward pass.")] = 64,
        device: Annotated[str, typer.Option("--device", help="torch device.")] = "cpu",
        threads: Annotated[Optional[int], typer.Option("--threads", min=1, help="CPU threads for torch.",
                                                       show_default=False)] = None,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    ) -> None:
        """Evaluate a pix2pix / cyclegan translator: FID/KID of translated A against real B (and B -> A for
        cyclegan), L1/PSNR/SSIM to the targets when A and B are pairs, the cycle-reconstruction error, and a
        report with input / output / target grids.

        Example: ganeval translate-eval runs/pix2pix/best.pt --a pairs/A --b pairs/B --extractor fmnist-cnn
        """
        from ganeval.errors import BadInputError
        from ganeval.progress import ProgressReporter
        from ganeval.report.files import default_report_dir
        from ganeval.translate_eval import TranslateEvalConfig, translate_eval, write_translation_report

        names = tuple(m.strip().lower() for m in metrics.split(",") if m.strip() and m.strip().lower() != "none")
        unknown = sorted(set(names) - {"fid", "kid"})
        if unknown:
            raise BadInputError(f"--metrics takes fid, kid or none, not {', '.join(unknown)}")
        if threads is not None:
            import torch

            torch.set_num_threads(threads)
        config = TranslateEvalConfig(metrics=names, extractor=extractor, weights_path=str(weights) if weights else None,
                                     protocol=protocol, image_size=image_size, dropout_seed=dropout_seed,
                                     batch_size=batch_size, device=device, metric_seed=seed)
        target = out or default_report_dir("translate-eval")
        progress = ProgressReporter(enabled=not quiet)
        with progress.session():
            evaluation = translate_eval(checkpoint, a, b, config, progress=progress)
        paths = write_translation_report(evaluation, target)
        console = Console(highlight=False)
        for r in evaluation.run.results:
            std = f" ± {r.std:.3g}" if r.std is not None else ""
            console.print(escape(f"{r.metric:>16}  {r.value:.6g}{std}"), soft_wrap=True)
        console.print(escape(f"report: {paths['html']}"), soft_wrap=True)
