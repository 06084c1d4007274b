"""Inception Score (Salimans et al. 2016): logits_to_inception_score.

IS = exp(E_x KL(p(y|x) || p(y))), computed on each of `splits` consecutive chunks of the (optionally
shuffled) samples, with p(y) the mean of p(y|x) over the chunk; the result is the mean and the standard
deviation (np.std, ddof 0) of the per-chunk scores. The protocol is torch-fidelity's: a permutation
from np.random.RandomState(seed) when shuffling, chunk i = samples [i*N//splits, (i+1)*N//splits),
softmax in float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ganeval.config import MetricConfig
from ganeval.errors import BadInputError

_DEFAULTS = MetricConfig()


@dataclass(frozen=True)
class IsValue:
    """Mean and standard deviation of the Inception Score over the splits."""

    mean: float
    std: float


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def logits_to_inception_score(
    logits: np.ndarray,
    *,
    splits: int = _DEFAULTS.is_splits,
    shuffle: bool = _DEFAULTS.is_shuffle,
    seed: int = _DEFAULTS.seed,
) -> IsValue:
    """Inception Score of classifier logits (N, C) (the un-normalised log-probabilities of C classes).

    Needs N >= splits so that no split is empty. Same logits + same seed give the same number.
    """
    if hasattr(logits, "detach"):
        logits = logits.detach().cpu().numpy()
    x = np.asarray(logits, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 2:
        raise BadInputError(f"Inception Score needs (N, C) logits with C >= 2 classes, got shape {x.shape}")
    n = x.shape[0]
    if splits < 1 or n < splits:
        raise BadInputError(f"Inception Score needs at least one sample per split: {n} samples, {splits} splits")
    if not np.isfinite(x).all():
        raise BadInputError("the logits contain NaN or infinite values")
    if shuffle:
        x = x[np.random.RandomState(seed).permutation(n)]
    log_p = _log_softmax(x)
    p = np.exp(log_p)
    scores = np.empty(splits, dtype=np.float64)
    for i in range(splits):
        lo, hi = i * n // splits, (i + 1) * n // splits
        chunk = p[lo:hi]
        with np.errstate(divide="ignore", invalid="ignore"):
            term = chunk * (log_p[lo:hi] - np.log(chunk.mean(axis=0)))
        term[chunk == 0] = 0.0  # 0 log 0 = 0: a class whose probability underflowed everywhere
        kl = term.sum(axis=1).mean()
        scores[i] = np.exp(kl)
    return IsValue(mean=float(scores.mean()), std=float(scores.std()))
