"""Result: one metric's number with its spread, confidence interval and sample sizes.

The run-level provenance (versions, extractor, weights hash, protocol, inputs) lives beside the list
of results in a RunResult, so every row written to results.csv can carry it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Result:
    """A metric value.

    std:     the spread the metric's own protocol reports (KID over subsets, IS over splits), else None.
    ci_low, ci_high, ci_level, n_boot: a seeded percentile bootstrap interval, when requested.
    details: metric-specific facts (diagnostics, subset size actually used, k, ...), JSON-serialisable.
    """

    metric: str
    value: float
    std: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    ci_level: float | None = None
    n_boot: int | None = None
    n_real: int | None = None
    n_fake: int | None = None
    seed: int | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunResult:
    """All results of one command, with the provenance they share."""

    results: list[Result]
    provenance: dict[str, Any]

    def get(self, metric: str) -> Result:
        for r in self.results:
            if r.metric == metric:
                return r
        raise KeyError(metric)

    def to_dict(self) -> dict[str, Any]:
        return {"results": [r.to_dict() for r in self.results], "provenance": self.provenance}
