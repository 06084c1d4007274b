"""Time ganeval's Frechet distance against pytorch-fid's calculate_frechet_distance.

Both get the same well-conditioned statistics: mean and covariance of `--samples` seeded Gaussian
samples mixed by a random matrix, at `--dim` dimensions (2048, Inception pool3, by default). Prints
one JSON line: both times (the best of `--repeat` runs, and the medians), their ratio, both values
and their relative difference, and ganeval's route. With all diagnostics (one more symmetric
eigenvalue problem, for the spectrum of sigma1) the time is `ganeval_full_spectrum_s`; `ganeval_s` is the
registry's default (diagnostics="fast": O(d^2) facts from the Cholesky factor); `ganeval_value_only_s` is
stats_to_fid(..., diagnostics=False), as the bootstrap calls it.

    python benchmarks/bench_frechet.py [--dim 2048] [--samples 4096] [--repeat 5] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def make_stats(rng: np.random.Generator, n: int, d: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of n samples of x = z @ (I + scale * G / sqrt(d)) + offset, z ~ N(0, I)."""
    mix = np.eye(d) + scale * rng.standard_normal((d, d)) / np.sqrt(d)
    x = rng.standard_normal((n, d)) @ mix + rng.standard_normal(d) * 0.1
    return x.mean(axis=0), np.cov(x, rowvar=False)


def timed(fn, repeat: int) -> tuple[list[float], object]:
    """All run times and the last result. The best of several runs is the number to compare on a shared
    machine: with other processes busy, a multi-threaded BLAS call can stall for seconds at a barrier."""
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return times, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--samples", type=int, default=4096)
    ap.add_argument("--repeat", type=int, default=5, help="runs of ganeval; pytorch-fid runs min(2, repeat)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from pytorch_fid.fid_score import calculate_frechet_distance

    from ganeval.metrics.fid import stats_to_fid

    rng = np.random.default_rng(args.seed)
    mu1, s1 = make_stats(rng, args.samples, args.dim, 0.5)
    mu2, s2 = make_stats(rng, args.samples, args.dim, 0.6)

    fast, ours = timed(lambda: stats_to_fid(mu1, s1, mu2, s2, diagnostics="fast"), args.repeat)
    full, _ = timed(lambda: stats_to_fid(mu1, s1, mu2, s2), args.repeat)
    value, _ = timed(lambda: stats_to_fid(mu1, s1, mu2, s2, diagnostics=False), args.repeat)
    peer_times, peer = timed(lambda: float(calculate_frechet_distance(mu1, s1, mu2, s2)), min(2, args.repeat))
    t_fast, t_full, t_value, t_peer = min(fast), min(full), min(value), min(peer_times)
    print(json.dumps({
        "benchmark": "frechet_distance",
        "dim": args.dim,
        "samples": args.samples,
        "ganeval_s": round(t_fast, 4),  # the registry's default: value + fast diagnostics
        "ganeval_full_spectrum_s": round(t_full, 4),
        "ganeval_value_only_s": round(t_value, 4),
        "pytorch_fid_s": round(t_peer, 4),
        "speedup": round(t_peer / t_fast, 2),
        "speedup_full_spectrum": round(t_peer / t_full, 2),
        "speedup_value_only": round(t_peer / t_value, 2),
        "ganeval_median_s": round(float(np.median(fast)), 4),
        "pytorch_fid_median_s": round(float(np.median(peer_times)), 4),
        "ganeval_fid": ours.value,
        "pytorch_fid_fid": peer,
        "relative_difference": abs(ours.value - peer) / abs(peer),
        "route": ours.diagnostics["route"],
    }))


if __name__ == "__main__":
    main()
