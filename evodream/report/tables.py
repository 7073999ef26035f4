"""Records → table rows: raw numbers for summary.csv, formatted text for Markdown and HTML."""
from __future__ import annotations

import csv
import io
import math

import numpy as np

from ..milestones import THRESHOLDS, threshold_key
from .load import RunRecord

# Every column of summary.csv (raw numbers), and the narrower set the page and summary.md show.
SUMMARY_COLUMNS = [
    ("run", "run"), ("method", "method"), ("model", "model"), ("targets", "targets"),
    ("evaluations", "evaluations"), ("queries", "queries"), ("wall_seconds", "wall time"),
    ("reached_0.99", "≥ 99%"), ("reached_0.9999", "≥ 99.99%"),
    ("median_confidence", "median conf."), ("min_confidence", "min conf."),
    ("evals_to_0.99_median", "evals to 99% (median)"), ("never_0.99", "never 99%"),
    ("evals_to_0.9999_median", "evals to 99.99% (median)"), ("never_0.9999", "never 99.99%"),
    ("mean_naturalness", "mean naturalness"), ("reach_source", "reach source"), ("status", "status"),
]
DISPLAY_COLUMNS = [
    ("run", "run"), ("method", "method"), ("model", "model"), ("evaluations", "evaluations"),
    ("wall_seconds", "wall time"), ("reached_0.99", "≥ 99%"), ("reached_0.9999", "≥ 99.99%"),
    ("median_confidence", "median conf."), ("min_confidence", "min conf."),
    ("evals_to_0.99", "evals to 99%: median (never)"), ("evals_to_0.9999", "evals to 99.99%: median (never)"),
    ("mean_naturalness", "mean naturalness"), ("status", "stopped by"),
]
NOTES = ("Confidences: the final elites' target probabilities (metrics.csv, last row). Evals to 99%: the "
         "median over all targets of the evaluation count at which each first held 99% (a target that never "
         "did counts as infinitely late, so the median reads 'not reached' unless at least half got there), "
         "from the run's per-class reached.json; * marks runs without one, where the counts come from "
         "metrics.csv's reached columns (exact while no class drops back below the threshold). Mean "
         "naturalness: over the elites that record one.")


def median_reach(times: list) -> float:
    """Median over *all* targets, a target that never got there counting as infinitely late, so
    the median is only finite when at least half the targets reached the threshold."""
    values = np.array([math.inf if t is None else t for t in times], dtype=np.float64)
    return float(np.sort(values)[(len(values) - 1) // 2]) if len(values) else math.nan


def summary_row(record: RunRecord) -> dict:
    last = record.last
    n = len(record.target_names)
    naturalness = [e.naturalness for e in record.elites if e.naturalness is not None]
    row = {"run": record.name, "method": record.method, "model": record.model, "targets": n,
           "evaluations": int(last["evaluations"]), "queries": int(last.get("queries", last["evaluations"])),
           "wall_seconds": round(record.wall_seconds, 3)}
    for t in THRESHOLDS:
        key = threshold_key(t)
        row[f"reached_{key}"] = int(last[f"reached_{key}"]) if f"reached_{key}" in last else None
    row["median_confidence"] = last["median"]
    row["min_confidence"] = last["min"]
    for t in THRESHOLDS:
        key = threshold_key(t)
        times = record.reach.first[t]
        row[f"evals_to_{key}_median"] = median_reach(times)
        row[f"never_{key}"] = sum(v is None for v in times)
    row["mean_naturalness"] = float(np.mean(naturalness)) if naturalness else None
    row["reach_source"] = record.reach.source
    row["status"] = (record.summary or {}).get("stop_reason") or "unfinished"
    return row


def summary_rows(records: list[RunRecord]) -> list[dict]:
    return [summary_row(r) for r in records]


# -- formatting --------------------------------------------------------------------------------
def fmt_confidence(c) -> str:
    if c is None or (isinstance(c, float) and math.isnan(c)):
        return "—"
    # Near certainty the interesting digits are the 9s; elsewhere two decimals are plenty.
    return f"{c * 100:.4f}%" if c >= 0.99 else f"{c * 100:.2f}%"


def fmt_count(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if isinstance(v, float) and math.isinf(v):
        return "not reached"
    return f"{int(v):,}"


def formatted(row: dict) -> dict:
    out = dict(row)
    n = row["targets"]
    for t in THRESHOLDS:
        key = threshold_key(t)
        out[f"reached_{key}"] = "—" if row[f"reached_{key}"] is None else f"{row[f'reached_{key}']}/{n}"
        out[f"evals_to_{key}_median"] = fmt_count(row[f"evals_to_{key}_median"])
        out[f"never_{key}"] = f"{row[f'never_{key}']}/{n}"
        # A star marks counts derived from metrics.csv rather than the per-class reached.json.
        star = "*" if row["reach_source"] != "reached.json" else ""
        out[f"evals_to_{key}"] = f"{out[f'evals_to_{key}_median']}{star} ({row[f'never_{key}']}/{n} never)"
    out["evaluations"] = fmt_count(row["evaluations"])
    out["queries"] = fmt_count(row["queries"])
    out["wall_seconds"] = f"{row['wall_seconds']:.1f} s"
    out["median_confidence"] = fmt_confidence(row["median_confidence"])
    out["min_confidence"] = fmt_confidence(row["min_confidence"])
    out["mean_naturalness"] = "—" if row["mean_naturalness"] is None else f"{row['mean_naturalness']:.3f}"
    return {k: str(v) for k, v in out.items()}


def markdown_table(rows: list[dict], columns: list[tuple]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(title) for _, title in columns) + " |",
             "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(cell(row[key]) for key, _ in columns) + " |" for row in rows]
    return "\n".join(lines)


def csv_text(rows: list[dict], columns: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row[k] is None else row[k]) for k in columns})
    return buffer.getvalue()


# -- transfer ---------------------------------------------------------------------------------
def transfer_table(records: list[RunRecord]) -> tuple[list[dict], list[tuple]]:
    """Rows (run, scoring model) × columns (transforms), from each run's transfer.json summary.

    A cell reads "k/n ≥ 99% · median c": how many elites still fool that model at 99% after the
    transform, and the median target confidence. transfer.csv beside the run has every number.
    """
    transforms: list[str] = []
    rows: dict = {}
    for record in records:
        if not record.transfer:
            continue
        n = len(record.transfer.get("classes", []))
        source = record.transfer.get("source_model")
        for item in record.transfer.get("summary", []):
            if item["transform"] not in transforms:
                transforms.append(item["transform"])
            model = item["model"] + (" (source)" if item["model"] == source else "")
            row = rows.setdefault((record.name, model), {"run": record.name, "model": model})
            row[item["transform"]] = (f"{item['reached_0.99']}/{n} ≥ 99% · "
                                      f"median {fmt_confidence(item['median_confidence'])}")
    columns = [("run", "run"), ("model", "scored by")] + [(t, t) for t in transforms]
    table = [{key: row.get(key, "—") for key, _ in columns} for row in rows.values()]
    return table, columns
