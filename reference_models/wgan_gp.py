"""`wgan-gp`: Wasserstein GAN with gradient penalty (Gulrajani et al. 2017; course 1, week 3).

The critic D estimates the Wasserstein-1 distance: it is trained to maximise E[D(real)] - E[D(fake)]
while a penalty lambda * E[(||grad D(x_hat)|| - 1)^2] on random interpolates x_hat keeps it close to
1-Lipschitz (lambda = 10). Each generator update follows n_critic = 5 critic updates, each on a
fresh real batch; the generator minimises -E[D(G(z))].

Networks: the DCGAN generator (BatchNorm allowed there) and a convolutional critic without BatchNorm
(CRITIC_NORM = "none": the penalty is defined per sample, and batch statistics would couple the
samples of a batch; the paper suggests layer normalisation as a drop-in, available in
reference_models.nets as norm="layer"). The critic has no output bias: the Wasserstein loss and the
penalty are unchanged by a constant added to D, so that bias would never be trained.

Optimiser: Adam, lr 1e-4 for both networks, betas (0.5, 0.9). The paper's Algorithm 1 lists
(0, 0.9); we use (0.5, 0.9) because it is what the authors' own MNIST code (gan_mnist.py in
igul222/improved_wgan_training) runs for conv nets on 28x28 digits, the closest setting to ours, and a
little momentum speeds the early phase of a short CPU run. beta2 = 0.9 rather than 0.999 lets Adam's
second-moment estimate follow the critic's quickly changing gradients.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ganeval.generators import register_architecture
from reference_models.dcgan import build_generator, conv_models
from reference_models.losses import frozen, gradient_penalty
from reference_models.registry import DataInfo, Models, StepContext, TrainerSpec, register_trainer

if TYPE_CHECKING:
    from reference_models.loop import TrainConfig

NAME = "wgan-gp"
CRITIC_NORM = "none"


def build(config: TrainConfig, data: DataInfo, init: torch.Generator) -> Models:
    """DCGAN generator and a normalisation-free critic for `data`."""
    return conv_models(NAME, config, data, init, critic_norm=CRITIC_NORM, wasserstein=True)


def step(ctx: StepContext) -> dict[str, float]:
    """n_critic critic updates (Wasserstein loss + gradient penalty), then one generator update.

    Returns the critic loss, the penalty and the distance estimate E[D(real)] - E[D(fake)], each
    averaged over the critic updates, and the generator loss.
    """
    g, d, cfg = ctx.generator, ctx.discriminator, ctx.config
    sums = {"loss_d": 0.0, "gp": 0.0, "w_dist": 0.0}
    n = cfg.batch_size
    for _ in range(cfg.n_critic):
        real, _ = ctx.next_batch()
        n = real.shape[0]
        z = ctx.latents(n)
        with torch.no_grad():
            fake = g(z)
        eps = ctx.uniform((n, 1, 1, 1))
        d_real, d_fake = d(real).mean(), d(fake).mean()
        gp = gradient_penalty(d, real, fake, eps)
        loss_d = d_fake - d_real + cfg.gp_lambda * gp
        ctx.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        ctx.opt_d.step()
        sums["loss_d"] += float(loss_d.detach())
        sums["gp"] += float(gp.detach())
        sums["w_dist"] += float((d_real - d_fake).detach())

    z = ctx.latents(n)
    with frozen(d):
        loss_g = -d(g(z)).mean()
        ctx.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
    ctx.opt_g.step()
    out = {k: v / cfg.n_critic for k, v in sums.items()}
    out["loss_g"] = float(loss_g.detach())
    return out


register_architecture(NAME, build_generator)
register_trainer(TrainerSpec(
    name=NAME,
    description="Wasserstein loss + gradient penalty (lambda 10) on interpolates, n_critic 5, critic without "
                "BatchNorm, Adam 1e-4 (0.5, 0.9) (Gulrajani et al. 2017; course 1 week 3)",
    build=build, step=step, loss_names=("loss_d", "loss_g", "gp", "w_dist"),
    defaults={"z_dim": 64, "width": 32, "lr_g": 1e-4, "lr_d": 1e-4, "betas": (0.5, 0.9), "batch_size": 64,
              "n_critic": 5, "gp_lambda": 10.0},
))
