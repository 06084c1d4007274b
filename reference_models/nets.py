"""Building blocks shared by the reference trainers: size-generic DCGAN-style networks and seeded init.

Convolutional generators start from a base x base map and double it `stages` times, so an image side
must be base * 2**stages with MIN_BASE <= base <= MAX_BASE and stages >= 1 (`upsampling_plan`):
28 = 7 * 2**2 (Fashion-MNIST), 16 = 4 * 2**2, 32 = 4 * 2**3, 64 = 4 * 2**4.

    ConvGenerator:     z (N, z_in) -> ConvTranspose(base) -> [ConvTranspose(4, stride 2)] x stages -> tanh
    ConvDiscriminator: image (N, c_in, S, S) -> [Conv(4, stride 2)] x stages -> Conv(base) -> logit (N,)

Widths follow Radford et al. (2016): the generator's last hidden map has `width` channels and each
earlier one twice as many; the discriminator mirrors it. No module draws from torch's global RNG for
its weights: the trainers re-initialise every parameter from a seeded torch.Generator
(`init_dcgan_`, `init_default_`), and networks are constructed inside `torch.random.fork_rng`, so
building one leaves the caller's global RNG untouched.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from ganeval.errors import BadInputError

MIN_BASE, MAX_BASE = 3, 8


def upsampling_plan(image_size: int, who: str = "this architecture") -> tuple[int, int]:
    """(base, stages) with image_size == base * 2**stages, 3 <= base <= 8, stages >= 1; else BadInputError."""
    size = int(image_size)
    stages = 0
    while size % 2 == 0 and size // 2 >= MIN_BASE:
        size //= 2
        stages += 1
    if stages < 1 or not MIN_BASE <= size <= MAX_BASE:
        raise BadInputError(
            f"{who} cannot make {image_size}x{image_size} images: the side must be base * 2^k with base "
            f"{MIN_BASE}..{MAX_BASE} and k >= 1 (e.g. 16, 28, 32, 64); pass --image-size"
        )
    return size, stages


def built_quietly(factory: Callable[[], nn.Module]) -> nn.Module:
    """Call `factory` with torch's global CPU RNG state saved and restored (module init draws from it)."""
    with torch.random.fork_rng(devices=[]):
        return factory()


class ConvGenerator(nn.Module):
    """DCGAN generator (Radford et al. 2016): transposed convolutions, BatchNorm + ReLU, tanh output.

    z_in: input width (z_dim, plus the one-hot classes for the conditional GAN); output (N, channels,
    image_size, image_size) in [-1, 1].
    """

    def __init__(self, z_in: int, image_size: int, channels: int, width: int) -> None:
        super().__init__()
        base, stages = upsampling_plan(image_size, "the convolutional generator")
        c = width * 2 ** (stages - 1)
        layers: list[nn.Module] = [nn.ConvTranspose2d(z_in, c, base, 1, 0, bias=False), nn.BatchNorm2d(c), nn.ReLU()]
        for _ in range(stages - 1):
            layers += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(c // 2), nn.ReLU()]
            c //= 2
        layers += [nn.ConvTranspose2d(c, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.reshape(z.shape[0], -1, 1, 1))


class ConvDiscriminator(nn.Module):
    """DCGAN discriminator / WGAN critic: strided convolutions with LeakyReLU(0.2), one logit per image.

    norm: "batch" (DCGAN: BatchNorm on every layer but the first), "layer" (GroupNorm with one group,
    i.e. LayerNorm over (C, H, W), per sample), or "none". The WGAN-GP critic must not use "batch":
    the gradient penalty is defined per sample.
    output_bias: False for a Wasserstein critic, whose loss is invariant to a constant added to its
    output (the bias would never receive a gradient).
    """

    def __init__(self, image_size: int, c_in: int, width: int, norm: str = "batch", output_bias: bool = True) -> None:
        super().__init__()
        if norm not in ("batch", "layer", "none"):
            raise ValueError(f"unknown norm {norm!r}")
        base, stages = upsampling_plan(image_size, "the convolutional discriminator")
        layers: list[nn.Module] = [nn.Conv2d(c_in, width, 4, 2, 1), nn.LeakyReLU(0.2)]
        c = width
        for _ in range(stages - 1):
            layers.append(nn.Conv2d(c, 2 * c, 4, 2, 1, bias=norm == "none"))
            if norm == "batch":
                layers.append(nn.BatchNorm2d(2 * c))
            elif norm == "layer":
                layers.append(nn.GroupNorm(1, 2 * c))
            layers.append(nn.LeakyReLU(0.2))
            c *= 2
        layers.append(nn.Conv2d(c, 1, base, 1, 0, bias=output_bias))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).reshape(x.shape[0])


_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)


@torch.no_grad()
def init_dcgan_(module: nn.Module, generator: torch.Generator) -> nn.Module:
    """Radford et al.'s init: conv/linear weights N(0, 0.02), norm weights N(1, 0.02), all biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02, generator=generator)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, _NORMS) and getattr(m, "weight", None) is not None:
            nn.init.normal_(m.weight, 1.0, 0.02, generator=generator)
            nn.init.zeros_(m.bias)
    return module


@torch.no_grad()
def init_default_(module: nn.Module, generator: torch.Generator) -> nn.Module:
    """PyTorch's own default init, drawn from `generator`: weights kaiming_uniform(a=sqrt(5)), i.e.
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)), biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)); norms weight 1, bias 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=generator)
            if m.bias is not None:
                fan_in, _ = nn.init._calculate_fan_in_and_fan_out(m.weight)
                bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
                nn.init.uniform_(m.bias, -bound, bound, generator=generator)
        elif isinstance(m, _NORMS) and getattr(m, "weight", None) is not None:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return module
