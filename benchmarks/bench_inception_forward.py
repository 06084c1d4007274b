"""Forward throughput of ganeval's FID Inception vs pytorch-fid's InceptionV3, same weights and threads.

    .venv/bin/python benchmarks/bench_inception_forward.py [--batch 50] [--reps 3] [--threads N]

Both networks get the same seeded random state dict (the real weights are not needed for timing)
and the same seeded 299x299 batch, so neither resizes. Timings alternate between the two after one
warm-up batch each; the median over repetitions is reported, as wall-clock images/s and as images
per CPU-second (steadier when other processes share the CPU). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from ganeval.extractors.inception import FIDInceptionV3, InceptionExtractor


def random_state_dict(seed: int) -> dict[str, torch.Tensor]:
    """FID Inception state dict with seeded He-scaled convolutions and neutral BatchNorm statistics."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for key, ref in FIDInceptionV3().state_dict().items():
        if key.endswith("conv.weight"):
            out[key] = torch.randn(ref.shape, generator=g) * (2.0 / ref[0].numel()) ** 0.5
        elif key.endswith("bn.running_var") or key.endswith("bn.weight"):
            out[key] = 0.75 + 0.5 * torch.rand(ref.shape, generator=g)
        elif key.endswith("num_batches_tracked"):
            out[key] = ref.clone()
        else:  # bn.bias, bn.running_mean, fc.weight, fc.bias
            out[key] = 0.1 * torch.randn(ref.shape, generator=g)
    return out


def pytorch_fid_model(state_dict: dict[str, torch.Tensor]) -> torch.nn.Module:
    from pytorch_fid import inception as pf

    original = pf.load_state_dict_from_url
    pf.load_state_dict_from_url = lambda *args, **kwargs: state_dict
    try:
        return pf.InceptionV3([3]).eval()
    finally:
        pf.load_state_dict_from_url = original


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    state_dict = random_state_dict(args.seed)
    ours = InceptionExtractor.from_state_dict(state_dict, weights_sha256="random")
    peer = pytorch_fid_model(state_dict)
    g = torch.Generator().manual_seed(args.seed + 1)
    x01 = torch.rand(args.batch, 3, 299, 299, generator=g)  # pytorch-fid's input range [0, 1]
    x_signed = x01 * 2 - 1  # what pytorch-fid feeds its first conv, and what ganeval's protocols give

    def run_ours() -> torch.Tensor:
        return ours(x_signed)["pool"]

    def run_peer() -> torch.Tensor:
        with torch.no_grad():  # as pytorch-fid's get_activations calls it
            return peer(x01)[0].flatten(1)

    times: dict[str, list[tuple[float, float]]] = {"ganeval": [], "pytorch_fid": []}
    outputs = {"ganeval": run_ours(), "pytorch_fid": run_peer()}  # warm-up
    for _ in range(args.reps):
        for name, fn in (("ganeval", run_ours), ("pytorch_fid", run_peer)):
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            times[name].append((time.perf_counter() - wall, time.process_time() - cpu))

    def rate(name: str, which: int) -> float:
        return args.batch / statistics.median(t[which] for t in times[name])

    diff = (outputs["ganeval"] - outputs["pytorch_fid"]).norm(dim=1) / outputs["pytorch_fid"].norm(dim=1)
    print(json.dumps({
        "bench": "inception_forward",
        "batch": args.batch,
        "reps": args.reps,
        "threads": args.threads,
        "ganeval_images_per_s": round(rate("ganeval", 0), 3),
        "pytorch_fid_images_per_s": round(rate("pytorch_fid", 0), 3),
        "ratio": round(rate("ganeval", 0) / rate("pytorch_fid", 0), 3),
        "ganeval_images_per_cpu_s": round(rate("ganeval", 1), 3),
        "pytorch_fid_images_per_cpu_s": round(rate("pytorch_fid", 1), 3),
        "ratio_cpu": round(rate("ganeval", 1) / rate("pytorch_fid", 1), 3),
        "max_relative_feature_diff": float(diff.max()),
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
