"""Time and peak memory of ganeval's precision/recall/density/coverage against prdc.compute_prdc.

Each implementation runs in its own subprocess on the same seeded features (N real and N fake,
2048-d, a Gaussian mixture pushed through a shared random linear map and a ReLU, like pooled CNN
features), so that peak memory is the process's own: VmHWM from /proc/self/status, which sees BLAS
and OpenMP buffers that tracemalloc cannot. prdc uses one k for all four values, so it runs twice
(k=3 for precision/recall, k=5 for density/coverage); its time and peak are the sum and the max of the two.
Prints one JSON line per implementation and a summary line with the ratios.

    python benchmarks/bench_prdc.py --n 10000          # full size: minutes, several GB for prdc
    python benchmarks/bench_prdc.py --n 2000           # a quick check
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import subprocess
import sys
import time

import numpy as np


def features(n: int, d: int, seed: int, shift: float) -> np.ndarray:
    """(n, d) float32: 20 clusters in a 64-d latent space, a fixed random map to d dims, ReLU.

    Built in chunks so that the generator itself does not set the memory high-water mark.
    """
    base = np.random.default_rng(1234)
    centres = base.standard_normal((20, 64)).astype(np.float32) * 2.0
    mix = (base.standard_normal((64, d)) / 8.0).astype(np.float32)
    rng = np.random.default_rng(seed)
    out = np.empty((n, d), dtype=np.float32)
    for lo in range(0, n, 1000):
        m = min(1000, n - lo)
        z = centres[rng.integers(0, 20, m)] + rng.standard_normal((m, 64), dtype=np.float32) + shift
        out[lo:lo + m] = np.maximum(z @ mix + 0.3 * rng.standard_normal((m, d), dtype=np.float32), 0.0)
    return out


def vm_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def worker(args: argparse.Namespace) -> None:
    if args.worker == "ganeval":
        from ganeval.metrics.prdc import features_to_prdc
    else:
        import prdc  # noqa: F401  (imported before the baseline is read)
    real = features(args.n, args.dim, args.seed, 0.0)
    fake = features(args.n, args.dim, args.seed + 1, 0.15)
    baseline = vm_kib("VmRSS")
    t0 = time.perf_counter()
    if args.worker == "ganeval":
        v = features_to_prdc(real, fake, block_mib=args.block_mib)
        vals = {"precision": v.precision, "recall": v.recall, "density": v.density, "coverage": v.coverage}
    else:
        with contextlib.redirect_stdout(io.StringIO()):
            a = prdc.compute_prdc(real, fake, 3)
            b = prdc.compute_prdc(real, fake, 5)
        vals = {"precision": float(a["precision"]), "recall": float(a["recall"]),
                "density": float(b["density"]), "coverage": float(b["coverage"])}
    seconds = time.perf_counter() - t0
    print(json.dumps({"impl": args.worker, "n": args.n, "dim": args.dim, "seconds": round(seconds, 2),
                      "peak_rss_mib": round(vm_kib("VmHWM") / 1024, 1),
                      "baseline_rss_mib": round(baseline / 1024, 1), **vals}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10000, help="samples per set")
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--block-mib", type=float, default=256.0, help="ganeval's block budget (MetricConfig default)")
    ap.add_argument("--only", choices=["ganeval", "prdc"], help="run one implementation")
    ap.add_argument("--worker", choices=["ganeval", "prdc"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    rows = {}
    for impl in [args.only] if args.only else ["ganeval", "prdc"]:
        cmd = [sys.executable, __file__, "--worker", impl, "--n", str(args.n), "--dim", str(args.dim),
               "--seed", str(args.seed), "--block-mib", str(args.block_mib)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        print(out, flush=True)
        rows[impl] = json.loads(out)
    if len(rows) == 2:
        g, p = rows["ganeval"], rows["prdc"]
        names = ("precision", "recall", "density", "coverage")
        print(json.dumps({
            "benchmark": "prdc", "n": args.n, "dim": args.dim,
            "speedup": round(p["seconds"] / g["seconds"], 2),
            "peak_memory_ratio": round(g["peak_rss_mib"] / p["peak_rss_mib"], 3),
            "extra_memory_ratio": round((g["peak_rss_mib"] - g["baseline_rss_mib"])
                                        / (p["peak_rss_mib"] - p["baseline_rss_mib"]), 3),
            "max_abs_difference": max(abs(g[k] - p[k]) for k in names),
        }))


if __name__ == "__main__":
    main()
