"""Where a sweep's jobs run: local worker processes, or tasks on a Ray cluster.

Both have the same small interface — ``start(spec)``, ``wait(timeout)`` → finished
``(name, outcome)`` pairs, ``running()``, ``close(cancel)`` — and run the same function
(evodream.sweep.job), so a job gives the same run folder wherever it ran. The sweep, not the
executor, decides about retries.
"""
from __future__ import annotations

import logging
import os
from multiprocessing.connection import wait as wait_for

from ..errors import EvodreamError
from ..processes import death, process_context
from .job import process_main, ray_main

RAY_MISSING = "--ray needs Ray, which is not installed: pip install 'evodream[ray]'"


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _context():
    return process_context(["evodream.evolve", "evodream.ascend", "evodream.sweep.job"])


class LocalExecutor:
    """One fresh process per job, at most `capacity` at a time. A process of its own (rather than a
    pool) means a job that dies — out of memory, a segfault, a kill — takes no other job with it."""

    kind = "local"

    def __init__(self, capacity: int, argv: list | None = None):
        self.capacity = capacity
        self.argv = argv
        self._ctx = _context()
        self._running: dict = {}       # name → (process, connection)
        self._outcomes: dict = {}      # name → outcome received before the process was reaped

    def describe(self) -> dict:
        return {"kind": self.kind, "jobs": self.capacity, "start_method": self._ctx.get_start_method()}

    def running(self) -> list[str]:
        return list(self._running)

    def start(self, spec: dict) -> None:
        receive, send = self._ctx.Pipe(duplex=False)
        process = self._ctx.Process(target=process_main, args=(spec, send, self.argv), daemon=True,
                                    name=f"evodream-sweep:{spec['name']}")
        process.start()
        send.close()  # the child holds the only write end: EOF here means it is gone
        self._running[spec["name"]] = (process, receive)

    def wait(self, timeout: float) -> list[tuple[str, dict]]:
        if not self._running:
            return []
        handles = {}
        for name, (process, conn) in self._running.items():
            handles[process.sentinel] = name
            handles[conn] = name
        # Wait on the pipes too: a child blocks on a large outcome until it is read.
        ready = wait_for(list(handles), timeout)
        finished = []
        for name in dict.fromkeys(handles[h] for h in ready):
            process, conn = self._running[name]
            if name not in self._outcomes:
                try:
                    if conn.poll():
                        self._outcomes[name] = conn.recv()
                except (EOFError, OSError):
                    pass
            if process.is_alive() and name in self._outcomes:
                process.join(timeout=10)  # it has sent its outcome and is exiting
            if process.is_alive():
                continue
            process.join()
            conn.close()
            del self._running[name]
            outcome = self._outcomes.pop(name, None)
            if outcome is None:
                outcome = {"ok": False, "traceback": None, "host": None,
                           "error": f"worker process died ({death(process.exitcode)})"}
            finished.append((name, outcome))
        return finished

    def close(self, cancel: bool = False) -> None:
        for process, conn in self._running.values():
            if cancel:
                process.terminate()
        for process, conn in self._running.values():
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join()
            conn.close()
        self._running.clear()


class RayExecutor:
    """Each job a Ray task asking for `threads` CPUs (and a GPU when its device is cuda).

    The sweep folder must be at the same path on every node (a shared filesystem): jobs write
    their run folders there, and a retried job resumes from its checkpoint on any node."""

    kind = "ray"

    def __init__(self, address: str, threads: int, capacity: int | None = None, argv: list | None = None):
        try:
            import ray
        except ImportError:
            raise EvodreamError(RAY_MISSING) from None
        self._ray = ray
        self.address = address
        self.threads = threads
        self.argv = argv
        self._owns = False
        if not ray.is_initialized():
            options = {"log_to_driver": False, "logging_level": logging.WARNING}
            try:
                if address == "local":  # a throwaway one-machine cluster, ended with the sweep
                    ray.init(include_dashboard=False, **options)
                else:
                    ray.init(address=address, **options)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
                raise EvodreamError(f"cannot reach a Ray cluster at {address!r} ({first}): start one with "
                                    "`ray start --head`, or use --ray local for a one-machine Ray "
                                    "(if Ray logged InvalidAuthToken, set RAY_AUTH_MODE=token: "
                                    "see the README)") from None
            self._owns = True
        cpus = ray.cluster_resources().get("CPU", 1)
        self.capacity = capacity or max(1, int(cpus // max(1, threads)))
        self._task = ray.remote(ray_main)
        self._refs: dict = {}          # ObjectRef → job name

    def describe(self) -> dict:
        resources = self._ray.cluster_resources()
        return {"kind": self.kind, "address": self.address, "jobs": self.capacity,
                "cluster_cpus": resources.get("CPU"), "cluster_gpus": resources.get("GPU", 0),
                "nodes": len([n for n in self._ray.nodes() if n.get("Alive")])}

    def running(self) -> list[str]:
        return list(self._refs.values())

    def start(self, spec: dict) -> None:
        config = spec["config"]
        gpus = 1 if str(config.get("device", "cpu")).startswith("cuda") else 0
        # No Ray-side retries: the sweep retries itself, so attempts are counted and logged alike on
        # both executors.
        task = self._task.options(num_cpus=config.get("threads") or self.threads, num_gpus=gpus,
                                  max_retries=0, name=f"evodream-sweep:{spec['name']}")
        self._refs[task.remote(spec, self.argv)] = spec["name"]

    def wait(self, timeout: float) -> list[tuple[str, dict]]:
        if not self._refs:
            return []
        ray = self._ray
        ready, rest = ray.wait(list(self._refs), num_returns=1, timeout=timeout)
        if ready and rest:
            more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
            ready += more
        finished = []
        for ref in ready:
            name = self._refs.pop(ref)
            try:
                outcome = ray.get(ref)
            except ray.exceptions.RayError as exc:  # the worker or its node died, or the task could not start
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                outcome = {"ok": False, "traceback": str(exc), "host": None,
                           "error": f"Ray task failed ({exc.__class__.__name__}: {first})"}
            finished.append((name, outcome))
        return finished

    def close(self, cancel: bool = False) -> None:
        if cancel:
            for ref in self._refs:
                try:
                    self._ray.cancel(ref, force=True)
                except Exception:  # noqa: BLE001 - best effort while shutting down
                    pass
        self._refs.clear()
        if self._owns:
            self._ray.shutdown()
