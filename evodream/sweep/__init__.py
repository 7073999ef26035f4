"""Sweeps: a grid of runs (models × encodings × algorithms × targets × seeds × priors ...) run as
independent jobs, on local processes or a Ray cluster, into one folder with one report.

    from evodream.sweep import sweep
    result = sweep("examples/sweep-mnist.toml", "runs/sweep-mnist", jobs=2)
    result = sweep("examples/sweep-mnist.toml", "runs/sweep-mnist", ray="auto")   # on a Ray cluster

Modules: grid (sweep file → jobs), job (one job in a worker), executors (local processes, Ray),
runner (sweep.json, sweep.log, retries, progress), summary (the per-cell table of the report).
"""
from .grid import Grid, Job, expand, load_grid
from .runner import SweepResult, sweep

__all__ = ["Grid", "Job", "expand", "load_grid", "SweepResult", "sweep"]
