"""`evodream transfer RUN --models A,B`: score a run's elites with other classifiers and transforms."""
from __future__ import annotations


def register(sub, parser_class=None) -> None:
    from ..image_transforms import TRANSFORM_HELP

    p = sub.add_parser("transfer", help="do a run's fooling images fool other models, shifted or flipped?",
                       description="Score a run's elites with other classifiers (and the run's own model, "
                                   "as the baseline) under small transformations; writes transfer.json and "
                                   "transfer.csv into the run folder (or --out), which `evodream report` "
                                   "then shows.")
    p.add_argument("run", help="a run folder")
    p.add_argument("--models", required=True,
                   help="comma-separated models trained on the same classes, e.g. lenet-mnist-b or "
                        "torchvision:resnet50 (with local weights)")
    p.add_argument("--transforms",
                   help="comma-separated subset (default all): " + TRANSFORM_HELP.replace("%", "%%"))
    p.add_argument("--out", help="folder for transfer.json/csv (default: the run folder)")
    p.add_argument("--force", action="store_true", help="replace an earlier transfer.json/csv")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)


def run(args) -> int:
    from ..report.tables import fmt_confidence
    from ..transfer import parse_list, transfer

    models = parse_list(args.models, "--models")
    transforms = parse_list(args.transforms, "--transforms") if args.transforms is not None else None
    result = transfer(args.run, models, transforms=transforms, out=args.out, force=args.force,
                      progress=not args.quiet)
    print(f"{'model':<22} {'transform':<9} {'mean conf.':>11} {'median':>11} {'top-1':>6} {'>=99%':>6}")
    for row in result.summary:
        print(f"{row['model']:<22} {row['transform']:<9} {fmt_confidence(row['mean_confidence']):>11} "
              f"{fmt_confidence(row['median_confidence']):>11} {row['top1_rate']:>6.0%} "
              f"{row['reached_0.99']:>6}")
    print(f"wrote {result.json_path} and {result.csv_path}")
    return 0
