"""`stylegan`: a style-based generator with progressive growing (Karras, Laine & Aila 2019; course 2, week 3).

    z -> MappingNetwork -> w ----------------(per-layer styles, style mixing in training)-------------+
    ConstantInput 4x4 -> StyleLayer x 2 -> [x2 -> StyleLayer x 2] per resolution up to the current one ->
        ToRGB (fading in from the upsampled previous resolution's ToRGB with weight alpha) -> nearest
        upsampling to the full image size

The components live in reference_models/stylegan_components.py. The generator exposes the w-space hook
of `ganeval sweep` (mapping(z) -> w, truncate_w(w, psi), synthesis(w)), so truncation happens in W:
w' = w_avg + psi (w - w_avg), w_avg an exponential moving average (decay W_AVG_BETA) of the mapped w of
every training batch, kept as a buffer (so it is in every checkpoint), optionally only for the first
`truncation_cutoff` layers (coarse styles).

Progressive growing is a pure function of the global step (`stage_at`), stored in two generator buffers
(train_step, phase_steps), so a resumed run is at exactly the same stage and an evaluated or saved
generator renders at the stage it was trained to (a generator at 8x8 is nearest-upsampled to the full
size). The phases, each `phase_steps` long: stable at start_size, then per doubling a fade-in (alpha
0 -> 1) and a stable phase; the last fade-in ends at GROW_FRACTION of the run's --steps (fixed when the
run starts: a resumed run with more steps keeps its schedule), after which training stays at full size.

Noise inputs: in training, fresh maps drawn from the step's seeded generator; when sampling
(forward / synthesis without `noise`), fixed per-layer maps drawn from the init seed and stored as
buffers (StyleGAN2's "const" noise mode). A sample is thus a deterministic function of z and the
checkpoint, independent of batch size and of the other samples.

Loss: the non-saturating logistic loss with the R1 penalty gamma/2 E||grad D(x_real)||^2 on real
images (gamma = gp_lambda), as the StyleGAN paper trains; one discriminator update per generator
update (no n_critic, unlike WGAN-GP), no interpolates, which halves the cost per step on a CPU. The
penalty is applied lazily (StyleGAN2's lazy regularisation): every R1_EVERY-th step, weighted by R1_EVERY.
Adam (0, 0.99) with lr 1e-3 (StyleGAN's setting at low resolutions), batch 32, equalised learning rate, EMA 0.995 of G.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from ganeval.errors import BadInputError
from ganeval.generators import LatentSpec, register_architecture
from reference_models.losses import frozen
from reference_models.nets import built_quietly
from reference_models.registry import DataInfo, Models, StepContext, TrainerSpec, register_trainer
from reference_models.stylegan_components import (
    ConstantInput,
    EqualConv2d,
    EqualLinear,
    MappingNetwork,
    MinibatchStdDev,
    StyleLayer,
    ToRGB,
    init_stylegan_,
    lrelu,
    mix_styles,
)

if TYPE_CHECKING:
    from reference_models.loop import TrainConfig

NAME = "stylegan"
START_SIZE = 8  # progressive growing starts here (the 4x4 and 8x8 layers train together)
MAPPING_LAYERS = 4  # the paper uses 8 at 1024x1024; 4 is plenty for 32x32 and half the cost
GROW_FRACTION = 0.5  # the last fade-in ends at this fraction of --steps
MIXING_PROB = 0.9  # style mixing regularisation: probability of a crossover per batch (the paper's 0.9)
W_AVG_BETA = 0.995  # decay of the tracked mean w (the paper's 0.995)
R1_EVERY = 4  # lazy regularisation (Karras et al. 2020): the R1 penalty every 4th step, weighted x4
MSG_SIZE = ("stylegan cannot make {size}x{size} images: the side must be 4 * 2^k with k >= 1 (8, 16, 32, 64, ...); "
            "pass --image-size")

Stage = tuple[int, float]  # (level, alpha): level l renders 4 * 2**l pixels; alpha the fade-in weight


def levels_for(image_size: int) -> int:
    """The last level (image_size = 4 * 2**level); BadInputError for sides that are not 4 * 2^k, k >= 1."""
    size = int(image_size)
    level = int(round(math.log2(size / 4))) if size >= 4 else -1
    if level < 1 or 4 * 2**level != size:
        raise BadInputError(MSG_SIZE.format(size=image_size))
    return level


def stage_at(step: int, phase_steps: int, start_level: int, final_level: int) -> Stage:
    """The progressive-growing stage (level, alpha) at global step `step` (0-based: the step about to run).

    Phases of `phase_steps` steps: stable at start_level; then for each level above it a fade-in (alpha
    rising linearly from 0 by 1 / phase_steps per step) and a stable phase (alpha 1); after the last
    fade-in, final_level with alpha 1 forever. phase_steps <= 0 disables growing.
    """
    if phase_steps <= 0 or start_level >= final_level:
        return final_level, 1.0
    k, r = divmod(int(step), int(phase_steps))
    if k == 0:
        return start_level, 1.0
    transition, stable = divmod(k - 1, 2)
    level = start_level + transition + 1
    if level > final_level:
        return final_level, 1.0
    return level, (1.0 if stable else r / phase_steps)


def phase_steps_for(steps: int, start_level: int, final_level: int) -> int:
    """Steps per phase so that the last fade-in ends at GROW_FRACTION * steps (at least 1)."""
    transitions = final_level - start_level
    if transitions <= 0:
        return 0
    return max(1, int(GROW_FRACTION * steps) // (2 * transitions))


def channels_at(level: int, final_level: int, width: int) -> int:
    """Feature channels at a level: `width` at full size, doubled per halving, at most 4 * width."""
    return min(width * 2 ** (final_level - level), 4 * width)


class StyleGenerator(nn.Module):
    """The style-based generator: forward(z (N, z_dim)) -> images (N, channels, S, S), linear output
    (about [-1, 1]; ganeval clips to the declared range when converting to uint8).

    The w-space hook: mapping(z) -> w (N, w_dim); truncate_w(w, psi[, cutoff]) -> w; synthesis(w) ->
    images, where synthesis also takes per-layer styles (N, num_ws, w_dim) (style mixing, cutoff
    truncation). Buffers: w_avg (w_dim,), train_step and phase_steps (int64 scalars: the growing stage),
    noise_const_i (1, 1, r_i, r_i) per layer.
    """

    def __init__(self, z_dim: int, w_dim: int, image_size: int, channels: int, width: int,
                 mapping_layers: int = MAPPING_LAYERS, start_size: int = START_SIZE,
                 truncation_cutoff: int | None = None) -> None:
        super().__init__()
        self.z_dim, self.w_dim, self.image_size, self.channels = z_dim, w_dim, image_size, channels
        self.final_level = levels_for(image_size)
        self.start_level = min(levels_for(start_size) if start_size > 4 else 0, self.final_level)
        self.num_ws = 2 * (self.final_level + 1)
        if truncation_cutoff is not None and not 0 <= truncation_cutoff <= self.num_ws:
            raise ValueError(f"truncation_cutoff must be in 0..{self.num_ws}, got {truncation_cutoff}")
        self.truncation_cutoff = truncation_cutoff
        self.mapping_net = MappingNetwork(z_dim, w_dim, mapping_layers)
        ch = [channels_at(level, self.final_level, width) for level in range(self.final_level + 1)]
        self.input = ConstantInput(ch[0])
        layers: list[nn.Module] = []
        for level in range(self.final_level + 1):
            if level == 0:
                layers.append(StyleLayer(ch[0], ch[0], w_dim, conv=False))
            else:
                layers.append(StyleLayer(ch[level - 1], ch[level], w_dim, upsample=True))
            layers.append(StyleLayer(ch[level], ch[level], w_dim))
        self.layers = nn.ModuleList(layers)
        self.to_rgb = nn.ModuleDict({str(level): ToRGB(ch[level], channels)
                                     for level in range(self.start_level, self.final_level + 1)})
        self.register_buffer("w_avg", torch.zeros(w_dim))
        self.register_buffer("train_step", torch.zeros((), dtype=torch.int64))
        self.register_buffer("phase_steps", torch.zeros((), dtype=torch.int64))
        for i in range(self.num_ws):
            r = self.layer_resolution(i)
            self.register_buffer(f"noise_const_{i}", torch.zeros(1, 1, r, r))

    # -- the schedule -------------------------------------------------------------------------------

    def layer_resolution(self, i: int) -> int:
        """Side of layer i's feature maps (two layers per resolution, from 4)."""
        return 4 * 2 ** (i // 2)

    def stage(self) -> Stage:
        """The (level, alpha) this generator renders at: stage_at(train_step, phase_steps, ...)."""
        return stage_at(int(self.train_step), int(self.phase_steps), self.start_level, self.final_level)

    def active_layers(self, stage: Stage) -> int:
        """How many style layers a stage uses (2 per level up to its level)."""
        return 2 * (stage[0] + 1)

    @torch.no_grad()
    def redraw_constant_noise(self, generator: torch.Generator) -> None:
        """Draw the fixed sampling noise maps N(0, 1) from `generator`, layer by layer."""
        for i in range(self.num_ws):
            buf = getattr(self, f"noise_const_{i}")
            buf.copy_(torch.randn(buf.shape, generator=generator))

    def constant_noise(self) -> list[torch.Tensor]:
        """The fixed per-layer noise maps used when sampling (num_ws tensors (1, 1, r_i, r_i))."""
        return [getattr(self, f"noise_const_{i}") for i in range(self.num_ws)]

    # -- the w-space hook ---------------------------------------------------------------------------

    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        """z (N, z_dim) -> w (N, w_dim)."""
        return self.mapping_net(z)

    def truncate_w(self, w: torch.Tensor, psi: float, cutoff: int | None = None) -> torch.Tensor:
        """w moved toward the tracked mean: w_avg + psi (w - w_avg) (torch.lerp: psi 0 gives w_avg and psi 1
        gives w exactly). w is (N, w_dim) or per-layer (N, num_ws, w_dim). With a cutoff (argument, else
        the architecture's truncation_cutoff) only layers 0 .. cutoff - 1 are truncated and the result is
        per-layer (N, num_ws, w_dim)."""
        cutoff = self.truncation_cutoff if cutoff is None else cutoff
        if cutoff is None:
            return torch.lerp(self.w_avg.expand_as(w), w, float(psi))
        ws = self.per_layer(w)
        out = ws.clone()
        out[:, :cutoff] = torch.lerp(self.w_avg.expand_as(ws[:, :cutoff]), ws[:, :cutoff], float(psi))
        return out

    def per_layer(self, w: torch.Tensor) -> torch.Tensor:
        """(N, w_dim) -> (N, num_ws, w_dim) (the same style for every layer); per-layer input unchanged."""
        if w.ndim == 2:
            return w[:, None, :].expand(-1, self.num_ws, -1)
        if w.ndim != 3 or w.shape[1] != self.num_ws:
            raise ValueError(f"w must be (N, {self.w_dim}) or (N, {self.num_ws}, {self.w_dim}), got {tuple(w.shape)}")
        return w

    def _noise_maps(self, noise: torch.Generator | list[torch.Tensor] | tuple[torch.Tensor, ...] | None, n: int,
                    active: int, device: torch.device) -> list[torch.Tensor]:
        if noise is None:
            return self.constant_noise()
        if isinstance(noise, torch.Generator):
            return [torch.randn(n, 1, r, r, generator=noise).to(device)
                    for r in (self.layer_resolution(i) for i in range(active))]
        if len(noise) < active:
            raise ValueError(f"{len(noise)} noise maps for {active} layers")
        return list(noise)

    def synthesis(self, w: torch.Tensor, noise: torch.Generator | list[torch.Tensor] | None = None,
                  stage: Stage | None = None) -> torch.Tensor:
        """Styles -> images (N, channels, S, S).

        w: (N, w_dim) for every layer, or per-layer (N, num_ws, w_dim). noise: None (the fixed sampling
        maps), a torch.Generator to draw fresh (N, 1, r, r) maps from (training), or a list of maps per
        layer. stage: (level, alpha), default the trained stage (self.stage()). At level l < final the
        image is rendered at 4 * 2**l and nearest-upsampled; while alpha < 1 it is
        lerp(upsample2(to_rgb[l-1](x_{l-1})), to_rgb[l](x_l), alpha).
        """
        level, alpha = self.stage() if stage is None else stage
        ws = self.per_layer(w)
        n = ws.shape[0]
        active = self.active_layers((level, alpha))
        maps = self._noise_maps(noise, n, active, ws.device)
        x = self.input(n)
        previous: torch.Tensor | None = None
        for i in range(active):
            x = self.layers[i](x, ws[:, i], maps[i])
            if i == active - 3 and alpha < 1.0:  # the last layer of the previous level
                previous = self.to_rgb[str(level - 1)](x)
        image = self.to_rgb[str(level)](x)
        if previous is not None:
            image = torch.lerp(F.interpolate(previous, scale_factor=2, mode="nearest"), image, float(alpha))
        if level < self.final_level:
            image = F.interpolate(image, scale_factor=2 ** (self.final_level - level), mode="nearest")
        return image

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.synthesis(self.mapping(z))

    @torch.no_grad()
    def update_w_avg(self, w: torch.Tensor) -> None:
        """w_avg <- W_AVG_BETA w_avg + (1 - W_AVG_BETA) mean(w over the batch)."""
        self.w_avg.lerp_(w.detach().mean(dim=0), 1.0 - W_AVG_BETA)


class DiscriminatorBlock(nn.Module):
    """3x3 conv -> LeakyReLU -> 3x3 conv -> LeakyReLU -> 2x2 average pooling:
    (N, c_in, r, r) -> (N, c_out, r/2, r/2)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv1 = EqualConv2d(c_in, c_in, 3)
        self.conv2 = EqualConv2d(c_in, c_out, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = lrelu(self.conv1(x))
        x = lrelu(self.conv2(x))
        return F.avg_pool2d(x, 2)


class ProgressiveDiscriminator(nn.Module):
    """The ProGAN/StyleGAN discriminator, grown with the generator: forward(images (N, C, S, S), stage)
    -> logits (N,).

    At stage (l, alpha) the images are average-pooled to 4 * 2**l, read by from_rgb[l] and block l; while
    alpha < 1 the block's output is lerp(from_rgb[l-1](pool2(x)), block_l(from_rgb[l](x)), alpha), the
    mirror of the generator's fade-in. The 4x4 head has a minibatch standard-deviation feature.
    """

    def __init__(self, image_size: int, channels: int, width: int, start_size: int = START_SIZE) -> None:
        super().__init__()
        self.final_level = levels_for(image_size)
        self.start_level = min(levels_for(start_size) if start_size > 4 else 0, self.final_level)
        ch = [channels_at(level, self.final_level, width) for level in range(self.final_level + 1)]
        self.from_rgb = nn.ModuleDict({str(level): EqualConv2d(channels, ch[level], 1)
                                       for level in range(self.start_level, self.final_level + 1)})
        self.blocks = nn.ModuleDict({str(level): DiscriminatorBlock(ch[level], ch[level - 1])
                                     for level in range(1, self.final_level + 1)})
        self.stddev = MinibatchStdDev()
        self.head_conv = EqualConv2d(ch[0] + 1, ch[0], 3)
        self.head_fc = EqualLinear(ch[0] * 16, ch[0])
        self.head_out = EqualLinear(ch[0], 1)
        self.register_buffer("last_r1", torch.zeros(()))  # the latest R1 value, reported between R1 steps

    def forward(self, images: torch.Tensor, stage: Stage | None = None) -> torch.Tensor:
        level, alpha = (self.final_level, 1.0) if stage is None else stage
        x = images
        if level < self.final_level:
            x = F.avg_pool2d(x, 2 ** (self.final_level - level))
        h = lrelu(self.from_rgb[str(level)](x))
        if level > 0:
            h = self.blocks[str(level)](h)
            if alpha < 1.0:
                skip = lrelu(self.from_rgb[str(level - 1)](F.avg_pool2d(x, 2)))
                h = torch.lerp(skip, h, float(alpha))
        for lv in range(level - 1, 0, -1):
            h = self.blocks[str(lv)](h)
        h = lrelu(self.head_conv(self.stddev(h)))
        h = lrelu(self.head_fc(h.flatten(1)))
        return self.head_out(h).reshape(images.shape[0])


def build_generator(z_dim: int, w_dim: int, image_size: int, channels: int, width: int,
                    mapping_layers: int = MAPPING_LAYERS, start_size: int = START_SIZE,
                    truncation_cutoff: int | None = None) -> StyleGenerator:
    """The registered architecture "stylegan" (checkpoint config: these keyword arguments)."""
    module = built_quietly(lambda: StyleGenerator(z_dim, w_dim, image_size, channels, width, mapping_layers,
                                                  start_size, truncation_cutoff))
    assert isinstance(module, StyleGenerator)
    return module


def build(config: TrainConfig, data: DataInfo, init: torch.Generator) -> Models:
    """A style-based generator and a progressive discriminator for square images of `data`, weights and
    the fixed sampling noise drawn from `init`, growing schedule fixed from config.steps."""
    c, h, w = data.image_shape
    if h != w:
        raise BadInputError(f"{NAME} needs square images, got {h}x{w}; pass --image-size")
    final = levels_for(h)
    arch = {"z_dim": config.z_dim, "w_dim": config.z_dim, "image_size": h, "channels": c, "width": config.width,
            "mapping_layers": MAPPING_LAYERS, "start_size": min(START_SIZE, h), "truncation_cutoff": None}
    g = init_stylegan_(build_generator(**arch), init)
    g.redraw_constant_noise(init)
    g.phase_steps.fill_(phase_steps_for(config.steps, g.start_level, final))
    d = init_stylegan_(built_quietly(lambda: ProgressiveDiscriminator(h, c, config.width, arch["start_size"])), init)
    latent = LatentSpec(z_dim=config.z_dim, image_shape=data.image_shape)
    return Models(generator=g, discriminator=d, architecture=NAME, config=arch, latent=latent)


def training_images(ctx: StepContext, g: StyleGenerator, n: int, stage: Stage) -> tuple[torch.Tensor, torch.Tensor]:
    """n generated images at `stage` with style mixing (probability MIXING_PROB, crossover layer uniform in
    1 .. active layers - 1) and fresh noise, all drawn from ctx's seeded generator in a fixed order (z1,
    z2, two uniforms, noise maps), whatever is used. Returns (images, w1 (N, w_dim))."""
    z1, z2 = ctx.latents(n), ctx.latents(n)
    u = ctx.uniform((2,)).cpu()
    w1, w2 = g.mapping(z1), g.mapping(z2)
    active = g.active_layers(stage)
    crossover = g.num_ws
    if float(u[0]) < MIXING_PROB and active > 1:
        crossover = 1 + min(int(float(u[1]) * (active - 1)), active - 2)
    ws = mix_styles(w1, w2, crossover, g.num_ws)
    return g.synthesis(ws, noise=ctx.noise, stage=stage), w1


def r1_penalty(d: nn.Module, real: torch.Tensor, stage: Stage) -> tuple[torch.Tensor, torch.Tensor]:
    """(E ||grad_x D(x)||^2 over the real batch, D's logits on it); differentiable in D's weights."""
    x = real.detach().requires_grad_(True)
    logits = d(x, stage)
    (grad,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
    return grad.square().flatten(1).sum(1).mean(), logits


def step(ctx: StepContext) -> dict[str, float]:
    """One discriminator update (logistic loss, + R1_EVERY * gamma/2 R1 on every R1_EVERY-th global step) and
    one generator update (non-saturating), at the stage of the generator's global step; then w_avg and the
    step counter advance. "r1" reports the latest computed penalty E||grad D(real)||^2."""
    g, d, cfg = ctx.generator, ctx.discriminator, ctx.config
    assert isinstance(g, StyleGenerator) and isinstance(d, ProgressiveDiscriminator)
    stage = g.stage()
    real, _ = ctx.next_batch()
    n = real.shape[0]

    with torch.no_grad():
        fake, _ = training_images(ctx, g, n, stage)
    lazy_r1 = cfg.gp_lambda > 0 and int(g.train_step) % R1_EVERY == 0
    if lazy_r1:
        r1, real_logits = r1_penalty(d, real, stage)
    else:
        r1, real_logits = torch.zeros(()), d(real, stage)
    fake_logits = d(fake, stage)
    loss_d = F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()
    total = loss_d + (R1_EVERY * cfg.gp_lambda / 2) * r1 if lazy_r1 else loss_d
    ctx.opt_d.zero_grad(set_to_none=True)
    total.backward()
    ctx.opt_d.step()

    with frozen(d):
        fake, w = training_images(ctx, g, n, stage)
        loss_g = F.softplus(-d(fake, stage)).mean()
        ctx.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
    ctx.opt_g.step()
    g.update_w_avg(w)
    g.train_step.add_(1)
    if lazy_r1:
        d.last_r1.fill_(float(r1.detach()))
    level, alpha = stage
    resolution = 4 * 2**level if alpha >= 1.0 else 4 * 2 ** (level - 1) * (1 + alpha)
    return {"loss_d": float(loss_d.detach()), "loss_g": float(loss_g.detach()), "r1": float(d.last_r1),
            "d_real": float(torch.sigmoid(real_logits.detach()).mean()),
            "d_fake": float(torch.sigmoid(fake_logits.detach()).mean()), "resolution": float(resolution)}


register_architecture(NAME, build_generator)
register_trainer(TrainerSpec(
    name=NAME,
    description="mapping network z->w, AdaIN styles, noise inputs, constant 4x4 input, style mixing, progressive "
                "growing 8->16->32 with fade-in, w-space truncation; logistic loss + R1 (Karras et al. 2019; "
                "course 2 week 3)",
    build=build, step=step, loss_names=("loss_d", "loss_g", "r1", "d_real", "d_fake", "resolution"),
    defaults={"z_dim": 64, "width": 16, "lr_g": 1e-3, "lr_d": 1e-3, "betas": (0.0, 0.99), "batch_size": 32,
              "gp_lambda": 1.0, "ema": 0.995},
))
