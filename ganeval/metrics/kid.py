"""Kernel Inception Distance (Binkowski et al. 2018): features_to_kid.

KID is the unbiased estimate of the squared MMD between two feature sets under the polynomial kernel
k(x, y) = (gamma x.y + coef0)^degree (gamma = 1/d by default), averaged over random subsets:

    MMD^2 = sum_{a != b} k(x_a, x_b) / (m(m-1)) + sum_{a != b} k(y_a, y_b) / (m(m-1)) - 2 sum_{a,b} k(x_a, y_b) / m^2

Subsets are drawn exactly as torch-fidelity draws them (np.random.RandomState(seed); per subset,
rng.choice(N1, m, replace=False) then rng.choice(N2, m, replace=False)), so the same seed gives the
same subsets and the same number. Arithmetic is float64 whatever the input dtype.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ganeval.config import MetricConfig
from ganeval.errors import BadInputError

_DEFAULTS = MetricConfig()


@dataclass(frozen=True)
class KidValue:
    """KID: the mean of the per-subset MMD^2 and their standard deviation (np.std, ddof 0).

    subset_size is the size actually used; `reduced` is True when it was cut to min(N1, N2) because
    a set had fewer samples than requested.
    """

    mean: float
    std: float
    subset_size: int
    n_subsets: int
    reduced: bool


def _as_features(f: Any, name: str) -> np.ndarray:
    if hasattr(f, "detach"):
        f = f.detach().cpu().numpy()
    f = np.asarray(f)
    if f.ndim != 2 or f.shape[0] == 0:
        raise BadInputError(f"{name} features must be a non-empty (N, d) array, got shape {f.shape}")
    if not np.isfinite(f).all():
        raise BadInputError(f"{name} features contain NaN or infinite values")
    return f


def _kernel(a: np.ndarray, b: np.ndarray, degree: float, gamma: float, coef0: float) -> np.ndarray:
    """(m, m) polynomial kernel matrix in float64; `a @ a.T` lets numpy use the symmetric product."""
    k = a @ a.T if a is b else a @ b.T
    k *= gamma
    k += coef0
    if degree == 3:
        cube = k * k
        cube *= k
        return cube
    return k**degree


def _offdiag_sum(k: np.ndarray, ids: np.ndarray | None) -> tuple[float, int]:
    """Sum and count of the entries k[a, b] with a != b (and ids[a] != ids[b] when ids are given)."""
    m = k.shape[0]
    if ids is None:
        return float(k.sum() - np.trace(k)), m * (m - 1)
    # Pairs that share an id (the diagonal included) are few: sum them through the id groups
    # instead of masking all m^2 entries.
    order = np.argsort(ids, kind="stable")
    _, start, count = np.unique(ids[order], return_index=True, return_counts=True)
    same_sum, same_n = float(np.trace(k)), m
    for s0, c in zip(start[count > 1], count[count > 1]):
        members = order[s0:s0 + c]
        block = k[np.ix_(members, members)]
        same_sum += float(block.sum() - np.trace(block))
        same_n += int(c * (c - 1))
    return float(k.sum()) - same_sum, m * m - same_n


def _mmd2(x: np.ndarray, y: np.ndarray, degree: float, gamma: float, coef0: float,
          ids_x: np.ndarray | None = None, ids_y: np.ndarray | None = None) -> float:
    sxx, cxx = _offdiag_sum(_kernel(x, x, degree, gamma, coef0), ids_x)
    syy, cyy = _offdiag_sum(_kernel(y, y, degree, gamma, coef0), ids_y)
    kxy = _kernel(x, y, degree, gamma, coef0)
    if ids_x is None and ids_y is None:
        return (sxx + syy) / cxx - 2.0 * float(kxy.sum()) / kxy.size
    return sxx / cxx + syy / cyy - 2.0 * float(kxy.sum()) / kxy.size


def resampled_kid(
    f1: np.ndarray,
    f2: np.ndarray,
    idx1: np.ndarray | None,
    idx2: np.ndarray | None,
    *,
    n_subsets: int = _DEFAULTS.kid_subsets,
    subset_size: int = _DEFAULTS.kid_subset_size,
    degree: float = _DEFAULTS.kid_degree,
    gamma: float | None = None,
    coef0: float = 1.0,
    seed: int = _DEFAULTS.seed,
) -> tuple[np.ndarray, int, bool]:
    """Per-subset MMD^2 of the sets f1[idx1] and f2[idx2] (idx None: the whole set, in order).

    f1: (N1, d), f2: (N2, d). With index arrays that repeat samples (a bootstrap resample), pairs of
    copies of one original sample are left out of the within-set sums: they would add k(x, x) terms
    that the unbiased estimator excludes and bias the result upwards by about (k(x,x) - k(x,x'))/N.
    Returns (the n_subsets values, the subset size used, whether it was reduced).
    """
    f1 = _as_features(f1, "first")
    f2 = _as_features(f2, "second")
    if f1.shape[1] != f2.shape[1]:
        raise BadInputError(f"KID needs features of one width, got {f1.shape[1]} and {f2.shape[1]}")
    n1 = f1.shape[0] if idx1 is None else len(idx1)
    n2 = f2.shape[0] if idx2 is None else len(idx2)
    if n_subsets < 1 or subset_size < 2:
        raise BadInputError(f"KID needs at least 1 subset of at least 2 samples, got {n_subsets} of {subset_size}")
    m = min(subset_size, n1, n2)
    if m < 2:
        raise BadInputError(f"KID needs at least 2 samples in each set, got {n1} and {n2}")
    g = 1.0 / f1.shape[1] if gamma is None else float(gamma)
    rng = np.random.RandomState(seed)
    mmds = np.empty(n_subsets, dtype=np.float64)
    for i in range(n_subsets):
        s1 = rng.choice(n1, m, replace=False)
        s2 = rng.choice(n2, m, replace=False)
        if idx1 is not None:
            s1 = np.asarray(idx1)[s1]
        if idx2 is not None:
            s2 = np.asarray(idx2)[s2]
        x = np.asarray(f1[s1], dtype=np.float64)
        y = np.asarray(f2[s2], dtype=np.float64)
        mmds[i] = _mmd2(x, y, degree, g, coef0,
                        s1 if idx1 is not None else None, s2 if idx2 is not None else None)
    return mmds, m, m < subset_size


def features_to_kid(
    f1: np.ndarray,
    f2: np.ndarray,
    *,
    n_subsets: int = _DEFAULTS.kid_subsets,
    subset_size: int = _DEFAULTS.kid_subset_size,
    degree: float = _DEFAULTS.kid_degree,
    gamma: float | None = None,
    coef0: float = 1.0,
    seed: int = _DEFAULTS.seed,
) -> KidValue:
    """KID between features f1 (N1, d) and f2 (N2, d): mean and std of the unbiased MMD^2 over subsets.

    Defaults are torch-fidelity's (100 subsets of 1000, cubic kernel, gamma = 1/d, coef0 = 1, seed 2020).
    When min(N1, N2) < subset_size the subsets take min(N1, N2) samples and `reduced` says so
    (torch-fidelity refuses to compute). KID is an unbiased estimate: small negative values mean the
    sets are indistinguishable at this sample size.
    """
    mmds, m, reduced = resampled_kid(f1, f2, None, None, n_subsets=n_subsets, subset_size=subset_size,
                                     degree=degree, gamma=gamma, coef0=coef0, seed=seed)
    return KidValue(mean=float(np.mean(mmds)), std=float(np.std(mmds)), subset_size=m,
                    n_subsets=n_subsets, reduced=reduced)
