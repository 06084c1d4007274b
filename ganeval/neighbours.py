"""Nearest real neighbours of generated samples in feature space: the k-NN behind the memorisation check.

    queries (M, d), reference (N, d) -> memory-bounded tiles of approximate squared distances (the block
    machinery of metrics/prdc.py: one GEMM per tile of centred features) -> each query's k + slack
    smallest candidates -> canonical float64 distances sum((q - r)^2) -> the k nearest, ties broken by
    the smaller reference index

The tile arithmetic (float32 by default) only proposes candidates. A query whose k-th canonical
distance is not separated from the candidates left out by more than the proven rounding bound gets a
second pass over every reference row that bound cannot exclude. So the answer is that of a brute-force
float64 k-NN, whatever the block size or tile dtype, and exact copies come out at distance 0.

Pure functions on arrays; no files, no extractors (ganeval.cli_report assembles the report's gallery).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ganeval.config import MetricConfig
from ganeval.errors import BadInputError
from ganeval.metrics.prdc import (
    _SLACK,
    _as_features,
    _centred,
    _centred_sq_norms,
    _exact_sq,
    _Plan,
    _Running,
    _sq_dist_tile,
)

__all__ = ["Knn", "median_nn_distance", "nearest_neighbours"]

_DEFAULT_BLOCK_MIB = MetricConfig().block_mib
# Real samples whose own nearest-neighbour distance estimates the typical one (a seeded subset: the
# median of 1000 is within a few percent of the full median, at a fraction of an N x N pass).
REFERENCE_QUERIES = 1000


@dataclass(frozen=True, eq=False)
class Knn:
    """The k nearest reference rows of each query, nearest first.

    indices:   (M, k) int64 rows of the reference set.
    distances: (M, k) float64 Euclidean distances, sqrt(sum((q - r)^2)) computed in float64.
    exact_checks: how many canonical distances were computed (a cost diagnostic).
    """

    indices: np.ndarray
    distances: np.ndarray
    exact_checks: int = 0


def _order(exact: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Per row, the positions sorting its entries by (distance, reference index)."""
    return np.lexsort((cols, exact), axis=-1)


def nearest_neighbours(
    queries: Any,
    reference: Any,
    k: int = 3,
    *,
    exclude: Any = None,
    block_mib: float = _DEFAULT_BLOCK_MIB,
    dtype: Any = np.float32,
) -> Knn:
    """The k nearest rows of `reference` (N, d) to each row of `queries` (M, d), in Euclidean distance.

    exclude: optional (M,) ints, one reference row per query to leave out (-1: none), e.g. the query
             itself when the queries are rows of the reference set.
    block_mib bounds the memory of one tile of distances (as in features_to_prdc); `dtype` (float32 or
    float64) is that of the tile GEMMs and changes speed only, never the answer. Ties in distance go to
    the smaller reference index. Raises BadInputError for empty, non-finite or mismatched features and
    for k larger than the reference rows available to a query.
    """
    q = _as_features(queries, "generated")
    r = _as_features(reference, "real")
    m, n = q.shape[0], r.shape[0]
    if q.shape[1] != r.shape[1]:
        raise BadInputError(f"generated and real features differ in width: {q.shape[1]} vs {r.shape[1]}")
    excl = None
    if exclude is not None:
        excl = np.asarray(exclude, dtype=np.int64).reshape(-1)
        if excl.shape != (m,) or (excl >= n).any() or (excl < -1).any():
            raise BadInputError(f"exclude must hold one reference row (or -1) per query, got shape {excl.shape}")
    available = n - (1 if excl is not None and (excl >= 0).any() else 0)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= available:
        raise BadInputError(f"k must be between 1 and the {available} real samples available, got {k!r}")
    if np.dtype(dtype) not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise BadInputError(f"dtype must be float32 or float64, got {np.dtype(dtype)}")
    if not block_mib > 0:
        raise BadInputError(f"block_mib must be positive, got {block_mib}")
    plan = _Plan(q.shape[1], np.dtype(dtype), block_mib)

    centre = r.mean(axis=0, dtype=np.float64)
    nq = _centred_sq_norms(q, centre, plan)
    nr = _centred_sq_norms(r, centre, plan)
    nq_d, nr_d = nq.astype(plan.dtype), nr.astype(plan.dtype)
    keep = min(n, int(k) + (excl is not None) + _SLACK)
    run = _Running(m, keep, plan.dtype)
    for r0 in range(0, m, plan.tile):
        r1 = min(r0 + plan.tile, m)
        a = _centred(q[r0:r1], centre, plan.dtype)
        for c0 in range(0, n, plan.tile):
            c1 = min(c0 + plan.tile, n)
            run.update(_sq_dist_tile(a, nq_d[r0:r1], _centred(r[c0:c1], centre, plan.dtype), nr_d[c0:c1]), r0, c0)

    rows = np.repeat(np.arange(m), keep)
    cols = run.cols.reshape(-1)
    exact = _exact_sq(q, rows, r, cols, plan.pair_chunk).reshape(m, keep)
    cols = cols.reshape(m, keep)
    if excl is not None:
        exact[cols == excl[:, None]] = np.inf
    order = _order(exact, cols)
    exact = np.take_along_axis(exact, order, axis=1)[:, :k]
    cols = np.take_along_axis(cols, order, axis=1)[:, :k]
    checks = m * keep

    # A reference row left out has a tile distance >= the largest kept one, so a canonical distance
    # >= that minus beta (the rounding bound); when this exceeds the k-th canonical distance found,
    # nothing left out can be nearer. Otherwise (many near-ties: duplicates, copies) look again.
    beta = plan.tau * (nq + nr.max())
    kth = exact[:, -1]
    if keep < n:
        todo = np.flatnonzero(~(run.vals[:, -1].astype(np.float64) - beta > kth))
    else:
        todo = np.zeros(0, dtype=np.int64)
    for lo in range(0, len(todo), plan.tile):
        idx = todo[lo:lo + plan.tile]
        limit = kth[idx] + beta[idx]  # every true neighbour has a tile distance at most this
        a = _centred(q[idx], centre, plan.dtype)
        found_rows, found_cols = [], []
        for c0 in range(0, n, plan.tile):
            c1 = min(c0 + plan.tile, n)
            t = _sq_dist_tile(a, nq_d[idx], _centred(r[c0:c1], centre, plan.dtype), nr_d[c0:c1])
            rr, cc = np.nonzero(t <= limit[:, None])
            found_rows.append(rr)
            found_cols.append(cc + c0)
        rr, cc = np.concatenate(found_rows), np.concatenate(found_cols)
        d2 = _exact_sq(q, idx[rr], r, cc, plan.pair_chunk)
        checks += len(rr)
        if excl is not None:
            d2[cc == excl[idx[rr]]] = np.inf
        for j, row in enumerate(idx):
            mine = rr == j
            o = np.lexsort((cc[mine], d2[mine]))[:k]
            exact[row], cols[row] = d2[mine][o], cc[mine][o]
    return Knn(indices=cols.astype(np.int64), distances=np.sqrt(exact), exact_checks=int(checks))


def median_nn_distance(
    features: Any,
    *,
    max_queries: int = REFERENCE_QUERIES,
    seed: int = 0,
    block_mib: float = _DEFAULT_BLOCK_MIB,
) -> float:
    """The median distance from a real sample to its nearest other real sample, in the features' units.

    features: (N, d), N >= 2. With N > max_queries the median is taken over a seeded subset of
    max_queries samples (each still searched against all N), which costs max_queries x N distances
    instead of N x N. A generated sample much nearer than this to a real one may be a copy of it.
    """
    z = _as_features(features, "real")
    n = z.shape[0]
    if n < 2:
        raise BadInputError(f"the typical nearest-neighbour distance needs at least 2 real samples, have {n}")
    if n > max_queries:
        idx = np.sort(np.random.default_rng(seed).choice(n, size=max_queries, replace=False))
    else:
        idx = np.arange(n)
    knn = nearest_neighbours(z[idx], z, 1, exclude=idx, block_mib=block_mib)
    return float(np.median(knn.distances[:, 0]))
