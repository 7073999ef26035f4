"""The run folder: everything a run leaves behind, and nothing else touches files.

    manifest.json     full config, seed, model, targets, package versions, format version
    metrics.csv       one row per generation (evaluations, queries, wall seconds, confidences)
    checkpoint.json   search state + RNG states: `evodream evolve --resume` continues from it
    summary.json      how the run ended (written when it stops)
    elites/           per class: PNG + genome JSON with its confidence
    elites.png        a labelled grid of every elite

Checkpoints are JSON (never pickle) and written atomically: a crash mid-write leaves the previous
one intact.
"""
from __future__ import annotations

import csv
import json
import os
import platform
import re
import sys
import time
from importlib import metadata
from pathlib import Path

from .errors import EvodreamError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
METRICS = "metrics.csv"
CHECKPOINT = "checkpoint.json"
SUMMARY = "summary.json"
METRIC_FIELDS = ["generation", "evaluations", "queries", "wall_seconds", "best", "median", "min",
                 "reached_0.99", "reached_0.9999"]


def package_versions() -> dict:
    versions = {"python": platform.python_version()}
    for name in ("evodream", "torch", "torchvision", "numpy", "deap", "pillow"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:40] or "class"


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file, flush it to disk, then rename over the target."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise EvodreamError(f"cannot write {path}: {exc.strerror or exc}; the previous file is intact "
                            "(free some space or fix the folder's permissions, then --resume)") from None


def write_json(path: Path, data) -> None:
    write_atomic(path, (json.dumps(data, indent=1, allow_nan=False) + "\n").encode())


def read_json(path: Path, what: str) -> dict:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise EvodreamError(f"{path} is missing: the {what} is incomplete") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EvodreamError(f"{path} is corrupt ({exc.__class__.__name__}): the {what} cannot be read") from None
    if not isinstance(data, dict):
        raise EvodreamError(f"{path} is corrupt: expected a JSON object")
    return data


class RunFolder:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    # -- creating and opening ----------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, manifest: dict) -> "RunFolder":
        run = cls(path)
        if (run.path / MANIFEST).exists():
            raise EvodreamError(f"{run.path} already holds a run: continue it with --resume {run.path} "
                                "or choose a new --out name")
        if run.path.exists() and (not run.path.is_dir() or any(run.path.iterdir())):
            raise EvodreamError(f"{run.path} exists and is not an empty folder: choose a new --out name")
        try:
            (run.path / "elites").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EvodreamError(f"cannot create {run.path}: {exc.strerror}; choose another --out") from None
        manifest = {"format_version": FORMAT_VERSION, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "command": sys.argv, "versions": package_versions(), **manifest}
        write_json(run.path / MANIFEST, manifest)
        with open(run.path / METRICS, "w", newline="") as handle:
            csv.writer(handle).writerow(METRIC_FIELDS)
        return run

    @classmethod
    def open(cls, path: str | Path, kind: str | None = None) -> "RunFolder":
        run = cls(path)
        if not run.path.is_dir():
            raise EvodreamError(f"{run.path} is not a folder: give the path of a run folder")
        if not (run.path / MANIFEST).exists():
            raise EvodreamError(f"{run.path} is not an evodream run (no {MANIFEST}): give a run folder")
        manifest = run.manifest
        version = manifest.get("format_version")
        if version != FORMAT_VERSION:
            raise EvodreamError(f"{run.path} was written in run format {version!r}; this evodream reads format "
                                f"{FORMAT_VERSION}: re-run it with this version")
        if kind is not None and manifest.get("kind") != kind:
            raise EvodreamError(f"{run.path} is a {manifest.get('kind')!r} run, not {kind!r}")
        return run

    @property
    def manifest(self) -> dict:
        return read_json(self.path / MANIFEST, "run's manifest")

    # -- metrics -----------------------------------------------------------------------------
    def append_metrics(self, rows: list[dict]) -> None:
        with open(self.path / METRICS, "a", newline="") as handle:
            writer = csv.DictWriter(handle, METRIC_FIELDS, extrasaction="ignore")
            writer.writerows(rows)

    def read_metrics(self) -> list[dict]:
        try:
            with open(self.path / METRICS, newline="") as handle:
                return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]
        except (OSError, ValueError) as exc:
            raise EvodreamError(f"{self.path / METRICS} cannot be read ({exc}): the run is corrupt") from None

    def truncate_metrics(self, generation: int) -> None:
        """Drop rows past `generation`: a resumed run rewrites what came after its checkpoint."""
        with open(self.path / METRICS, newline="") as handle:
            lines = handle.read().splitlines(keepends=True)
        kept = lines[:1] + [line for line in lines[1:] if int(line.split(",", 1)[0]) <= generation]
        write_atomic(self.path / METRICS, "".join(kept).encode())

    # -- checkpoint and summary ---------------------------------------------------------------
    def save_checkpoint(self, state: dict) -> None:
        write_json(self.path / CHECKPOINT, {"format_version": FORMAT_VERSION, **state})

    def load_checkpoint(self) -> dict | None:
        if not (self.path / CHECKPOINT).exists():
            return None
        return read_json(self.path / CHECKPOINT, "checkpoint")

    def write_summary(self, summary: dict) -> None:
        write_json(self.path / SUMMARY, summary)

    def summary(self) -> dict | None:
        return read_json(self.path / SUMMARY, "run's summary") if (self.path / SUMMARY).exists() else None

    # -- elites ------------------------------------------------------------------------------
    def elite_stem(self, index: int, name: str) -> Path:
        return self.path / "elites" / f"{index:04d}-{slug(name)}"

    def write_elite(self, index: int, name: str, image, record: dict) -> None:
        stem = self.elite_stem(index, name)
        image.save(stem.with_suffix(".png"))
        write_json(stem.with_suffix(".json"), record)

    def elite_records(self) -> list[dict]:
        return [read_json(p, "elite") for p in sorted((self.path / "elites").glob("*.json"))]
