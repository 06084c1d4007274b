"""Precision/recall (Kynkaanniemi et al. 2019) and density/coverage (Naeem et al. 2020): features_to_prdc.

With r_k(x) the distance from x to its k-th nearest neighbour in its own set (itself excluded):

    precision = mean over fake y of [exists real x: |x - y| < r_pr(x)]
    recall    = mean over real x of [exists fake y: |x - y| < r_pr(y)]
    density   = 1/(k_dc M) * sum over fake y of #{real x: |x - y| < r_dc(x)}
    coverage  = mean over real x of [min over fake y of |x - y| < r_dc(x)]

(`<`, prdc's choice; strict=False uses `<=`, as Kynkaanniemi et al.'s code and torch-fidelity).

How it is computed, in memory-bounded tiles (never an N x N matrix): squared distances come from one
GEMM per tile of centred features (|a|^2 + |b|^2 - 2 a.b, float32 by default) and serve as a filter.
Every decision they cannot settle -- a distance within the proven rounding bound of the radius it is
compared with, or a neighbour within that bound of the k-th -- is recomputed as sum((a - b)^2) in
float64 from the original features. That canonical distance is symmetric and independent of tiling,
so the answer does not depend on block size or dtype, exact ties (identical sets, duplicated or
memorised samples) are resolved by `<` / `<=` as defined, and a float32 run gives the float64 answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ganeval.config import MetricConfig
from ganeval.errors import BadInputError

_DEFAULTS = MetricConfig()
# Tiles larger than this are no faster (GEMM throughput at d=2048 is flat from 1024 to 4096 here)
# and only cost memory, so block_mib is an upper bound rather than a target.
_MAX_TILE = 2048
# Extra neighbours kept beyond k+1 per point, so that near-ties at the k-th one rarely need a second pass.
_SLACK = 8


@dataclass(frozen=True, eq=False)
class PrdcValue:
    """The four values and the per-sample indicators they average (for a cheap bootstrap).

    precision_per_fake:     (M,) bool, fake sample inside some real pr_k-ball.
    density_count_per_fake: (M,) int, number of real dc_k-balls containing the fake sample.
    recall_per_real:        (N,) bool, real sample inside some fake pr_k-ball.
    coverage_per_real:      (N,) bool, some fake sample inside the real sample's dc_k-ball.
    exact_checks:           number of distances recomputed in float64 because the tile arithmetic
                            could not settle a comparison (a diagnostic; 0 changes nothing).
    """

    precision: float
    recall: float
    density: float
    coverage: float
    precision_per_fake: np.ndarray
    density_count_per_fake: np.ndarray
    recall_per_real: np.ndarray
    coverage_per_real: np.ndarray
    pr_k: int
    dc_k: int
    strict: bool
    exact_checks: int = 0


class _Plan:
    """Tile size, rounding bound and chunk sizes for one computation."""

    def __init__(self, d: int, dtype: np.dtype, block_mib: float) -> None:
        self.dtype = np.dtype(dtype)
        s = self.dtype.itemsize
        budget = float(block_mib) * 2**20
        # Per tile: the distances and one partitioned copy (s bytes each) or a few boolean masks,
        # plus the two centred operands (s bytes per value).
        a, b = 2 * s + 3, 2 * s * d
        side = int((-b + np.sqrt(b * b + 4 * a * budget)) / (2 * a))
        self.tile = max(1, min(_MAX_TILE, side))
        # Canonical distances go in chunks of about 1 MiB of float64 differences: cache-sized, and
        # measured 4x faster than 64 MiB chunks at d=2048.
        self.pair_chunk = int(max(8, 2**20 // (8 * d)))
        # |tile distance - float64 canonical distance| <= tau * (|a'|^2 + |b'|^2) for centred a', b':
        # the dot product's standard bound gamma_d plus the centring, norms and two additions (9 u),
        # plus the canonical float64 sum's own bound, with a 10% margin.
        u = np.finfo(self.dtype).eps / 2
        u64 = np.finfo(np.float64).eps / 2
        gamma = d * u / (1 - d * u)
        self.tau = 1.1 * (gamma + 9 * u + 2 * (d + 2) * u64 / (1 - (d + 2) * u64))


def _as_features(x: Any, name: str) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise BadInputError(f"{name} features must be a non-empty (N, d) array, got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    if not np.isfinite(x).all():
        raise BadInputError(f"{name} features contain NaN or infinite values")
    return x


def _centred(z: np.ndarray, centre: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """z - centre rounded once to `dtype` (the subtraction runs in float64, buffered: no float64 copy)."""
    out = np.empty(z.shape, dtype=dtype)
    np.subtract(z, centre, out=out, casting="same_kind")
    return out


def _centred_sq_norms(z: np.ndarray, centre: np.ndarray, plan: _Plan) -> np.ndarray:
    out = np.empty(z.shape[0], dtype=np.float64)
    for lo in range(0, z.shape[0], plan.tile):
        c = z[lo:lo + plan.tile] - centre
        out[lo:lo + plan.tile] = np.einsum("ij,ij->i", c, c)
    return out


def _sq_dist_tile(a: np.ndarray, na: np.ndarray, b: np.ndarray, nb: np.ndarray) -> np.ndarray:
    """Approximate squared distances (len(a), len(b)) of centred rows, clipped at 0."""
    t = a @ a.T if a is b else a @ b.T
    t *= -2.0
    t += na[:, None]
    t += nb[None, :]
    np.maximum(t, 0.0, out=t)
    return t


def _exact_sq(za: np.ndarray, ia: np.ndarray, zb: np.ndarray, ib: np.ndarray, chunk: int) -> np.ndarray:
    """Canonical squared distances sum((za[ia] - zb[ib])^2) in float64, one per pair.

    Symmetric in its two arguments and computed row by row, so a pair gets the same value in
    whichever pass, tile or chunk it is met.
    """
    out = np.empty(len(ia), dtype=np.float64)
    for lo in range(0, len(ia), chunk):
        diff = za[ia[lo:lo + chunk]].astype(np.float64)
        diff -= zb[ib[lo:lo + chunk]]
        np.square(diff, out=diff)
        out[lo:lo + chunk] = diff.sum(axis=1)
    return out


def _k_smallest_per_row(rows: np.ndarray, vals: np.ndarray, extra: np.ndarray | None,
                        k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Keep, for each row id, its k smallest values; returned sorted by (row, value)."""
    order = np.lexsort((vals, rows))
    rows, vals = rows[order], vals[order]
    extra = extra[order] if extra is not None else None
    first = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    rank = np.arange(len(rows)) - np.repeat(first, np.diff(np.r_[first, len(rows)]))
    keep = rank < k
    return rows[keep], vals[keep], (extra[keep] if extra is not None else None)


class _Running:
    """The K smallest approximate values per row of a set, with their column ids."""

    def __init__(self, n: int, k: int, dtype: np.dtype) -> None:
        self.k = k
        self.vals = np.full((n, k), np.inf, dtype=dtype)
        self.cols = np.full((n, k), -1, dtype=np.int64)

    def update(self, t: np.ndarray, r0: int, c0: int, *, transposed: bool = False) -> None:
        """Merge tile `t` into the kept values: its rows are members r0.., its columns c0.. (or, when
        `transposed`, its columns are the members c0.. and its rows their candidates r0..)."""
        kk = self.k
        if transposed:
            members, start, other = t.shape[1], c0, r0
            if t.shape[0] <= kk:
                c, r = np.nonzero(np.ones(t.shape, dtype=bool))
            else:
                # A transposed copy (always a copy: for one column t.T is already contiguous), then
                # partitioning its rows: 5x faster than partitioning t along axis 0.
                tt = t.T.copy(order="C")
                tt.partition(kk - 1, axis=1)
                thr = tt[:, kk - 1].copy()
                del tt
                c, r = np.nonzero(t <= thr[None, :])
            vals = t[c, r]
        else:
            members, start, other = t.shape[0], r0, c0
            if t.shape[1] <= kk:
                r, c = np.nonzero(np.ones(t.shape, dtype=bool))
            else:
                thr = np.partition(t, kk - 1, axis=1)[:, kk - 1]
                r, c = np.nonzero(t <= thr[:, None])
            vals = t[r, c]
        sl = slice(start, start + members)
        rows = np.concatenate([np.repeat(np.arange(members), kk), r])
        vals = np.concatenate([self.vals[sl].ravel(), vals])
        cols = np.concatenate([self.cols[sl].ravel(), c + other])
        _, vals, cols = _k_smallest_per_row(rows, vals, cols, kk)
        self.vals[sl] = vals.reshape(members, kk)
        self.cols[sl] = cols.reshape(members, kk)


def _knn_sq_radii(z: np.ndarray, ks: tuple[int, ...], plan: _Plan) -> tuple[dict[int, np.ndarray], int]:
    """Squared distance from each row of z to its k-th nearest other row, for each k in ks (float64).

    Returns ({k: (n,) array}, number of canonical distances computed).
    """
    n = z.shape[0]
    big_k = max(ks) + 1  # the (k+1)-th smallest distance counting the point itself (0)
    keep = min(n, big_k + _SLACK)
    centre = z.mean(axis=0, dtype=np.float64)
    norms = _centred_sq_norms(z, centre, plan)
    nd = norms.astype(plan.dtype)
    run = _Running(n, keep, plan.dtype)
    starts = list(range(0, n, plan.tile))
    for bi, r0 in enumerate(starts):
        r1 = min(r0 + plan.tile, n)
        a = _centred(z[r0:r1], centre, plan.dtype)
        for c0 in starts[bi:]:
            c1 = min(c0 + plan.tile, n)
            if c0 == r0:
                t = _sq_dist_tile(a, nd[r0:r1], a, nd[r0:r1])
                np.fill_diagonal(t, 0.0)
            else:
                t = _sq_dist_tile(a, nd[r0:r1], _centred(z[c0:c1], centre, plan.dtype), nd[c0:c1])
                run.update(t, r0, c0, transposed=True)
            run.update(t, r0, c0)
            del t

    # The canonical k-th distance differs from the tile one by at most beta, so with q = k + 1
    # (counting the point itself) and t_q the q-th smallest tile distance: points with tile distance
    # below t_q - 2 beta are surely nearer, those above t_q + 2 beta surely farther, and the radius
    # is the right order statistic of the canonical distances of the few points in between.
    beta = plan.tau * (norms + norms.max())
    radii: dict[int, np.ndarray] = {}
    checks = 0
    for k in ks:
        tq = run.vals[:, k].astype(np.float64)
        lo, hi = tq - 2 * beta, tq + 2 * beta
        below = (run.vals < lo[:, None]).sum(axis=1)
        resolved = (run.vals[:, -1] > hi) if keep < n else np.ones(n, dtype=bool)
        band = (run.vals >= lo[:, None]) & (run.vals <= hi[:, None]) & resolved[:, None]
        rows = np.nonzero(band)[0]
        cols = run.cols[band]
        found_rows, found_cols = [rows], [cols]
        # Points with more near-ties than were kept (duplicates): a second pass over their rows only.
        todo = np.flatnonzero(~resolved)
        for r_lo in range(0, len(todo), plan.tile):
            idx = todo[r_lo:r_lo + plan.tile]
            a = _centred(z[idx], centre, plan.dtype)
            for c0 in starts:
                t = _sq_dist_tile(a, nd[idx], _centred(z[c0:c0 + plan.tile], centre, plan.dtype),
                                  nd[c0:c0 + plan.tile])
                own = np.flatnonzero((idx >= c0) & (idx < c0 + t.shape[1]))
                t[own, idx[own] - c0] = 0.0  # the point itself, exactly 0 as in the first pass
                r, c = np.nonzero((t >= lo[idx][:, None]) & (t <= hi[idx][:, None]))
                found_rows.append(idx[r])
                found_cols.append(c + c0)
        rows, cols = np.concatenate(found_rows), np.concatenate(found_cols)
        exact = _exact_sq(z, rows, z, cols, plan.pair_chunk)
        checks += len(rows)
        radii[k] = _pick_rank(rows, exact, k - below, n)
    return radii, checks


def _pick_rank(rows: np.ndarray, vals: np.ndarray, rank: np.ndarray, n: int) -> np.ndarray:
    """For each row id 0..n-1, its value of 0-based rank `rank[row]` among its entries."""
    order = np.lexsort((vals, rows))
    rows, vals = rows[order], vals[order]
    first = np.searchsorted(rows, np.arange(n))
    pos = first + rank
    if (pos >= np.r_[first[1:], len(rows)]).any() or (rank < 0).any():  # pragma: no cover - a broken bound
        raise RuntimeError("k-NN refinement lost a neighbour; please report this with the features")
    return vals[pos]


class _Cross:
    """Accumulates the four indicators over tiles of real (rows) x fake (columns) distances."""

    def __init__(self, real: np.ndarray, fake: np.ndarray, r_pr: np.ndarray, r_dc: np.ndarray,
                 f_pr: np.ndarray, strict: bool, plan: _Plan) -> None:
        self.real, self.fake, self.plan = real, fake, plan
        self.r_pr, self.r_dc, self.f_pr = r_pr, r_dc, f_pr
        self.less = np.less if strict else np.less_equal
        self.prec = np.zeros(fake.shape[0], dtype=np.int64)
        self.dens = np.zeros(fake.shape[0], dtype=np.int64)
        self.rec = np.zeros(real.shape[0], dtype=bool)
        self.cov = np.zeros(real.shape[0], dtype=bool)
        self.checks = 0

    def _bounds(self, r2: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Thresholds in the tile dtype, rounded outwards: below lo is surely inside, above hi surely not."""
        dt = self.plan.dtype
        lo = np.nextafter((r2 - beta).astype(dt), dt.type(-np.inf))
        hi = np.nextafter((r2 + beta).astype(dt), dt.type(np.inf))
        return lo, hi

    def tile(self, t: np.ndarray, r0: int, c0: int, nr: np.ndarray, nf: np.ndarray) -> None:
        """Add tile `t` of real rows r0.. x fake columns c0.. (nr, nf: their squared centred norms)."""
        rs, cs = slice(r0, r0 + t.shape[0]), slice(c0, c0 + t.shape[1])
        beta_rows = self.plan.tau * (nr + nf.max())
        beta_cols = self.plan.tau * (nr.max() + nf)
        unsure = []
        for family, radii, beta, along_rows in (("pr", self.r_pr[rs], beta_rows, True),
                                                ("dc", self.r_dc[rs], beta_rows, True),
                                                ("rc", self.f_pr[cs], beta_cols, False)):
            lo, hi = self._bounds(radii, beta)
            lo, hi = (lo[:, None], hi[:, None]) if along_rows else (lo[None, :], hi[None, :])
            sure = t < lo
            if family == "pr":
                self.prec[cs] += sure.sum(axis=0)
            elif family == "dc":
                self.dens[cs] += sure.sum(axis=0)
                self.cov[rs] |= sure.any(axis=1)
            else:
                self.rec[rs] |= sure.any(axis=1)
            amb = t <= hi
            amb &= ~sure
            del sure
            unsure.append(np.flatnonzero(amb))
            del amb
        flat = np.unique(np.concatenate(unsure))
        if not len(flat):
            return
        in_pr, in_dc, in_rc = (np.isin(flat, u, assume_unique=True) for u in unsure)
        gi, gj = flat // t.shape[1] + r0, flat % t.shape[1] + c0
        d2 = _exact_sq(self.real, gi, self.fake, gj, self.plan.pair_chunk)
        self.checks += len(gi)
        hit = in_pr & self.less(d2, self.r_pr[gi])
        np.add.at(self.prec, gj[hit], 1)
        hit = in_dc & self.less(d2, self.r_dc[gi])
        np.add.at(self.dens, gj[hit], 1)
        self.cov[gi[hit]] = True
        hit = in_rc & self.less(d2, self.f_pr[gj])
        self.rec[gi[hit]] = True


def features_to_prdc(
    real: np.ndarray,
    fake: np.ndarray,
    *,
    pr_k: int = _DEFAULTS.pr_k,
    dc_k: int = _DEFAULTS.dc_k,
    strict: bool = _DEFAULTS.nn_strict,
    block_mib: float = _DEFAULTS.block_mib,
    dtype: Any = np.float32,
) -> PrdcValue:
    """Precision and recall (k = pr_k) and density and coverage (k = dc_k) of fake against real features.

    real: (N, d) and fake: (M, d) features (float32 or float64; never modified). strict: `<` (prdc)
    or `<=` (torch-fidelity). block_mib bounds the working memory of one tile of distances (with its
    temporaries); dtype is that of the tile GEMMs (np.float32 or np.float64), which changes speed only.
    Needs N > max(pr_k, dc_k) and M > pr_k.
    """
    real = _as_features(real, "real")
    fake = _as_features(fake, "fake")
    if real.shape[1] != fake.shape[1]:
        raise BadInputError(f"real and fake features differ in width: {real.shape[1]} vs {fake.shape[1]}")
    if pr_k < 1 or dc_k < 1:
        raise BadInputError(f"k must be at least 1, got pr_k={pr_k}, dc_k={dc_k}")
    if real.shape[0] <= max(pr_k, dc_k) or fake.shape[0] <= pr_k:
        raise BadInputError(
            f"precision/recall/density/coverage need more samples than k: {real.shape[0]} real and "
            f"{fake.shape[0]} fake for pr_k={pr_k}, dc_k={dc_k}"
        )
    if np.dtype(dtype) not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise BadInputError(f"dtype must be float32 or float64, got {np.dtype(dtype)}")
    if not block_mib > 0:
        raise BadInputError(f"block_mib must be positive, got {block_mib}")
    plan = _Plan(real.shape[1], np.dtype(dtype), block_mib)

    real_r, checks_r = _knn_sq_radii(real, (pr_k, dc_k), plan)
    fake_r, checks_f = _knn_sq_radii(fake, (pr_k,), plan)
    acc = _Cross(real, fake, real_r[pr_k], real_r[dc_k], fake_r[pr_k], strict, plan)
    n, m = real.shape[0], fake.shape[0]
    centre = (real.sum(axis=0, dtype=np.float64) + fake.sum(axis=0, dtype=np.float64)) / (n + m)
    nr = _centred_sq_norms(real, centre, plan)
    nf = _centred_sq_norms(fake, centre, plan)
    nr_d, nf_d = nr.astype(plan.dtype), nf.astype(plan.dtype)
    for r0 in range(0, n, plan.tile):
        r1 = min(r0 + plan.tile, n)
        a = _centred(real[r0:r1], centre, plan.dtype)
        for c0 in range(0, m, plan.tile):
            c1 = min(c0 + plan.tile, m)
            t = _sq_dist_tile(a, nr_d[r0:r1], _centred(fake[c0:c1], centre, plan.dtype), nf_d[c0:c1])
            acc.tile(t, r0, c0, nr[r0:r1], nf[c0:c1])
            del t

    return PrdcValue(
        precision=float((acc.prec > 0).mean()),
        recall=float(acc.rec.mean()),
        density=float((1.0 / dc_k) * acc.dens.mean()),  # prdc's expression, to the last bit
        coverage=float(acc.cov.mean()),
        precision_per_fake=acc.prec > 0,
        density_count_per_fake=acc.dens,
        recall_per_real=acc.rec,
        coverage_per_real=acc.cov,
        pr_k=pr_k,
        dc_k=dc_k,
        strict=strict,
        exact_checks=checks_r + checks_f + acc.checks,
    )
