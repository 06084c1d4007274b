"""`gan`: the original GAN with multilayer perceptrons (Goodfellow et al. 2014; course 1, week 1).

Generator: z -> [Linear, BatchNorm1d, ReLU] with widths w, 2w, 4w, 8w -> Linear(C*H*W) -> tanh,
reshaped to (C, H, W). Discriminator: flattened image -> [Linear, LeakyReLU(0.2)] with widths 4w, 2w,
w -> Linear(1), a logit. With w = 128 these are the course's networks (128-256-512-1024 and
512-256-128), with tanh instead of sigmoid so that images lie in [-1, 1] like every ganeval
generator. Loss: binary cross-entropy, non-saturating generator loss (reference_models.losses).
Weights: PyTorch's default initialisation, drawn from the run's seeded generator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from ganeval.generators import LatentSpec, register_architecture
from reference_models.losses import bce_step
from reference_models.nets import built_quietly, init_default_
from reference_models.registry import DataInfo, Models, StepContext, TrainerSpec, register_trainer

if TYPE_CHECKING:
    from reference_models.loop import TrainConfig

NAME = "gan"


class MLPGenerator(nn.Module):
    """z (N, z_dim) -> images (N, C, H, W) in [-1, 1] through four hidden layers (w, 2w, 4w, 8w)."""

    def __init__(self, z_dim: int, image_shape: list[int] | tuple[int, int, int], width: int) -> None:
        super().__init__()
        self.image_shape = tuple(int(v) for v in image_shape)
        layers: list[nn.Module] = []
        prev = z_dim
        for h in (width, 2 * width, 4 * width, 8 * width):
            layers += [nn.Linear(prev, h), nn.BatchNorm1d(h), nn.ReLU()]
            prev = h
        c, hh, ww = self.image_shape
        layers += [nn.Linear(prev, c * hh * ww), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).reshape(z.shape[0], *self.image_shape)


class MLPDiscriminator(nn.Module):
    """Images (N, C, H, W) -> logits (N,) through hidden layers 4w, 2w, w with LeakyReLU(0.2)."""

    def __init__(self, image_shape: list[int] | tuple[int, int, int], width: int) -> None:
        super().__init__()
        c, h, w = (int(v) for v in image_shape)
        layers: list[nn.Module] = [nn.Flatten()]
        prev = c * h * w
        for hidden in (4 * width, 2 * width, width):
            layers += [nn.Linear(prev, hidden), nn.LeakyReLU(0.2)]
            prev = hidden
        layers.append(nn.Linear(prev, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).reshape(x.shape[0])


def build_generator(z_dim: int, image_shape: list[int], width: int) -> MLPGenerator:
    """The registered architecture "gan" (checkpoint config: z_dim, image_shape [C, H, W], width)."""
    return built_quietly(lambda: MLPGenerator(z_dim, image_shape, width))  # type: ignore[return-value]


def build(config: TrainConfig, data: DataInfo, init: torch.Generator) -> Models:
    """The generator and discriminator for `data`, initialised from `init`."""
    arch = {"z_dim": config.z_dim, "image_shape": list(data.image_shape), "width": config.width}
    g = init_default_(build_generator(**arch), init)
    d = init_default_(built_quietly(lambda: MLPDiscriminator(data.image_shape, config.width)), init)
    latent = LatentSpec(z_dim=config.z_dim, image_shape=data.image_shape)
    return Models(generator=g, discriminator=d, architecture=NAME, config=arch, latent=latent)


def step(ctx: StepContext) -> dict[str, float]:
    """One discriminator and one generator update (BCE)."""
    return bce_step(ctx)


register_architecture(NAME, build_generator)
register_trainer(TrainerSpec(
    name=NAME,
    description="MLP generator/discriminator, BCE loss (Goodfellow et al. 2014; course 1 week 1)",
    build=build, step=step, loss_names=("loss_d", "loss_g", "d_real", "d_fake"),
    defaults={"z_dim": 64, "width": 128, "lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.5, 0.999), "batch_size": 128},
))
