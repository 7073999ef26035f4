"""`evodream ascend`: gradient ascent on pixels, the baseline evolution is compared against."""
from __future__ import annotations

import argparse
import statistics
import time

from ..errors import EvodreamError
from . import MODEL_FORMS, TARGET_HELP, add_model_flags, add_torch_engine_flag, finite_float, optional_float


def register(sub, parser_class=None) -> None:
    p = sub.add_parser(
        "ascend", help="gradient ascent on pixels (the baseline evolution is compared against)",
        description="Optimise one image per target class by gradient ascent on the same objective "
                    "evolution uses (confidence + priors), regularised as Yosinski et al. 2015 (L2 decay, "
                    "blur, clipping pixels of small norm / contribution). Writes a run folder in evolution's "
                    "format (\"kind\": \"ascend\"); in its metrics.csv, generation = step and evaluations = "
                    "images passed forward+backward.")
    p.add_argument("--model", default="lenet-mnist",
                   help=f"lenet-mnist (default), efficientnet-lite0, {MODEL_FORMS} (see `evodream models`); "
                        "it must have gradients")
    p.add_argument("--target", default="all",
                   help=TARGET_HELP)
    p.add_argument("--steps", type=int, default=300, help="stop after this many steps (default 300)")
    p.add_argument("--max-evals", type=int, help="stop after this many forward+backward image passes")
    p.add_argument("--goal", type=optional_float, default=0.9999,
                   help="freeze a target once it holds this confidence; stop when all do "
                        "(default 0.9999; 'none' to run every step)")
    p.add_argument("--seed", type=int, default=0,
                   help="random seed (default 0): same seed and flags, same run on CPU")
    p.add_argument("--init", default="noise",
                   help="starting image: noise (uniform pixels; default), grey, or the path of an image file")
    p.add_argument("--param", default="pixel",
                   help="pixel (default) or fourier (1/f-scaled spectrum with decorrelated colour)")
    p.add_argument("--lr", type=finite_float, default=0.05, help="Adam step size (default 0.05)")
    p.add_argument("--decay", type=finite_float, default=0.001,
                   help="L2 decay: share of each pixel's distance to the model's mean colour removed "
                        "per step (default 0.001; 0 = off)")
    p.add_argument("--blur-every", type=int, default=4,
                   help="Gaussian blur every this many steps (default 4; 0 = off)")
    p.add_argument("--blur-sigma", type=finite_float, default=0.3, help="blur width in pixels (default 0.3)")
    p.add_argument("--norm-clip", type=finite_float, default=0.0,
                   help="each step, reset the pixels of smallest norm, this percentile of them, "
                        "to the mean colour (default 0 = off; pixel param only)")
    p.add_argument("--contrib-clip", type=finite_float, default=0.0,
                   help="each step, reset the pixels of smallest contribution |(x - mean) . gradient|, this "
                        "percentile of them (default 0 = off; pixel param only)")
    p.add_argument("--jitter", type=int, default=0,
                   help="random shift of up to this many pixels each step (default 0)")
    p.add_argument("--prior", dest="priors", default="",
                   help="natural-image priors added to the fitness, NAME=WEIGHT,... (e.g. tv=0.1), "
                        "as in evolution")
    p.add_argument("--confidence", default="log_prob", help="fitness: log_prob (default), prob or margin")
    p.add_argument("--ten-crop", action="store_true",
                   help="average confidence over 10 crops (4 corners + centre, mirrored), "
                        "as the paper on ImageNet")
    p.add_argument("--batch-size", type=int, default=64,
                   help="images per forward/backward pass (default 64: all targets at once up to 64)")
    add_model_flags(p)
    add_torch_engine_flag(p, "ascend")
    p.add_argument("--workers", "--ray", dest="workers", help=argparse.SUPPRESS)  # evolve's: refused in run()
    p.add_argument("--out", help="run folder to create (default runs/<time>-<model>-ascend)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..ascend import ascend, config_from

    if args.workers is not None:
        raise EvodreamError("ascend runs gradient ascent in one process: --workers and --ray are for "
                            "`evodream evolve`; drop them")
    skip = {"command", "handler", "out", "quiet", "engine", "workers"}
    config = config_from({k: v for k, v in vars(args).items() if k not in skip})
    out = args.out or (f"runs/{time.strftime('%Y%m%d-%H%M%S')}-"
                       f"{config.model.replace(':', '-').replace('/', '-')}-ascend")
    result = ascend(config, out, progress=not args.quiet)
    values = sorted(result.confidences.values())
    goal = config.goal
    reached = sum(step is not None for step in result.reached_at.values())
    print(f"{result.run.path}: {result.steps} steps, {result.evaluations} evaluations (forward+backward), "
          f"{result.queries} queries, {result.wall_seconds:.1f} s; "
          + (f"{reached}/{len(values)} targets >= {goal:g}, " if goal is not None else "")
          + f"min {values[0]:.6f}, median {statistics.median(values):.6f} ({result.stop_reason})")
    if len(values) <= 20:
        for name, confidence in result.confidences.items():
            step = result.reached_at[name]
            when = f"goal at step {step}" if step is not None else "goal not reached"
            print(f"  {name:<24} {confidence:.6f}  {when}, {result.target_queries[name]} queries")
    print(f"elites: {result.run.path / 'elites.png'}")
    return 0
