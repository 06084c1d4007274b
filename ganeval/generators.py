"""Generator checkpoints: one self-describing file, loaded safely, sampled deterministically.

A checkpoint is a plain dict that `torch.load(..., weights_only=True)` reads (tensors, numbers,
strings, lists, dicts; never pickled code):

    {"format": "ganeval-generator", "format_version": 1,
     "architecture": "dcgan",                 # a name in the architecture registry below
     "config": {...},                         # JSON-able keyword arguments of the architecture's builder
     "state_dict": {...},                     # the generator's weights (the EMA weights when EMA was used)
     "latent": {"z_dim": 64, "distribution": "normal", "n_classes": 0, "class_names": [],
                "output_range": [-1.0, 1.0], "image_shape": [1, 28, 28]},
     "provenance": {...}}                     # trainer, seed, step, dataset fingerprint, versions

Architectures register through the same public call a user's plugin uses (`register_architecture`);
the reference trainers in `reference_models/` register theirs when imported.
"""

from __future__ import annotations

import importlib
import io
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ganeval.atomic import atomic_writer
from ganeval.errors import BadInputError

FORMAT = "ganeval-generator"
FORMAT_VERSION = 1
LATENT_KEYS = ("z_dim", "distribution", "n_classes", "class_names", "output_range", "image_shape")
_ARCHITECTURES: dict[str, Callable[..., torch.nn.Module]] = {}
_BUILTIN_MODULES = ("reference_models",)


def register_architecture(name: str, builder: Callable[..., torch.nn.Module]) -> None:
    """Make `name` loadable: builder(**config) returns the generator module.

    The module's forward takes z (N, z_dim) and, for conditional generators, labels (N,) int64,
    and returns images (N, C, H, W) in the checkpoint's `output_range`.
    """
    _ARCHITECTURES[name] = builder


def available_architectures() -> dict[str, Callable[..., torch.nn.Module]]:
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)
    return dict(_ARCHITECTURES)


@dataclass(frozen=True)
class LatentSpec:
    """What a generator takes and gives: z (N, z_dim) from `distribution`, optional class labels,
    and images of `image_shape` (C, H, W) in `output_range`."""

    z_dim: int
    distribution: str = "normal"
    n_classes: int = 0
    class_names: tuple[str, ...] = ()
    output_range: tuple[float, float] = (-1.0, 1.0)
    image_shape: tuple[int, int, int] = (1, 28, 28)

    def to_dict(self) -> dict[str, Any]:
        return {"z_dim": self.z_dim, "distribution": self.distribution, "n_classes": self.n_classes,
                "class_names": list(self.class_names), "output_range": list(self.output_range),
                "image_shape": list(self.image_shape)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LatentSpec:
        return cls(z_dim=int(d["z_dim"]), distribution=str(d["distribution"]), n_classes=int(d["n_classes"]),
                   class_names=tuple(str(c) for c in d.get("class_names", ())),
                   output_range=(float(d["output_range"][0]), float(d["output_range"][1])),
                   image_shape=tuple(int(v) for v in d["image_shape"]))  # type: ignore[arg-type]


@dataclass
class LoadedGenerator:
    """A generator module built from a checkpoint, in eval mode, with its declared facts."""

    module: torch.nn.Module
    architecture: str
    config: dict[str, Any]
    latent: LatentSpec
    provenance: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


def checkpoint_dict(module: torch.nn.Module, architecture: str, config: dict[str, Any], latent: LatentSpec,
                    provenance: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint dict for `module` (its state dict is copied to CPU)."""
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, "architecture": architecture, "config": dict(config),
        "state_dict": {k: v.detach().to("cpu").clone() for k, v in module.state_dict().items()},
        "latent": latent.to_dict(), "provenance": dict(provenance),
    }


def save_generator(path: str | Path, module: torch.nn.Module, architecture: str, config: dict[str, Any],
                   latent: LatentSpec, provenance: dict[str, Any]) -> Path:
    """Write a generator checkpoint atomically."""
    path = Path(path)
    with atomic_writer(path) as fh:
        torch.save(checkpoint_dict(module, architecture, config, latent, provenance), fh)
    return path


def is_generator_checkpoint(path: str | Path) -> bool:
    """True when `path` is a torch zip file whose dict says format "ganeval-generator" (cheap check)."""
    path = Path(path)
    if path.suffix.lower() not in (".pt", ".pth", ".ckpt") or not path.is_file():
        return False
    return zipfile.is_zipfile(path)


def _fail(path: Path, why: str) -> BadInputError:
    return BadInputError(f"{path} is not a usable ganeval generator checkpoint: {why}")


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """torch.load with weights_only=True, then a schema check; BadInputError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"no such checkpoint: {path}")
    try:
        data = torch.load(io.BytesIO(path.read_bytes()), map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, pickled code, foreign format: all refused alike
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _fail(path, f"cannot be read safely ({reason[:200]})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise _fail(path, f"it does not say format {FORMAT!r}")
    if data.get("format_version") != FORMAT_VERSION:
        raise _fail(path, f"format version {data.get('format_version')!r}; this ganeval reads {FORMAT_VERSION}")
    for key in ("architecture", "config", "state_dict", "latent"):
        if key not in data:
            raise _fail(path, f"the {key!r} entry is missing")
    if not isinstance(data["config"], dict) or not isinstance(data["state_dict"], dict):
        raise _fail(path, "config and state_dict must be dicts")
    missing = [k for k in LATENT_KEYS if k not in data["latent"]]
    if missing:
        raise _fail(path, f"the latent spec lacks {', '.join(missing)}")
    return data


def load_generator(path: str | Path, device: str = "cpu") -> LoadedGenerator:
    """Build the generator a checkpoint describes; nothing from the file is executed."""
    path = Path(path)
    data = read_checkpoint(path)
    arch = data["architecture"]
    builders = available_architectures()
    if arch not in builders:
        raise _fail(path, f"unknown architecture {arch!r} (known: {', '.join(sorted(builders))})")
    try:
        latent = LatentSpec.from_dict(data["latent"])
        module = builders[arch](**data["config"])
        module.load_state_dict(data["state_dict"], strict=True)
    except (TypeError, ValueError, KeyError, RuntimeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _fail(path, f"its weights do not fit architecture {arch!r} ({reason[:200]})") from None
    module.eval().to(device)
    return LoadedGenerator(module=module, architecture=arch, config=dict(data["config"]), latent=latent,
                           provenance=dict(data.get("provenance") or {}), path=path)


def sample_latents(latent: LatentSpec, n: int, generator: torch.Generator, truncation: float | None = None
                   ) -> torch.Tensor:
    """(n, z_dim) latents. With `truncation` psi, normal components with |z| > psi are redrawn until
    inside (the truncation trick of BigGAN, Brock et al. 2019); psi <= 0 gives the mean (zeros)."""
    if latent.distribution == "uniform":
        z = torch.rand(n, latent.z_dim, generator=generator) * 2 - 1
        return z if truncation is None else z * truncation
    if latent.distribution != "normal":
        raise BadInputError(f"unknown latent distribution {latent.distribution!r}")
    z = torch.randn(n, latent.z_dim, generator=generator)
    if truncation is None:
        return z
    if truncation <= 0:
        return torch.zeros_like(z)
    outside = z.abs() > truncation
    while outside.any():
        z[outside] = torch.randn(int(outside.sum()), generator=generator)
        outside = z.abs() > truncation
    return z


def labels_for(latent: LatentSpec, n: int, class_index: int | None) -> torch.Tensor | None:
    """Class labels for n samples: all `class_index`, or balanced (i mod K); None when unconditional."""
    if latent.n_classes == 0:
        if class_index is not None:
            raise BadInputError("this generator is unconditional: it takes no --class")
        return None
    if class_index is not None:
        if not 0 <= class_index < latent.n_classes:
            raise BadInputError(f"--class must be in 0..{latent.n_classes - 1}, got {class_index}")
        return torch.full((n,), class_index, dtype=torch.int64)
    return torch.arange(n, dtype=torch.int64) % latent.n_classes


def to_uint8(images: torch.Tensor, output_range: tuple[float, float]) -> torch.Tensor:
    """Generator output in `output_range` -> uint8 (N, 3, H, W) RGB (grayscale repeated)."""
    lo, hi = output_range
    x = ((images.float() - lo) / (hi - lo) * 255.0).round().clamp(0, 255).to(torch.uint8)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    return x.contiguous()


def generate(gen: LoadedGenerator, n: int, *, seed: int = 0, batch_size: int = 256, class_index: int | None = None,
             truncation: float | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """Yield (uint8 (B, 3, H, W) images, labels or None) batches of n samples, deterministic in `seed`.

    All latents are drawn up front from one seeded generator, so the images do not depend on batch_size.
    """
    g = torch.Generator().manual_seed(seed)
    z = sample_latents(gen.latent, n, g, truncation)
    labels = labels_for(gen.latent, n, class_index)
    device = next(gen.module.parameters()).device
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            zb = z[start:start + batch_size].to(device)
            lb = labels[start:start + batch_size].to(device) if labels is not None else None
            out = gen.module(zb, lb) if lb is not None else gen.module(zb)
            yield to_uint8(out.cpu(), gen.latent.output_range), (lb.cpu() if lb is not None else None)
