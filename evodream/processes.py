"""What the process pools share (sweep jobs, a run's workers): how child processes start, and how
their deaths are described."""
from __future__ import annotations

import multiprocessing
import signal


def process_context(preload: list[str]):
    """A fork server that has imported these modules once starts each child in milliseconds, from a
    clean state (no threads, no torch thread pool) unlike a plain fork; spawn where there is none."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(preload)
        return ctx
    return multiprocessing.get_context("spawn")


def death(exitcode) -> str:
    """How a child process ended, in words: 'killed by SIGKILL', 'exit code 1'."""
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"
