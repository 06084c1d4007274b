"""Reports: results.json (with provenance), results.csv (one row per metric) and a self-contained index.html.

    RunResult -> write_results (json + csv)                                              [report.files]
    RunResult (+ images, neighbours, history, sections) -> write_report (html + json + csv)   [.html, .plots]
    several results.json folders -> write_comparison (index.html + comparison.csv)             [.compare]
    a training run folder (manifest, history, sample grids) -> write_training_report            [.training]

Reports never compute: they arrange and format numbers that are already in Result rows. docs/reports.md
describes the pages and the hooks other commands use to add sections.
"""

from ganeval.report.compare import Comparison, compare_runs, load_run, write_comparison
from ganeval.report.files import RESULTS_CSV_COLUMNS, write_results
from ganeval.report.html import (
    Neighbours, ReportExtras, Section, SectionEntry, read_history_csv, register_section, render_report,
    write_report,
)
from ganeval.report.training import training_run, write_training_report

__all__ = [
    "RESULTS_CSV_COLUMNS", "Comparison", "Neighbours", "ReportExtras", "Section", "SectionEntry", "compare_runs",
    "load_run", "read_history_csv", "register_section", "render_report", "training_run", "write_comparison",
    "write_report", "write_results", "write_training_report",
]
