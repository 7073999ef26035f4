"""LocalPool: worker processes on this machine, one pipe each (``--workers N``).

A process per slot rather than a ProcessPoolExecutor: a worker that dies takes only its own chunk
with it (the executor breaks the whole pool), and chunk *i* always goes to worker *i*. Workers
come from a fork server that has imported torch and evodream once (spawn where there is none), so
a replacement starts in a second, from a clean state; they ignore Ctrl-C (the run's process stops
them) and end when the run's process goes (their pipe closes).
"""

from __future__ import annotations

import signal
import sys
from multiprocessing.connection import wait

from ..processes import death, process_context
from .pool import WorkerPool
from .scorer import Scorer, error_reply

STOP_SECONDS = 10.0  # how long close() lets a worker exit before killing it


def _context():
    return process_context(["evodream.evolve", "evodream.workers.scorer"])


def worker_main(config: dict, needs: tuple, conn) -> None:
    """A worker process: build the scorer, then answer each chunk until told to stop (None) or the
    run's process is gone (end of file)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the process group: the run stops us
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        scorer = Scorer(config, needs)
    except Exception as exc:  # noqa: BLE001 - reported as the answer to the first chunk
        conn.send(error_reply(exc))
        return
    while True:
        try:
            payload = conn.recv()
        except (EOFError, OSError):
            return
        if payload is None:
            return
        try:
            reply = ("ok", scorer.score(payload))
        except Exception as exc:  # noqa: BLE001 - the run's process decides what a failure means
            reply = error_reply(exc)
        try:
            conn.send(reply)
        except OSError:
            return


class LocalPool(WorkerPool):
    """``config.workers`` processes on this machine, each with its own classifier and threads."""

    kind = "local"

    def __init__(self, config, encoding, needs=()):
        super().__init__(config, encoding, needs)
        self._ctx = _context()
        self._workers: dict = {}  # slot → (process, connection)
        self._busy: set = set()  # slots with a chunk in flight

    def pids(self) -> dict[int, int]:
        """Slot → process id of the live workers."""
        return {slot: process.pid for slot, (process, _) in self._workers.items()}

    def _start(self, slot: int) -> None:
        mine, theirs = self._ctx.Pipe()
        process = self._ctx.Process(
            target=worker_main,
            args=(self.worker_config(slot), self.needs, theirs),
            daemon=True,
            name=f"evodream-worker-{slot}",
        )
        process.start()
        theirs.close()  # the worker holds the only other end: end of file here means it is gone
        self._workers[slot] = (process, mine)

    def _dispatch(self, slot: int, payload: dict) -> None:
        self._busy.add(slot)
        try:
            self._workers[slot][1].send(payload)
        except OSError:  # it died before reading: its sentinel tells _evaluate
            pass

    def _reap(self, slot: int) -> str:
        """Collect a dead (or dying) worker; returns how it died."""
        process, conn = self._workers.pop(slot)
        self._busy.discard(slot)
        conn.close()
        process.join(STOP_SECONDS)
        if process.is_alive():  # its pipe broke but it lingers: make sure
            process.kill()
            process.join()
        return death(process.exitcode)

    def _evaluate(self, payloads: dict) -> dict:
        for slot, payload in payloads.items():
            self._dispatch(slot, payload)
        replies = {}
        while len(replies) < len(payloads):
            waiting = [slot for slot in payloads if slot not in replies]
            handles = [
                h for slot in waiting for h in (self._workers[slot][1], self._workers[slot][0].sentinel)
            ]
            wait(handles)
            for slot in waiting:
                process, conn = self._workers[slot]
                try:
                    reply, gone = (conn.recv(), False) if conn.poll() else (None, not process.is_alive())
                except (EOFError, OSError):  # its end of the pipe is closed: it is dead or exiting
                    reply, gone = None, True
                if reply is not None:
                    self._busy.discard(slot)
                    replies[slot] = self._answered(slot, reply)
                elif gone:
                    self._died(slot, self._reap(slot))  # (raises after too many deaths in a row)
                    self._start(slot)
                    self._dispatch(slot, payloads[slot])
        return replies

    def close(self) -> None:
        for slot, (process, conn) in self._workers.items():
            if slot in self._busy:  # mid-chunk (Ctrl-C, an error elsewhere): its answer is not wanted
                process.terminate()
            else:
                try:
                    conn.send(None)
                except OSError:
                    pass
        for process, conn in self._workers.values():
            process.join(STOP_SECONDS)
            if process.is_alive():
                process.kill()
                process.join()
            conn.close()
        self._workers.clear()
        self._busy.clear()
