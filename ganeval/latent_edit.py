"""Gradient steps on a generator's latents through an attribute classifier (course 1 week 4, course 2 week 2).

    z_0 -> z_{s+1} = z_s + step_size * u_s,  u_s = grad J(z_s) / |grad J(z_s)|   (s = 0 .. steps-1)
    J(z) = direction * logit_target(C(G(z))) - penalty * sum_{k in penalised} (logit_k(C(G(z))) - logit_k(C(G(z_0))))^2

Each latent moves on its own: J is summed over a batch only to get every sample's gradient in one
backward pass, which is exact because a sample's logits depend on its own latent alone (generators and
classifiers run in eval mode: BatchNorm uses its running statistics). With `normalize` (the default)
every step has length `step_size` in latent space whatever the classifier's logit scale; without it
the step is step_size * grad J, as in the course's notebooks. A zero gradient (a saturated or flat
classifier) leaves the latent where it is. The penalty holds the other attributes' logits near their
starting values: controllable generation that changes one attribute and as little else as it can.

`latent_steps` is the one loop; `generator_forward` builds the z -> logits function for a ganeval
generator and an attribute classifier. The bias audit's implicit associations
(ganeval.bias.associations) and `ganeval edit` are both built on them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ganeval.errors import BadInputError
from ganeval.generators import LoadedGenerator

__all__ = ["LatentForward", "LatentPath", "generator_forward", "latent_steps"]

# z (B, d) float32 and the samples' class labels (B,) int64 or None -> logits (B, K), differentiable in z.
LatentForward = Callable[[torch.Tensor, "torch.Tensor | None"], torch.Tensor]
BATCH = 256
_TINY = 1e-12


@dataclass(frozen=True)
class LatentPath:
    """Where gradient steps took N latents, and what the classifier said along the way.

    z:      float32 (steps + 1, N, d), z[0] the starting latents, z[-1] the end.
    logits: float32 (steps + 1, N, K), the classifier's logits at every step.
    labels: int64 (N,) class labels the generator was given (conditional generators), else None.
    target, direction (+1 toward the attribute, -1 away), steps, step_size, normalize, penalty,
    penalised: the settings that produced it.
    """

    z: torch.Tensor
    logits: torch.Tensor
    labels: torch.Tensor | None
    target: int
    direction: int
    steps: int
    step_size: float
    normalize: bool
    penalty: float
    penalised: tuple[int, ...]

    @property
    def z_start(self) -> torch.Tensor:
        """(N, d) latents before the first step."""
        return self.z[0]

    @property
    def z_end(self) -> torch.Tensor:
        """(N, d) latents after the last step."""
        return self.z[-1]

    def probabilities(self) -> np.ndarray:
        """(steps + 1, N, K) float64 sigmoid(logits): each attribute's probability at each step."""
        return torch.sigmoid(self.logits.double()).numpy()

    def change(self) -> np.ndarray:
        """(N, K) float64 change of every attribute's probability from the first to the last step."""
        p = self.probabilities()
        return p[-1] - p[0]


def _unit_rgb(images: torch.Tensor, output_range: tuple[float, float]) -> torch.Tensor:
    lo, hi = output_range
    x = (images.float() - lo) / (hi - lo)
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def generator_forward(gen: LoadedGenerator, classifier: Callable[[torch.Tensor], torch.Tensor]) -> LatentForward:
    """The z -> logits function of a generator followed by a classifier of float [0, 1] RGB pixels
    (an AttributeClassifier's logits_from_unit): the generator's output is mapped from its declared
    output range to [0, 1] (not clipped, so gradients flow everywhere) and grayscale repeated to RGB."""
    module, spec = gen.module, gen.latent

    def forward(z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        images = module(z, labels) if labels is not None else module(z)
        return classifier(_unit_rgb(images, spec.output_range))

    return forward


def _check(z: torch.Tensor, target: int, direction: int, steps: int, step_size: float, penalty: float,
           labels: torch.Tensor | None, batch_size: int) -> None:
    if not isinstance(z, torch.Tensor) or z.ndim != 2 or not z.is_floating_point() or z.shape[0] < 1:
        raise BadInputError(f"latents must be a float tensor (N, d) with N >= 1, got "
                            f"{tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__}")
    if direction not in (1, -1):
        raise BadInputError(f"direction must be +1 (toward the attribute) or -1 (away), got {direction!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise BadInputError(f"--steps must be a positive integer, got {steps!r}")
    if not (isinstance(step_size, (int, float)) and np.isfinite(step_size) and step_size > 0):
        raise BadInputError(f"--step-size must be a positive number, got {step_size!r}")
    if not (isinstance(penalty, (int, float)) and np.isfinite(penalty) and penalty >= 0):
        raise BadInputError(f"the penalty weight must be a number >= 0, got {penalty!r}")
    if labels is not None and (labels.ndim != 1 or len(labels) != len(z)):
        raise BadInputError(f"labels must be (N,) = ({len(z)},), got {tuple(labels.shape)}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise BadInputError(f"batch size must be a positive integer, got {batch_size!r}")


def latent_steps(forward: LatentForward, z: torch.Tensor, target: int, *, direction: int = 1, steps: int = 10,
                 step_size: float = 0.2, normalize: bool = True, penalty: float = 0.0,
                 penalised: Sequence[int] | None = None, labels: torch.Tensor | None = None,
                 batch_size: int = BATCH) -> LatentPath:
    """Move every latent z (N, d) `steps` times along the gradient of the target attribute's logit.

    forward(z, labels) -> (B, K) logits, differentiable in z (see generator_forward).
    target: the attribute's column; direction +1 raises its logit, -1 lowers it.
    step_size: the length of each step in latent space (normalize=True) or the gradient's factor.
    penalty, penalised: weight and columns of the squared-logit-change penalty (module docstring);
    penalised None means every attribute but the target.
    Batches of `batch_size` latents run through all steps in turn; the result does not depend on the
    batch size beyond floating-point rounding. Returns the whole path (LatentPath).
    """
    _check(z, target, direction, steps, step_size, penalty, labels, batch_size)
    zs: list[torch.Tensor] = []
    logits: list[torch.Tensor] = []
    kept: tuple[int, ...] = ()
    for start in range(0, len(z), batch_size):
        zb = z[start:start + batch_size].detach().float().clone()
        lb = labels[start:start + batch_size] if labels is not None else None
        path_z, path_l = [zb], []
        reference = cols = None
        for _ in range(steps):
            zb = zb.detach().requires_grad_(True)
            out = forward(zb, lb).float()
            if reference is None:  # the first step: check the output, fix the penalty's reference logits
                kept = _columns(out, len(zb), target, penalised)
                reference, cols = out.detach(), torch.tensor(kept, dtype=torch.long)
            path_l.append(out.detach())
            objective = direction * out[:, target]
            if penalty > 0 and len(kept):
                objective = objective - penalty * (out[:, cols] - reference[:, cols]).square().sum(dim=1)
            (grad,) = torch.autograd.grad(objective.sum(), zb)
            if normalize:
                grad = grad / grad.norm(dim=1, keepdim=True).clamp_min(_TINY)
            zb = (zb + step_size * grad).detach()
            path_z.append(zb)
        with torch.no_grad():
            path_l.append(forward(zb, lb).float())
        zs.append(torch.stack(path_z))
        logits.append(torch.stack(path_l))
    return LatentPath(z=torch.cat(zs, dim=1), logits=torch.cat(logits, dim=1), labels=labels, target=int(target),
                      direction=int(direction), steps=int(steps), step_size=float(step_size),
                      normalize=bool(normalize), penalty=float(penalty), penalised=kept)


def _columns(out: torch.Tensor, n: int, target: int, penalised: Sequence[int] | None) -> tuple[int, ...]:
    """Check the forward's first output (n, K) and return the penalised columns."""
    if out.ndim != 2 or out.shape[0] != n:
        raise BadInputError(f"the latent forward returned shape {tuple(out.shape)} for {n} latents; "
                            "expected (N, K) logits")
    k = out.shape[1]
    if not 0 <= target < k:
        raise BadInputError(f"target attribute index {target} is outside 0..{k - 1}")
    kept = tuple(i for i in range(k) if i != target) if penalised is None else tuple(int(i) for i in penalised)
    if any(not 0 <= i < k for i in kept):
        raise BadInputError(f"penalised attribute indices {list(kept)} must lie in 0..{k - 1}")
    return kept
