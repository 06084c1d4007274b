"""Shared fixtures: an isolated cache/weights environment and a tiny plugin extractor.

The tiny extractor registers through the same public call a user's plugin uses; it is a fixed,
seeded network, so tests of the pipeline (batching, caching, CLI) run in milliseconds.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ganeval.extractors import Extractor, ExtractorEntry, ExtractorInfo, register_extractor


class TinyExtractor(Extractor):
    """conv -> relu -> global pool (16-d "pool") -> linear (5 "logits"); weights from seed 0."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 16, 3, padding=1)
        self.fc = torch.nn.Linear(16, 5)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
        self.info = ExtractorInfo(name="test-tiny", weights_sha256="seed0", input_size=(16, 16),
                                  features={"pool": 16, "logits": 5}, value_range="signed")

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        pool = torch.relu(self.conv(x)).mean(dim=(2, 3))
        return {"pool": pool, "logits": self.fc(pool)}


register_extractor(ExtractorEntry(name="test-tiny", description="tiny seeded test network",
                                  build=lambda options, arg: TinyExtractor(), offline=True))


@pytest.fixture(scope="module")
def one_thread():
    """torch on one thread for a module's tests: the reference networks are tiny, and on a busy 2-core machine
    a second thread waiting for a core can make each op many times slower. Determinism and resume hold for
    any fixed thread count. Use with `pytestmark = pytest.mark.usefixtures("one_thread")`."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory, monkeypatch):
    """Every test gets its own cache dir and default report folder, and no weights dirs or network downloads
    (so no test writes into the checkout's reports/)."""
    root = tmp_path_factory.mktemp("env")
    monkeypatch.setenv("GANEVAL_CACHE_DIR", str(root / "cache"))
    monkeypatch.setenv("GANEVAL_REPORTS_DIR", str(root / "reports"))
    monkeypatch.setenv("GANEVAL_WEIGHTS_DIR", str(root / "weights"))
    monkeypatch.setenv("TORCH_HOME", str(root / "torch"))
    monkeypatch.setenv("GANEVAL_OFFLINE", "1")
    return root


def write_pngs(folder, images: np.ndarray, start: int = 0):
    """Write uint8 (N, H, W[, 3]) images as PNG files img_00000.png ... into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, im in enumerate(images):
        Image.fromarray(im).save(folder / f"img_{start + i:05d}.png")
    return folder


@pytest.fixture
def image_sets(tmp_path):
    """Two seeded folders of 40 RGB 20x20 images; the second is brighter (a planted shift)."""
    rng = np.random.default_rng(0)
    a = rng.integers(0, 200, size=(40, 20, 20, 3), dtype=np.uint8)
    b = np.clip(rng.integers(0, 200, size=(40, 20, 20, 3)) + 40, 0, 255).astype(np.uint8)
    return write_pngs(tmp_path / "a", a), write_pngs(tmp_path / "b", b), a, b
