"""RayPool: the workers as Ray actors (``--ray auto|local|HOST:PORT``), one per slot.

Each actor asks Ray for ``threads`` CPUs (and a GPU with ``--device cuda``) and builds the
run's classifier once; chunk *i* goes to actor *i* as in a local pool, so a Ray run and a local
run with the same worker count and threads give the same run folder. An actor that dies (its
process killed, its node lost) is replaced by a new one, which Ray may place on another node.
The address is checked when the pool is made, before the run folder exists.
"""

from __future__ import annotations

import logging
import socket

from ..errors import EvodreamError
from .pool import WorkerPool
from .scorer import ScorerActor

RAY_MISSING = "--ray needs Ray, which is not installed: pip install 'evodream[ray]'"
CONNECT_SECONDS = 5.0


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


def _check_reachable(address: str) -> None:
    """Fail fast on a HOST:PORT nobody listens on (ray.init would retry for a long while)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_SECONDS).close()
    except (OSError, ValueError) as exc:
        raise EvodreamError(
            f"cannot reach a Ray cluster at {address!r} ({exc.__class__.__name__}: "
            f"{_first_line(exc)}): start one with `ray start --head`, or use --ray local"
        ) from None


class RayPool(WorkerPool):
    """``config.workers`` Ray actors, each with its own classifier."""

    kind = "ray"

    def __init__(self, config, encoding, needs=()):
        super().__init__(config, encoding, needs)
        try:
            import ray
        except ImportError:
            raise EvodreamError(RAY_MISSING) from None
        self._ray = ray
        self.address = str(config.ray).strip()
        self.gpus = 1 if str(config.device).startswith("cuda") else 0
        self._owns = False
        if not ray.is_initialized():
            self._connect()
        self._check_resources()
        died = [ray.exceptions.RayActorError]
        died += [
            getattr(ray.exceptions, name)
            for name in ("WorkerCrashedError", "NodeDiedError", "ObjectLostError", "OwnerDiedError")
            if hasattr(ray.exceptions, name)
        ]
        self._died_errors = tuple(died)
        self._actor_class = ray.remote(ScorerActor)
        self._actors: dict = {}  # slot → actor handle

    def worker_threads(self) -> int:
        return self.config.threads or 1  # a cluster's nodes differ: one thread each unless told

    def _connect(self) -> None:
        ray = self._ray
        options = {"log_to_driver": False, "logging_level": logging.WARNING}
        if self.address not in ("auto", "local"):
            _check_reachable(self.address)
        try:
            if self.address == "local":  # a throwaway one-machine cluster, ended with the run
                cpus = max(self.count * self.threads, 1)
                ray.init(address="local", include_dashboard=False, num_cpus=cpus, **options)
            else:
                ray.init(address=self.address, **options)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise EvodreamError(
                f"cannot reach a Ray cluster at {self.address!r} ({_first_line(exc)}): start one "
                "with `ray start --head`, or use --ray local (if Ray logged InvalidAuthToken, set "
                "RAY_AUTH_MODE=token: see the README)"
            ) from None
        self._owns = True

    def _check_resources(self) -> None:
        """Actors asking for more than the cluster has would wait for ever: say so instead."""
        resources = self._ray.cluster_resources()
        cpus, gpus = resources.get("CPU", 0), resources.get("GPU", 0)
        if self.count * self.threads > cpus or self.count * self.gpus > gpus:
            need = f"{self.count * self.threads} CPUs" + (f" and {self.count} GPUs" if self.gpus else "")
            self.close()
            raise EvodreamError(
                f"the Ray cluster at {self.address!r} has {cpus:g} CPUs and {gpus:g} GPUs; --workers "
                f"{self.count} x --threads {self.threads} need {need}: lower --workers or --threads"
            )

    def pids(self) -> dict[int, int]:
        """Slot → process id of each actor (for tests and diagnostics)."""
        slots = list(self._actors)
        return dict(zip(slots, self._ray.get([self._actors[s].pid.remote() for s in slots])))

    def _start(self, slot: int) -> None:
        # No Ray-side restarts: the pool replaces a dead actor itself, so deaths are counted alike everywhere.
        self._actors[slot] = self._actor_class.options(
            num_cpus=self.threads, num_gpus=self.gpus, max_restarts=0, max_task_retries=0
        ).remote(self.worker_config(slot), self.needs)

    def _dispatch(self, slot: int, payload: dict):
        return self._actors[slot].score.remote(payload)

    def _evaluate(self, payloads: dict) -> dict:
        ray = self._ray
        pending = {self._dispatch(slot, payload): slot for slot, payload in payloads.items()}
        replies = {}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                slot = pending.pop(ref)
                try:
                    reply = ray.get(ref)
                except self._died_errors as exc:
                    ray.kill(self._actors.pop(slot), no_restart=True)
                    self._died(slot, f"{exc.__class__.__name__}: {_first_line(exc)}"[:200])
                    self._start(slot)
                    pending[self._dispatch(slot, payloads[slot])] = slot
                    continue
                replies[slot] = self._answered(slot, reply)
        return replies

    def close(self) -> None:
        for actor in self._actors.values():
            try:
                self._ray.kill(actor, no_restart=True)
            except Exception:  # noqa: BLE001 - best effort while shutting down
                pass
        self._actors.clear()
        if self._owns:
            self._ray.shutdown()
            self._owns = False
