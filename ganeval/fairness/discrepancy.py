"""Attribute-distribution discrepancy between a reference and a generated set (Choi et al. 2020).

Choi, Grover, Singh, Shu, Ermon. *Fair Generative Modeling via Weak Supervision.* ICML 2020: the
"fairness discrepancy" of a generator is the distance between a reference distribution p over the values
u of a sensitive attribute (uniform in their experiments: a balanced generator) and the generated one,
q(u) = E_{x ~ generator}[p(u | x)], read off an attribute classifier; with several binary attributes u
is their joint (2^k cells). Measures here, on probability vectors p (reference) and q (generated):

    L1 = sum_u |p(u) - q(u)|                (twice the total variation distance; 0..2)
    L2 = sqrt(sum_u (p(u) - q(u))^2)        (Choi et al.'s measure; 0..sqrt(2))
    KL = sum_u p'(u) log(p'(u) / q'(u))     (KL(reference || generated), nats)

KL is taken from the reference to the generated distribution: the expectation is under the reference,
so it grows without bound when the generator under-represents (or drops) a cell the reference holds,
the failure fairness audits look for. A dropped cell would make it infinite, so both vectors are
smoothed the same way before the logarithm, p' = (p + eps) / (1 + K eps) (eps = KL_EPS = 1e-6 by
default; eps = 0 gives the unsmoothed value, inf for a dropped cell). Identical distributions give
exactly 0; a reference cell of mass p that the generator drops adds about p log(p / eps) (13.8 p nats
at the default), so a large KL with a small L1 means a missing cell: the per-cell vectors say which.

Label arrays become distributions by counting (hard labels) or by averaging per-sample probabilities
(soft attribute scores, Choi et al.'s E[p(u | x)]); the prevalence table compares each binary
attribute's rate in the two sets.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ganeval.errors import BadInputError

KL_EPS = 1e-6
MAX_JOINT_ATTRIBUTES = 20  # 2^20 cells
_MAX_SOFT_ENTRIES = 2**25  # per-row cell probabilities kept for soft joint inputs (256 MiB of float64)


# ---------------------------------------------------------------------------------------------
# Measures on probability vectors


def _probability_vector(p: Any, what: str) -> np.ndarray:
    a = np.asarray(p, dtype=np.float64)
    if a.ndim != 1 or a.size == 0:
        raise BadInputError(f"{what} must be a non-empty 1-D probability vector, got shape {a.shape}")
    if not np.all(np.isfinite(a)) or np.any(a < 0):
        raise BadInputError(f"{what} must hold finite probabilities >= 0")
    total = a.sum()
    if abs(total - 1.0) > 1e-6:
        raise BadInputError(f"{what} must sum to 1, sums to {total:.6g}")
    return a / total


def _pair(reference: Any, generated: Any) -> tuple[np.ndarray, np.ndarray]:
    q = _probability_vector(generated, "the generated distribution")
    p = (np.full(q.size, 1.0 / q.size) if reference is None
         else _probability_vector(reference, "the reference distribution"))
    if p.size != q.size:
        raise BadInputError(f"the reference distribution has {p.size} cells but the generated one {q.size}")
    return p, q


def l1_distance(reference: Any, generated: Any) -> float:
    """sum |p - q| of two probability vectors (K,) (reference None: uniform); 0 to 2."""
    p, q = _pair(reference, generated)
    return float(np.abs(p - q).sum())


def l2_distance(reference: Any, generated: Any) -> float:
    """Euclidean norm |p - q| of probability vectors (K,) (reference None: uniform); Choi et al.'s measure."""
    p, q = _pair(reference, generated)
    return float(np.sqrt(np.square(p - q).sum()))


def kl_divergence(reference: Any, generated: Any, *, eps: float = KL_EPS) -> float:
    """KL(reference || generated) in nats of probability vectors (K,), both smoothed to (p + eps) / (1 + K eps).

    reference None: uniform. eps = 0: no smoothing (inf when the generated vector drops a reference cell).
    """
    if not eps >= 0:
        raise BadInputError(f"the KL smoothing eps must be >= 0, got {eps}")
    p, q = _pair(reference, generated)
    k = p.size
    ps, qs = (p + eps) / (1 + k * eps), (q + eps) / (1 + k * eps)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(ps > 0, ps * np.log(ps / qs), 0.0)
    return float(terms.sum())


@dataclass(frozen=True, eq=False)
class Discrepancy:
    """Discrepancy between a reference and a generated distribution over `cells`.

    cells:     the attribute values (or tuples of 0/1, one per attribute, for a joint distribution).
    reference, generated: (K,) float64 probabilities in cell order (reference uniform when none was given).
    l1, l2, kl: the measures of the module docstring; kl = KL(reference || generated) with kl_eps.
    """

    cells: tuple[Any, ...]
    reference: np.ndarray
    generated: np.ndarray
    l1: float
    l2: float
    kl: float
    kl_eps: float
    uniform_reference: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (cells as lists of values)."""
        return {"cells": [list(c) if isinstance(c, tuple) else c for c in self.cells],
                "reference": self.reference.tolist(), "generated": self.generated.tolist(),
                "l1": self.l1, "l2": self.l2, "kl": self.kl, "kl_eps": self.kl_eps,
                "uniform_reference": self.uniform_reference}


def distribution_discrepancy(generated: Any, reference: Any = None, *, cells: Sequence[Any] | None = None,
                             kl_eps: float = KL_EPS) -> Discrepancy:
    """L1, L2 and KL between probability vectors generated (K,) and reference (K,) (None: uniform over K)."""
    p, q = _pair(reference, generated)
    if cells is None:
        cells = tuple(range(q.size))
    elif len(cells) != q.size:
        raise BadInputError(f"{len(cells)} cell names for {q.size} probabilities")
    return Discrepancy(tuple(cells), p, q, l1_distance(p, q), l2_distance(p, q),
                       kl_divergence(p, q, eps=kl_eps), float(kl_eps), reference is None)


# ---------------------------------------------------------------------------------------------
# Label arrays -> cells -> distributions


@dataclass(frozen=True, eq=False)
class CellRows:
    """Each row's cell: `codes` (N,) int64 into the cells, or for soft inputs `soft` (N, K) probabilities."""

    n_cells: int
    codes: np.ndarray | None = None
    soft: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.codes) if self.codes is not None else len(self.soft)

    def distribution(self, rows: np.ndarray | None = None) -> np.ndarray:
        """(K,) cell frequencies of the rows `rows` (indices, repeats allowed; None: all rows)."""
        if self.codes is not None:
            c = self.codes if rows is None else self.codes[rows]
            return np.bincount(c, minlength=self.n_cells) / len(c)
        s = self.soft if rows is None else self.soft[rows]
        return s.mean(axis=0)


def _missing(values: list[Any], what: str) -> None:
    for v in values:
        if v is None or (isinstance(v, float) and v != v):
            raise BadInputError(f"{what} contains missing values (None or NaN)")


def _categorical_rows(labels: np.ndarray, cells: tuple[Any, ...]) -> CellRows:
    index = {v: j for j, v in enumerate(cells)}
    vals = [v.item() if isinstance(v, np.generic) else v for v in labels]
    return CellRows(len(cells), codes=np.fromiter((index[v] for v in vals), dtype=np.int64, count=len(vals)))


def _attribute_matrix(x: Any, what: str) -> np.ndarray:
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise BadInputError(f"{what} must hold 0/1 labels or probabilities in [0, 1]") from None
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise BadInputError(f"{what} must be (N, k) attributes with N, k >= 1, got shape {a.shape}")
    if not np.all(np.isfinite(a)) or np.any(a < 0) or np.any(a > 1):
        raise BadInputError(f"{what} must hold 0/1 labels or probabilities in [0, 1]")
    return a


def _joint_rows(a: np.ndarray, what: str) -> CellRows:
    n, k = a.shape
    if k > MAX_JOINT_ATTRIBUTES:
        raise BadInputError(f"{what}: a joint distribution of {k} attributes has 2^{k} cells; "
                            f"use at most {MAX_JOINT_ATTRIBUTES}")
    if np.all((a == 0) | (a == 1)):
        codes = (a.astype(np.int64) << np.arange(k - 1, -1, -1, dtype=np.int64)).sum(axis=1)
        return CellRows(2**k, codes=codes)
    if n * 2**k > _MAX_SOFT_ENTRIES:
        raise BadInputError(f"{what}: soft scores of {k} attributes for {n} rows need {n * 2**k} cell "
                            "probabilities; threshold them to 0/1 labels or use fewer attributes")
    m = np.ones((n, 1))
    for j in range(k):  # the first attribute is the most significant bit, as in itertools.product
        m = (m[:, :, None] * np.stack([1 - a[:, j], a[:, j]], axis=1)[:, None, :]).reshape(n, -1)
    return CellRows(2**k, soft=m)


def cell_rows(generated: Any, reference: Any = None, *,
              values: Sequence[Any] | None = None) -> tuple[tuple[Any, ...], CellRows, CellRows | None]:
    """The cells and each set's rows in them, so that distributions (and resamples) are bincounts.

    1-D labels: one categorical attribute; cells are the sorted values found in either set plus
    `values` (list every possible value there, or a value neither set holds is not a cell at all);
    labels that are all 0/1 (or bool) get cells (0, 1) even when one value is absent.
    (N, k) arrays: k binary attributes, 0/1 labels or per-attribute probabilities; cells are the 2^k
    tuples (b_1, ..., b_k) in itertools.product order. Soft rows spread over the cells as independent
    Bernoullis, so the distribution is Choi et al.'s E[p(u | x)] for a factorised classifier.
    """
    g = np.asarray(generated)
    if g.ndim == 1:
        arrays = [("the generated labels", g)]
        if reference is not None:
            r = np.asarray(reference)
            if r.ndim != 1:
                raise BadInputError("the reference labels must be 1-D like the generated ones, "
                                    f"got shape {r.shape}")
            arrays.append(("the reference labels", r))
        found: set[Any] = set()
        for what, a in arrays:
            if a.size == 0:
                raise BadInputError(f"{what} are empty")
            vals = [v.item() if isinstance(v, np.generic) else v for v in a]
            _missing(vals, what)
            found.update(vals)
        if values is not None:
            found.update(values)
        elif found <= {0, 1}:
            found.update((0, 1))
        try:
            cells = tuple(sorted(found))
        except TypeError:
            raise BadInputError("attribute values mix types that cannot be ordered "
                                "(e.g. strings and numbers)") from None
        rows = [_categorical_rows(a, cells) for _, a in arrays]
        return cells, rows[0], rows[1] if reference is not None else None
    if values is not None:
        raise BadInputError("values lists the categories of 1-D labels; (N, k) binary attributes have "
                            "the cells {0, 1}^k")
    ga = _attribute_matrix(generated, "the generated attributes")
    k = ga.shape[1]
    cells = tuple(itertools.product((0, 1), repeat=k))
    ref_rows = None
    if reference is not None:
        ra = _attribute_matrix(reference, "the reference attributes")
        if ra.shape[1] != k:
            raise BadInputError(f"the reference has {ra.shape[1]} attributes but the generated set {k}")
        ref_rows = _joint_rows(ra, "the reference attributes")
    return cells, _joint_rows(ga, "the generated attributes"), ref_rows


def label_distribution(labels: Any, *,
                       values: Sequence[Any] | None = None) -> tuple[tuple[Any, ...], np.ndarray]:
    """(cells, (K,) frequencies) of 1-D categorical labels, or of the joint of (N, k) binary attributes."""
    cells, rows, _ = cell_rows(labels, values=values)
    return cells, rows.distribution()


def labels_discrepancy(generated: Any, reference: Any = None, *, values: Sequence[Any] | None = None,
                       kl_eps: float = KL_EPS) -> Discrepancy:
    """Discrepancy between the attribute distributions of two label arrays (see cell_rows for the forms).

    reference None compares with the uniform distribution over the cells (Choi et al.'s balanced target).
    """
    cells, g, r = cell_rows(generated, reference, values=values)
    return distribution_discrepancy(g.distribution(), None if r is None else r.distribution(),
                                    cells=cells, kl_eps=kl_eps)


# ---------------------------------------------------------------------------------------------
# Per-attribute prevalence


@dataclass(frozen=True)
class Prevalence:
    """One binary attribute in both sets: its rate in each and generated - reference (> 0: over-represented).

    reference is 0.5 (a balanced target) when no reference set was given.
    """

    attribute: str
    reference: float
    generated: float
    difference: float
    n_reference: int | None
    n_generated: int


def _names(names: Sequence[str] | None, k: int) -> list[str]:
    if names is None:
        return [f"attribute_{j}" for j in range(k)]
    names = list(names)
    if len(names) != k:
        raise BadInputError(f"{len(names)} attribute names for {k} attributes")
    return names


def prevalence_table(generated: Any, reference: Any = None, *,
                     names: Sequence[str] | None = None) -> list[Prevalence]:
    """Per-attribute rates of (N, k) 0/1 labels or probabilities in each set, and their difference."""
    g = _attribute_matrix(generated, "the generated attributes")
    r = None if reference is None else _attribute_matrix(reference, "the reference attributes")
    if r is not None and r.shape[1] != g.shape[1]:
        raise BadInputError(f"the reference has {r.shape[1]} attributes but the generated set {g.shape[1]}")
    gp = g.mean(axis=0)
    rp = np.full(g.shape[1], 0.5) if r is None else r.mean(axis=0)
    return [Prevalence(name, float(rp[j]), float(gp[j]), float(gp[j] - rp[j]),
                       None if r is None else len(r), len(g))
            for j, name in enumerate(_names(names, g.shape[1]))]
