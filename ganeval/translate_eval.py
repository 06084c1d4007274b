"""Image-to-image translators (pix2pix, cyclegan): their checkpoint format and `ganeval translate-eval`.

One line: translator checkpoint + A images (+ B images) -> translate A->B (and B->A) in eval mode ->
uint8 outputs -> FID/KID against real B (A) through ganeval.evaluate, L1/PSNR/SSIM to the targets when
A and B are pairs, cycle-reconstruction error for two-way translators -> Result rows -> report.

A translator checkpoint is one file that torch.load(weights_only=True) reads, a plain dict:

    {"format": "ganeval-translator", "format_version": 1,
     "architecture": "pix2pix-unet",          # a name in the translator-architecture registry below
     "config": {...},                         # keyword arguments of the architecture's builder
     "state_dict": {...},
     "translation": {"kind": "pix2pix", "directions": ["a2b"],          # cyclegan: ["a2b", "b2a"]
                     "input_shape": [3, 32, 32], "output_shape": [3, 32, 32],
                     "value_range": [-1.0, 1.0], "domains": ["edges", "faces"]},
     "provenance": {...}}

It is deliberately not a "ganeval-generator": a translator maps images to images and has no latent
space, so `ganeval sample`, `fid CKPT`, `sweep` refuse it with a message pointing here.

Image metrics (pure functions on float tensors in [0, 1], shaped (N, C, H, W)):
    l1:   mean |x - y| over all pixels and channels.
    psnr: per image 10 log10(1 / MSE) (peak 1), averaged over images; +inf for an image reproduced exactly.
    ssim: Wang et al. (2004): 11x11 Gaussian window (sigma 1.5; the side when an image is smaller),
          K1 = 0.01, K2 = 0.03, data range 1, computed per channel on the valid region (no padding), the
          map averaged per image, then over images.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ganeval.atomic import atomic_writer
from ganeval.errors import BadInputError

FORMAT = "ganeval-translator"
FORMAT_VERSION = 1
DIRECTIONS = ("a2b", "b2a")
SSIM_WINDOW, SSIM_SIGMA, SSIM_K1, SSIM_K2 = 11, 1.5, 0.01, 0.03
MSG_NOT_TRANSLATOR = "{path} is not a usable ganeval translator checkpoint: {why}"
_ARCHITECTURES: dict[str, Callable[..., torch.nn.Module]] = {}
_BUILTIN_MODULES = ("reference_models",)


def register_translator_architecture(name: str, builder: Callable[..., torch.nn.Module]) -> None:
    """Make translator architecture `name` loadable: builder(**config) returns a module whose
    `translate(x, direction)` maps float (N, C, H, W) images in the value range to the other domain."""
    _ARCHITECTURES[name] = builder


def available_translator_architectures() -> dict[str, Callable[..., torch.nn.Module]]:
    """Every registered translator architecture (importing the built-in trainers registers theirs)."""
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)
    return dict(_ARCHITECTURES)


@dataclass(frozen=True)
class TranslationSpec:
    """What a translator does: kind (trainer name), directions ("a2b", and "b2a" for two-way models),
    input and output image shapes (C, H, W) of a2b, the value range of its inputs and outputs, and the
    names of its two domains."""

    kind: str
    directions: tuple[str, ...]
    input_shape: tuple[int, int, int]
    output_shape: tuple[int, int, int]
    value_range: tuple[float, float] = (-1.0, 1.0)
    domains: tuple[str, str] = ("A", "B")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "directions": list(self.directions), "input_shape": list(self.input_shape),
                "output_shape": list(self.output_shape), "value_range": [float(v) for v in self.value_range],
                "domains": list(self.domains)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TranslationSpec:
        spec = cls(kind=str(d["kind"]), directions=tuple(str(x) for x in d["directions"]),
                   input_shape=tuple(int(v) for v in d["input_shape"]),  # type: ignore[arg-type]
                   output_shape=tuple(int(v) for v in d["output_shape"]),  # type: ignore[arg-type]
                   value_range=(float(d["value_range"][0]), float(d["value_range"][1])),
                   domains=(str(d["domains"][0]), str(d["domains"][1])))
        if not spec.directions or any(x not in DIRECTIONS for x in spec.directions):
            raise ValueError(f"directions must be among {', '.join(DIRECTIONS)}, got {list(spec.directions)}")
        for shape in (spec.input_shape, spec.output_shape):
            if len(shape) != 3 or shape[0] not in (1, 3) or min(shape) < 1:
                raise ValueError(f"image shapes must be [C, H, W] with C 1 or 3, got {list(shape)}")
        lo, hi = spec.value_range
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValueError(f"value_range must be two finite numbers, low < high, got {[lo, hi]}")
        return spec


@dataclass
class LoadedTranslator:
    """A translator built from a checkpoint, in eval mode, with its declared facts and file hash."""

    module: torch.nn.Module
    architecture: str
    config: dict[str, Any]
    spec: TranslationSpec
    provenance: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    sha256: str | None = None

    def describe(self) -> dict[str, Any]:
        """JSON-able facts for provenance."""
        from ganeval.provenance import to_jsonable

        return {"architecture": self.architecture, "config": to_jsonable(self.config),
                "checkpoint": str(self.path) if self.path else None, "checkpoint_sha256": self.sha256,
                "translation": self.spec.to_dict()}


def save_translator(path: str | Path, module: torch.nn.Module, architecture: str, config: dict[str, Any],
                    spec: TranslationSpec, provenance: dict[str, Any]) -> Path:
    """Write a translator checkpoint atomically (module docstring); returns the path."""
    path = Path(path)
    data = {"format": FORMAT, "format_version": FORMAT_VERSION, "architecture": architecture,
            "config": dict(config), "translation": spec.to_dict(),
            "state_dict": {k: v.detach().to("cpu").clone() for k, v in module.state_dict().items()},
            "provenance": dict(provenance)}
    with atomic_writer(path) as fh:
        torch.save(data, fh)
    return path


def _fail(path: Path, why: str) -> BadInputError:
    return BadInputError(MSG_NOT_TRANSLATOR.format(path=path, why=why))


def _one_line(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(str(exc).split())
    return (text[:limit] + "...") if len(text) > limit else (text or type(exc).__name__)


def load_translator(path: str | Path, device: str = "cpu") -> LoadedTranslator:
    """Read a translator checkpoint with torch.load(weights_only=True), check it field by field and build
    the registered architecture in eval mode; BadInputError naming the file for anything else (a generator
    checkpoint, a truncated or foreign file, pickled objects, a mismatching state dict)."""
    path = Path(path)
    if path.is_dir():
        raise _fail(path, "it is a folder")
    if not path.is_file():
        raise BadInputError(f"no such checkpoint: {path}")
    raw = path.read_bytes()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, legacy, pickled code: all refused alike, nothing executed
        raise _fail(path, f"it cannot be read safely ({_one_line(exc)})") from None
    if not isinstance(data, dict):
        raise _fail(path, f"it holds a {type(data).__name__}, not a checkpoint dict")
    if data.get("format") == "ganeval-generator":
        raise _fail(path, "it is a generator checkpoint (latent -> image); evaluate it with `ganeval metrics` "
                          "or `ganeval sample`")
    if data.get("format") != FORMAT:
        raise _fail(path, f"its format is {str(data.get('format'))[:80]!r}, not {FORMAT!r}")
    if data.get("format_version") != FORMAT_VERSION:
        raise _fail(path, f"format version {data.get('format_version')!r}; this ganeval reads {FORMAT_VERSION}")
    for key in ("architecture", "config", "state_dict", "translation"):
        if key not in data:
            raise _fail(path, f"the {key!r} entry is missing")
    try:
        spec = TranslationSpec.from_dict(data["translation"])
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        raise _fail(path, f"bad translation spec: {_one_line(exc)}") from None
    arch = data["architecture"]
    builders = available_translator_architectures()
    if arch not in builders:
        raise _fail(path, f"unknown architecture {arch!r} (known: {', '.join(sorted(builders)) or 'none'})")
    if not isinstance(data["config"], dict):
        raise _fail(path, "'config' must be a dict of keyword arguments")
    try:
        module = builders[arch](**data["config"])
        module.load_state_dict(data["state_dict"], strict=True)
    except Exception as exc:  # the config and weights are user input
        raise _fail(path, f"its weights and config do not fit architecture {arch!r} ({_one_line(exc)})") from None
    module.eval().to(device)
    return LoadedTranslator(module=module, architecture=arch, config=dict(data["config"]), spec=spec,
                            provenance=dict(data.get("provenance") or {}), path=path,
                            sha256=hashlib.sha256(raw).hexdigest())


# -- image metrics (pure) ----------------------------------------------------------------------------


def _check_pair(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if x.shape != y.shape or x.ndim != 4:
        raise ValueError(f"expected two (N, C, H, W) tensors of one shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    return x.double(), y.double()


def images_to_l1(x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean absolute difference of (N, C, H, W) images in [0, 1] (over every pixel, channel and image)."""
    x, y = _check_pair(x, y)
    return float((x - y).abs().mean())


def images_to_psnr(x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Per-image PSNR in dB of (N, C, H, W) images in [0, 1] (peak 1): 10 log10(1 / MSE_i); +inf where MSE_i = 0."""
    x, y = _check_pair(x, y)
    mse = ((x - y) ** 2).flatten(1).mean(dim=1).numpy()
    with np.errstate(divide="ignore"):
        return np.where(mse > 0, 10.0 * np.log10(1.0 / np.maximum(mse, 1e-300)), np.inf)


def _gaussian_window(size: int, sigma: float) -> torch.Tensor:
    t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    w = torch.exp(-(t ** 2) / (2 * sigma ** 2))
    return w / w.sum()


def images_to_ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> np.ndarray:
    """Per-image SSIM (Wang et al. 2004) of (N, C, H, W) images (module docstring for the constants):
    Gaussian-weighted local means, variances and covariance on the valid region, per channel; the SSIM map
    averaged over channels and positions."""
    x, y = _check_pair(x, y)
    n, c, h, w = x.shape
    size = min(SSIM_WINDOW, h, w)
    g = _gaussian_window(size, SSIM_SIGMA)
    kh = g.view(1, 1, size, 1).repeat(c, 1, 1, 1)
    kw = g.view(1, 1, 1, size).repeat(c, 1, 1, 1)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(t, kh, groups=c), kw, groups=c)

    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    ssim_map = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return ssim_map.flatten(1).mean(dim=1).numpy()


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float64 in [0, 1] (x / 255)."""
    return images.double() / 255.0


# -- translating ----------------------------------------------------------------------------------------


def to_model_range(images: torch.Tensor, value_range: tuple[float, float]) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float32 in `value_range` (lo + (hi - lo) x / 255)."""
    lo, hi = value_range
    return images.float() / 255.0 * (hi - lo) + lo


@torch.no_grad()
def translate_images(module: torch.nn.Module, images: torch.Tensor, direction: str,
                     value_range: tuple[float, float] = (-1.0, 1.0), batch_size: int = 64,
                     dropout_seed: int | None = None, device: str = "cpu") -> torch.Tensor:
    """Translate uint8 (N, C, H, W) images with `module.translate(x, direction)` in eval mode; returns uint8
    outputs (rounded and clipped like saved PNGs). Dropout is off unless `dropout_seed` is given, in which
    case pix2pix's dropout noise is drawn from a generator seeded with it (same seed, same outputs)."""
    from ganeval.generators import to_uint8

    was_training = module.training
    module.eval()
    set_noise = getattr(module, "set_eval_dropout", None)
    if set_noise is not None:
        set_noise(None if dropout_seed is None else torch.Generator().manual_seed(int(dropout_seed)))
    try:
        out = []
        for start in range(0, len(images), batch_size):
            x = to_model_range(images[start:start + batch_size], value_range).to(device)
            y = module.translate(x, direction).cpu()
            if not torch.isfinite(y).all():
                raise BadInputError("the translator produced NaN or infinite values (did training diverge?)")
            out.append(to_uint8(y, value_range, rgb=False))
        return torch.cat(out) if out else images[:0].clone()
    finally:
        if set_noise is not None:
            set_noise(None)
        module.train(was_training)


def paired_metrics(output: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """L1, PSNR (mean over images) and SSIM (mean over images) of uint8 outputs against uint8 targets."""
    x, y = to_unit(output), to_unit(target)
    return {"l1": images_to_l1(x, y), "psnr": float(np.mean(images_to_psnr(x, y))),
            "ssim": float(np.mean(images_to_ssim(x, y)))}


def triplet_grid(rows: Sequence[Sequence[torch.Tensor]], max_rows: int = 8, pad: int = 2) -> np.ndarray:
    """Side-by-side examples: `rows` is a list of columns (each uint8 (N, C, H, W), e.g. input, output, target);
    the result is a uint8 (H', W', 3) grid with one example per row and the columns in the given order."""
    from ganeval.report.plots import grid_array

    cols = [c[:max_rows] for c in rows]
    k = min(len(c) for c in cols)
    rgb = [c[:k].expand(-1, 3, -1, -1) if c.shape[1] == 1 else c[:k] for c in cols]
    inter = torch.stack(rgb, dim=1).reshape(-1, *rgb[0].shape[1:])
    return grid_array(inter.numpy(), columns=len(cols), max_images=len(inter), pad=pad)


# -- translate-eval ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TranslateEvalConfig:
    """Settings of `ganeval translate-eval`.

    metrics:      distribution metrics of translated images against the real images of the target domain
                  ("fid", "kid"; empty to skip them, e.g. without feature-network weights).
    extractor, weights_path, protocol: the feature network and preprocessing (ganeval.config.EvalConfig).
    image_size:   resize both folders to this square side first (None: they must have the translator's size).
    dropout_seed: pix2pix test-time dropout noise from this seed (None: dropout off, deterministic).
    metric_seed:  seeds KID's subsets.
    """

    metrics: tuple[str, ...] = ("fid", "kid")
    extractor: str | None = None
    weights_path: str | None = None
    protocol: str | None = None
    image_size: int | None = None
    dropout_seed: int | None = None
    batch_size: int = 64
    device: str = "cpu"
    metric_seed: int = 0


@dataclass
class TranslationEvaluation:
    """The outcome: Result rows with provenance, and the side-by-side grids (uint8 (H, W, 3)) per direction."""

    run: Any  # RunResult
    grids: dict[str, np.ndarray]


def _check_shapes(loaded: LoadedTranslator, images: torch.Tensor, shape: tuple[int, int, int], where: str) -> None:
    got = tuple(int(v) for v in images.shape[2:])
    if got != tuple(shape[1:]):
        raise BadInputError(f"{where}: the images are {got[1]}x{got[0]} but {loaded.path} translates "
                            f"{shape[2]}x{shape[1]} images; pass --image-size {shape[1]}")


def _match_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """Folders are read as RGB; a one-channel translator gets the first channel (gray images have R = G = B)."""
    return images[:, :1] if channels == 1 else images


def translate_eval(checkpoint: str | Path, a_dir: str | Path, b_dir: str | Path,
                   config: TranslateEvalConfig | None = None, *, progress: Any = None) -> TranslationEvaluation:
    """Evaluate a translator on folders of domain A and domain B images (module docstring).

    For each direction the translator has (a2b; b2a for cyclegan): translate the source folder; FID/KID of
    the translations against the target folder's real images; when the folders pair up by file name, L1,
    PSNR, SSIM of each translation to its target and, as a reference, of the untranslated input to the target
    (rows *_input_*); for two-way translators the cycle-reconstruction L1 (cycle_l1_a: |F(G(a)) - a|).
    """
    from dataclasses import replace as dc_replace

    from ganeval.config import EvalConfig, MetricConfig
    from ganeval.datasets.pairs import read_pair_folders
    from ganeval.evaluate import evaluate
    from ganeval.progress import NO_PROGRESS
    from ganeval.provenance import collect_provenance
    from ganeval.results import Result, RunResult
    from ganeval.sources import TensorSource

    config = config or TranslateEvalConfig()
    progress = progress or NO_PROGRESS
    t0 = time.perf_counter()
    loaded = load_translator(checkpoint, device=config.device)
    spec = loaded.spec
    data = read_pair_folders(a_dir, b_dir, image_size=config.image_size)
    a = _match_channels(data.a, spec.input_shape[0])
    b = _match_channels(data.b, spec.output_shape[0])
    _check_shapes(loaded, a, spec.input_shape, str(a_dir))
    _check_shapes(loaded, b, spec.output_shape, str(b_dir))
    results: list[Result] = []
    grids: dict[str, np.ndarray] = {}
    outputs: dict[str, torch.Tensor] = {}
    metric_prov: dict[str, Any] = {}
    for direction in spec.directions:
        src, tgt = (a, b) if direction == "a2b" else (b, a)
        out = translate_images(loaded.module, src, direction, spec.value_range, config.batch_size,
                               config.dropout_seed, config.device)
        outputs[direction] = out
        n_src, n_tgt = len(src), len(tgt)
        if data.paired:
            for name, value in paired_metrics(out, tgt).items():
                results.append(Result(f"{name}_{direction}", value, n_real=n_tgt, n_fake=n_src,
                                      details={"against": "targets (pairs matched by file name)"}))
            for name, value in paired_metrics(src, tgt).items():
                results.append(Result(f"{name}_input_{direction}", value, n_real=n_tgt, n_fake=n_src,
                                      details={"against": "targets", "what": "the untranslated input: a reference"}))
            grids[direction] = triplet_grid([src, out, tgt])
        else:
            grids[direction] = triplet_grid([src, out])
        if config.metrics:
            ev = EvalConfig(metrics=tuple(config.metrics), extractor=config.extractor, protocol=config.protocol,
                            weights_path=config.weights_path, batch_size=config.batch_size, device=config.device,
                            use_cache=False, metric=MetricConfig(seed=config.metric_seed))
            real_label, fake_label = f"<real {'B' if direction == 'a2b' else 'A'}>", f"<translated {direction}>"
            run = evaluate(TensorSource(tgt, real_label), TensorSource(out, fake_label), ev, progress=progress)
            results += [dc_replace(r, metric=f"{r.metric}_{direction}") for r in run.results]
            metric_prov[direction] = {k: run.provenance.get(k) for k in ("extractor", "protocol", "seeds", "timings")}
    if "b2a" in spec.directions:
        rec_a = translate_images(loaded.module, outputs["a2b"], "b2a", spec.value_range, config.batch_size,
                                 config.dropout_seed, config.device)
        rec_b = translate_images(loaded.module, outputs["b2a"], "a2b", spec.value_range, config.batch_size,
                                 config.dropout_seed, config.device)
        results.append(Result("cycle_l1_a", images_to_l1(to_unit(rec_a), to_unit(a)), n_fake=len(a),
                               details={"what": "mean |F(G(a)) - a|, pixels in [0, 1]"}))
        results.append(Result("cycle_l1_b", images_to_l1(to_unit(rec_b), to_unit(b)), n_fake=len(b),
                               details={"what": "mean |G(F(b)) - b|, pixels in [0, 1]"}))
    any_metric = next(iter(metric_prov.values()), {})
    prov = collect_provenance(
        kind="translate-eval", translator=loaded.describe(), extractor=any_metric.get("extractor"),
        protocol=any_metric.get("protocol"), distribution_metrics=metric_prov,
        inputs={"a": {"path": str(a_dir), "n": len(a), "fingerprint": data.fingerprint},
                "b": {"path": str(b_dir), "n": len(b)},
                "paired": data.paired},
        seeds={"metric_seed": config.metric_seed, "dropout_seed": config.dropout_seed},
        config=config, timings={"total_s": round(time.perf_counter() - t0, 3)}, device=config.device,
    )
    return TranslationEvaluation(run=RunResult(results=results, provenance=prov), grids=grids)


def write_translation_report(evaluation: TranslationEvaluation, out_dir: str | Path) -> dict[str, Path]:
    """OUT/index.html (results, side-by-side grids, provenance), results.json, results.csv and one PNG grid per
    direction (OUT/grid_a2b.png: input | output | target per row)."""
    from ganeval.atomic import atomic_write_bytes
    from ganeval.report import write_report
    from ganeval.report.html import Section, figure_block
    from ganeval.report.plots import png_bytes

    out = Path(out_dir)
    pngs = {d: png_bytes(g) for d, g in evaluation.grids.items()}
    paired = bool((evaluation.run.provenance.get("inputs") or {}).get("paired"))
    intro = "Each row: input, translation, target." if paired else "Each row: input, translation."
    sections = [Section(f"Examples {d[0].upper()} -> {d[2].upper()}", (figure_block(png, alt=f"{d} examples"),),
                        intro=intro) for d, png in pngs.items()]
    ckpt = (evaluation.run.provenance.get("translator") or {}).get("checkpoint")
    paths = write_report(evaluation.run, out, sections=sections, title=f"ganeval translate-eval: {ckpt}")
    for d, png in pngs.items():
        paths[f"grid_{d}"] = out / f"grid_{d}.png"
        atomic_write_bytes(paths[f"grid_{d}"], png)
    return paths
