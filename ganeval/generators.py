"""Generator checkpoints: one self-describing file, loaded safely, sampled deterministically.

One line: checkpoint file -> read_checkpoint (weights-only unpickling + schema check) -> load_generator
(registered architecture + state dict) -> generate (seeded latents -> module -> uint8 images), which
feeds GeneratorSource (sources.py), write_samples (`ganeval sample`) and export_generator (`ganeval export`).

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

Sampling is a pure function of (checkpoint, n, seed, class, truncation): latents are drawn in fixed
blocks of LATENT_BLOCK rows from one torch.Generator seeded with `seed`, and the module runs on fixed
chunks of forward_chunk(latent) samples, so sample i is the same whatever the batch size and whatever
n >= i + 1 (the first 100 of 10000 samples are the 100 samples), to the last bit. Truncation psi acts
in z (a truncated normal) for plain generators, and in w (w pulled toward the tracked mean w) for
style-based generators that offer the w-space hook (`truncation_space`).
docs/generators.md describes the format, the sampling rules and the commands.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import math
import os
import pickle
import re
import shutil
import tempfile
import time
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganeval import __version__
from ganeval.atomic import atomic_write_bytes, atomic_write_text, atomic_writer, replace_folder
from ganeval.errors import BadInputError
from ganeval.progress import NO_PROGRESS, ProgressReporter
from ganeval.provenance import to_jsonable

FORMAT = "ganeval-generator"
FORMAT_VERSION = 1
LATENT_KEYS = ("z_dim", "distribution", "n_classes", "class_names", "output_range", "image_shape")
DISTRIBUTIONS = ("normal", "uniform")
CHECKPOINT_EXTENSIONS = (".pt", ".pth", ".ckpt")
# Latents are drawn this many rows at a time, whatever n and the batch size (module docstring).
LATENT_BLOCK = 1024
# The module runs on at most this many samples at a time, and on about this many output values.
FORWARD_CHUNK_MAX = 256
FORWARD_CHUNK_VALUES = 16 * 2**20
EXPORT_FORMATS = ("torchscript", "export")
EXPORT_FORMAT = "ganeval-generator-export"
EXPORT_DECLARATION = "ganeval.json"  # the JSON file embedded in exported programs, as user_model.py reads
SAMPLES_JSON = "samples.json"
_ARCHITECTURES: dict[str, Callable[..., torch.nn.Module]] = {}
_BUILTIN_MODULES = ("reference_models",)

# Messages (tests match these; each is one line).
MSG_NOT_CHECKPOINT = "{path} is not a usable ganeval generator checkpoint: {why}"
MSG_NO_CHECKPOINT = "no such checkpoint: {path}"
MSG_PICKLED_OBJECT = (
    "it holds a pickled Python object ({name}); ganeval reads only tensors, numbers, strings and plain "
    "containers from a checkpoint and ran nothing"
)
MSG_BAD_SAMPLING = "bad sampling setting: {why}"
MSG_OUT_EXISTS = "{path} already exists; pass --force to replace it"
MSG_OUT_NOT_EMPTY = "{path} is a folder that is not empty; choose another folder or pass --force to replace it"
MSG_OUT_FOREIGN = (
    "{path} holds files that `ganeval sample` did not write; ganeval replaces only a previous samples "
    "folder (with a samples.json), even with --force"
)
MSG_OUT_SUFFIX = "{path}: samples are written as PNGs into a folder or as one .npz file, not as {suffix}"
MSG_BAD_OUTPUT = (
    "{where}: architecture {arch!r} returned {got} for a batch of {n}; the checkpoint declares images {want}"
)
MSG_NOT_FINITE = "{where}: the generator produced NaN or infinite values (did training diverge?)"
MSG_EXPORT_FORMAT = "unknown export format {format!r}; use one of: " + ", ".join(EXPORT_FORMATS)


def register_architecture(name: str, builder: Callable[..., torch.nn.Module]) -> None:
    """Make `name` loadable: builder(**config) returns the generator module.

    The module's forward takes z (N, z_dim) and, for conditional generators, labels (N,) int64,
    and returns images (N, C, H, W) in the checkpoint's `output_range`.
    """
    _ARCHITECTURES[name] = builder


def available_architectures() -> dict[str, Callable[..., torch.nn.Module]]:
    """Every registered architecture, after importing the built-in modules that register theirs."""
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

    def validate(self) -> LatentSpec:
        """Return self, or raise ValueError saying which field is impossible."""
        if self.z_dim < 1:
            raise ValueError(f"z_dim must be positive, got {self.z_dim}")
        if self.distribution not in DISTRIBUTIONS:
            raise ValueError(f"distribution must be one of {', '.join(DISTRIBUTIONS)}, got {self.distribution!r}")
        if self.n_classes < 0:
            raise ValueError(f"n_classes must be >= 0, got {self.n_classes}")
        if self.class_names and len(self.class_names) != self.n_classes:
            raise ValueError(f"{len(self.class_names)} class_names for {self.n_classes} classes")
        lo, hi = self.output_range
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValueError(f"output_range must be two finite numbers, low < high, got {list(self.output_range)}")
        if len(self.image_shape) != 3 or self.image_shape[0] not in (1, 3) or min(self.image_shape) < 1:
            raise ValueError(f"image_shape must be [C, H, W] with C 1 or 3, got {list(self.image_shape)}")
        return self


@dataclass
class LoadedGenerator:
    """A generator module built from a checkpoint, in eval mode, with its declared facts.

    sha256 is the hex digest of the checkpoint file's bytes (None for a generator built in memory).
    """

    module: torch.nn.Module
    architecture: str
    config: dict[str, Any]
    latent: LatentSpec
    provenance: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    sha256: str | None = None

    @property
    def label(self) -> str:
        """How error messages name this generator: its file, else its architecture."""
        return str(self.path) if self.path is not None else f"generator {self.architecture!r}"

    def describe(self) -> dict[str, Any]:
        """JSON-able facts for provenance: architecture, config, checkpoint path and sha256, latent spec."""
        return {"architecture": self.architecture, "config": to_jsonable(self.config),
                "checkpoint": str(self.path) if self.path is not None else None,
                "checkpoint_sha256": self.sha256, "latent": self.latent.to_dict()}


# -- writing and reading checkpoints -------------------------------------------------------------


def checkpoint_dict(module: torch.nn.Module, architecture: str, config: dict[str, Any], latent: LatentSpec,
                    provenance: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint dict for `module` (its state dict is copied to CPU); ValueError for an impossible latent."""
    latent.validate()
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, "architecture": architecture, "config": dict(config),
        "state_dict": {k: v.detach().to("cpu").clone() for k, v in module.state_dict().items()},
        "latent": latent.to_dict(), "provenance": dict(provenance),
    }


def save_generator(path: str | Path, module: torch.nn.Module, architecture: str, config: dict[str, Any],
                   latent: LatentSpec, provenance: dict[str, Any]) -> Path:
    """Write a generator checkpoint atomically (a reader sees the old file or the whole new one)."""
    path = Path(path)
    data = checkpoint_dict(module, architecture, config, latent, provenance)
    with atomic_writer(path) as fh:
        torch.save(data, fh)
    return path


def is_generator_checkpoint(path: str | Path) -> bool:
    """Cheap check: `path` is a file with a checkpoint suffix (.pt, .pth, .ckpt) holding a zip archive.

    Whether it really is a ganeval generator checkpoint is only known by reading it (read_checkpoint).
    """
    path = Path(path)
    if path.suffix.lower() not in CHECKPOINT_EXTENSIONS or not path.is_file():
        return False
    return zipfile.is_zipfile(path)


def _fail(path: Path | str, why: str) -> BadInputError:
    return BadInputError(MSG_NOT_CHECKPOINT.format(path=path, why=why))


def _one_line(exc: BaseException, limit: int = 240) -> str:
    text = " ".join(str(exc).split())
    return (text[:limit] + "...") if len(text) > limit else (text or type(exc).__name__)


def _zip_kind(raw: bytes) -> str | None:
    """What a file's bytes are: "torch" (torch.save), "torchscript", "export" (.pt2), "zip" (another
    zip) or None (not a zip archive at all, or a truncated one: its central directory is missing)."""
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return None
    rel = {name.split("/", 1)[1] if "/" in name else name for name in names}  # records live under one folder
    if "archive_format" in rel or any(r.startswith("models/") for r in rel):
        return "export"
    if "constants.pkl" in rel or any(r.startswith("code/") for r in rel):
        return "torchscript"
    return "torch" if "data.pkl" in rel else "zip"


_KIND_WHY = {
    None: "it is not a torch.save zip archive (truncated, damaged, torch's legacy format, or no checkpoint at all)",
    "zip": "it is a zip archive but not one written by torch.save",
    "torchscript": ("it is a TorchScript file (e.g. from `ganeval export`); give the checkpoint it was "
                    "exported from"),
    "export": "it is a torch.export program (.pt2); give the checkpoint it was exported from",
}


def _read_bytes(path: Path) -> bytes:
    if path.is_dir():
        raise _fail(path, "it is a folder")
    if not path.is_file():
        raise BadInputError(MSG_NO_CHECKPOINT.format(path=path))
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _fail(path, f"it cannot be read ({exc.strerror or exc})") from None


def _unpickle_weights_only(raw: bytes, path: Path) -> Any:
    """torch.load with the weights-only unpickler: any global beyond tensors and containers is refused."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's own hints point at weights_only=False, which we never use
            return torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        found = re.search(r"GLOBAL (\S+)", text)  # "Unsupported global: GLOBAL x.y ..." / "GLOBAL x.y whose module"
        if found:
            raise _fail(path, MSG_PICKLED_OBJECT.format(name=found.group(1).rstrip(".,"))) from None
        # torch wraps the unpickler's reason in advice to load with weights_only=False; keep the reason only
        noise = ("Weights only load failed", "Check the documentation", "Please file an issue")
        reasons = [p.strip() for p in text.split("\n\n") if p.strip() and not p.strip().startswith(noise)]
        detail = reasons[0].split("WeightsUnpickler error:")[-1] if reasons else "unsupported pickled content"
        raise _fail(path, f"it cannot be read safely ({_one_line(Exception(detail))})") from None
    except Exception as exc:  # damaged records, bad storage sizes: torch raises assorted types
        raise _fail(path, f"it cannot be read ({_one_line(exc)})") from None


def _looks_like_state_dict(data: Any) -> bool:
    return isinstance(data, dict) and bool(data) and all(isinstance(v, torch.Tensor) for v in data.values())


def _check_schema(data: Any, path: Path) -> LatentSpec:
    """The checkpoint dict's fields, checked one by one; returns its latent spec."""
    if not isinstance(data, dict):
        raise _fail(path, f"it holds a {type(data).__name__}, not a checkpoint dict")
    if "format" not in data:
        if _looks_like_state_dict(data):
            raise _fail(path, "it is a bare state dict; save generators with ganeval.generators.save_generator")
        raise _fail(path, f"it has no 'format' entry (expected {FORMAT!r})")
    if data["format"] == "ganeval-translator":  # ganeval.translate_eval.FORMAT (pix2pix, cyclegan)
        raise _fail(path, "it is an image-to-image translator, which maps images to images and has no latent "
                          "space to sample; evaluate it with `ganeval translate-eval CKPT --a DIR --b DIR`")
    if data["format"] != FORMAT:
        raise _fail(path, f"its format is {str(data['format'])[:80]!r}, not {FORMAT!r}")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        newer = isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION
        hint = " (written by a newer ganeval: upgrade)" if newer else ""
        raise _fail(path, f"format version {version!r}; this ganeval reads version {FORMAT_VERSION}{hint}")
    for key in ("architecture", "config", "state_dict", "latent"):
        if key not in data:
            raise _fail(path, f"the {key!r} entry is missing")
    if not isinstance(data["architecture"], str) or not data["architecture"]:
        raise _fail(path, "'architecture' must be a non-empty string")
    if not isinstance(data["config"], dict) or not all(isinstance(k, str) for k in data["config"]):
        raise _fail(path, "'config' must be a dict of keyword arguments")
    state = data["state_dict"]
    if not isinstance(state, dict):
        raise _fail(path, "'state_dict' must be a dict of tensors")
    for name, value in state.items():
        if not isinstance(name, str) or not isinstance(value, torch.Tensor):
            raise _fail(path, f"'state_dict' must map names to tensors; {str(name)[:60]!r} is a {type(value).__name__}")
    if "provenance" in data and not isinstance(data["provenance"], dict):
        raise _fail(path, "'provenance' must be a dict")
    latent = data["latent"]
    if not isinstance(latent, dict):
        raise _fail(path, "'latent' must be a dict")
    missing = [k for k in LATENT_KEYS if k not in latent]
    if missing:
        raise _fail(path, f"the latent spec lacks {', '.join(missing)}")
    try:
        return LatentSpec.from_dict(latent).validate()
    except (TypeError, ValueError, IndexError, KeyError) as exc:
        raise _fail(path, f"bad latent spec: {_one_line(exc)}") from None


def _read_checkpoint(path: Path) -> tuple[dict[str, Any], LatentSpec, str]:
    raw = _read_bytes(path)
    kind = _zip_kind(raw)
    if kind != "torch":
        raise _fail(path, _KIND_WHY[kind])
    data = _unpickle_weights_only(raw, path)
    latent = _check_schema(data, path)
    return data, latent, hashlib.sha256(raw).hexdigest()


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint dict, read with torch.load(weights_only=True) and checked field by field.

    Raises BadInputError naming the file for: a missing file, anything that is not a torch.save zip
    archive (truncated, TorchScript, torch.export, other), pickled objects other than tensors and
    plain containers (refused by the unpickler before anything is constructed), a foreign format or
    format version, missing entries, and an impossible latent spec.
    """
    return _read_checkpoint(Path(path))[0]


def load_generator(path: str | Path, device: str = "cpu") -> LoadedGenerator:
    """Build the generator a checkpoint describes, in eval mode on `device`; nothing from the file is executed.

    The module comes from the registered architecture's builder (registered Python code), the
    weights from the checked state dict, loaded strictly: a missing, extra or mis-shaped tensor is a
    BadInputError naming the file, like everything read_checkpoint refuses.
    """
    path = Path(path)
    data, latent, sha256 = _read_checkpoint(path)
    arch = data["architecture"]
    builders = available_architectures()
    if arch not in builders:
        names = sorted(builders)
        known = (", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")) or "none registered"
        raise _fail(path, f"unknown architecture {arch!r} (known: {known}); import the module that registers it")
    try:
        module = builders[arch](**data["config"])
    except Exception as exc:  # the config is user input: a wrong keyword or value surfaces as any type
        raise _fail(path, f"architecture {arch!r} cannot be built from its config ({_one_line(exc)})") from None
    try:
        module.load_state_dict(data["state_dict"], strict=True)
    except (TypeError, ValueError, KeyError, RuntimeError) as exc:
        raise _fail(path, f"its weights do not fit architecture {arch!r} ({_one_line(exc)})") from None
    module.eval().to(device)
    return LoadedGenerator(module=module, architecture=arch, config=dict(data["config"]), latent=latent,
                           provenance=dict(data.get("provenance") or {}), path=path, sha256=sha256)


# -- sampling -----------------------------------------------------------------------------------


def check_sampling(latent: LatentSpec, n: int, seed: int, class_index: int | None = None,
                   truncation: float | None = None, where: str | None = None) -> None:
    """Raise BadInputError (one line, starting with `where` when given) for settings that cannot be
    sampled: n < 1, a seed outside 0..2**63-1, a negative or non-finite truncation, a class that the
    generator does not have. Call it before any long work."""
    try:
        _check_sampling(latent, n, seed, class_index, truncation)
    except BadInputError as exc:
        if where is None:
            raise
        raise BadInputError(f"{where}: {exc}") from None


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _bad_truncation(truncation: Any) -> BadInputError:
    return BadInputError(MSG_BAD_SAMPLING.format(why=f"--truncation must be a number >= 0, got {truncation!r}"))


def _check_sampling(latent: LatentSpec, n: int, seed: int, class_index: int | None, truncation: float | None) -> None:
    if not _is_int(n) or n < 1:
        raise BadInputError(MSG_BAD_SAMPLING.format(why=f"the number of samples must be a positive integer, got {n!r}"))
    if not _is_int(seed) or not 0 <= seed < 2**63:
        raise BadInputError(MSG_BAD_SAMPLING.format(why=f"the seed must be an integer in 0..2**63-1, got {seed!r}"))
    if truncation is not None and not (isinstance(truncation, (int, float)) and math.isfinite(truncation)
                                       and truncation >= 0):
        raise _bad_truncation(truncation)
    if class_index is not None and not _is_int(class_index):
        raise BadInputError(MSG_BAD_SAMPLING.format(why=f"--class must be an integer, got {class_index!r}"))
    labels_for(latent, 1, class_index)


def _truncated_normal(shape: tuple[int, ...], psi: float, generator: torch.Generator) -> torch.Tensor:
    """Standard normal values conditioned on |z| <= psi, by the inverse CDF (float64, then float32)."""
    u = torch.rand(shape, generator=generator, dtype=torch.float64)
    below = 0.5 * math.erfc(psi / math.sqrt(2.0))  # Phi(-psi), accurate for large psi
    z = torch.special.ndtri(below + u * (1.0 - 2.0 * below))
    return z.clamp_(-psi, psi).to(torch.float32)  # the clamp only catches rounding at the edges


def sample_latents(latent: LatentSpec, n: int, generator: torch.Generator, truncation: float | None = None
                   ) -> torch.Tensor:
    """(n, z_dim) float32 latents drawn from `generator`.

    Normal latents with truncation psi follow the standard normal conditioned on |z| <= psi in every
    component -- the distribution that redrawing each |z| > psi until it falls inside gives (the
    truncation trick of BigGAN, Brock et al. 2019) -- drawn by the inverse CDF, so a small psi costs
    no more than a large one. psi = 0 gives the mean latent (zeros). Uniform latents on [-1, 1] are
    conditioned the same way: uniform on [-min(psi, 1), min(psi, 1)].
    """
    if truncation is not None and not (math.isfinite(truncation) and truncation >= 0):
        raise _bad_truncation(truncation)
    if latent.distribution == "uniform":
        z = torch.rand(n, latent.z_dim, generator=generator) * 2 - 1
        return z if truncation is None else z * min(truncation, 1.0)
    if latent.distribution != "normal":
        raise BadInputError(f"unknown latent distribution {latent.distribution!r}")
    if truncation is None:
        return torch.randn(n, latent.z_dim, generator=generator)
    return _truncated_normal((n, latent.z_dim), float(truncation), generator)


class _LatentStream:
    """The seed's latents in order, handed out in any sizes; drawn LATENT_BLOCK rows at a time.

    Every block is drawn whole: torch's samplers fill tensors in vectorised chunks, so a draw of
    1000 rows is not the first 1000 rows of a draw of 1024. Row i is thus fixed by the seed alone.
    """

    def __init__(self, latent: LatentSpec, seed: int, truncation: float | None) -> None:
        self._latent, self._truncation = latent, truncation
        self._generator = torch.Generator().manual_seed(int(seed))
        self._pending = torch.empty(0, latent.z_dim)

    def take(self, count: int) -> torch.Tensor:
        while self._pending.shape[0] < count:
            block = sample_latents(self._latent, LATENT_BLOCK, self._generator, self._truncation)
            self._pending = torch.cat([self._pending, block])
        rows, self._pending = self._pending[:count].clone(), self._pending[count:]
        return rows


def seeded_latents(latent: LatentSpec, n: int, seed: int, truncation: float | None = None) -> torch.Tensor:
    """The (n, z_dim) latents that `generate` feeds the generator for this seed and truncation."""
    return _LatentStream(latent, seed, truncation).take(n)


def forward_chunk(latent: LatentSpec) -> int:
    """How many samples the generator runs on at once: fixed per generator, never the caller's batch size.

    Matrix-product kernels round differently for different batch sizes (on this project's CPU 87%
    of an MLP generator's outputs differ in the last bits between batches of 1 and 128), so running
    every sample in the same chunk of the same size is what makes images independent of batch size
    and n. FORWARD_CHUNK_MAX samples, fewer for large images (about FORWARD_CHUNK_VALUES output values).
    """
    c, h, w = latent.image_shape
    return max(1, min(FORWARD_CHUNK_MAX, FORWARD_CHUNK_VALUES // (c * h * w)))


def labels_for(latent: LatentSpec, n: int, class_index: int | None) -> torch.Tensor | None:
    """Class labels for n samples: all `class_index`, or balanced (i mod K); None when unconditional."""
    if latent.n_classes == 0:
        if class_index is not None:
            raise BadInputError("this generator is unconditional: it takes no --class")
        return None
    if class_index is not None:
        if isinstance(class_index, bool) or not 0 <= class_index < latent.n_classes:
            raise BadInputError(f"--class must be in 0..{latent.n_classes - 1}, got {class_index}")
        return torch.full((n,), int(class_index), dtype=torch.int64)
    return torch.arange(n, dtype=torch.int64) % latent.n_classes


def to_uint8(images: torch.Tensor, output_range: tuple[float, float], rgb: bool = True) -> torch.Tensor:
    """Generator output (N, C, H, W) in `output_range` -> uint8, round(255 (x - lo) / (hi - lo)) clipped.

    rgb=True gives (N, 3, H, W) with grayscale repeated (the images contract of sources.py);
    rgb=False keeps the generator's own channels (1 or 3), as `ganeval sample` writes them.
    """
    lo, hi = output_range
    x = ((images.float() - lo) / (hi - lo) * 255.0).round().clamp(0, 255).to(torch.uint8)
    if rgb and x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    return x.contiguous()


def _check_output(out: Any, gen: LoadedGenerator, n: int) -> None:
    want = (n, *gen.latent.image_shape)
    if not isinstance(out, torch.Tensor) or not out.is_floating_point() or tuple(out.shape) != want:
        got = (f"a {str(out.dtype).replace('torch.', '')} tensor {tuple(out.shape)}" if isinstance(out, torch.Tensor)
               else f"a {type(out).__name__}")
        raise BadInputError(MSG_BAD_OUTPUT.format(where=gen.label, arch=gen.architecture, got=got, n=n,
                                                  want=list(gen.latent.image_shape)))
    if not bool(torch.isfinite(out).all()):
        raise BadInputError(MSG_NOT_FINITE.format(where=gen.label))


W_HOOK = ("mapping", "truncate_w", "synthesis")  # the w-space truncation hook of style-based generators


def truncation_space(gen: LoadedGenerator) -> str:
    """"w" when the generator's module offers the w-space hook (W_HOOK: mapping(z[, labels]) -> w,
    truncate_w(w, psi), synthesis(w) -> images), else "z". A module with truncate_w but without mapping or
    synthesis is a BadInputError (docs/sweep.md)."""
    module = gen.module
    if not callable(getattr(module, "truncate_w", None)):
        return "z"
    missing = [name for name in ("mapping", "synthesis") if not callable(getattr(module, name, None))]
    if missing:
        raise BadInputError(
            f"{gen.label}: architecture {gen.architecture!r} has truncate_w but no {' or '.join(missing)}; "
            "a w-space generator needs mapping(z[, labels]), truncate_w(w, psi) and synthesis(w)"
        )
    return "w"


class WTruncated(torch.nn.Module):
    """images = synthesis(truncate_w(mapping(z[, labels]), psi)): a style-based generator truncated in w."""

    def __init__(self, module: torch.nn.Module, psi: float) -> None:
        super().__init__()
        self.inner = module
        self.psi = float(psi)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        w = self.inner.mapping(z) if labels is None else self.inner.mapping(z, labels)
        return self.inner.synthesis(self.inner.truncate_w(w, self.psi))


def generate(gen: LoadedGenerator, n: int, *, seed: int = 0, batch_size: int = 256, class_index: int | None = None,
             truncation: float | None = None, rgb: bool = True
             ) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """Yield (uint8 (B, C, H, W) images, int64 (B,) labels or None) batches of n samples, deterministic in `seed`.

    C is 3 with rgb=True (grayscale repeated), else the generator's own. Latents come from one
    generator seeded with `seed`, in fixed blocks, and the module runs on fixed chunks of
    forward_chunk(gen.latent) samples (the last one filled up with the stream's next latents, whose
    images are dropped), so the images depend on neither batch_size nor n; batch_size only sets how
    many images each yielded batch holds. Raises BadInputError for impossible settings, or when the
    module returns the wrong shape or non-finite values.
    """
    check_sampling(gen.latent, n, seed, class_index, truncation, where=gen.label)
    if not _is_int(batch_size) or batch_size < 1:
        raise BadInputError(f"batch size must be a positive integer, got {batch_size!r}")
    chunk = forward_chunk(gen.latent)
    module = gen.module
    if truncation is not None and truncation_space(gen) == "w":
        # Style-based generators truncate w, not z: untruncated latents, w pulled toward the mean w.
        module, truncation = WTruncated(gen.module, truncation), None
    stream = _LatentStream(gen.latent, seed, truncation)
    device = next(iter(gen.module.parameters()), torch.empty(0)).device
    held: list[tuple[torch.Tensor, torch.Tensor | None]] = []  # generated, not yet yielded
    n_held = 0
    for start in range(0, n, chunk):
        z = stream.take(chunk).to(device)
        lb = _chunk_labels(gen.latent, start, chunk, class_index)
        keep = min(chunk, n - start)
        with torch.no_grad():  # not inference_mode: callers may modify the images in place
            out = module(z, lb.to(device)) if lb is not None else module(z)
            _check_output(out, gen, chunk)
            held.append((to_uint8(out[:keep].cpu(), gen.latent.output_range, rgb=rgb),
                         lb[:keep] if lb is not None else None))
        n_held += keep
        last = start + chunk >= n
        if n_held < batch_size and not last:
            continue
        images = torch.cat([im for im, _ in held])
        labels = torch.cat([lab for _, lab in held]) if lb is not None else None  # type: ignore[misc]
        pos = 0
        while n_held - pos >= batch_size or (last and pos < n_held):
            size = min(batch_size, n_held - pos)
            yield images[pos:pos + size], (labels[pos:pos + size] if labels is not None else None)
            pos += size
        held = [(images[pos:], labels[pos:] if labels is not None else None)]
        n_held -= pos


def _chunk_labels(latent: LatentSpec, start: int, count: int, class_index: int | None) -> torch.Tensor | None:
    """labels_for's labels of samples start .. start + count - 1, without building all the earlier ones."""
    if latent.n_classes == 0:
        return None
    if class_index is not None:
        return torch.full((count,), int(class_index), dtype=torch.int64)
    return torch.arange(start, start + count, dtype=torch.int64) % latent.n_classes


def sampling_record(gen: LoadedGenerator, n: int, seed: int, class_index: int | None,
                    truncation: float | None) -> dict[str, Any]:
    """JSON-able description of n samples: the generator's facts and the settings that fix the images."""
    if gen.latent.n_classes == 0:
        labels = None
    elif class_index is None:
        labels = f"balanced: sample i has class i mod {gen.latent.n_classes}"
    else:
        labels = f"all class {class_index}"
    space = truncation_space(gen) if truncation is not None else None
    return dict(gen.describe(), n=n, seed=seed, class_index=class_index, truncation=truncation,
                truncation_space=space, labels=labels, ganeval_version=__version__, torch_version=torch.__version__)


# -- ganeval sample ------------------------------------------------------------------------------

_FILE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".npy", ".zip", ".tar", ".gz",
                  ".tgz", ".pt", ".pth", ".ckpt", ".json")
_OWN_FILE = re.compile(r"^\d{6,}\.png$")


def samples_json_path(out: str | Path) -> Path:
    """Where write_samples puts its samples.json: inside a PNG folder, or beside an .npz as NAME.samples.json."""
    out = Path(out)
    if out.suffix.lower() == ".npz":
        return out.with_name(out.stem + ".samples.json")
    return out / SAMPLES_JSON


def _is_own_folder(folder: Path) -> bool:
    names = [p.name for p in folder.iterdir()]
    return SAMPLES_JSON in names and all(name == SAMPLES_JSON or _OWN_FILE.match(name) for name in names)


def _check_target(out: Path, force: bool) -> None:
    """Refuse, before any work, an output that would overwrite something it should not."""
    suffix = out.suffix.lower()
    if suffix == ".npz":
        if out.is_dir():
            raise BadInputError(f"{out} is a folder; give a file name ending in .npz")
        for p in (out, samples_json_path(out)):
            if p.exists() and not force:
                raise BadInputError(MSG_OUT_EXISTS.format(path=p))
        return
    if suffix in _FILE_SUFFIXES:
        raise BadInputError(MSG_OUT_SUFFIX.format(path=out, suffix=out.suffix))
    if out.exists() and not out.is_dir():
        raise BadInputError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise BadInputError(MSG_OUT_NOT_EMPTY.format(path=out))
        if not _is_own_folder(out):
            raise BadInputError(MSG_OUT_FOREIGN.format(path=out))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _install_folder(tmp: Path, out: Path, force: bool) -> None:
    """Move the finished temp folder to `out` with renames only, replacing a previous samples folder."""
    _check_target(out, force)
    replace_folder(tmp, out)


def _write_png_folder(gen: LoadedGenerator, out: Path, n: int, record: dict[str, Any], batches: Iterator,
                      force: bool, on_batch: Callable[[int], None]) -> None:
    from PIL import Image

    width = max(6, len(str(n - 1)))
    parent = out.absolute().parent  # absolute() also names the folder of a relative out such as "."
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.absolute().name}.", suffix=".tmp", dir=parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; follow the umask like mkdir would
        index = 0
        for images, _ in batches:
            arr = images.permute(0, 2, 3, 1).contiguous().numpy()
            for im in arr:
                Image.fromarray(im[:, :, 0] if im.shape[2] == 1 else im).save(tmp / f"{index:0{width}d}.png")
                index += 1
            on_batch(len(arr))
        record["files"] = f"{0:0{width}d}.png .. {n - 1:0{width}d}.png"
        (tmp / SAMPLES_JSON).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        _install_folder(tmp, out, force)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_npz(gen: LoadedGenerator, out: Path, n: int, record: dict[str, Any], batches: Iterator,
               on_batch: Callable[[int], None]) -> None:
    """Stream images into an uncompressed .npz (what np.savez writes), never holding all of them."""
    c, h, w = gen.latent.image_shape
    labels: list[torch.Tensor] = []
    with atomic_writer(out) as fh, zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        with zf.open("images.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, {"descr": np.dtype(np.uint8).str, "fortran_order": False,
                                                          "shape": (n, h, w, c)})
            for images, lb in batches:
                member.write(images.permute(0, 2, 3, 1).contiguous().numpy().tobytes())
                if lb is not None:
                    labels.append(lb)
                on_batch(images.shape[0])
        if labels:
            buffer = io.BytesIO()
            np.save(buffer, torch.cat(labels).numpy(), allow_pickle=False)
            zf.writestr("labels.npy", buffer.getvalue())
    record["files"] = {"images": f"uint8 ({n}, {h}, {w}, {c}) NHWC", "labels": f"int64 ({n},)" if labels else None}
    atomic_write_text(samples_json_path(out), json.dumps(record, indent=2, sort_keys=True) + "\n")


def write_samples(gen: LoadedGenerator | str | Path, out: str | Path, n: int, *, seed: int = 0,
                  batch_size: int = 256, class_index: int | None = None, truncation: float | None = None,
                  force: bool = False, progress: ProgressReporter = NO_PROGRESS) -> Path:
    """Generate n samples and write them to `out`; the call behind `ganeval sample`. Returns `out`.

    out ending in .npz: one uncompressed .npz with "images" uint8 (N, H, W, C) in the generator's own
    channels, and "labels" int64 (N,) for conditional generators; NAME.samples.json beside it.
    Otherwise a folder of PNGs 000000.png, 000001.png, ... ("L" for 1-channel generators, "RGB" for
    3) with samples.json inside. samples.json records the checkpoint sha256, architecture, latent
    spec, n, seed, class, truncation and versions.

    Atomic: the folder is built in a hidden temp folder beside it and renamed at the end, the .npz is
    a temp file renamed at the end; an interrupted run leaves nothing at `out`. An existing non-empty
    folder is refused unless force, and even then only a previous samples folder is replaced.
    """
    if not isinstance(gen, LoadedGenerator):
        gen = load_generator(gen)
    check_sampling(gen.latent, n, seed, class_index, truncation, where=gen.label)
    out = Path(out)
    _check_target(out, force)
    record = sampling_record(gen, n, seed, class_index, truncation)
    record["format"] = "npz" if out.suffix.lower() == ".npz" else "png"
    batches = generate(gen, n, seed=seed, batch_size=batch_size, class_index=class_index, truncation=truncation,
                       rgb=False)
    task = progress.task("sampling", total=n)
    t0, done = time.perf_counter(), 0

    def on_batch(count: int) -> None:
        nonlocal done
        done += count
        progress.advance(task, count, rate=f"{done / max(time.perf_counter() - t0, 1e-9):.1f} img/s")

    if record["format"] == "npz":
        _write_npz(gen, out, n, record, batches, on_batch)
    else:
        _write_png_folder(gen, out, n, record, batches, force, on_batch)
    progress.finish(task, note=f"{n} images")
    return out


# -- ganeval export ------------------------------------------------------------------------------


def export_declaration(gen: LoadedGenerator) -> dict[str, Any]:
    """The JSON embedded as ganeval.json in an exported generator: what it takes and what it returns."""
    conditional = gen.latent.n_classes > 0
    c, h, w = gen.latent.image_shape
    return {
        "format": EXPORT_FORMAT, "format_version": 1, "architecture": gen.architecture, "config": gen.config,
        "checkpoint_sha256": gen.sha256, "latent": gen.latent.to_dict(),
        "inputs": ["z", "labels"] if conditional else ["z"],
        "input_shapes": {"z": ["N", gen.latent.z_dim], **({"labels": ["N"]} if conditional else {})},
        "output_shape": ["N", c, h, w], "output_range": list(gen.latent.output_range),
        "ganeval_version": __version__,
    }


def export_generator(gen: LoadedGenerator | str | Path, out: str | Path, format: str, *, force: bool = False) -> Path:
    """Write the generator as a TorchScript file or a torch.export program; the call behind `ganeval export`.

    The program takes z float32 (N, z_dim) (and labels int64 (N,) for conditional generators), any
    N >= 1, and returns the module's own images float32 (N, C, H, W) in the declared output range.
    export_declaration(gen) is embedded as the extra file "ganeval.json" (torch.jit.load(...,
    _extra_files=...) / torch.export.load(..., extra_files=...) read it). Tracing records the module's
    path for these inputs: control flow that depends on values is frozen. Written atomically.
    """
    if format not in EXPORT_FORMATS:
        raise BadInputError(MSG_EXPORT_FORMAT.format(format=format))
    if not isinstance(gen, LoadedGenerator):
        gen = load_generator(gen)
    out = Path(out)
    if out.is_dir():
        raise BadInputError(f"{out} is a folder; give the file to write")
    if out.exists() and not force:
        raise BadInputError(MSG_OUT_EXISTS.format(path=out))
    device = next(iter(gen.module.parameters()), torch.empty(0)).device
    # Batch 2: torch.export specialises sizes 0 and 1, and tracing at 2 exercises batched code paths.
    example: tuple[torch.Tensor, ...] = (torch.randn(2, gen.latent.z_dim, generator=torch.Generator().manual_seed(0)
                                                     ).to(device),)
    if gen.latent.n_classes > 0:
        example += (torch.tensor([0, 1 % gen.latent.n_classes], dtype=torch.int64, device=device),)
    text = json.dumps(export_declaration(gen), sort_keys=True)
    gen.module.eval()
    buffer = io.BytesIO()
    try:
        if format == "torchscript":
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore", FutureWarning)  # torch 2.14's TorchScript deprecation notice
                traced = torch.jit.trace(gen.module, example)
                torch.jit.save(traced, buffer, _extra_files={EXPORT_DECLARATION: text})
        else:
            dynamic = tuple({0: torch.export.Dim.DYNAMIC} for _ in example)
            program = torch.export.export(gen.module, example, dynamic_shapes=dynamic)
            torch.export.save(program, buffer, extra_files={EXPORT_DECLARATION: text})
    except BadInputError:
        raise
    except Exception as exc:  # tracing and exporting fail in many types; the user needs the first line
        raise BadInputError(f"cannot export {gen.label} as {format}: {_one_line(exc)}") from None
    atomic_write_bytes(out, buffer.getvalue())
    return out
