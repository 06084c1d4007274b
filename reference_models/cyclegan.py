"""`cyclegan`: unpaired image-to-image translation (Zhu et al. 2017; course 3, week 3).

Two ResNet-block generators G: A -> B and F: B -> A, two PatchGAN discriminators D_A, D_B with
InstanceNorm, least-squares adversarial losses (Mao et al. 2017), and, as the paper:

    G, F: LS(D_B(G(a)), 1) + LS(D_A(F(b)), 1)
          + lambda * (|F(G(a)) - a| + |G(F(b)) - b|)                 cycle consistency, lambda = 10
          + 0.5 * lambda * (|G(b) - b| + |F(a) - a|)                 identity loss
    D_B:  [LS(D_B(b), 1) + LS(D_B(pool_B(G(a))), 0)] / 2, and D_A likewise

The discriminators see generated images through an image pool of 50 (reference_models.translation.ImagePool,
seeded). Adam 2e-4, betas (0.5, 0.999); weights N(0, 0.02). The two generators are one checkpoint
(architecture "cyclegan-resnet", directions a2b and b2a).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ganeval.translate_eval import TranslationSpec, register_translator_architecture
from ganeval.errors import BadInputError
from reference_models.losses import frozen
from reference_models.nets import built_quietly, init_dcgan_
from reference_models.translation import (
    PatchDiscriminator, ResnetGenerator, TranslationConfig, TranslationModels, TranslationStep, TranslatorTrainerSpec,
    patch_layers, receptive_field, register_translation_trainer,
)

NAME = "cyclegan"
ARCHITECTURE = "cyclegan-resnet"


class CycleGenerators(nn.Module):
    """G (a2b) and F (b2a) as one module; translate(x, direction) picks one."""

    def __init__(self, channels_a: int = 3, channels_b: int = 3, width: int = 32, n_blocks: int = 6) -> None:
        super().__init__()
        self.g_ab = ResnetGenerator(channels_a, channels_b, width, n_blocks)
        self.g_ba = ResnetGenerator(channels_b, channels_a, width, n_blocks)

    def translate(self, x: torch.Tensor, direction: str = "a2b") -> torch.Tensor:
        """float (N, C, H, W) in [-1, 1] -> the other domain."""
        if direction == "a2b":
            return self.g_ab(x)
        if direction == "b2a":
            return self.g_ba(x)
        raise BadInputError(f"unknown direction {direction!r}; use a2b or b2a")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.g_ab(x)


class CycleDiscriminators(nn.Module):
    """D_A (judges domain A) and D_B (judges domain B), least-squares PatchGANs with InstanceNorm."""

    def __init__(self, channels_a: int, channels_b: int, width: int, n_down: int) -> None:
        super().__init__()
        self.d_a = PatchDiscriminator(channels_a, width, n_down, "instance")
        self.d_b = PatchDiscriminator(channels_b, width, n_down, "instance")
        self.receptive_field = receptive_field(n_down)


def build_generator(channels_a: int = 3, channels_b: int = 3, width: int = 32, n_blocks: int = 6) -> CycleGenerators:
    """The registered translator architecture "cyclegan-resnet"."""
    return built_quietly(lambda: CycleGenerators(channels_a, channels_b, width, n_blocks))  # type: ignore[return-value]


def build(config: TranslationConfig, data: Any, init: torch.Generator) -> TranslationModels:
    """Both generators and both discriminators for `data`'s image shapes, initialised from `init`."""
    c_a, h, w = (int(v) for v in data.a.shape[1:])
    c_b = int(data.b.shape[1])
    if h != w or h % 4 or tuple(data.b.shape[2:]) != (h, w):
        raise BadInputError(f"cyclegan needs square images of one size with a side divisible by 4, got A {h}x{w}, "
                            f"B {data.b.shape[2]}x{data.b.shape[3]}; pass --image-size")
    arch = {"channels_a": c_a, "channels_b": c_b, "width": config.width, "n_blocks": config.n_blocks}
    g = init_dcgan_(build_generator(**arch), init)
    d = init_dcgan_(built_quietly(lambda: CycleDiscriminators(c_a, c_b, 2 * config.width, patch_layers(h))), init)
    spec = TranslationSpec(kind=NAME, directions=("a2b", "b2a"), input_shape=(c_a, h, w), output_shape=(c_b, h, w),
                           domains=tuple(data.domains))  # type: ignore[arg-type]
    return TranslationModels(generator=g, discriminator=d, architecture=ARCHITECTURE, config=arch, spec=spec)


def _ls(pred: torch.Tensor, target: float) -> torch.Tensor:
    return ((pred - target) ** 2).mean()


def step(ctx: TranslationStep) -> dict[str, float]:
    """One update of both generators, then one of both discriminators (on pooled fakes)."""
    gens, discs, cfg = ctx.generator, ctx.discriminator, ctx.config
    a, b = ctx.next_batch()
    fake_b, fake_a = gens.g_ab(a), gens.g_ba(b)
    with frozen(discs):
        adv = _ls(discs.d_b(fake_b), 1.0) + _ls(discs.d_a(fake_a), 1.0)
        cycle = (gens.g_ba(fake_b) - a).abs().mean() + (gens.g_ab(fake_a) - b).abs().mean()
        loss_g = adv + cfg.lambda_cycle * cycle
        identity = torch.zeros(())
        if cfg.lambda_identity > 0:
            identity = (gens.g_ab(b) - b).abs().mean() + (gens.g_ba(a) - a).abs().mean()
            loss_g = loss_g + cfg.lambda_cycle * cfg.lambda_identity * identity
        ctx.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
    ctx.opt_g.step()
    pooled_b = ctx.pools["b"].query(fake_b, ctx.noise)
    pooled_a = ctx.pools["a"].query(fake_a, ctx.noise)
    loss_d_b = (_ls(discs.d_b(b), 1.0) + _ls(discs.d_b(pooled_b), 0.0)) / 2
    loss_d_a = (_ls(discs.d_a(a), 1.0) + _ls(discs.d_a(pooled_a), 0.0)) / 2
    ctx.opt_d.zero_grad(set_to_none=True)
    (loss_d_a + loss_d_b).backward()
    ctx.opt_d.step()
    return {"loss_d": float((loss_d_a + loss_d_b).detach()), "loss_g": float(loss_g.detach()),
            "loss_g_gan": float(adv.detach()), "loss_cycle": float(cycle.detach()),
            "loss_identity": float(identity.detach())}


register_translator_architecture(ARCHITECTURE, build_generator)
register_translation_trainer(TranslatorTrainerSpec(
    name=NAME,
    description="unpaired translation: two ResNet-block generators, two PatchGANs, least squares, cycle 10, "
                "identity 0.5x10, image pool 50 (Zhu et al. 2017; course 3 week 3); --dataset synthfaces-glasses",
    build=build, step=step, loss_names=("loss_d", "loss_g", "loss_g_gan", "loss_cycle", "loss_identity"),
    paired=False, pools=("a", "b"),
    defaults={"dataset": "synthfaces-glasses", "batch_size": 8, "width": 16, "n_blocks": 6},
))
