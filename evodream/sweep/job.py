"""One sweep job, run in whichever process an executor gives it (a local process or a Ray worker).

A job is an ordinary run folder, ``SWEEP/runs/<name>``. Running it again is always safe: a
finished run (summary.json) is reused, an evolution run that stopped early resumes from its own
checkpoint, and a gradient-ascent run that stopped early (ascent keeps no checkpoint) starts over.
Whatever happens, the job returns an *outcome* dict instead of raising, so both executors report
failures the same way; only a worker that dies outright leaves the executor to say so.
"""
from __future__ import annotations

import shutil
import socket
import sys
import traceback
from pathlib import Path

from ..errors import EvodreamError
from ..runs import MANIFEST, RunFolder, existing_run

SWEEP_FILE = "sweep.json"
RUNS = "runs"


def _discard_partial(folder: Path) -> None:
    """Delete an unusable partial run, but only a folder this sweep made (SWEEP/runs/<name>)."""
    if folder.parent.name != RUNS or not (folder.parent.parent / SWEEP_FILE).exists():
        raise EvodreamError(f"{folder} is not a job folder of a sweep: refusing to delete it")
    shutil.rmtree(folder)


def run_job(spec: dict) -> bool:
    """Run, resume or reuse the job `spec` (from Job.to_json() plus "folder"); True if it was reused."""
    folder = Path(spec["folder"])
    if folder.exists() and not (folder / MANIFEST).exists():
        _discard_partial(folder)  # killed between creating the folder and writing its manifest
    kind = "evolve" if spec["kind"] == "evolve" else "ascend"
    state = existing_run(folder, kind, spec["config"], fix="give the sweep a new --out")
    if state == "finished":
        return True
    if kind == "evolve":
        from ..config import from_mapping
        from ..evolve import evolve, resume

        if state == "unfinished":
            resume(folder, progress=False)
        else:
            evolve(from_mapping(spec["config"], source="sweep job"), folder, progress=False)
    else:
        from ..ascend import ascend, config_from

        if state == "unfinished":
            _discard_partial(folder)  # ascent keeps no checkpoint: an unfinished run starts over
        ascend(config_from(spec["config"]), folder, progress=False)
    return False


def run_guarded(spec: dict, argv: list | None = None) -> dict:
    """run_job that never raises: the outcome, with the run's summary or the error's message."""
    saved_argv = sys.argv
    if argv:  # the run's manifest records the command that made it: the sweep's, not the worker's
        sys.argv = list(argv)
    try:
        reused = run_job(spec)
        summary = RunFolder(spec["folder"]).summary() or {}
        return {"ok": True, "reused": reused, "host": socket.gethostname(),
                **{k: summary.get(k) for k in ("stop_reason", "evaluations", "wall_seconds")}}
    except EvodreamError as exc:
        return {"ok": False, "error": str(exc), "traceback": None, "host": socket.gethostname()}
    except Exception as exc:  # noqa: BLE001 - a job's bug must not take the sweep down
        return {"ok": False, "error": f"{exc.__class__.__name__}: {exc}", "traceback": traceback.format_exc(),
                "host": socket.gethostname()}
    finally:
        sys.argv = saved_argv


# -- entry points ------------------------------------------------------------------------------
def process_main(spec: dict, conn, argv: list | None) -> None:
    """A local worker process: run the job and send its outcome to the sweep through `conn`."""
    import signal

    # Ctrl-C reaches the whole process group; the sweep stops its workers itself, so they stay
    # quiet instead of printing a traceback each.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Stopped by the sweep (SIGTERM): unwind normally, so the run's lock and the process's
    # semaphores are released; the run's last checkpoint is what a re-run resumes from.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    _exit_with_parent()
    outcome = run_guarded(spec, argv)
    conn.send(outcome)
    conn.close()


def _exit_with_parent() -> None:
    """End this worker as soon as the sweep process dies (even by SIGKILL), so no orphan keeps
    writing a run folder that a re-run of the sweep is about to resume."""
    import multiprocessing
    import os
    import threading
    from multiprocessing.connection import wait

    parent = multiprocessing.parent_process()
    if parent is None or parent.sentinel is None:
        return

    def watch():
        wait([parent.sentinel])
        os._exit(70)

    threading.Thread(target=watch, daemon=True, name="evodream-parent-watch").start()


def ray_main(spec: dict, argv: list | None) -> dict:
    """A Ray task: the same job, after checking this node sees the sweep folder."""
    sweep = Path(spec["folder"]).parent.parent
    if not (sweep / SWEEP_FILE).exists():
        return {"ok": False, "traceback": None, "host": socket.gethostname(),
                "error": f"{sweep} is not visible on Ray node {socket.gethostname()}: "
                         "put the sweep's --out on a filesystem every node mounts at the same path"}
    return run_guarded(spec, argv)  # the job's config sets torch's thread count, as in a local worker
