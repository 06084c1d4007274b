"""Frechet distance between Gaussians fitted to two feature sets (Heusel et al. 2017): stats_to_fid.

    FID = ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1^1/2 S2 S1^1/2)^1/2)

The last trace is the sum of the square roots of the eigenvalues of S1^1/2 S2 S1^1/2. Any matrix
similar to it has the same eigenvalues, so with S1 = L L^T (Cholesky) we take the eigenvalues of the
symmetric L^T S2 L; when S1 is not positive definite, of S2 (R^T S1 R); when neither is, the
eigendecomposition S1 = V diag(w) V^T gives A = V diag(sqrt(w)) and A^T S2 A. Each route needs one
symmetric eigenvalue problem in float64 and no complex arithmetic, unlike scipy.linalg.sqrtm on the
non-symmetric S1 S2 (pytorch-fid). Rounding can make tiny eigenvalues negative; they are clipped to
0 for the square root and counted in the diagnostics, never dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ganeval.errors import BadInputError

ROUTES = ("auto", "cholesky", "eigh")


@dataclass(frozen=True)
class FidValue:
    """A Frechet distance and the numerical facts behind it (JSON-serialisable `diagnostics`)."""

    value: float
    diagnostics: dict[str, Any] = field(default_factory=dict)


def _check(mu1: Any, sigma1: Any, mu2: Any, sigma2: Any) -> tuple[np.ndarray, ...]:
    mu1, mu2 = (np.atleast_1d(np.asarray(m, dtype=np.float64)) for m in (mu1, mu2))
    sigma1, sigma2 = (np.atleast_2d(np.asarray(s, dtype=np.float64)) for s in (sigma1, sigma2))
    d = mu1.shape[0]
    if mu1.ndim != 1 or mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise BadInputError(
            f"cannot compare statistics of different shapes: mean {mu1.shape} and covariance {sigma1.shape} "
            f"vs mean {mu2.shape} and covariance {sigma2.shape}"
        )
    for name, arr in (("first mean", mu1), ("first covariance", sigma1),
                      ("second mean", mu2), ("second covariance", sigma2)):
        if not np.isfinite(arr).all():
            raise BadInputError(f"the {name} contains NaN or infinite values")
    # Saved covariances may be symmetric only up to rounding; the eigensolvers read one triangle.
    return mu1, (sigma1 + sigma1.T) / 2, mu2, (sigma2 + sigma2.T) / 2


def _negatives(w: np.ndarray, prefix: str) -> dict[str, Any]:
    """Count and size of the negative entries of an eigenvalue vector `w` (ascending)."""
    neg = w[w < 0]
    top = float(w[-1]) if w.size else 0.0
    most = float(neg.min()) if neg.size else 0.0
    return {
        f"{prefix}_negative_eigenvalues": int(neg.size),
        f"{prefix}_most_negative_eigenvalue": most,
        f"{prefix}_most_negative_relative": (most / top) if top > 0 else (0.0 if not neg.size else None),
    }


def _spectrum(w: np.ndarray, prefix: str) -> dict[str, Any]:
    """Negative eigenvalues and condition number of a symmetric matrix with eigenvalues `w` (ascending)."""
    out = _negatives(w, prefix)
    lo, hi = float(w[0]), float(w[-1])
    out[f"{prefix}_min_eigenvalue"] = lo
    out[f"{prefix}_max_eigenvalue"] = hi
    # None when the matrix is singular (or indefinite): the condition number is infinite.
    out[f"{prefix}_condition"] = hi / lo if lo > 0 else None
    return out


def _cholesky_facts(a: np.ndarray, low: np.ndarray, prefix: str) -> dict[str, Any]:
    """What a Cholesky factor L of `a` proves in O(d^2): `a` is positive definite, and (LAPACK dpocon)
    an estimate of its 1-norm condition number ||a||_1 ||a^-1||_1, within a factor of d of the 2-norm one."""
    from scipy.linalg import lapack

    rcond, info = lapack.dpocon(low, float(np.abs(a).sum(axis=0).max()), uplo="L")
    return {
        f"{prefix}_positive_definite": True,
        f"{prefix}_negative_eigenvalues": 0,
        f"{prefix}_condition_1norm_estimate": (1.0 / rcond) if info == 0 and rcond > 0 else None,
    }


def _sym(m: np.ndarray) -> np.ndarray:
    return (m + m.T) / 2


def stats_to_fid(
    mu1: np.ndarray,
    sigma1: np.ndarray,
    mu2: np.ndarray,
    sigma2: np.ndarray,
    *,
    n1: int | None = None,
    n2: int | None = None,
    diagnostics: bool = True,
    route: str = "auto",
) -> FidValue:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64.

    mu1, mu2: (d,) means; sigma1, sigma2: (d, d) covariances (symmetric positive semi-definite).
    n1, n2: the sample counts behind the statistics, when known: a covariance of N samples has rank
        at most N - 1, so N <= d makes it singular; the diagnostics then say so.
    diagnostics: True: also compute the spectrum of sigma1 (its negative eigenvalues and 2-norm condition
        number), one more symmetric eigenvalue problem on the Cholesky route. "fast": when sigma1's
        Cholesky factor exists it proves sigma1 positive definite (no negative eigenvalues), and LAPACK's
        dpocon estimates its 1-norm condition number from the factor in O(d^2); otherwise as True.
        False: neither (the bootstrap's replicates).
    route: "auto" (Cholesky of sigma1, else of sigma2, else eigendecomposition), "cholesky" (the same
        without the final fallback: raises BadInputError when neither covariance is positive definite)
        or "eigh" (eigendecomposition of sigma1 always).

    Returns a FidValue whose `diagnostics` give the route taken, the split of the value into the mean
    term ||mu1 - mu2||^2 and the covariance term, and the negative eigenvalues of the inner PSD
    product (count, most negative, most negative relative to the largest) that were clipped to 0.
    """
    if route not in ROUTES:
        raise BadInputError(f"unknown FID route {route!r}; choose one of: {', '.join(ROUTES)}")
    mu1, sigma1, mu2, sigma2 = _check(mu1, sigma1, mu2, sigma2)
    d = mu1.shape[0]
    diff = mu1 - mu2
    mean_term = float(diff @ diff)
    diag: dict[str, Any] = {"dim": d}
    for name, n in (("sigma1", n1), ("sigma2", n2)):
        if n is not None:
            diag[f"{name}_n"] = int(n)
            diag[f"{name}_rank_deficient"] = bool(n - 1 < d)  # rank(cov of N samples) <= N - 1

    inner: np.ndarray | None = None
    w1: np.ndarray | None = None
    low1: np.ndarray | None = None
    if route in ("auto", "cholesky"):
        for which, a, b in (("cholesky-sigma1", sigma1, sigma2), ("cholesky-sigma2", sigma2, sigma1)):
            try:
                low = np.linalg.cholesky(a)
            except np.linalg.LinAlgError:
                continue
            inner = low.T @ (b @ low)  # similar to a @ b, hence to S1^1/2 S2 S1^1/2
            diag["route"] = which
            if which == "cholesky-sigma1":
                low1 = low
            break
        if inner is None and route == "cholesky":
            raise BadInputError("neither covariance is positive definite; use the eigh route for FID")
    if inner is None:
        w1, v1 = np.linalg.eigh(sigma1)
        half = v1 * np.sqrt(np.clip(w1, 0.0, None))  # V diag(sqrt(w)): S1^1/2 = half @ V^T
        inner = half.T @ (sigma2 @ half)
        diag["route"] = "eigh"

    w = np.linalg.eigvalsh(_sym(inner))
    diag.update(_negatives(w, "product"))
    tr_sqrt = float(np.sqrt(np.clip(w, 0.0, None)).sum())
    cov_term = float(np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_sqrt)
    diag["mean_term"] = mean_term
    diag["covariance_term"] = cov_term
    diag["trace_sqrt_product"] = tr_sqrt
    if diagnostics == "fast" and w1 is None and low1 is not None:
        diag.update(_cholesky_facts(sigma1, low1, "sigma1"))
    elif diagnostics:
        if w1 is None:
            w1 = np.linalg.eigvalsh(sigma1)
        diag.update(_spectrum(w1, "sigma1"))
    elif w1 is not None:
        diag.update(_negatives(w1, "sigma1"))
    return FidValue(value=mean_term + cov_term, diagnostics=diag)
