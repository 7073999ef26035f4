"""Run a sweep: every job of a grid into SWEEP/runs/<name>, then one report over them all.

    SWEEP/sweep.json   the grid, the executor, and each job's status, attempts and errors
    SWEEP/sweep.log    one line per job event (start, done, retry, failed) with tracebacks
    SWEEP/runs/<name>  one ordinary run folder per job (evodream evolve / ascend format)
    SWEEP/report/      the comparison report (evodream report), with a table per grid cell

Running the same sweep again skips finished jobs and resumes the rest; a job that fails is
retried (resuming from its checkpoint) up to `retries` times and then listed as failed, while
the other jobs go on.
"""
from __future__ import annotations

import sys
import time
import traceback
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from ..errors import EvodreamError
from ..runs import SUMMARY, holds_only_leftovers, read_json, write_json
from .grid import Grid, check_model_files, load_grid
from .job import RUNS, SWEEP_FILE

FORMAT_VERSION = 1
LOG = "sweep.log"
REPORT = "report"


@dataclass
class SweepResult:
    out: Path
    grid: Grid
    jobs: list                  # the job records of sweep.json
    seconds: float
    report: object | None       # evodream.report.Report, None when no job finished
    groups: list                # rows of the per-cell table (see summary.py)

    def count(self, status: str) -> int:
        return sum(j["status"] == status for j in self.jobs)

    @property
    def failed(self) -> list:
        return [j for j in self.jobs if j["status"] == "failed"]


def _stamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


class _Log:
    def __init__(self, path: Path):
        self.path = path

    def __call__(self, text: str) -> None:
        with open(self.path, "a") as handle:
            handle.write(f"{_stamp()} {text}\n")


def _identity(job: dict) -> dict:
    from ..runs import EXECUTION_KEYS

    return {"kind": job.get("kind"),
            "config": {k: v for k, v in job["config"].items() if k not in EXECUTION_KEYS}}


def _read_earlier(path: Path) -> dict:
    """sweep.json of the sweep being continued, checked enough that its jobs can be compared."""
    earlier = read_json(path, "sweep's manifest")
    version = earlier.get("format_version") if isinstance(earlier, dict) else None
    if isinstance(earlier, dict) and version != FORMAT_VERSION:
        raise EvodreamError(f"{path} is in sweep format {version!r}; this evodream reads format "
                            f"{FORMAT_VERSION}: give a new --out")
    jobs = earlier.get("jobs") if isinstance(earlier, dict) else None
    if not isinstance(jobs, list) or not all(
            isinstance(job, dict) and isinstance(job.get("name"), str) and isinstance(job.get("config"), dict)
            for job in jobs):
        raise EvodreamError(f"{path} is corrupt (no list of job records): restore it, or give a new --out")
    return earlier


def _prepare(out: Path, grid: Grid, threads: int) -> tuple[list, bool]:
    """The job records for `out`: new ones, or the earlier run's, checked against this grid."""
    if out.exists() and not out.is_dir():
        raise EvodreamError(f"{out} is a file: give --out a folder name")
    wanted = [{**job.to_json(), "config": {**job.config, "threads": job.config.get("threads") or threads}}
              for job in grid.jobs]
    earlier = None
    if (out / SWEEP_FILE).exists():
        earlier = _read_earlier(out / SWEEP_FILE)
    elif out.is_dir() and not holds_only_leftovers(out):
        raise EvodreamError(f"{out} exists and is not a sweep folder (no {SWEEP_FILE}): choose a new --out "
                            "(a sweep never writes into other folders)")
    records = []
    known = {j["name"]: j for j in (earlier or {}).get("jobs", [])}
    missing = sorted(set(known) - {j["name"] for j in wanted})
    if missing:
        raise EvodreamError(f"{out} holds a sweep of another grid "
                            f"(its job {missing[0]!r} is not in this one): "
                            "give a new --out, or run that sweep's own file")
    for job in wanted:
        old = known.get(job["name"])
        if old is not None and _identity(old) != _identity(job):
            raise EvodreamError(f"{out} holds a sweep whose job {job['name']!r} has other settings: "
                                "give a new --out, or run that sweep's own file")
        if old is not None:  # keep the threads the run was made with: a resume cannot change them
            job["config"]["threads"] = old["config"].get("threads", job["config"]["threads"])
        records.append({**job, "folder": f"{RUNS}/{job['name']}", "status": "pending", "attempts": 0,
                        "errors": [], "reused": False})
    # Files in the way fail here, in one line, rather than in every job or after the first one ran.
    in_the_way = [out / LOG] if (out / LOG).is_dir() else []
    in_the_way += [out / r["folder"] for r in records if (out / r["folder"]).is_file()]
    if in_the_way:
        raise EvodreamError(f"{in_the_way[0]} is in the way of the sweep's own "
                            f"{'log' if in_the_way[0].name == LOG else 'run folder'}: move it away, then "
                            "run the sweep again")
    return records, earlier is not None


def sweep(grid: str | Path | dict | Grid, out: str | Path, *, jobs: int | None = None, ray: str | None = None,
          retries: int = 2, threads: int | None = None, progress: bool = True, report: bool = True,
          argv: list | None = None) -> SweepResult:
    """Run every job of `grid` into `out` (see the module docstring) and return the result.

    jobs: local processes at a time (default: one per core), or with `ray` the most Ray tasks in
    flight (default: the cluster's CPUs / threads). ray: "auto", "HOST:PORT" or "local".
    threads: torch threads per job (default: cores / jobs locally, 1 on Ray).
    """
    from .executors import LocalExecutor, RayExecutor, usable_cores

    grid = grid if isinstance(grid, Grid) else load_grid(grid)
    if not ray:
        check_model_files(grid)
    if retries < 0:
        raise EvodreamError(f"--retries must be 0 or more, got {retries}")
    for name, value in (("jobs", jobs), ("threads", threads)):
        if value is not None and value <= 0:
            raise EvodreamError(f"--{name} must be positive, got {value}")
    if threads is None:
        threads = 1 if ray else max(1, usable_cores() // (jobs or usable_cores()))
    out = Path(out)
    records, again = _prepare(out, grid, threads)
    argv = argv if argv is not None else ["evodream", "sweep"] + sys.argv[1:]
    started = time.perf_counter()
    # The executor first: a Ray cluster that cannot be reached leaves no folder behind.
    executor = RayExecutor(ray, threads, jobs, argv) if ray else LocalExecutor(jobs or usable_cores(), argv)
    state = {"format_version": FORMAT_VERSION, "title": grid.title, "grid": grid.spec,
             "axes": {a: [_plain(v) for v in vs] for a, vs in grid.axes.items()}, "varying": grid.varying,
             "executor": {**executor.describe(), "threads_per_job": threads}, "retries": retries,
             "created": _stamp(), "jobs": records}
    bar, interrupted = None, False
    try:
        try:
            (out / RUNS).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EvodreamError(f"cannot create {out / RUNS}: {exc.strerror}; choose another --out") from None
        if again:
            state["created"] = read_json(out / SWEEP_FILE, "sweep's manifest").get(
                "created", state["created"])
        bar = tqdm(total=len(records), unit="job", desc="sweep", disable=not progress, dynamic_ncols=True)
        _run(executor, records, out, retries, state, _Log(out / LOG), bar, progress, again)
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        executor.close(cancel=interrupted)
        if bar is not None:
            bar.close()
        for record in records:
            if record["status"] == "running":  # only after an interrupt or a crash of the sweep itself
                record["status"] = "pending"
        if (out / RUNS).is_dir():
            _save(out, state)
        if interrupted:
            _Log(out / LOG)("== interrupted: run the same command again to continue")
    seconds = time.perf_counter() - started
    log = _Log(out / LOG)
    log(f"== sweep ended in {seconds:.1f} s: {sum(r['status'] == 'done' for r in records)} done, "
        f"{sum(r['status'] == 'failed' for r in records)} failed")
    written, groups = None, []
    if report:
        written, groups = _report(out, grid, records, log)
    return SweepResult(out, grid, records, seconds, written, groups)


def _save(out: Path, state: dict) -> None:
    records = state["jobs"]
    state["updated"] = _stamp()
    state["counts"] = {s: sum(r["status"] == s for r in records)
                       for s in ("done", "running", "pending", "failed")}
    write_json(out / SWEEP_FILE, state)


def _run(executor, records: list, out: Path, retries: int, state: dict, log: _Log, bar, progress: bool,
         again: bool) -> None:
    """Start jobs while the executor has room, collect outcomes, retry or give up; sweep.json and
    sweep.log follow every event."""
    by_name = {r["name"]: r for r in records}
    for record in records:  # finished earlier (or by hand): nothing to run
        if (out / record["folder"] / SUMMARY).exists():
            summary = read_json(out / record["folder"] / SUMMARY, "run's summary")
            record.update(status="done", reused=True,
                          **{k: summary.get(k) for k in ("stop_reason", "evaluations", "wall_seconds")})
    pending = deque(r for r in records if r["status"] == "pending")
    _save(out, state)
    log(f"== sweep {'resumed' if again else 'started'}: {len(records)} jobs, {len(records) - len(pending)} "
        f"already finished, executor {state['executor']}")
    for record in records:
        if record["status"] == "done":
            log(f"skip {record['name']}: finished earlier")
    bar.update(len(records) - len(pending))

    def show():
        bar.set_postfix_str(f"done {sum(r['status'] == 'done' for r in records)}, "
                            f"running {len(executor.running())}, "
                            f"failed {sum(r['status'] == 'failed' for r in records)}")

    show()
    while pending or executor.running():
        while pending and len(executor.running()) < executor.capacity:
            record = pending.popleft()
            record["attempts"] += 1
            record["status"] = "running"
            record["started"] = _stamp()
            executor.start({"name": record["name"], "kind": record["kind"], "config": record["config"],
                            "folder": str((out / record["folder"]).resolve())})
            log(f"start {record['name']} (attempt {record['attempts']}/{retries + 1})")
            _save(out, state)
            show()
        for name, outcome in executor.wait(timeout=1.0):
            record = by_name[name]
            where = f" on {outcome['host']}" if outcome.get("host") else ""
            if outcome["ok"]:
                record.update(status="done", reused=bool(outcome.get("reused")), finished=_stamp(),
                              **{k: outcome.get(k) for k in ("stop_reason", "evaluations", "wall_seconds")})
                log(f"done {name}{where}: {outcome.get('evaluations')} evaluations in "
                    f"{outcome.get('wall_seconds')} s, stopped by {outcome.get('stop_reason')}"
                    + (" (finished earlier)" if outcome.get("reused") else ""))
                bar.update(1)
            else:
                record["errors"].append(outcome["error"])
                log(f"error {name}{where} (attempt {record['attempts']}/{retries + 1}): {outcome['error']}")
                if outcome.get("traceback"):
                    log("  " + outcome["traceback"].rstrip().replace("\n", "\n  "))
                if record["attempts"] <= retries:
                    record["status"] = "pending"
                    pending.append(record)
                    log(f"retry {name}: it continues from its checkpoint where it has one")
                else:
                    record["status"] = "failed"
                    bar.update(1)
                    if progress:
                        tqdm.write(f"sweep: job {name} failed after {record['attempts']} attempt(s): "
                                   f"{outcome['error']}", file=sys.stderr)
                    log(f"failed {name}: gave up after {record['attempts']} attempt(s)")
            _save(out, state)
            show()


def _plain(value):
    return value if not isinstance(value, dict) else dict(value)


def _report(out: Path, grid: Grid, records: list, log) -> tuple:
    from ..report import write_report
    from .summary import group_rows, group_section, write_groups

    finished = [r for r in records if r["status"] == "done"]
    if not finished:
        log("no report: no job finished")
        return None, []
    try:
        from ..report import load_runs
        from ..report.tables import summary_rows

        run_rows = summary_rows(load_runs([out / r["folder"] for r in finished]))
        groups = group_rows(grid, records, dict(zip((r["name"] for r in finished), run_rows)))
        written = write_report([out / r["folder"] for r in finished], out / REPORT, title=grid.title,
                               sections=[group_section(grid, groups)])
        write_groups(out / REPORT, grid, groups)
    except EvodreamError as exc:
        log(f"no report: {exc}")
        raise EvodreamError(f"the sweep's runs are in {out / RUNS}, but its report failed: {exc}") from None
    except Exception:
        log("no report:\n  " + traceback.format_exc().rstrip().replace("\n", "\n  "))
        raise
    log(f"report: {written.index}")
    return written, groups
