"""`cgan`: conditional GAN (Mirza & Osindero 2014; course 1, week 4).

The class is given to both networks as a one-hot vector, as the course builds it:

* generator input: z (N, z_dim) concatenated with one_hot(label, K) (N, K) -> (N, z_dim + K), fed to the
  DCGAN generator (`generator_input`);
* discriminator input: the image (N, C, H, W) concatenated along channels with K constant maps, map k
  being all ones when the label is k and all zeros otherwise -> (N, C + K, H, W) (`discriminator_input`),
  fed to the DCGAN discriminator.

Loss: binary cross-entropy (non-saturating); fake images are conditioned on the labels of the real
batch. Init and Adam (2e-4, (0.5, 0.999)) as DCGAN. K = --n-classes, by default the dataset's number
of classes; with fewer, only the images of the first K classes are used. Evaluation adds class
consistency: how often the fmnist-cnn classifier assigns a sample to its conditioning class.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from ganeval.errors import BadInputError
from ganeval.generators import LatentSpec, register_architecture
from reference_models.losses import bce_step
from reference_models.nets import ConvDiscriminator, ConvGenerator, built_quietly, init_dcgan_, upsampling_plan
from reference_models.registry import DataInfo, Models, StepContext, TrainerSpec, register_trainer

if TYPE_CHECKING:
    from reference_models.loop import TrainConfig

NAME = "cgan"


def generator_input(z: torch.Tensor, labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """(N, z_dim) latents and (N,) int64 labels -> (N, z_dim + K): z followed by the one-hot class."""
    return torch.cat([z, F.one_hot(labels.long(), n_classes).to(z.dtype)], dim=1)


def discriminator_input(images: torch.Tensor, labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """(N, C, H, W) images and (N,) labels -> (N, C + K, H, W): the image followed by K one-hot maps."""
    n, _, h, w = images.shape
    maps = F.one_hot(labels.long(), n_classes).to(images.dtype)[:, :, None, None].expand(n, n_classes, h, w)
    return torch.cat([images, maps], dim=1)


class ConditionalGenerator(nn.Module):
    """forward(z (N, z_dim), labels (N,)) -> images (N, C, S, S) in [-1, 1] of the labelled classes."""

    def __init__(self, z_dim: int, n_classes: int, image_size: int, channels: int, width: int) -> None:
        super().__init__()
        self.n_classes = n_classes
        self.net = ConvGenerator(z_dim + n_classes, image_size, channels, width)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.net(generator_input(z, labels, self.n_classes))


class ConditionalDiscriminator(nn.Module):
    """forward(images (N, C, S, S), labels (N,)) -> logits (N,): real-and-of-this-class vs not."""

    def __init__(self, n_classes: int, image_size: int, channels: int, width: int) -> None:
        super().__init__()
        self.n_classes = n_classes
        self.net = ConvDiscriminator(image_size, channels + n_classes, width, norm="batch")

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.net(discriminator_input(images, labels, self.n_classes))


def build_generator(z_dim: int, n_classes: int, image_size: int, channels: int, width: int) -> ConditionalGenerator:
    """The registered architecture "cgan" (checkpoint config: z_dim, n_classes, image_size, channels, width)."""
    return built_quietly(  # type: ignore[return-value]
        lambda: ConditionalGenerator(z_dim, n_classes, image_size, channels, width))


def build(config: TrainConfig, data: DataInfo, init: torch.Generator) -> Models:
    """Conditional DCGAN generator and discriminator for `data` (K = data.n_classes)."""
    c, h, w = data.image_shape
    if h != w:
        raise BadInputError(f"{NAME} needs square images, got {h}x{w}; pass --image-size")
    upsampling_plan(h, NAME)
    k = data.n_classes
    arch = {"z_dim": config.z_dim, "n_classes": k, "image_size": h, "channels": c, "width": config.width}
    g = init_dcgan_(build_generator(**arch), init)
    d = init_dcgan_(built_quietly(lambda: ConditionalDiscriminator(k, h, c, config.width)), init)
    latent = LatentSpec(z_dim=config.z_dim, n_classes=k, class_names=data.class_names, image_shape=data.image_shape)
    return Models(generator=g, discriminator=d, architecture=NAME, config=arch, latent=latent)


def step(ctx: StepContext) -> dict[str, float]:
    """One discriminator and one generator update (BCE), both conditioned on the real batch's labels."""
    return bce_step(ctx, conditional=True)


register_architecture(NAME, build_generator)
register_trainer(TrainerSpec(
    name=NAME,
    description="class as one-hot on the generator input and as one-hot maps on the discriminator input, "
                "DCGAN networks, BCE loss (Mirza & Osindero 2014; course 1 week 4)",
    build=build, step=step, loss_names=("loss_d", "loss_g", "d_real", "d_fake"), conditional=True,
    defaults={"z_dim": 64, "width": 32, "lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.5, 0.999), "batch_size": 64},
))
