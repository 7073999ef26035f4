"""Write a report folder: index.html (self-contained), summary.md, summary.csv, figures/, report.json."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import EvodreamError
from ..runs import lies_within, write_atomic
from . import html as html_page
from . import plots
from .load import RunRecord, dumps, load_runs
from .tables import (
    DISPLAY_COLUMNS,
    NOTES,
    SUMMARY_COLUMNS,
    csv_text,
    formatted,
    markdown_table,
    summary_rows,
    transfer_table,
)

# A report folder carries this file so a later report may replace it, and nothing else is overwritten.
MARKER = ".evodream-report"


@dataclass
class Report:
    out: Path
    index: Path
    records: list
    rows: list          # raw summary rows (as in summary.csv)


def _prepare(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise EvodreamError(f"{out} is a file: give --out a folder name")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise EvodreamError(f"{out} exists and is not an evodream report folder: choose a new --out "
                            "(reports never overwrite other files)")
    try:
        (out / "figures").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EvodreamError(f"cannot create {out}: {exc.strerror}; choose another --out") from None
    write_atomic(out / MARKER, f"written by evodream report {time.strftime('%Y-%m-%dT%H:%M:%S')}\n".encode())


def markdown(records: list[RunRecord], rows: list[dict], title: str, sections=()) -> str:
    text = [f"# {title}", ""]
    for heading, note, table, columns in sections:
        text += [f"## {heading}", "", markdown_table(table, columns), "", note, ""]
    text += ["## Runs", ""] if sections else []
    text += [markdown_table([formatted(r) for r in rows], DISPLAY_COLUMNS), "", NOTES, ""]
    transfer, columns = transfer_table(records)
    if transfer:
        text += ["## Transfer", "", markdown_table(transfer, columns), ""]
    return "\n".join(text)


def write_report(runs, out: str | Path, *, title: str = "evodream report", max_classes: int = 100,
                 tile: int = 96, sections=()) -> Report:
    """`sections`: extra tables, each (heading, note, formatted rows, columns), shown before the runs'
    table (evodream sweep adds one row per grid cell)."""
    try:
        title.encode("utf-8")
    except UnicodeEncodeError:  # bytes that were not UTF-8 on the command line (surrogate escapes)
        raise EvodreamError("--title is not valid UTF-8 text: retype it") from None
    records = load_runs(runs)
    if max_classes <= 0:
        raise EvodreamError(f"--max-classes must be positive, got {max_classes}")
    out = Path(out)
    for record in records:
        if lies_within(out, record.path):
            raise EvodreamError(f"--out {out} lies inside the run {record.path}: write the report elsewhere")
    rows = summary_rows(records)
    figures = {"confidence": plots.confidence_curves(records), "reached": plots.reached_curves(records),
               "naturalness": plots.naturalness_scatter(records)}
    # The page before the folder: an elite picture that cannot be read then leaves no half a report.
    page = html_page.page(records, [formatted(r) for r in rows], transfer_table(records), figures,
                          title=title, tile=tile, max_classes=max_classes, sections=sections)
    _prepare(out)
    for name, png in figures.items():
        if png is not None:
            write_atomic(out / "figures" / f"{name}.png", png)
    write_atomic(out / "index.html", page.encode())
    write_atomic(out / "summary.md", markdown(records, rows, title, sections).encode())
    write_atomic(out / "summary.csv", csv_text(rows, [key for key, _ in SUMMARY_COLUMNS]).encode())
    write_atomic(out / "report.json", (dumps(records) + "\n").encode())
    return Report(out, out / "index.html", records, rows)
