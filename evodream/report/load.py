"""Run folders → plain records: the only place the report touches a run's files.

Everything the report shows comes from here: manifest.json, metrics.csv, summary.json,
reached.json (per-class first evaluation at 99% / 99.99%), elites/*.json + PNGs and, when
`evodream transfer` wrote one, transfer.json. Nothing is recomputed with a model.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import EvodreamError
from ..milestones import REACHED, THRESHOLDS, threshold_key
from ..runs import METRICS, RunFolder, read_json

TRANSFER = "transfer.json"


@dataclass
class Elite:
    class_index: int
    class_name: str
    confidence: float
    naturalness: float | None
    found_at: int | None
    image: Path | None          # the elite's PNG, when it was written


@dataclass
class Reach:
    """Per target, the first evaluation count at which it held a threshold (None: never)."""

    first: dict                 # threshold → list[int | None], one per target
    source: str                 # "reached.json" or "metrics.csv" (see derive_reach)


@dataclass
class RunRecord:
    path: Path
    name: str                   # unique label in this report (the folder name, or parent/name)
    kind: str                   # "evolve", "ascend", ...
    method: str                 # e.g. "MAP-Elites · cppn + priors"
    model: str
    target_names: list
    config: dict
    metrics: dict               # column → np.ndarray, one entry per generation / step
    summary: dict | None
    reach: Reach
    elites: list = field(default_factory=list)
    transfer: dict | None = None
    units: dict = field(default_factory=dict)   # the manifest's note on what its metrics columns count

    @property
    def finished(self) -> bool:
        return self.summary is not None

    @property
    def last(self) -> dict:
        return {k: float(v[-1]) for k, v in self.metrics.items()}

    @property
    def wall_seconds(self) -> float:
        recorded = _number(self.summary.get("wall_seconds")) if self.summary else None
        if recorded is not None:
            return recorded
        return self.last["wall_seconds"]


def method_label(manifest: dict) -> str:
    kind = manifest.get("kind", "?")
    config = manifest.get("config") or {}
    priors = (manifest.get("objective") or {}).get("priors") or config.get("priors") or {}
    if not isinstance(priors, dict) or not all(isinstance(w, (int, float)) for w in priors.values()):
        raise ValueError(f"priors {str(priors)[:60]} are not name = weight pairs")
    if kind == "evolve":
        algorithm = {"map-elites": "MAP-Elites", "ga": "GA", "nsga2": "NSGA-II"}.get(
            config.get("algorithm"), str(config.get("algorithm")))
        label = f"{algorithm} · {config.get('encoding', '?')}"
    elif kind == "ascend":
        label = "gradient ascent"
    else:
        label = str(kind)
    if priors:
        label += " + priors (" + ", ".join(f"{k}={v:g}" for k, v in priors.items()) + ")"
    return label


def model_name(manifest: dict) -> str:
    model = manifest.get("model")
    if isinstance(model, dict):
        return str(model.get("name", "?"))
    return str(model or (manifest.get("config") or {}).get("model", "?"))


def _read_metrics(run: RunFolder) -> dict:
    rows = run.read_metrics()
    if not rows:
        raise EvodreamError(f"{run.path / METRICS} has no rows yet: let the run reach its first checkpoint "
                            "or leave it out of the report")
    needed = ("evaluations", "wall_seconds", "best", "median", "min")
    missing = [k for k in needed if k not in rows[0]]
    if missing:
        raise EvodreamError(f"{run.path / METRICS} lacks column(s) {', '.join(missing)}: "
                            "it is not an evodream metrics file")
    return {key: np.array([row[key] for row in rows], dtype=np.float64) for key in rows[0]}


def derive_reach(metrics: dict, targets: int) -> Reach:
    """Per-class reach times from metrics.csv's ``reached_<t>`` counts, for runs without reached.json.

    The k-th entry is the first evaluation at which k classes held the threshold at once. That
    equals the per-class first-reach times exactly when no class ever drops back below it (so for
    pure-confidence fitness); the report names the source so a reader knows which was used.
    """
    first = {}
    for t in THRESHOLDS:
        counts = metrics.get(f"reached_{threshold_key(t)}")
        if counts is None:
            first[t] = [None] * targets
            continue
        times = []
        for k in range(1, targets + 1):
            hit = np.flatnonzero(counts >= k)
            times.append(int(metrics["evaluations"][hit[0]]) if len(hit) else None)
        first[t] = times
    return Reach(first, METRICS)


def _read_reach(run: RunFolder, metrics: dict, targets: int) -> Reach:
    path = run.path / REACHED
    if not path.exists():
        return derive_reach(metrics, targets)
    data = read_json(path, "run's reached.json")
    def evaluation(value) -> int | None:
        if value is not None and not 0 <= int(value) < 2 ** 63:
            raise ValueError(value)
        return None if value is None else int(value)

    try:
        first = {t: [evaluation(v) for v in data["first_evaluation"][threshold_key(t)]] for t in THRESHOLDS}
    except (KeyError, TypeError, ValueError, OverflowError):
        raise EvodreamError(f"{path} is corrupt: "
                            "delete it and the report falls back to metrics.csv") from None
    if any(len(v) != targets for v in first.values()):
        raise EvodreamError(f"{path} lists a different number of targets than the manifest: "
                            "the run is corrupt")
    return Reach(first, REACHED)


def _number(value) -> float | None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    try:
        return float(value)
    except OverflowError:  # an integer past float range: not a figure evodream wrote
        return None


def _read_elites(run: RunFolder) -> list[Elite]:
    elites = []
    for path, record in run.elite_files():
        png = path.with_suffix(".png")
        found = record.get("found_at_evaluation")
        elites.append(Elite(record["class_index"], record["class_name"], float(record["confidence"]),
                            _number(record.get("naturalness")),
                            int(found) if _number(found) is not None else None,
                            png if png.exists() else None))
    return elites


def _read_transfer(run: RunFolder) -> dict | None:
    path = run.path / TRANSFER
    return read_json(path, "transfer results") if path.exists() else None


def _units(manifest: dict) -> dict:
    units = manifest.get("metrics")
    return {str(k): str(v) for k, v in units.items()} if isinstance(units, dict) else {}


def load_run(path: str | Path) -> RunRecord:
    run = RunFolder.open(path)
    manifest = run.manifest
    metrics = _read_metrics(run)
    names = [str(n) for n in manifest.get("target_names") or []]
    if not names:
        raise EvodreamError(f"{run.path / 'manifest.json'} names no targets: the run is corrupt")
    try:
        method = method_label(manifest)
    except ValueError as exc:
        raise EvodreamError(f"{run.path / 'manifest.json'} is corrupt: its {exc}") from None
    return RunRecord(path=run.path, name=run.path.name, kind=str(manifest.get("kind", "?")),
                     method=method, model=model_name(manifest), target_names=names,
                     config=manifest.get("config") or {}, metrics=metrics, summary=run.summary(),
                     reach=_read_reach(run, metrics, len(names)), elites=_read_elites(run),
                     transfer=_read_transfer(run), units=_units(manifest))


def load_runs(paths) -> list[RunRecord]:
    paths = [Path(p) for p in paths]
    if not paths:
        raise EvodreamError("no run folders given: pass one or more RUN folders (e.g. runs/*)")
    resolved = [p.resolve() for p in paths]
    if len(set(resolved)) != len(resolved):
        raise EvodreamError("the same run folder is given twice: list each run once")
    records = [load_run(p) for p in paths]
    # Folder names label columns and legends; runs from different parents may share one.
    names = [r.name for r in records]
    for record in records:
        if names.count(record.name) > 1:
            record.name = f"{record.path.parent.name}/{record.path.name}"
    return records


def dumps(records: list[RunRecord]) -> str:
    """The records as JSON (report.json beside the page), for scripts that post-process reports."""
    def encode(record: RunRecord) -> dict:
        return {"path": str(record.path), "name": record.name, "kind": record.kind, "method": record.method,
                "model": record.model, "target_names": record.target_names, "finished": record.finished,
                "wall_seconds": record.wall_seconds, "last_metrics": record.last,
                "reach": {"source": record.reach.source,
                          **{threshold_key(t): v for t, v in record.reach.first.items()}},
                "elites": [{"class_index": e.class_index, "class_name": e.class_name,
                            "confidence": e.confidence, "naturalness": e.naturalness,
                            "found_at_evaluation": e.found_at} for e in record.elites]}
    return json.dumps([encode(r) for r in records], indent=1)
