"""Train the fmnist-cnn feature network on Fashion-MNIST and write its weights file.

    python -m reference_models.fmnist_classifier --out ganeval/assets/fmnist_cnn.pt [--epochs 4 --seed 0]

The network (ganeval.extractors.fmnist_cnn.FashionCNN) sees exactly what the extractor sees at
evaluation time: uint8 28x28 images repeated to 3 channels and mapped to (x - 128) / 128, the "tf"
protocol's "signed" range. Training is seeded: the weight init and dropout draw from torch's RNG
seeded inside this function (the caller's RNG state is restored afterwards), and the data order and
the horizontal flips come from a torch.Generator made from the same seed. CPU only; 4 epochs took 7 minutes
on 2 cores (much longer when the cores are shared).

The file written is a plain dict (torch.load(weights_only=True) reads it):
    {"format": "ganeval-fmnist-cnn-1", "state_dict": ..., "config": {...}, "test_accuracy": float,
     "provenance": {torch version, seed, epochs, hyperparameters, dataset file sha256s, wall time}}
After retraining, put the printed sha256 into ganeval/extractors/fmnist_cnn.py (WEIGHTS_SHA256) and
ganeval/assets/SHA256SUMS, and the numbers into docs/extractors.md.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ganeval.atomic import atomic_write_bytes
from ganeval.datasets.fashion_mnist import find_files, load_fashion_mnist
from ganeval.errors import BadInputError, GanevalError
from ganeval.extractors.fmnist_cnn import FORMAT, FashionCNN
from ganeval.progress import ProgressReporter

__all__ = ["TrainConfig", "TrainReport", "to_signed_rgb", "train_fmnist_classifier", "main"]


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of the training run; the defaults produced the shipped weights.

    lr is the peak of a one-cycle schedule (AdamW); flip is the probability of a horizontal flip,
    a label-preserving augmentation for clothing.
    """

    epochs: int = 4
    seed: int = 0
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 5e-4
    flip: float = 0.5
    width: int = 32
    pool_dim: int = 128
    dropout: float = 0.3


@dataclass(frozen=True)
class TrainReport:
    """What a run produced: the file, its sha256, the test accuracy (fraction of 10,000), the time in s."""

    path: Path
    sha256: str
    test_accuracy: float
    wall_s: float


def to_signed_rgb(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 3, 28, 28) in [-1, 1): repeat to RGB, then (x - 128) / 128."""
    x = images.unsqueeze(1).expand(-1, 3, -1, -1).float()
    return (x - 128.0) / 128.0


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@torch.no_grad()
def evaluate_accuracy(net: FashionCNN, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> float:
    """Fraction of `images` (uint8 (N, 28, 28)) whose argmax logit equals `labels` (N,), in eval mode."""
    net.eval()
    correct = 0
    for start in range(0, len(images), batch_size):
        logits = net(to_signed_rgb(images[start:start + batch_size]))
        correct += int((logits.argmax(1) == labels[start:start + batch_size]).sum())
    return correct / len(images)


def train_fmnist_classifier(
    out: str | Path,
    config: TrainConfig = TrainConfig(),
    data_dir: str | Path | None = None,
    progress: ProgressReporter | None = None,
) -> TrainReport:
    """Train FashionCNN on the Fashion-MNIST training split, test it on the test split, write `out`.

    Deterministic for a given seed, torch version and thread count. Returns a TrainReport; the file is
    written atomically.
    """
    if config.epochs < 1 or config.batch_size < 1:
        raise BadInputError(f"epochs and batch size must be at least 1 (got {config.epochs}, {config.batch_size})")
    progress = progress or ProgressReporter(enabled=True)
    started = time.perf_counter()
    train_x, train_y = (torch.from_numpy(a) for a in load_fashion_mnist("train", data_dir))
    test_x, test_y = (torch.from_numpy(a) for a in load_fashion_mnist("test", data_dir))
    data_files = {p.name: _sha256_file(p) for split in ("train", "test") for p in find_files(split, data_dir)}

    gen = torch.Generator().manual_seed(config.seed)
    n = len(train_x)
    steps_per_epoch = (n + config.batch_size - 1) // config.batch_size
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        net = FashionCNN(width=config.width, pool_dim=config.pool_dim, dropout=config.dropout)
        optimizer = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=config.lr, epochs=config.epochs, steps_per_epoch=steps_per_epoch
        )
        with progress.session():
            for epoch in range(config.epochs):
                net.train()
                task = progress.task(f"epoch {epoch + 1}/{config.epochs}", total=steps_per_epoch)
                order = torch.randperm(n, generator=gen)
                for step in range(steps_per_epoch):
                    idx = order[step * config.batch_size:(step + 1) * config.batch_size]
                    images = train_x[idx]
                    flip = torch.rand(len(idx), generator=gen) < config.flip
                    images = torch.where(flip[:, None, None], images.flip(-1), images)
                    loss = F.cross_entropy(net(to_signed_rgb(images)), train_y[idx])
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    schedule.step()
                    progress.advance(task, 1, rate=f"loss {loss.item():.3f}")
                accuracy = evaluate_accuracy(net, test_x, test_y)
                progress.finish(task, note=f"test acc {accuracy:.4f}")
                elapsed = time.perf_counter() - started
                progress.log(f"epoch {epoch + 1}/{config.epochs}: loss {loss.item():.4f}, "
                             f"test accuracy {accuracy:.4f}, {elapsed:.0f} s")

    wall_s = time.perf_counter() - started
    checkpoint = {
        "format": FORMAT,
        "state_dict": {k: v.detach().clone() for k, v in net.state_dict().items()},
        "config": dict(net.config),
        "test_accuracy": float(accuracy),
        "provenance": {
            "torch": str(torch.__version__),
            "numpy": str(np.__version__),
            "python": platform.python_version(),
            "threads": torch.get_num_threads(),
            "seed": config.seed,
            "epochs": config.epochs,
            "batch_size": config.batch_size,
            "lr": config.lr,
            "weight_decay": config.weight_decay,
            "flip": config.flip,
            "optimizer": "AdamW + OneCycleLR",
            "dataset": "fashion-mnist",
            "dataset_sha256": data_files,
            "train_wall_s": round(wall_s, 1),
        },
    }
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    data = buffer.getvalue()
    out = Path(out)
    atomic_write_bytes(out, data)
    return TrainReport(path=out, sha256=hashlib.sha256(data).hexdigest(), test_accuracy=float(accuracy), wall_s=wall_s)


def main(argv: list[str] | None = None) -> int:
    """Command line: train, write --out, print the test accuracy and the file's sha256."""
    parser = argparse.ArgumentParser(
        prog="python -m reference_models.fmnist_classifier", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--out", required=True, help="where to write the weights file (.pt)")
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--seed", type=int, default=TrainConfig.seed)
    parser.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    parser.add_argument("--lr", type=float, default=TrainConfig.lr)
    parser.add_argument("--data-dir", default=None, help="folder with the Fashion-MNIST IDX files")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.batch_size < 1:
        parser.error("--epochs and --batch-size must be at least 1")
    config = TrainConfig(epochs=args.epochs, seed=args.seed, batch_size=args.batch_size, lr=args.lr)
    try:
        report = train_fmnist_classifier(args.out, config, data_dir=args.data_dir)
    except GanevalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"test accuracy {report.test_accuracy:.4f} (10,000 Fashion-MNIST test images)")
    print(f"trained in {report.wall_s:.0f} s")
    print(f"{report.sha256}  {report.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
