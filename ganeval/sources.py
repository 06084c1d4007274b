"""Inputs: image folders, zip/tar archives and .npy/.npz arrays, as uint8 RGB (B, 3, H, W) batches.

One line: path -> open_source (scan and validate everything up front) -> ImageSource.batches
(decode ahead in background threads) -> ImageBatch(uint8 (B, 3, H, W) tensor, names).

What is read
  * Folders, recursively: files whose extension is one of IMAGE_EXTENSIONS, in any case. Files and
    folders whose name starts with "." are ignored; folder symlinks are followed once each. Order:
    sorted relative posix paths ("a/x.png" < "b.png").
  * Archives: .zip, .tar, .tar.gz/.tgz (also .tar.bz2/.tbz2, .tar.xz/.txz). Regular member files
    with an image extension, sorted by name, read in memory and never extracted. Member names are
    labels only (a leading "/" or "./" is dropped; nothing is written anywhere, so "../" is harmless);
    members with a hidden component (macOS "__MACOSX/._x.png") are ignored. An archive gives the same
    names, pixels, order and fingerprint as the folder it was made from. A compressed tar is read as
    a stream: members stored out of name order are held (encoded) in memory until their turn.
  * Arrays: .npy (memory-mapped, never loaded whole) and .npz (the chosen member is streamed batch
    by batch; a Fortran-ordered member is the one case loaded whole). dtype uint8, or uint16 (scaled
    as below); floats and other dtypes are refused with a hint to convert to uint8. Shapes:
    (N, H, W) grayscale, (N, H, W, C) or (N, C, H, W) with C in {1, 3, 4}. Layout rule: if only one
    of dims 1 and 3 is in {1, 3, 4} it is the channel axis; if both are (possible only for images
    with a side of 1, 3 or 4 pixels) NHWC is assumed, numpy's and PIL's convention. An .npz member is
    chosen as: the only array, else the first of the keys "images", "x", "samples", "arr_0" present.
  * An .npz holding "mu" and "sigma" is a statistics file (pytorch-fid's --save-stats, ganeval's
    own): `open_input` returns ganeval.stats.FeatureStats for it.
  * Registered datasets: "dataset:NAME[:SPLIT]" (e.g. dataset:fashion-mnist:test; split default "test")
    loads that split through ganeval.datasets in memory; labelled images are named "CLASS/INDEX".
  * Generator checkpoints: a .pt, .pth or .ckpt file is loaded as a ganeval generator checkpoint
    (ganeval.generators, weights-only; anything else with these suffixes is refused with one line)
    and becomes a GeneratorSource that generates SamplingConfig.n images on the fly, deterministic
    in the sampling seed, class and truncation (docs/generators.md).

Normalisation to uint8 RGB (DESIGN.md, Contracts)
  * "RGB" as is; grayscale "L" (and "1", as 0/255) repeated to 3 channels.
  * Alpha is dropped, never composited: "RGBA", "LA", "PA" and "P" palettes with transparency go
    through RGBA and keep the colour channels; other palettes are looked up to RGB.
  * 16-bit grayscale ("I;16", "I;16B", "I;16L", "I;16N", and "I" from 16-bit PNG/TIFF) and uint16
    arrays: round(v / 257), clipped to 0..255 (an exact map of 0..65535 onto 0..255). Pillow itself
    reduces 16-bit colour PNG/TIFF to 8 bits by taking the high byte (v >> 8), which can differ from
    round(v / 257) by 1; ganeval does not re-decode those.
  * "CMYK", "YCbCr", "LAB", "HSV" are converted by Pillow; float ("F") images are refused.
  * Multi-frame files (animated PNG/WebP, TIFF stacks) give their first frame. EXIF orientation and ICC profiles
    are not applied (as pytorch-fid, torch-fidelity and clean-fid read images).

Validation: every problem the user can cause is a one-line BadInputError naming the file: a missing
path, a folder or archive without images, a zero-byte file, a non-image file with an image extension,
a corrupt or truncated image (found when decoding fully), float images, bad arrays, and mixed image
sizes (found by the up-front header scan, before any long work) unless allow_mixed_sizes, which
instead starts a new batch wherever the size changes, so each batch has one size and the order is
kept. With skip_bad, unreadable files are skipped and listed in `ImageSource.skipped` (header problems
at open, decode problems while iterating); a source with nothing readable left is still an error.

Fingerprint: sha256 over a format tag and, per file in order, its name and the sha256 of its bytes
(folders and archives; every candidate file, skipped or not), or over the raw .npy bytes of the
array (arrays). It is computed while scanning (each file read once) for folders and archives, on
first request for arrays. For a generator it is a sha256 over the checkpoint file's sha256 and the
sampling settings (n, seed, class, truncation) plus torch's version (its random streams fix the latents).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tarfile
import threading
import zipfile
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ganeval.config import SamplingConfig
from ganeval.errors import (
    MSG_EMPTY_SOURCE,
    MSG_MISSING_PATH,
    MSG_MIXED_SIZES,
    MSG_UNREADABLE_IMAGE,
    BadInputError,
)
from ganeval.generators import (
    CHECKPOINT_EXTENSIONS,
    LoadedGenerator,
    check_sampling,
    generate,
    load_generator,
    sampling_record,
)
from ganeval.stats import FeatureStats

__all__ = [
    "IMAGE_EXTENSIONS", "ArchiveSource", "ArraySource", "FolderSource", "GeneratorSource", "ImageBatch",
    "ImageSource", "UnreadableImageError", "decode_image", "detect_layout", "is_stats_file", "open_input",
    "open_source", "scale16_to_uint8",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
ZIP_EXTENSIONS = (".zip",)
TAR_EXTENSIONS = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
ARRAY_EXTENSIONS = (".npy", ".npz")
NPZ_IMAGE_KEYS = ("images", "x", "samples", "arr_0")
CHANNELS = (1, 3, 4)

# Decoding runs in this many background threads, with this many batches in flight; threads are
# named with THREAD_PREFIX (tests check none outlives an iteration).
DECODE_WORKERS = 2
PREFETCH_BATCHES = 3
THREAD_PREFIX = "ganeval-decode"

# Version of the pixel rules above; part of every fingerprint, so changing a rule invalidates caches.
FINGERPRINT_TAG = b"ganeval-source-pixels-1\n"
# The same for the sampling rules of ganeval.generators (latent blocks, truncation, uint8 mapping).
GENERATOR_FINGERPRINT_TAG = b"ganeval-generator-samples-1\n"

# Reasons used inside MSG_UNREADABLE_IMAGE, and messages of this module (tests match them).
REASON_EMPTY_FILE = "the file is empty (0 bytes)"
REASON_NOT_IMAGE = "not an image Pillow can identify (wrong extension or damaged header?)"
REASON_CORRUPT = "corrupt or truncated image data ({detail})"
REASON_FLOAT = "floating-point (mode F) images are not supported; save it as 8- or 16-bit"
REASON_MODE = "unsupported image mode {mode} ({detail})"
REASON_SIZE_CHANGED = "it is {actual} now but was {expected} when scanned; did the file change?"
MSG_UNSUPPORTED_INPUT = (
    "cannot use {path} as images: expected a folder of images, a .zip/.tar/.tar.gz/.tgz archive, "
    "an .npy/.npz array, an .npz statistics file or a generator checkpoint (.pt/.pth/.ckpt)"
)
MSG_SINGLE_IMAGE = "{path} is a single image; pass the folder that holds the images instead"
MSG_NOTHING_READABLE = "no readable images in {path}: all {count} were skipped (first: {name}: {reason})"
MSG_BAD_ARCHIVE = "cannot read archive {path}: {detail}"
MSG_BAD_ARRAY = "cannot read array file {path}: {detail}"
MSG_ARRAY_DTYPE = (
    "{path} holds {dtype} images; convert them to uint8 in 0..255 first "
    "(for floats in [0, 1]: (x * 255).round().clip(0, 255).astype(np.uint8))"
)
MSG_ARRAY_SHAPE = (
    "{path} holds an array of shape {shape}; expected (N, H, W), (N, H, W, C) or (N, C, H, W) "
    "with C in 1, 3, 4"
)
MSG_ARRAY_EMPTY = "no images in {path}: the array has shape {shape}"
MSG_NPZ_AMBIGUOUS = (
    "{path} holds several arrays ({keys}); name the images array one of: " + ", ".join(NPZ_IMAGE_KEYS)
)
MSG_STATS_NOT_IMAGES = "{path} is a statistics file (mu, sigma), not images; it cannot be read as images here"
MSG_BATCH_SIZE = "batch size must be a positive integer, got {batch_size!r}"


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


class UnreadableImageError(BadInputError):
    """One image that cannot be used (MSG_UNREADABLE_IMAGE); `reason` is the text after the name."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = _one_line(reason)
        super().__init__(MSG_UNREADABLE_IMAGE.format(path=name, reason=self.reason))


def _unreadable(name: str, reason: str) -> UnreadableImageError:
    return UnreadableImageError(name, reason)


def _size_text(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def _has_suffix(name: str, suffixes: Sequence[str]) -> bool:
    lower = name.lower()
    return any(lower.endswith(s) for s in suffixes)


# -- pixels ------------------------------------------------------------------------------------


def scale16_to_uint8(values: np.ndarray) -> np.ndarray:
    """Map 16-bit values (any integer dtype) to uint8 as round(v / 257), clipped to 0..255.

    Exact integer arithmetic: round(v / 257) == floor((2v + 257) / 514), and v / 257 is never
    exactly halfway between integers, so no tie rule is involved.
    """
    v = np.asarray(values).astype(np.int64)
    return np.clip((2 * v + 257) // 514, 0, 255).astype(np.uint8)


def _gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[:, :, None], 3, axis=2)


def _pil_to_rgb(img: Image.Image, name: str) -> np.ndarray:
    """A loaded PIL image -> uint8 (H, W, 3) RGB following the module's normalisation rules."""
    mode = img.mode
    if mode == "RGB":
        return np.asarray(img, dtype=np.uint8)
    if mode == "L":
        return _gray_to_rgb(np.asarray(img, dtype=np.uint8))
    if mode == "1":
        return _gray_to_rgb(np.asarray(img.convert("L"), dtype=np.uint8))
    if mode == "LA":
        return _gray_to_rgb(np.asarray(img, dtype=np.uint8)[:, :, 0])
    if mode == "RGBA":
        return np.ascontiguousarray(np.asarray(img, dtype=np.uint8)[:, :, :3])
    if mode in ("P", "PA"):
        if mode == "PA" or "transparency" in img.info:
            return np.ascontiguousarray(np.asarray(img.convert("RGBA"), dtype=np.uint8)[:, :, :3])
        return np.asarray(img.convert("RGB"), dtype=np.uint8)
    if mode == "I" or mode.startswith("I;16"):
        return _gray_to_rgb(scale16_to_uint8(np.asarray(img)))
    if mode == "F":
        raise _unreadable(name, REASON_FLOAT)
    try:
        if mode in ("RGBa", "La"):  # premultiplied alpha: through RGBA, then drop alpha
            return np.ascontiguousarray(np.asarray(img.convert("RGBA"), dtype=np.uint8)[:, :, :3])
        return np.asarray(img.convert("RGB"), dtype=np.uint8)
    except (ValueError, OSError) as exc:
        raise _unreadable(name, REASON_MODE.format(mode=mode, detail=exc)) from None


def decode_image(data: bytes, name: str) -> np.ndarray:
    """Decode one encoded image fully into uint8 (H, W, 3) RGB (rules in the module docstring).

    `name` is only used in error messages: a zero-byte, unidentifiable, corrupt or truncated image,
    or a float image, raises a one-line BadInputError naming it.
    """
    if not data:
        raise _unreadable(name, REASON_EMPTY_FILE)
    try:
        img = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise _unreadable(name, REASON_NOT_IMAGE) from None
    except Exception as exc:  # Pillow raises assorted types for damaged headers
        raise _unreadable(name, REASON_CORRUPT.format(detail=exc)) from None
    with img:
        if img.mode == "F":
            raise _unreadable(name, REASON_FLOAT)
        try:
            img.load()  # decodes all pixel data: truncation and bad checksums surface here
        except Exception as exc:
            raise _unreadable(name, REASON_CORRUPT.format(detail=exc)) from None
        return _pil_to_rgb(img, name)


def _read_header(data: bytes, name: str) -> tuple[int, int]:
    """(width, height) from an image's header only (PIL.Image.open decodes no pixels)."""
    if not data:
        raise _unreadable(name, REASON_EMPTY_FILE)
    try:
        with Image.open(io.BytesIO(data)) as img:
            size, mode = img.size, img.mode
    except UnidentifiedImageError:
        raise _unreadable(name, REASON_NOT_IMAGE) from None
    except Exception as exc:
        raise _unreadable(name, REASON_CORRUPT.format(detail=exc)) from None
    if mode == "F":
        raise _unreadable(name, REASON_FLOAT)
    return size


# -- sources -----------------------------------------------------------------------------------


@dataclass
class ImageBatch:
    """A batch of images: `images` uint8 (B, 3, H, W) RGB; `names` the B relative posix names."""

    images: torch.Tensor
    names: list[str]


class ImageSource:
    """A set of images read in a fixed order as uint8 RGB batches.

    Subclasses scan and validate in their constructor, so that errors come before any long work,
    and implement `_plan` (how a batch size splits the images into tasks) and `_open_loader` (a
    context giving a thread-safe function that turns one task into pixels).
    """

    kind: str = ""
    _workers: int = DECODE_WORKERS

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.skipped: list[tuple[str, str]] = []
        self._scan_skipped: list[tuple[str, str]] = []
        self._fingerprint: str | None = None

    def __len__(self) -> int:
        """The number of images the source yields at most (fewer when skip_bad drops some)."""
        raise NotImplementedError

    def fingerprint(self) -> str:
        """sha256 hex of everything that determines the pixels: names and bytes (module docstring)."""
        if self._fingerprint is None:
            self._fingerprint = self._compute_fingerprint()
        return self._fingerprint

    def describe(self) -> dict[str, Any]:
        """JSON-able summary for provenance: path, kind, n, fingerprint, number of skipped files."""
        return {"path": str(self.path), "kind": self.kind, "n": len(self), "fingerprint": self.fingerprint(),
                "skipped": len(self.skipped)}

    def batches(self, batch_size: int) -> Iterator[ImageBatch]:
        """Yield the images in a deterministic order as ImageBatch(uint8 (B, 3, H, W), names), B <= batch_size.

        Decoding runs ahead in background threads (DECODE_WORKERS, PREFETCH_BATCHES in flight), so it
        overlaps with whatever the caller does with a batch; a BadInputError raised while decoding is
        re-raised here. Closing the iterator early (break, exception, close()) stops the threads.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise BadInputError(MSG_BATCH_SIZE.format(batch_size=batch_size))
        return self._iterate(self._plan(int(batch_size)))

    def _iterate(self, tasks: list[Any]) -> Iterator[ImageBatch]:
        self.skipped = list(self._scan_skipped)
        yielded = 0
        todo: deque = deque(tasks)
        pending: deque[Future] = deque()
        with self._open_loader() as load:
            pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix=THREAD_PREFIX)

            def refill() -> None:
                while todo and len(pending) < PREFETCH_BATCHES:
                    pending.append(pool.submit(load, todo.popleft()))

            try:
                refill()
                while pending:
                    images, names, skipped = pending.popleft().result()  # re-raises the worker's error
                    refill()
                    self.skipped.extend(skipped)
                    if names:
                        yielded += len(names)
                        yield ImageBatch(torch.from_numpy(images), names)
            finally:
                # Reached on exhaustion, on an error and on close() (a break, or garbage collection):
                # drop queued batches and wait for the running ones, so no thread outlives the loop.
                pool.shutdown(wait=True, cancel_futures=True)
        if yielded == 0 and self.skipped:
            name, reason = self.skipped[0]
            raise BadInputError(MSG_NOTHING_READABLE.format(path=self.path, count=len(self.skipped),
                                                            name=name, reason=reason))

    # subclass hooks
    def _plan(self, batch_size: int) -> list[Any]:
        raise NotImplementedError

    def _open_loader(self) -> contextlib.AbstractContextManager[Callable[[Any], tuple]]:
        raise NotImplementedError

    def _compute_fingerprint(self) -> str:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, n={len(self)})"


@dataclass
class _Scanned:
    """What the scan learnt about one candidate file; its bytes are not kept."""

    name: str
    digest: str  # sha256 hex of the file's bytes
    result: tuple[int, int] | UnreadableImageError  # (width, height) from the header, or the problem
    ref: Any


@dataclass
class _Entry:
    """One encoded image of a folder or archive: its name, header size and where its bytes are."""

    name: str
    size: tuple[int, int]  # (width, height) from the header
    ref: Any  # folder: Path; zip: ZipInfo; tar: (archive position, data offset, length)


class _EncodedSource(ImageSource):
    """Shared by folders and archives: a sorted list of encoded images, scanned up front."""

    def __init__(self, path: Path, skip_bad: bool, allow_mixed_sizes: bool) -> None:
        super().__init__(path)
        self.skip_bad = skip_bad
        self.allow_mixed_sizes = allow_mixed_sizes
        self.entries: list[_Entry] = []

    def __len__(self) -> int:
        return len(self.entries)

    def _display(self, name: str) -> str:
        return f"{self.path}/{name}"

    def _examine(self, name: str, data: bytes | None, ref: Any, error: str | None = None) -> _Scanned:
        """Hash one candidate file's bytes and read its header (data None: it could not be read)."""
        digest = hashlib.sha256(data or b"").hexdigest()
        result: tuple[int, int] | UnreadableImageError
        try:
            if error is not None:
                raise _unreadable(self._display(name), error)
            result = _read_header(data or b"", self._display(name))
        except UnreadableImageError as exc:
            result = exc
        return _Scanned(name, digest, result, ref)

    def _accept(self, scanned: list[_Scanned], looked_for: str) -> None:
        """Keep, skip or refuse the scanned files in name order; fingerprint them; check sizes."""
        scanned = sorted(scanned, key=lambda s: s.name)
        h = hashlib.sha256(FINGERPRINT_TAG)
        for s in scanned:
            h.update(f"{s.name}\0{s.digest}\n".encode("utf-8", "surrogateescape"))
        for s in scanned:
            if isinstance(s.result, UnreadableImageError):
                if not self.skip_bad:
                    raise s.result
                self._scan_skipped.append((s.name, s.result.reason))
            else:
                self.entries.append(_Entry(s.name, s.result, s.ref))
        self._fingerprint = h.hexdigest()
        self.skipped = list(self._scan_skipped)
        if not self.entries:
            if self._scan_skipped:
                name, reason = self._scan_skipped[0]
                raise BadInputError(MSG_NOTHING_READABLE.format(path=self.path, count=len(self._scan_skipped),
                                                                name=name, reason=reason))
            raise BadInputError(MSG_EMPTY_SOURCE.format(path=self.path, exts=looked_for))
        if not self.allow_mixed_sizes:
            first = self.entries[0]
            for e in self.entries:
                if e.size != first.size:
                    raise BadInputError(MSG_MIXED_SIZES.format(
                        source=self.path, first=first.name, first_size=_size_text(first.size),
                        other=e.name, other_size=_size_text(e.size)))

    def _plan(self, batch_size: int) -> list[list[int]]:
        tasks: list[list[int]] = []
        for i, e in enumerate(self.entries):
            if tasks and len(tasks[-1]) < batch_size and self.entries[tasks[-1][0]].size == e.size:
                tasks[-1].append(i)
            else:
                tasks.append([i])
        return tasks

    def _open_reader(self) -> contextlib.AbstractContextManager[Callable[[_Entry], bytes]]:
        raise NotImplementedError

    @contextlib.contextmanager
    def _open_loader(self) -> Iterator[Callable[[list[int]], tuple]]:
        with self._open_reader() as read:
            def load(task: list[int]) -> tuple[np.ndarray, list[str], list[tuple[str, str]]]:
                width, height = self.entries[task[0]].size
                out = np.empty((len(task), 3, height, width), dtype=np.uint8)
                names: list[str] = []
                skipped: list[tuple[str, str]] = []
                for i in task:
                    entry = self.entries[i]
                    display = self._display(entry.name)
                    try:
                        pixels = decode_image(read(entry), display)
                        if pixels.shape[:2] != (height, width):
                            actual = (pixels.shape[1], pixels.shape[0])
                            raise _unreadable(display, REASON_SIZE_CHANGED.format(
                                actual=_size_text(actual), expected=_size_text(entry.size)))
                    except BadInputError as exc:
                        if not self.skip_bad:
                            raise
                        skipped.append((entry.name, _reason_of(exc)))
                        continue
                    out[len(names)] = pixels.transpose(2, 0, 1)
                    names.append(entry.name)
                return out[: len(names)], names, skipped

            yield load

    def _compute_fingerprint(self) -> str:  # pragma: no cover - _accept sets it
        raise AssertionError("the scan computes the fingerprint")


def _reason_of(exc: BadInputError) -> str:
    return exc.reason if isinstance(exc, UnreadableImageError) else str(exc)


def _is_hidden(parts: Sequence[str]) -> bool:
    return any(p.startswith(".") and p != ".." for p in parts)


class FolderSource(_EncodedSource):
    """A folder of image files, read recursively in sorted order of relative posix paths."""

    kind = "folder"

    def __init__(self, path: str | os.PathLike, *, skip_bad: bool = False, allow_mixed_sizes: bool = False) -> None:
        super().__init__(Path(path), skip_bad, allow_mixed_sizes)
        scanned = []
        for name, file in self._list():
            try:
                data = file.read_bytes()
            except OSError as exc:
                scanned.append(self._examine(name, None, file, error=f"cannot open it ({exc.strerror or exc})"))
            else:
                scanned.append(self._examine(name, data, file))
        self._accept(scanned, ", ".join(IMAGE_EXTENSIONS))

    def _list(self) -> list[tuple[str, Path]]:
        found: list[tuple[str, Path]] = []
        seen_dirs: set[str] = set()
        for dirpath, dirnames, filenames in os.walk(self.path, followlinks=True):
            real = os.path.realpath(dirpath)
            if real in seen_dirs:  # a symlink loop or a second link to the same folder
                dirnames[:] = []
                continue
            seen_dirs.add(real)
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            rel_dir = Path(dirpath).relative_to(self.path)
            for f in filenames:
                if f.startswith(".") or not _has_suffix(f, IMAGE_EXTENSIONS):
                    continue
                full = Path(dirpath) / f
                if full.is_file():
                    found.append(((rel_dir / f).as_posix(), full))
        found.sort(key=lambda item: item[0])
        return found

    @contextlib.contextmanager
    def _open_reader(self) -> Iterator[Callable[[_Entry], bytes]]:
        def read(entry: _Entry) -> bytes:
            try:
                return entry.ref.read_bytes()
            except OSError as exc:
                raise _unreadable(self._display(entry.name), f"cannot open it ({exc.strerror or exc})") from None

        yield read


def _member_name(raw: str) -> str:
    """Normalise an archive member name to a relative posix label: drop "/" prefixes and "." parts."""
    parts = [p for p in raw.replace("\\", "/").split("/") if p not in ("", ".")]
    return "/".join(parts)


def _is_compressed(path: Path) -> bool:
    with open(path, "rb") as fh:
        magic = fh.read(6)
    return magic[:2] == b"\x1f\x8b" or magic[:3] == b"BZh" or magic == b"\xfd7zXZ\x00"


class ArchiveSource(_EncodedSource):
    """A .zip or (optionally compressed) .tar archive of images, read in memory in sorted name order."""

    kind = "archive"

    def __init__(self, path: str | os.PathLike, *, skip_bad: bool = False, allow_mixed_sizes: bool = False) -> None:
        super().__init__(Path(path), skip_bad, allow_mixed_sizes)
        self._is_zip = _has_suffix(self.path.name, ZIP_EXTENSIONS)
        self._compressed = False
        try:
            scanned = self._scan_zip() if self._is_zip else self._scan_tar()
        except Exception as exc:  # zipfile, tarfile, gzip, bz2 and lzma all have their own errors
            detail = _one_line(exc) or type(exc).__name__
            raise BadInputError(MSG_BAD_ARCHIVE.format(path=self.path, detail=detail)) from None
        self._accept(scanned, ", ".join(IMAGE_EXTENSIONS) + " members")

    @staticmethod
    def _wanted(raw: str) -> str | None:
        name = _member_name(raw)
        if not name or _is_hidden(name.split("/")) or not _has_suffix(name, IMAGE_EXTENSIONS):
            return None
        return name

    def _scan_zip(self) -> list[_Scanned]:
        scanned = []
        with zipfile.ZipFile(self.path) as zf:
            members = [(self._wanted(i.filename), i) for i in zf.infolist() if not i.is_dir()]
            for name, info in sorted((m for m in members if m[0] is not None), key=lambda m: m[0]):
                try:
                    data = zf.read(info)
                except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, EOFError) as exc:
                    scanned.append(self._examine(name, None, info, error=f"cannot extract it ({exc})"))
                else:
                    scanned.append(self._examine(name, data, info))
        return scanned

    def _scan_tar(self) -> list[_Scanned]:
        self._compressed = _is_compressed(self.path)
        scanned = []
        with tarfile.open(self.path, "r|*") as tf:  # one forward pass, whatever the compression
            for pos, member in enumerate(tf):
                name = self._wanted(member.name) if member.isfile() else None
                if name is None:
                    continue
                fh = tf.extractfile(member)
                data = fh.read() if fh is not None else b""
                scanned.append(self._examine(name, data, (pos, member.offset_data, member.size)))
        return scanned

    @contextlib.contextmanager
    def _open_reader(self) -> Iterator[Callable[[_Entry], bytes]]:
        if self._is_zip:
            reader: _ZipReader | _TarOffsetReader | _TarStreamReader = _ZipReader(self.path)
        elif self._compressed:
            reader = _TarStreamReader(self.path, {e.ref[0] for e in self.entries})
        else:
            reader = _TarOffsetReader(self.path)

        def read(entry: _Entry) -> bytes:
            try:
                return reader.read(entry.ref)
            except BadInputError:
                raise
            except Exception as exc:
                raise _unreadable(self._display(entry.name), f"cannot extract it ({exc})") from None

        try:
            yield read
        finally:
            reader.close()


class _ZipReader:
    """Thread-safe member reads: one ZipFile handle per thread, all closed together."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._local = threading.local()
        self._handles: list[zipfile.ZipFile] = []
        self._lock = threading.Lock()

    def read(self, info: zipfile.ZipInfo) -> bytes:
        zf = getattr(self._local, "zf", None)
        if zf is None:
            zf = zipfile.ZipFile(self._path)
            self._local.zf = zf
            with self._lock:
                self._handles.append(zf)
        return zf.read(info)

    def close(self) -> None:
        with self._lock:
            for zf in self._handles:
                zf.close()
            self._handles.clear()


class _TarOffsetReader:
    """Random access into an uncompressed tar: os.pread at the member's data offset (thread-safe)."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDONLY)

    def read(self, ref: tuple[int, int, int]) -> bytes:
        _, offset, length = ref
        data = os.pread(self._fd, length, offset)
        if len(data) != length:
            raise EOFError("the archive is shorter than when it was scanned")
        return data

    def close(self) -> None:
        os.close(self._fd)


class _TarStreamReader:
    """Reads a compressed tar once, front to back; members wanted later are stashed until asked for."""

    def __init__(self, path: Path, wanted: set[int]) -> None:
        self._tar = tarfile.open(path, "r|*")
        self._members = enumerate(self._tar)
        self._wanted = wanted
        self._stash: dict[int, bytes] = {}
        self._lock = threading.Lock()

    def read(self, ref: tuple[int, int, int]) -> bytes:
        want = ref[0]
        with self._lock:
            if want in self._stash:
                return self._stash.pop(want)
            for pos, member in self._members:
                if pos not in self._wanted:
                    continue
                fh = self._tar.extractfile(member)
                data = fh.read() if fh is not None else b""
                if pos == want:
                    return data
                self._stash[pos] = data
        raise EOFError("member not found; the archive changed since it was scanned")

    def close(self) -> None:
        self._tar.close()


# -- arrays ------------------------------------------------------------------------------------


def detect_layout(shape: Sequence[int]) -> str:
    """"NHW", "NHWC" or "NCHW" for an image stack of `shape` (rule in the module docstring).

    Raises ValueError for a shape that is none of these.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) == 3:
        return "NHW"
    if len(shape) == 4:
        last, second = shape[3] in CHANNELS, shape[1] in CHANNELS
        if last:  # also when both are: NHWC wins ties
            return "NHWC"
        if second:
            return "NCHW"
    raise ValueError(f"not an image stack: {shape}")


def _array_to_nchw_uint8(arr: np.ndarray, layout: str) -> np.ndarray:
    """(b, ...) uint8/uint16 stack in `layout` -> contiguous uint8 (b, 3, H, W) RGB."""
    if layout == "NHW":
        arr = arr[:, None]
    elif layout == "NHWC":
        arr = arr.transpose(0, 3, 1, 2)
    if arr.shape[1] == 4:
        arr = arr[:, :3]
    arr = scale16_to_uint8(arr) if arr.dtype.itemsize == 2 else arr
    if arr.shape[1] == 1:
        arr = np.repeat(arr, 3, axis=1)
    out = np.ascontiguousarray(arr, dtype=np.uint8)
    # A batch that is still a read-only view (of the memory map or a stream buffer) becomes its own
    # array: torch wants writable memory, and the map must not outlive the iteration through a tensor.
    return out if out.flags.writeable and out.flags.owndata else out.copy()


class ArraySource(ImageSource):
    """An .npy (memory-mapped) or .npz (streamed member) array of N images."""

    kind = "array"
    _workers = 1  # an .npz member is a forward-only stream; one reader keeps batches in order

    def __init__(self, path: str | os.PathLike) -> None:
        super().__init__(Path(path))
        self.key: str | None = None
        self._mmap: np.ndarray | None = None
        self._member: zipfile.ZipInfo | None = None
        try:
            if self.path.suffix.lower() == ".npy":
                self._mmap = np.load(self.path, mmap_mode="r", allow_pickle=False)
                shape, dtype = self._mmap.shape, self._mmap.dtype
            else:
                shape, dtype = self._open_npz()
        except BadInputError:
            raise
        except Exception as exc:
            raise BadInputError(MSG_BAD_ARRAY.format(path=self.path, detail=_one_line(exc))) from None
        label = f"{self.path}:{self.key}" if self.key else str(self.path)
        if dtype.kind != "u" or dtype.itemsize not in (1, 2):
            raise BadInputError(MSG_ARRAY_DTYPE.format(path=label, dtype=dtype))
        try:
            self.layout = detect_layout(shape)
        except ValueError:
            raise BadInputError(MSG_ARRAY_SHAPE.format(path=label, shape=tuple(shape))) from None
        if shape[0] == 0 or 0 in shape:
            raise BadInputError(MSG_ARRAY_EMPTY.format(path=label, shape=tuple(shape)))
        self.shape = tuple(int(s) for s in shape)
        self.dtype = dtype
        self._label = self.path.name + (f":{self.key}" if self.key else "")

    def _open_npz(self) -> tuple[tuple[int, ...], np.dtype]:
        with zipfile.ZipFile(self.path) as zf:
            members = {i.filename[:-4]: i for i in zf.infolist() if i.filename.endswith(".npy")}
            if {"mu", "sigma"} <= set(members):
                raise BadInputError(MSG_STATS_NOT_IMAGES.format(path=self.path))
            if len(members) == 1:
                self.key = next(iter(members))
            else:
                self.key = next((k for k in NPZ_IMAGE_KEYS if k in members), None)
                if self.key is None:
                    keys = ", ".join(sorted(members)) or "none"
                    raise BadInputError(MSG_NPZ_AMBIGUOUS.format(path=self.path, keys=keys))
            self._member = members[self.key]
            with zf.open(self._member) as fh:
                shape, fortran, dtype = _read_npy_header(fh)
            self._fortran = fortran
        return shape, dtype

    def __len__(self) -> int:
        return self.shape[0]

    def _plan(self, batch_size: int) -> list[tuple[int, int]]:
        n = self.shape[0]
        return [(s, min(s + batch_size, n)) for s in range(0, n, batch_size)]

    @contextlib.contextmanager
    def _open_loader(self) -> Iterator[Callable[[tuple[int, int]], tuple]]:
        with contextlib.ExitStack() as stack:
            if self._mmap is not None:
                mmap = self._mmap

                def chunk(start: int, stop: int) -> np.ndarray:
                    return mmap[start:stop]
            else:
                zf = stack.enter_context(zipfile.ZipFile(self.path))
                fh = stack.enter_context(zf.open(self._member))
                per_image = int(np.prod(self.shape[1:])) * self.dtype.itemsize
                whole: list[np.ndarray] = []

                def chunk(start: int, stop: int) -> np.ndarray:
                    if self._fortran:  # no C-order stream to cut batches from: read it whole, once
                        if not whole:
                            whole.append(np.lib.format.read_array(fh, allow_pickle=False))
                        return whole[0][start:stop]
                    if start == 0:
                        _read_npy_header(fh)
                    data = fh.read((stop - start) * per_image)
                    if len(data) != (stop - start) * per_image:
                        raise EOFError(f"member {self.key} ends after fewer than {stop} images")
                    return np.frombuffer(data, dtype=self.dtype).reshape((stop - start,) + self.shape[1:])

            def load(task: tuple[int, int]) -> tuple[np.ndarray, list[str], list]:
                start, stop = task
                try:
                    images = _array_to_nchw_uint8(chunk(start, stop), self.layout)
                except Exception as exc:  # a damaged or shortened file: zlib, zipfile, mmap errors
                    raise BadInputError(MSG_BAD_ARRAY.format(path=self.path, detail=_one_line(exc))) from None
                return images, [f"{self._label}[{i}]" for i in range(start, stop)], []

            yield load

    def _compute_fingerprint(self) -> str:
        h = hashlib.sha256(FINGERPRINT_TAG)
        h.update(b"array\n")
        try:
            if self._member is None:
                with open(self.path, "rb") as fh:
                    h.update(hashlib.file_digest(fh, "sha256").digest())
            else:
                with zipfile.ZipFile(self.path) as zf, zf.open(self._member) as fh:
                    inner = hashlib.sha256()
                    while block := fh.read(1 << 22):
                        inner.update(block)
                    h.update(inner.digest())
        except (OSError, zipfile.BadZipFile, EOFError) as exc:
            raise BadInputError(MSG_BAD_ARRAY.format(path=self.path, detail=_one_line(exc))) from None
        return h.hexdigest()


def _read_npy_header(fh: BinaryIO) -> tuple[tuple[int, ...], bool, np.dtype]:
    """Read the .npy header from a stream positioned at its start: (shape, fortran_order, dtype)."""
    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
    elif version in ((2, 0), (3, 0)):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
    else:  # pragma: no cover - read_magic already refuses unknown versions
        raise ValueError(f"unsupported .npy format version {version}")
    return tuple(shape), bool(fortran), np.dtype(dtype)


# -- generators --------------------------------------------------------------------------------


class GeneratorSource(ImageSource):
    """Images generated on the fly from a ganeval generator checkpoint (ganeval.generators).

    Yields sampling.n uint8 RGB images (grayscale generators repeated to 3 channels), the same for
    the same checkpoint bytes and settings whatever the batch size. The checkpoint is read and the
    settings checked in the constructor, so a bad file or setting fails before any long work.
    Generation runs on `device` in the caller's thread: the latents come from one seeded stream.
    """

    kind = "generator"

    def __init__(self, path: str | os.PathLike, sampling: SamplingConfig | None = None, *, device: str = "cpu",
                 loaded: LoadedGenerator | None = None) -> None:
        """`loaded`: an already loaded generator of this checkpoint (it must carry its sha256), e.g. for sweeps."""
        super().__init__(Path(path))
        self.sampling = sampling or SamplingConfig()
        self.device = device
        if loaded is not None and loaded.sha256 is None:
            raise ValueError("a generator given to GeneratorSource must come from load_generator (it needs its sha256)")
        self.generator = loaded if loaded is not None else load_generator(self.path, device)
        s = self.sampling
        check_sampling(self.generator.latent, s.n, s.seed, s.class_index, s.truncation, where=str(self.path))

    def __len__(self) -> int:
        return self.sampling.n

    def _compute_fingerprint(self) -> str:
        s = self.sampling
        settings = {"checkpoint_sha256": self.generator.sha256, "n": s.n, "seed": s.seed, "class_index": s.class_index,
                    "truncation": s.truncation, "torch": torch.__version__,
                    "device": torch.device(self.device).type}
        h = hashlib.sha256(GENERATOR_FINGERPRINT_TAG)
        h.update(json.dumps(settings, sort_keys=True).encode())
        return h.hexdigest()

    def describe(self) -> dict[str, Any]:
        """The base summary plus the generator's architecture, checkpoint sha256, latent spec and sampling."""
        s = self.sampling
        record = sampling_record(self.generator, s.n, s.seed, s.class_index, s.truncation)
        record.pop("checkpoint", None)
        return dict(super().describe(), **record)

    def batches(self, batch_size: int) -> Iterator[ImageBatch]:
        """Yield ImageBatch(uint8 (B, 3, H, W), names "CKPT[i]") generated in order; B <= batch_size."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise BadInputError(MSG_BATCH_SIZE.format(batch_size=batch_size))
        return self._generate(int(batch_size))

    def _generate(self, batch_size: int) -> Iterator[ImageBatch]:
        s = self.sampling
        start = 0
        for images, _ in generate(self.generator, s.n, seed=s.seed, batch_size=batch_size,
                                  class_index=s.class_index, truncation=s.truncation):
            names = [f"{self.path.name}[{i}]" for i in range(start, start + images.shape[0])]
            start += images.shape[0]
            yield ImageBatch(images, names)


class TensorSource(ImageSource):
    """An in-memory ImageSource over uint8 (N, C, H, W) images (C = 1 is repeated to RGB), so that images
    already in memory (generated, held out, a registered dataset) take the same extraction loop as files.

    names: one name per image (e.g. "Trouser/000017" so that per-class reports read the class from the
    first path component); default "000000", "000001", ...
    """

    kind = "memory"
    _workers = 1

    def __init__(self, images: torch.Tensor, label: str, names: Sequence[str] | None = None) -> None:
        super().__init__(Path(label))
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] not in (1, 3):
            raise ValueError(f"expected uint8 (N, 1|3, H, W) images, got {images.dtype} {tuple(images.shape)}")
        if names is not None and len(names) != images.shape[0]:
            raise ValueError(f"{len(names)} names for {images.shape[0]} images")
        self._images = images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images
        self._names = list(names) if names is not None else None

    def __len__(self) -> int:
        return int(self._images.shape[0])

    def _plan(self, batch_size: int) -> list[tuple[int, int]]:
        n = len(self)
        return [(s, min(s + batch_size, n)) for s in range(0, n, batch_size)]

    @contextlib.contextmanager
    def _open_loader(self) -> Iterator[Callable[[tuple[int, int]], tuple]]:
        def load(task: tuple[int, int]) -> tuple[np.ndarray, list[str], list]:
            start, stop = task
            names = self._names[start:stop] if self._names is not None else [f"{i:06d}" for i in range(start, stop)]
            return np.ascontiguousarray(self._images[start:stop].numpy()), names, []

        yield load

    def _compute_fingerprint(self) -> str:
        digest = hashlib.sha256(b"ganeval-memory-images-1\n")
        digest.update(repr(tuple(self._images.shape)).encode())
        digest.update(self._images.contiguous().numpy().tobytes())
        return digest.hexdigest()


DATASET_PREFIX = "dataset:"
MSG_DATASET_SPEC = ("bad dataset input {spec!r}: write dataset:NAME or dataset:NAME:SPLIT, e.g. "
                    "dataset:fashion-mnist:test (registered: {known})")


class DatasetSource(TensorSource):
    """A registered dataset as an input: "dataset:NAME[:SPLIT]" (split default "test"), e.g.
    `ganeval fid dataset:fashion-mnist:test runs/dcgan/best.pt`. The split is loaded into memory at its
    native size (ganeval.datasets.load_dataset); a labelled image is named "CLASS/INDEX" so that per-class
    reports find its class. The fingerprint is the dataset's own (pixels, labels, class names) with the split.
    """

    kind = "dataset"

    def __init__(self, spec: str) -> None:
        from ganeval.datasets import available_datasets, load_dataset

        parts = spec[len(DATASET_PREFIX):].split(":")
        known = ", ".join(sorted(available_datasets()))
        if not parts[0] or len(parts) > 2 or (len(parts) == 2 and not parts[1]):
            raise BadInputError(MSG_DATASET_SPEC.format(spec=spec, known=known))
        name, split = parts[0], parts[1] if len(parts) == 2 else "test"
        if name not in available_datasets():
            raise BadInputError(f"unknown dataset {name!r} in {spec!r} (registered: {known}); "
                                f"a folder is passed as its path, without dataset:")
        ds = load_dataset(name, split=split)
        names = None
        if ds.labels is not None and ds.class_names:
            # Class names may hold "/" (T-shirt/top): the first path component must be the whole name.
            safe = [c.replace("/", "-") for c in ds.class_names]
            names = [f"{safe[int(k)]}/{i:06d}" for i, k in enumerate(ds.labels.tolist())]
        super().__init__(ds.images, spec, names)
        self.dataset, self.split = name, split
        self._dataset_fingerprint = ds.fingerprint

    def _compute_fingerprint(self) -> str:
        digest = hashlib.sha256(b"ganeval-dataset-input-1\n")
        digest.update(f"{self.dataset}\n{self.split}\n{self._dataset_fingerprint}".encode())
        return digest.hexdigest()

    def describe(self) -> dict[str, Any]:
        """The base summary plus the dataset's name, split and own fingerprint."""
        return dict(super().describe(), path=str(self.path), dataset=self.dataset, split=self.split,
                    dataset_fingerprint=self._dataset_fingerprint)


def is_dataset_spec(path: str | os.PathLike) -> bool:
    """True for a "dataset:NAME[:SPLIT]" input (module docstring)."""
    return str(path).startswith(DATASET_PREFIX)


# -- entry points ------------------------------------------------------------------------------


def is_stats_file(path: str | os.PathLike) -> bool:
    """True for an .npz holding "mu" and "sigma" arrays (pytorch-fid's --save-stats, ganeval's own)."""
    p = Path(path)
    if p.suffix.lower() != ".npz" or not p.is_file():
        return False
    try:
        with zipfile.ZipFile(p) as zf:
            names = {n[:-4] for n in zf.namelist() if n.endswith(".npy")}
    except (OSError, zipfile.BadZipFile):
        return False
    return {"mu", "sigma"} <= names


def open_source(path: str | os.PathLike, *, skip_bad: bool = False, allow_mixed_sizes: bool = False,
                sampling: SamplingConfig | None = None) -> ImageSource:
    """Open a folder, archive or array of images, or a generator checkpoint; scans and validates it now.

    skip_bad: skip unreadable files (listed in `.skipped`) instead of failing on the first.
    allow_mixed_sizes: accept images of several sizes; each batch then has one size.
    sampling: how many images to draw from a generator checkpoint, with which seed, class and
    truncation (default SamplingConfig()); ignored for other inputs.
    Raises BadInputError (one line, naming the file) for anything that cannot be read as images.
    """
    if is_dataset_spec(path):
        return DatasetSource(str(path))
    p = Path(path)
    if not p.exists():
        raise BadInputError(MSG_MISSING_PATH.format(path=p))
    if p.is_dir():
        return FolderSource(p, skip_bad=skip_bad, allow_mixed_sizes=allow_mixed_sizes)
    name = p.name
    if _has_suffix(name, ZIP_EXTENSIONS) or _has_suffix(name, TAR_EXTENSIONS):
        return ArchiveSource(p, skip_bad=skip_bad, allow_mixed_sizes=allow_mixed_sizes)
    if _has_suffix(name, ARRAY_EXTENSIONS):
        return ArraySource(p)
    if _has_suffix(name, CHECKPOINT_EXTENSIONS):
        return GeneratorSource(p, sampling)
    if _has_suffix(name, IMAGE_EXTENSIONS):
        raise BadInputError(MSG_SINGLE_IMAGE.format(path=p))
    raise BadInputError(MSG_UNSUPPORTED_INPUT.format(path=p))


def open_input(path: str | os.PathLike, *, skip_bad: bool = False, allow_mixed_sizes: bool = False,
               sampling: SamplingConfig | None = None) -> ImageSource | FeatureStats:
    """Like open_source, but a statistics file (.npz with mu, sigma) comes back as FeatureStats.load(path)."""
    if is_stats_file(path):
        return FeatureStats.load(path)
    return open_source(path, skip_bad=skip_bad, allow_mixed_sizes=allow_mixed_sizes, sampling=sampling)
