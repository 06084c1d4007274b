"""The trainer registry: what a reference model contributes to the shared loop (reference_models.loop).

A trainer is its networks and one training step; the loop does everything else (data order, latents,
EMA, evaluation, sample grids, checkpoints, resume). Built-ins register through the same call a plugin
uses:

    register_trainer(TrainerSpec(name="dcgan", description=..., build=build, step=step,
                                 loss_names=("loss_d", "loss_g"), defaults={"lr_g": 2e-4, ...}))

`build(config, data, init_generator)` returns `Models`; every weight must be drawn from
`init_generator`. `step(ctx)` performs one generator update (and the discriminator updates that go
with it), drawing real batches only from `ctx.next_batch()` and noise only from `ctx.latents()` /
`ctx.uniform()`, and returns its losses as floats named as `loss_names`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ganeval.errors import BadInputError
from ganeval.generators import LatentSpec

if TYPE_CHECKING:
    from reference_models.loop import TrainConfig


@dataclass(frozen=True)
class DataInfo:
    """What a trainer needs to know about its data: image shape (C, H, W) and the classes it conditions on."""

    image_shape: tuple[int, int, int]
    n_classes: int = 0
    class_names: tuple[str, ...] = ()


@dataclass
class Models:
    """A trainer's networks. `architecture` and `config` rebuild the generator through
    ganeval.generators (`builder(**config)`); `latent` describes its input and output."""

    generator: nn.Module
    discriminator: nn.Module
    architecture: str
    config: dict[str, Any]
    latent: LatentSpec


@dataclass
class StepContext:
    """Everything one training step may use. Randomness only through `latents`, `uniform` and `next_batch`."""

    generator: nn.Module
    discriminator: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    next_batch: Callable[[], tuple[torch.Tensor, torch.Tensor | None]]  # float (B, C, H, W) in [-1, 1], int64 (B,)
    noise: torch.Generator
    config: TrainConfig
    z_dim: int
    n_classes: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    def latents(self, n: int) -> torch.Tensor:
        """(n, z_dim) standard normal latents from the step's seeded noise generator, on the device."""
        return torch.randn(n, self.z_dim, generator=self.noise).to(self.device)

    def uniform(self, shape: tuple[int, ...]) -> torch.Tensor:
        """U(0, 1) values of `shape` from the noise generator (e.g. WGAN-GP's interpolation weights)."""
        return torch.rand(shape, generator=self.noise).to(self.device)


@dataclass(frozen=True)
class TrainerSpec:
    """A registered reference trainer.

    defaults:    TrainConfig fields this model sets differently from TrainConfig's generic defaults
                 (its paper's learning rates and betas, a width that trains in minutes on a CPU).
    conditional: whether it needs class labels (the loop then passes labels and checks the dataset has them).
    """

    name: str
    description: str
    build: Callable[[TrainConfig, DataInfo, torch.Generator], Models]
    step: Callable[[StepContext], dict[str, float]]
    loss_names: tuple[str, ...]
    defaults: Mapping[str, Any] = field(default_factory=dict)
    conditional: bool = False


_REGISTRY: dict[str, TrainerSpec] = {}


def register_trainer(spec: TrainerSpec) -> None:
    """Add (or replace) a trainer; `ganeval train-reference NAME` takes every registered name."""
    _REGISTRY[spec.name] = spec


def available_trainers() -> dict[str, TrainerSpec]:
    """The registered trainers by name (importing reference_models registers the built-ins)."""
    import reference_models  # noqa: F401  (registers the built-in trainers)

    return dict(_REGISTRY)


def get_trainer(name: str) -> TrainerSpec:
    """The trainer called `name`; BadInputError listing the known names otherwise."""
    trainers = available_trainers()
    if name not in trainers:
        raise BadInputError(f"unknown reference model {name!r}; choose one of: {', '.join(sorted(trainers))}")
    return trainers[name]


@dataclass(frozen=True)
class OtherTrainerSpec:
    """A reference model that is not a GAN and does not run on the shared loop (the attribute classifier).

    options: the `train-reference` options it takes (the command's parameter names, e.g. "data", "epochs");
             the command refuses any other option given with it.
    run(settings, progress): trains with settings {option: value, None when not given} and returns the
             text the command prints.
    """

    name: str
    description: str
    options: tuple[str, ...]
    run: Callable[[dict[str, Any], Any], str]


_OTHER: dict[str, OtherTrainerSpec] = {}


def register_other_trainer(spec: OtherTrainerSpec) -> None:
    """Add (or replace) a non-GAN trainer; `ganeval train-reference NAME` runs it through its own code path."""
    _OTHER[spec.name] = spec


def available_other_trainers() -> dict[str, OtherTrainerSpec]:
    """The registered non-GAN trainers by name (importing reference_models registers the built-ins)."""
    import reference_models  # noqa: F401  (registers the built-in trainers)

    return dict(_OTHER)
