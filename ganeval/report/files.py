"""results.json and results.csv, each written atomically into the output folder; where reports go by default."""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import math
import os
from pathlib import Path

from ganeval.atomic import atomic_write_text
from ganeval.results import RunResult

# The documented columns of results.csv (docs/cli.md), in order.
RESULTS_CSV_COLUMNS = (
    "metric", "value", "std", "ci_low", "ci_high", "ci_level", "n_boot", "n_real", "n_fake",
    "extractor", "weights_sha256", "protocol", "seed",
)
# Columns appended (in this order) only when some result has them: a breakdown's grouping and member
# (details "by", "group") and a sweep's truncation (details "psi").
OPTIONAL_CSV_COLUMNS = ("by", "group", "psi")
REPORTS_ROOT = "reports"  # default parent of report folders, relative to the working directory


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


def _optional_cells(details: object) -> dict[str, object]:
    d = details if isinstance(details, dict) else {}
    out: dict[str, object] = {}
    if "by" in d and "group" in d:
        out["by"], out["group"] = d["by"], d["group"]
    psi = d.get("psi")
    if isinstance(psi, (int, float)) and not isinstance(psi, bool):
        out["psi"] = psi
    return out


def csv_columns(run: RunResult) -> tuple[str, ...]:
    """The documented columns, then those of OPTIONAL_CSV_COLUMNS that some result fills."""
    present = set()
    for r in run.results:
        present.update(_optional_cells(r.details))
    return RESULTS_CSV_COLUMNS + tuple(c for c in OPTIONAL_CSV_COLUMNS if c in present)


def results_csv(run: RunResult) -> str:
    prov = run.provenance
    ext = prov.get("extractor") or {}
    shared = {"extractor": ext.get("name"), "weights_sha256": ext.get("weights_sha256"),
              "protocol": prov.get("protocol")}
    columns = csv_columns(run)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for r in run.results:
        row = {k: getattr(r, k) for k in RESULTS_CSV_COLUMNS if hasattr(r, k)}
        row.update(shared)
        row.update(_optional_cells(r.details))
        writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in columns})
    return buf.getvalue()


def write_results(run: RunResult, out_dir: str | Path) -> dict[str, Path]:
    """Write out_dir/results.json and out_dir/results.csv; return their paths."""
    out = Path(out_dir)
    paths = {"json": out / "results.json", "csv": out / "results.csv"}
    texts = {"json": results_json(run), "csv": results_csv(run)}  # render both before writing either
    for key, path in paths.items():
        atomic_write_text(path, texts[key])
    return paths


def default_report_dir(command: str, *, root: str | Path | None = None, now: _dt.datetime | None = None) -> Path:
    """Where a command's report goes when no --out is given: ROOT/YYYYmmdd-HHMMSS-COMMAND (local time).

    ROOT is `root`, else $GANEVAL_REPORTS_DIR, else "reports" in the working directory. `now` is the
    command's start (default: now). When that folder already exists (two runs in one second), "-2",
    "-3", ... is appended. Nothing is created here; write_report creates the folder.
    """
    base = Path(root if root is not None else os.environ.get("GANEVAL_REPORTS_DIR") or REPORTS_ROOT)
    stamp = (now or _dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    name = f"{stamp}-{command}"
    path, i = base / name, 2
    while path.exists():
        path, i = base / f"{name}-{i}", i + 1
    return path
