"""End-to-end FID, N vs N PNGs, ganeval vs pytorch-fid, same images, same weights, one run.

Also times a cached re-run of ganeval against its first run. The real FID Inception weights cannot be
downloaded here, so both libraries load the same seeded stand-in weights (tests/inception_weights.py);
speed does not depend on the weight values. Prints one JSON line per measurement.

    python benchmarks/bench_e2e_fid.py --n 2000
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from inception_weights import inception_state_dict  # noqa: E402

from ganeval.cache import StatsCache  # noqa: E402
from ganeval.config import EvalConfig  # noqa: E402
from ganeval.datasets.fashion_mnist import load_fashion_mnist  # noqa: E402
from ganeval.evaluate import evaluate  # noqa: E402
from ganeval.extractors import ExtractorEntry, register_extractor  # noqa: E402
from ganeval.extractors.inception import InceptionExtractor  # noqa: E402


def write_pngs(images: np.ndarray, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, im in enumerate(images):
        Image.fromarray(im).save(folder / f"{i:05d}.png")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="images per set")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--skip-peer", action="store_true", help="time ganeval only")
    args = parser.parse_args()

    train, _ = load_fashion_mnist("train")
    test, _ = load_fashion_mnist("test")
    sd = inception_state_dict()
    register_extractor(ExtractorEntry(
        name="inception-standin", description="FID Inception with the seeded stand-in weights",
        build=lambda options, arg: InceptionExtractor.from_state_dict(sd, "standin"), offline=True))

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        real = write_pngs(train[: args.n], tmp / "real")
        fake = write_pngs(test[: args.n], tmp / "fake")
        common = {"n_per_set": args.n, "images": "Fashion-MNIST 28x28 PNG", "threads": torch.get_num_threads()}

        peer_s = peer_fid = None
        if not args.skip_peer:
            import pytorch_fid.fid_score as pf
            import pytorch_fid.inception as pfi

            with mock.patch.object(pfi, "load_state_dict_from_url", lambda *a, **k: sd):
                t0 = time.perf_counter()
                peer_fid = pf.calculate_fid_given_paths([str(real), str(fake)], args.batch_size, "cpu", 2048,
                                                        num_workers=min(2, torch.get_num_threads()))
                peer_s = time.perf_counter() - t0
            print(json.dumps(dict(common, bench="e2e_fid", impl="pytorch-fid", seconds=round(peer_s, 2),
                                  images_per_s=round(2 * args.n / peer_s, 2), fid=peer_fid)), flush=True)

        cache = StatsCache(tmp / "cache")
        cfg = EvalConfig(extractor="inception-standin", protocol="pytorch-fid", batch_size=args.batch_size)
        t0 = time.perf_counter()
        first = evaluate(real, fake, cfg, cache=cache)
        first_s = time.perf_counter() - t0
        fid = first.get("fid").value
        row = dict(common, bench="e2e_fid", impl="ganeval", seconds=round(first_s, 2),
                   images_per_s=round(2 * args.n / first_s, 2), fid=fid)
        if peer_s:
            row.update(speedup_vs_pytorch_fid=round(peer_s / first_s, 2),
                       fid_rel_diff=abs(fid - peer_fid) / abs(peer_fid))
        print(json.dumps(row), flush=True)

        t0 = time.perf_counter()
        second = evaluate(real, fake, cfg, cache=cache)
        cached_s = time.perf_counter() - t0
        assert all(i["cached"] for i in second.provenance["inputs"].values())
        print(json.dumps(dict(common, bench="cached_rerun", impl="ganeval", seconds=round(cached_s, 3),
                              first_run_s=round(first_s, 2), speedup=round(first_s / cached_s, 1),
                              same_value=second.get("fid").value == fid)), flush=True)


if __name__ == "__main__":
    main()
