"""Preprocessing protocols: uint8 images -> the float input an extractor expects, one named recipe each.

    prepare(images_uint8, "tf", extractor.info) -> float32 (N, 3, *info.input_size)

A protocol is a resize (in pixel units, [0, 255]) plus a map of pixel values to [-1, 1]. The name
is recorded in every stats file and result, because FID moves by several points between protocols
on the same images: numbers computed under different protocols must never be mixed.

    tf           bilinear resize as TensorFlow 1.x (TTUR, torch-fidelity); (x - 128) / 128. Default.
    pytorch-fid  torch's bilinear resize (F.interpolate, align_corners=False); x / 255 * 2 - 1.
    clean        PIL bicubic resize on float pixels, per channel (clean-fid "clean"); (x - 128) / 128.

When the images already have the extractor's input size, no protocol resizes (all three peers are
the identity there too).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ganeval.errors import BadInputError
from ganeval.extractors.base import ExtractorInfo

__all__ = [
    "DEFAULT_PROTOCOL", "PROTOCOLS", "Protocol", "get_protocol", "prepare",
    "resize_tf_bilinear", "resize_torch_bilinear", "resize_pil_bicubic",
]

DEFAULT_PROTOCOL = "tf"

Resize = Callable[[torch.Tensor, tuple[int, int]], torch.Tensor]


@dataclass(frozen=True)
class Protocol:
    """A named preprocessing recipe.

    resize:    float32 (N, 3, H, W) pixel values in [0, 255] -> float32 (N, 3, h, w), size = (h, w).
    to_signed: float32 pixel values in [0, 255] -> [-1, 1], the convention of the network the
               protocol was designed for.
    """

    name: str
    description: str
    resize: Resize
    to_signed: Callable[[torch.Tensor], torch.Tensor]


def _tf_source_grid(in_size: int, out_size: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    # TF1's legacy (align_corners=False, half_pixel_centers=False) mapping: src = dst * in / out,
    # with the scale and the product in float32 as TF computes them, so the weights match bit for bit.
    scale = torch.tensor(in_size / out_size, dtype=torch.float32, device=device)
    src = torch.arange(out_size, dtype=torch.float32, device=device) * scale
    lo = src.long()  # src >= 0, so truncation is floor
    hi = (lo + 1).clamp_max(in_size - 1)
    frac = src - lo.float()
    return lo, hi, frac


def resize_tf_bilinear(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize exactly as TensorFlow 1.x `tf.image.resize_bilinear(align_corners=False)`.

    Reproduces torch-fidelity's `interpolate_bilinear_2d_like_tensorflow1x` (method "slow", which
    its authors verified bit-exact against TF on CPU) and hence the TTUR reference FID code: the
    source coordinate is dst * in / out with no half-pixel offset, so the image shifts by up to
    half a source pixel towards the top-left compared with torch's resize. Computed separably
    (rows first, then columns) with the same float32 operations in the same order as the peer.

    x: float32 (N, C, H, W); size: (h, w). Returns float32 (N, C, h, w).
    """
    x = x.float()
    out_h, out_w = size
    ylo, yhi, dy = _tf_source_grid(x.shape[2], out_h, x.device)
    xlo, xhi, dx = _tf_source_grid(x.shape[3], out_w, x.device)
    left = x.index_select(3, xlo)
    rows = left + (x.index_select(3, xhi) - left) * dx  # (N, C, H, w): interpolated along x
    top = rows.index_select(2, ylo)
    return top + (rows.index_select(2, yhi) - top) * dy[:, None]


def resize_torch_bilinear(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """torch's bilinear resize, `F.interpolate(mode="bilinear", align_corners=False)`, no antialiasing.

    What pytorch-fid's InceptionV3 does to its input (half-pixel centres; downsampling aliases).
    x: float32 (N, C, H, W); size: (h, w). Returns float32 (N, C, h, w).
    """
    return F.interpolate(x.float().contiguous(), size=tuple(size), mode="bilinear", align_corners=False)


def resize_pil_bicubic(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """clean-fid's "clean" resize: PIL bicubic on each float32 channel (mode "F"), clipped to [0, 255].

    Reproduces `cleanfid.resize.make_resizer("PIL", False, "bicubic", (w, h))`: no quantisation after
    the resize, and PIL widens the filter when downsampling (antialiasing).
    x: float32 (N, C, H, W) in [0, 255]; size: (h, w). Returns float32 (N, C, h, w) on x's device.
    """
    out_h, out_w = size
    planes = x.detach().float().cpu().numpy()
    out = np.empty((planes.shape[0], planes.shape[1], out_h, out_w), dtype=np.float32)
    for i in range(planes.shape[0]):
        for c in range(planes.shape[1]):
            plane = Image.fromarray(np.ascontiguousarray(planes[i, c]))  # float32 array -> mode "F"
            out[i, c] = np.asarray(plane.resize((out_w, out_h), resample=Image.Resampling.BICUBIC))
    return torch.from_numpy(np.clip(out, 0, 255)).to(x.device)


def _tf_to_signed(x: torch.Tensor) -> torch.Tensor:
    # The TF Inception graph's own input op: (x - 128) * 0.0078125, i.e. exactly (x - 128) / 128.
    return (x - 128) / 128


def _unit_to_signed(x: torch.Tensor) -> torch.Tensor:
    return x / 255 * 2 - 1


PROTOCOLS: dict[str, Protocol] = {
    "tf": Protocol(
        name="tf",
        description="TensorFlow 1.x bilinear resize, (x-128)/128: the TTUR / torch-fidelity FID (papers' numbers)",
        resize=resize_tf_bilinear,
        to_signed=_tf_to_signed,
    ),
    "pytorch-fid": Protocol(
        name="pytorch-fid",
        description="torch bilinear resize (align_corners=False), x/255*2-1: pytorch-fid's FID",
        resize=resize_torch_bilinear,
        to_signed=_unit_to_signed,
    ),
    "clean": Protocol(
        name="clean",
        description="PIL bicubic resize on float pixels (antialiased), (x-128)/128: clean-fid's 'clean' mode",
        resize=resize_pil_bicubic,
        to_signed=_tf_to_signed,
    ),
}


def get_protocol(name: str) -> Protocol:
    """The protocol called `name`; BadInputError listing the known names otherwise."""
    try:
        return PROTOCOLS[name]
    except (KeyError, TypeError):
        raise BadInputError(
            f"unknown preprocessing protocol {name!r}; choose one of: {', '.join(PROTOCOLS)}"
        ) from None


def prepare(images: torch.Tensor, protocol: str, info: ExtractorInfo) -> torch.Tensor:
    """Turn a uint8 batch into the extractor's input under the named protocol.

    images: uint8 (N, 3, H, W) RGB. Returns float32 (N, 3, *info.input_size), contiguous, on the
    images' device, in `info.value_range`:
      "signed": the protocol's own map of pixel values to [-1, 1];
      "unit":   resized pixels / 255, then (x - info.mean) / info.std per channel.
    The resize is skipped when (H, W) already equals info.input_size.
    """
    proto = get_protocol(protocol)
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4 \
            or images.shape[1] != 3:
        what = f"{images.dtype} {tuple(images.shape)}" if isinstance(images, torch.Tensor) else type(images).__name__
        raise BadInputError(f"preprocessing expects a uint8 (N, 3, H, W) image batch, got {what}")
    if info.value_range not in ("signed", "unit"):
        raise BadInputError(
            f"extractor {info.name!r} declares value range {info.value_range!r}; expected 'signed' or 'unit'"
        )
    size = (int(info.input_size[0]), int(info.input_size[1]))
    x = images.float()
    if tuple(x.shape[2:]) != size:
        if x.shape[0] == 0:
            x = x.new_zeros((0, 3, *size))
        else:
            x = proto.resize(x, size)
    if info.value_range == "signed":
        return proto.to_signed(x).contiguous()
    mean = torch.tensor(info.mean, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(info.std, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    return ((x / 255 - mean) / std).contiguous()
