"""The two adversarial objectives of the reference trainers, as training steps and pure functions.

bce_step: the original GAN game (Goodfellow et al. 2014) with binary cross-entropy on logits and the
  non-saturating generator loss (-log D(G(z)), the paper's practical recommendation and the course's).
  The discriminator's loss is the mean of its real and fake terms (as in the course).
gradient_penalty: WGAN-GP's penalty (Gulrajani et al. 2017): E[(||grad_x D(x_hat)||_2 - 1)^2] on
  x_hat = eps * real + (1 - eps) * fake, eps ~ U(0, 1) per sample.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from reference_models.registry import StepContext


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[nn.Module]:
    """Gradients flow through `module` to its input but are not accumulated for its parameters
    (the discriminator during a generator update: saves its weight-gradient computation)."""
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield module
    finally:
        for p in params:
            p.requires_grad_(True)


def bce_step(ctx: StepContext, conditional: bool = False) -> dict[str, float]:
    """One discriminator update and one generator update with the BCE GAN losses.

    With `conditional`, the generator is called as G(z, labels) and the discriminator as D(x, labels),
    the fake images being conditioned on the labels of the real batch (as the course's conditional GAN).
    """
    g, d = ctx.generator, ctx.discriminator
    real, labels = ctx.next_batch()
    n = real.shape[0]
    z = ctx.latents(n)
    cond = (labels,) if conditional else ()
    fake = g(z, *cond)

    real_logits = d(real, *cond)
    fake_logits = d(fake.detach(), *cond)
    loss_d = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
              + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))) / 2
    ctx.opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    ctx.opt_d.step()

    with frozen(d):
        gen_logits = d(fake, *cond)
        loss_g = F.binary_cross_entropy_with_logits(gen_logits, torch.ones_like(gen_logits))
        ctx.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
    ctx.opt_g.step()
    return {"loss_d": float(loss_d.detach()), "loss_g": float(loss_g.detach()),
            "d_real": float(torch.sigmoid(real_logits.detach()).mean()),
            "d_fake": float(torch.sigmoid(fake_logits.detach()).mean())}


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor,
                     *cond: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of (||d critic(x_hat) / d x_hat||_2 - 1)^2, x_hat = eps * real + (1 - eps) * fake.

    real, fake: (B, C, H, W); eps: (B, 1, 1, 1) in [0, 1]. Differentiable with respect to the critic's
    parameters (create_graph=True), as the penalty is part of the critic's loss.
    """
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    out = critic(x_hat, *cond)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()
