"""The bounded queue of worker processes behind `evodream serve`.

At most `max_running` jobs run at once (default 1), each in its own spawned process (see
worker.py); up to `max_queued` more wait in line, first come first served. A supervisor thread
reaps finished workers and starts the next job. Stopping a running job sends SIGTERM, which the
worker turns into a clean interrupt (a resumable run); a worker that has not ended
`stop_timeout` seconds later is killed — its checkpoint, written atomically, still stands.
"""

from __future__ import annotations

import collections
import multiprocessing
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import EvodreamError
from .worker import run_job

ACTIVE = ("queued", "running", "stopping")
OUTCOMES = {"done": "finished", "stopped": "stopped", "error": "failed"}


class QueueFull(EvodreamError):
    """More jobs are waiting than the queue holds."""


class Conflict(EvodreamError):
    """The job's run is already queued or running, or is in no state for this action."""


@dataclass
class Job:
    """One evolve / resume / ascend call on one run folder, and where it stands."""

    id: str  # the run's id (its folder, relative to the runs root)
    out: Path
    spec: dict  # what worker.run_job receives
    state: str = "queued"  # queued, running, stopping, finished, stopped, failed, cancelled
    message: str = ""
    submitted: float = field(default_factory=time.time)
    started: float | None = None
    ended: float | None = None
    pid: int | None = None
    process: Any = field(default=None, repr=False)
    conn: Any = field(default=None, repr=False)
    stop_requested: float | None = None
    killed: bool = False

    def public(self) -> dict:
        return {
            "id": self.id,
            "action": self.spec["action"],
            "state": self.state,
            "message": self.message,
            "submitted": self.submitted,
            "started": self.started,
            "ended": self.ended,
            "pid": self.pid,
        }


class JobQueue:
    """Runs jobs in worker processes, `max_running` at a time; thread-safe."""

    def __init__(
        self,
        *,
        max_running: int = 1,
        max_queued: int = 16,
        stop_timeout: float = 20.0,
        poll_seconds: float = 0.2,
        keep_ended: int = 200,
    ):
        if max_running < 1 or max_queued < 0:
            raise EvodreamError("--max-running must be at least 1 and --max-queued at least 0")
        self.max_running, self.max_queued = max_running, max_queued
        self.stop_timeout, self.poll_seconds, self.keep_ended = stop_timeout, poll_seconds, keep_ended
        self._context = multiprocessing.get_context("spawn")  # no fork of a threaded server
        self._lock = threading.RLock()
        self._jobs: dict[str, Job] = {}
        self._queue: collections.deque[str] = collections.deque()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None

    # -- life cycle ---------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._supervise, name="evodream-jobs", daemon=True)
        self._thread.start()

    def _supervise(self) -> None:
        while not self._closing.wait(self.poll_seconds):
            self.poll()

    def shutdown(self, timeout: float | None = None) -> None:
        """Cancel waiting jobs, stop running ones (resumable) and wait for their processes to end."""
        timeout = self.stop_timeout if timeout is None else timeout
        self._closing.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            for job_id in list(self._queue):
                self._cancel(self._jobs[job_id])
            running = [j for j in self._jobs.values() if j.process is not None]
            for job in running:
                job.state, job.stop_requested = "stopping", time.time()
                job.process.terminate()
        deadline = time.time() + timeout
        for job in running:
            job.process.join(max(0.0, deadline - time.time()))
            if job.process.is_alive():
                job.process.kill()
                job.killed = True
                job.process.join()
            with self._lock:
                self._reap(job)

    # -- requests -----------------------------------------------------------------------------
    def submit(self, job_id: str, out: Path, spec: dict) -> Job:
        with self._lock:
            if self._closing.is_set():
                raise Conflict("the server is shutting down: no new jobs")
            current = self._jobs.get(job_id)
            if current is not None and current.state in ACTIVE:
                raise Conflict(f"run {job_id!r} is already {current.state}: wait for it or stop it")
            if len(self._queue) >= self.max_queued and self._running_count() >= self.max_running:
                raise QueueFull(
                    f"{len(self._queue)} jobs are already waiting (the most --max-queued allows): "
                    "wait for one to start or stop one"
                )
            job = Job(job_id, Path(out), spec)
            self._jobs.pop(job_id, None)  # an ended job of the same run (a resume) goes to the back
            self._jobs[job_id] = job
            self._queue.append(job_id)
            self._start_ready()
            self._forget_old()
            return job

    def stop(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.state not in ACTIVE:
                raise Conflict(f"run {job_id!r} is not queued or running: nothing to stop")
            if job.state == "queued":
                self._cancel(job)
            elif job.state == "running":
                job.state, job.stop_requested = "stopping", time.time()
                job.process.terminate()  # SIGTERM: the worker unwinds like Ctrl-C
            return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def position(self, job_id: str) -> int | None:
        """1 for the next job to start, 2 for the one after it, ...; None when not waiting."""
        with self._lock:
            return self._queue.index(job_id) + 1 if job_id in self._queue else None

    def jobs(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def pids(self) -> list[int]:
        with self._lock:
            return [j.pid for j in self._jobs.values() if j.process is not None and j.pid is not None]

    # -- the supervisor's work ----------------------------------------------------------------
    def poll(self) -> None:
        with self._lock:
            for job in list(self._jobs.values()):
                if job.process is None:
                    continue
                if not job.process.is_alive():
                    self._reap(job)
                elif job.state == "stopping" and time.time() - job.stop_requested > self.stop_timeout:
                    job.process.kill()
                    job.killed = True
            self._start_ready()

    def _running_count(self) -> int:
        return sum(j.process is not None for j in self._jobs.values())

    def _start_ready(self) -> None:
        while self._queue and self._running_count() < self.max_running and not self._closing.is_set():
            job = self._jobs[self._queue.popleft()]
            receiver, sender = self._context.Pipe(duplex=False)
            process = self._context.Process(
                target=run_job, args=(job.spec, sender), daemon=True, name=f"evodream-serve-{job.id}"
            )
            try:
                process.start()
            except OSError as exc:
                receiver.close()
                sender.close()
                job.state, job.message, job.ended = (
                    "failed",
                    f"cannot start a worker process: {exc}",
                    time.time(),
                )
                continue
            sender.close()  # the child holds its own copy; ours would keep the pipe open after it dies
            job.process, job.conn, job.pid = process, receiver, process.pid
            job.state, job.started = "running", time.time()

    def _reap(self, job: Job) -> None:
        if job.process is None:
            return
        outcome = None
        try:
            if job.conn.poll():
                outcome = job.conn.recv()
        except (EOFError, OSError):
            pass
        job.process.join()
        code = job.process.exitcode
        if outcome is not None and outcome[0] in OUTCOMES:
            job.state, job.message = OUTCOMES[outcome[0]], str(outcome[1])
        elif job.state == "stopping":
            job.state = "stopped"
            job.message = (
                f"the worker did not stop within {self.stop_timeout:g} s and was killed; the last checkpoint "
                "stands"
                if job.killed
                else f"the worker ended without a result (exit code {code})"
            )
        else:
            job.state, job.message = "failed", f"the worker process died (exit code {code})"
        job.conn.close()
        job.process.close()
        job.process = job.conn = None
        job.ended = time.time()

    def _cancel(self, job: Job) -> None:
        self._queue.remove(job.id)
        job.state, job.message, job.ended = (
            "cancelled",
            "stopped before it started: nothing was written",
            time.time(),
        )

    def _forget_old(self) -> None:
        """Keep at most `keep_ended` ended jobs in memory (their run folders hold everything)."""
        ended = [j.id for j in self._jobs.values() if j.state not in ACTIVE]
        for job_id in ended[: max(0, len(ended) - self.keep_ended)]:
            del self._jobs[job_id]
