"""Many workers for one run: local processes (``--workers N``) or Ray actors (``--ray ADDRESS``).

The run's own process keeps the search (archive, RNG) and the run folder; each generation it cuts
the population into ``N`` contiguous chunks, worker *i* renders and scores chunk *i* with its own
classifier (loaded once), and the scores come back in order. The pool is an evaluator like
:class:`~evodream.evaluator.Evaluator` (``pool(population) -> Scores``, ``queries``, ``close()``),
so the driver, the searches and checkpoints do not change.

Generation-synchronous: a generation is told only when every chunk is scored, so with the same
seed, config and worker count a run is the same, wherever its workers ran. The split is fixed by
the worker count (the ``numpy.array_split`` rule), and it matters: the classifier's per-image
scores depend on the batch they were computed in (float rounding in batched kernels; see
README, "Scaling one run"), so a different worker count is a different, equally valid run.

A worker that dies (killed, out of memory, a lost node) is replaced and its chunk sent again;
the run loses nothing. A worker that dies ``MAX_DEATHS`` times in a row ends the run with a
one-line error; the last checkpoint stays valid for ``--resume``.
"""

from __future__ import annotations

import re
from typing import Sequence

from ..errors import EvodreamError

RAY_ADDRESS = re.compile(r"^(ray://)?[A-Za-z0-9_.\-\[\]:]+:\d{1,5}$")


def check_workers(config) -> None:
    """The --workers / --ray settings, checked before any work (reachability is checked by the pool)."""
    if config.ray is not None:
        address = str(config.ray).strip()
        if address not in ("auto", "local") and not RAY_ADDRESS.match(address):
            raise EvodreamError(
                f"--ray must be auto, local or a cluster's HOST:PORT (e.g. 127.0.0.1:6379), "
                f"got {config.ray!r:.60}"
            )
    if config.overlap and (config.workers > 1 or config.ray is not None):
        raise EvodreamError(
            "--overlap renders on a second thread of one process; with --workers or --ray the "
            "workers render: drop --overlap"
        )


def make_evaluator(config, encoding, objective, needs: Sequence[str] = ()):
    """The run's evaluator: in this process, or a pool of worker processes or Ray actors."""
    if config.ray is not None:
        from .ray_pool import RayPool

        return RayPool(config, encoding, needs)
    if config.workers > 1:
        from .local import LocalPool

        return LocalPool(config, encoding, needs)
    from ..evaluator import Evaluator

    return Evaluator(encoding, objective, needs=needs)


__all__ = ["check_workers", "make_evaluator"]
