"""In-training evaluation and sample grids, through ganeval's own pipeline.

    held-out uint8 images -> TensorSource -> source_to_stats (fmnist-cnn, "tf" protocol) -> FeatureStats (once)
    generator -> ganeval.generators.generate(n_eval, seed=EVAL_SEED) -> TensorSource -> source_to_stats
        -> stats_to_fid(held-out, generated); for conditional generators also the classifier's logits
        -> class consistency (the fraction of samples whose argmax logit is their conditioning class)

Generated samples come from `ganeval.generators.generate` with the fixed seed EVAL_SEED, exactly as
`ganeval sample CKPT --seed EVAL_SEED` would draw them from a saved checkpoint, so a number in
history.csv can be reproduced from best.pt with the public commands. The generator is evaluated in
eval mode (BatchNorm running statistics), as a loaded checkpoint is.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ganeval.atomic import atomic_write_bytes
from ganeval.errors import BadInputError
from ganeval.extract import source_to_stats
from ganeval.extractors import ExtractorOptions, get_extractor
from ganeval.generators import LatentSpec, LoadedGenerator, generate, sample_latents, to_uint8
from ganeval.metrics.fid import stats_to_fid
from ganeval.sources import TensorSource  # noqa: F401  (re-exported: reference_models.evaluation.TensorSource)
from ganeval.stats import FeatureStats

EVAL_SEED = 2024  # latents of every in-training evaluation (fixed, so FIDs of steps are comparable)
GRID_SEED = 7  # latents of the sample grids
GRID_COLUMNS = 8
GRID_ROWS_UNCONDITIONAL = 8
PROTOCOL = "tf"
EVAL_BATCH = 500


@dataclass(frozen=True)
class EvalResult:
    """One evaluation: FID against the held-out set and, for conditional generators, class consistency
    (average over classes, and per class index), both fractions in [0, 1]."""

    fid: float
    class_consistency: float | None = None
    per_class: list[float] = field(default_factory=list)


class Evaluator:
    """FID (and class consistency) of a generator against fixed held-out images.

    heldout: uint8 (N, C, H, W) real images; their statistics are computed once here.
    n_fake:  samples generated per evaluation, from the fixed seed EVAL_SEED.
    """

    def __init__(self, heldout: torch.Tensor, n_fake: int, extractor: str = "fmnist-cnn", device: str = "cpu") -> None:
        self.extractor = get_extractor(extractor, ExtractorOptions(device=device, allow_download=False))
        self.n_fake = int(n_fake)
        self.real_stats = self.images_to_stats(heldout, "held-out", keep=())

    @property
    def info(self) -> dict[str, Any]:
        """What the numbers depend on, for the run manifest."""
        return {"extractor": self.extractor.info.name, "weights_sha256": self.extractor.info.weights_sha256,
                "protocol": PROTOCOL, "n_real": int(self.real_stats.n or 0), "n_fake": self.n_fake,
                "eval_seed": EVAL_SEED}

    def images_to_stats(self, images: torch.Tensor, label: str, keep: tuple[str, ...] = ()) -> FeatureStats:
        """uint8 (N, C, H, W) -> FeatureStats of the extractor's pool features (and kept arrays)."""
        source = TensorSource(images, f"<{label}>")
        return source_to_stats(source, self.extractor, PROTOCOL, keep=keep, batch_size=EVAL_BATCH).stats

    def fid(self, a: FeatureStats, b: FeatureStats) -> float:
        return float(stats_to_fid(a.mean, a.cov, b.mean, b.cov, n1=a.n, n2=b.n, diagnostics=False).value)

    def fid_of_images(self, images: torch.Tensor) -> float:
        """FID between uint8 images and the held-out set (the real-vs-real floor uses this)."""
        return self.fid(self.real_stats, self.images_to_stats(images, "images"))

    def evaluate(self, module: nn.Module, latent: LatentSpec, architecture: str = "",
                 config: dict[str, Any] | None = None) -> EvalResult:
        """Generate n_fake samples (eval mode, seed EVAL_SEED) and compare them with the held-out set."""
        was_training = module.training
        module.eval()
        try:
            gen = LoadedGenerator(module=module, architecture=architecture, config=dict(config or {}), latent=latent)
            images, labels = [], []
            for batch, lab in generate(gen, self.n_fake, seed=EVAL_SEED, batch_size=EVAL_BATCH):
                images.append(batch)
                if lab is not None:
                    labels.append(lab)
        except BadInputError:  # generate refuses non-finite outputs: a diverged generator has no FID
            return EvalResult(fid=float("nan"), class_consistency=float("nan") if latent.n_classes else None)
        finally:
            module.train(was_training)
        conditional = latent.n_classes > 0
        keep = ("logits",) if conditional else ()
        fake = self.images_to_stats(torch.cat(images), "generated", keep=keep)
        fid = self.fid(self.real_stats, fake)
        if not conditional:
            return EvalResult(fid=fid)
        predicted = torch.from_numpy(fake.kept("logits")).argmax(dim=1)
        wanted = torch.cat(labels)
        per_class = [float((predicted[wanted == k] == k).float().mean()) if bool((wanted == k).any()) else float("nan")
                     for k in range(latent.n_classes)]
        return EvalResult(fid=fid, class_consistency=float(np.nanmean(per_class)), per_class=per_class)


@torch.no_grad()
def sample_grid(module: nn.Module, latent: LatentSpec) -> np.ndarray:
    """A uint8 (H, W) or (H, W, 3) grid of samples from fixed latents (GRID_SEED), 2-pixel gaps:
    8 x 8 for unconditional generators, one row of 8 per class for conditional ones."""
    was_training = module.training
    module.eval()
    try:
        g = torch.Generator().manual_seed(GRID_SEED)
        if latent.n_classes > 0:
            rows = latent.n_classes
            labels = torch.arange(rows).repeat_interleave(GRID_COLUMNS)
        else:
            rows = GRID_ROWS_UNCONDITIONAL
            labels = None
        n = rows * GRID_COLUMNS
        z = sample_latents(latent, n, g)
        device = next(module.parameters()).device
        out = module(z.to(device), labels.to(device)) if labels is not None else module(z.to(device))
        images = to_uint8(out.cpu(), latent.output_range)  # (n, 3, H, W)
    finally:
        module.train(was_training)
    c = latent.image_shape[0]
    _, _, h, w = images.shape
    gap = 2
    grid = np.full((rows * (h + gap) + gap, GRID_COLUMNS * (w + gap) + gap, 3), 255, dtype=np.uint8)
    arr = images.permute(0, 2, 3, 1).numpy()
    for i in range(n):
        r, col = divmod(i, GRID_COLUMNS)
        grid[gap + r * (h + gap): gap + r * (h + gap) + h, gap + col * (w + gap): gap + col * (w + gap) + w] = arr[i]
    return grid[:, :, 0] if c == 1 else grid


def write_png(path: Path, image: np.ndarray) -> Path:
    """Write a uint8 (H, W) or (H, W, 3) array as PNG, atomically."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())
    return path

