"""`ganeval train-reference NAME`: train a reference GAN (reference_models) from the command line.

    register(app)   # adds the command to a typer app; ganeval/cli.py calls it

The command only builds a TrainConfig (reference_models.loop.make_config, or config_for_resume with
--resume) and calls reference_models.loop.train; a non-GAN trainer (reference_models.registry's
OtherTrainerSpec: the attribute classifier) gets the options it takes and runs its own code path. Torch and the trainers are imported when the command
runs or its --help is shown, so `ganeval --help` stays fast; the NAME and --dataset choices in that
help come from the trainer and dataset registries.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperCommand

NAME_HELP = "Which reference model to train: {choices}."
DATASET_HELP = ("Training data: a registered dataset ({choices}) or an image folder / archive (class = first-level "
                "subfolder). Default: fashion-mnist.")


def _trainer_choices() -> str:
    from reference_models import available_other_trainers, available_trainers

    specs = {**available_trainers(), **available_other_trainers()}
    return "; ".join(f"{n} ({s.description})" for n, s in sorted(specs.items()))


def _dataset_choices() -> str:
    from ganeval.datasets import available_datasets

    return ", ".join(sorted(available_datasets()))


class _TrainCommand(TyperCommand):
    """Fills the NAME and --dataset help from the registries when the help is shown (not at import)."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        for param in self.params:
            if param.name == "name":
                param.help = NAME_HELP.format(choices=_trainer_choices())  # type: ignore[attr-defined]
            elif param.name == "dataset":
                param.help = DATASET_HELP.format(choices=_dataset_choices())  # type: ignore[attr-defined]
        return super().format_help(ctx, formatter)


def register(app: typer.Typer) -> None:
    """Add the `train-reference` command to `app`."""

    @app.command("train-reference", cls=_TrainCommand)
    def train_reference(
        name: Annotated[str, typer.Argument(help=NAME_HELP.format(choices="gan, dcgan, wgan-gp, cgan, ..."),
                                            show_default=False)],
        dataset: Annotated[Optional[str], typer.Option(help=DATASET_HELP.format(choices="fashion-mnist, digits"),
                                                       show_default=False)] = None,
        data_dir: Annotated[Optional[Path], typer.Option(help="Folder holding the Fashion-MNIST (or MNIST) IDX files "
                                                         "(default: $GANEVAL_DATA_DIR, then "
                                                         "/usr/share/datasets/fashion-mnist).",
                                                         show_default=False)] = None,
        data: Annotated[Optional[Path], typer.Option("--data", help="attr-classifier: the attribute-labelled folder "
                                                     "to train on (synthfaces, CelebA layout).",
                                                     show_default=False)] = None,
        image_size: Annotated[Optional[int], typer.Option("--image-size", "--size", min=1,
                                                          help="Resize images to this square side "
                                                          "(bilinear, antialiased). Default: the dataset's own "
                                                          "(digits: 16).", show_default=False)] = None,
        steps: Annotated[Optional[int], typer.Option(min=1, help="Generator updates to train for (default 3000).",
                                                     show_default=False)] = None,
        epochs: Annotated[Optional[float], typer.Option(min=0.0, help="Train for this many passes over the data "
                                                        "instead of --steps.", show_default=False)] = None,
        batch_size: Annotated[Optional[int], typer.Option(min=1, help="Real images per step (default: the model's, "
                                                          "64 or 128).", show_default=False)] = None,
        lr_g: Annotated[Optional[float], typer.Option(help="Generator learning rate (default: the model's paper "
                                                      "value, 2e-4 or 1e-4).", show_default=False)] = None,
        lr_d: Annotated[Optional[float], typer.Option(help="Discriminator / critic learning rate.",
                                                      show_default=False)] = None,
        z_dim: Annotated[Optional[int], typer.Option(min=1, help="Latent size (default 64).",
                                                     show_default=False)] = None,
        width: Annotated[Optional[int], typer.Option(min=1, help="Network width: channels of the last hidden layer "
                                                     "(default: 32 for conv models, 128 for gan).",
                                                     show_default=False)] = None,
        seed: Annotated[Optional[int], typer.Option(help="Seed of every random draw (init, data order, latents). "
                                                    "Default 0.", show_default=False)] = None,
        ema: Annotated[Optional[float], typer.Option(help="Keep an exponential moving average of the generator "
                                                     "weights with this decay, e.g. 0.999; evaluation and the "
                                                     "saved generators then use it.", show_default=False)] = None,
        n_classes: Annotated[Optional[int], typer.Option(min=1, help="cgan: classes to condition on (default: all "
                                                         "of the dataset's; fewer keeps the first N classes).",
                                                         show_default=False)] = None,
        condition_on: Annotated[Optional[str], typer.Option(help="Attribute-labelled data (synthfaces, CelebA "
                                                            "layout): condition on this binary attribute, e.g. "
                                                            "smiling (its 0/1 values are the classes).",
                                                            show_default=False)] = None,
        eval_every: Annotated[Optional[int], typer.Option(min=0, help="Compute FID (fmnist-cnn) on the held-out set "
                                                          "at step 0, every N steps and at the end; 0: never "
                                                          "(default 500).",
                                                          show_default=False)] = None,
        sample_every: Annotated[Optional[int], typer.Option(min=0, help="Write a sample grid to OUT/samples every N "
                                                            "steps and at the end; 0: never (default 500).",
                                                            show_default=False)] = None,
        checkpoint_every: Annotated[Optional[int], typer.Option(min=0, help="Save the resumable state OUT/last.pt "
                                                                "every N steps (always at the end and on Ctrl-C; "
                                                                "default 500).",
                                                                show_default=False)] = None,
        n_eval: Annotated[Optional[int], typer.Option(min=2, help="Samples generated per evaluation, and the most "
                                                      "held-out real images compared (default 2000).",
                                                      show_default=False)] = None,
        limit: Annotated[Optional[int], typer.Option(min=1, help="Train on the first N images only (quick trials).",
                                                     show_default=False)] = None,
        device: Annotated[Optional[str], typer.Option(help="torch device, e.g. cpu or cuda:0 (default cpu; bit-exact "
                                                      "resume is guaranteed on the CPU).", show_default=False)] = None,
        threads: Annotated[Optional[int], typer.Option(min=1, help="CPU threads for torch (default: torch's own, "
                                                       "one per core). The reference networks are small: on a busy "
                                                       "machine --threads 1 can be several times faster. Bit-exact "
                                                       "resume needs the same count as the interrupted run.",
                                                       show_default=False)] = None,
        out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Run folder (default runs/NAME).",
                                                    show_default=False)] = None,
        resume: Annotated[bool, typer.Option("--resume", help="Continue the run in OUT from OUT/last.pt (settings "
                                             "stored there; only --steps and the intervals may change).")] = False,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or log lines.")] = False,
    ) -> None:
        """Train a reference GAN, keeping its best generator by in-training FID.

        Writes OUT/best.pt and OUT/final.pt (generator checkpoints for `ganeval sample`, `ganeval fid`, ...),
        OUT/last.pt (resumable state), OUT/manifest.json, OUT/history.csv, OUT/samples/*.png and the run's
        report OUT/index.html (with results.json and results.csv).

        Example: ganeval train-reference dcgan --dataset fashion-mnist --steps 3000 --out runs/dcgan

        attr-classifier (not a GAN) trains the bias audit's attribute classifier instead and writes OUT (a
        TorchScript file) and OUT's .json: ganeval train-reference attr-classifier --data DIR --out attr.pt
        """
        given = {k: v for k, v in locals().items() if k != "name"}  # every option, None / False when not given
        from ganeval.errors import BadInputError
        from ganeval.progress import ProgressReporter
        from reference_models import available_other_trainers

        other = available_other_trainers().get(name)
        if other is not None:  # a non-GAN trainer (the attribute classifier): its own code path
            _run_other(other, given)
            return
        if data is not None:
            raise BadInputError(f"--data is for non-GAN trainers ({', '.join(sorted(available_other_trainers()))}); "
                                f"{name} takes --dataset and --data-dir")

        from reference_models.loop import TrainingInterrupted, config_for_resume, make_config, train

        err = Console(stderr=True, highlight=False)
        overrides: dict[str, Any] = {
            "steps": steps, "epochs": epochs, "eval_every": eval_every, "sample_every": sample_every,
            "checkpoint_every": checkpoint_every, "device": device,
        }
        settings: dict[str, Any] = {
            "dataset": dataset, "data_dir": str(data_dir) if data_dir else None, "image_size": image_size,
            "batch_size": batch_size, "lr_g": lr_g, "lr_d": lr_d, "z_dim": z_dim, "width": width, "seed": seed,
            "ema": ema, "n_classes": n_classes, "n_eval": n_eval, "limit": limit, "condition_on": condition_on,
        }
        if steps is not None and epochs is not None:
            raise BadInputError("give --steps or --epochs, not both")
        if resume:
            run_dir = out if out is not None else Path("runs") / name
            config = config_for_resume(run_dir, trainer=name, **overrides, **settings)
        else:
            config = make_config(name, out=str(out) if out is not None else None, **overrides, **settings)
        if threads is not None:
            import torch

            torch.set_num_threads(threads)
        progress = ProgressReporter(enabled=not quiet)
        try:
            result = train(config, resume=resume, progress=progress)
        except TrainingInterrupted as exc:
            err.print(f"[yellow]{escape(str(exc))}[/]", soft_wrap=True)
            sys.exit(exc.exit_code)
        console = Console(highlight=False)
        line = f"finished {config.trainer} at step {result.step}: {result.final}"
        if result.best is not None and result.best_fid is not None:
            line += f"; best FID {result.best_fid:.3f} at step {result.best_step}: {result.best}"
        console.print(escape(line), soft_wrap=True)
        report = Path(result.out) / "index.html"
        if report.is_file():
            console.print(escape(f"report: {report}"), soft_wrap=True)


def _run_other(spec: Any, given: dict[str, Any]) -> None:
    """Run a non-GAN trainer with the options it takes; any other option given is an error (one line)."""
    from ganeval.errors import BadInputError
    from ganeval.progress import ProgressReporter

    extra = sorted(k for k, v in given.items() if k not in spec.options and v is not None and v is not False)
    if extra:
        flags = ", ".join("--" + k.replace("_", "-") for k in extra)
        raise BadInputError(f"{spec.name} does not take {flags}; it takes "
                            + ", ".join("--" + o.replace("_", "-") for o in spec.options))
    if given.get("threads") is not None:
        import torch

        torch.set_num_threads(given["threads"])
    settings = {k: given.get(k) for k in spec.options}
    text = spec.run(settings, ProgressReporter(enabled=not given.get("quiet")))
    Console(highlight=False).print(escape(text), soft_wrap=True)
