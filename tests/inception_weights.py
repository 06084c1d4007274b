"""Deterministic stand-in weights for the FID Inception (the real file cannot be downloaded here).

The state dict is built on pytorch-fid's own module layout (torchvision's Inception3 with pytorch-fid's
FID-patched blocks), not on ganeval's, so its key names and shapes are an independent check of the
port. Weights are random but well-conditioned: He-scaled convolutions, BatchNorm running statistics
calibrated on seeded images (one train-mode pass with cumulative averaging sets them to that batch's
statistics), so activations stay O(1) through all 94 layers and features differ between images.
BatchNorm shifts are positive (most ReLUs pass), which keeps the random network out of the chaotic
regime that zero-shift random BN networks fall into: there, float32 rounding alone grows to ~3e-5
relative in the features (the same between any two correct float32 implementations), which would
leave the 1e-4 parity tolerance little margin; here it stays ~1e-6, like a trained network.

Usage from a test module (tests/conftest.py is not ours, so each test file declares its fixture):

    from inception_weights import inception_state_dict, save_inception_weights

    @pytest.fixture(scope="module")
    def weights_file(tmp_path_factory):
        return save_inception_weights(tmp_path_factory.mktemp("inception"))
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import torch
import torch.nn.functional as F

SEED = 20151205
CALIBRATION_IMAGES = 2
FILE_NAME = "pt_inception-2015-12-05-test.pth"


def pytorch_fid_layout() -> torch.nn.Module:
    """pytorch-fid's FID Inception module tree, built without loading any weights."""
    from pytorch_fid import inception as pf

    net = pf._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    net.Mixed_5b = pf.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = pf.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = pf.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = pf.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = pf.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = pf.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = pf.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = pf.FIDInceptionE_1(1280)
    net.Mixed_7c = pf.FIDInceptionE_2(2048)
    return net


def _trunk(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    x = net.Conv2d_2b_3x3(net.Conv2d_2a_3x3(net.Conv2d_1a_3x3(x)))
    x = F.max_pool2d(x, kernel_size=3, stride=2)
    x = net.Conv2d_4a_3x3(net.Conv2d_3b_1x1(x))
    x = F.max_pool2d(x, kernel_size=3, stride=2)
    for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c",
                 "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"):
        x = getattr(net, name)(x)
    return x


def smooth_images(n: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """Seeded natural-looking test images: uint8 (n, 3, size, size), low-frequency colour + fine noise."""
    coarse = torch.rand(n, 3, 6, 6, generator=generator)
    base = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)
    noise = torch.rand(n, 3, size, size, generator=generator) - 0.5
    return (base * 230 + noise * 50 + 12).round().clamp(0, 255).to(torch.uint8)


@functools.lru_cache(maxsize=2)
def _cached_state_dict(seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    with torch.device("meta"):  # skip torch's default initialisation; every tensor is set below
        net = pytorch_fid_layout()
    net = net.to_empty(device="cpu")
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.Conv2d):
                fan_in = module.weight[0].numel()
                module.weight.copy_(torch.randn(module.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
            elif isinstance(module, torch.nn.BatchNorm2d):
                module.weight.copy_(0.5 + 0.5 * torch.rand(module.weight.shape, generator=g))
                module.bias.copy_(0.5 + 0.2 * torch.randn(module.bias.shape, generator=g))
                module.momentum = None  # cumulative average: one batch sets the running stats
                module.reset_running_stats()
            elif isinstance(module, torch.nn.Linear):
                module.weight.copy_(torch.randn(module.weight.shape, generator=g) / module.in_features ** 0.5)
                module.bias.copy_(torch.randn(module.bias.shape, generator=g))
        images = smooth_images(CALIBRATION_IMAGES, 299, g).float() / 127.5 - 1
        net.train()
        _trunk(net, images)
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def inception_state_dict(seed: int = SEED) -> dict[str, torch.Tensor]:
    """A fresh copy of the seeded stand-in state dict (pytorch-fid key names, incl. num_batches_tracked)."""
    return {k: v.clone() for k, v in _cached_state_dict(seed).items()}


def save_inception_weights(directory: Path, seed: int = SEED) -> Path:
    """Write the stand-in weights as a .pth (a plain dict, like the published files); return its path."""
    path = Path(directory) / FILE_NAME
    torch.save(inception_state_dict(seed), path)
    return path


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
