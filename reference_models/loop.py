"""The shared training loop of the reference GANs: one config, one loop, a small step per model.

    TrainConfig -> dataset (train + fixed held-out) -> trainer.build (seeded init) -> repeat:
        trainer.step -> EMA -> history row -> [evaluate: FID (+ class consistency) -> best.pt]
        -> [sample grid] -> [last.pt + manifest.json + history.csv]
    -> final.pt -> index.html + results.json + results.csv (ganeval.report.training; also on Ctrl-C)

Reproducibility: every random draw comes from torch.Generators seeded from `TrainConfig.seed`
(`derive_seed(seed, "init" | "data" | "noise")`): weight init, the data order, latents and WGAN-GP's
interpolation weights. Nothing uses numpy's, Python's or torch's global RNG. Evaluation and sample
grids draw from their own fixed seeds and never touch the training state. So on the CPU, two runs with
one seed end with identical weights, and a run stopped at step k and resumed from out/last.pt ends
exactly as an uninterrupted one (tests/test_trainers.py checks both).

Ctrl-C finishes the current step, saves out/last.pt and raises TrainingInterrupted (a second Ctrl-C
stops at once; out/last.pt then holds the last periodic checkpoint). `train(config, resume=True)`
continues from out/last.pt.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import datetime as _dt
import hashlib
import io
import json
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import torch
from rich.markup import escape
from torch import nn

from ganeval.atomic import atomic_write_text
from ganeval.datasets import available_datasets, load_dataset
from ganeval.datasets.fashion_mnist import CLASSES as FMNIST_CLASSES
from ganeval.errors import BadInputError, GanevalError
from ganeval.generators import save_generator
from ganeval.progress import NO_PROGRESS, ProgressReporter
from reference_models.evaluation import EvalResult, Evaluator, sample_grid, write_png
from reference_models.registry import DataInfo, Models, StepContext, TrainerSpec, get_trainer
from reference_models.state import read_state, save_state

LAST, BEST, FINAL = "last.pt", "best.pt", "final.pt"
MANIFEST, HISTORY, SAMPLES = "manifest.json", "history.csv", "samples"
HELDOUT_SEED = 1234  # which real images are held out / compared: fixed, so FIDs of different runs compare
MANIFEST_FORMAT = "ganeval-train-run-1"

# Settings that may differ when a run is resumed: they do not change the training trajectory.
RESUMABLE_FIELDS = frozenset({"steps", "epochs", "eval_every", "sample_every", "checkpoint_every", "log_every",
                              "device", "out"})

MSG_RUN_EXISTS = ("{out} already holds a training run ({what}); continue it with --resume, or choose another --out")
MSG_RESUME_HINT = "ganeval train-reference {name} --out {out} --resume"


def derive_seed(seed: int, stream: str) -> int:
    """A 63-bit seed for one random stream ("init", "data", "noise") of a run seeded with `seed`."""
    digest = hashlib.sha256(f"ganeval-train:{int(seed)}:{stream}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & (2**63 - 1)


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run; the generic defaults live here, each trainer overrides a few
    (TrainerSpec.defaults, applied by `make_config`).

    dataset:        a registered dataset name (ganeval.datasets) or an image folder / archive path.
    image_size:     square side to resize to (None: the dataset's native size).
    limit:          train on the first `limit` images only (quick experiments and tests).
    steps:          generator updates; `epochs`, when set, replaces it by epochs * (N_train // batch_size).
    lr_g, lr_d, betas: Adam's learning rates for generator and discriminator, and its (beta1, beta2).
    z_dim, width:   latent size; base width of the networks (channels of the last hidden layer).
    n_classes:      conditional trainers: classes to condition on (None: all of the dataset's; fewer keeps
                    only the images of the first n_classes classes).
    condition_on:   for attribute-labelled data (synthfaces, CelebA layout): the binary attribute whose 0/1
                    values are the classes (e.g. "smiling").
    n_critic, gp_lambda: WGAN-GP's critic updates per generator update and gradient-penalty weight.
    ema:            decay of an exponential moving average of the generator's weights (None: no EMA);
                    evaluation, sample grids, best.pt and final.pt then use the averaged weights.
    eval_every, sample_every, checkpoint_every, log_every: intervals in steps; 0 turns evaluation,
                    sample grids, periodic checkpoints or periodic history rows off. Enabled ones also
                    run at the last step; last.pt and a history row are always written at the end.
    n_eval:         generated samples per evaluation, and the most held-out real images compared.
    eval_extractor: feature network of the in-training FID (ganeval.extractors).
    out:            run folder (None: runs/<trainer>).
    """

    trainer: str = "dcgan"
    dataset: str = "fashion-mnist"
    data_dir: str | None = None
    image_size: int | None = None
    limit: int | None = None
    condition_on: str | None = None
    steps: int = 3000
    epochs: float | None = None
    batch_size: int = 64
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    z_dim: int = 64
    width: int = 32
    n_classes: int | None = None
    n_critic: int = 5
    gp_lambda: float = 10.0
    ema: float | None = None
    seed: int = 0
    out: str | None = None
    eval_every: int = 500
    sample_every: int = 500
    checkpoint_every: int = 500
    log_every: int = 50
    n_eval: int = 2000
    eval_extractor: str = "fmnist-cnn"
    device: str = "cpu"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (and torch.load(weights_only=True)-able) plain dict."""
        d = asdict(self)
        d["betas"] = [float(b) for b in self.betas]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str | Path = "the training state") -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise BadInputError(f"{where}: unknown training settings {', '.join(unknown)}")
        values = dict(d)
        if "betas" in values:
            values["betas"] = tuple(float(b) for b in values["betas"])
        return cls(**values)


def validate_config(config: TrainConfig) -> None:
    """BadInputError (naming the option) for settings no run can use."""
    def need(ok: bool, text: str) -> None:
        if not ok:
            raise BadInputError(text)

    need(config.steps >= 1, f"--steps must be at least 1, got {config.steps}")
    need(config.epochs is None or config.epochs > 0, f"--epochs must be positive, got {config.epochs}")
    need(config.batch_size >= 1, f"--batch-size must be at least 1, got {config.batch_size}")
    need(config.lr_g > 0 and config.lr_d > 0, f"learning rates must be positive, got {config.lr_g}, {config.lr_d}")
    need(len(config.betas) == 2 and all(0 <= b < 1 for b in config.betas),
         f"Adam betas must be two numbers in [0, 1), got {config.betas}")
    need(config.z_dim >= 1, f"--z-dim must be at least 1, got {config.z_dim}")
    need(config.width >= 1, f"--width must be at least 1, got {config.width}")
    need(config.n_classes is None or config.n_classes >= 1, f"--n-classes must be at least 1, got {config.n_classes}")
    need(config.n_critic >= 1, f"n_critic must be at least 1, got {config.n_critic}")
    need(config.gp_lambda >= 0, f"gp_lambda must be >= 0, got {config.gp_lambda}")
    need(config.ema is None or 0 < config.ema < 1, f"--ema must be a decay in (0, 1), e.g. 0.999, got {config.ema}")
    for name in ("eval_every", "sample_every", "checkpoint_every", "log_every"):
        need(getattr(config, name) >= 0, f"--{name.replace('_', '-')} must be >= 0, got {getattr(config, name)}")
    need(config.n_eval >= 2 or config.eval_every == 0, f"--n-eval must be at least 2, got {config.n_eval}")


def make_config(trainer: str, **overrides: Any) -> TrainConfig:
    """TrainConfig for `trainer`: generic defaults, then the trainer's own defaults, then `overrides`
    (None values are ignored, so a CLI can pass every option). out defaults to runs/<trainer>."""
    spec = get_trainer(trainer)
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise BadInputError(f"unknown training settings: {', '.join(unknown)}")
    values: dict[str, Any] = {"trainer": spec.name, **dict(spec.defaults)}
    values.update({k: v for k, v in overrides.items() if v is not None})
    if values.get("betas") is not None:
        values["betas"] = tuple(values["betas"])
    config = TrainConfig(**values)
    if config.out is None:
        config = replace(config, out=str(Path("runs") / spec.name))
    validate_config(config)
    return config


def config_for_resume(out: str | Path, trainer: str | None = None, **overrides: Any) -> TrainConfig:
    """The config stored in out/last.pt, with `overrides` (None ignored) of the settings a resume may change.

    A changed setting that would alter the training (anything outside RESUMABLE_FIELDS) is a BadInputError.
    """
    path = Path(out) / LAST
    stored = TrainConfig.from_dict(read_state(path)["config"], where=path)
    if trainer is not None and trainer != stored.trainer:
        raise BadInputError(f"{path} is a {stored.trainer!r} run, not {trainer!r}")
    given = {k: v for k, v in overrides.items() if v is not None}
    if "betas" in given:
        given["betas"] = tuple(given["betas"])
    if "steps" in given and "epochs" not in given:
        given["epochs"] = None  # an explicit step count replaces a stored epoch count
    given["out"] = str(out)
    config = replace(stored, **given)
    check_resumable(stored, config, path)
    validate_config(config)
    return config


def check_resumable(stored: TrainConfig, config: TrainConfig, where: Path) -> None:
    """BadInputError listing the settings that differ from the stored run and may not change on resume."""
    a, b = stored.to_dict(), config.to_dict()
    differ = [k for k in a if k not in RESUMABLE_FIELDS and a[k] != b[k]]
    if differ:
        detail = ", ".join(f"{k} {a[k]!r} -> {b[k]!r}" for k in differ)
        raise BadInputError(f"cannot resume {where} with different settings ({detail}); only "
                            f"{', '.join(sorted(RESUMABLE_FIELDS))} may change")


class TrainingInterrupted(GanevalError):
    """Training stopped by Ctrl-C; the message says where the state is and how to resume. Exit 130."""

    exit_code = 130

    def __init__(self, message: str, step: int) -> None:
        super().__init__(message)
        self.step = step


@dataclass(frozen=True)
class TrainResult:
    """What a finished run produced (paths inside `out`)."""

    out: Path
    step: int
    final: Path
    best: Path | None
    best_step: int | None
    best_fid: float | None
    history: list[dict[str, Any]]


# -- data ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreparedData:
    """Training images, the fixed held-out set and the facts recorded in the manifest."""

    name: str
    fingerprint: str
    images: torch.Tensor  # uint8 (N, C, H, W)
    labels: torch.Tensor | None
    heldout: torch.Tensor  # uint8 (M, C, H, W), M <= n_eval
    heldout_kind: str
    floor: torch.Tensor  # uint8 (M, C, H, W): training images for the real-vs-real FID floor
    info: DataInfo
    classes_are_fashion_mnist: bool


def _subset(n: int, k: int, seed: int) -> torch.Tensor:
    """k indices out of n from a seeded permutation, sorted."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[:k].sort().values


def prepare_data(config: TrainConfig, spec: TrainerSpec) -> PreparedData:
    """Load the training split and choose the held-out set: the dataset's test split when it has one
    (a seeded subset of at most n_eval images), else a seeded part of the training images (at most
    n_eval, at most a fifth), which is then removed from training."""
    ds = load_dataset(config.dataset, split="train", image_size=config.image_size, data_dir=config.data_dir,
                      limit=config.limit, attribute=config.condition_on)
    images, labels = ds.images, ds.labels
    k = 0
    if spec.conditional:
        if labels is None or ds.n_classes == 0:
            raise BadInputError(f"{spec.name} needs class labels, and {config.dataset} has none "
                                f"(an image folder needs one subfolder per class)")
        k = config.n_classes or ds.n_classes
        if k > ds.n_classes:
            raise BadInputError(f"--n-classes {k} is more than the {ds.n_classes} classes of {config.dataset}")
        if k < ds.n_classes:
            keep = labels < k
            images, labels = images[keep], labels[keep]
    entry = available_datasets().get(config.dataset)
    if entry is not None and "test" in entry.splits:
        test = load_dataset(config.dataset, split="test", image_size=config.image_size, data_dir=config.data_dir,
                            attribute=config.condition_on)
        held = test.images
        if k and test.labels is not None:
            held = held[test.labels < k]
        if len(held) > config.n_eval:
            held = held[_subset(len(held), config.n_eval, HELDOUT_SEED)]
        kind = f"the {config.dataset} test split"
    else:
        n_hold = min(config.n_eval, len(images) // 5)
        perm = torch.randperm(len(images), generator=torch.Generator().manual_seed(HELDOUT_SEED))
        held = images[perm[:n_hold].sort().values]
        rest = perm[n_hold:].sort().values
        images = images[rest]
        labels = labels[rest] if labels is not None else None
        kind = f"a seeded fifth (at most n_eval) of {config.dataset}, not trained on"
    if config.eval_every > 0 and len(held) < 2:
        raise BadInputError(f"{config.dataset} is too small to hold out images for evaluation; pass --eval-every 0")
    if len(images) < config.batch_size:
        raise BadInputError(f"--batch-size {config.batch_size} is larger than the {len(images)} training images "
                            f"of {config.dataset}")
    floor = images[_subset(len(images), min(len(held), len(images)), HELDOUT_SEED + 1)]
    class_names = tuple(ds.class_names[:k]) if k else ()
    info = DataInfo(image_shape=ds.image_shape, n_classes=k, class_names=class_names)
    return PreparedData(name=config.dataset, fingerprint=ds.fingerprint, images=images, labels=labels, heldout=held,
                        heldout_kind=kind, floor=floor, info=info,
                        classes_are_fashion_mnist=bool(k) and class_names == FMNIST_CLASSES[:k])


class BatchFeeder:
    """Real batches in a seeded order: each epoch is a fresh permutation from `generator`; a partial last
    batch is dropped. Images come out as float (B, C, H, W) in [-1, 1] (x / 127.5 - 1)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor | None, batch_size: int,
                 generator: torch.Generator, device: torch.device) -> None:
        self.images, self.labels, self.batch_size = images, labels, batch_size
        self.generator, self.device = generator, device
        self.order = torch.randperm(len(images), generator=generator)
        self.cursor = 0
        self.epoch = 0

    def __call__(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.cursor + self.batch_size > len(self.images):
            self.order = torch.randperm(len(self.images), generator=self.generator)
            self.cursor = 0
            self.epoch += 1
        idx = self.order[self.cursor:self.cursor + self.batch_size]
        self.cursor += self.batch_size
        x = self.images[idx].to(self.device).float() / 127.5 - 1.0
        y = self.labels[idx].to(self.device) if self.labels is not None else None
        return x, y

    def state_dict(self) -> dict[str, Any]:
        """Where the feeder stands (its generator's state is saved beside it, under "rng")."""
        return {"order": self.order.clone(), "cursor": self.cursor, "epoch": self.epoch}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.order, self.cursor, self.epoch = d["order"].clone(), int(d["cursor"]), int(d["epoch"])


class Ema:
    """Exponential moving average of a module's parameters (buffers, e.g. BatchNorm statistics, copied):
    avg <- decay * avg + (1 - decay) * current, after every generator update."""

    def __init__(self, module: nn.Module, decay: float) -> None:
        self.decay = float(decay)
        self.module = copy.deepcopy(module).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        for avg, cur in zip(self.module.parameters(), module.parameters()):
            avg.lerp_(cur, 1.0 - self.decay)
        for avg, cur in zip(self.module.buffers(), module.buffers()):
            avg.copy_(cur)


# -- bookkeeping ---------------------------------------------------------------------------------


def utc_now() -> str:
    """The current UTC time, ISO 8601 to the second (manifests' timestamps)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@contextlib.contextmanager
def graceful_sigint(progress: ProgressReporter) -> Iterator[Callable[[], bool]]:
    """While active, the first Ctrl-C only sets a flag (the loop stops after the current step); a second
    raises KeyboardInterrupt at once. Yields a function telling whether a stop was asked for. Outside
    the main thread signals cannot be caught, so Ctrl-C then behaves as usual."""
    asked = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield asked.is_set
        return

    def handler(signum: int, frame: Any) -> None:
        if asked.is_set():
            raise KeyboardInterrupt
        asked.set()
        progress.log("stopping after this step to save the training state (Ctrl-C again to stop at once)")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield asked.is_set
    finally:
        signal.signal(signal.SIGINT, previous)


def _history_columns(spec: TrainerSpec, info: DataInfo) -> list[str]:
    cols = ["step", "epoch", *spec.loss_names, "fid"]
    if info.n_classes:
        cols += ["class_consistency", *[f"cc_{k}" for k in range(info.n_classes)]]
    return cols + ["time_s"]


def write_history(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    """Write history.csv atomically: one row per logged step, the given columns (missing values empty)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    atomic_write_text(path, buffer.getvalue())


def _finite_or_none(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


# -- the loop ------------------------------------------------------------------------------------


def train(config: TrainConfig, *, resume: bool = False, progress: ProgressReporter | None = None,
          on_step: Callable[[int], None] | None = None) -> TrainResult:
    """Train `config.trainer` as configured, writing the run folder `config.out` (module docstring).

    resume:  continue from out/last.pt (only RESUMABLE_FIELDS may differ from the stored config).
    on_step: called after every completed step with the step number (a KeyboardInterrupt raised there
             is handled like Ctrl-C: the state is saved and TrainingInterrupted raised).
    Raises BadInputError for bad settings or data, TrainingInterrupted on Ctrl-C.
    """
    spec = get_trainer(config.trainer)
    if config.out is None:
        config = replace(config, out=str(Path("runs") / spec.name))
    validate_config(config)
    out = Path(config.out)
    progress = progress or NO_PROGRESS
    state: dict[str, Any] | None = None
    if resume:
        state = read_state(out / LAST)
        check_resumable(TrainConfig.from_dict(state["config"], where=out / LAST), config, out / LAST)
    else:
        for name in (LAST, MANIFEST):
            if (out / name).exists():
                raise BadInputError(MSG_RUN_EXISTS.format(out=out, what=name))

    data = prepare_data(config, spec)
    if state is not None and state["run"]["dataset_fingerprint"] != data.fingerprint:
        raise BadInputError(f"cannot resume {out / LAST}: the dataset {config.dataset} changed since the run started "
                            f"(fingerprint {data.fingerprint[:12]} != {state['run']['dataset_fingerprint'][:12]})")
    if config.epochs is not None:
        config = replace(config, steps=max(1, round(config.epochs * (len(data.images) // config.batch_size))))
    steps = config.steps
    device = torch.device(config.device)

    init_generator = torch.Generator().manual_seed(derive_seed(config.seed, "init"))
    models: Models = spec.build(config, data.info, init_generator)
    g_net, d_net = models.generator.to(device).train(), models.discriminator.to(device).train()
    opt_g = torch.optim.Adam(g_net.parameters(), lr=config.lr_g, betas=config.betas)
    opt_d = torch.optim.Adam(d_net.parameters(), lr=config.lr_d, betas=config.betas)
    ema = Ema(g_net, config.ema) if config.ema else None
    noise = torch.Generator().manual_seed(derive_seed(config.seed, "noise"))
    feeder = BatchFeeder(data.images, data.labels, config.batch_size,
                         torch.Generator().manual_seed(derive_seed(config.seed, "data")), device)
    run: dict[str, Any] = {
        "history": [], "loss_sums": {}, "loss_count": 0, "best_step": None, "best_fid": None,
        "started_utc": utc_now(), "resumed_utc": [], "elapsed_s": 0.0, "fid_floor": None, "eval_info": None,
        "dataset_fingerprint": data.fingerprint, "steps_timed": 0, "step_seconds": 0.0,
    }
    step = 0
    if state is not None:
        g_net.load_state_dict(state["generator"])
        d_net.load_state_dict(state["discriminator"])
        if ema is not None:
            ema.module.load_state_dict(state["ema"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        noise.set_state(state["rng"]["noise"])
        feeder.generator.set_state(state["rng"]["data"])
        feeder.load_state_dict(state["data"])
        run = dict(state["run"])
        run["resumed_utc"] = [*run.get("resumed_utc", []), utc_now()]
        step = int(state["step"])

    ctx = StepContext(generator=g_net, discriminator=d_net, opt_g=opt_g, opt_d=opt_d, next_batch=feeder, noise=noise,
                      config=config, z_dim=models.latent.z_dim, n_classes=data.info.n_classes, device=device)
    eval_module = ema.module if ema is not None else g_net
    columns = _history_columns(spec, data.info)
    session_start = time.perf_counter()
    elapsed_before = float(run["elapsed_s"])

    def elapsed() -> float:
        return elapsed_before + time.perf_counter() - session_start

    def provenance(at_step: int, fid: float | None) -> dict[str, Any]:
        from ganeval.provenance import versions

        return {"trainer": spec.name, "seed": config.seed, "step": at_step, "fid": fid, "ema": config.ema,
                "eval": run["eval_info"], "dataset": {"name": data.name, "fingerprint": data.fingerprint},
                "config": config.to_dict(), "versions": {k: str(v) for k, v in versions().items()},
                "created_utc": utc_now()}

    def save_generator_file(path: Path, at_step: int, fid: float | None) -> Path:
        return save_generator(path, eval_module, models.architecture, models.config, models.latent,
                              provenance(at_step, fid))

    def write_manifest(status: str) -> None:
        from ganeval.provenance import device_description, versions

        last_eval = next((r for r in reversed(run["history"]) if r.get("fid") is not None), None)
        untrained = next((r for r in run["history"] if r["step"] == 0 and r.get("fid") is not None), None)
        manifest = {
            "format": MANIFEST_FORMAT, "trainer": spec.name, "description": spec.description, "status": status,
            "step": step, "steps": steps, "seed": config.seed, "config": config.to_dict(),
            "dataset": {"name": data.name, "fingerprint": data.fingerprint, "n_train": len(data.images),
                        "n_heldout": len(data.heldout), "heldout": data.heldout_kind,
                        "image_shape": list(data.info.image_shape), "class_names": list(data.info.class_names),
                        "classes_are_fashion_mnist": data.classes_are_fashion_mnist},
            "generator": {"architecture": models.architecture, "config": models.config,
                          "latent": models.latent.to_dict(),
                          "parameters": sum(p.numel() for p in g_net.parameters())},
            "discriminator_parameters": sum(p.numel() for p in d_net.parameters()),
            "evaluation": run["eval_info"], "fid_real_vs_real": run["fid_floor"],
            "fid_untrained": untrained["fid"] if untrained else None,
            "best": {"step": run["best_step"], "fid": run["best_fid"],
                     "path": BEST if run["best_step"] is not None else None},
            "last_evaluation": last_eval,
            "started_utc": run["started_utc"], "resumed_utc": run["resumed_utc"],
            "ended_utc": utc_now() if status != "running" else None,
            "wall_s": round(elapsed(), 2),
            "seconds_per_step": round(run["step_seconds"] / max(run["steps_timed"], 1), 5),
            "versions": versions(), "device": device_description(config.device),
            "threads": torch.get_num_threads(),
        }
        atomic_write_text(out / MANIFEST, json.dumps(json_safe(manifest), indent=2, allow_nan=False) + "\n")

    def save_training_state() -> None:
        run["elapsed_s"] = elapsed()
        save_state(out / LAST, {
            "trainer": spec.name, "config": config.to_dict(), "step": step,
            "generator": g_net.state_dict(), "discriminator": d_net.state_dict(),
            "ema": ema.module.state_dict() if ema is not None else None,
            "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
            "rng": {"noise": noise.get_state(), "data": feeder.generator.get_state()},
            "data": feeder.state_dict(), "run": run,
        })

    def evaluate_row(row: dict[str, Any], evaluator: Evaluator) -> EvalResult:
        result = evaluator.evaluate(eval_module, models.latent, models.architecture, models.config)
        row["fid"] = _finite_or_none(result.fid)
        if result.class_consistency is not None:
            row["class_consistency"] = _finite_or_none(result.class_consistency)
            for k, v in enumerate(result.per_class):
                row[f"cc_{k}"] = _finite_or_none(v)
        return result

    out.mkdir(parents=True, exist_ok=True)
    evaluator: Evaluator | None = None
    with progress.session():
        if config.eval_every > 0:
            evaluator = Evaluator(data.heldout, config.n_eval, config.eval_extractor, config.device)
            run["eval_info"] = evaluator.info
            if run["fid_floor"] is None:
                run["fid_floor"] = _finite_or_none(evaluator.fid_of_images(data.floor))
            if data.info.n_classes and not data.classes_are_fashion_mnist:
                progress.log(escape("note: class consistency uses the fmnist-cnn classifier's Fashion-MNIST "
                                    f"classes; for the classes of {config.dataset} it is not meaningful"))
            if step == 0 and not any(r["step"] == 0 for r in run["history"]):
                row = {"step": 0, "epoch": 0, "time_s": 0.0}
                evaluate_row(row, evaluator)
                run["history"].append(row)
                progress.log(f"step 0 (untrained): FID {_num(row['fid'])}; real-vs-real floor {_num(run['fid_floor'])}")
        write_manifest("running")
        write_history(out / HISTORY, columns, run["history"])
        task = progress.task(f"train {spec.name}", total=steps)
        progress.advance(task, step)
        in_step = False
        try:
            with graceful_sigint(progress) as stop_asked:
                while step < steps:
                    in_step = True
                    t0 = time.perf_counter()
                    losses = spec.step(ctx)
                    if ema is not None:
                        ema.update(g_net)
                    step += 1
                    run["step_seconds"] += time.perf_counter() - t0
                    run["steps_timed"] += 1
                    in_step = False
                    for name in spec.loss_names:
                        run["loss_sums"][name] = run["loss_sums"].get(name, 0.0) + float(losses[name])
                    run["loss_count"] += 1
                    last = step == steps
                    eval_due = evaluator is not None and (step % config.eval_every == 0 or last)
                    if eval_due or last or (config.log_every and step % config.log_every == 0):
                        row = {"step": step, "epoch": feeder.epoch,
                               **{n: s / run["loss_count"] for n, s in run["loss_sums"].items()}}
                        run["loss_sums"], run["loss_count"] = {}, 0
                        if eval_due:
                            assert evaluator is not None
                            evaluate_row(row, evaluator)
                            if row["fid"] is not None and (run["best_fid"] is None or row["fid"] < run["best_fid"]):
                                run["best_fid"], run["best_step"] = row["fid"], step
                                save_generator_file(out / BEST, step, row["fid"])
                            progress.log(_eval_line(step, row, run))
                        row["time_s"] = round(elapsed(), 3)
                        run["history"].append(row)
                    if config.sample_every and (step % config.sample_every == 0 or last):
                        grid = sample_grid(eval_module, models.latent)
                        write_png(out / SAMPLES / f"step_{step:06d}.png", grid)
                        write_png(out / SAMPLES / "latest.png", grid)
                    if last or (config.checkpoint_every and step % config.checkpoint_every == 0):
                        save_training_state()
                        write_manifest("running")
                        write_history(out / HISTORY, columns, run["history"])
                    progress.advance(task, 1, rate=_loss_text(losses, run))
                    if on_step is not None:
                        on_step(step)
                    if stop_asked():
                        raise KeyboardInterrupt
        except KeyboardInterrupt:
            if in_step:  # stopped mid-step: the weights are half-updated, keep the last periodic checkpoint
                saved = int(read_state(out / LAST)["step"]) if (out / LAST).is_file() else None
                where = f"{out / LAST} holds step {saved}" if saved is not None else "no training state was saved"
                raise TrainingInterrupted(f"interrupted during step {step + 1}; {where}; continue with: "
                                          + MSG_RESUME_HINT.format(name=spec.name, out=out), step=saved or 0) from None
            save_training_state()
            write_manifest("interrupted")
            write_history(out / HISTORY, columns, run["history"])
            _write_run_report(out, progress)
            raise TrainingInterrupted(f"interrupted after step {step}; the training state is saved in {out / LAST}; "
                                      "continue with: " + MSG_RESUME_HINT.format(name=spec.name, out=out),
                                      step=step) from None
        progress.finish(task, note=f"{steps} steps, {elapsed():.0f} s")
    final = save_generator_file(out / FINAL, step, _last_fid(run))
    write_manifest("finished")
    write_history(out / HISTORY, columns, run["history"])
    _write_run_report(out, progress)
    best = out / BEST if run["best_step"] is not None else None
    return TrainResult(out=out, step=step, final=final, best=best, best_step=run["best_step"],
                       best_fid=run["best_fid"], history=list(run["history"]))


def _write_run_report(out: Path, progress: ProgressReporter) -> None:
    """OUT/index.html, results.json and results.csv from the files just written (ganeval.report.training).

    The run is already saved when this runs: a report that cannot be written is a warning, not a lost run.
    """
    from ganeval.report.training import write_training_report

    try:
        paths = write_training_report(out)
    except Exception as exc:
        if os.environ.get("GANEVAL_DEBUG"):
            raise
        progress.log(f"[yellow]warning:[/] the run report could not be written: {escape(type(exc).__name__)}: "
                     f"{escape(str(exc))}")
        return
    progress.log(escape(f"report: {paths['html']}"))


def json_safe(obj: Any) -> Any:
    """Plain JSON values: non-finite floats become None (a diverged loss must not break the manifest)."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    return str(obj)


def _num(v: float | None) -> str:
    return "not finite" if v is None else f"{v:.3f}"


def _last_fid(run: dict[str, Any]) -> float | None:
    rows = [r for r in run["history"] if r.get("fid") is not None]
    return rows[-1]["fid"] if rows else None


def _loss_text(losses: dict[str, float], run: dict[str, Any]) -> str:
    text = f"D {losses.get('loss_d', float('nan')):.3f} G {losses.get('loss_g', float('nan')):.3f}"
    if run["best_fid"] is not None:
        text += f" | best FID {run['best_fid']:.2f} @ {run['best_step']}"
    return text


def _eval_line(step: int, row: dict[str, Any], run: dict[str, Any]) -> str:
    line = f"step {step}: FID {_num(row.get('fid'))}"
    if row.get("class_consistency") is not None:
        line += f", class consistency {row['class_consistency']:.3f}"
    if run["best_step"] == step:
        line += " (best so far: saved best.pt)"
    return line
