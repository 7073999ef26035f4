"""The sweep's own table: one row per grid cell (every varying axis but the seed), over its seeds.

The report's per-run table says how each run did; this one answers the grid's question — which
encoding / algorithm / prior setting does better — with the seeds of a cell pooled: medians for
confidences and reach times (robust to one odd seed), means for counts and costs.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..milestones import THRESHOLDS, threshold_key
from ..report.tables import csv_text, fmt_confidence, fmt_count, markdown_table
from ..runs import write_atomic
from .grid import Grid, value_label

NOTE = ("One row per cell of the grid, pooling its seeds (jobs: finished of all, and failed). ≥ 99%: "
        "targets at 99% or more, mean over the cell's runs. Confidences: median over runs of each run's "
        "median (min: the lowest of any run). Evals to 99%: median over runs of each run's median reach "
        "count. Evaluations, wall time, naturalness: means over runs. The per-run table below has every run.")


def group_axes(grid: Grid) -> list[str]:
    return [a for a in grid.varying if a != "seed"]


def _median(values: list) -> float | None:
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return float(np.median(values)) if values else None


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def group_rows(grid: Grid, records: list, run_rows: dict) -> list[dict]:
    """Raw rows: `records` are sweep.json's jobs, `run_rows` the report's summary rows by job name."""
    axes = group_axes(grid)
    cells: dict = {}
    for record in records:
        key = tuple(value_label(a, record["axes"][a]) if a in record["axes"] else "—" for a in axes)
        cells.setdefault(key, []).append(record)
    rows = []
    for key, members in cells.items():
        runs = [run_rows[r["name"]] for r in members if r["name"] in run_rows]
        row = dict(zip(axes, key))
        row.update(jobs=len(members), finished=len(runs),
                   failed=sum(r["status"] == "failed" for r in members),
                   targets=max((r["targets"] for r in runs), default=0))
        for t in THRESHOLDS:
            k = threshold_key(t)
            row[f"reached_{k}"] = _mean([r[f"reached_{k}"] for r in runs])
            row[f"evals_to_{k}_median"] = _median([r[f"evals_to_{k}_median"] for r in runs])
        row["median_confidence"] = _median([r["median_confidence"] for r in runs])
        row["min_confidence"] = min((r["min_confidence"] for r in runs), default=None)
        row["evaluations"] = _mean([r["evaluations"] for r in runs])
        row["wall_seconds"] = _mean([r["wall_seconds"] for r in runs])
        row["mean_naturalness"] = _mean([r["mean_naturalness"] for r in runs])
        rows.append(row)
    return rows


def columns(grid: Grid) -> list[tuple]:
    return [(a, a) for a in group_axes(grid)] + [
        ("jobs", "jobs"), ("reached_0.99", "≥ 99%"), ("reached_0.9999", "≥ 99.99%"),
        ("median_confidence", "median conf."), ("min_confidence", "min conf."),
        ("evals_to_0.99", "evals to 99%"), ("evals_to_0.9999", "evals to 99.99%"),
        ("evaluations", "evaluations"), ("wall_seconds", "wall time"),
        ("mean_naturalness", "mean naturalness")]


def formatted(row: dict, grid: Grid) -> dict:
    out = {a: str(row[a]) for a in group_axes(grid)}
    out["jobs"] = f"{row['finished']}/{row['jobs']}" + (f" ({row['failed']} failed)" if row["failed"] else "")
    for t in THRESHOLDS:
        k = threshold_key(t)
        value = row[f"reached_{k}"]
        out[f"reached_{k}"] = "—" if value is None else f"{value:.3g}/{row['targets']}"
        out[f"evals_to_{k}"] = fmt_count(row[f"evals_to_{k}_median"])
    out["median_confidence"] = fmt_confidence(row["median_confidence"])
    out["min_confidence"] = fmt_confidence(row["min_confidence"])
    out["evaluations"] = fmt_count(None if row["evaluations"] is None else round(row["evaluations"]))
    out["wall_seconds"] = "—" if row["wall_seconds"] is None else f"{row['wall_seconds']:.1f} s"
    out["mean_naturalness"] = "—" if row["mean_naturalness"] is None else f"{row['mean_naturalness']:.4g}"
    return out


def group_section(grid: Grid, rows: list[dict]) -> tuple:
    """(heading, note, formatted rows, columns): a table section for evodream.report.write_report."""
    return "By grid cell (seeds pooled)", NOTE, [formatted(r, grid) for r in rows], columns(grid)


def markdown(grid: Grid, rows: list[dict]) -> str:
    return markdown_table([formatted(r, grid) for r in rows], columns(grid))


def write_groups(folder: Path, grid: Grid, rows: list[dict]) -> None:
    """groups.csv (raw numbers) and groups.md beside the report."""
    keys = group_axes(grid) + ["jobs", "finished", "failed", "targets"] + [
        k for k in rows[0]
        if k not in group_axes(grid) and k not in ("jobs", "finished", "failed", "targets")]
    write_atomic(folder / "groups.csv", csv_text(rows, keys).encode())
    write_atomic(folder / "groups.md",
                 (f"# {grid.title}: by grid cell\n\n{markdown(grid, rows)}\n\n{NOTE}\n").encode())
