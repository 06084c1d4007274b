"""Registry of known weight files: which names they go by, their sha256, where to find and how to get them.

One line: explicit file -> $GANEVAL_WEIGHTS_DIR -> cache_dir()/weights -> torch hub checkpoints
-> download (when allowed and online) -> MissingWeightsError (exit 3) that says what to do.

Every file is verified by sha256 before it is used. A hash is either the full 64-hex digest or a prefix
of it, as torch.hub writes it into file names ("...-6726825d.pth"). Hashing a 92 MB file costs ~0.3 s,
so results are remembered for the process, keyed by the file's identity (path, size, mtime, inode).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganeval.atomic import atomic_writer
from ganeval.errors import MSG_WEIGHTS_HASH, BadInputError, MissingWeightsError
from ganeval.paths import cache_dir, torch_hub_checkpoints_dir

__all__ = [
    "MSG_DOWNLOAD_FAILED", "MSG_MISSING_WEIGHTS", "ResolvedWeights", "UnverifiedWeightsWarning", "WeightsSpec",
    "download_weights", "find_weights", "get_weights_spec", "install_dir", "install_weights",
    "register_weights", "registered_weights", "resolve_weights", "search_locations", "sha256_file",
    "weights_status",
]

CHUNK = 1 << 20  # 1 MiB: the unit of hashing and of download reads
ENV_WEIGHTS_DIR = "GANEVAL_WEIGHTS_DIR"
ENV_OFFLINE = "GANEVAL_OFFLINE"

# Values of ResolvedWeights.where, in search order.
WHERE_EXPLICIT = "explicit"
WHERE_ENV = ENV_WEIGHTS_DIR
WHERE_CACHE = "cache"
WHERE_TORCH_HUB = "torch-hub"
WHERE_DOWNLOADED = "downloaded"

# Message templates (tests match these; each formats to one line).
MSG_MISSING_WEIGHTS = (
    "missing {name} weights: need the file {filename} (sha256 {sha256}...); looked in {looked}{rejected}; "
    "{download}; put it in ${env} or run `ganeval weights install {name} FILE`{get}{offline}"
)
MSG_DOWNLOAD_FAILED = "could not download {name} weights from {url}: {reason}"
MSG_WEIGHTS_FILE_MISSING = "no such {name} weights file: {path} (check the path)"
MSG_WEIGHTS_FILE_IS_DIR = "{path} is a folder; pass the {name} weights file itself (e.g. {filename})"
MSG_WEIGHTS_UNREADABLE = "cannot read {name} weights file {path}: {reason}"
MSG_SKIPPED = "skipping {path}: sha256 {actual} does not start with {expected}, so it is not the {name} weights"
MSG_UNKNOWN_WEIGHTS = "unknown weights {name!r}; known weights: {known}"

_HEX = re.compile(r"[0-9a-f]{8,64}")


class UnverifiedWeightsWarning(UserWarning):
    """A file with an accepted weights name was found but its sha256 is wrong; it is skipped."""


@dataclass(frozen=True)
class WeightsSpec:
    """A known weights file.

    name:         registry key, e.g. "inception" (what `ganeval weights install NAME FILE` takes).
    filenames:    accepted file names in search directories; the first is canonical (used for
                  installs and downloads). A file given explicitly may have any name.
    sha256:       the full hex digest, or a prefix of at least 8 hex digits (torch.hub style).
    url:          canonical download URL, or None when the file cannot be downloaded.
    offline_alternative: an extractor that needs no download, named in the missing-weights message.
    """

    name: str
    filenames: tuple[str, ...]
    sha256: str
    url: str | None
    description: str
    offline_alternative: str | None = None

    def __post_init__(self) -> None:
        # Malformed specs are programming errors of whoever registers them, hence ValueError.
        if not self.name:
            raise ValueError("WeightsSpec.name must not be empty")
        if isinstance(self.filenames, str) or not self.filenames:
            raise ValueError(f"WeightsSpec {self.name!r}: filenames must be a non-empty tuple of file names")
        for fn in self.filenames:
            if not fn or "/" in fn or "\\" in fn or fn in (".", ".."):
                raise ValueError(f"WeightsSpec {self.name!r}: {fn!r} is not a plain file name")
        sha = self.sha256.lower()
        if not _HEX.fullmatch(sha):
            raise ValueError(f"WeightsSpec {self.name!r}: sha256 must be 8 to 64 hex digits, got {self.sha256!r}")
        object.__setattr__(self, "filenames", tuple(self.filenames))
        object.__setattr__(self, "sha256", sha)

    def matches(self, digest: str) -> bool:
        """Whether a full hex sha256 `digest` is this file's (equal to, or starting with, the spec's hash)."""
        return digest.lower().startswith(self.sha256)


@dataclass(frozen=True)
class ResolvedWeights:
    """A verified weights file: its path, the full hex sha256 of its content, and where it was found
    ("explicit", "GANEVAL_WEIGHTS_DIR", "cache", "torch-hub" or "downloaded")."""

    path: Path
    sha256: str
    where: str


_REGISTRY: dict[str, WeightsSpec] = {}
# (absolute path, size, mtime_ns, inode, device) -> full sha256; valid for this process.
_DIGESTS: dict[tuple[str, int, int, int, int], str] = {}


def register_weights(spec: WeightsSpec) -> None:
    """Add (or replace) a weights file in the registry; built-ins use this same call."""
    _REGISTRY[spec.name] = spec


def registered_weights() -> dict[str, WeightsSpec]:
    """A copy of the registry, name -> spec."""
    return dict(_REGISTRY)


def get_weights_spec(name: str) -> WeightsSpec:
    """The registered spec called `name`; BadInputError listing the known names otherwise."""
    spec = _REGISTRY.get(name)
    if spec is None:
        raise BadInputError(MSG_UNKNOWN_WEIGHTS.format(name=name, known=", ".join(sorted(_REGISTRY)) or "none"))
    return spec


def install_dir() -> Path:
    """Where installs and downloads go: cache_dir() / "weights"."""
    return cache_dir() / "weights"


def sha256_file(path: str | os.PathLike) -> str:
    """Full hex sha256 of a file's content, read in 1 MiB chunks (memory stays flat for any size)."""
    h = hashlib.sha256()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    with open(path, "rb") as fh:
        while n := fh.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def _file_key(path: Path) -> tuple[str, int, int, int, int]:
    st = path.stat()
    return (os.fspath(path.absolute()), st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)


def _digest(path: Path) -> str:
    """sha256_file with the per-process memo; a file changed in size, mtime or inode is hashed again."""
    key = _file_key(path)
    digest = _DIGESTS.get(key)
    if digest is None:
        digest = sha256_file(path)
        _DIGESTS[key] = digest
    return digest


def _remember(path: Path, digest: str) -> None:
    with contextlib.suppress(OSError):
        _DIGESTS[_file_key(path)] = digest


def _offline() -> bool:
    return os.environ.get(ENV_OFFLINE, "").strip().lower() in ("1", "true", "yes", "on")


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def search_locations(name: str, explicit: str | os.PathLike | None = None) -> list[tuple[str, Path]]:
    """Where `name` is looked for, in order: (where, path) pairs.

    The explicit file (when given) comes first, then the directories $GANEVAL_WEIGHTS_DIR (when set),
    cache_dir()/weights and the torch hub checkpoints dir. A directory listed twice is kept once.
    """
    get_weights_spec(name)
    out: list[tuple[str, Path]] = []
    if explicit is not None:
        out.append((WHERE_EXPLICIT, Path(explicit).expanduser()))
    dirs: list[tuple[str, Path]] = []
    if os.environ.get(ENV_WEIGHTS_DIR):
        dirs.append((WHERE_ENV, Path(os.environ[ENV_WEIGHTS_DIR]).expanduser()))
    dirs.append((WHERE_CACHE, install_dir()))
    dirs.append((WHERE_TORCH_HUB, torch_hub_checkpoints_dir()))
    seen: set[str] = set()
    for where, d in dirs:
        key = os.path.normpath(os.fspath(d.absolute()))
        if key not in seen:
            seen.add(key)
            out.append((where, d))
    return out


@dataclass(frozen=True)
class _Candidate:
    """One file looked at: status is "verified", "not present", "unverified: ..." or "unreadable: ..."."""

    where: str
    path: Path
    status: str
    sha256: str | None = None

    @property
    def verified(self) -> bool:
        return self.status == "verified"

    @property
    def present(self) -> bool:
        return self.status != "not present"


def _inspect(spec: WeightsSpec, where: str, path: Path) -> _Candidate:
    if not path.is_file():
        return _Candidate(where, path, "not present")
    try:
        digest = _digest(path)
    except OSError as exc:
        return _Candidate(where, path, f"unreadable: {_one_line(exc.strerror or exc)}")
    if spec.matches(digest):
        return _Candidate(where, path, "verified", digest)
    return _Candidate(where, path, f"unverified: sha256 {digest} does not start with {spec.sha256}", digest)


def _directory_candidates(spec: WeightsSpec) -> Iterator[_Candidate]:
    """Each accepted file name in each search directory, in search order, inspected lazily."""
    for where, d in search_locations(spec.name):
        if where == WHERE_EXPLICIT:
            continue
        for filename in spec.filenames:
            yield _inspect(spec, where, d / filename)


def _verify_explicit(spec: WeightsSpec, path: Path) -> ResolvedWeights:
    """An explicitly named file must exist and carry the right hash: no falling through to other places."""
    if path.is_dir():
        raise MissingWeightsError(MSG_WEIGHTS_FILE_IS_DIR.format(path=path, name=spec.name, filename=spec.filenames[0]))
    if not path.is_file():
        raise MissingWeightsError(MSG_WEIGHTS_FILE_MISSING.format(name=spec.name, path=path))
    try:
        digest = _digest(path)
    except OSError as exc:
        raise MissingWeightsError(
            MSG_WEIGHTS_UNREADABLE.format(name=spec.name, path=path, reason=_one_line(exc.strerror or exc))
        ) from None
    if not spec.matches(digest):
        message = MSG_WEIGHTS_HASH.format(path=path, name=spec.name, actual=digest, expected=spec.sha256)
        if spec.url:
            message += f"; the right file is {spec.filenames[0]} from {spec.url}"
        raise MissingWeightsError(message)
    return ResolvedWeights(path=path.absolute(), sha256=digest, where=WHERE_EXPLICIT)


def find_weights(name: str, explicit: str | os.PathLike | None = None) -> ResolvedWeights | None:
    """The first verified file for `name` on disk, or None; never downloads.

    With `explicit`, only that file is considered: missing, unreadable or with a wrong hash it raises
    MissingWeightsError (exit 3). Otherwise each accepted file name in each search directory is checked
    in order; a file with the wrong hash is skipped with an UnverifiedWeightsWarning.
    """
    spec = get_weights_spec(name)
    if explicit is not None:
        return _verify_explicit(spec, Path(explicit).expanduser())
    for cand in _directory_candidates(spec):
        if cand.verified:
            assert cand.sha256 is not None
            return ResolvedWeights(path=cand.path.absolute(), sha256=cand.sha256, where=cand.where)
        if cand.present:
            if cand.sha256 is not None:
                text = MSG_SKIPPED.format(path=cand.path, actual=cand.sha256, expected=spec.sha256, name=name)
            else:
                text = f"skipping {cand.path}: {cand.status}"
            warnings.warn(text, UnverifiedWeightsWarning, stacklevel=2)
    return None


def _describe_failure(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            return f"timed out after {timeout:g} s"
        return _one_line(getattr(reason, "strerror", None) or reason)
    if isinstance(exc, TimeoutError):
        return f"timed out after {timeout:g} s"
    if isinstance(exc, http.client.IncompleteRead):
        return f"transfer interrupted after {len(exc.partial)} bytes"
    return _one_line(exc) or type(exc).__name__


def _download_error(name: str, url: str, reason: object) -> MissingWeightsError:
    """MSG_DOWNLOAD_FAILED as an exception that also carries the bare reason (resolve_weights quotes it)."""
    exc = MissingWeightsError(MSG_DOWNLOAD_FAILED.format(name=name, url=url, reason=reason))
    exc.reason = str(reason)
    return exc


class _DownloadRejected(Exception):
    """The transfer ended but its bytes are not the file (short, or a wrong hash)."""


def _stream_to(url: str, dest: Path, spec: WeightsSpec, timeout: float) -> str:
    """Fetch `url` into a temp file beside `dest`, hashing as it goes; replace `dest` only if verified."""
    with contextlib.closing(urllib.request.urlopen(url, timeout=timeout)) as resp:
        length = resp.headers.get("Content-Length")
        expected = int(length) if length and length.strip().isdigit() else None
        h = hashlib.sha256()
        received = 0
        with atomic_writer(dest) as fh:
            while chunk := resp.read(CHUNK):
                h.update(chunk)
                fh.write(chunk)
                received += len(chunk)
            # http.client returns b"" instead of raising when the peer closes before Content-Length.
            if expected is not None and received != expected:
                raise _DownloadRejected(f"transfer interrupted after {received} of {expected} bytes")
            digest = h.hexdigest()
            if not spec.matches(digest):
                raise _DownloadRejected(f"sha256 {digest} does not start with {spec.sha256}; the file was not kept")
    return digest


def download_weights(
    name: str,
    url: str | None = None,
    dest_dir: str | os.PathLike | None = None,
    timeout: float = 30.0,
) -> ResolvedWeights:
    """Download `name` from `url` (default: the spec's URL) into `dest_dir` (default cache_dir()/weights).

    The file is streamed into a temp file in `dest_dir`, hashed while it arrives, verified, and only
    then renamed to the canonical file name, so a failure of any kind (no network, HTTP error,
    `timeout` seconds without data, a short transfer, a wrong hash, Ctrl-C) leaves no partial file and
    an existing file untouched. Failures raise MissingWeightsError (exit 3). http(s) URLs are refused
    when $GANEVAL_OFFLINE=1; file:// URLs always work.
    """
    spec = get_weights_spec(name)
    url = url or spec.url
    if not url:
        raise _download_error(name, "(none)", "no download URL is known")
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https", "file"):
        raise BadInputError(f"cannot download {name} weights from {url}: only http, https and file URLs are supported")
    if scheme != "file" and _offline():
        raise _download_error(name, url, f"{ENV_OFFLINE}=1 forbids network access")
    dest = (Path(dest_dir).expanduser() if dest_dir is not None else install_dir()) / spec.filenames[0]
    try:
        digest = _stream_to(url, dest, spec, timeout)
    except _DownloadRejected as exc:
        raise _download_error(name, url, exc) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        if isinstance(exc, urllib.error.HTTPError):
            exc.close()
        reason = _describe_failure(exc, timeout)
        raise _download_error(name, url, reason) from None
    _remember(dest, digest)
    return ResolvedWeights(path=dest.absolute(), sha256=digest, where=WHERE_DOWNLOADED)


def install_weights(name: str, file: str | os.PathLike) -> ResolvedWeights:
    """Verify `file` as the `name` weights, then copy it atomically to cache_dir()/weights/<canonical name>.

    A wrong, missing or unreadable file raises MissingWeightsError (exit 3) before anything is written.
    The source is only read. The copy is hashed as it is written and kept only if it still matches,
    so a source that changes during the copy cannot install a corrupt file.
    """
    spec = get_weights_spec(name)
    source = Path(file).expanduser()
    checked = _verify_explicit(spec, source)
    dest = install_dir() / spec.filenames[0]
    if dest.exists() and os.path.samefile(source, dest):
        return ResolvedWeights(path=dest.absolute(), sha256=checked.sha256, where=WHERE_CACHE)
    h = hashlib.sha256()
    try:
        with open(source, "rb") as src, atomic_writer(dest) as out:
            while chunk := src.read(CHUNK):
                h.update(chunk)
                out.write(chunk)
            if h.hexdigest() != checked.sha256:
                raise MissingWeightsError(f"{source} changed while it was being installed; nothing was installed")
    except OSError as exc:
        raise MissingWeightsError(f"cannot install {name} weights into {dest}: {_one_line(exc)}") from None
    _remember(dest, checked.sha256)
    return ResolvedWeights(path=dest.absolute(), sha256=checked.sha256, where=WHERE_CACHE)


def _missing_message(
    spec: WeightsSpec, looked: list[_Candidate] | None = None, download: str = "download not attempted"
) -> str:
    """The one-line MSG_MISSING_WEIGHTS for `spec`: which file, where looked, how to install or fetch it."""
    looked = list(_directory_candidates(spec)) if looked is None else looked
    dirs: list[str] = []
    for cand in looked:
        if str(cand.path.parent) not in dirs:
            dirs.append(str(cand.path.parent))
    bad = [f"{c.path} ({c.status})" for c in looked if c.present and not c.verified]
    return MSG_MISSING_WEIGHTS.format(
        name=spec.name,
        filename=spec.filenames[0],
        sha256=spec.sha256[:8],
        looked=", ".join(dirs) or "nowhere",
        rejected=("; rejected " + ", ".join(bad)) if bad else "",
        download=download,
        env=ENV_WEIGHTS_DIR,
        get=f" (get it on a machine with a network from {spec.url})" if spec.url else "",
        offline=(f"; or evaluate offline with --extractor {spec.offline_alternative}"
                 if spec.offline_alternative else ""),
    )


def resolve_weights(
    name: str, explicit: str | os.PathLike | None = None, allow_download: bool = True
) -> ResolvedWeights:
    """The verified weights file for `name`: found on disk (find_weights), else downloaded, else an error.

    An explicit file is used or rejected, never replaced by a search or a download. A download is tried
    only when `allow_download`, $GANEVAL_OFFLINE is not set and the spec has a URL; any failure becomes
    the one-line MissingWeightsError (exit 3) of MSG_MISSING_WEIGHTS.
    """
    spec = get_weights_spec(name)
    found = find_weights(name, explicit)
    if found is not None:
        return found
    if not allow_download:
        download = "download disabled"
    elif _offline():
        download = f"no download because {ENV_OFFLINE}=1"
    elif not spec.url:
        download = "no download URL is known"
    else:
        try:
            return download_weights(name)
        except MissingWeightsError as exc:
            download = f"download failed: {getattr(exc, 'reason', exc)}"
    raise MissingWeightsError(_missing_message(spec, download=download))


def weights_status() -> list[dict[str, Any]]:
    """What `ganeval weights status` shows, one dict per registered spec (sorted by name).

    Keys: name, description, found (a file with an accepted name exists), verified (and its hash is
    right), where, path, sha256 (full hex of that file; None if none), expected_sha256, url,
    offline_alternative, candidates (every file looked at: where, path, status).
    The reported file is the first verified one, else the first present one. Never warns or downloads.
    """
    rows = []
    for name in sorted(_REGISTRY):
        spec = _REGISTRY[name]
        cands = list(_directory_candidates(spec))
        chosen = next((c for c in cands if c.verified), None) or next((c for c in cands if c.present), None)
        rows.append({
            "name": name,
            "description": spec.description,
            "found": chosen is not None,
            "verified": chosen is not None and chosen.verified,
            "where": chosen.where if chosen else None,
            "path": str(chosen.path.absolute()) if chosen else None,
            "sha256": chosen.sha256 if chosen else None,
            "expected_sha256": spec.sha256,
            "url": spec.url,
            "offline_alternative": spec.offline_alternative,
            "candidates": [{"where": c.where, "path": str(c.path.absolute()), "status": c.status} for c in cands],
        })
    return rows


register_weights(WeightsSpec(
    name="inception",
    filenames=("pt_inception-2015-12-05-6726825d.pth", "weights-inception-2015-12-05-6726825d.pth"),
    sha256="6726825d",
    url="https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
    description="FID Inception-v3 (TF graph of 2015-12-05 converted by pytorch-fid; torch-fidelity's is the same file)",
    offline_alternative="fmnist-cnn",
))
