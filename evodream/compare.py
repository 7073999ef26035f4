"""Run several methods on the same model, targets, seed and evaluation budget, then report them.

This is the Python API behind ``evodream compare``::

    from evodream.compare import compare
    result = compare("runs/cmp", model="lenet-mnist", targets="all", budget=20_000, seed=0)

Each method is one run folder under ``OUT/runs/<method>``; the report goes to ``OUT/report``.
A method whose folder already holds a finished run with the same settings is reused, an
unfinished one is resumed, so an interrupted comparison continues where it stopped.
"""
from __future__ import annotations

import dataclasses
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from .config import EvolveConfig, check_seed, validate
from .errors import EvodreamError
from .runs import existing_run

# Base methods as EvolveConfig settings; "ascent" (gradient ascent) is added when evodream.ascend exists.
EVOLVE_METHODS = {
    "map-elites-direct": {"algorithm": "map-elites", "encoding": "direct"},
    "map-elites-cppn": {"algorithm": "map-elites", "encoding": "cppn"},
    "ga-cppn": {"algorithm": "ga", "encoding": "cppn"},
}
ASCENT = "ascent"
PRIOR_SUFFIX = "+priors"
# Settings that change how a run is executed but not what it computes: a reused run may differ in them.


def ascent_available() -> bool:
    return importlib.util.find_spec("evodream.ascend") is not None


# The +priors variants' set when the priors module names no default of its own: every image prior at
# 0.3, the weights `evodream evolve --help` gives as typical (about a nat per natural spread off).
COMPARE_PRIORS = "tv=0.3,spectrum=0.3,colour=0.3,gradient=0.3"


def default_priors() -> str:
    """The prior set the `+priors` variants use: the objectives package's DEFAULT_PRIORS, if it has one."""
    from .objectives import priors

    spec = getattr(priors, "DEFAULT_PRIORS", None)
    if isinstance(spec, dict):
        spec = ",".join(f"{k}={v:g}" for k, v in spec.items())
    return spec or COMPARE_PRIORS


def available_methods(with_priors: bool) -> list[str]:
    base = list(EVOLVE_METHODS) + ([ASCENT] if ascent_available() else [])
    return base + ([m + PRIOR_SUFFIX for m in base] if with_priors else [])


def parse_methods(text: str | None, with_priors: bool) -> list[str]:
    known = available_methods(with_priors=True)
    if text is None:
        return available_methods(with_priors)
    methods = [m.strip() for m in text.split(",") if m.strip()]
    if not methods:  # --methods "" or "," is a slip, not a wish for all eight
        raise EvodreamError(f"no --methods given: pass a comma-separated list from {', '.join(known)}, "
                            "or drop the flag for all")
    for method in methods:
        if method not in known:
            hint = "" if ascent_available() or not method.startswith(ASCENT) else \
                " (gradient ascent needs evodream.ascend, which this install lacks)"
            raise EvodreamError(f"unknown method {method!r}{hint}: choose from {', '.join(known)}")
    if len(set(methods)) != len(methods):
        raise EvodreamError("a method is listed twice in --methods: list each once")
    return methods


@dataclass
class CompareResult:
    out: Path
    runs: dict              # method → run folder
    reused: list            # methods whose finished runs were reused
    report: object          # evodream.report.Report


def evolve_config(method: str, *, model: str, targets: str, budget: int, seed: int, goal: float | None,
                  priors: str | None, threads: int | None) -> EvolveConfig:
    base = method.removesuffix(PRIOR_SUFFIX)
    settings = dict(EVOLVE_METHODS[base], model=model, target=targets, seed=seed, max_evals=budget, goal=goal,
                    threads=threads)
    if method.endswith(PRIOR_SUFFIX):
        from .objectives.priors import parse_priors

        settings["priors"] = parse_priors(priors)
    return validate(dataclasses.replace(EvolveConfig(), **settings).resolved())


def run_or_reuse(config: EvolveConfig, folder: Path, progress: bool = True) -> bool:
    """Run, resume or reuse one evolution run; True when a finished run was reused."""
    from .evolve import evolve, resume  # here: the command line lists EVOLVE_METHODS without torch

    state = existing_run(folder, "evolve", config.to_dict(), fix="give compare a new --out")
    if state == "finished":
        return True
    if state == "unfinished":
        resume(folder, progress=progress)
    else:
        evolve(config, folder, progress=progress)
    return False


def _run_ascent(method: str, folder: Path, *, model: str, targets: str, budget: int, seed: int,
                goal: float | None, priors: str | None, threads: int | None, progress: bool) -> bool:
    from . import ascend  # gradient ascent lives in its own module; see ascent_available()

    return ascend.run_for_compare(folder, model=model, targets=targets, budget=budget, seed=seed, goal=goal,
                                  priors=priors if method.endswith(PRIOR_SUFFIX) else None, threads=threads,
                                  progress=progress)


def compare(out: str | Path, *, model: str = "lenet-mnist", targets: str = "all", budget: int = 20_000,
            seed: int = 0, methods: list[str] | None = None, priors: str | None = "default",
            goal: float | None = 0.9999, threads: int | None = None, progress: bool = True,
            title: str | None = None) -> CompareResult:
    """Run every method into ``out/runs/<method>`` and write the report to ``out/report``."""
    from .report import write_report

    if budget <= 0:
        raise EvodreamError(f"--budget must be a positive number of evaluations, got {budget}")
    check_seed(seed, "--seed")
    if priors == "default":
        priors = default_priors()
    if priors:  # checked even when no +priors method runs: a typo should not pass unseen
        from .objectives.priors import parse_priors

        parse_priors(priors)
    methods = methods or available_methods(with_priors=priors is not None)
    if any(m.endswith(PRIOR_SUFFIX) for m in methods) and not priors:
        raise EvodreamError("the +priors methods need a prior set: pass --priors NAME=WEIGHT,... "
                            "(this install has no default set)")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise EvodreamError(f"{out} is a file: give --out a folder name")
    if out.is_dir() and any(p.name not in ("runs", "report") for p in out.iterdir()):
        raise EvodreamError(f"{out} holds other files than an earlier comparison's runs/ and report/: "
                            "choose a new --out")
    common = dict(model=model, targets=targets, budget=budget, seed=seed, goal=goal, threads=threads)
    # Build every config first, so a bad setting fails before any method runs.
    configs = {m: evolve_config(m, priors=priors, **common) for m in methods if not m.startswith(ASCENT)}
    runs, reused = {}, []
    for method in methods:
        folder = out / "runs" / method
        if progress:
            tqdm.write(f"== {method} -> {folder}")
        if method.startswith(ASCENT):
            was_reused = _run_ascent(method, folder, priors=priors, progress=progress, **common)
        else:
            was_reused = run_or_reuse(configs[method], folder, progress)
        if was_reused:
            reused.append(method)
            if progress:
                tqdm.write(f"   {folder} already holds this finished run: reusing it")
        runs[method] = folder
    title = title or (f"evodream compare: {model}, targets {targets}, budget {budget:,} evaluations, "
                      f"seed {seed}")
    report = write_report(list(runs.values()), out / "report", title=title)
    return CompareResult(out, runs, reused, report)
