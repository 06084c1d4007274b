"""`ganeval report DIR [DIR...]`: several runs side by side -> index.html + comparison.csv.

    folders -> load_run (results.json, validated) -> compare_runs: one row per result label, one column per
    run, and the provenance facts that decide whether the numbers are comparable -> page + CSV

A run's numbers compare with another's only when they were measured the same way: the same extractor
and weights, protocol, reference (real) set, sample sizes and metric settings. When any of those differ
the page says so at the top and highlights the rows; other differences (versions, seeds, device) are
highlighted without the warning. Nothing is recomputed: the numbers are the runs' own.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ganeval.atomic import atomic_write_text
from ganeval.errors import MSG_MISSING_PATH, BadInputError
from ganeval.report.html import (
    Row, Section, is_breakdown, bar_panels_block, cell, format_interval, keyvalue_block, line_chart_block,
    notes_block, read_history_csv, render_page, result_label, table_block,
)
from ganeval.report.plots import PALETTE, Estimate, LineSeries
from ganeval.results import Result, RunResult

RESULTS_JSON = "results.json"
MANIFEST_JSON = "manifest.json"  # a train-reference run folder (ganeval.report.training)
HISTORY_CSV = "history.csv"
COMPARISON_CSV = "comparison.csv"
MAX_PANELS = 16  # bar chart panels on the comparison page (the overall results first)

MSG_NO_RESULTS = ("no {name} in {folder}; give report folders (written by `ganeval metrics|sweep|bias`, or "
                  "`ganeval fid --out DIR`) or `ganeval train-reference` run folders")
MSG_NOT_RESULTS = "{path} is not a ganeval results.json: {reason}"

_NUMBER_FIELDS = ("value", "std", "ci_low", "ci_high", "ci_level")
_INT_FIELDS = ("n_boot", "n_real", "n_fake", "seed")


# -- loading ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LoadedRun:
    """A run read back from its folder: the name it is shown under, the folder, its results."""

    name: str
    folder: Path
    run: RunResult


def _type_name(v: Any) -> str:
    return "null" if v is None else {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(v), type(v).__name__)


def _result_from_json(row: Any, i: int, path: Path) -> Result:
    def bad(reason: str) -> BadInputError:
        return BadInputError(MSG_NOT_RESULTS.format(path=path, reason=f"results[{i}]{reason}"))

    if not isinstance(row, dict):
        raise bad(f" is {_type_name(row)}, expected an object")
    metric = row.get("metric")
    if not isinstance(metric, str) or not metric:
        raise bad(f".metric is {_type_name(metric)}, expected a metric name")
    kwargs: dict[str, Any] = {"metric": metric}
    for k in _NUMBER_FIELDS:
        v = row.get(k)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise bad(f".{k} is {_type_name(v)}, expected a number or null")
        kwargs[k] = None if v is None else float(v)
    if kwargs["value"] is None:
        kwargs["value"] = math.nan  # results.json stores a non-finite value as null
    for k in _INT_FIELDS:
        v = row.get(k)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
            raise bad(f".{k} is {_type_name(v)}, expected an integer or null")
        kwargs[k] = v
    details = row.get("details")
    if details is not None and not isinstance(details, dict):
        raise bad(f".details is {_type_name(details)}, expected an object")
    kwargs["details"] = details or {}
    known = {f.name for f in fields(Result)}
    return Result(**{k: v for k, v in kwargs.items() if k in known})


def load_run(folder: str | Path) -> RunResult:
    """Read FOLDER/results.json (or a results.json path) into a RunResult; one-line errors naming the file.

    A `ganeval train-reference` run folder without results.json (trained before run reports existed) is
    read from its manifest.json and history.csv instead, as its run report would show it.
    """
    p = Path(folder)
    if not p.exists():
        raise BadInputError(MSG_MISSING_PATH.format(path=p))
    path = p / RESULTS_JSON if p.is_dir() else p
    if not path.is_file() and p.is_dir() and (p / MANIFEST_JSON).is_file():
        from ganeval.report.training import training_run

        return training_run(p).run
    if not path.is_file():
        raise BadInputError(MSG_NO_RESULTS.format(name=RESULTS_JSON, folder=p))
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BadInputError(MSG_NOT_RESULTS.format(path=path, reason=f"not UTF-8 text ({exc.reason})")) from None
    except json.JSONDecodeError as exc:
        raise BadInputError(MSG_NOT_RESULTS.format(
            path=path, reason=f"invalid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})")) from None
    except OSError as exc:
        raise BadInputError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not isinstance(data, dict):
        raise BadInputError(MSG_NOT_RESULTS.format(path=path, reason=f"the top level is {_type_name(data)}, "
                                                   "expected an object"))
    rows = data.get("results")
    if not isinstance(rows, list):
        raise BadInputError(MSG_NOT_RESULTS.format(path=path, reason='no "results" list'))
    prov = data.get("provenance", {})
    if not isinstance(prov, dict):
        raise BadInputError(MSG_NOT_RESULTS.format(path=path, reason=f'"provenance" is {_type_name(prov)}, '
                                                   "expected an object"))
    return RunResult(results=[_result_from_json(r, i, path) for i, r in enumerate(rows)], provenance=prov)


def _run_folder(p: Path) -> Path:
    return p if p.is_dir() or not p.name.endswith(".json") else p.parent


def run_names(folders: Sequence[str | Path], names: Sequence[str] | None = None) -> list[str]:
    """Column names: `names` when given (one per folder, unique), else each folder's name, with as many
    parent folders as it takes to tell equal names apart (runs/a/out, runs/b/out -> a/out, b/out)."""
    if names is not None:
        names = [n.strip() for n in names]
        if len(names) != len(folders):
            raise BadInputError(f"--names gives {len(names)} names for {len(folders)} folders")
        if any(not n for n in names):
            raise BadInputError("--names has an empty name")
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise BadInputError(f"--names repeats {', '.join(dupes)}; each run needs its own name")
        return list(names)
    resolved = [_run_folder(Path(f)).resolve() for f in folders]
    for i, r in enumerate(resolved):
        if r in resolved[:i]:
            raise BadInputError(f"{folders[i]} is given twice")
    depth = 1
    while True:
        out = ["/".join(r.parts[-depth:]) or str(r) for r in resolved]
        if len(set(out)) == len(out) or depth > max(len(r.parts) for r in resolved):
            return out
        depth += 1


def load_runs(folders: Sequence[str | Path], names: Sequence[str] | None = None) -> list[LoadedRun]:
    """Read every folder's results.json (all are checked before anything is written)."""
    if not folders:
        raise BadInputError("give at least one run folder")
    labels = run_names(folders, names)
    return [LoadedRun(name, _run_folder(Path(f)), load_run(f)) for name, f in zip(labels, folders)]


# -- comparing ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Fact:
    """One provenance fact across runs: its values (None: not recorded) and what a difference means.

    kind: "blocking" (the numbers are not comparable; `why` says why), "notable" (highlighted, e.g. other
    versions or seeds) or "info" (expected to differ between runs, e.g. the generated set: not highlighted).
    """

    name: str
    values: tuple[Any, ...]
    kind: str
    why: str = ""

    @property
    def blocking(self) -> bool:
        return self.kind == "blocking"

    @property
    def differs(self) -> bool:
        return len({json.dumps(v, sort_keys=True, default=str) for v in self.values}) > 1

    @property
    def highlighted(self) -> bool:
        return self.differs and self.kind != "info"


@dataclass(frozen=True)
class Comparison:
    """Runs side by side. rows: {result label: one Result (or None) per run}, in first-seen order."""

    runs: tuple[LoadedRun, ...]
    rows: Mapping[str, tuple[Result | None, ...]]
    facts: tuple[Fact, ...]

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.runs]

    @property
    def blocking(self) -> list[Fact]:
        """The differences that make the numbers not comparable."""
        return [f for f in self.facts if f.blocking and f.differs]

    @property
    def comparable(self) -> bool:
        return not self.blocking


def _get(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, Mapping):
            return None
        d = d.get(k)
    return d


def _input_identity(prov: Mapping[str, Any], role: str) -> Any:
    inp = _get(prov, "inputs", role)
    if not isinstance(inp, Mapping):
        return None
    return (inp.get("fingerprint") or _get(inp, "source", "fingerprint") or inp.get("checkpoint_sha256")
            or inp.get("path"))


# Metric settings (MetricConfig fields) that change the numbers, with the results they change.
_SETTINGS: dict[str, tuple[str, ...]] = {
    "kid_subsets": ("kid",), "kid_subset_size": ("kid",), "kid_degree": ("kid",),
    "is_splits": ("is",), "is_shuffle": ("is",),
    "pr_k": ("precision", "recall"), "dc_k": ("density", "coverage"),
    "nn_strict": ("precision", "recall", "density", "coverage"),
}


def compare_runs(runs: Sequence[LoadedRun]) -> Comparison:
    """Line up the runs' results by label and collect the provenance facts to compare."""
    labels: dict[str, None] = {}
    for lr in runs:
        for r in lr.run.results:
            labels.setdefault(result_label(r), None)
    per_run = [{result_label(r): r for r in lr.run.results} for lr in runs]
    rows = {label: tuple(m.get(label) for m in per_run) for label in labels}
    metrics = {r.metric for lr in runs for r in lr.run.results}
    provs = [lr.run.provenance for lr in runs]

    def fact(name: str, get: Callable[[Mapping[str, Any]], Any], kind: str, why: str = "") -> Fact:
        return Fact(name, tuple(get(p) for p in provs), kind, why)

    facts = [
        fact("extractor", lambda p: _get(p, "extractor", "name") or _get(p, "extractor"), "blocking",
             "features from different networks are different spaces"),
        fact("extractor weights sha256", lambda p: _get(p, "extractor", "weights_sha256"), "blocking",
             "other weights give other features"),
        fact("protocol", lambda p: p.get("protocol"), "blocking",
             "resizing and quantisation change FID by whole points"),
        fact("real set", lambda p: _input_identity(p, "real"), "blocking", "a different reference set"),
        fact("N real", lambda p: _get(p, "inputs", "real", "n"), "blocking", "FID and KID depend on N"),
        fact("N generated", lambda p: _get(p, "inputs", "fake", "n"), "blocking", "FID is biased by N"),
    ]
    for key, affected in _SETTINGS.items():
        if metrics & set(affected):
            facts.append(fact(f"metric setting {key}", lambda p, key=key: _get(p, "config", "metric", key),
                              "blocking", f"changes {', '.join(a for a in affected if a in metrics)}"))
    facts += [
        fact("metric seed", lambda p: _get(p, "seeds", "metric_seed"), "notable"),
        fact("CI level", lambda p: _get(p, "config", "metric", "ci"), "notable"),
        fact("bootstrap resamples", lambda p: _get(p, "config", "metric", "n_boot"), "notable"),
        fact("ganeval version", lambda p: _get(p, "versions", "ganeval"), "notable"),
        fact("torch version", lambda p: _get(p, "versions", "torch"), "notable"),
        fact("device", lambda p: p.get("device"), "notable"),
        fact("seeds", lambda p: p.get("seeds"), "notable"),
        fact("generated set", lambda p: _get(p, "inputs", "fake", "path"), "info"),
        fact("generated set fingerprint", lambda p: _input_identity(p, "fake"), "info"),
        fact("real set path", lambda p: _get(p, "inputs", "real", "path"), "info"),
        fact("timings (s)", lambda p: p.get("timings"), "info"),
        fact("created (UTC)", lambda p: p.get("created_utc"), "info"),
    ]
    return Comparison(tuple(runs), rows, tuple(facts))


# -- writing ------------------------------------------------------------------------------------------------

def comparison_csv(c: Comparison) -> str:
    """comparison.csv: a `metric` column (the result label), then per run NAME, NAME:ci_low, NAME:ci_high."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["metric"] + [f"{n}{suffix}" for n in c.names for suffix in ("", ":ci_low", ":ci_high")])
    for label, results in c.rows.items():
        row: list[Any] = [label]
        for r in results:
            for v in (None, None, None) if r is None else (r.value, r.ci_low, r.ci_high):
                row.append("" if v is None or (isinstance(v, float) and math.isnan(v)) else repr(float(v)))
        writer.writerow(row)
    return buf.getvalue()


def _short(v: Any) -> str:
    if v is None:
        return "not recorded"
    if isinstance(v, str) and len(v) == 64 and all(ch in "0123456789abcdef" for ch in v):
        return v[:12] + "…"
    return v if isinstance(v, str) else json.dumps(v, default=str)


def _href(target: Path, out_dir: Path) -> str:
    rel = Path(os.path.relpath(target.resolve(), out_dir.resolve()))
    url = "/".join(urllib.parse.quote(part) for part in rel.parts)
    return url if url.startswith("../") else "./" + url  # never read as a scheme ("javascript:...")


TRAINING_CURVES = (("fid", "FID (held-out) during training", "FID"),
                   ("class_consistency", "class consistency during training", "class consistency"))


def training_curves_section(c: Comparison) -> Section | None:
    """The training runs' curves overlaid, one line per run: held-out FID (and class consistency where
    logged) against the step, read from each train-reference run folder's history.csv. None when no run
    folder has one (evaluation reports have no history)."""
    histories = {i: read_history_csv(lr.folder / HISTORY_CSV) for i, lr in enumerate(c.runs)
                 if (lr.folder / MANIFEST_JSON).is_file() and (lr.folder / HISTORY_CSV).is_file()}
    blocks = []
    for column, title, ylabel in TRAINING_CURVES:
        series = []
        for i, rows in histories.items():
            pts = [(r["step"], r[column]) for r in rows if r.get("step") is not None and r.get(column) is not None]
            if pts:  # each run keeps its colour in every chart
                series.append(LineSeries(c.runs[i].name, [x for x, _ in pts], [y for _, y in pts],
                                         color=PALETTE[i % len(PALETTE)]))
        if series:
            many = max(len(s.x) for s in series) > 40
            caption = "" if len(series) > 1 else f"{series[0].name}: the only run that logged it."
            blocks.append(line_chart_block(series, title=title, xlabel="step", ylabel=ylabel, markers=not many,
                                           caption=caption))
    if not blocks:
        return None
    return Section("Training curves", tuple(blocks),
                   intro="From each run folder's history.csv, one line per run. The evaluation settings of the "
                         "runs compared below apply to these curves too.")


def comparison_sections(c: Comparison, out_dir: Path) -> list[Section]:
    """The comparison page: a warning when runs are not comparable, the results table, bar charts, the
    training runs' curves overlaid, how each run was measured (provenance side by side)."""
    sections: list[Section] = []
    if c.blocking:
        lines = [f"{f.name} differs ({'; '.join(f'{n}: {_short(v)}' for n, v in zip(c.names, f.values))}): "
                 f"{f.why}." for f in c.blocking]
        sections.append(Section("Not comparable", (notes_block(lines),),
                                intro="These runs were measured differently; their numbers should not be "
                                      "compared directly."))
    rows = []
    for label, results in c.rows.items():
        cells = [cell(label)]
        for name, r in zip(c.names, results):
            cells.append(cell(None, field=name) if r is None else
                         cell(r.value, field=name, ci=format_interval(r.ci_low, r.ci_high, r.ci_level)))
        rows.append(Row(tuple(cells), key=label))
    blocks = [table_block(["metric", *c.names], rows, caption="value [CI] per run")]
    overall = [label for label, rs in c.rows.items() if not any(r is not None and is_breakdown(r) for r in rs)]
    chosen = (overall + [label for label in c.rows if label not in overall])[:MAX_PANELS]
    panels = {label: (c.names, [None if r is None else Estimate(r.value, r.ci_low, r.ci_high)
                                for r in c.rows[label]]) for label in chosen}
    if panels:
        blocks.append(bar_panels_block(panels, alt="bar charts of each metric per run",
                                       caption="One panel per metric, one bar per run; whiskers: the CI."))
    sections.append(Section("Results", tuple(blocks)))
    curves = training_curves_section(c)
    if curves is not None:
        sections.append(curves)
    prov_rows = []
    for f in c.facts:
        css = "differs" if f.highlighted else ""
        prov_rows.append(Row(tuple([cell(f.name, title=f.why or None)] +
                                   [cell(_short(v) if v is not None else None, field=n, title=None if v is None
                                         else str(v)) for n, v in zip(c.names, f.values)]),
                             key=f.name, css=css))
    links = []
    for lr in c.runs:
        page = lr.folder / "index.html"
        links.append(cell(str(lr.folder), field=lr.name, href=_href(page, out_dir) if page.is_file() else None))
    prov_rows.append(Row(tuple([cell("folder")] + links), key="folder"))
    caption = "Highlighted rows differ between runs (generated sets and dates are expected to, and are not)."
    sections.append(Section("Runs compared", (table_block(["", *c.names], prov_rows, caption=caption),),
                            intro="How each run was measured."))
    sections.append(Section("About this page", (keyvalue_block(
        [("runs", len(c.runs)), ("comparable", "yes" if c.comparable else "no"),
         ("numbers", "6 significant digits; exact values in comparison.csv and each run's results.json")]),)))
    return sections


def write_comparison(folders: Sequence[str | Path], out_dir: str | Path, *, names: Sequence[str] | None = None,
                     title: str | None = None) -> tuple[dict[str, Path], Comparison]:
    """Compare the runs in `folders`; write out_dir/index.html and out_dir/comparison.csv atomically.

    Returns their paths {"html", "csv"} and the Comparison (whose `blocking` lists why runs are not comparable).
    """
    runs = load_runs(folders, names)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise BadInputError(f"cannot write the comparison into {out}: it is a file, not a folder")
    for lr in runs:
        if out.resolve() == lr.folder.resolve():
            raise BadInputError(f"--out {out} is one of the compared run folders; its index.html would be replaced")
    c = compare_runs(runs)
    subtitle = f"{len(runs)} runs" + ("" if c.comparable else " · not comparable: " +
                                      ", ".join(f.name for f in c.blocking))
    html = render_page("page.html.j2", title=title or "ganeval: " + " vs ".join(c.names), subtitle=subtitle,
                       sections=comparison_sections(c, out))
    texts = {"html": html, "csv": comparison_csv(c)}
    paths = {"html": out / "index.html", "csv": out / COMPARISON_CSV}
    for key in ("csv", "html"):
        atomic_write_text(paths[key], texts[key])
    return paths, c
