"""The building blocks of the style-based generator (Karras, Laine & Aila 2019; course 2, week 3).

Each block is a small module with one job; reference_models/stylegan.py assembles them:

    z (N, z_dim) -> MappingNetwork -> w (N, w_dim)
    ConstantInput (4x4) -> [StyleLayer: (upsample, conv) -> NoiseInjection -> bias, LeakyReLU -> AdaIN(w_i)] x 2
        per resolution -> ToRGB

Layers use the equalised learning rate of Karras et al. (2018, ProGAN; kept in StyleGAN): weights are
stored N(0, 1) (N(0, 1/lr_mul) with a learning-rate multiplier) and scaled by lr_mul / sqrt(fan_in) at run
time, so Adam's per-parameter step sizes act alike on every layer. The mapping network uses lr_mul 0.01.
No module draws from torch's global RNG: `init_stylegan_` re-draws every weight and every constant noise
map from an explicit torch.Generator.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)  # keeps the second moment of N(0, 1) inputs about 1 (StyleGAN's activation gain)


def lrelu(x: torch.Tensor) -> torch.Tensor:
    """LeakyReLU(0.2) times sqrt(2), StyleGAN's activation: without the gain every layer halves the signal's
    second moment (the mapping network's w then varies too little between samples to give distinct styles)."""
    return F.leaky_relu(x, LRELU_SLOPE) * LRELU_GAIN


class ScaledLeakyReLU(nn.Module):
    """`lrelu` as a module (for nn.Sequential)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return lrelu(x)


class EqualLinear(nn.Module):
    """Linear layer with the equalised learning rate: y = x (W * lr_mul / sqrt(in))^T + b * lr_mul.

    x (N, in_features) -> (N, out_features). `bias_init` is the effective initial bias.
    """

    def __init__(self, in_features: int, out_features: int, bias_init: float = 0.0, lr_mul: float = 1.0) -> None:
        super().__init__()
        self.lr_mul = float(lr_mul)
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init) / self.lr_mul))
        self.scale = self.lr_mul / math.sqrt(in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


class EqualConv2d(nn.Module):
    """Square convolution (stride 1, 'same' padding) with the equalised learning rate.

    x (N, in_ch, H, W) -> (N, out_ch, H, W). `bias=False` leaves the bias to a later layer (StyleLayer adds
    it after the noise, as StyleGAN does).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True) -> None:
        super().__init__()
        self.lr_mul = 1.0
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.scale = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.padding = kernel_size // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class PixelNorm(nn.Module):
    """x / sqrt(mean(x^2 over dim 1) + eps): puts every latent on the sphere of radius sqrt(dim)."""

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + self.eps)


class MappingNetwork(nn.Module):
    """z (N, z_dim) -> w (N, w_dim): pixel norm of z, then `n_layers` x (EqualLinear + LeakyReLU(0.2) x sqrt(2)).

    The learned, non-linear map lets the intermediate latent space W follow the data's factors of
    variation instead of z's fixed Gaussian (the paper's disentanglement argument). lr_mul 0.01 as in
    the paper (its layers learn 100x slower).
    """

    def __init__(self, z_dim: int, w_dim: int, n_layers: int, lr_mul: float = 0.01) -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"the mapping network needs at least one layer, got {n_layers}")
        layers: list[nn.Module] = [PixelNorm()]
        for i in range(n_layers):
            layers += [EqualLinear(z_dim if i == 0 else w_dim, w_dim, lr_mul=lr_mul), ScaledLeakyReLU()]
        self.net = nn.Sequential(*layers)
        self.n_layers = n_layers

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class AdaIN(nn.Module):
    """Adaptive instance normalisation: AdaIN(x, w)_c = y_s,c (x_c - mu(x_c)) / sigma(x_c) + y_b,c.

    x (N, C, H, W), w (N, w_dim) -> (N, C, H, W). Each channel of each sample is normalised to mean 0 and
    standard deviation 1 over its H x W values, then given the style's scale y_s and bias y_b, computed
    from w by a learned affine map (`style`, initialised to y_s = 1, y_b = 0). The output channel's
    mean is therefore y_b and its standard deviation |y_s| (up to the eps of the normalisation).
    """

    def __init__(self, channels: int, w_dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.channels = channels
        self.eps = eps
        self.style = EqualLinear(w_dim, 2 * channels)
        with torch.no_grad():
            self.style.bias[:channels] = 1.0  # y_s starts at 1 (the identity style)

    def styles(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(y_s, y_b), each (N, C): the per-channel scale and bias that w asks for."""
        y = self.style(w)
        return y[:, :self.channels], y[:, self.channels:]

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        y_s, y_b = self.styles(w)
        normed = F.instance_norm(x, eps=self.eps)
        return y_s[:, :, None, None] * normed + y_b[:, :, None, None]


class NoiseInjection(nn.Module):
    """x + s_c * noise: one single-channel noise map (N or 1, 1, H, W) added to every channel c with a
    learned per-channel scale s (initialised to 0, as in the paper, so noise is learned into use).

    The noise itself is an input, never drawn here: the caller passes maps drawn from an explicit
    torch.Generator (training) or fixed ones (sampling), so the module is deterministic.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return x + self.weight * noise


class ConstantInput(nn.Module):
    """The synthesis network's learned constant input (1, C, size, size), repeated for a batch of N."""

    def __init__(self, channels: int, size: int = 4) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1, channels, size, size))

    def forward(self, n: int) -> torch.Tensor:
        return self.weight.expand(n, -1, -1, -1)


class StyleLayer(nn.Module):
    """One styled layer: [upsample x2 (bilinear)] -> [3x3 conv] -> noise -> bias, LeakyReLU(0.2) -> AdaIN(w).

    x (N, in_ch, H, W), w (N, w_dim), noise (N or 1, 1, H', W') -> (N, out_ch, H', W'), H' = 2H when
    `upsample`. `conv=False` is the first layer at 4x4, which styles the constant input directly.
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, upsample: bool = False,
                 conv: bool = True) -> None:
        super().__init__()
        if not conv and (upsample or in_channels != out_channels):
            raise ValueError("a layer without convolution can neither upsample nor change the width")
        self.upsample = upsample
        self.conv = EqualConv2d(in_channels, out_channels, 3, bias=False) if conv else None
        self.noise = NoiseInjection(out_channels)
        self.bias = nn.Parameter(torch.zeros(1, out_channels, 1, 1))
        self.adain = AdaIN(out_channels, w_dim)

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        if self.conv is not None:
            x = self.conv(x)
        x = lrelu(self.noise(x, noise) + self.bias)
        return self.adain(x, w)


class ToRGB(nn.Module):
    """1x1 convolution from features (N, C, H, W) to an image (N, channels, H, W); linear output."""

    def __init__(self, in_channels: int, channels: int) -> None:
        super().__init__()
        self.conv = EqualConv2d(in_channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class MinibatchStdDev(nn.Module):
    """Appends one feature map: the standard deviation of each feature over groups of `group_size`
    samples, averaged (ProGAN's minibatch statistic; lets the discriminator see a lack of variety).
    x (N, C, H, W) -> (N, C + 1, H, W); N must be a multiple of the group size actually used,
    min(group_size, N), else the whole batch is one group."""

    def __init__(self, group_size: int = 4) -> None:
        super().__init__()
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = min(self.group_size, n)
        if n % g:
            g = n
        y = x.reshape(g, n // g, c, h, w)
        y = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # (n // g,)
        y = y.repeat(g)[:, None, None, None].expand(n, 1, h, w)
        return torch.cat([x, y], dim=1)


def mix_styles(w1: torch.Tensor, w2: torch.Tensor, crossover: int, num_ws: int) -> torch.Tensor:
    """Style mixing: per-layer styles (N, num_ws, w_dim) taking w1 (N, w_dim) for layers 0 .. crossover - 1
    and w2 for layers crossover .. num_ws - 1 (crossover >= num_ws: w1 everywhere)."""
    if w1.shape != w2.shape or w1.ndim != 2:
        raise ValueError(f"mix_styles takes two (N, w_dim) tensors, got {tuple(w1.shape)} and {tuple(w2.shape)}")
    layer = torch.arange(num_ws, device=w1.device)[None, :, None]
    return torch.where(layer < crossover, w1[:, None, :], w2[:, None, :])


@torch.no_grad()
def init_stylegan_(module: nn.Module, generator: torch.Generator) -> nn.Module:
    """Draw every equalised weight N(0, 1 / lr_mul) from `generator` (biases, styles' biases, the constant
    input and the noise scales keep their constructor values: 0, 1, 1, 0). Returns `module`."""
    for m in module.modules():
        if isinstance(m, (EqualLinear, EqualConv2d)):
            m.weight.normal_(0.0, 1.0 / m.lr_mul, generator=generator)
    return module
