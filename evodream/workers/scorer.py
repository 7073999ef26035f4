"""The worker's half: build the run's scoring pieces once, then score the chunks it is sent.

What crosses the process boundary is plain data. Genomes go as a numpy array (encodings whose
population is one array, e.g. ``direct``) or as the encoding's JSON, checked by ``from_json`` on
arrival; replies are ``("ok", {fitness, confidence, naturalness, queries})`` with numpy arrays,
or ``("error", kind, message, traceback)``, so no exception object or genome class is pickled.
"""

from __future__ import annotations

import os
import time
import traceback
from typing import Any, Sequence

import numpy as np


def pack(encoding, population: Any, genomes: list | None, start: int, stop: int) -> dict:
    """Chunk [start, stop) of a population as plain data (``genomes``: the population unstacked,
    for encodings whose population is not one array)."""
    if isinstance(population, np.ndarray):
        return {"array": population[start:stop]}
    return {"json": [encoding.to_json(genome) for genome in genomes[start:stop]]}


def unpack(encoding, payload: dict) -> Any:
    """The population a :func:`pack` payload holds, in the encoding's own type."""
    if "array" in payload:
        return np.asarray(payload["array"])
    return encoding.stack([encoding.from_json(data) for data in payload["json"]])


def error_reply(exc: BaseException) -> tuple:
    return ("error", exc.__class__.__name__, str(exc), traceback.format_exc())


class Scorer:
    """A worker's classifier, encoding and objective, built from the run's config as the run's own
    process builds them (:func:`evodream.evolve.build_scoring`), and an Evaluator over them."""

    def __init__(self, config: dict, needs: Sequence[str]):
        from ..config import from_mapping, validate
        from ..evaluator import Evaluator
        from ..evolve import build_scoring

        settings = validate(from_mapping(config, source="worker config"))  # (imports the run's plugins too)
        _, _, _, self.encoding, objective = build_scoring(settings)
        self.evaluator = Evaluator(self.encoding, objective, needs=needs)

    def score(self, payload: dict) -> dict:
        started = time.perf_counter()
        population = unpack(self.encoding, payload)
        before = self.evaluator.queries
        scores = self.evaluator(population)
        return {
            "seconds": time.perf_counter() - started,  # the worker's own time (scripts/scaling.py)
            "fitness": scores.fitness,
            "confidence": scores.confidence,
            "naturalness": scores.naturalness,
            "queries": self.evaluator.queries - before,
        }


class ScorerActor:
    """The Ray actor: a :class:`Scorer` whose build error is kept and returned by every call, so a
    bad config ends the run with its message rather than looking like a dying worker."""

    def __init__(self, config: dict, needs: Sequence[str]):
        self.scorer, self.failure = None, None
        try:
            self.scorer = Scorer(config, needs)
        except Exception as exc:  # noqa: BLE001 - reported to the run's process by score()
            self.failure = error_reply(exc)

    def pid(self) -> int:
        return os.getpid()

    def score(self, payload: dict) -> tuple:
        if self.failure is not None:
            return self.failure
        try:
            return ("ok", self.scorer.score(payload))
        except Exception as exc:  # noqa: BLE001 - the run's process decides what a failure means
            return error_reply(exc)
