"""`evodream sweep GRID.toml`: every combination of a grid as its own run, locally or on Ray, one report."""
from __future__ import annotations

import sys
from pathlib import Path


def register(sub, parser_class=None) -> None:
    p = sub.add_parser(
        "sweep", help="run a grid of runs (models x encodings x algorithms x seeds ...) locally or on Ray",
        description="Expand the sweep file's [grid] (every list is an axis) into independent jobs and run "
                    "each into OUT/runs/<job>, then write one report over all of them (OUT/report, with a "
                    "table per grid cell). OUT/sweep.json lists the jobs and their status, OUT/sweep.log "
                    "their events. Run the same command again to continue: finished jobs are skipped, "
                    "unfinished ones resume from their checkpoints. A failing job is retried, then listed "
                    "as failed (exit code 1) while the others finish. See examples/sweep-mnist.toml for the "
                    "file format.")
    p.add_argument("grid", metavar="SWEEP.toml", help="the sweep file")
    p.add_argument("--jobs", type=int,
                   help="jobs at a time: local processes (default: one per CPU core), or with --ray the most "
                        "tasks in flight (default: the cluster's CPUs / --threads)")
    p.add_argument("--ray", metavar="ADDRESS",
                   help="run each job as a Ray task: 'auto' (the cluster `ray start` made on this machine), "
                        "HEAD:6379, or 'local' (a one-machine Ray started and stopped with the sweep); needs "
                        "pip install 'evodream[ray]' and the --out folder at the same path on every node")
    p.add_argument("--out", help="sweep folder (default runs/sweep-<file name>; re-running continues it)")
    p.add_argument("--retries", type=int, default=2,
                   help="times a failed job is tried again, resuming from its checkpoint (default 2)")
    p.add_argument("--threads", type=int,
                   help="torch CPU threads per job (and CPUs a Ray task asks for); default cores / --jobs "
                        "locally, 1 on Ray")
    p.add_argument("--dry-run", action="store_true", help="list the jobs and stop")
    p.add_argument("--no-report", action="store_true", help="skip the report at the end")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)


def run(args) -> int:
    from ..sweep import load_grid, sweep
    from ..sweep.grid import check_model_files, value_label
    from ..sweep.summary import markdown

    grid = load_grid(args.grid)
    out = Path(args.out or f"runs/sweep-{Path(args.grid).stem}")
    if args.dry_run:
        if not args.ray:
            check_model_files(grid)
        for job in grid.jobs:
            settings = ", ".join(f"{a}={value_label(a, v)}" for a, v in job.axes.items())
            print(f"{out / 'runs' / job.name}  ({job.kind}: {settings})")
        print(f"{len(grid.jobs)} jobs; axes: " + "; ".join(f"{a} ({len(v)})" for a, v in grid.axes.items()))
        return 0
    try:
        result = sweep(grid, out, jobs=args.jobs, ray=args.ray, retries=args.retries, threads=args.threads,
                       progress=not args.quiet, report=not args.no_report)
    except KeyboardInterrupt:
        print(f"evodream: sweep interrupted; run the same command again to continue {out}", file=sys.stderr)
        return 130
    if result.groups:
        print(markdown(grid, result.groups))
    reused = sum(j["status"] == "done" and j["reused"] for j in result.jobs)
    print(f"sweep: {len(result.jobs)} jobs, {result.count('done')} done ({reused} finished earlier), "
          f"{len(result.failed)} failed, in {result.seconds:.1f} s")
    for job in result.failed:
        print(f"failed: {job['name']} after {job['attempts']} attempt(s): {job['errors'][-1]}",
              file=sys.stderr)
    if result.report is not None:
        print(f"report: {result.report.index}")
    print(f"jobs: {out / 'sweep.json'}; log: {out / 'sweep.log'}")
    return 1 if result.failed else 0
