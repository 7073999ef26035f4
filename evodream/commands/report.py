"""`evodream report RUN [RUN ...] --out DIR`: compare finished (or running) runs side by side."""
from __future__ import annotations


def register(sub, parser_class=None) -> None:
    p = sub.add_parser("report", help="compare runs: HTML page, summary.md and summary.csv",
                       description="Read run folders (never a model) and write DIR/index.html "
                                   "(self-contained: opens from disk), DIR/summary.md, DIR/summary.csv and "
                                   "DIR/figures/. A run's transfer.json (from `evodream transfer`) adds a "
                                   "transfer table.")
    p.add_argument("runs", nargs="*", metavar="RUN", help="run folders (evolve or ascend runs)")
    p.add_argument("--out", required=True, help="report folder to write (new, or an earlier report's folder)")
    p.add_argument("--title", default="evodream report", help="page title")
    p.add_argument("--max-classes", type=int, default=100,
                   help="classes shown in the elite grids (default 100; tables always cover every class)")
    p.set_defaults(handler=run)


def run(args) -> int:
    from ..report import write_report
    from ..report.tables import DISPLAY_COLUMNS, formatted, markdown_table

    report = write_report(args.runs, args.out, title=args.title, max_classes=args.max_classes)
    brief = [c for c in DISPLAY_COLUMNS if c[0] in ("run", "method", "evaluations", "wall_seconds",
                                                    "reached_0.99", "reached_0.9999", "median_confidence",
                                                    "evals_to_0.99")]
    print(markdown_table([formatted(r) for r in report.rows], brief))
    print(f"report: {report.index}")
    return 0
