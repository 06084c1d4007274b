"""Atomic file writes: readers see the old file or the complete new one, never a partial write."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Open a temp file beside `path` for binary writing; on success fsync and os.replace it.

    On any exception (including KeyboardInterrupt) the temp file is removed and `path` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; follow the user's umask like open() would
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_writer(path) as fh:
        fh.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def replace_folder(tmp: str | os.PathLike, out: str | os.PathLike) -> None:
    """Publish the finished folder `tmp` as `out` with renames only, so `out` is at every moment either the
    old complete folder or the new one. A non-empty `out` (the caller has checked that it may go) is first
    renamed aside and removed after the swap, and put back if the swap fails.
    Raises ganeval.errors.BadInputError when `out` cannot be created (e.g. a missing parent, no permission).
    """
    from ganeval.errors import BadInputError

    tmp, out = Path(tmp), Path(out)
    if out.is_dir() and any(out.iterdir()):
        old = Path(tempfile.mkdtemp(prefix=f".{out.absolute().name}.old-", dir=out.absolute().parent))
        os.replace(out, old)  # `old` is an empty folder: rename(2) may replace it
        try:
            os.replace(tmp, out)
        except BaseException:
            os.replace(old, out)
            raise
        shutil.rmtree(old, ignore_errors=True)
        return
    try:
        os.replace(tmp, out)  # also replaces an empty folder
    except OSError as exc:
        raise BadInputError(f"cannot create {out}: {exc.strerror or exc}") from None
