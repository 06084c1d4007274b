"""`pix2pix`: paired image-to-image translation (Isola et al. 2017; course 3, week 2).

A U-Net generator with skip connections and dropout (the only noise: the paper drops z, which the
generator learned to ignore) maps an A image to a B image; a PatchGAN discriminator judges (input,
output) pairs, concatenated on channels, patch by patch (receptive field scaled to the image size:
16x16 at 32 px, 34x34 at 64 px, 70x70 from 128 px; reference_models.translation). Losses, as the paper:

    D: [BCE(D(a, b), 1) + BCE(D(a, G(a)), 0)] / 2            (halved, "slows the rate D learns")
    G: BCE(D(a, G(a)), 1) + lambda * mean |G(a) - b|,  lambda = 100

Adam 2e-4, betas (0.5, 0.999); BatchNorm in both networks; weights N(0, 0.02).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ganeval.translate_eval import TranslationSpec, register_translator_architecture
from reference_models.losses import frozen
from reference_models.nets import built_quietly, init_dcgan_
from reference_models.translation import (
    PatchDiscriminator, TranslationConfig, TranslationModels, TranslationStep, TranslatorTrainerSpec, UNetGenerator,
    patch_layers, register_translation_trainer, unet_depth,
)

NAME = "pix2pix"
ARCHITECTURE = "pix2pix-unet"


def build_generator(image_size: int, in_channels: int = 3, out_channels: int = 3, width: int = 32,
                    dropout: float = 0.5) -> UNetGenerator:
    """The registered translator architecture "pix2pix-unet" (checkpoint config: these keywords)."""
    net = built_quietly(lambda: UNetGenerator(image_size, in_channels, out_channels, width, dropout))
    return net  # type: ignore[return-value]


def build(config: TranslationConfig, data: Any, init: torch.Generator) -> TranslationModels:
    """U-Net and conditional PatchGAN for the (A, B) shapes of `data`, initialised from `init`."""
    c_a, h, w = (int(v) for v in data.a.shape[1:])
    c_b = int(data.b.shape[1])
    unet_depth(h)
    arch = {"image_size": h, "in_channels": c_a, "out_channels": c_b, "width": config.width,
            "dropout": config.dropout}
    g = init_dcgan_(build_generator(**arch), init)
    d = init_dcgan_(built_quietly(lambda: PatchDiscriminator(c_a + c_b, 2 * config.width, patch_layers(h), "batch")),
                    init)
    spec = TranslationSpec(kind=NAME, directions=("a2b",), input_shape=(c_a, h, w), output_shape=(c_b, h, w),
                           domains=tuple(data.domains))  # type: ignore[arg-type]
    return TranslationModels(generator=g, discriminator=d, architecture=ARCHITECTURE, config=arch, spec=spec)


def step(ctx: TranslationStep) -> dict[str, float]:
    """One discriminator and one generator update on a batch of pairs."""
    g, d = ctx.generator, ctx.discriminator
    a, b = ctx.next_batch()
    fake = g(a)
    real_logits = d(torch.cat([a, b], 1))
    fake_logits = d(torch.cat([a, fake.detach()], 1))
    loss_d = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
              + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))) / 2
    ctx.opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    ctx.opt_d.step()
    with frozen(d):
        logits = d(torch.cat([a, fake], 1))
        loss_gan = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
        loss_l1 = (fake - b).abs().mean()
        loss_g = loss_gan + ctx.config.lambda_l1 * loss_l1
        ctx.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
    ctx.opt_g.step()
    return {"loss_d": float(loss_d.detach()), "loss_g": float(loss_g.detach()), "loss_g_gan": float(loss_gan.detach()),
            "loss_l1": float(loss_l1.detach())}


register_translator_architecture(ARCHITECTURE, build_generator)
register_translation_trainer(TranslatorTrainerSpec(
    name=NAME,
    description="paired translation: U-Net with skips and dropout, PatchGAN on (input, output), BCE + 100 L1, "
                "Adam 2e-4 (0.5, 0.999) (Isola et al. 2017; course 3 week 2); --dataset synthfaces-edges or A/+B/",
    build=build, step=step, loss_names=("loss_d", "loss_g", "loss_g_gan", "loss_l1"), paired=True,
    defaults={"dataset": "synthfaces-edges", "batch_size": 16, "width": 32},
))
