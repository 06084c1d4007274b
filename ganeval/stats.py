"""FeatureStats: the sufficient statistics of a feature set, streamed and merged exactly.

Holds n, the float64 sum of features and the float64 sum of their outer products, so that the mean
and the covariance (with N-1) follow without keeping the features; shards, ranks and resumed runs
merge by adding sums. Optionally keeps the per-sample arrays themselves ("pool" features for KID and
PR/DC, "logits" for IS). Saved as .npz with `mu` and `sigma` keys, so pytorch-fid reads ganeval's
files and ganeval reads pytorch-fid's (`--save-stats`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ganeval.atomic import atomic_writer
from ganeval.errors import BadInputError

FORMAT = "ganeval-stats-1"
# Meta keys that must agree before two stats are merged or compared.
COMPAT_KEYS = ("extractor", "weights_sha256", "protocol", "feature")


def _as_float64(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor
        x = x.detach().to("cpu").double().numpy()
    return np.asarray(x, dtype=np.float64)


def _as_float32(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().to("cpu").float().numpy()
    return np.asarray(x, dtype=np.float32)


@dataclass
class FeatureStats:
    """Streaming statistics of an (N, d) feature set.

    `sum` is (d,) and `sum_outer` is (d, d), both float64. `n` is None only for a loaded
    mu/sigma file that does not record N (pytorch-fid's format); such stats give mean and
    covariance but cannot be merged. `kept` maps a feature name to its (N, k) float32 array.
    """

    dim: int
    n: int | None = 0
    sum: np.ndarray | None = None
    sum_outer: np.ndarray | None = None
    keep: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)
    _kept_chunks: dict[str, list[np.ndarray]] = field(default_factory=dict, repr=False)
    _mu_sigma: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.sum is None and self._mu_sigma is None:
            self.sum = np.zeros(self.dim, dtype=np.float64)
            self.sum_outer = np.zeros((self.dim, self.dim), dtype=np.float64)
        for name in self.keep:
            self._kept_chunks.setdefault(name, [])

    # -- accumulation -------------------------------------------------------------------------
    def update(self, features: Any, **kept: Any) -> None:
        """Add a batch: `features` is (B, d); `kept` gives per-sample arrays to keep by name.

        "pool" is kept from `features` itself when requested in `keep`.
        """
        x = _as_float64(features)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"expected features of shape (B, {self.dim}), got {x.shape}")
        if self.n is None or self.sum is None:
            raise BadInputError("these statistics were loaded without N and cannot be extended")
        self._mu_sigma = None  # derived from the sums from now on
        self.n += x.shape[0]
        self.sum += x.sum(axis=0)
        self.sum_outer += x.T @ x
        for name in self.keep:
            if name == "pool":
                self._kept_chunks[name].append(_as_float32(features))
            elif name in kept:
                self._kept_chunks[name].append(_as_float32(kept[name]))
            else:
                raise ValueError(f"stats keep {name!r} but the batch did not provide it")

    def merge(self, other: FeatureStats) -> FeatureStats:
        """Exact merge of two disjoint feature sets (shards, ranks, resumed runs)."""
        if self.dim != other.dim:
            raise BadInputError(f"cannot merge statistics of dimension {self.dim} and {other.dim}")
        if self.n is None or other.n is None:
            raise BadInputError("statistics loaded without N (mu/sigma only) cannot be merged")
        for key in COMPAT_KEYS:
            if self.meta.get(key) != other.meta.get(key):
                raise BadInputError(
                    f"cannot merge statistics with different {key}: "
                    f"{self.meta.get(key)!r} vs {other.meta.get(key)!r}"
                )
        keep = tuple(k for k in self.keep if k in other.keep)
        out = FeatureStats(dim=self.dim, n=self.n + other.n, sum=self.sum + other.sum,
                           sum_outer=self.sum_outer + other.sum_outer, keep=keep, meta=dict(self.meta))
        for name in keep:
            out._kept_chunks[name] = [self.kept(name), other.kept(name)]
        out.meta["n"] = out.n
        return out

    # -- derived quantities -------------------------------------------------------------------
    @property
    def mean(self) -> np.ndarray:
        """(d,) float64 mean."""
        if self._mu_sigma is not None:
            return self._mu_sigma[0]
        self._require_samples(1)
        return self.sum / self.n

    @property
    def cov(self) -> np.ndarray:
        """(d, d) float64 covariance with the unbiased N-1 normalisation (as np.cov and pytorch-fid)."""
        if self._mu_sigma is not None:
            return self._mu_sigma[1]
        self._require_samples(2)
        mu = self.sum / self.n
        sigma = (self.sum_outer - self.n * np.outer(mu, mu)) / (self.n - 1)
        return (sigma + sigma.T) / 2  # exact symmetry; the sums are symmetric up to rounding

    def kept(self, name: str) -> np.ndarray | None:
        """The kept (N, k) float32 array for `name`, or None when it was not kept."""
        chunks = self._kept_chunks.get(name)
        if chunks is None:
            return None
        if len(chunks) != 1:
            width = self.dim if name == "pool" else 0
            arr = np.concatenate(chunks, axis=0) if chunks else np.zeros((0, width), np.float32)
            self._kept_chunks[name] = [arr]
        return self._kept_chunks[name][0]

    def has(self, name: str) -> bool:
        return name in self._kept_chunks

    def _require_samples(self, k: int) -> None:
        if not self.n or self.n < k:
            raise BadInputError(f"statistics need at least {k} samples, have {self.n or 0}")

    # -- persistence --------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write atomically (temp file + os.replace) as .npz readable by pytorch-fid (mu, sigma)."""
        path = Path(path)
        arrays: dict[str, np.ndarray] = {"mu": self.mean, "sigma": self.cov}
        if self.n is not None:
            arrays["n"] = np.asarray(self.n, dtype=np.int64)
            arrays["feature_sum"] = self.sum
        for name in self._kept_chunks:
            arrays[f"kept_{name}"] = self.kept(name)
        meta = dict(self.meta, format=FORMAT, dim=self.dim, n=self.n)
        arrays["meta"] = np.asarray(json.dumps(meta, sort_keys=True))
        with atomic_writer(path) as fh:
            np.savez(fh, **arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> FeatureStats:
        """Read ganeval's own stats or a pytorch-fid mu/sigma file; never unpickles."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                files = set(z.files)
                if not {"mu", "sigma"} <= files:
                    raise BadInputError(f"{path} is not a statistics file: it has no 'mu' and 'sigma' arrays")
                mu = np.asarray(z["mu"], dtype=np.float64)
                sigma = np.asarray(z["sigma"], dtype=np.float64)
                meta = json.loads(str(z["meta"])) if "meta" in files else {"format": "mu-sigma"}
                n = int(z["n"]) if "n" in files else None
                feature_sum = np.asarray(z["feature_sum"], dtype=np.float64) if "feature_sum" in files else None
                kept = {f[len("kept_"):]: np.asarray(z[f], dtype=np.float32) for f in files if f.startswith("kept_")}
        except BadInputError:
            raise
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
            raise BadInputError(f"cannot read statistics file {path}: {exc}") from None
        if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
            raise BadInputError(f"{path}: mu has shape {mu.shape} and sigma {sigma.shape}; expected (d,) and (d, d)")
        meta.pop("format", None)
        meta.pop("dim", None)
        dim = mu.shape[0]
        if n is not None and feature_sum is not None and n >= 2:
            # Rebuild the sums; exact up to float64 rounding of the stored covariance.
            sum_outer = (n - 1) * sigma + np.outer(feature_sum, feature_sum) / n
            # The stored mean and covariance stay authoritative, so loaded (cached) statistics give
            # bit-identical metrics to the ones that were saved; the sums serve merging.
            stats = cls(dim=dim, n=n, sum=feature_sum, sum_outer=sum_outer, meta=meta, _mu_sigma=(mu, sigma))
        else:
            stats = cls(dim=dim, n=n, meta=meta, _mu_sigma=(mu, sigma))
        for name, arr in kept.items():
            stats._kept_chunks[name] = [arr]
        stats.keep = tuple(kept)
        return stats
