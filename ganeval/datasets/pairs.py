"""Two-domain image data for translation models: paired and unpaired folders, and procedural synthfaces pairs.

    load_pairs("synthfaces-edges", split="train", image_size=32)   # line drawing -> face, paired
    load_pairs("synthfaces-glasses", split="train")                # no glasses <-> glasses, unpaired
    load_pairs("path/to/DIR")                                      # DIR/A and DIR/B (paired when names match)
    read_pair_folders("DIR/A", "DIR/B", require_pairs=True)        # what `ganeval translate-eval --a --b` reads

A `PairDataset` holds two uint8 (N, 3, H, W) RGB stacks `a` and `b`. When `paired`, a[i] and b[i] are
one example in its two domains (same file name, or the same procedural face); when not, the two stacks
are independent samples of each domain and may have different lengths.

Folder pairing: images are matched by their path relative to A/ (or B/) without the extension
(`A/x/0001.png` pairs with `B/x/0001.jpg`). A folder is paired when both sides hold exactly the same
names; `require_pairs=True` makes any unmatched name an error that names it.

Procedural pairs render synthfaces (ganeval.datasets.synthfaces.render_face) in memory, from the default
attribute model and nuisance streams seeded per split (train: seed 0, test: seed 1, so the two splits
never share a face):

* synthfaces-edges (paired): A is a line drawing of the face -- dark lines where the Sobel gradient of
  the rendered face's luminance is strong, on white -- and B the rendered face (pix2pix's edges -> photo).
* synthfaces-glasses: A is a face without glasses, B a face with glasses. The train split is unpaired
  (A from faces 0..N-1 with glasses off, B from faces N..2N-1 with glasses on, so no face appears in
  both domains); the test split is paired: the same face with glasses off and on, which the renderer
  makes exactly (flipping one attribute changes only its own region), so L1/PSNR/SSIM to a true target
  can be measured even for an unpaired model.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import torch

from ganeval.datasets import resize_images
from ganeval.errors import MSG_MISSING_PATH, BadInputError

DOMAIN_A, DOMAIN_B = "A", "B"
DEFAULT_N = {"train": 4000, "test": 500}
SPLIT_SEEDS = {"train": 0, "test": 1}
EDGE_LOW, EDGE_HIGH = 40.0, 120.0  # Sobel magnitude (0..255 luminance units) where a line starts / is solid
MSG_UNMATCHED = ("{folder}: {count} image(s) in {side}/ have no partner of the same name in {other}/, "
                 "the first: {first}")
MSG_NOT_PAIR_FOLDER = "{path} is not a two-domain folder: it needs subfolders A/ and B/ (or pass --a and --b)"
MSG_UNKNOWN = "unknown translation dataset {spec!r}: not one of {known}, nor a folder with A/ and B/"


@dataclass(frozen=True)
class PairDataset:
    """Images of two domains. a, b: uint8 (N, 3, H, W) and (M, 3, H', W'); paired means N == M and a[i] <-> b[i].

    names: one name per pair (paired) or per A image (unpaired); fingerprint: sha256 hex over both stacks.
    """

    name: str
    a: torch.Tensor
    b: torch.Tensor
    paired: bool
    names: tuple[str, ...]
    fingerprint: str
    domains: tuple[str, str] = ("A", "B")

    def __len__(self) -> int:
        return int(self.a.shape[0])


@dataclass(frozen=True)
class PairEntry:
    """A registered procedural two-domain dataset: loader(split=, n=, image_size=) -> PairDataset."""

    name: str
    loader: Callable[..., PairDataset]
    description: str
    paired_train: bool


_REGISTRY: dict[str, PairEntry] = {}


def register_pair_dataset(name: str, loader: Callable[..., PairDataset], description: str,
                          paired_train: bool) -> None:
    """Add (or replace) a two-domain dataset; `train-reference pix2pix|cyclegan --dataset NAME` takes it."""
    _REGISTRY[name] = PairEntry(name, loader, description, paired_train)


def available_pair_datasets() -> dict[str, PairEntry]:
    """The registered two-domain datasets by name."""
    return dict(_REGISTRY)


def pair_fingerprint(name: str, a: torch.Tensor, b: torch.Tensor, paired: bool) -> str:
    """sha256 hex over a tag, the name, pairing, shapes and the bytes of both uint8 stacks."""
    digest = hashlib.sha256(b"ganeval-pairs-1\n")
    digest.update(repr((name, paired, tuple(a.shape), tuple(b.shape))).encode())
    digest.update(a.contiguous().numpy().tobytes())
    digest.update(b"|")
    digest.update(b.contiguous().numpy().tobytes())
    return digest.hexdigest()


def _make(name: str, a: torch.Tensor, b: torch.Tensor, paired: bool, names: tuple[str, ...],
          domains: tuple[str, str]) -> PairDataset:
    a, b = a.contiguous(), b.contiguous()
    return PairDataset(name=name, a=a, b=b, paired=paired, names=names,
                       fingerprint=pair_fingerprint(name, a, b, paired), domains=domains)


def load_pairs(spec: str, *, split: str = "train", image_size: int | None = None, n: int | None = None,
               require_pairs: bool = False) -> PairDataset:
    """A registered procedural dataset by name (`n` images, default DEFAULT_N[split]), or a folder holding
    A/ and B/ (`n` keeps the first n of each side; folders have one split, all of their images).
    image_size: square side to resize to (bilinear, antialiased; procedural data is rendered at that size,
    default 32). BadInputError for unknown names, missing folders, unmatched names when pairs are required."""
    if n is not None and (isinstance(n, bool) or int(n) < 1):
        raise BadInputError(f"the number of images must be a positive integer, got {n!r}")
    if image_size is not None and (isinstance(image_size, bool) or int(image_size) < 1):
        raise BadInputError(f"--image-size must be a positive integer, got {image_size!r}")
    entry = _REGISTRY.get(spec)
    if entry is not None:
        if split not in SPLIT_SEEDS:
            raise BadInputError(f"{spec} has the splits {', '.join(SPLIT_SEEDS)}, not {split!r}")
        return entry.loader(split=split, n=n or DEFAULT_N[split], image_size=image_size or 32)
    path = Path(spec)
    if path.is_dir():
        if not (path / DOMAIN_A).is_dir() or not (path / DOMAIN_B).is_dir():
            raise BadInputError(MSG_NOT_PAIR_FOLDER.format(path=path))
        return read_pair_folders(path / DOMAIN_A, path / DOMAIN_B, image_size=image_size, limit=n,
                                 require_pairs=require_pairs, name=str(path))
    if path.exists():
        raise BadInputError(MSG_NOT_PAIR_FOLDER.format(path=path))
    raise BadInputError(MSG_UNKNOWN.format(spec=spec, known=", ".join(sorted(_REGISTRY)) or "none"))


# -- folders --------------------------------------------------------------------------------------


def _read_folder(path: Path, image_size: int | None) -> tuple[torch.Tensor, list[str]]:
    """uint8 RGB (N, 3, H, W) and relative names of every image of one domain folder (ganeval.sources rules)."""
    from ganeval.sources import open_source

    if not path.is_dir():
        raise BadInputError(MSG_MISSING_PATH.format(path=path))
    source = open_source(str(path), allow_mixed_sizes=image_size is not None)
    chunks, names = [], []
    for batch in source.batches(256):
        imgs = batch.images
        if image_size is not None:
            imgs = resize_images(imgs, int(image_size))
        chunks.append(imgs)
        names.extend(batch.names)
    return torch.cat(chunks), names


def _stem(name: str) -> str:
    p = PurePosixPath(name)
    return str(p.with_suffix("")) if p.suffix else str(p)


def match_names(names_a: list[str], names_b: list[str], folder: str,
                require_pairs: bool) -> list[tuple[int, int]] | None:
    """Index pairs (i in A, j in B) of images with the same name up to the extension, in A's order; None
    when the sides do not pair up exactly (unless `require_pairs`: then BadInputError naming the first
    unmatched image). Two images of one side with the same stem (a.png, a.jpg) are an error."""
    index: list[dict[str, int]] = []
    for side, names in ((DOMAIN_A, names_a), (DOMAIN_B, names_b)):
        stems: dict[str, int] = {}
        for i, name in enumerate(names):
            s = _stem(name)
            if s in stems:
                raise BadInputError(f"{folder}: {side}/{names[stems[s]]} and {side}/{name} have the same name; "
                                    "pairs are matched by name without the extension")
            stems[s] = i
        index.append(stems)
    only_a = [n for n in names_a if _stem(n) not in index[1]]
    only_b = [n for n in names_b if _stem(n) not in index[0]]
    if only_a or only_b:
        if not require_pairs:
            return None
        side, other, lone = (DOMAIN_A, DOMAIN_B, only_a) if only_a else (DOMAIN_B, DOMAIN_A, only_b)
        raise BadInputError(MSG_UNMATCHED.format(folder=folder, count=len(lone), side=side, other=other,
                                                 first=f"{side}/{lone[0]}"))
    return [(i, index[1][_stem(n)]) for i, n in enumerate(names_a)]


def read_pair_folders(a_dir: str | os.PathLike, b_dir: str | os.PathLike, *, image_size: int | None = None,
                      limit: int | None = None, require_pairs: bool = False, name: str | None = None) -> PairDataset:
    """Read two domain folders. Paired (a[i] <-> b[i], A's name order) when their names match exactly,
    else unpaired (both stacks in name order); `require_pairs` turns unmatched names into a BadInputError.
    limit keeps the first `limit` pairs (or images of each side)."""
    a_dir, b_dir = Path(a_dir), Path(b_dir)
    label = name or f"{a_dir} + {b_dir}"
    a, names_a = _read_folder(a_dir, image_size)
    b, names_b = _read_folder(b_dir, image_size)
    pairs = match_names(names_a, names_b, label, require_pairs)
    if pairs is not None:
        ia = torch.tensor([i for i, _ in pairs])
        ib = torch.tensor([j for _, j in pairs])
        a, b = a[ia], b[ib]
        if tuple(a.shape[1:]) != tuple(b.shape[1:]):
            raise BadInputError(f"{label}: A/ images are {a.shape[3]}x{a.shape[2]} but B/ images are "
                                f"{b.shape[3]}x{b.shape[2]}; pass --image-size to resize both")
    if limit is not None:
        a, b, names_a = a[:limit], b[:limit], names_a[:limit]
    return _make(label, a, b, pairs is not None, tuple(names_a), (str(a_dir), str(b_dir)))


def write_pair_folders(data: PairDataset, out: str | os.PathLike) -> Path:
    """Save a PairDataset as OUT/A/NNNNNN.png and OUT/B/NNNNNN.png (same names for paired data), atomically
    per file; OUT must not hold an A/ or B/ already. Returns OUT."""
    from ganeval.atomic import atomic_write_bytes
    from ganeval.report.plots import png_bytes

    out = Path(out)
    for side in (DOMAIN_A, DOMAIN_B):
        if (out / side).exists():
            raise BadInputError(f"{out / side} already exists; choose another folder")
    width = max(6, len(str(max(len(data.a), len(data.b)))))
    for side, stack in ((DOMAIN_A, data.a), (DOMAIN_B, data.b)):
        arr = stack.permute(0, 2, 3, 1).numpy()
        for i, img in enumerate(arr):
            atomic_write_bytes(out / side / f"{i:0{width}d}.png", png_bytes(img))
    return out


# -- procedural synthfaces pairs ----------------------------------------------------------------------


def edge_drawing(faces: np.ndarray) -> np.ndarray:
    """A line drawing of each face: uint8 (N, H, W, 3) RGB -> (N, H, W, 3) gray, 255 = paper, 0 = ink.

    Luminance Y = 0.299 R + 0.587 G + 0.114 B; Sobel gradient magnitude with edge-replicated borders;
    ink = clip((|grad| - EDGE_LOW) / (EDGE_HIGH - EDGE_LOW), 0, 1); pixel = round(255 * (1 - ink)).
    Smooth shading (background gradient, lighting) stays below EDGE_LOW; part boundaries exceed it.
    """
    y = faces.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    p = np.pad(y, ((0, 0), (1, 1), (1, 1)), mode="edge")
    gx = (p[:, :-2, 2:] + 2 * p[:, 1:-1, 2:] + p[:, 2:, 2:]) - (p[:, :-2, :-2] + 2 * p[:, 1:-1, :-2] + p[:, 2:, :-2])
    gy = (p[:, 2:, :-2] + 2 * p[:, 2:, 1:-1] + p[:, 2:, 2:]) - (p[:, :-2, :-2] + 2 * p[:, :-2, 1:-1] + p[:, :-2, 2:])
    mag = np.hypot(gx, gy) / 4.0  # / 4: the Sobel kernel's weight, so a unit step gives 1 per level
    ink = np.clip((mag - EDGE_LOW) / (EDGE_HIGH - EDGE_LOW), 0.0, 1.0)
    gray = np.rint(255.0 * (1.0 - ink)).astype(np.uint8)
    return np.repeat(gray[..., None], 3, axis=-1)


def _faces(n: int, seed: int, size: int, first: int = 0, glasses: int | None = None) -> np.ndarray:
    """Faces first..first+n-1 of the default synthfaces model with `seed`, uint8 (n, size, size, 3);
    `glasses` forces that attribute (0 or 1) while keeping every other attribute and all nuisance."""
    from ganeval.datasets.synthfaces import (
        ATTRIBUTES, Nuisance, build_attribute_model, render_face, sample_attributes, sample_nuisance,
    )

    values = sample_attributes(build_attribute_model(), first + n, seed)[first:]
    u = sample_nuisance(first + n, seed)[first:]
    if glasses is not None:
        values = values.copy()
        values[:, ATTRIBUTES.index("glasses")] = glasses
    out = np.empty((n, size, size, 3), dtype=np.uint8)
    for i in range(n):
        out[i] = render_face(values[i], Nuisance.from_uniforms(u[i]), size)
    return out


def _nchw(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def _check_size(image_size: int) -> int:
    from ganeval.datasets.synthfaces import MAX_SIZE, MIN_SIZE

    if not MIN_SIZE <= int(image_size) <= MAX_SIZE:
        raise BadInputError(f"synthfaces pairs are rendered at {MIN_SIZE}..{MAX_SIZE} pixels, got {image_size}")
    return int(image_size)


def load_synthfaces_edges(split: str = "train", n: int = 4000, image_size: int = 32, **_: Any) -> PairDataset:
    """Paired (edge drawing, face) examples: A = edge_drawing(face), B = face."""
    size = _check_size(image_size)
    faces = _faces(n, SPLIT_SEEDS[split], size)
    names = tuple(f"{i:06d}" for i in range(n))
    return _make(f"synthfaces-edges/{split}", _nchw(edge_drawing(faces)), _nchw(faces), True, names,
                 ("edges", "faces"))


def load_synthfaces_glasses(split: str = "train", n: int = 4000, image_size: int = 32, **_: Any) -> PairDataset:
    """Faces without (A) and with (B) glasses: unpaired for "train" (disjoint faces), paired for "test"."""
    size = _check_size(image_size)
    seed = SPLIT_SEEDS[split]
    names = tuple(f"{i:06d}" for i in range(n))
    if split == "train":
        a, b = _faces(n, seed, size, 0, glasses=0), _faces(n, seed, size, n, glasses=1)
        return _make(f"synthfaces-glasses/{split}", _nchw(a), _nchw(b), False, names, ("no-glasses", "glasses"))
    a, b = _faces(n, seed, size, 0, glasses=0), _faces(n, seed, size, 0, glasses=1)
    return _make(f"synthfaces-glasses/{split}", _nchw(a), _nchw(b), True, names, ("no-glasses", "glasses"))


register_pair_dataset("synthfaces-edges", load_synthfaces_edges,
                      "paired: synthfaces line drawings (Sobel edges) -> rendered faces (pix2pix)", paired_train=True)
register_pair_dataset("synthfaces-glasses", load_synthfaces_glasses,
                      "unpaired: synthfaces without glasses <-> with glasses (cyclegan); test split paired",
                      paired_train=False)


def main(argv: list[str] | None = None) -> int:
    """`python -m ganeval.datasets.pairs NAME --split test --n 500 --size 32 --out DIR`: write DIR/A, DIR/B."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m ganeval.datasets.pairs", description=main.__doc__)
    parser.add_argument("name", choices=sorted(_REGISTRY))
    parser.add_argument("--split", default="test", choices=sorted(SPLIT_SEEDS))
    parser.add_argument("--n", type=int, default=None)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    try:
        data = load_pairs(args.name, split=args.split, image_size=args.size, n=args.n)
        write_pair_folders(data, args.out)
    except BadInputError as exc:
        print(f"error: {exc}")
        return 2
    print(f"wrote {len(data.a)} + {len(data.b)} images ({'paired' if data.paired else 'unpaired'}) to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
