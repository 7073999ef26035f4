"""`evodream harden`: retrain with a "fooling" class, round after round, and evolve again each time."""
from __future__ import annotations

import argparse

from . import finite_float


def register(sub, parser_class=None) -> None:
    p = sub.add_parser(
        "harden",
        help="retrain the network with its fooling images as an extra class, evolve again, repeat",
        description="Nguyen et al.'s retraining experiment. Round 0 evolves fooling images for every "
        "class of "
        "the network; round r >= 1 adds every earlier round's images to the training set as class "
        "'fooling', trains a fresh network with one more class (scripts/train_lenet.py's recipe, "
        "seeded) and evolves new images for the real classes against it (fooled = >= 99.99% on a real "
        "class). Writes OUT/harden.json, harden.csv, harden.md (report), harden.png and the "
        "rounds' run folders; a round's network loads anywhere as --model harden:OUT/round-NN.",
    )
    p.add_argument(
        "--model",
        help="lenet-mnist (default: the shipped LeNet and its 4,000 + 1,000 MNIST digits) "
        "or package.module:function returning (model, train[, held_out]) for "
        "function(num_classes); see evodream/retrain.py",
    )
    p.add_argument("--rounds", type=int, help="retraining rounds after round 0 (default 10)")
    p.add_argument(
        "--images-per-class",
        type=int,
        help="evolve runs per round whose images (one per class) join the training set (default 10)",
    )
    p.add_argument("--held-out-runs", type=int,
                   help="more runs per round kept out of training, to test the next network on (default 2)")
    p.add_argument("--encoding", help="cppn (default) or direct")
    p.add_argument("--recipe", help="evolution recipe: fast (default) or paper")
    p.add_argument("--population", type=int, help="children per generation (default: the recipe's)")
    p.add_argument("--max-evals", type=int,
                   help="each run stops here or once every class holds 99.99%% (default 5000)")
    p.add_argument("--budget", type=int,
                   help="evaluations at which each run's confidence is read for the table (default 1000)")
    p.add_argument("--epochs", type=int, help="training epochs per round (default 15)")
    p.add_argument("--lr", type=finite_float, help="training step size, Adam (default 0.001)")
    p.add_argument("--batch-size", type=int, help="training batch size (default 64)")
    p.add_argument("--seed", type=int, help="base seed of the runs and the training (default 0)")
    p.add_argument("--threads", type=int, help="torch threads (default 1; results depend on it)")
    p.add_argument("--device", help="cpu (default) or cuda, for evolution and training")
    p.add_argument("--classes", dest="classes_file", help="your model: its class names, one per line")
    p.add_argument("--out", help="folder to create (default runs/<time>-harden-<model>)")
    p.add_argument(
        "--resume", metavar="OUT", help="continue a harden run where it stopped (only --rounds may change)"
    )
    p.add_argument("--quiet", action="store_true", help="only the final table")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import time

    from ..errors import EvodreamError
    from ..harden import HardenConfig, config_from, harden, resume_harden
    from ..harden_report import table

    skip = {"command", "handler", "out", "resume", "quiet"}
    flags = {k: v for k, v in vars(args).items() if k not in skip and v is not None}
    log = None if args.quiet else print
    if args.resume is not None:
        other = sorted(set(flags) - {"rounds"})
        if args.out or other:
            raise EvodreamError(
                "--resume continues a harden run as it was configured: drop "
                + ", ".join(["--out"] * bool(args.out) + [f"--{o.replace('_', '-')}" for o in other])
                + " (only --rounds may change)"
            )
        result = resume_harden(args.resume, flags.get("rounds"), log=log)
    else:
        config = config_from(flags, base=HardenConfig())
        out = args.out or f"runs/{time.strftime('%Y%m%d-%H%M%S')}-harden-" \
                          f"{config.model.replace(':', '-').replace('/', '-').replace('.', '-')}"
        result = harden(config, out, log=log)
    print(table(result.rounds, result.config.budget))
    print(f"{result.path}: {len(result.rounds)} rounds; report {result.path / 'harden.md'}")
    return 0
