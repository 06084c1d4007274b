"""The report of a training run folder (`ganeval train-reference`): index.html, results.json/csv beside the run.

    OUT/manifest.json (best / untrained / real-vs-real FIDs, evaluation protocol, dataset, timings)
    OUT/history.csv   (losses, FID, class consistency per logged step)   -> training_run -> RunResult + sections
    OUT/samples/step_*.png (sample grids)                                 -> write_training_report -> OUT/index.html

Nothing is recomputed: every number comes from the files the training loop wrote (reports never compute).
The "Training run" summary is a registered section (order 22) of every run whose provenance kind is
"train-reference", so it also appears when such a results.json is rendered again.
Result rows: fid_best (best.pt), fid_final or fid_latest (the last evaluation: at the final step of a
finished run, else the latest before an interruption), fid_untrained (step 0) and fid_real_vs_real (the
floor: held-out images against as many training images), plus class_consistency_best / _final for
conditional generators; each has details {"step": ...}.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganeval.errors import MSG_MISSING_PATH, BadInputError
from ganeval.report import plots
from ganeval.report.html import (
    Section, SectionEntry, bar_chart_block, figure_block, keyvalue_block, read_history_csv, register_section,
    write_report,
)
from ganeval.results import Result, RunResult

MANIFEST, HISTORY, SAMPLES = "manifest.json", "history.csv", "samples"
MAX_GRIDS = 6  # sample grids embedded (first, evenly spaced, best, last): a report stays small
GRID_DISPLAY = 260  # smaller grids are enlarged (nearest neighbour, integer factor) to about this width
_STEP_PNG = re.compile(r"^step_(\d+)\.png$")


@dataclass(frozen=True)
class TrainingRun:
    """What a run folder's report shows: the results, the history rows and the sections built from the files."""

    run: RunResult
    history: list[dict[str, float | None]]
    sections: tuple[Section, ...]
    title: str


def _read_manifest(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise BadInputError(MSG_MISSING_PATH.format(path=path))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInputError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict) or not str(data.get("format", "")).startswith("ganeval-train-run"):
        raise BadInputError(f"{path} is not a ganeval training manifest (no 'format': 'ganeval-train-run-...')")
    return data


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _row_at(history: Sequence[Mapping[str, Any]], step: Any) -> Mapping[str, Any]:
    return next((r for r in history if step is not None and r.get("step") == float(step)), {})


def _results(m: Mapping[str, Any], history: Sequence[Mapping[str, Any]]) -> list[Result]:
    ev = m.get("evaluation") or {}
    n_real, n_fake, seed = ev.get("n_real"), ev.get("n_fake"), ev.get("eval_seed")
    out: list[Result] = []

    def add(metric: str, value: Any, n_fake_: Any = n_fake, **details: Any) -> None:
        v = _num(value)
        if v is not None:
            out.append(Result(metric, v, n_real=n_real, n_fake=n_fake_, seed=seed,
                              details={k: x for k, x in details.items() if x is not None}))

    best = m.get("best") or {}
    add("fid_best", best.get("fid"), step=best.get("step"), checkpoint=best.get("path"))
    last = m.get("last_evaluation") or {}
    finished = m.get("status") == "finished" and last.get("step") == m.get("step")
    last_name = "fid_final" if finished else "fid_latest"
    add(last_name, last.get("fid"), step=last.get("step"), checkpoint="final.pt" if finished else None)
    add("fid_untrained", m.get("fid_untrained"), step=0)
    add("fid_real_vs_real", m.get("fid_real_vs_real"), n_fake_=n_real,
        what="held-out images against as many training images: the floor a perfect generator would reach")
    if best.get("step") is not None:
        add("class_consistency_best", _row_at(history, best["step"]).get("class_consistency"), step=best["step"])
    add(last_name.replace("fid", "class_consistency"), last.get("class_consistency"), step=last.get("step"))
    return out


def _file_sha256(path: Path) -> str | None:
    """sha256 of a file's bytes (the generator checkpoint's fingerprint), None when it cannot be read."""
    import hashlib

    try:
        with open(path, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError:
        return None


def _provenance(m: Mapping[str, Any], out: Path) -> dict[str, Any]:
    ev = m.get("evaluation") or {}
    ds = m.get("dataset") or {}
    gen = m.get("generator") or {}
    checkpoint = out / ((m.get("best") or {}).get("path") or "final.pt")
    inputs = {
        "real": {"path": str(ds.get("name")), "kind": "dataset (held out)", "n": ev.get("n_real"),
                 "fingerprint": ds.get("fingerprint"), "heldout": ds.get("heldout")},
        "fake": {"path": str(checkpoint), "kind": "generator", "n": ev.get("n_fake"),
                 "fingerprint": _file_sha256(checkpoint), "architecture": gen.get("architecture")},
    }
    prov: dict[str, Any] = {
        "kind": "train-reference",
        "versions": m.get("versions"),
        "created_utc": m.get("ended_utc") or m.get("started_utc"),
        "command": None,
        "extractor": {"name": ev.get("extractor"), "spec": ev.get("extractor"),
                      "weights_sha256": ev.get("weights_sha256")} if ev else None,
        "protocol": ev.get("protocol"),
        "inputs": inputs,
        "seeds": {"train_seed": m.get("seed"), "eval_seed": ev.get("eval_seed")},
        "timings": {"wall_s": m.get("wall_s"), "seconds_per_step": m.get("seconds_per_step")},
        "device": m.get("device"),
        "config": m.get("config"),
        "run": {"trainer": m.get("trainer"), "description": m.get("description"), "status": m.get("status"),
                "step": m.get("step"), "steps": m.get("steps"), "seed": m.get("seed"), "best": m.get("best"),
                "started_utc": m.get("started_utc"), "resumed_utc": m.get("resumed_utc"),
                "ended_utc": m.get("ended_utc"), "wall_s": m.get("wall_s"),
                "seconds_per_step": m.get("seconds_per_step"), "threads": m.get("threads"), "dataset": ds,
                "generator": gen, "discriminator_parameters": m.get("discriminator_parameters")},
    }
    return prov


def summary_section(run: RunResult) -> Section:
    """What was trained on what and where the best generator is (from the run's provenance), and the FIDs
    side by side: the real-vs-real floor, untrained, best and final."""
    r = run.provenance.get("run") or {}
    ds = r.get("dataset") or {}
    gen = r.get("generator") or {}
    best = r.get("best") or {}
    items = [
        ("trainer", f"{r.get('trainer')} ({r['description']})" if r.get("description") else r.get("trainer")),
        ("status", r.get("status")), ("step", f"{r.get('step')} of {r.get('steps')}"), ("seed", r.get("seed")),
        ("dataset", f"{ds.get('name')}: {ds.get('n_train')} training images, {ds.get('n_heldout')} held out "
                    f"({ds.get('heldout')})"),
        ("generator", f"{gen.get('architecture')}, {gen.get('parameters')} parameters"),
        ("best checkpoint", f"{best.get('path')} (step {best.get('step')})" if best.get("path") else None),
        ("wall time (s)", r.get("wall_s")), ("seconds per step", r.get("seconds_per_step")),
        ("threads", r.get("threads")),
    ]
    blocks = [keyvalue_block(items)]
    fids = [x for x in run.results if x.metric.startswith("fid_")]
    if fids:
        blocks.append(bar_chart_block([x.metric.removeprefix("fid_").replace("_", " ") for x in fids],
                                      {"FID": [x.value for x in fids]}, title="FID on the held-out set",
                                      ylabel="FID",
                                      caption="real vs real is the floor; an untrained generator the ceiling."))
    return Section("Training run", tuple(blocks),
                   intro="From manifest.json: what was trained on what, and where the best generator is.")


register_section(SectionEntry("training-run", 22, lambda run, ex: run.provenance.get("kind") == "train-reference",
                              lambda run, ex: [summary_section(run)]))


def _grid_steps(folder: Path, best_step: Any) -> list[tuple[int, Path]]:
    found = sorted((int(mt.group(1)), p) for p in folder.glob("step_*.png") if (mt := _STEP_PNG.match(p.name)))
    if len(found) <= MAX_GRIDS:
        return found
    spaced = MAX_GRIDS - 1  # evenly spaced from the first to the last, and the best step's
    picks = {round(j * (len(found) - 1) / (spaced - 1)) for j in range(spaced)}
    steps = [s for s, _ in found]
    if best_step in steps:
        picks.add(steps.index(best_step))
    return [found[i] for i in sorted(picks)]


def _enlarged(png: bytes) -> bytes:
    """A small grid PNG scaled up by an integer factor (nearest neighbour) to about GRID_DISPLAY pixels wide,
    so the pixels of 8x8 or 28x28 samples can be seen; larger grids are returned unchanged."""
    import io

    from PIL import Image

    width, _ = plots.png_size(png)
    factor = GRID_DISPLAY // max(1, width)
    if factor < 2:
        return png
    with Image.open(io.BytesIO(png)) as im:
        big = im.resize((im.width * factor, im.height * factor), Image.Resampling.NEAREST)
        buffer = io.BytesIO()
        big.save(buffer, format="PNG")
    return buffer.getvalue()


def _samples_section(out: Path, best_step: Any) -> Section | None:
    blocks = []
    for step, path in _grid_steps(out / SAMPLES, best_step):
        try:
            png = _enlarged(path.read_bytes())
        except (OSError, ValueError):  # unreadable or not a PNG: a damaged file is left out, not fatal
            continue
        blocks.append(figure_block(png, alt=f"sample grid at step {step}",
                                   caption=f"step {step}" + (" (best)" if step == best_step else "")))
    if not blocks:
        return None
    return Section("Sample grids", tuple(blocks),
                   intro="Fixed latents at each step (samples/step_*.png; one row per class for conditional "
                         "generators).")


def training_run(out: str | Path) -> TrainingRun:
    """Read a run folder's manifest.json, history.csv and samples/ into what its report shows.

    Raises BadInputError naming the file when the manifest is missing or not a training manifest, or
    history.csv is unreadable.
    """
    out = Path(out)
    m = _read_manifest(out / MANIFEST)
    history = read_history_csv(out / HISTORY) if (out / HISTORY).is_file() else []
    results = _results(m, history)
    grids = _samples_section(out, (m.get("best") or {}).get("step"))
    sections = [grids] if grids is not None else []
    title = f"ganeval train-reference {m.get('trainer')}: {out}"
    return TrainingRun(RunResult(results, _provenance(m, out)), history, tuple(sections), title)


def write_training_report(out: str | Path) -> dict[str, Path]:
    """Write OUT/index.html, OUT/results.json and OUT/results.csv for the run folder OUT; return their paths."""
    tr = training_run(out)
    return write_report(tr.run, out, history=tr.history, sections=tr.sections, title=tr.title)
