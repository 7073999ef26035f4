"""Comparison reports built from run folders only (never from a model): HTML, Markdown, CSV.

    from evodream.report import write_report
    write_report(["runs/a", "runs/b"], "reports/ab")
"""
from .build import Report, write_report
from .load import RunRecord, load_run, load_runs
from .tables import summary_rows

__all__ = ["Report", "write_report", "RunRecord", "load_run", "load_runs", "summary_rows"]
