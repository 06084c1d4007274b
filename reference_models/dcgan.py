"""`dcgan`: deep convolutional GAN (Radford, Metz & Chintala 2016; course 1, week 2).

As the paper prescribes: a generator of transposed convolutions with BatchNorm and ReLU and a tanh
output; a discriminator of strided convolutions with LeakyReLU(0.2) and BatchNorm on every layer but
the first; no pooling, no fully connected hidden layers; weights N(0, 0.02), BatchNorm weights
N(1, 0.02), biases 0; Adam with lr 2e-4 and betas (0.5, 0.999). Loss: binary cross-entropy with the
non-saturating generator loss. The networks are size-generic (reference_models.nets): 28x28
Fashion-MNIST is 7x7 -> 14x14 -> 28x28; 64x64 is 4 -> 8 -> 16 -> 32 -> 64 as in the paper.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ganeval.errors import BadInputError
from ganeval.generators import LatentSpec, register_architecture
from reference_models.losses import bce_step
from reference_models.nets import ConvDiscriminator, ConvGenerator, built_quietly, init_dcgan_, upsampling_plan
from reference_models.registry import DataInfo, Models, StepContext, TrainerSpec, register_trainer

if TYPE_CHECKING:
    from reference_models.loop import TrainConfig

NAME = "dcgan"


def build_generator(z_dim: int, image_size: int, channels: int, width: int) -> ConvGenerator:
    """The registered architecture "dcgan" (checkpoint config: z_dim, image_size, channels, width)."""
    return built_quietly(lambda: ConvGenerator(z_dim, image_size, channels, width))  # type: ignore[return-value]


def conv_models(name: str, config: TrainConfig, data: DataInfo, init: torch.Generator, critic_norm: str,
                wasserstein: bool = False) -> Models:
    """A DCGAN generator and a convolutional discriminator (`critic_norm`; no output bias for a
    `wasserstein` critic) for square images of `data`, initialised as Radford et al. from `init`.
    Shared by dcgan and wgan-gp."""
    c, h, w = data.image_shape
    if h != w:
        raise BadInputError(f"{name} needs square images, got {h}x{w}; pass --image-size")
    upsampling_plan(h, name)  # a clear error for sizes the networks cannot make
    arch = {"z_dim": config.z_dim, "image_size": h, "channels": c, "width": config.width}
    g = init_dcgan_(build_generator(**arch), init)
    d = init_dcgan_(built_quietly(
        lambda: ConvDiscriminator(h, c, config.width, norm=critic_norm, output_bias=not wasserstein)), init)
    latent = LatentSpec(z_dim=config.z_dim, image_shape=data.image_shape)
    return Models(generator=g, discriminator=d, architecture=name, config=arch, latent=latent)


def build(config: TrainConfig, data: DataInfo, init: torch.Generator) -> Models:
    """DCGAN generator and BatchNorm discriminator for `data`."""
    return conv_models(NAME, config, data, init, critic_norm="batch")


def step(ctx: StepContext) -> dict[str, float]:
    """One discriminator and one generator update (BCE)."""
    return bce_step(ctx)


register_architecture(NAME, build_generator)
register_trainer(TrainerSpec(
    name=NAME,
    description="transposed convolutions, BatchNorm, ReLU/LeakyReLU(0.2), tanh, N(0, 0.02) init, "
                "Adam 2e-4 (0.5, 0.999) (Radford et al. 2016; course 1 week 2)",
    build=build, step=step, loss_names=("loss_d", "loss_g", "d_real", "d_fake"),
    defaults={"z_dim": 64, "width": 32, "lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.5, 0.999), "batch_size": 64},
))
