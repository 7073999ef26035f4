"""WorkerPool: what local and Ray pools share — the split, the gather, exact query counts, deaths.

A subclass starts a worker per slot (``_start``) and scores one chunk per busy slot until all
have answered (``_evaluate``), calling :meth:`WorkerPool._died` when a worker is gone; the pool
turns the answers into one :class:`~evodream.objectives.Scores` in population order.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np
import torch

from ..errors import EvodreamError
from ..objectives.objective import Scores
from .scorer import error_reply, pack

MAX_DEATHS = 3  # deaths in a row of one worker slot (no answer in between) that end the run


def usable_cores() -> int:
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def split(size: int, count: int) -> list[tuple[int, int]]:
    """[start, stop) of each of `count` contiguous chunks of a population of `size` (numpy.array_split's
    rule: the first size % count chunks are one longer). Fixed by the worker count alone."""
    base, extra = divmod(size, count)
    bounds, start = [], 0
    for slot in range(count):
        stop = start + base + (slot < extra)
        bounds.append((start, stop))
        start = stop
    return bounds


class WorkerError(RuntimeError):
    """A worker raised something other than an EvodreamError: a bug, shown with the worker's traceback."""


class WorkerPool:
    """An evaluator whose genomes are rendered and scored by ``config.workers`` workers.

    Generation-synchronous: ``pool(population)`` returns when every chunk is scored. ``queries``
    sums the classifier queries the workers report for the chunks they answered, so a chunk sent
    again after a death is counted once, as in an undisturbed run.
    """

    kind = ""

    def __init__(self, config, encoding, needs: Sequence[str] = ()):
        self.config = config
        self.encoding = encoding
        self.needs = tuple(needs)
        self.count = int(config.workers)
        self.threads = self.worker_threads()
        self._queries = 0
        self._deaths = [0] * self.count
        self._started = False
        self.seconds: list[float] = []

    # -- what the driver sees ------------------------------------------------------------------

    @property
    def queries(self) -> int:
        return self._queries

    @queries.setter
    def queries(self, value: int) -> None:
        self._queries = int(value)

    def describe(self) -> dict:
        """For the run manifest: what decides the split and each worker's arithmetic."""
        return {
            "backend": self.kind,
            "count": self.count,
            "threads_each": self.threads,
            "split": "contiguous",
        }

    def __call__(self, population: Any) -> Scores:
        size = len(population)
        genomes = None if isinstance(population, np.ndarray) else self.encoding.unstack(population)
        payloads = {
            slot: pack(self.encoding, population, genomes, start, stop)
            for slot, (start, stop) in enumerate(split(size, self.count))
            if stop > start
        }
        if not self._started:
            for slot in range(self.count):
                self._start(slot)
            self._started = True
        replies = self._evaluate(payloads)
        parts = [replies[slot] for slot in sorted(replies)]
        self.seconds = [float(part["seconds"]) for part in parts]  # each worker's time on the last generation
        self._queries += sum(int(part["queries"]) for part in parts)
        fitness = np.concatenate([part["fitness"] for part in parts])
        confidence = np.concatenate([part["confidence"] for part in parts])
        naturalness = None
        if "naturalness" in self.needs:
            naturalness = np.concatenate([part["naturalness"] for part in parts])
        return Scores(fitness, confidence, naturalness)

    def close(self) -> None:
        """Stop the workers (a worker busy with a chunk is terminated)."""

    # -- for subclasses ------------------------------------------------------------------------

    def worker_threads(self) -> int:
        """Torch threads per worker: --threads, else this machine's cores shared out."""
        return self.config.threads or max(1, usable_cores() // self.count)

    def worker_config(self, slot: int) -> dict:
        """The run's config as a worker builds it: one process, its threads, its GPU."""
        device = self.config.device
        if device == "cuda":  # a GPU each, round robin over this machine's (Ray gives each actor its own)
            gpus = torch.cuda.device_count() if self.kind == "local" else 0
            device = f"cuda:{slot % gpus}" if gpus > 1 else device
        return dataclasses.replace(
            self.config, workers=1, ray=None, overlap=False, threads=self.threads, device=device
        ).to_dict()

    def _start(self, slot: int) -> None:
        raise NotImplementedError

    def _evaluate(self, payloads: dict) -> dict:
        """Score every payload on its slot's worker; {slot: reply dict}."""
        raise NotImplementedError

    def _answered(self, slot: int, reply: tuple) -> dict:
        """A worker's reply: its scores, or the error it raised, raised here."""
        self._deaths[slot] = 0
        if reply[0] == "ok":
            return reply[1]
        _, kind, message, trace = reply
        if kind == "EvodreamError":
            raise EvodreamError(message)
        raise WorkerError(f"worker {slot} failed: {kind}: {message}\n--- worker traceback ---\n{trace}")

    def _died(self, slot: int, why: str) -> None:
        """Count a death of the worker in `slot`; the caller replaces it and sends its chunk again."""
        self._deaths[slot] += 1
        if self._deaths[slot] >= MAX_DEATHS:
            raise EvodreamError(
                f"worker {slot} of {self.count} died {MAX_DEATHS} times in a row (last: {why}); the "
                "run stopped, its last checkpoint is kept: fix the cause (memory? fewer --workers or "
                "--threads) and continue with `evodream evolve --resume RUN`"
            )


__all__ = ["MAX_DEATHS", "WorkerError", "WorkerPool", "error_reply", "split", "usable_cores"]
