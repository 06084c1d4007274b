"""Typed configurations: the one home for defaults. The CLI builds these; library calls take them."""

from __future__ import annotations

from dataclasses import dataclass, field

# Metric names the registry knows; "pr" expands to precision + recall, "dc" to density + coverage.
DEFAULT_METRICS = ("fid",)
DEFAULT_EXTRACTOR = "inception"


@dataclass(frozen=True)
class MetricConfig:
    """Parameters of the metric computations (docs/metrics.md gives each with its paper).

    seed:         seeds every random choice (KID subsets, IS shuffle, bootstrap resamples).
    kid_subset_size is reduced to min(N_real, N_fake) when fewer samples exist; the result says so.
    nn_strict:    True counts a sample inside a k-NN ball when its distance is < the radius (prdc);
                  False uses <= (Kynkaenniemi et al.'s reference code, torch-fidelity).
    ci:           confidence level of the seeded percentile bootstrap (e.g. 0.95), or None for no CI.
    block_mib:    memory bound of one block of pairwise distances in the k-NN metrics.
    """

    seed: int = 2020
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    kid_degree: int = 3
    is_splits: int = 10
    is_shuffle: bool = True
    pr_k: int = 3
    dc_k: int = 5
    nn_strict: bool = True
    ci: float | None = None
    n_boot: int = 100
    block_mib: int = 256


@dataclass(frozen=True)
class SamplingConfig:
    """How images are drawn from a generator checkpoint given where images are expected.

    n:           number of samples; seed: seeds the latents (same seed, same images);
    class_index: a fixed class for conditional generators (None: classes balanced, i mod K);
    truncation:  psi of the truncation trick (None: none).
    """

    n: int = 10000
    seed: int = 0
    class_index: int | None = None
    truncation: float | None = None


@dataclass(frozen=True)
class EvalConfig:
    """One evaluation: which metrics, with which extractor and protocol, how to read and batch."""

    metrics: tuple[str, ...] = DEFAULT_METRICS
    extractor: str | None = None  # None: the statistics files' own, else DEFAULT_EXTRACTOR
    protocol: str | None = None  # None: the statistics files' own, else preprocess.DEFAULT_PROTOCOL
    batch_size: int = 50
    device: str = "cpu"
    weights_path: str | None = None
    allow_download: bool = True
    use_cache: bool = True
    skip_bad: bool = False
    allow_mixed_sizes: bool = False
    input_size: tuple[int, int] | None = None  # declarations for torchscript:/export: extractors
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    value_range: str | None = None  # "unit" or "signed", for user networks that do not embed it
    sampling: SamplingConfig = field(default_factory=SamplingConfig)  # for generator checkpoint inputs
    metric: MetricConfig = field(default_factory=MetricConfig)
