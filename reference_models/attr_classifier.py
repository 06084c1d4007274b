"""`attr-classifier`: a multi-label CNN for binary attributes, the classifier of the bias audit.

    ganeval train-reference attr-classifier --data DIR --out attr.pt [--size 32 --epochs 2 --seed 0]

    attribute folder (synthfaces, CelebA layout) -> images resized to size x size, attributes (N, K)
        -> seeded held-out split -> AttributeCNN trained with one sigmoid cross-entropy per attribute
        -> held-out accuracy per attribute -> attr.pt (TorchScript, names and input declarations embedded)
           + attr.json beside it (accuracies, positive rates, the held-out files, settings, data fingerprint,
             file sha256)

The network sees what the audit gives it (ganeval.bias.classifier): uint8 images resized by the datasets
registry's resize (bilinear, antialiased), mapped to [-1, 1] (declared as value_range "unit" with mean
and std 0.5). Three 3x3 convolution blocks (BatchNorm, ReLU; max-pooling after the first two), global
max pooling (a channel reports whether its pattern -- a brim, a lens, teeth -- occurs anywhere, wherever
the face sits) and a linear layer with one logit per attribute; Adam, random horizontal flips (every
synthfaces attribute is mirror-symmetric). Global average pooling instead dilutes small parts such as the
mouth: with it the same run reached only 60% on smiling, against 99.8% with max pooling.

Deterministic for a seed, data and thread count: the init, the split, the data order and the flips each
come from a torch.Generator derived from the seed; nothing reads a global RNG.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganeval.atomic import atomic_write_text
from ganeval.errors import BadInputError
from ganeval.progress import NO_PROGRESS, ProgressReporter
from reference_models.nets import built_quietly, init_default_

__all__ = ["AttrClassifierConfig", "AttrTrainReport", "AttributeCNN", "train_attr_classifier"]

NAME = "attr-classifier"
JSON_FORMAT = "ganeval-attr-classifier-training-1"
MEAN = STD = (0.5, 0.5, 0.5)  # pixels / 255 -> [-1, 1]


@dataclass(frozen=True)
class AttrClassifierConfig:
    """Settings of one training run.

    size:     square input side (images are resized to it; the classifier declares it).
    epochs:   passes over the training part (fractions allowed); batch_size, lr (Adam), width: channels
              of the first block (the others have 2x).
    holdout:  fraction of the images held out (seeded) for the per-attribute accuracy.
    flip:     probability of a horizontal flip of a training image.
    limit:    use only the first `limit` images of the folder (quick runs, tests).
    """

    size: int = 32
    epochs: float = 2.0
    seed: int = 0
    batch_size: int = 64
    lr: float = 2e-3
    width: int = 32
    holdout: float = 0.1
    flip: float = 0.5
    limit: int | None = None

    def check(self) -> None:
        """One-line BadInputError for impossible settings."""
        for name in ("size", "batch_size", "width"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise BadInputError(f"--{name.replace('_', '-')} must be a positive integer, got {v!r}")
        if self.size < 8:
            raise BadInputError(f"--size must be at least 8 pixels, got {self.size}")
        if not (math.isfinite(self.epochs) and self.epochs > 0):
            raise BadInputError(f"--epochs must be a positive number, got {self.epochs}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise BadInputError(f"the learning rate must be positive, got {self.lr}")
        if not 0 < self.holdout < 1:
            raise BadInputError(f"the held-out fraction must lie between 0 and 1, got {self.holdout}")
        if not 0 <= self.flip <= 1:
            raise BadInputError(f"the flip probability must lie in [0, 1], got {self.flip}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise BadInputError(f"--seed must be a non-negative integer, got {self.seed!r}")


class AttributeCNN(nn.Module):
    """float (N, 3, S, S) in [-1, 1] -> (N, K) logits. 3 conv blocks (BN, ReLU), global max pool, linear."""

    def __init__(self, n_attributes: int, width: int = 32) -> None:
        super().__init__()

        def block(c_in: int, c_out: int) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]

        self.features = nn.Sequential(*block(3, width), nn.MaxPool2d(2), *block(width, 2 * width), nn.MaxPool2d(2),
                                      *block(2 * width, 2 * width), nn.AdaptiveMaxPool2d(1), nn.Flatten())
        self.head = nn.Linear(2 * width, n_attributes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@dataclass(frozen=True)
class AttrTrainReport:
    """What a run wrote and measured: the classifier file and its JSON, per-attribute held-out accuracy
    and positive rate, the sizes of the two parts, the file's sha256 and the wall time in seconds."""

    path: Path
    json_path: Path
    attributes: tuple[str, ...]
    accuracy: dict[str, float]
    positive_rate: dict[str, float]
    n_train: int
    n_holdout: int
    sha256: str
    wall_s: float


def _seed(seed: int, stream: str) -> int:
    digest = hashlib.sha256(f"ganeval-attr-classifier:{seed}:{stream}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & (2**63 - 1)


def _to_input(images: torch.Tensor) -> torch.Tensor:
    return (images.float() / 255.0 - MEAN[0]) / STD[0]


@torch.no_grad()
def _held_out_accuracy(net: nn.Module, images: torch.Tensor, targets: torch.Tensor,
                       batch_size: int = 512) -> torch.Tensor:
    net.eval()
    correct = torch.zeros(targets.shape[1], dtype=torch.float64)
    for start in range(0, len(images), batch_size):
        pred = net(_to_input(images[start:start + batch_size])) > 0
        correct += (pred == targets[start:start + batch_size].bool()).sum(dim=0).double()
    return correct / len(images)


def json_path_for(out: str | Path) -> Path:
    """Where the training record goes: beside the classifier, same name, .json."""
    return Path(out).with_suffix(".json")


def train_attr_classifier(data: str | Path, out: str | Path, config: AttrClassifierConfig = AttrClassifierConfig(),
                          progress: ProgressReporter = NO_PROGRESS) -> AttrTrainReport:
    """Train an AttributeCNN on the attribute folder `data` and write `out` (TorchScript) and its .json.

    Raises BadInputError for bad settings, an unreadable folder or table, an output path ending in .json,
    or a folder too small to hold out at least one image and train on another.
    """
    from ganeval.bias.classifier import save_attribute_classifier
    from ganeval.datasets.synthfaces import load_synthfaces_folder

    config.check()
    out = Path(out)
    if out.suffix.lower() == ".json":
        raise BadInputError(f"--out {out}: the classifier cannot be a .json file (its record is written beside it)")
    if out.is_dir():
        raise BadInputError(f"--out {out} is a folder; give the classifier's file name, e.g. {out / 'attr.pt'}")
    started = time.perf_counter()
    folder = load_synthfaces_folder(data, image_size=config.size, limit=config.limit, progress=progress)
    names = folder.attribute_names
    images = folder.images
    targets = torch.from_numpy(folder.attributes.astype("float32"))
    n = len(images)
    n_hold = max(1, round(config.holdout * n))
    if n - n_hold < 1:
        raise BadInputError(f"{data} holds {n} image(s): too few to hold out {n_hold} and train on the rest")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(_seed(config.seed, "split")))
    hold, train = order[:n_hold], order[n_hold:]
    x_train, y_train = images[train], targets[train]

    init = torch.Generator().manual_seed(_seed(config.seed, "init"))
    net = init_default_(built_quietly(lambda: AttributeCNN(len(names), config.width)), init)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
    data_order = torch.Generator().manual_seed(_seed(config.seed, "data"))
    per_epoch = math.ceil(len(train) / config.batch_size)
    total = max(1, math.ceil(config.epochs * per_epoch))
    task = progress.task("training attr-classifier", total=total)
    step, loss_value = 0, float("nan")
    net.train()
    while step < total:
        perm = torch.randperm(len(train), generator=data_order)
        flips = torch.rand(len(train), generator=data_order) < config.flip
        for start in range(0, len(train), config.batch_size):
            if step >= total:
                break
            idx = perm[start:start + config.batch_size]
            batch = x_train[idx]
            batch = torch.where(flips[idx][:, None, None, None], batch.flip(-1), batch)
            loss = F.binary_cross_entropy_with_logits(net(_to_input(batch)), y_train[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_value = float(loss.detach())
            step += 1
            progress.advance(task, 1, rate=f"loss {loss_value:.3f}")
    accuracy = _held_out_accuracy(net, images[hold], targets[hold])
    positive = targets[hold].double().mean(dim=0)
    wall_s = time.perf_counter() - started
    description = (f"ganeval attr-classifier: {len(names)} attributes at {config.size}px, trained on {len(train)} "
                   f"images of {data}")
    save_attribute_classifier(net, out, names, input_size=config.size, value_range="unit", mean=MEAN, std=STD,
                              description=description)
    sha256 = hashlib.sha256(out.read_bytes()).hexdigest()
    acc = {name: float(a) for name, a in zip(names, accuracy)}
    pos = {name: float(p) for name, p in zip(names, positive)}
    record: dict[str, Any] = {
        "format": JSON_FORMAT, "classifier": str(out), "classifier_sha256": sha256, "attributes": list(names),
        "held_out_accuracy": acc, "held_out_positive_rate": pos, "n_train": len(train), "n_holdout": n_hold,
        "held_out_files": [folder.files[i] for i in hold.tolist()],
        "final_loss": loss_value, "steps": total, "settings": asdict(config), "data": str(data),
        "data_fingerprint": folder.fingerprint, "threads": torch.get_num_threads(),
        "torch": str(torch.__version__), "wall_s": round(wall_s, 2),
    }
    json_path = json_path_for(out)
    atomic_write_text(json_path, json.dumps(record, indent=2) + "\n")
    return AttrTrainReport(path=out, json_path=json_path, attributes=names, accuracy=acc, positive_rate=pos,
                           n_train=len(train), n_holdout=n_hold, sha256=sha256, wall_s=wall_s)


# -- `ganeval train-reference attr-classifier` -------------------------------------------------------------

CLI_OPTIONS = ("data", "image_size", "epochs", "batch_size", "width", "seed", "limit", "threads", "out", "quiet")
_CONFIG_FIELDS = {"image_size": "size", "epochs": "epochs", "batch_size": "batch_size", "width": "width",
                  "seed": "seed", "limit": "limit"}
DEFAULT_OUT = Path("runs") / NAME / "attr.pt"


def run_from_cli(settings: dict[str, Any], progress: ProgressReporter) -> str:
    """Train with the command's options {name: value or None}; returns the summary the command prints."""
    data = settings.get("data")
    if data is None:
        raise BadInputError("attr-classifier needs --data DIR: a folder with an attribute table (attributes.csv or "
                            "list_attr_celeba.txt), e.g. one written by `ganeval data synthfaces`")
    values = {field: settings[option] for option, field in _CONFIG_FIELDS.items() if settings.get(option) is not None}
    if "epochs" in values:
        values["epochs"] = float(values["epochs"])
    config = AttrClassifierConfig(**values)
    out = Path(settings.get("out") or DEFAULT_OUT)
    with progress.session():
        report = train_attr_classifier(data, out, config, progress=progress)
    accuracy = ", ".join(f"{name} {report.accuracy[name]:.4f}" for name in report.attributes)
    return (f"attr-classifier: held-out accuracy ({report.n_holdout} images; trained on {report.n_train}) -- "
            f"{accuracy}\nwrote {report.path} (sha256 {report.sha256[:16]}...) and {report.json_path} "
            f"in {report.wall_s:.0f} s")


def _register() -> None:
    from reference_models.registry import OtherTrainerSpec, register_other_trainer

    register_other_trainer(OtherTrainerSpec(
        name=NAME,
        description="multi-label CNN on an attribute-labelled folder (synthfaces, CelebA layout) for `ganeval bias`; "
                    "--data DIR --out attr.pt [--size 32 --epochs 2]",
        options=CLI_OPTIONS, run=run_from_cli))


_register()
