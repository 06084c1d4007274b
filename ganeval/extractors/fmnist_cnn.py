"""fmnist-cnn: an offline, in-domain feature network for Fashion-MNIST-like 28x28 grayscale images.

The Inception network behind FID was trained on ImageNet photographs; on 28x28 clothing sketches its
features say little, and its weights may not even be on disk. This small CNN is trained by the project
itself on Fashion-MNIST (reference_models/fmnist_classifier.py, ~92% test accuracy) and shipped inside
the package, so it works with no download. Using a domain classifier's penultimate layer for a
Frechet distance is established practice on MNIST-like data ("Frechet LeNet Distance"). Its numbers
are comparable only with other fmnist-cnn numbers, never with Inception FIDs from papers.

Outputs: "pool" (N, 128), the penultimate layer (after its ReLU), and "logits" (N, 10), the class
scores, so the Inception Score has an in-domain analogue.

Input convention (the "signed" value range of the "tf" protocol): float32 (N, 3, 28, 28) holding
(x - 128) / 128 of uint8 pixels; the network averages the three channels, which is exact for
grayscale images repeated to RGB. The trainer feeds exactly this convention.

The shipped weights are verified against WEIGHTS_SHA256 before use; a mismatch is refused (exit 3).
"""

from __future__ import annotations

import hashlib
import importlib.resources
import io
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganeval.errors import MSG_WEIGHTS_HASH, BadInputError, MissingWeightsError
from ganeval.extractors import ExtractorEntry, register_extractor
from ganeval.extractors.base import Extractor, ExtractorInfo, ExtractorOptions

__all__ = [
    "FORMAT", "INPUT_SIZE", "NAME", "WEIGHTS_FILE", "WEIGHTS_SHA256",
    "FashionCNN", "FashionCNNExtractor", "build_fmnist_cnn", "load_checkpoint", "shipped_weights_path",
]

NAME = "fmnist-cnn"
FORMAT = "ganeval-fmnist-cnn-1"
INPUT_SIZE = (28, 28)
WEIGHTS_FILE = "fmnist_cnn.pt"
# sha256 of ganeval/assets/fmnist_cnn.pt as written by
# `python -m reference_models.fmnist_classifier --out ganeval/assets/fmnist_cnn.pt` (docs/extractors.md).
WEIGHTS_SHA256 = "5ef1c2982d55244ed582c90ff2a1355d3c7472573a46a6810d0bb7a1313a8317"

MSG_SHIPPED_MISSING = (
    "the shipped {name} weights are missing ({path}); reinstall ganeval, or rebuild them with "
    "`python -m reference_models.fmnist_classifier --out {path}`"
)
MSG_BAD_CHECKPOINT = "{path} is not a {name} weights file: {reason}"


class FashionCNN(nn.Module):
    """The fmnist-cnn architecture: three conv blocks, a 128-d embedding, a 10-way classifier.

    (N, 3, 28, 28) -> channel mean (N, 1, 28, 28)
      -> [conv3x3(w) BN ReLU maxpool2] 28->14 -> [conv3x3(2w) ...] 14->7 -> [conv3x3(4w) ...] 7->3
      -> flatten (N, 36w) -> linear + ReLU = "pool" (N, pool_dim) -> dropout -> linear = "logits" (N, classes)

    With the default width 32 it has 242k parameters (~1 MB in float32). The trainer and the
    extractor share this one definition.
    """

    def __init__(self, width: int = 32, pool_dim: int = 128, num_classes: int = 10, dropout: float = 0.3) -> None:
        super().__init__()
        self.config = {"width": width, "pool_dim": pool_dim, "num_classes": num_classes, "dropout": dropout}
        channels = (1, width, 2 * width, 4 * width)
        blocks: list[nn.Module] = []
        for c_in, c_out in zip(channels[:-1], channels[1:]):
            blocks += [
                nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
        self.features = nn.Sequential(*blocks)
        self.embed = nn.Linear(channels[-1] * 3 * 3, pool_dim)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(pool_dim, num_classes)

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 3, 28, 28) signed input -> (pool (N, pool_dim), logits (N, num_classes))."""
        gray = x.mean(dim=1, keepdim=True)
        h = self.features(gray).flatten(1)
        pool = torch.relu(self.embed(h))
        logits = self.classifier(self.dropout(pool))
        return pool, logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (N, num_classes), the trainer's view of the network."""
        return self.forward_features(x)[1]


class FashionCNNExtractor(Extractor):
    """The fmnist-cnn extractor: returns {"pool": (N, 128), "logits": (N, 10)} float32."""

    def __init__(self, net: FashionCNN, weights_sha256: str) -> None:
        super().__init__()
        self.net = net
        self.info = ExtractorInfo(
            name=NAME,
            weights_sha256=weights_sha256,
            input_size=INPUT_SIZE,
            features={"pool": net.config["pool_dim"], "logits": net.config["num_classes"]},
            value_range="signed",
            description="Fashion-MNIST CNN trained by ganeval (offline, in-domain; not comparable with Inception FIDs)",
        )

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if x.ndim != 4 or x.shape[1] != 3 or tuple(x.shape[2:]) != INPUT_SIZE:
            raise BadInputError(
                f"{NAME} expects a float batch (N, 3, {INPUT_SIZE[0]}, {INPUT_SIZE[1]}), got {tuple(x.shape)}"
            )
        pool, logits = self.net.forward_features(x.float())
        return {"pool": pool, "logits": logits}


def shipped_weights_path() -> Path:
    """Where the packaged weights file lives (inside the installed package, via importlib.resources)."""
    return Path(str(importlib.resources.files("ganeval").joinpath("assets", WEIGHTS_FILE)))


def _read_shipped() -> tuple[bytes, str]:
    resource = importlib.resources.files("ganeval").joinpath("assets", WEIGHTS_FILE)
    try:
        return resource.read_bytes(), str(resource)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise MissingWeightsError(MSG_SHIPPED_MISSING.format(name=NAME, path=resource)) from None


def _read_explicit(path: str | Path) -> tuple[bytes, str]:
    path = Path(path).expanduser()
    try:
        return path.read_bytes(), str(path)
    except FileNotFoundError:
        raise MissingWeightsError(f"no such {NAME} weights file: {path}") from None
    except OSError as exc:
        raise MissingWeightsError(f"cannot read {NAME} weights file {path}: {exc.strerror or exc}") from None


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def load_checkpoint(data: bytes, where: str) -> tuple[FashionCNN, dict[str, Any]]:
    """Build the network from the bytes of a checkpoint the trainer wrote (no hash check here).

    Reads with torch.load(weights_only=True), so no pickled code runs. Returns (net in eval mode,
    the checkpoint dict). A file of the wrong shape raises MissingWeightsError naming `where`.
    """
    try:
        ckpt = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a corrupt or foreign file
        raise MissingWeightsError(MSG_BAD_CHECKPOINT.format(path=where, name=NAME, reason=_first_line(exc))) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise MissingWeightsError(MSG_BAD_CHECKPOINT.format(path=where, name=NAME, reason=f"format is not {FORMAT!r}"))
    config = ckpt.get("config") or {}
    try:
        net = FashionCNN(**config)
        net.load_state_dict(ckpt["state_dict"], strict=True)
    except (TypeError, KeyError, RuntimeError) as exc:
        raise MissingWeightsError(MSG_BAD_CHECKPOINT.format(path=where, name=NAME, reason=_first_line(exc))) from None
    return net.eval(), ckpt


def build_fmnist_cnn(options: ExtractorOptions | None = None, argument: str | None = None) -> FashionCNNExtractor:
    """Load and verify the fmnist-cnn weights and return the extractor (eval mode, CPU).

    The shipped file is used unless `options.weights_path` names another copy; either way its sha256
    must equal WEIGHTS_SHA256, else MissingWeightsError (exit 3) names the file.
    """
    options = options or ExtractorOptions()
    if options.weights_path:
        data, where = _read_explicit(options.weights_path)
    else:
        data, where = _read_shipped()
    actual = hashlib.sha256(data).hexdigest()
    if actual != WEIGHTS_SHA256:
        raise MissingWeightsError(
            MSG_WEIGHTS_HASH.format(path=where, name=NAME, actual=actual, expected=WEIGHTS_SHA256)
        )
    net, _ = load_checkpoint(data, where)
    return FashionCNNExtractor(net, weights_sha256=actual).eval()


register_extractor(ExtractorEntry(
    name=NAME,
    description="Fashion-MNIST CNN shipped with ganeval: 128-d pool + 10 logits at 28x28; offline, in-domain",
    build=build_fmnist_cnn,
    offline=True,
    weights=None,
))
