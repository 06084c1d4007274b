"""Image-to-image translation trainers (pix2pix, cyclegan): shared networks, image pool and their own loop.

    TranslationConfig -> load_pairs (train + held-out) -> spec.build (seeded init) -> repeat:
        spec.step -> history row -> [held-out evaluation: L1/PSNR to targets, cycle error -> best.pt]
        -> [input/output/target grid] -> [last.pt + manifest.json + history.csv]
    -> final.pt -> index.html + results.json + results.csv (ganeval.report.write_report)

Translators do not fit the z -> image loop (reference_models.loop): a step reads image pairs, not
latents, and evaluation compares outputs with targets. So they run this compact loop, which reuses the
shared pieces: the training-state file (reference_models.state: one weights_only file, saved atomically),
seed derivation, graceful Ctrl-C, history.csv and the run-exists / resume rules of reference_models.loop,
the progress bar, and translator checkpoints (ganeval.translate_eval.save_translator).

Networks (size-generic, square sides):
    UNetGenerator        pix2pix's U-Net: log2(side) stride-2 4x4 convolutions down to 1x1 (LeakyReLU 0.2,
                         BatchNorm except first and innermost), mirrored transposed convolutions (ReLU,
                         BatchNorm, dropout 0.5 on the innermost three) with skip connections, tanh.
    PatchDiscriminator   C64-C128-... PatchGAN: `n_down` stride-2 4x4 convolutions, one stride-1 4x4
                         convolution, a 4x4 convolution to one logit per patch. Receptive field
                         receptive_field(n_down): 16 (n_down 1), 34 (2), 70 (3, the paper's 70x70).
                         patch_layers(side) = clamp(log2(side) - 4, 1, 3): 32 px -> 16x16 patches,
                         64 px -> 34x34, >= 128 px -> 70x70.
    ResnetGenerator      CycleGAN's: c7s1-w, d2w, d4w, n_blocks residual blocks, u2w, uw, c7s1-3, tanh
                         (reflection padding, InstanceNorm).
    ImagePool            Shrivastava et al.'s history of generated images (CycleGAN: 50): until full, returns
                         and stores each image; then with probability 1/2 returns a random stored image and
                         stores the new one in its place, else returns the new one. Draws from a torch.Generator.

Randomness: init, data order (one stream per domain), dropout masks and the image pool all draw from
torch.Generators derived from the seed (reference_models.loop.derive_seed), so a run resumed from
out/last.pt ends with exactly the weights of an uninterrupted one (tests check it).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.markup import escape
from torch import nn

from ganeval.atomic import atomic_write_text
from ganeval.errors import BadInputError
from ganeval.progress import NO_PROGRESS, ProgressReporter
from ganeval.translate_eval import TranslationSpec, paired_metrics, save_translator, translate_images, triplet_grid
from reference_models.evaluation import write_png
from reference_models.loop import (
    BEST, FINAL, HISTORY, LAST, MANIFEST, MSG_RESUME_HINT, MSG_RUN_EXISTS, SAMPLES, TrainingInterrupted,
    derive_seed, graceful_sigint, json_safe, utc_now, write_history,
)
from reference_models.state import read_state, save_state

MANIFEST_FORMAT = "ganeval-translation-run-1"
UNTRAINED = "untrained.pt"  # the initial translator: the reference every trained one is compared with
HELDOUT_SEED = 1234
GRID_ROWS = 8
RESUMABLE_FIELDS = frozenset({"steps", "eval_every", "sample_every", "checkpoint_every", "log_every", "device",
                              "out"})


# -- networks ---------------------------------------------------------------------------------------


class SeededDropout(nn.Module):
    """Dropout whose masks come from a torch.Generator, never torch's global RNG.

    Training: masks from `self.noise` (set by the trainer; required). Eval: identity, unless an eval
    generator is set (`set_eval_dropout`), as pix2pix's test-time noise: then masks from it, so the same
    seed gives the same outputs. Kept units are scaled by 1 / (1 - p).
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = float(p)
        self.noise: torch.Generator | None = None
        self.eval_noise: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = self.noise if self.training else self.eval_noise
        if self.p == 0.0 or (g is None and not self.training):
            return x
        if g is None:
            raise RuntimeError("SeededDropout in training needs a generator: call set_dropout_noise(module, g)")
        keep = (torch.rand(x.shape, generator=g) >= self.p).to(device=x.device, dtype=x.dtype)
        return x * keep / (1.0 - self.p)


def set_dropout_noise(module: nn.Module, generator: torch.Generator | None, *, at_eval: bool = False) -> None:
    """Point every SeededDropout in `module` at `generator` (for training, or with at_eval for eval mode)."""
    for m in module.modules():
        if isinstance(m, SeededDropout):
            if at_eval:
                m.eval_noise = generator
            else:
                m.noise = generator


def unet_depth(image_size: int) -> int:
    """Stride-2 levels of the U-Net: log2(side), for a power-of-two side 8..512; BadInputError otherwise."""
    size = int(image_size)
    if size < 8 or size > 512 or size & (size - 1):
        raise BadInputError(f"pix2pix's U-Net needs a power-of-two image side from 8 to 512, got {image_size}; "
                            "pass --image-size")
    return int(math.log2(size))


class UNetGenerator(nn.Module):
    """pix2pix's U-Net (module docstring): (N, in_channels, S, S) in [-1, 1] -> (N, out_channels, S, S) in [-1, 1].

    Encoder level i (0 = finest) has min(width * 2**i, 8 * width) channels at S / 2**(i+1); decoder
    level i concatenates its input with encoder level i (the skip connection) before upsampling.
    """

    def __init__(self, image_size: int, in_channels: int = 3, out_channels: int = 3, width: int = 32,
                 dropout: float = 0.5, n_dropout: int = 3) -> None:
        super().__init__()
        depth = unet_depth(image_size)
        ch = [min(width * 2 ** i, width * 8) for i in range(depth)]
        self.down = nn.ModuleList()
        for i in range(depth):
            layers: list[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2)]
            innermost = i == depth - 1
            layers.append(nn.Conv2d(in_channels if i == 0 else ch[i - 1], ch[i], 4, 2, 1,
                                    bias=i == 0 or innermost))
            if i > 0 and not innermost:
                layers.append(nn.BatchNorm2d(ch[i]))
            self.down.append(nn.Sequential(*layers))
        self.up = nn.ModuleList()
        for i in range(depth):  # up[i] produces decoder level i (the output for i == 0)
            c_in = ch[i] if i == depth - 1 else 2 * ch[i]
            if i == 0:
                layers = [nn.ReLU(), nn.ConvTranspose2d(c_in, out_channels, 4, 2, 1), nn.Tanh()]
            else:
                layers = [nn.ReLU(), nn.ConvTranspose2d(c_in, ch[i - 1], 4, 2, 1, bias=False),
                          nn.BatchNorm2d(ch[i - 1])]
                if i >= max(1, depth - n_dropout) and dropout > 0:
                    layers.append(SeededDropout(dropout))
            self.up.append(nn.Sequential(*layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        y = self.up[-1](skips[-1])
        for i in range(len(self.up) - 2, -1, -1):
            y = self.up[i](torch.cat([y, skips[i]], dim=1))
        return y

    def translate(self, x: torch.Tensor, direction: str = "a2b") -> torch.Tensor:
        """The a2b translation (pix2pix is one-way)."""
        if direction != "a2b":
            raise BadInputError("a pix2pix translator only translates A -> B")
        return self(x)

    def set_eval_dropout(self, generator: torch.Generator | None) -> None:
        """Test-time dropout noise from `generator` (None: dropout off in eval mode)."""
        set_dropout_noise(self, generator, at_eval=True)


def patch_layers(image_size: int) -> int:
    """Stride-2 layers of the PatchGAN for a side: clamp(log2(side) - 4, 1, 3) (module docstring)."""
    return int(min(3, max(1, round(math.log2(max(int(image_size), 2))) - 4)))


def receptive_field(n_down: int) -> int:
    """Receptive field (pixels per side) of one PatchGAN output: n_down 4x4 stride-2 convolutions, then two
    4x4 stride-1 ones; r <- (r - 1) * stride + kernel from the output back to the input."""
    r = 1
    for stride in [1, 1] + [2] * n_down:
        r = (r - 1) * stride + 4
    return r


class PatchDiscriminator(nn.Module):
    """PatchGAN (module docstring): (N, in_channels, S, S) -> (N, 1, h, w) logits, one per overlapping patch.

    norm: "batch" (pix2pix) or "instance" (CycleGAN); no norm on the first layer.
    """

    def __init__(self, in_channels: int, width: int = 64, n_down: int = 3, norm: str = "batch") -> None:
        super().__init__()
        if norm not in ("batch", "instance"):
            raise ValueError(f"unknown norm {norm!r}")

        def normed(c: int) -> nn.Module:
            return nn.BatchNorm2d(c) if norm == "batch" else nn.InstanceNorm2d(c)

        layers: list[nn.Module] = [nn.Conv2d(in_channels, width, 4, 2, 1), nn.LeakyReLU(0.2)]
        c = width
        for _ in range(n_down - 1):
            c2 = min(2 * c, 8 * width)
            layers += [nn.Conv2d(c, c2, 4, 2, 1, bias=False), normed(c2), nn.LeakyReLU(0.2)]
            c = c2
        c2 = min(2 * c, 8 * width)
        layers += [nn.Conv2d(c, c2, 4, 1, 1, bias=False), normed(c2), nn.LeakyReLU(0.2), nn.Conv2d(c2, 1, 4, 1, 1)]
        self.net = nn.Sequential(*layers)
        self.n_down = n_down
        self.receptive_field = receptive_field(n_down)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ResnetBlock(nn.Module):
    """x + [reflect-pad, conv3, InstanceNorm, ReLU, reflect-pad, conv3, InstanceNorm](x)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), nn.InstanceNorm2d(c), nn.ReLU(),
                                  nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), nn.InstanceNorm2d(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """CycleGAN's generator (Johnson et al.'s layout): (N, in, S, S) -> (N, out, S, S) in [-1, 1]; S divisible by 4."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, width: int = 32, n_blocks: int = 6) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, width, 7), nn.InstanceNorm2d(width),
                                   nn.ReLU()]
        c = width
        for _ in range(2):
            layers += [nn.Conv2d(c, 2 * c, 3, 2, 1), nn.InstanceNorm2d(2 * c), nn.ReLU()]
            c *= 2
        layers += [ResnetBlock(c) for _ in range(n_blocks)]
        for _ in range(2):
            layers += [nn.ConvTranspose2d(c, c // 2, 3, 2, 1, output_padding=1), nn.InstanceNorm2d(c // 2), nn.ReLU()]
            c //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(c, out_channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ImagePool:
    """A buffer of up to `size` past generated images (module docstring); size 0 passes images through."""

    def __init__(self, size: int = 50) -> None:
        self.size = int(size)
        self.images: list[torch.Tensor] = []

    def query(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """For each image of the batch (B, C, H, W): the image itself or, once the pool is full and with
        probability 1/2, a stored one (which the new image replaces). Returns a detached batch."""
        images = images.detach()
        if self.size == 0:
            return images
        out = []
        for img in images:
            if len(self.images) < self.size:
                self.images.append(img.clone())
                out.append(img)
            elif float(torch.rand((), generator=generator)) < 0.5:
                j = int(torch.randint(self.size, (), generator=generator))
                out.append(self.images[j].clone())
                self.images[j] = img.clone()
            else:
                out.append(img)
        return torch.stack(out)

    def state_dict(self) -> dict[str, Any]:
        return {"size": self.size, "images": torch.stack(self.images).cpu() if self.images else torch.empty(0)}

    def load_state_dict(self, d: Mapping[str, Any], device: torch.device | str = "cpu") -> None:
        self.size = int(d["size"])
        stored = d["images"]
        self.images = [t.to(device) for t in stored] if stored.numel() else []


# -- config and registry ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TranslationConfig:
    """Every setting of a translation run (the one home of their defaults; each trainer overrides a few).

    dataset:    a registered two-domain dataset (ganeval.datasets.pairs: synthfaces-edges, synthfaces-glasses)
                or a folder with A/ and B/.
    n_train:    procedural datasets: images rendered for training; folders: keep the first n_train.
    width:      base channels of the generator (pix2pix's U-Net, CycleGAN's ResNet) and discriminator.
    lambda_l1:  pix2pix's L1 weight (100). lambda_cycle, lambda_identity: CycleGAN's cycle weight (10) and
                identity weight as a fraction of it (0.5). pool_size: CycleGAN's image pool (50).
    n_eval:     held-out examples evaluated (and the most held out of a folder).
    """

    trainer: str = "pix2pix"
    dataset: str = "synthfaces-edges"
    image_size: int = 32
    n_train: int | None = None
    steps: int = 2000
    batch_size: int = 16
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    width: int = 32
    n_blocks: int = 6
    dropout: float = 0.5
    lambda_l1: float = 100.0
    lambda_cycle: float = 10.0
    lambda_identity: float = 0.5
    pool_size: int = 50
    seed: int = 0
    out: str | None = None
    eval_every: int = 250
    sample_every: int = 250
    checkpoint_every: int = 250
    log_every: int = 50
    n_eval: int = 200
    device: str = "cpu"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["betas"] = [float(b) for b in self.betas]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: object = "the training state") -> TranslationConfig:
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise BadInputError(f"{where}: unknown translation settings {', '.join(unknown)}")
        values = dict(d)
        values["betas"] = tuple(float(b) for b in values.get("betas", (0.5, 0.999)))
        return cls(**values)


def validate_translation_config(c: TranslationConfig) -> None:
    """BadInputError (naming the option) for settings no run can use."""
    checks = [
        (c.steps >= 1, f"--steps must be at least 1, got {c.steps}"),
        (c.batch_size >= 1, f"--batch-size must be at least 1, got {c.batch_size}"),
        (c.lr_g > 0 and c.lr_d > 0, f"learning rates must be positive, got {c.lr_g}, {c.lr_d}"),
        (len(c.betas) == 2 and all(0 <= b < 1 for b in c.betas), f"Adam betas must be in [0, 1), got {c.betas}"),
        (c.width >= 1 and c.n_blocks >= 0, f"--width must be >= 1 and n_blocks >= 0, got {c.width}, {c.n_blocks}"),
        (0 <= c.dropout < 1, f"dropout must be in [0, 1), got {c.dropout}"),
        (min(c.lambda_l1, c.lambda_cycle, c.lambda_identity) >= 0, "loss weights must be >= 0"),
        (c.pool_size >= 0, f"pool_size must be >= 0, got {c.pool_size}"),
        (c.n_eval >= 1, f"--n-eval must be at least 1, got {c.n_eval}"),
        (c.n_train is None or c.n_train >= 2, f"--limit must be at least 2, got {c.n_train}"),
    ]
    for name in ("eval_every", "sample_every", "checkpoint_every", "log_every"):
        checks.append((getattr(c, name) >= 0, f"--{name.replace('_', '-')} must be >= 0, got {getattr(c, name)}"))
    for ok, text in checks:
        if not ok:
            raise BadInputError(text)


@dataclass
class TranslationModels:
    """A translation trainer's networks: the translator (saved in checkpoints; `translate(x, direction)`),
    the discriminator(s) as one module, and what rebuilds the translator (architecture + config + spec)."""

    generator: nn.Module
    discriminator: nn.Module
    architecture: str
    config: dict[str, Any]
    spec: TranslationSpec


@dataclass
class TranslationStep:
    """What one step may use. Batches: float (B, C, H, W) in [-1, 1]; randomness only from `noise`."""

    generator: nn.Module
    discriminator: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    next_batch: Callable[[], tuple[torch.Tensor, torch.Tensor]]
    noise: torch.Generator
    config: TranslationConfig
    pools: dict[str, ImagePool] = field(default_factory=dict)


@dataclass(frozen=True)
class TranslatorTrainerSpec:
    """A registered translation trainer: build(config, pair data, init generator) -> TranslationModels,
    step(ctx) -> losses named as loss_names; `paired`: it needs paired training data; `pools`: names of
    the image pools it keeps (saved in the training state)."""

    name: str
    description: str
    build: Callable[[TranslationConfig, Any, torch.Generator], TranslationModels]
    step: Callable[[TranslationStep], dict[str, float]]
    loss_names: tuple[str, ...]
    paired: bool
    defaults: Mapping[str, Any] = field(default_factory=dict)
    pools: tuple[str, ...] = ()


_TRAINERS: dict[str, TranslatorTrainerSpec] = {}
CLI_OPTIONS = ("dataset", "image_size", "steps", "batch_size", "lr_g", "lr_d", "width", "seed", "eval_every",
               "sample_every", "checkpoint_every", "n_eval", "limit", "device", "threads", "out", "resume", "quiet")


def register_translation_trainer(spec: TranslatorTrainerSpec) -> None:
    """Register a translation trainer, and make `ganeval train-reference NAME` run it (as a non-GAN trainer
    of reference_models.registry, taking CLI_OPTIONS)."""
    from reference_models.registry import OtherTrainerSpec, register_other_trainer

    _TRAINERS[spec.name] = spec

    def run(settings: dict[str, Any], progress: Any) -> str:
        return run_from_cli(spec.name, settings, progress)

    register_other_trainer(OtherTrainerSpec(name=spec.name, description=spec.description, options=CLI_OPTIONS,
                                            run=run))


def get_translation_trainer(name: str) -> TranslatorTrainerSpec:
    import reference_models  # noqa: F401  (registers the built-ins)

    if name not in _TRAINERS:
        raise BadInputError(f"unknown translation trainer {name!r}; choose one of: {', '.join(sorted(_TRAINERS))}")
    return _TRAINERS[name]


def make_translation_config(trainer: str, **overrides: Any) -> TranslationConfig:
    """Generic defaults, then the trainer's, then `overrides` (None ignored); out defaults to runs/<trainer>."""
    spec = get_translation_trainer(trainer)
    unknown = sorted(set(overrides) - {f.name for f in fields(TranslationConfig)})
    if unknown:
        raise BadInputError(f"unknown translation settings: {', '.join(unknown)}")
    values: dict[str, Any] = {"trainer": trainer, **dict(spec.defaults)}
    values.update({k: v for k, v in overrides.items() if v is not None})
    values["betas"] = tuple(values.get("betas", (0.5, 0.999)))
    config = TranslationConfig(**values)
    if config.out is None:
        config = replace(config, out=str(Path("runs") / trainer))
    validate_translation_config(config)
    return config


def run_from_cli(name: str, settings: dict[str, Any], progress: ProgressReporter) -> str:
    """`ganeval train-reference pix2pix|cyclegan ...`: settings -> config -> train_translation -> one summary line."""
    out = settings.get("out") or Path("runs") / name
    given = {"dataset": settings.get("dataset"), "image_size": settings.get("image_size"),
             "steps": settings.get("steps"), "batch_size": settings.get("batch_size"), "lr_g": settings.get("lr_g"),
             "lr_d": settings.get("lr_d"), "width": settings.get("width"), "seed": settings.get("seed"),
             "eval_every": settings.get("eval_every"), "sample_every": settings.get("sample_every"),
             "checkpoint_every": settings.get("checkpoint_every"), "n_eval": settings.get("n_eval"),
             "n_train": settings.get("limit"), "device": settings.get("device"), "out": str(out)}
    if settings.get("resume"):
        stored = TranslationConfig.from_dict(read_state(Path(out) / LAST)["config"], where=Path(out) / LAST)
        if stored.trainer != name:
            raise BadInputError(f"{Path(out) / LAST} is a {stored.trainer!r} run, not {name!r}")
        config = replace(stored, **{k: v for k, v in given.items() if v is not None})
    else:
        config = make_translation_config(name, **given)
    result = train_translation(config, resume=bool(settings.get("resume")), progress=progress)
    line = f"finished {name} at step {result.step}: {result.final}"
    if result.best is not None:
        line += f"; best held-out L1 {result.best_l1:.4f} at step {result.best_step}: {result.best}"
    return line + f"; report: {result.out / 'index.html'}"


# -- data -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TranslationData:
    """Training and held-out two-domain images (uint8 (N, 3, S, S)) and what the manifest records."""

    train: Any  # PairDataset
    heldout: Any  # PairDataset
    heldout_kind: str


def prepare_translation_data(config: TranslationConfig, spec: TranslatorTrainerSpec) -> TranslationData:
    """Training data and the held-out set: a procedural dataset's test split (n_eval examples, paired), or a
    seeded part (at most n_eval, at most a fifth) of a folder, removed from training."""
    from ganeval.datasets.pairs import PairDataset, available_pair_datasets, load_pairs, pair_fingerprint

    registered = config.dataset in available_pair_datasets()
    train = load_pairs(config.dataset, split="train", image_size=config.image_size, n=config.n_train,
                       require_pairs=spec.paired)
    if spec.paired and not train.paired:
        raise BadInputError(f"{config.trainer} needs paired data; {config.dataset} is unpaired (use cyclegan)")
    if registered:
        held = load_pairs(config.dataset, split="test", image_size=config.image_size, n=config.n_eval)
        kind = f"the {config.dataset} test split ({'paired' if held.paired else 'unpaired'})"
    else:
        def split(x: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
            k = min(config.n_eval, len(x) // 5)
            perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
            return x[perm[k:].sort().values], x[perm[:k].sort().values]

        a_tr, a_ho = split(train.a, HELDOUT_SEED)
        b_tr, b_ho = split(train.b, HELDOUT_SEED if train.paired else HELDOUT_SEED + 1)
        if len(a_ho) < 1 or len(b_ho) < 1:
            raise BadInputError(f"{config.dataset} is too small to hold out images for evaluation "
                                "(5 per side at least)")
        held = PairDataset(f"{train.name} (held out)", a_ho, b_ho, train.paired, (),
                           pair_fingerprint(train.name, a_ho, b_ho, train.paired), train.domains)
        train = PairDataset(train.name, a_tr, b_tr, train.paired, (), train.fingerprint, train.domains)
        kind = f"a seeded fifth (at most n_eval) of {config.dataset}, not trained on"
    for side, stack in (("A", train.a), ("B", train.b)):
        if len(stack) < config.batch_size:
            raise BadInputError(f"--batch-size {config.batch_size} is larger than the {len(stack)} {side} training "
                                f"images of {config.dataset}")
    return TranslationData(train=train, heldout=held, heldout_kind=kind)


class IndexFeeder:
    """Batch indices in a seeded order: each epoch a fresh permutation from `generator`; a partial last batch
    is dropped (the same rules as reference_models.loop.BatchFeeder)."""

    def __init__(self, n: int, batch_size: int, generator: torch.Generator) -> None:
        self.n, self.batch_size, self.generator = n, batch_size, generator
        self.order = torch.randperm(n, generator=generator)
        self.cursor = 0
        self.epoch = 0

    def __call__(self) -> torch.Tensor:
        if self.cursor + self.batch_size > self.n:
            self.order = torch.randperm(self.n, generator=self.generator)
            self.cursor = 0
            self.epoch += 1
        idx = self.order[self.cursor:self.cursor + self.batch_size]
        self.cursor += self.batch_size
        return idx

    def state_dict(self) -> dict[str, Any]:
        return {"order": self.order.clone(), "cursor": self.cursor, "epoch": self.epoch,
                "rng": self.generator.get_state()}

    def load_state_dict(self, d: Mapping[str, Any]) -> None:
        self.order, self.cursor, self.epoch = d["order"].clone(), int(d["cursor"]), int(d["epoch"])
        self.generator.set_state(d["rng"])


def _to_float(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    return x.to(device).float() / 127.5 - 1.0


# -- evaluation ---------------------------------------------------------------------------------------


def evaluate_heldout(module: nn.Module, spec: TranslationSpec, held: Any, device: str = "cpu") -> dict[str, float]:
    """Held-out numbers of a translator (eval mode, dropout off), on uint8 outputs like saved images:
    l1_a2b, psnr_a2b, ssim_a2b (and _b2a) against the targets when the held-out set is paired; cycle_a,
    cycle_b (mean |F(G(a)) - a| in [0, 1] units) for two-way translators."""
    from ganeval.translate_eval import images_to_l1, to_unit

    row: dict[str, float] = {}
    outs: dict[str, torch.Tensor] = {}
    for direction in spec.directions:
        src, tgt = (held.a, held.b) if direction == "a2b" else (held.b, held.a)
        outs[direction] = translate_images(module, src, direction, spec.value_range, device=device)
        if held.paired:
            for k, v in paired_metrics(outs[direction], tgt).items():
                row[f"{k}_{direction}"] = v
    if "b2a" in spec.directions:
        rec_a = translate_images(module, outs["a2b"], "b2a", spec.value_range, device=device)
        rec_b = translate_images(module, outs["b2a"], "a2b", spec.value_range, device=device)
        row["cycle_a"] = images_to_l1(to_unit(rec_a), to_unit(held.a))
        row["cycle_b"] = images_to_l1(to_unit(rec_b), to_unit(held.b))
    return row


def sample_grid(module: nn.Module, spec: TranslationSpec, held: Any, device: str = "cpu") -> np.ndarray:
    """Input | output (| target) for the first GRID_ROWS held-out examples, then the same for b2a."""
    cols: list[torch.Tensor] = []
    for direction in spec.directions:
        src, tgt = (held.a, held.b) if direction == "a2b" else (held.b, held.a)
        src = src[:GRID_ROWS]
        cols += [src, translate_images(module, src, direction, spec.value_range, device=device)]
        if held.paired:
            cols.append(tgt[:GRID_ROWS])
    return triplet_grid(cols, max_rows=GRID_ROWS)


# -- the loop ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TranslationResult:
    """What a finished run produced (paths inside `out`)."""

    out: Path
    step: int
    final: Path
    best: Path | None
    best_step: int | None
    best_l1: float | None
    history: list[dict[str, Any]]


def _history_columns(spec: TranslatorTrainerSpec, t: TranslationSpec, paired_heldout: bool) -> list[str]:
    cols = ["step", "epoch", *spec.loss_names]
    for d in t.directions:
        if paired_heldout:
            cols += [f"l1_{d}", f"psnr_{d}", f"ssim_{d}"]
    if "b2a" in t.directions:
        cols += ["cycle_a", "cycle_b"]
    return cols + ["time_s"]


def train_translation(config: TranslationConfig, *, resume: bool = False, progress: ProgressReporter | None = None,
                      on_step: Callable[[int], None] | None = None) -> TranslationResult:
    """Train `config.trainer` on two-domain data, writing the run folder `config.out` (module docstring).

    resume: continue from out/last.pt (only RESUMABLE_FIELDS may differ). on_step(step) runs after each
    step (a KeyboardInterrupt raised there is handled like Ctrl-C). Raises BadInputError for bad settings
    or data, TrainingInterrupted (exit 130) on Ctrl-C after saving out/last.pt.
    """
    spec = get_translation_trainer(config.trainer)
    if config.out is None:
        config = replace(config, out=str(Path("runs") / spec.name))
    validate_translation_config(config)
    out = Path(config.out)  # type: ignore[arg-type]
    progress = progress or NO_PROGRESS
    state: dict[str, Any] | None = None
    if resume:
        state = read_state(out / LAST)
        stored = TranslationConfig.from_dict(state["config"], where=out / LAST)
        a, b = stored.to_dict(), config.to_dict()
        differ = [k for k in a if k not in RESUMABLE_FIELDS and a[k] != b[k]]
        if differ:
            raise BadInputError(f"cannot resume {out / LAST} with different settings "
                                f"({', '.join(f'{k} {a[k]!r} -> {b[k]!r}' for k in differ)})")
    else:
        for name in (LAST, MANIFEST):
            if (out / name).exists():
                raise BadInputError(MSG_RUN_EXISTS.format(out=out, what=name))

    data = prepare_translation_data(config, spec)
    train, held = data.train, data.heldout
    if state is not None and state["run"]["dataset_fingerprint"] != train.fingerprint:
        raise BadInputError(f"cannot resume {out / LAST}: the dataset {config.dataset} changed since the run started")
    device = torch.device(config.device)
    models = spec.build(config, train, torch.Generator().manual_seed(derive_seed(config.seed, "init")))
    g_net, d_net = models.generator.to(device).train(), models.discriminator.to(device).train()
    opt_g = torch.optim.Adam(g_net.parameters(), lr=config.lr_g, betas=config.betas)
    opt_d = torch.optim.Adam(d_net.parameters(), lr=config.lr_d, betas=config.betas)
    noise = torch.Generator().manual_seed(derive_seed(config.seed, "noise"))
    set_dropout_noise(g_net, noise)
    feed_a = IndexFeeder(len(train.a), config.batch_size,
                         torch.Generator().manual_seed(derive_seed(config.seed, "data")))
    feed_b = None if train.paired else IndexFeeder(
        len(train.b), config.batch_size, torch.Generator().manual_seed(derive_seed(config.seed, "data-b")))
    pools = {name: ImagePool(config.pool_size) for name in spec.pools}

    def next_batch() -> tuple[torch.Tensor, torch.Tensor]:
        ia = feed_a()
        ib = ia if feed_b is None else feed_b()
        return _to_float(train.a[ia], device), _to_float(train.b[ib], device)

    run: dict[str, Any] = {"history": [], "loss_sums": {}, "loss_count": 0, "best_step": None, "best_l1": None,
                           "started_utc": utc_now(), "resumed_utc": [], "elapsed_s": 0.0, "steps_timed": 0,
                           "step_seconds": 0.0, "dataset_fingerprint": train.fingerprint}
    step = 0
    if state is not None:
        g_net.load_state_dict(state["generator"])
        d_net.load_state_dict(state["discriminator"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        noise.set_state(state["rng"]["noise"])
        feed_a.load_state_dict(state["data"]["a"])
        if feed_b is not None:
            feed_b.load_state_dict(state["data"]["b"])
        for name, pool in pools.items():
            pool.load_state_dict(state["pools"][name], device)
        run = dict(state["run"])
        run["resumed_utc"] = [*run.get("resumed_utc", []), utc_now()]
        step = int(state["step"])

    ctx = TranslationStep(generator=g_net, discriminator=d_net, opt_g=opt_g, opt_d=opt_d, next_batch=next_batch,
                          noise=noise, config=config, pools=pools)
    columns = _history_columns(spec, models.spec, held.paired)
    metric = "l1_a2b" if held.paired else None
    session_start, elapsed_before = time.perf_counter(), float(run["elapsed_s"])

    def elapsed() -> float:
        return elapsed_before + time.perf_counter() - session_start

    def provenance(at_step: int) -> dict[str, Any]:
        from ganeval.provenance import versions

        return {"trainer": spec.name, "seed": config.seed, "step": at_step, "config": config.to_dict(),
                "dataset": {"name": train.name, "fingerprint": train.fingerprint, "paired": train.paired},
                "heldout_l1": run["best_l1"] if at_step == run["best_step"] else None,
                "versions": {k: str(v) for k, v in versions().items()}, "created_utc": utc_now()}

    def save_translator_file(path: Path, at_step: int) -> Path:
        return save_translator(path, g_net, models.architecture, models.config, models.spec, provenance(at_step))

    def write_manifest(status: str) -> None:
        from ganeval.provenance import device_description, versions

        evals = [r for r in run["history"] if any(c in r for c in columns if c.startswith(("l1_", "cycle_")))]
        manifest = {
            "format": MANIFEST_FORMAT, "trainer": spec.name, "description": spec.description, "status": status,
            "step": step, "steps": config.steps, "seed": config.seed, "config": config.to_dict(),
            "dataset": {"name": config.dataset, "fingerprint": train.fingerprint, "paired": train.paired,
                        "n_train_a": len(train.a), "n_train_b": len(train.b), "n_heldout": len(held.a),
                        "heldout": data.heldout_kind, "heldout_fingerprint": held.fingerprint,
                        "domains": list(train.domains)},
            "translator": {"architecture": models.architecture, "config": models.config,
                           "translation": models.spec.to_dict(),
                           "parameters": sum(p.numel() for p in g_net.parameters())},
            "discriminator": {"parameters": sum(p.numel() for p in d_net.parameters()),
                              "patch_receptive_field": getattr(d_net, "receptive_field", None)},
            "best": {"step": run["best_step"], "l1_a2b": run["best_l1"],
                     "path": BEST if run["best_step"] is not None else None},
            "untrained_evaluation": evals[0] if evals and evals[0]["step"] == 0 else None,
            "last_evaluation": evals[-1] if evals else None,
            "started_utc": run["started_utc"], "resumed_utc": run["resumed_utc"],
            "ended_utc": utc_now() if status != "running" else None, "wall_s": round(elapsed(), 2),
            "seconds_per_step": round(run["step_seconds"] / max(run["steps_timed"], 1), 5),
            "versions": versions(), "device": device_description(config.device), "threads": torch.get_num_threads(),
        }
        atomic_write_text(out / MANIFEST, json.dumps(json_safe(manifest), indent=2, allow_nan=False) + "\n")

    def save_training_state() -> None:
        run["elapsed_s"] = elapsed()
        save_state(out / LAST, {
            "trainer": spec.name, "config": config.to_dict(), "step": step,
            "generator": g_net.state_dict(), "discriminator": d_net.state_dict(),
            "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(), "rng": {"noise": noise.get_state()},
            "data": {"a": feed_a.state_dict(), "b": feed_b.state_dict() if feed_b is not None else None},
            "pools": {name: pool.state_dict() for name, pool in pools.items()}, "run": run,
        })

    def evaluate_into(row: dict[str, Any]) -> None:
        row.update(evaluate_heldout(g_net, models.spec, held, config.device))
        if metric and row.get(metric) is not None and (run["best_l1"] is None or row[metric] < run["best_l1"]):
            run["best_l1"], run["best_step"] = row[metric], row["step"]
            save_translator_file(out / BEST, row["step"])

    out.mkdir(parents=True, exist_ok=True)
    if step == 0:
        save_translator_file(out / UNTRAINED, 0)
    with progress.session():
        if config.eval_every > 0 and step == 0 and not any(r["step"] == 0 for r in run["history"]):
            row: dict[str, Any] = {"step": 0, "epoch": 0}
            evaluate_into(row)
            row["time_s"] = 0.0
            run["history"].append(row)
            progress.log(escape(f"step 0 (untrained): {_eval_text(row)}"))
        write_manifest("running")
        write_history(out / HISTORY, columns, run["history"])
        task = progress.task(f"train {spec.name}", total=config.steps)
        progress.advance(task, step)
        in_step = False
        try:
            with graceful_sigint(progress) as stop_asked:
                while step < config.steps:
                    in_step = True
                    t0 = time.perf_counter()
                    losses = spec.step(ctx)
                    step += 1
                    run["step_seconds"] += time.perf_counter() - t0
                    run["steps_timed"] += 1
                    in_step = False
                    for name in spec.loss_names:
                        run["loss_sums"][name] = run["loss_sums"].get(name, 0.0) + float(losses[name])
                    run["loss_count"] += 1
                    last = step == config.steps
                    eval_due = config.eval_every > 0 and (step % config.eval_every == 0 or last)
                    if eval_due or last or (config.log_every and step % config.log_every == 0):
                        row = {"step": step, "epoch": feed_a.epoch,
                               **{n: s / run["loss_count"] for n, s in run["loss_sums"].items()}}
                        run["loss_sums"], run["loss_count"] = {}, 0
                        if eval_due:
                            evaluate_into(row)
                            progress.log(escape(f"step {step}: {_eval_text(row)}"))
                        row["time_s"] = round(elapsed(), 3)
                        run["history"].append(row)
                    if config.sample_every and (step % config.sample_every == 0 or last):
                        grid = sample_grid(g_net, models.spec, held, config.device)
                        write_png(out / SAMPLES / f"step_{step:06d}.png", grid)
                        write_png(out / SAMPLES / "latest.png", grid)
                    if last or (config.checkpoint_every and step % config.checkpoint_every == 0):
                        save_training_state()
                        write_manifest("running")
                        write_history(out / HISTORY, columns, run["history"])
                    progress.advance(task, 1, rate=" ".join(f"{k} {v:.3f}" for k, v in list(losses.items())[:3]))
                    if on_step is not None:
                        on_step(step)
                    if stop_asked():
                        raise KeyboardInterrupt
        except KeyboardInterrupt:
            hint = MSG_RESUME_HINT.format(name=spec.name, out=out)
            if in_step:
                raise TrainingInterrupted(f"interrupted during step {step + 1}; {out / LAST} holds the last periodic "
                                          f"checkpoint; continue with: {hint}", step=step) from None
            save_training_state()
            write_manifest("interrupted")
            write_history(out / HISTORY, columns, run["history"])
            raise TrainingInterrupted(f"interrupted after step {step}; the training state is saved in {out / LAST}; "
                                      f"continue with: {hint}", step=step) from None
        progress.finish(task, note=f"{config.steps} steps, {elapsed():.0f} s")
    final = save_translator_file(out / FINAL, step)
    write_manifest("finished")
    write_history(out / HISTORY, columns, run["history"])
    write_run_report(out, progress)
    return TranslationResult(out=out, step=step, final=final,
                             best=out / BEST if run["best_step"] is not None else None,
                             best_step=run["best_step"], best_l1=run["best_l1"], history=list(run["history"]))


def _eval_text(row: Mapping[str, Any]) -> str:
    keys = [k for k in ("l1_a2b", "psnr_a2b", "ssim_a2b", "l1_b2a", "cycle_a", "cycle_b") if row.get(k) is not None]
    return ", ".join(f"{k} {row[k]:.4f}" for k in keys) or "no held-out numbers"


def write_run_report(out: Path, progress: ProgressReporter = NO_PROGRESS) -> dict[str, Path] | None:
    """OUT/index.html + results.json + results.csv from the run's manifest, history and latest grid
    (ganeval.report.write_report): held-out numbers at step 0, the best step and the final step. The run
    is saved already: a report that cannot be written is a warning."""
    from ganeval.report import write_report
    from ganeval.report.html import Section, figure_block, read_history_csv, training_curves_section
    from ganeval.results import Result, RunResult

    try:
        m = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
        history = read_history_csv(out / HISTORY)
        results: list[Result] = []
        n = (m.get("dataset") or {}).get("n_heldout")
        for label, ev in (("untrained", m.get("untrained_evaluation")), ("final", m.get("last_evaluation"))):
            for key, value in (ev or {}).items():
                if key.startswith(("l1_", "psnr_", "ssim_", "cycle_")) and isinstance(value, (int, float)):
                    results.append(Result(f"{key}_{label}", float(value), n_real=n, n_fake=n, seed=m.get("seed"),
                                          details={"step": ev.get("step")}))
        best = m.get("best") or {}
        if best.get("l1_a2b") is not None:
            results.append(Result("l1_a2b_best", float(best["l1_a2b"]), n_real=n, n_fake=n, seed=m.get("seed"),
                                  details={"step": best.get("step"), "checkpoint": best.get("path")}))
        prov = {"kind": "train-reference-translation", "versions": m.get("versions"), "created_utc": m.get("ended_utc"),
                "inputs": {"heldout": {"path": m["dataset"]["name"], "kind": m["dataset"]["heldout"], "n": n,
                                       "fingerprint": m["dataset"].get("heldout_fingerprint")}},
                "seeds": {"train_seed": m.get("seed")}, "device": m.get("device"), "config": m.get("config"),
                "timings": {"wall_s": m.get("wall_s"), "seconds_per_step": m.get("seconds_per_step")},
                "run": {k: m.get(k) for k in ("trainer", "description", "status", "step", "steps", "translator",
                                              "discriminator", "threads", "dataset")}}
        sections = []
        latest = out / SAMPLES / "latest.png"
        if latest.is_file():
            grid = figure_block(latest.read_bytes(), alt="input, output, target")
            sections.append(Section("Held-out examples", (grid,),
                                    intro="Each row: input, translation, target (when paired); cyclegan adds the "
                                          "B -> A triplet to the right."))
        columns = list(dict.fromkeys(k for r in history for k in r))
        groups = {"losses": [c for c in columns if c.startswith("loss_")],
                  "held-out L1 (and cycle error)": [c for c in columns if c.startswith(("l1_", "cycle_"))],
                  "held-out PSNR (dB)": [c for c in columns if c.startswith("psnr_")],
                  "held-out SSIM": [c for c in columns if c.startswith("ssim_")]}
        curves = training_curves_section(history, groups=groups)
        sections += [curves] if curves is not None else []
        paths = write_report(RunResult(results=results, provenance=prov), out, sections=sections,
                             title=f"ganeval train-reference {m.get('trainer')}: {out}")
    except Exception as exc:  # the run itself is saved; the report is a convenience
        progress.log(f"[yellow]warning:[/] the run report could not be written: {escape(type(exc).__name__)}: "
                     f"{escape(str(exc))}")
        return None
    progress.log(escape(f"report: {paths['html']}"))
    return paths
