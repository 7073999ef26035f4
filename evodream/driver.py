"""One loop for every run: ask → evaluate → tell until a stop condition, with callbacks.

    loop = run(search, evaluator, Stop(max_evals=10_000, goal=0.9999), [ProgressBar(...), recorder])

Callbacks see the :class:`Loop` (search, evaluator, the generation's record and metrics row, wall
seconds, the stop reason) at the start, after every generation and at the end; the run folder's
metrics.csv, reached.json and checkpoints (:class:`RunRecorder`) and the progress bar are
callbacks. ``overlap=True`` asks for generation g+1 and renders it on a second thread while the
classifier scores generation g (parents one generation stale; CPPN rendering moves to a spare core).

Searches that evaluate themselves (gradient ascent) pass ``evaluator=None`` and provide ``step()``.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Sequence

from tqdm import tqdm

from .milestones import REACHED, Milestones
from .runs import RunFolder
from .search.base import Record

METRICS_FLUSH_SECONDS = 2.0  # how stale metrics.csv may get while a run is watched


@dataclass
class Stop:
    """When a run ends: whichever of these comes first (None: not a limit)."""

    generations: int | None = None
    max_evals: int | None = None
    max_seconds: float | None = None
    goal: float | None = None          # every target holds this confidence
    generation_word: str = "generations"

    def reason(self, generation: int, evaluations: int, confidences: Sequence[float],
               seconds: float) -> str | None:
        if self.goal is not None and min(confidences) >= self.goal:
            return f"every target reached {self.goal:g}"
        if self.generations is not None and generation >= self.generations:
            return f"{self.generations} {self.generation_word}"
        if self.max_evals is not None and evaluations >= self.max_evals:
            return f"{self.max_evals} evaluations"
        if self.max_seconds is not None and seconds >= self.max_seconds:
            return f"{self.max_seconds:g} seconds"
        return None


@dataclass
class Loop:
    """What callbacks see: the run's pieces and the latest generation."""

    search: object
    evaluator: object | None
    record: Record | None = None
    row: dict | None = None
    seconds: float = 0.0
    reason: str | None = None


class Callback:
    """Hooks into the loop; override what you need."""

    def on_start(self, loop: Loop) -> None:
        pass

    def on_generation(self, loop: Loop) -> None:
        pass

    def on_end(self, loop: Loop) -> None:
        pass


def run(search, evaluator, stop: Stop, callbacks: Sequence[Callback] = (), *, overlap: bool = False,
        elapsed: float = 0.0) -> Loop:
    """Run `search` until `stop` says so; `elapsed` is wall time already spent (a resumed run)."""
    loop = Loop(search, evaluator, seconds=elapsed)
    started = time.perf_counter() - elapsed
    for callback in callbacks:
        callback.on_start(loop)
    if search.generation:  # a resumed run may already be done
        confidences = [e.confidence for e in search.elites()] or [0.0]
        loop.reason = stop.reason(search.generation, search.evaluations, confidences, elapsed)
    waiting = list(search.pending()) if evaluator is not None else []  # asked before a checkpoint

    def next_population():
        return waiting.pop(0) if waiting else search.ask()

    renderer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="evodream-render") if overlap else None
    ahead = None  # overlap: (population, future images) of the next generation
    try:
        while loop.reason is None:
            if evaluator is None:
                record = search.step()
            elif renderer is None:
                population = next_population()
                record = search.tell(population, evaluator(population))
            else:
                if ahead is None:
                    population = next_population()
                    images = evaluator.render(population)
                else:
                    population, images = ahead[0], ahead[1].result()  # (re-raises a render error)
                following = next_population()
                ahead = (following, renderer.submit(evaluator.render, following))
                record = search.tell(population, evaluator.score(images))
            if evaluator is not None:
                record.queries = evaluator.queries
            loop.record, loop.seconds = record, time.perf_counter() - started
            loop.row = {**record.row(), "wall_seconds": round(loop.seconds, 3)}
            loop.reason = stop.reason(record.generation, record.evaluations, record.confidences, loop.seconds)
            for callback in callbacks:
                callback.on_generation(loop)
    finally:
        if renderer is not None:
            renderer.shutdown(wait=True)
    loop.seconds = time.perf_counter() - started
    for callback in callbacks:
        callback.on_end(loop)
    return loop


class ProgressBar(Callback):
    """A tqdm bar over evaluations (or steps) with the best / median / min confidence."""

    def __init__(self, total: int | None, desc: str, *, unit: str = "eval", enabled: bool = True,
                 extra: Callable[[Loop], str] | None = None):
        self.total, self.desc, self.unit, self.enabled, self.extra = total, desc, unit, enabled, extra
        self.bar = None

    def _position(self, search) -> int:
        return search.generation if self.unit == "step" else search.evaluations

    def on_start(self, loop):
        position = self._position(loop.search)
        total = self.total if self.total is None else max(self.total, position)  # resumed past its budget
        self.bar = tqdm(total=total, initial=position, unit=self.unit,
                        disable=not self.enabled, dynamic_ncols=True, desc=self.desc)

    def on_generation(self, loop):
        row = loop.row
        position = self._position(loop.search)
        if self.bar.total is not None and position > self.bar.total:
            self.bar.total = position  # the last generation overshoots a budget: keep the bar drawn
        self.bar.update(position - self.bar.n)
        text = f"gen {row['generation']} " if self.unit != "step" else ""
        text += f"best {row['best']:.4f} median {row['median']:.4f} min {row['min']:.4f}"
        if self.extra is not None:
            text += " " + self.extra(loop)
        self.bar.set_postfix_str(text, refresh=False)

    def on_end(self, loop):
        self.bar.close()


class RunRecorder(Callback):
    """Keeps a run folder current: metrics.csv rows, reached.json and (optionally) checkpoints.

    Metrics are written first and synced, then the checkpoint, which records how many bytes of them
    it covers: whatever a crash leaves past that, a resume cuts off. Between checkpoints rows are
    flushed every couple of seconds so a watched run stays current (a resume truncates them).
    ``checkpoint(loop, metrics_bytes)`` saves the state; None means the run keeps no checkpoint.
    """

    def __init__(self, run: RunFolder, milestones: Milestones | None, *,
                 checkpoint: Callable[[Loop, int], None] | None = None, every: int = 50,
                 seconds: float = 60.0):
        self.run, self.milestones, self.checkpoint = run, milestones, checkpoint
        self.every, self.seconds = every, seconds
        self.rows: list[dict] = []
        self.last_checkpoint = self.last_flush = time.perf_counter()

    def on_generation(self, loop):
        record = loop.record
        self.rows.append(loop.row)
        if self.milestones is not None:
            self.milestones.update(record.confidences, record.evaluations, record.queries)
        now = time.perf_counter()
        if self.checkpoint is not None and (record.generation % self.every == 0 or loop.reason is not None
                                            or now - self.last_checkpoint >= self.seconds):
            self.checkpoint(loop, self.flush(sync=True))
            self.last_checkpoint = time.perf_counter()
        elif loop.reason is not None or now - self.last_flush >= METRICS_FLUSH_SECONDS:
            self.flush()

    def flush(self, sync: bool = False) -> int:
        size = self.run.append_metrics(self.rows, sync=sync)
        self.rows = []
        if self.milestones is not None:
            self.run.write_json(REACHED, self.milestones.to_json())
        self.last_flush = time.perf_counter()
        return size
