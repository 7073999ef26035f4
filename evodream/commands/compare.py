"""`evodream compare`: every method on the same model, targets, seed and budget, then a report."""
from __future__ import annotations

import time

from . import TARGET_HELP, optional_float


def register(sub, parser_class=None) -> None:
    from ..compare import EVOLVE_METHODS

    p = sub.add_parser("compare", help="run MAP-Elites, GA and gradient ascent on equal terms, then report",
                       description="Run each method on the same model, targets, seed and evaluation budget "
                                   "(OUT/runs/<method>), then write the comparison report (OUT/report). "
                                   f"Methods: {', '.join(EVOLVE_METHODS)}, ascent (gradient ascent, when "
                                   "installed), each also as <method>+priors. Re-running the same command "
                                   "reuses finished runs and resumes unfinished ones.")
    p.add_argument("--model", default="lenet-mnist",
                   help="model name (default lenet-mnist; see `evodream models`)")
    p.add_argument("--targets", default="all", help=TARGET_HELP)
    p.add_argument("--budget", type=int, default=20_000,
                   help="evaluations (images scored) each method may spend (default 20000)")
    p.add_argument("--seed", type=int, default=0, help="random seed shared by every method (default 0)")
    p.add_argument("--methods",
                   help="comma-separated subset of methods (default: all, with +priors variants)")
    p.add_argument("--priors", default="default",
                   help="prior set of the +priors variants, NAME=WEIGHT,... ('default': the package's set; "
                        "'none': no +priors variants)")
    p.add_argument("--goal", type=optional_float, default=0.9999,
                   help="a run stops once every target holds this confidence (default 0.9999; 'none': spend "
                        "the whole budget)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--out", help="comparison folder (default runs/compare-<time>-<model>)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(handler=run)


def run(args) -> int:
    from ..compare import compare, default_priors, parse_methods
    from ..report.tables import DISPLAY_COLUMNS, formatted, markdown_table

    priors = None if args.priors.lower() in ("none", "off", "") else args.priors
    if priors == "default":
        priors = default_priors()
    methods = parse_methods(args.methods, with_priors=priors is not None)
    out = args.out or (f"runs/compare-{time.strftime('%Y%m%d-%H%M%S')}-"
                       f"{args.model.replace(':', '-').replace('/', '-')}")
    started = time.perf_counter()
    result = compare(out, model=args.model, targets=args.targets, budget=args.budget, seed=args.seed,
                     methods=methods, priors=priors, goal=args.goal, threads=args.threads,
                     progress=not args.quiet)
    brief = [c for c in DISPLAY_COLUMNS if c[0] in ("run", "evaluations", "wall_seconds", "reached_0.99",
                                                    "reached_0.9999", "median_confidence", "min_confidence",
                                                    "evals_to_0.99", "evals_to_0.9999", "mean_naturalness")]
    print(markdown_table([formatted(r) for r in result.report.rows], brief))
    print(f"compare: {len(result.runs)} methods in {time.perf_counter() - started:.1f} s"
          + (f" ({len(result.reused)} reused)" if result.reused else ""))
    print(f"report: {result.report.index}")
    return 0
