"""Evolution runs: build the pieces a config names, drive them, keep the run folder current.

This is the Python API behind ``evodream evolve``::

    from evodream import EvolveConfig, evolve
    result = evolve(EvolveConfig(model="lenet-mnist", target="all"), "runs/mnist")

The pieces come from registries by name (``ENCODINGS``, ``SEARCHES``, ``EMITTERS``, ``PRIORS``):
an :class:`~evodream.evaluator.Evaluator` renders and scores what the search asks for, and
:func:`evodream.driver.run` loops ask → evaluate → tell with the run folder's callbacks.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .checkpoint import check_checkpoint, global_rng_state, restore_global_rng
from .classifiers import resolve_targets
from .classifiers.base import Classifier
from .classifiers.spec import ModelSpec
from .config import EvolveConfig, from_mapping, validate
from .driver import Callback, Loop, ProgressBar, RunRecorder, Stop
from .driver import run as drive
from .errors import EvodreamError
from .genomes import ENCODINGS, Encoding
from .images import labelled_grid, resized, to_pil
from .milestones import Milestones
from .objectives import Objective, crop_render_size
from .objectives.priors import NATURALNESS, naturalness
from .plugins import load_plugins
from .runs import CHECKPOINT, SUMMARY, RunFolder
from .search import SEARCHES, Search
from .statecheck import BadState
from .workers import make_evaluator

STOP_SETTINGS = ("generations", "max_evals", "max_seconds", "goal")
# Settings a resume may change besides when it stops: they never change the results.
RESUME_SETTINGS = STOP_SETTINGS + ("checkpoint_every", "checkpoint_seconds")
# ... and where it runs: a resumed run continues correctly on any number of workers, but the
# classifier's per-image scores depend on the batch split, so another count makes another run.
RESUME_SETTINGS += ("workers", "ray")


@dataclass
class EvolveResult:
    run: RunFolder
    generations: int
    evaluations: int
    queries: int
    wall_seconds: float
    confidences: dict          # class name → best confidence
    stop_reason: str
    goal: float | None = None  # the run's --goal (None: it ran without one)


def build_encoding(config: EvolveConfig, channels: int, input_size: int) -> Encoding:
    size = crop_render_size(input_size) if config.ten_crop else input_size
    return ENCODINGS[config.encoding](config, channels, size)


def _corrupt(run: RunFolder) -> EvodreamError:
    return EvodreamError(f"{run.path / 'manifest.json'} is incomplete: the run is corrupt")


def config_of_run(run: RunFolder, manifest: dict | None = None,
                  overrides: dict | None = None) -> EvolveConfig:
    """The settings a run was made with, from its manifest (importing its plugins), with `overrides`
    applied; pass the manifest when it is already read."""
    try:
        recorded = (run.manifest if manifest is None else manifest)["config"]
        return validate(from_mapping({**recorded, **(overrides or {})}, source="manifest"))
    except (KeyError, TypeError, ValueError, AttributeError):
        raise _corrupt(run) from None


def encoding_of_run(run: RunFolder) -> Encoding:
    """The encoding a run was made with, rebuilt from its manifest without loading the model."""
    manifest = run.manifest
    config = config_of_run(run, manifest)
    try:
        model = manifest["model"]
        return build_encoding(config, int(model["channels"]), int(model["input_size"]))
    except (KeyError, TypeError, ValueError, AttributeError):
        raise _corrupt(run) from None


def seed_everything(seed: int) -> np.random.Generator:
    random.seed(seed)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def build_scoring(config: EvolveConfig) -> tuple[EvolveConfig, Classifier, list, Encoding, Objective]:
    """The config with its recipe resolved, and the classifier, target indices, encoding and objective
    it names: what renders and scores a population, built alike by a run's own process and by each of
    its workers (evodream.workers)."""
    classifier = ModelSpec.of(config).load()
    targets = resolve_targets(config.target, classifier.class_names, model=config.model)
    # Recipe "auto" resolves here, once the model and the number of targets are known.
    config = validate(config.resolved((classifier.channels, classifier.input_size, len(targets))))
    encoding = build_encoding(config, classifier.channels, classifier.input_size)
    objective = Objective(classifier, targets, kind=config.confidence, ten_crop=config.ten_crop,
                          priors=config.priors)
    return config, classifier, targets, encoding, objective


class _Session:
    """The pieces of one run, built from its config."""

    def __init__(self, config: EvolveConfig):
        config, self.classifier, self.targets, self.encoding, self.objective = build_scoring(config)
        self.config = config
        self.names = [self.classifier.class_names[t] for t in self.targets]
        self.search: Search = SEARCHES[config.algorithm](config, self.encoding, self.targets,
                                                          seed_everything(config.seed))
        # One process, or a pool of worker processes / Ray actors (--workers, --ray) with the same interface.
        self.evaluator = make_evaluator(config, self.encoding, self.objective, self.search.needs)
        # Per-target first evaluation at 99% / 99.99% (reached.json); None when a resumed run's
        # checkpoint predates it, as earlier first-reach counts cannot be recovered then.
        self.milestones: Milestones | None = Milestones(self.targets, self.names)

    def manifest(self) -> dict:
        return {"kind": "evolve", "config": self.config.to_dict(), "seed": self.config.seed,
                "model": {"name": self.classifier.name, "input_size": self.classifier.input_size,
                          "channels": self.classifier.channels, "classes": self.classifier.num_classes},
                "targets": self.targets, "target_names": self.names,
                "encoding": self.encoding.settings(),
                "objective": {**self.objective.settings(), "naturalness": NATURALNESS.version},
                # Float sums in the model depend on the thread count: part of what reproduces a run.
                "torch_threads": torch.get_num_threads(),
                # The engine "auto" resolved to: a resume uses the same one, as its sums differ from torch's.
                "engine": {"name": self.classifier.engine, "version": self.classifier.engine_version},
                "workers": self.evaluator.describe()}


def evolve(config: EvolveConfig, out: str | Path, *, progress: bool = True) -> EvolveResult:
    """Start a new run in `out` (which must not hold one) and run it to its end."""
    load_plugins(config.plugins)  # before resolved(): a plugin encoding may bring recipe defaults
    validate(config.resolved())  # bad settings fail before the model loads (the session resolves "auto")
    session = _Session(config)
    try:
        run = RunFolder.create(out, session.manifest())
    except BaseException:
        session.evaluator.close()  # a Ray connection made for the run
        raise
    with run.lock():
        return _run(session, run, elapsed=0.0, progress=progress)


def resume(out: str | Path, overrides: dict | None = None, *, progress: bool = True) -> EvolveResult:
    """Continue the run in `out` from its checkpoint; `overrides` may change only when it stops."""
    run = RunFolder.open(out, kind="evolve")
    with run.lock():  # before reading the checkpoint: another process may be writing it
        run.check_writable()
        return _resume(run, overrides or {}, progress)


def _resume(run: RunFolder, overrides: dict, progress: bool) -> EvolveResult:
    manifest = run.manifest
    other = sorted(set(overrides) - set(RESUME_SETTINGS))
    if other:
        raise EvodreamError(f"--resume continues a run as it was configured; only "
                            f"{', '.join(RESUME_SETTINGS)} may change, not {', '.join(other)}")
    # The engine the run was evaluated by; runs from before engines were recorded used torch.
    recorded = manifest.get("engine") if isinstance(manifest, dict) else None
    engine = recorded.get("name", "torch") if isinstance(recorded, dict) else "torch"
    config = config_of_run(run, manifest, {**overrides, "engine": engine})
    session = _Session(config)
    checkpoint = run.load_checkpoint()
    elapsed = 0.0
    if checkpoint is None and (run.path / SUMMARY).exists():  # starting over would overwrite its elites
        raise EvodreamError(f"{run.path} finished but its {CHECKPOINT} is missing, so it cannot be "
                            "continued: restore that file, or start a new run with --out")
    if checkpoint is None and progress:
        tqdm.write(f"{run.path} has no checkpoint yet: starting it again from generation 0")
    if checkpoint is not None:
        path = run.path / CHECKPOINT
        check_checkpoint(checkpoint, path)
        try:
            session.search.load_state_dict(checkpoint["search"])
            session.evaluator.queries = int(checkpoint["queries"])
            elapsed = float(checkpoint["wall_seconds"])
            if "milestones" in checkpoint:
                session.milestones.load_state_dict(checkpoint["milestones"])
            else:
                session.milestones = None
            restore_global_rng(checkpoint)
        except BadState as exc:
            raise EvodreamError(f"{path} is corrupt ({exc}); resume from a good copy or start a new "
                                "run") from None
        except EvodreamError as exc:  # a genome the encoding rejects
            raise EvodreamError(f"{path} is corrupt: {exc}") from None
        except (KeyError, TypeError, ValueError, IndexError, OverflowError, RuntimeError) as exc:
            raise EvodreamError(f"{path} is corrupt ({exc.__class__.__name__}: {exc}); "
                                "start a new run") from None
    run.truncate_metrics(session.search.generation,
                         None if checkpoint is None else checkpoint.get("metrics_bytes"))
    if progress:
        tqdm.write(f"resuming {run.path} at generation {session.search.generation}, "
                   f"{session.search.evaluations} evaluations")
        passed = _limits_passed(config, session.search)
        if passed:
            tqdm.write(f"it is already past {' and '.join(passed)}, so it ends without a new generation: "
                       "raise that limit to go on")
    return _run(session, run, elapsed=elapsed, progress=progress)


def _limits_passed(config: EvolveConfig, search) -> list[str]:
    """The run-length flags a resumed run has already reached (a limit lowered, or not raised)."""
    passed = []
    if config.generations is not None and search.generation >= config.generations:
        passed.append(f"--generations {config.generations}")
    if config.max_evals is not None and search.evaluations >= config.max_evals:
        passed.append(f"--max-evals {config.max_evals}")
    return passed


class _Outputs(Callback):
    """At the end of a run: the elites (and the Pareto front of a multi-objective search), the summary."""

    def __init__(self, session: _Session, run: RunFolder, progress: bool = True):
        self.session, self.run, self.progress = session, run, progress

    def on_end(self, loop: Loop) -> None:
        write_elites(self.run, self.session.encoding, self.session.search.elites(),
                     self.session.classifier.class_names, progress=self.progress)
        if self.session.search.pareto_front():
            write_pareto(self.session, self.run)


def _run(session: _Session, run: RunFolder, *, elapsed: float, progress: bool) -> EvolveResult:
    config, search = session.config, session.search

    def checkpoint(loop: Loop, metrics_bytes: int) -> None:
        state = {"search": search.state_dict(defer=True), "queries": session.evaluator.queries,
                 "wall_seconds": loop.seconds, "metrics_bytes": metrics_bytes, **global_rng_state()}
        if session.milestones is not None:
            state["milestones"] = session.milestones.to_json()
        run.save_checkpoint(state)

    stop = Stop(config.generations, config.max_evals, config.max_seconds, config.goal)
    callbacks = [ProgressBar(config.max_evals, run.path.name, enabled=progress),
                 RunRecorder(run, session.milestones, checkpoint=checkpoint, every=config.checkpoint_every,
                             seconds=config.checkpoint_seconds),
                 _Outputs(session, run, progress)]
    try:
        loop = drive(search, session.evaluator, stop, callbacks, overlap=config.overlap, elapsed=elapsed)
    finally:
        session.search.close()
        session.evaluator.close()
    names = session.classifier.class_names
    result = EvolveResult(run, search.generation, search.evaluations, session.evaluator.queries, loop.seconds,
                          {names[e.target]: e.confidence for e in search.elites()}, loop.reason, config.goal)
    run.write_summary({"stop_reason": loop.reason, "generations": result.generations,
                       "evaluations": result.evaluations, "queries": result.queries,
                       "wall_seconds": round(loop.seconds, 3), "confidences": result.confidences})
    return result


PROGRESS_ELITES = 100  # fewer are written in a blink


def write_elites(run: RunFolder, encoding: Encoding, elites: list, class_names,
                 preview_size: int = 112, progress: bool = False) -> None:
    """Each elite as PNG + genome JSON, and the labelled grid of them all (with a progress bar
    when there are many: 1,000 ImageNet elites take ~16 s here)."""
    if not elites:
        return
    pictures, labels = [], []
    shown = progress and len(elites) >= PROGRESS_ELITES
    for elite, image, nat in tqdm(_rendered(encoding, elites), total=len(elites), unit="elite",
                                  desc=f"writing {len(elites)} elites", disable=not shown, leave=False):
        name = class_names[elite.target]
        picture = to_pil(image)
        run.write_elite(elite.target, name, picture, {
            "class_index": elite.target, "class_name": name, "confidence": elite.confidence,
            "fitness": elite.fitness, "naturalness": nat, "found_at_evaluation": elite.found_at,
            "genome": encoding.to_json(elite.genome)})
        pictures.append(resized(picture, preview_size))
        labels.append(f"{name}\n{elite.confidence * 100:.2f}% nat {nat:.2f}")
    run.write_image("elites.png", labelled_grid(pictures, labels, tile=preview_size))


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
                           "naturalness": ind.fitness.values[1],
                           "genome": session.encoding.to_json(ind.genome)})
            pictures.append(to_pil(image))
    run.write_pareto(points, pictures, pareto_plot(points))
