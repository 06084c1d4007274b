"""What a feature extractor declares and how it is called (DESIGN.md, Contracts).

An extractor takes a float32 (N, 3, H, W) batch that the named preprocessing protocol produced from
uint8 images at the extractor's `input_size`, in the value range the extractor declares, and returns
a dict of (N, k) float32 tensors: "pool" (the features FID/KID/PR/DC use) and optionally "logits"
(for the Inception Score).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass(frozen=True)
class ExtractorInfo:
    """Declared facts about an extractor, recorded in every result.

    value_range: "signed" -- the protocol maps pixels to [-1, 1] with its own convention
                 (the FID Inception graph's (x - 128) / 128 for "tf"); "unit" -- pixels / 255 in [0, 1],
                 then (x - mean) / std per channel with the declared `mean` and `std`.
    features:    the outputs and their widths, e.g. {"pool": 2048, "logits": 1008}.
    """

    name: str
    weights_sha256: str  # full or prefix sha256 of the weights file, or "none"
    input_size: tuple[int, int]
    features: dict[str, int]
    value_range: str = "signed"
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    description: str = ""
    extra: dict[str, str] = field(default_factory=dict)


class Extractor(torch.nn.Module):
    """Base class: subclasses set `self.info` and implement `forward(x) -> {"pool": ..., ...}`."""

    info: ExtractorInfo

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass(frozen=True)
class ExtractorOptions:
    """Everything that selects how an extractor is built; one home for these defaults.

    weights_path:   an explicit weights file (`--weights PATH`), verified like any other.
    allow_download: fetch missing weights from the canonical URL when a network exists.
    input_size, mean, std, value_range: declarations for user-supplied networks
                    (torchscript:PATH, export:PATH) when the file does not embed them.
    """

    weights_path: str | None = None
    allow_download: bool = True
    device: str = "cpu"
    input_size: tuple[int, int] | None = None
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    value_range: str | None = None
