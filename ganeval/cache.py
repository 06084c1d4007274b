"""Content-addressed cache of FeatureStats in the user's cache dir.

The key hashes everything that determines the statistics: the input's content fingerprint, the
extractor and its weights sha256, the preprocessing protocol, the reading options and the ganeval
version. Entries are written atomically; a corrupt entry is discarded and recomputed.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ganeval import __version__
from ganeval.paths import cache_dir
from ganeval.stats import FORMAT, FeatureStats


@dataclass(frozen=True)
class CacheEntry:
    key: str
    path: Path
    size_bytes: int
    modified: float
    meta: dict[str, Any]


def stats_key(**parts: Any) -> str:
    """sha256 over the sorted JSON of `parts` plus the ganeval version and the stats format."""
    payload = dict(parts, ganeval_version=__version__, stats_format=FORMAT)
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


class StatsCache:
    """FeatureStats stored as <root>/<key>.npz (root defaults to cache_dir()/"stats")."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else cache_dir() / "stats"

    def path(self, key: str) -> Path:
        return self.root / f"{key}.npz"

    def get(self, key: str, need_kept: set[str] | frozenset[str] = frozenset()) -> FeatureStats | None:
        """The cached stats for `key` if present, readable, and keeping every array in `need_kept`."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            stats = FeatureStats.load(path)
        except Exception:  # a corrupt entry is not the user's problem: drop it and recompute
            path.unlink(missing_ok=True)
            return None
        if not all(stats.has(name) for name in need_kept):
            return None
        return stats

    def put(self, key: str, stats: FeatureStats) -> Path:
        return stats.save(self.path(key))

    def entries(self) -> list[CacheEntry]:
        out = []
        for path in sorted(self.root.glob("*.npz")) if self.root.is_dir() else []:
            try:
                with np.load(path, allow_pickle=False) as z:
                    meta = json.loads(str(z["meta"])) if "meta" in z.files else {}
            except Exception:
                meta = {"error": "unreadable"}
            st = path.stat()
            out.append(CacheEntry(key=path.stem, path=path, size_bytes=st.st_size, modified=st.st_mtime, meta=meta))
        return out

    def clear(self) -> int:
        """Remove every entry (and stray temp files); return how many entries were removed."""
        n = 0
        if self.root.is_dir():
            for path in self.root.iterdir():
                if path.suffix in (".npz", ".tmp") and path.is_file():
                    n += path.suffix == ".npz"
                    path.unlink()
        return n


def describe_age(seconds: float) -> str:
    age = time.time() - seconds
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if age >= size:
            return f"{age / size:.0f}{unit} ago"
    return "just now"
