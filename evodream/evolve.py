"""Evolution runs: build the pieces a config names, loop generations, keep the run folder current.

This is the Python API behind ``evodream evolve``::

    from evodream import EvolveConfig, evolve
    result = evolve(EvolveConfig(model="lenet-mnist", target="all"), "runs/mnist")
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .checkpoint import check_checkpoint, global_rng_state, restore_global_rng
from .classifiers import load_classifier, resolve_targets
from .config import EvolveConfig, from_mapping, validate
from .errors import EvodreamError
from .genomes import ENCODINGS, Encoding
from .images import labelled_grid, to_pil
from .objectives import Objective, crop_render_size
from .objectives.priors import naturalness
from .milestones import REACHED, Milestones
from .runs import CHECKPOINT, RunFolder, write_image, write_json
from .search.ga import GeneticAlgorithm
from .search.map_elites import MapElites
from .search.nsga2 import NSGA2

STOP_SETTINGS = ("generations", "max_evals", "max_seconds", "goal")
# Settings a resume may change besides when it stops: they never change the results.
RESUME_SETTINGS = STOP_SETTINGS + ("checkpoint_every", "checkpoint_seconds")
METRICS_FLUSH_SECONDS = 2.0  # how stale metrics.csv may get while a run is watched


@dataclass
class EvolveResult:
    run: RunFolder
    generations: int
    evaluations: int
    queries: int
    wall_seconds: float
    confidences: dict          # class name → best confidence
    stop_reason: str


def build_encoding(config: EvolveConfig, channels: int, input_size: int) -> Encoding:
    size = crop_render_size(input_size) if config.ten_crop else input_size
    if config.encoding == "direct":
        return ENCODINGS["direct"](channels, size, mutation_rate=config.mutation_rate, eta=config.eta,
                                   halve_every=config.halve_every, crossover_rate=config.crossover_rate)
    return ENCODINGS["cppn"](channels, size, colour=config.colour, weight_rate=config.mutation_rate,
                             eta=config.eta)


def encoding_of_run(run: RunFolder) -> Encoding:
    """The encoding a run was made with, rebuilt from its manifest without loading the model."""
    manifest = run.manifest
    try:
        config = validate(from_mapping(manifest["config"], source="manifest"))
        return build_encoding(config, int(manifest["model"]["channels"]), int(manifest["model"]["input_size"]))
    except (KeyError, TypeError, ValueError):
        raise EvodreamError(f"{run.path / 'manifest.json'} is incomplete: the run is corrupt") from None


def build_search(config: EvolveConfig, encoding: Encoding, objective: Objective, rng: np.random.Generator):
    if config.algorithm == "map-elites":
        return MapElites(encoding, objective, rng, batch_size=config.population,
                         parent_selection=config.parent_selection, goal=config.goal or 1.0,
                         crossover_rate=config.crossover_rate, adaptive=config.adaptive, overlap=config.overlap)
    if config.algorithm == "nsga2":
        return NSGA2(encoding, objective, rng, population_size=config.population,
                     crossover_rate=config.crossover_rate)
    return GeneticAlgorithm(encoding, objective, rng, population_size=config.population,
                            tournament_size=config.tournament_size, crossover_rate=config.crossover_rate)


def seed_everything(seed: int) -> np.random.Generator:
    random.seed(seed)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


class _Session:
    """The pieces of one run, built from its config."""

    def __init__(self, config: EvolveConfig):
        self.config = config
        if config.threads:
            torch.set_num_threads(config.threads)
        self.classifier = load_classifier(config.model, device=config.device, classes_file=config.classes_file,
                                          input_size=config.input_size, weights=config.weights,
                                          engine=config.engine)
        self.targets = resolve_targets(config.target, self.classifier.class_names)
        self.encoding = build_encoding(config, self.classifier.channels, self.classifier.input_size)
        self.objective = Objective(self.classifier, self.targets, kind=config.confidence, ten_crop=config.ten_crop,
                                   priors=config.priors)
        self.search = build_search(config, self.encoding, self.objective, seed_everything(config.seed))
        # Per-target first evaluation at 99% / 99.99% (reached.json); None when a resumed run's
        # checkpoint predates it, as earlier first-reach counts cannot be recovered then.
        self.milestones: Milestones | None = Milestones(
            self.targets, [self.classifier.class_names[t] for t in self.targets])

    def manifest(self) -> dict:
        return {"kind": "evolve", "config": self.config.to_dict(), "seed": self.config.seed,
                "model": {"name": self.classifier.name, "input_size": self.classifier.input_size,
                          "channels": self.classifier.channels, "classes": self.classifier.num_classes},
                "targets": self.targets, "target_names": [self.classifier.class_names[t] for t in self.targets],
                "encoding": self.encoding.settings(), "objective": self.objective.settings(),
                # Float sums in the model depend on the thread count: part of what reproduces a run.
                "torch_threads": torch.get_num_threads(),
                # The engine "auto" resolved to: a resume uses the same one, as its sums differ from torch's.
                "engine": {"name": self.classifier.engine, "version": self.classifier.engine_version}}


def evolve(config: EvolveConfig, out: str | Path, *, progress: bool = True) -> EvolveResult:
    """Start a new run in `out` (which must not hold one) and run it to its end."""
    config = validate(config.resolved())
    session = _Session(config)
    run = RunFolder.create(out, session.manifest())
    with run.lock():
        return _run(session, run, elapsed=0.0, progress=progress)


def resume(out: str | Path, overrides: dict | None = None, *, progress: bool = True) -> EvolveResult:
    """Continue the run in `out` from its checkpoint; `overrides` may change only when it stops."""
    run = RunFolder.open(out, kind="evolve")
    with run.lock():  # before reading the checkpoint: another process may be writing it
        return _resume(run, overrides or {}, progress)


def _resume(run: RunFolder, overrides: dict, progress: bool) -> EvolveResult:
    manifest = run.manifest
    other = sorted(set(overrides) - set(RESUME_SETTINGS))
    if other:
        raise EvodreamError(f"--resume continues a run as it was configured; only {', '.join(RESUME_SETTINGS)} "
                            f"may change, not {', '.join(other)}")
    # The engine the run was evaluated by; runs from before engines were recorded used torch.
    recorded = manifest.get("engine") if isinstance(manifest, dict) else None
    engine = recorded.get("name", "torch") if isinstance(recorded, dict) else "torch"
    try:
        config = validate(from_mapping({**manifest["config"], **overrides, "engine": engine},
                                       source="manifest"))
    except (KeyError, TypeError):
        raise EvodreamError(f"{run.path} has no config in its manifest: the run is corrupt") from None
    session = _Session(config)
    checkpoint = run.load_checkpoint()
    elapsed = 0.0
    if checkpoint is not None:
        check_checkpoint(checkpoint, len(session.targets), config.algorithm, run.path / CHECKPOINT)
        try:
            session.search.load_state_dict(checkpoint["search"])
            session.classifier.queries = int(checkpoint["queries"])
            elapsed = float(checkpoint["wall_seconds"])
            if "milestones" in checkpoint:
                session.milestones.load_state_dict(checkpoint["milestones"])
            else:
                session.milestones = None
            restore_global_rng(checkpoint)
        except EvodreamError as exc:  # a genome the encoding rejects
            raise EvodreamError(f"{run.path / CHECKPOINT} is corrupt: {exc}") from None
        except (KeyError, TypeError, ValueError, IndexError, OverflowError, RuntimeError) as exc:
            raise EvodreamError(f"{run.path / CHECKPOINT} is corrupt ({exc.__class__.__name__}: {exc}); "
                                "start a new run") from None
    run.truncate_metrics(session.search.generation, None if checkpoint is None else checkpoint.get("metrics_bytes"))
    if progress:
        tqdm.write(f"resuming {run.path} at generation {session.search.generation}, "
                   f"{session.search.evaluations} evaluations")
    return _run(session, run, elapsed=elapsed, progress=progress)


def _stop_reason(config: EvolveConfig, search, confidences, seconds) -> str | None:
    if config.goal and min(confidences) >= config.goal:
        return f"every target reached {config.goal:g}"
    if config.generations is not None and search.generation >= config.generations:
        return f"{config.generations} generations"
    if config.max_evals is not None and search.evaluations >= config.max_evals:
        return f"{config.max_evals} evaluations"
    if config.max_seconds is not None and seconds >= config.max_seconds:
        return f"{config.max_seconds:g} seconds"
    return None


def _run(session: _Session, run: RunFolder, *, elapsed: float, progress: bool) -> EvolveResult:
    config, search = session.config, session.search
    started = time.perf_counter() - elapsed
    last_checkpoint = last_flush = time.perf_counter()
    pending_rows: list[dict] = []
    total = config.max_evals
    bar = tqdm(total=total, initial=min(search.evaluations, total or 0), unit="eval", disable=not progress,
               dynamic_ncols=True, desc=run.path.name)
    confidences = [e.confidence for e in search.elites()] or [0.0]
    reason = _stop_reason(config, search, confidences, elapsed) if search.generation else None
    while reason is None:
        record = search.step()
        seconds = time.perf_counter() - started
        row = record.row()
        row["wall_seconds"] = round(seconds, 3)
        pending_rows.append(row)
        if session.milestones is not None:
            session.milestones.update(record.confidences, record.evaluations, record.queries)
        bar.update(record.evaluations - bar.n)
        bar.set_postfix_str(f"gen {record.generation} best {row['best']:.4f} median {row['median']:.4f} "
                            f"min {row['min']:.4f}", refresh=False)
        reason = _stop_reason(config, search, record.confidences, seconds)
        due = (search.generation % config.checkpoint_every == 0
               or time.perf_counter() - last_checkpoint >= config.checkpoint_seconds)
        if due or reason is not None:
            _checkpoint(session, run, pending_rows, seconds)
            pending_rows = []
            last_checkpoint = last_flush = time.perf_counter()
        elif time.perf_counter() - last_flush >= METRICS_FLUSH_SECONDS:
            # Rows past the checkpoint are fine to show early: a resume truncates them.
            run.append_metrics(pending_rows)
            pending_rows = []
            last_flush = time.perf_counter()
    bar.close()
    if hasattr(search, "close"):
        search.close()  # the overlap render thread
    seconds = time.perf_counter() - started
    names = session.classifier.class_names
    result = EvolveResult(run, search.generation, search.evaluations, session.classifier.queries, seconds,
                          {names[e.target]: e.confidence for e in search.elites()}, reason)
    write_elites(session, run)
    if hasattr(search, "pareto_front"):
        write_pareto(session, run)
    run.write_summary({"stop_reason": reason, "generations": result.generations, "evaluations": result.evaluations,
                       "queries": result.queries, "wall_seconds": round(seconds, 3),
                       "confidences": result.confidences})
    return result


def _checkpoint(session: _Session, run: RunFolder, rows: list[dict], seconds: float) -> None:
    # Metrics first (on disk), then the checkpoint, which records how many bytes of them it covers:
    # whatever a crash leaves past that, a resume cuts off.
    size = run.append_metrics(rows, sync=True)
    state = {"search": session.search.state_dict(defer=True), "queries": session.classifier.queries,
             "wall_seconds": seconds, "metrics_bytes": size, **global_rng_state()}
    if session.milestones is not None:
        milestones = session.milestones.to_json()
        write_json(run.path / REACHED, milestones)
        state["milestones"] = milestones
    run.save_checkpoint(state)


def write_elites(session: _Session, run: RunFolder, preview_size: int = 112) -> None:
    """Each elite as PNG + genome JSON, and the labelled grid of them all."""
    names = session.classifier.class_names
    elites = session.search.elites()
    if not elites:
        return
    pictures, labels = [], []
    for elite, image, nat in _rendered(session.encoding, elites):
        name = names[elite.target]
        picture = to_pil(image)
        run.write_elite(elite.target, name, picture, {
            "class_index": elite.target, "class_name": name, "confidence": elite.confidence,
            "fitness": elite.fitness, "naturalness": nat, "found_at_evaluation": elite.found_at,
            "genome": session.encoding.to_json(elite.genome)})
        pictures.append(to_pil(image, preview_size))
        labels.append(f"{name}\n{elite.confidence * 100:.2f}% nat {nat:.2f}")
    write_image(run.path / "elites.png", labelled_grid(pictures, labels, tile=preview_size))


def _rendered(encoding: Encoding, elites: list, chunk: int = 32):
    """(elite, image, naturalness) a chunk at a time: 1,000 elites at 224 px rendered and scored at
    once took the end of a 1,000-class run from 1.7 GB to 4.5 GB."""
    for start in range(0, len(elites), chunk):
        part = elites[start:start + chunk]
        images = encoding.render(encoding.stack([e.genome for e in part]))
        yield from zip(part, images, naturalness(images).tolist())


def write_pareto(session: _Session, run: RunFolder) -> None:
    """nsga2: every target's final non-dominated front as pictures, a CSV and a scatter plot."""
    from .pareto import pareto_plot

    names = session.classifier.class_names
    points, pictures = [], []
    for target, front in session.search.pareto_front():
        images = session.encoding.render(session.encoding.stack([ind.genome for ind in front]))
        for rank, (ind, image) in enumerate(zip(front, images)):
            points.append({"class_index": target, "class_name": names[target], "rank": rank,
                           "confidence": ind.confidence, "fitness": ind.fitness.values[0],
                           "naturalness": ind.fitness.values[1], "genome": session.encoding.to_json(ind.genome)})
            pictures.append(to_pil(image))
    run.write_pareto(points, pictures, pareto_plot(points))
