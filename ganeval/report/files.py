"""results.json and results.csv, each written atomically into the output folder."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from ganeval.atomic import atomic_write_text
from ganeval.results import RunResult

# The documented columns of results.csv (docs/cli.md), in order.
RESULTS_CSV_COLUMNS = (
    "metric", "value", "std", "ci_low", "ci_high", "ci_level", "n_boot", "n_real", "n_fake",
    "extractor", "weights_sha256", "protocol", "seed",
)


def _json_default(obj: object) -> object:
    return str(obj)


def _finite_or_none(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def results_json(run: RunResult) -> str:
    data = run.to_dict()
    for row in data["results"]:
        for k, v in list(row.items()):
            row[k] = _finite_or_none(v)
    return json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n"


def results_csv(run: RunResult) -> str:
    prov = run.provenance
    ext = prov.get("extractor") or {}
    shared = {"extractor": ext.get("name"), "weights_sha256": ext.get("weights_sha256"),
              "protocol": prov.get("protocol")}
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=RESULTS_CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in run.results:
        row = {k: getattr(r, k) for k in RESULTS_CSV_COLUMNS if hasattr(r, k)}
        row.update(shared)
        writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in RESULTS_CSV_COLUMNS})
    return buf.getvalue()


def write_results(run: RunResult, out_dir: str | Path) -> dict[str, Path]:
    """Write out_dir/results.json and out_dir/results.csv; return their paths."""
    out = Path(out_dir)
    paths = {"json": out / "results.json", "csv": out / "results.csv"}
    texts = {"json": results_json(run), "csv": results_csv(run)}  # render both before writing either
    for key, path in paths.items():
        atomic_write_text(path, texts[key])
    return paths
