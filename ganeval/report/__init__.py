"""Reports: results.json (with provenance) and results.csv (one row per metric). Reports never compute."""

from ganeval.report.files import RESULTS_CSV_COLUMNS, write_results

__all__ = ["RESULTS_CSV_COLUMNS", "write_results"]
