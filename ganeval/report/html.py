"""Self-contained HTML reports: a RunResult (and what the caller adds) -> index.html beside results.json/csv.

    RunResult + ReportExtras (images, neighbours, history rows, caller-made sections)
        -> every registered section builder whose `applies(run, extras)` holds, in `order`
        -> [Section(title, blocks)] -> jinja2 templates (autoescaped) -> one HTML string
        -> index.html, results.json, results.csv, each written atomically after all three are rendered

The page needs nothing beside it: CSS is inline, plots and images are PNG data: URIs, a Content-Security-
Policy forbids every fetch except data: images, and there is no script. Reports never compute: builders
only arrange and format numbers that are already in the Result rows (docs/reports.md lists the hooks).

Numbers are shown with 6 significant digits (`format_number`, as the CLI prints them); each numeric cell
also carries the exact value (Python's shortest round-trip repr, as in results.json) in `data-value`.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import re
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ganeval import __version__
from ganeval.atomic import atomic_write_text
from ganeval.errors import MSG_MISSING_PATH, BadInputError
from ganeval.report import plots
from ganeval.report.files import results_csv, results_json
from ganeval.report.plots import Estimate, LineSeries
from ganeval.results import Result, RunResult

__all__ = [
    "Block", "Cell", "Neighbours", "ReportExtras", "Row", "Section", "SectionEntry", "available_sections",
    "bar_chart_block", "bar_panels_block", "breakdown_sections", "cell", "default_title", "figure_block",
    "format_interval", "format_number", "headline_block", "heatmap_block", "image_grids_block", "is_breakdown",
    "json_block", "keyvalue_block", "line_chart_block", "neighbours_block", "notes_block", "provenance_section",
    "read_history_csv", "register_section", "render_page", "render_report", "report_sections", "result_label",
    "results_table_block", "table_block", "training_curves_section", "truncation_section", "write_report",
]

TEMPLATES_DIR = Path(__file__).with_name("templates")
GRID_IMAGES = 32  # images per sample grid
GRID_MAX_SIDE = 128  # larger samples are shrunk to this for display (the report stays a few MB)
NEIGHBOUR_ROWS = 16  # generated samples shown in the nearest-neighbour gallery
NEIGHBOUR_K = 3  # neighbours shown per sample
PRDC = ("precision", "recall", "density", "coverage")
JSON_INLINE = 40  # lists and dicts up to this many characters are shown inline, longer ones collapsed


# -- cells and blocks: what templates render ----------------------------------------------------------------

@dataclass(frozen=True)
class Cell:
    """One formatted value. `text` is shown; `exact` (numbers only) goes to data-value; `ci` is shown small
    after the text; `field` names the value for programs (data-field); kind "json" renders collapsed."""

    text: str
    exact: str | None = None
    ci: str = ""
    css: str = ""
    field: str | None = None
    title: str | None = None
    href: str | None = None
    kind: str = "text"


@dataclass(frozen=True)
class Row:
    """A table row: its cells, an optional key (data-key, e.g. the metric label) and a CSS class."""

    cells: tuple[Cell, ...]
    key: str | None = None
    css: str = ""


@dataclass(frozen=True)
class Block:
    """One piece of a section: kind is a template macro ("table", "figure", "grids", "neighbours",
    "keyvalue", "notes", "headline", "json"); body holds what that macro reads."""

    kind: str
    body: Mapping[str, Any]


@dataclass(frozen=True)
class Section:
    """A titled part of a report page, made of blocks (a table and its chart, for instance)."""

    title: str
    blocks: tuple[Block, ...]
    intro: str = ""
    anchor: str = ""


@dataclass(frozen=True)
class Neighbours:
    """Nearest real neighbours of some generated samples in feature space: the memorisation check.

    fake_images:  uint8 (M, C, H, W), the generated samples.
    real_images:  uint8 (M, k, C, H, W), each sample's k nearest real images, nearest first
                  ((M, C, H, W) is read as k = 1).
    distances:    (M, k) (or (M,)) float distances in `feature` space, nearest first.
    real_indices: optional (M, k) int positions of those images in the real set (shown under each).
    feature:      what the distance measures, e.g. "inception pool features, L2".
    reference_distance: optional typical distance of a real image to its nearest other real image (e.g.
                  the median); a generated sample much closer than that to a real one may be a copy.
    The caller computes all of it (ganeval's metrics have the k-NN code); the report only shows it,
    closest pairs first.
    """

    fake_images: Any
    real_images: Any
    distances: Any
    real_indices: Any = None
    feature: str = ""
    reference_distance: float | None = None


@dataclass(frozen=True)
class ReportExtras:
    """What a report may show beyond the Result rows; section builders read it.

    images:     {set name: uint8 (N, C, H, W)}, e.g. {"real": ..., "fake": ...}: sample grids.
    neighbours: the nearest-real-neighbour gallery (Neighbours).
    history:    rows of a training run's history.csv (read_history_csv): training curves.
    sections:   sections the caller assembled (fairness tables, association heatmaps, ...), placed
                before the provenance.
    """

    images: Mapping[str, Any] | None = None
    neighbours: Neighbours | None = None
    history: Sequence[Mapping[str, Any]] | None = None
    sections: Sequence[Section] = ()


# -- formatting ---------------------------------------------------------------------------------------------

def format_number(value: Any) -> str:
    """How reports show a number: ints as is, floats with 6 significant digits ("nan", "inf" spelled out)."""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    v = float(value)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:.6g}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def format_interval(low: Any, high: Any, level: Any = None) -> str:
    """"[low, high]" (with " 95%" when the level is known), or "" when either end is missing."""
    if not (_is_number(low) and _is_number(high)):
        return ""
    text = f"[{format_number(low)}, {format_number(high)}]"
    if _is_number(level):
        text += f" {float(level) * 100:g}%"
    return text


def cell(value: Any, *, field: str | None = None, ci: str = "", css: str = "", title: str | None = None,
         href: str | None = None) -> Cell:
    """A Cell for any value: numbers formatted (exact value kept), None as a dash, dicts/lists as JSON."""
    if isinstance(value, Cell):
        return value
    if isinstance(value, Estimate):
        return cell(value.value, field=field, ci=format_interval(value.low, value.high), css=css, title=title)
    if value is None:
        return Cell("—", css=(css + " na").strip(), field=field, title=title)
    if isinstance(value, (bool, np.bool_)):
        return Cell(format_number(value), css=css, field=field, title=title)
    if _is_number(value):
        exact = str(int(value)) if isinstance(value, (int, np.integer)) else repr(float(value))
        return Cell(format_number(value), exact=exact, ci=ci, css=(css + " num").strip(), field=field,
                    title=title)
    if isinstance(value, (dict, list, tuple)):
        text = json.dumps(value, sort_keys=False, default=str)
        short = len(text) <= JSON_INLINE
        return Cell(text, css=(css + " code").strip(), field=field, title=title, kind="text" if short else "json")
    return Cell(str(value), ci=ci, css=css, field=field, title=title, href=href)


def result_label(r: Result) -> str:
    """The name a result goes by in tables: its metric, plus its breakdown group or truncation psi.

    e.g. "fid", "fid [class=Dress]", "precision [psi=0.7]".
    """
    d = r.details if isinstance(r.details, dict) else {}
    label = r.metric
    if "by" in d and "group" in d:
        label += f" [{d['by']}={d['group']}]"
    if _is_number(d.get("psi")):
        label += f" [psi={float(d['psi']):g}]"
    return label


def is_breakdown(r: Result) -> bool:
    """Whether a result is one group of a breakdown (details "by"/"group") or one point of a sweep ("psi")."""
    d = r.details if isinstance(r.details, dict) else {}
    return ("by" in d and "group" in d) or _is_number(d.get("psi"))


def _estimate(r: Result) -> Estimate:
    return Estimate(r.value, r.ci_low, r.ci_high)


# -- generic blocks: what other commands assemble -----------------------------------------------------------

def table_block(columns: Sequence[str], rows: Iterable[Sequence[Any] | Row], *, keys: Sequence[str] | None = None,
                caption: str = "", fields: Sequence[str | None] | None = None) -> Block:
    """A table from rows of raw values (numbers, strings, None, Estimate, Cell) or ready Rows.

    keys: one data-key per row (e.g. the metric label), for programs reading the page.
    fields: one data-field name per column (e.g. "value", "ci_low"), likewise.
    """
    built: list[Row] = []
    for i, raw in enumerate(rows):
        if isinstance(raw, Row):
            built.append(raw)
            continue
        if len(raw) != len(columns):
            raise ValueError(f"row {i} has {len(raw)} cells for {len(columns)} columns")
        cells = tuple(cell(v, field=fields[j] if fields else None) for j, v in enumerate(raw))
        built.append(Row(cells, key=keys[i] if keys else None))
    return Block("table", {"columns": tuple(columns), "rows": tuple(built), "caption": caption})


def figure_block(png: bytes, *, alt: str, caption: str = "") -> Block:
    """A PNG (e.g. from ganeval.report.plots) embedded as a data: URI."""
    width, height = plots.png_size(png)
    return Block("figure", {"src": plots.data_uri(png), "alt": alt, "caption": caption, "width": width,
                            "height": height})


def bar_chart_block(categories: Sequence[str], series: Mapping[str, Sequence[Estimate | float | None]], *,
                    title: str = "", ylabel: str = "", caption: str = "", **kwargs: Any) -> Block:
    """Grouped bars with CI whiskers (plots.bar_chart), e.g. a metric per group with its bootstrap interval."""
    png = plots.bar_chart(categories, series, title=title, ylabel=ylabel, **kwargs)
    return figure_block(png, alt=title or f"bar chart of {', '.join(series)}", caption=caption)


def bar_panels_block(panels: Mapping[str, tuple[Sequence[str], Sequence[Estimate | float | None]]], *,
                     caption: str = "", alt: str = "") -> Block:
    """One small bar chart per panel, each on its own scale (plots.bar_panels)."""
    return figure_block(plots.bar_panels(panels), alt=alt or f"bar charts of {', '.join(panels)}",
                        caption=caption)


def line_chart_block(series: Sequence[LineSeries], *, title: str = "", xlabel: str = "", ylabel: str = "",
                     caption: str = "", **kwargs: Any) -> Block:
    """Lines with optional bands and point labels (plots.line_chart): training curves, truncation curves."""
    png = plots.line_chart(series, title=title, xlabel=xlabel, ylabel=ylabel, **kwargs)
    return figure_block(png, alt=title or f"line chart of {', '.join(s.name for s in series)}", caption=caption)


def heatmap_block(matrix: Any, row_labels: Sequence[str], col_labels: Sequence[str], *, title: str = "",
                  caption: str = "", **kwargs: Any) -> Block:
    """A labelled matrix as coloured cells (plots.heatmap), e.g. latent-attribute associations."""
    png = plots.heatmap(matrix, row_labels, col_labels, title=title, **kwargs)
    return figure_block(png, alt=title or "heatmap", caption=caption)


def image_grids_block(images: Mapping[str, Any], *, totals: Mapping[str, int | None] | None = None,
                      max_images: int = GRID_IMAGES, columns: int = 8) -> Block:
    """One grid per named image set (uint8 (N, C, H, W) each), side by side, first `max_images` of each."""
    grids = []
    for name, arr in images.items():
        a = plots.as_uint8_nchw(arr, f"images[{name!r}]")
        shown = min(len(a), max_images)
        if shown == 0:
            continue
        png = plots.image_grid(a, columns=columns, max_images=max_images, max_side=GRID_MAX_SIDE)
        width, height = plots.png_size(png)
        total = (totals or {}).get(name)
        count = f"{shown} of {total}" if total and total > shown else f"{shown}"
        grids.append({"name": name, "src": plots.data_uri(png), "width": width, "height": height,
                      "display_width": width * max(1, min(3, 360 // max(1, width))), "count": count,
                      "size": f"{a.shape[3]}x{a.shape[2]}"})
    return Block("grids", {"grids": tuple(grids)})


def neighbours_block(nb: Neighbours, *, max_rows: int = NEIGHBOUR_ROWS, k: int = NEIGHBOUR_K) -> Block:
    """The nearest-real-neighbour gallery: each generated sample beside its nearest real images, closest first."""
    fake = plots.as_uint8_nchw(nb.fake_images, "neighbours.fake_images")
    real = np.asarray(nb.real_images.detach().cpu() if hasattr(nb.real_images, "detach") else nb.real_images)
    if real.ndim == 4:
        real = real[:, None]
    dist = np.asarray(nb.distances, dtype=float)
    if dist.ndim == 1:
        dist = dist[:, None]
    m = len(fake)
    if real.ndim != 5 or real.shape[0] != m or real.dtype != np.uint8 or dist.shape != real.shape[:2]:
        raise ValueError(f"neighbours: real_images {real.shape} and distances {dist.shape} must be (M, k, C, H, W) "
                         f"and (M, k) uint8/float with M = {m} generated samples")
    idx = None if nb.real_indices is None else np.asarray(nb.real_indices).reshape(dist.shape)
    order = np.argsort(dist[:, 0], kind="stable")[:max_rows]
    kk = min(k, dist.shape[1])
    ref = nb.reference_distance

    def src(img: np.ndarray) -> str:
        small = plots.shrink(img[None], GRID_MAX_SIDE)[0]
        rgb = np.repeat(small, 3, axis=0) if small.shape[0] == 1 else small
        return plots.data_uri(plots.png_bytes(rgb.transpose(1, 2, 0)))

    rows = []
    for i in order:
        near = []
        for j in range(kk):
            d = float(dist[i, j])
            close = ref is not None and math.isfinite(d) and d < 0.5 * ref
            near.append({"src": src(real[i, j]), "distance": cell(d, field="distance", css="close" if close else ""),
                         "index": None if idx is None else int(idx[i, j])})
        rows.append({"fake": src(fake[i]), "fake_index": int(i), "neighbours": near})
    return Block("neighbours", {"rows": tuple(rows), "feature": nb.feature, "shown": len(rows), "total": m,
                                "reference": None if ref is None else cell(float(ref), field="reference_distance"),
                                "display": max(56, min(GRID_MAX_SIDE, fake.shape[3] * 2))})


def keyvalue_block(items: Mapping[str, Any] | Sequence[tuple[str, Any]]) -> Block:
    """A two-column list of names and values (values formatted like table cells)."""
    pairs = items.items() if isinstance(items, Mapping) else items
    return Block("keyvalue", {"items": tuple((str(k), cell(v)) for k, v in pairs)})


def notes_block(lines: Sequence[str], *, level: str = "warning") -> Block:
    """Sentences shown in a box: level "warning" (amber, e.g. numbers not comparable) or "info"."""
    return Block("notes", {"lines": tuple(str(line) for line in lines), "level": level})


def json_block(data: Any, *, summary: str) -> Block:
    """Any JSON-able value, pretty-printed in a collapsed <details> (e.g. the full config)."""
    return Block("json", {"summary": summary, "text": json.dumps(data, indent=2, default=str)})


# -- sections built from a run --------------------------------------------------------------------------------

def headline_block(results: Sequence[Result]) -> Block:
    """One card per result: the value large, then its CI, spread and sample sizes."""
    cards = []
    for r in results:
        n = " / ".join(f"{name} {v}" for name, v in (("real", r.n_real), ("generated", r.n_fake)) if v is not None)
        cards.append({"label": result_label(r), "value": cell(r.value, field="value"),
                      "ci": format_interval(r.ci_low, r.ci_high, r.ci_level),
                      "std": "" if r.std is None else f"± {format_number(r.std)}", "n": n})
    return Block("headline", {"cards": tuple(cards)})


RESULT_COLUMNS = ("metric", "value", "± std", "CI low", "CI high", "CI level", "resamples", "N real",
                  "N generated", "seed", "details")
RESULT_FIELDS = (None, "value", "std", "ci_low", "ci_high", "ci_level", "n_boot", "n_real", "n_fake", "seed",
                 "details")


def results_table_block(results: Sequence[Result], caption: str = "") -> Block:
    """Every result with every number of its results.json row (details collapsed as JSON)."""
    rows = []
    for r in results:
        values = (result_label(r), r.value, r.std, r.ci_low, r.ci_high, r.ci_level, r.n_boot, r.n_real, r.n_fake,
                  r.seed, r.details or None)
        rows.append(Row(tuple(cell(v, field=f) for v, f in zip(values, RESULT_FIELDS)), key=result_label(r)))
    return table_block(RESULT_COLUMNS, rows, caption=caption)


def breakdown_sections(results: Sequence[Result]) -> list[Section]:
    """Per-group results (details "by" and "group", e.g. per class or per sensitive attribute value):
    one section per "by" with a groups x metrics table (values with CIs) and a bar chart per metric."""
    by_key: dict[str, dict[str, dict[str, Result]]] = {}
    for r in results:
        d = r.details if isinstance(r.details, dict) else {}
        if "by" in d and "group" in d and not _is_number(d.get("psi")):
            by_key.setdefault(str(d["by"]), {}).setdefault(str(d["group"]), {})[r.metric] = r
    sections = []
    for by, groups in by_key.items():
        metrics = list(dict.fromkeys(m for per in groups.values() for m in per))
        rows = []
        for group, per in groups.items():
            first = next(iter(per.values()))
            cells = [cell(group)]
            for m in metrics:
                r = per.get(m)
                cells.append(cell(None) if r is None else
                             cell(r.value, field=m, ci=format_interval(r.ci_low, r.ci_high)))
            cells.append(cell(first.n_fake, field="n_fake"))
            rows.append(Row(tuple(cells), key=group))
        table = table_block([by, *metrics, "N generated"], rows, caption="value [CI] per group")
        panels = {m: (list(groups), [_estimate(per[m]) if m in per else None for per in groups.values()])
                  for m in metrics}
        chart = bar_panels_block(panels, alt=f"{', '.join(metrics)} by {by}",
                                 caption="Whiskers: the confidence interval, where one was computed.")
        sections.append(Section(f"By {by}", (table, chart)))
    return sections


def truncation_section(results: Sequence[Result]) -> Section | None:
    """Results with details["psi"] (a truncation sweep): a psi x metrics table, each metric against psi,
    and the fidelity-diversity trade-off (precision against recall, points labelled with psi)."""
    per_psi: dict[float, dict[str, Result]] = {}
    for r in results:
        d = r.details if isinstance(r.details, dict) else {}
        if _is_number(d.get("psi")):
            per_psi.setdefault(float(d["psi"]), {})[r.metric] = r
    if not per_psi:
        return None
    psis = sorted(per_psi)
    metrics = list(dict.fromkeys(m for p in psis for m in per_psi[p]))
    rows = [Row(tuple([cell(p, field="psi")] + [
        cell(None) if m not in per_psi[p] else
        cell(per_psi[p][m].value, field=m, ci=format_interval(per_psi[p][m].ci_low, per_psi[p][m].ci_high))
        for m in metrics]), key=f"{p:g}") for p in psis]
    blocks = [table_block(["psi", *metrics], rows)]

    def line(m: str, x: Sequence[float] | None = None, labels: Sequence[str] | None = None) -> LineSeries:
        rs = [per_psi[p].get(m) for p in psis]
        return LineSeries(m, x if x is not None else psis, [None if r is None else r.value for r in rs],
                          [None if r is None else r.ci_low for r in rs],
                          [None if r is None else r.ci_high for r in rs], labels)

    for m in (m for m in metrics if m not in PRDC):
        blocks.append(line_chart_block([line(m)], title=f"{m} against psi", xlabel="psi (truncation)", ylabel=m))
    prdc = [m for m in PRDC if m in metrics]
    if prdc:
        blocks.append(line_chart_block([line(m) for m in prdc], title=f"{', '.join(prdc)} against psi",
                                       xlabel="psi (truncation)", ylabel="value"))
    if "precision" in metrics and "recall" in metrics:
        recall = [per_psi[p]["recall"].value if "recall" in per_psi[p] else None for p in psis]
        pr = LineSeries("precision vs recall", [np.nan if v is None else v for v in recall],
                        [per_psi[p]["precision"].value if "precision" in per_psi[p] else None for p in psis],
                        point_labels=[f"ψ={p:g}" for p in psis])
        blocks.append(line_chart_block([pr], title="fidelity-diversity trade-off", xlabel="recall",
                                       ylabel="precision"))
    return Section("Truncation sweep", tuple(blocks),
                   intro="Lower psi trades diversity (recall, coverage) for fidelity (precision, density).")


HISTORY_X = "step"
_NOT_LOSSES = {"step", "epoch", "time_s", "fid", "class_consistency"}


def read_history_csv(path: str | Path) -> list[dict[str, float | None]]:
    """Rows of a training run's history.csv as floats (empty cells None); one-line errors naming the file."""
    p = Path(path)
    if not p.is_file():
        raise BadInputError(MSG_MISSING_PATH.format(path=p))
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(f"cannot read {p}: {exc}") from None
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise BadInputError(f"{p} is empty; expected a history.csv with a header row")
    rows: list[dict[str, float | None]] = []
    for line, raw in enumerate(reader, start=2):
        row: dict[str, float | None] = {}
        for k, v in raw.items():
            if k is None or v is None:
                raise BadInputError(f"{p} line {line} does not have one cell per column")
            try:
                row[k] = float(v) if v.strip() else None
            except ValueError:
                raise BadInputError(f"{p} line {line}, column {k!r}: {v!r} is not a number") from None
        rows.append(row)
    return rows


def training_curves_section(rows: Sequence[Mapping[str, Any]], *, x: str = HISTORY_X,
                            groups: Mapping[str, Sequence[str]] | None = None) -> Section | None:
    """Training curves from history rows: by default one chart of the losses (every column but the step,
    epoch, time and evaluation columns) and one each for FID and class consistency where they were logged.

    groups: {chart title: columns} to choose the charts instead.
    """
    if not rows:
        return None
    columns = list(dict.fromkeys(k for r in rows for k in r))
    if groups is None:
        losses = [c for c in columns if c not in _NOT_LOSSES and not c.startswith("cc_")]
        groups = {"losses": losses, "FID (held-out)": ["fid"], "class consistency": ["class_consistency"]}
    blocks = []
    for title, cols in groups.items():
        series = []
        for c in cols:
            pts = [(r.get(x), r.get(c)) for r in rows if _is_number(r.get(x)) and _is_number(r.get(c))]
            if pts:
                series.append(LineSeries(c, [p[0] for p in pts], [p[1] for p in pts]))
        if series:
            many = max(len(s.x) for s in series) > 40
            blocks.append(line_chart_block(series, title=title, xlabel=x, ylabel=title, markers=not many))
    return Section("Training curves", tuple(blocks)) if blocks else None


def _input_rows(inputs: Mapping[str, Any]) -> Block:
    known = ("path", "kind", "n", "fingerprint", "skipped", "cached", "seconds")
    rows = []
    for role, d in inputs.items():
        d = d if isinstance(d, Mapping) else {"path": d}
        if d.get("fingerprint") is None and d.get("checkpoint_sha256") is not None:  # a generator input's bytes
            d = {**{k: v for k, v in d.items() if k != "checkpoint_sha256"}, "fingerprint": d["checkpoint_sha256"]}
        other = {k: v for k, v in d.items() if k not in known}
        rows.append(Row(tuple([cell(role)] + [cell(d.get(k), field=k) for k in known] + [cell(other or None)]),
                        key=str(role)))
    return table_block(["role", "path", "kind", "N", "fingerprint", "skipped", "cached", "seconds", "more"], rows)


def provenance_section(prov: Mapping[str, Any]) -> Section:
    """Where the numbers came from: versions, extractor and weights hash, protocol, seeds, inputs (with
    fingerprints, N, skipped, cache hits), timings, device, command; anything else as JSON."""
    items: list[tuple[str, Any]] = []
    used = {"versions", "extractor", "protocol", "seeds", "timings", "device", "created_utc", "command",
            "inputs", "config", "warnings"}
    if prov.get("created_utc"):
        items.append(("created (UTC)", prov["created_utc"]))
    cmd = prov.get("command")
    if cmd:
        items.append(("command", shlex.join(str(c) for c in cmd) if isinstance(cmd, list) else str(cmd)))
    ext = prov.get("extractor")
    if isinstance(ext, Mapping):
        for k, v in ext.items():
            items.append((f"extractor {k}", v))
    elif ext is not None:
        items.append(("extractor", ext))
    if prov.get("protocol") is not None:
        items.append(("protocol", prov["protocol"]))
    for group in ("seeds", "timings", "versions"):
        sub = prov.get(group)
        if isinstance(sub, Mapping):
            items.extend((f"{group[:-1] if group != 'versions' else 'version'} {k}", v) for k, v in sub.items())
        elif sub is not None:
            items.append((group, sub))
    if prov.get("device") is not None:
        items.append(("device", prov["device"]))
    blocks = [keyvalue_block(items)]
    inputs = prov.get("inputs")
    if isinstance(inputs, Mapping) and inputs:
        blocks.append(_input_rows(inputs))
    if prov.get("config") is not None:
        blocks.append(json_block(prov["config"], summary="every setting (config)"))
    rest = {k: v for k, v in prov.items() if k not in used}
    if rest:
        blocks.append(json_block(rest, summary="more provenance"))
    return Section("Provenance", tuple(blocks),
                   intro="Everything needed to know where these numbers came from and to reproduce them.")


# -- the section registry -------------------------------------------------------------------------------------

SectionBuild = Callable[[RunResult, ReportExtras], Sequence[Section]]


@dataclass(frozen=True)
class SectionEntry:
    """A registered section builder: `build` runs when `applies(run, extras)` is true; pages list sections
    by `order` (warnings 10, headline 20, truncation sweep 25, results 30, charts 40-59, samples 60,
    neighbours 65, training 70, caller sections 80, provenance 90)."""

    name: str
    order: int
    applies: Callable[[RunResult, ReportExtras], bool]
    build: SectionBuild


_SECTIONS: dict[str, SectionEntry] = {}


def register_section(entry: SectionEntry) -> None:
    """Add (or replace) a section builder; built-ins register the same way."""
    _SECTIONS[entry.name] = entry


def available_sections() -> dict[str, SectionEntry]:
    """The registered section builders by name."""
    return dict(_SECTIONS)


def _overall(run: RunResult) -> list[Result]:
    return [r for r in run.results if not is_breakdown(r)]


def _warnings(run: RunResult) -> list[str]:
    lines = [str(w) for w in run.provenance.get("warnings") or []]
    for r in run.results:
        d = r.details if isinstance(r.details, dict) else {}
        lines.extend(f"{result_label(r)}: {w}" for w in d.get("warnings") or [])
    return lines


def _prdc_section(run: RunResult, extras: ReportExtras) -> list[Section]:
    rs = {r.metric: r for r in _overall(run) if r.metric in PRDC}
    cats = [m for m in PRDC if m in rs]
    any_ci = any(rs[m].ci_low is not None for m in cats)
    block = bar_chart_block(cats, {"this run": [_estimate(rs[m]) for m in cats]}, title=", ".join(cats),
                            ylabel="value",
                            caption="Whiskers: the bootstrap confidence interval." if any_ci else
                            "No intervals were computed (run with --ci 0.95 to add them).")
    return [Section("Fidelity and diversity", (block,),
                    intro="Precision and density: how many generated samples look real; recall and coverage: "
                          "how much of the real data the generated samples cover.")]


def _samples_section(run: RunResult, extras: ReportExtras) -> list[Section]:
    inputs = run.provenance.get("inputs") or {}
    totals = {k: (v.get("n") if isinstance(v, Mapping) else None) for k, v in inputs.items()}
    images = dict(extras.images or {})
    ordered = {k: images[k] for k in ("real", "fake") if k in images}
    ordered.update({k: v for k, v in images.items() if k not in ordered})
    return [Section("Samples", (image_grids_block(ordered, totals=totals),),
                    intro="The first images of each set as ganeval read them (RGB, before the protocol's "
                          f"resizing; images over {GRID_MAX_SIDE} pixels are shown scaled down).")]


register_section(SectionEntry("warnings", 10, lambda run, ex: bool(_warnings(run)),
                              lambda run, ex: [Section("Warnings", (notes_block(_warnings(run)),))]))
register_section(SectionEntry("headline", 20, lambda run, ex: bool(_overall(run)),
                              lambda run, ex: [Section("Headline", (headline_block(_overall(run)),))]))
register_section(SectionEntry("results", 30, lambda run, ex: bool(run.results),
                              lambda run, ex: [Section("All results", (results_table_block(run.results),),
                                                       intro="Every row of results.json / results.csv.")]))
register_section(SectionEntry("prdc", 40, lambda run, ex: any(r.metric in PRDC for r in _overall(run)),
                              _prdc_section))
register_section(SectionEntry("breakdowns", 50, lambda run, ex: any(is_breakdown(r) for r in run.results),
                              lambda run, ex: breakdown_sections(run.results)))
register_section(SectionEntry("truncation", 25, lambda run, ex: any(is_breakdown(r) for r in run.results),
                              lambda run, ex: [s for s in [truncation_section(run.results)] if s]))
register_section(SectionEntry("samples", 60, lambda run, ex: bool(ex.images), _samples_section))
register_section(SectionEntry(
    "neighbours", 65, lambda run, ex: ex.neighbours is not None,
    lambda run, ex: [Section("Nearest real neighbours", (neighbours_block(ex.neighbours),),  # type: ignore[arg-type]
                             intro="Generated samples beside their nearest real images in feature space, "
                                   "closest pairs first. Near-copies of training images show up here.")]))
register_section(SectionEntry("training", 70, lambda run, ex: bool(ex.history),
                              lambda run, ex: [s for s in [training_curves_section(ex.history or [])] if s]))
register_section(SectionEntry("caller", 80, lambda run, ex: bool(ex.sections), lambda run, ex: list(ex.sections)))
register_section(SectionEntry("provenance", 90, lambda run, ex: True,
                              lambda run, ex: [provenance_section(run.provenance)]))


# -- rendering --------------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _environment() -> Any:
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                              keep_trailing_newline=True)


def _anchored(sections: Sequence[Section]) -> list[Section]:
    out, seen = [], set()
    for s in sections:
        base = re.sub(r"[^a-z0-9]+", "-", s.title.lower()).strip("-") or "section"
        anchor, i = base, 2
        while anchor in seen:
            anchor, i = f"{base}-{i}", i + 1
        seen.add(anchor)
        out.append(Section(s.title, s.blocks, s.intro, anchor))
    return out


def render_page(template: str, *, title: str, subtitle: str, sections: Sequence[Section]) -> str:
    """Render a page template with anchored sections; every string is HTML-escaped by jinja2."""
    return _environment().get_template(template).render(
        title=title, subtitle=subtitle, sections=_anchored(sections), version=__version__)


def default_title(run: RunResult) -> str:
    """"ganeval: FAKE vs REAL" from the run's inputs, else "ganeval report"."""
    inputs = run.provenance.get("inputs") or {}
    paths = {k: v.get("path") for k, v in inputs.items() if isinstance(v, Mapping)}
    if paths.get("fake") and paths.get("real"):
        return f"ganeval: {paths['fake']} vs {paths['real']}"
    if paths:
        return "ganeval: " + ", ".join(str(p) for p in paths.values())
    return "ganeval report"


def report_sections(run: RunResult, extras: ReportExtras | None = None) -> list[Section]:
    """The sections of a run's page: every registered builder that applies, in order."""
    extras = extras or ReportExtras()
    out: list[Section] = []
    for entry in sorted(_SECTIONS.values(), key=lambda e: (e.order, e.name)):
        if entry.applies(run, extras):
            out.extend(entry.build(run, extras))
    return out


def render_report(run: RunResult, extras: ReportExtras | None = None, *, title: str | None = None) -> str:
    """index.html for one run, as a string (nothing is written)."""
    prov = run.provenance
    subtitle = " · ".join(str(x) for x in (
        prov.get("created_utc"), (prov.get("extractor") or {}).get("name") if isinstance(prov.get("extractor"),
                                                                                           Mapping) else None,
        prov.get("protocol") and f"protocol {prov['protocol']}") if x)
    return render_page("page.html.j2", title=title or default_title(run), subtitle=subtitle,
                       sections=report_sections(run, extras))


def _check_out_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise BadInputError(f"cannot write a report into {out}: it is a file, not a folder")


def write_report(run: RunResult, out_dir: str | Path, *, images: Mapping[str, Any] | None = None,
                 neighbours: Neighbours | None = None, history: Sequence[Mapping[str, Any]] | None = None,
                 sections: Sequence[Section] = (), title: str | None = None) -> dict[str, Path]:
    """Write out_dir/index.html, results.json and results.csv; return their paths {"html", "json", "csv"}.

    images: {"real": uint8 (N, C, H, W), "fake": ...} for sample grids (the first GRID_IMAGES of each);
    neighbours, history, sections: see ReportExtras. All three files are rendered before any is
    written, and each is written atomically, so a failure leaves the folder as it was.
    """
    out = Path(out_dir)
    _check_out_dir(out)
    extras = ReportExtras(images=images, neighbours=neighbours, history=history, sections=tuple(sections))
    texts = {"html": render_report(run, extras, title=title), "json": results_json(run), "csv": results_csv(run)}
    paths = {"html": out / "index.html", "json": out / "results.json", "csv": out / "results.csv"}
    for key in ("json", "csv", "html"):
        atomic_write_text(paths[key], texts[key])
    return paths
