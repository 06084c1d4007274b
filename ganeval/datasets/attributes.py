"""Attribute tables: which binary attributes each image has, read from and written to two layouts.

ganeval's attributes.csv (what `ganeval data synthfaces` writes):

    file,skin_tone,hat,glasses,smiling,beard,dark_hair
    images/000000.png,0,1,1,0,0,1

    a header whose first column is `file` (`image_id`, as in Kaggle's CSV copy of CelebA, is accepted
    too), then one column per attribute; one row per image with its path relative to the table's
    folder (quoted by the csv module when it holds a comma) and 0/1 values.

CelebA's list_attr_celeba.txt:

    202599
    5_o_Clock_Shadow Arched_Eyebrows Attractive ...
    000001.jpg -1  1  1 ...

    line 1 the number of images, line 2 the attribute names separated by white space, then one line
    per image: the file name and one value per attribute, separated by any run of white space.

Both layouts are accepted wherever attributes are read (read_attributes detects which), and both
accept either encoding, 0/1 or -1/1 (-1 means absent), decided per file: a file holding any -1 is
read as -1/1 and must hold no 0. Values come back as uint8 0/1. Every problem (a missing `file`
column, no attribute columns, a row of the wrong length, a value that is neither, a repeated
attribute or file name, a count that disagrees with the rows, images listed but missing) raises a
one-line BadInputError naming the file, and the line where there is one.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganeval.atomic import atomic_write_text
from ganeval.errors import BadInputError

CSV_NAME = "attributes.csv"
CELEBA_NAME = "list_attr_celeba.txt"
FILE_COLUMN = "file"
FILE_COLUMN_ALIASES = ("file", "image_id")
LAYOUTS = ("csv", "celeba")
# Where a table is looked for inside a folder, in this order.
TABLE_CANDIDATES = (CSV_NAME, CELEBA_NAME, "Anno/" + CELEBA_NAME)
# Folders (relative to the table's folder) where listed images are looked for, in this order.
IMAGE_DIR_CANDIDATES = (".", "img_align_celeba", "../img_align_celeba", "../Img/img_align_celeba")

MSG_TABLE = "attribute file {path}: {why}"
MSG_TABLE_LINE = "attribute file {path}, line {line}: {why}"
MSG_NO_TABLE = "no attribute table in {path} (looked for {names})"
MSG_NO_ATTRIBUTE = "attribute file {path} has no attribute {name!r} (it has: {names})"
MSG_MISSING_IMAGES = "attribute file {path} lists {count} image(s) missing under {base}, the first: {first}"
MSG_NO_IMAGES_DIR = "attribute file {path}: cannot find its first image {first} (looked in: {dirs})"


@dataclass(frozen=True)
class AttributeTable:
    """Binary attributes of a list of images.

    files:  image paths as listed (relative to the table's folder, or to the images folder for CelebA).
    values: uint8 (N, K) of 0/1, row i for files[i], column k for names[k].
    names:  attribute names, unique.
    path:   the file read (None for a table built in memory); layout: "csv" or "celeba".
    """

    files: tuple[str, ...]
    values: np.ndarray
    names: tuple[str, ...]
    path: Path | None = None
    layout: str = "csv"

    def __len__(self) -> int:
        return len(self.files)

    def column(self, name: str) -> np.ndarray:
        """The uint8 (N,) 0/1 values of one attribute; BadInputError naming the file when absent."""
        return self.values[:, self.index(name)]

    def index(self, name: str) -> int:
        """Column index of `name`; BadInputError naming the file when absent."""
        try:
            return self.names.index(name)
        except ValueError:
            raise BadInputError(MSG_NO_ATTRIBUTE.format(path=self.path or "(in memory)", name=name,
                                                         names=", ".join(self.names))) from None

    def prevalence(self) -> dict[str, float]:
        """Fraction of images with each attribute, {name: P(1)}."""
        means = self.values.mean(axis=0) if len(self.files) else np.zeros(len(self.names))
        return {n: float(m) for n, m in zip(self.names, means)}


def make_table(files: Sequence[str], values: np.ndarray | Sequence[Sequence[int]], names: Sequence[str],
               path: str | os.PathLike | None = None, layout: str = "csv") -> AttributeTable:
    """Validate and build an AttributeTable from in-memory pieces (0/1 or bool values, (N, K))."""
    where = Path(path) if path is not None else "(in memory)"
    arr = np.asarray(values)
    names = tuple(str(n) for n in names)
    files = tuple(str(f) for f in files)
    if arr.ndim != 2 or arr.shape != (len(files), len(names)):
        raise BadInputError(MSG_TABLE.format(path=where, why=f"values of shape {arr.shape} do not match "
                                             f"{len(files)} files x {len(names)} attributes"))
    if arr.size and not np.isin(arr, (0, 1)).all():
        raise BadInputError(MSG_TABLE.format(path=where, why="values must be 0/1"))
    _check_names(names, where, None)
    _check_files(files, where, None)
    return AttributeTable(files=files, values=arr.astype(np.uint8), names=names,
                          path=Path(path) if path is not None else None, layout=layout)


# -- reading ------------------------------------------------------------------------------------------


def find_table(folder: str | os.PathLike) -> Path:
    """The attribute table inside `folder` (TABLE_CANDIDATES, first found)."""
    folder = Path(folder)
    for name in TABLE_CANDIDATES:
        if (folder / name).is_file():
            return folder / name
    raise BadInputError(MSG_NO_TABLE.format(path=folder, names=", ".join(TABLE_CANDIDATES)))


def detect_layout(path: str | os.PathLike, first_line: str) -> str:
    """"csv" or "celeba": by suffix (.csv / .txt), else a first line that is a bare integer means CelebA."""
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix == ".txt":
        return "celeba"
    return "celeba" if first_line.strip().isdigit() else "csv"


def read_attributes(path: str | os.PathLike) -> AttributeTable:
    """Read an attribute table in either layout (a folder: the table found in it by find_table)."""
    path = Path(path)
    if path.is_dir():
        path = find_table(path)
    text = _read_text(path)
    layout = detect_layout(path, text.split("\n", 1)[0])
    return _parse_celeba(text, path) if layout == "celeba" else _parse_csv(text, path)


def read_attributes_csv(path: str | os.PathLike) -> AttributeTable:
    """Read ganeval's attributes.csv layout (module docstring)."""
    return _parse_csv(_read_text(Path(path)), Path(path))


def read_celeba_attributes(path: str | os.PathLike) -> AttributeTable:
    """Read CelebA's list_attr_celeba.txt layout (module docstring)."""
    return _parse_celeba(_read_text(Path(path)), Path(path))


def _read_text(path: Path) -> str:
    if not path.exists():
        raise BadInputError(f"no such attribute file: {path}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadInputError(MSG_TABLE.format(path=path, why=exc.strerror or str(exc))) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadInputError(MSG_TABLE.format(path=path, why="not UTF-8 text")) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _parse_csv(text: str, path: Path) -> AttributeTable:
    rows = list(csv.reader(io.StringIO(text)))
    numbered = [(i + 1, r) for i, r in enumerate(rows) if r and any(c.strip() for c in r)]
    if not numbered:
        raise BadInputError(MSG_TABLE.format(path=path, why="it is empty"))
    _, header = numbered[0]
    header = [h.strip() for h in header]
    if header[0] not in FILE_COLUMN_ALIASES:
        raise BadInputError(MSG_TABLE.format(path=path, why=f"the first column must be {FILE_COLUMN!r} "
                                             f"(the image path), not {header[0]!r}"))
    names = tuple(header[1:])
    if not names:
        raise BadInputError(MSG_TABLE.format(path=path, why="no attribute columns after the file column"))
    _check_names(names, path, numbered[0][0])
    body = numbered[1:]
    for line, row in body:
        if len(row) != len(header):
            raise BadInputError(MSG_TABLE_LINE.format(path=path, line=line, why=f"{len(row)} columns, but the "
                                                      f"header has {len(header)}"))
    files = [row[0].strip() for _, row in body]
    tokens = np.array([[c.strip() for c in row[1:]] for _, row in body], dtype=str).reshape(len(body), len(names))
    values = _tokens_to_values(tokens, names, [line for line, _ in body], path)
    _check_files(files, path, [line for line, _ in body])
    return AttributeTable(files=tuple(files), values=values, names=names, path=path, layout="csv")


def _parse_celeba(text: str, path: Path) -> AttributeTable:
    lines = text.split("\n")
    numbered = [(i + 1, ln) for i, ln in enumerate(lines) if ln.strip()]
    if len(numbered) < 2:
        raise BadInputError(MSG_TABLE.format(path=path, why="expected a count line and an attribute-name line "
                                             "(CelebA's list_attr_celeba.txt layout)"))
    count_line, count_text = numbered[0]
    try:
        count = int(count_text.strip())
    except ValueError:
        raise BadInputError(MSG_TABLE_LINE.format(path=path, line=count_line, why=f"expected the number of images, "
                                                  f"got {count_text.strip()[:40]!r}")) from None
    names = tuple(numbered[1][1].split())
    _check_names(names, path, numbered[1][0])
    body = [(line, ln.split()) for line, ln in numbered[2:]]
    for line, parts in body:
        if len(parts) != len(names) + 1:
            raise BadInputError(MSG_TABLE_LINE.format(path=path, line=line, why=f"{len(parts) - 1} values for "
                                                      f"{len(names)} attributes"))
    if count != len(body):
        raise BadInputError(MSG_TABLE.format(path=path, why=f"line {count_line} says {count} images but "
                                             f"{len(body)} are listed"))
    files = [parts[0] for _, parts in body]
    tokens = np.array([parts[1:] for _, parts in body], dtype=str).reshape(len(body), len(names))
    values = _tokens_to_values(tokens, names, [line for line, _ in body], path)
    _check_files(files, path, [line for line, _ in body])
    return AttributeTable(files=tuple(files), values=values, names=names, path=path, layout="celeba")


def _tokens_to_values(tokens: np.ndarray, names: Sequence[str], lines: Sequence[int], path: Path) -> np.ndarray:
    """String tokens (N, K) -> uint8 0/1, choosing the file's encoding (module docstring)."""
    if tokens.size == 0:
        raise BadInputError(MSG_TABLE.format(path=path, why="it lists no images"))
    ones, zeros, minus = tokens == "1", tokens == "0", tokens == "-1"
    bad = ~(ones | zeros | minus)
    if bad.any():
        i, k = (int(v) for v in np.argwhere(bad)[0])
        raise BadInputError(MSG_TABLE_LINE.format(path=path, line=lines[i], why=f"value {tokens[i, k][:20]!r} of "
                                                  f"{names[k]!r} is not 0/1 or -1/1"))
    if minus.any() and zeros.any():
        i, k = (int(v) for v in np.argwhere(zeros)[0])
        raise BadInputError(MSG_TABLE_LINE.format(path=path, line=lines[i], why=f"value '0' of {names[k]!r} in a "
                                                  "file that uses -1/1 (mixed encodings)"))
    return ones.astype(np.uint8)


def _check_names(names: Sequence[str], path: object, line: int | None) -> None:
    seen: set[str] = set()
    for name in names:
        why = None
        if not name:
            why = "an attribute column has no name"
        elif name in seen:
            why = f"attribute {name!r} appears more than once"
        elif any(ch in name for ch in ",\n\"") or name != name.strip():
            why = f"attribute name {name!r} holds a comma, quote, newline or surrounding space"
        if why:
            raise BadInputError(MSG_TABLE_LINE.format(path=path, line=line, why=why) if line else
                                MSG_TABLE.format(path=path, why=why))
        seen.add(name)


def _check_files(files: Sequence[str], path: object, lines: Sequence[int] | None) -> None:
    first: dict[str, int] = {}
    for i, name in enumerate(files):
        where = f"line {lines[i]}" if lines else f"row {i}"
        if not name:
            raise BadInputError(MSG_TABLE.format(path=path, why=f"{where}: empty file name"))
        if name in first:
            raise BadInputError(MSG_TABLE.format(path=path, why=f"{where}: file {name!r} is listed twice"))
        first[name] = i


# -- writing ------------------------------------------------------------------------------------------


def table_to_csv_text(table: AttributeTable) -> str:
    """The attributes.csv text of a table: header `file,name1,...`, one row per image, 0/1 values."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow((FILE_COLUMN, *table.names))
    for name, row in zip(table.files, table.values.tolist()):
        writer.writerow((name, *row))
    return buffer.getvalue()


def table_to_celeba_text(table: AttributeTable) -> str:
    """The list_attr_celeba.txt text of a table: count, names, then `file v1 v2 ...` with -1/1 values
    printed two wide as CelebA's own file does. File names must not hold white space."""
    for name in table.files:
        if any(ch.isspace() for ch in name):
            raise BadInputError(f"cannot write {name!r} in CelebA's layout: its file names cannot hold white space")
    lines = [str(len(table.files)), " ".join(table.names) + " "]
    signed = table.values.astype(np.int64) * 2 - 1
    lines.extend(name + " " + " ".join(f"{v:2d}" for v in row) for name, row in zip(table.files, signed.tolist()))
    return "\n".join(lines) + "\n"


def write_attributes(path: str | os.PathLike, table: AttributeTable, layout: str | None = None) -> Path:
    """Write `table` atomically; layout "csv" or "celeba" (None: from the suffix, .txt -> celeba). Returns path."""
    path = Path(path)
    layout = layout or ("celeba" if path.suffix.lower() == ".txt" else "csv")
    if layout not in LAYOUTS:
        raise BadInputError(f"unknown attribute layout {layout!r}; use one of: {', '.join(LAYOUTS)}")
    atomic_write_text(path, table_to_celeba_text(table) if layout == "celeba" else table_to_csv_text(table))
    return path


# -- the images a table lists -------------------------------------------------------------------------


def images_base(table: AttributeTable, images_dir: str | os.PathLike | None = None) -> Path:
    """The folder the table's file names are relative to: `images_dir` when given, else the first of
    IMAGE_DIR_CANDIDATES (relative to the table's folder) that holds the first listed file."""
    if table.path is None and images_dir is None:
        raise BadInputError("an in-memory attribute table needs an images folder")
    if images_dir is not None:
        return Path(images_dir)
    assert table.path is not None
    folder = table.path.parent
    dirs = [folder / d for d in IMAGE_DIR_CANDIDATES]
    for d in dirs:
        if (d / table.files[0]).is_file():
            return d
    raise BadInputError(MSG_NO_IMAGES_DIR.format(path=table.path, first=table.files[0],
                                                  dirs=", ".join(str(os.path.normpath(d)) for d in dirs)))


def image_paths(table: AttributeTable, images_dir: str | os.PathLike | None = None) -> list[Path]:
    """The paths of every listed image, all checked to exist (MSG_MISSING_IMAGES otherwise)."""
    base = images_base(table, images_dir)
    paths = [base / name for name in table.files]
    missing = [name for name, p in zip(table.files, paths) if not p.is_file()]
    if missing:
        raise BadInputError(MSG_MISSING_IMAGES.format(path=table.path or "(in memory)", count=len(missing),
                                                      base=os.path.normpath(base), first=missing[0]))
    return paths
