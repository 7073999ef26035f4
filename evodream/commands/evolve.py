"""`evodream evolve`: breed fooling images with MAP-Elites, the GA or NSGA-II."""
from __future__ import annotations

import argparse
import statistics
import time

from ..errors import EvodreamError
from . import MODEL_FORMS, TARGET_HELP, add_model_flags, finite_float, optional_float


def _optional_str(text: str):
    return None if text.lower() in ("none", "off") else text


def register(sub, parser_class=None) -> None:
    from ..genomes import ENCODINGS
    from ..search import EMITTERS, SEARCHES

    p = sub.add_parser("evolve", help="breed fooling images (MAP-Elites, GA or NSGA-II)",
                       description="Breed images the model labels as the target classes with "
                                   "near-certain confidence. Flags override --config; unset flags keep "
                                   "the config's values.")
    p.add_argument("--model",
                   help=f"lenet-mnist (default), efficientnet-lite0, {MODEL_FORMS} (see `evodream models`)")
    p.add_argument("--encoding",
                   help=f"genome: {ENCODINGS.describe()}; default: the recipe's (direct, cppn or spectral)")
    p.add_argument("--lowres-grid", type=int,
                   help="lowres and spectral encodings: genes per side of the grid (default 64; 16 for "
                        "images under 64 px)")
    p.add_argument("--algorithm", help=f"search: {SEARCHES.describe()}; default map-elites (nsga2 saves its "
                                       "fronts in RUN/pareto/)")
    p.add_argument("--emitters", help=f"map-elites: comma-separated emitters sharing each batch: "
                                      f"{EMITTERS.describe()}; default mutation")
    p.add_argument("--plugin", dest="plugins", metavar="MODULE[,MODULE]",
                   help="import these modules first: they may register encodings, algorithms, emitters or "
                        "priors (a plugin runs code: use modules you trust)")
    p.add_argument("--target", help=TARGET_HELP)
    p.add_argument("--population", type=int,
                   help="children per generation (map-elites) or per target (ga); default: the recipe's "
                        "(fast 10, lowres-cma 32 on images of 64 px or more and 16 below, cppn-cma 16, "
                        "paper 200)")
    p.add_argument("--generations", type=int, help="stop after this many generations")
    p.add_argument("--max-evals", type=int,
                   help="stop once this many images are evaluated (default 100000); the last generation "
                        "is finished, so a run may pass it by less than one batch")
    p.add_argument("--max-seconds", type=finite_float, help="stop after this much wall time")
    p.add_argument("--goal", type=optional_float, default=argparse.SUPPRESS,
                   help="stop once every target holds this confidence (default 0.9999; 'none' to run on)")
    p.add_argument("--seed", type=int, help="random seed (default 0): same seed and config, same run on CPU")
    p.add_argument("--recipe",
                   help="auto (default: for colour models of 64 px or more, lowres-cma when asked for "
                        "up to 50 classes and cross-cppn for more; else fast), fast (parents from "
                        "unfinished classes, adaptive mutation), paper (Nguyen et al.'s settings), "
                        "fast-cppn and paper-cppn (the same on CPPN genomes), cross-cppn (paper-cppn "
                        "with --crossover-rate 0.1 --halve-every 500), lowres-cma (CMA-ES over a "
                        "64x64 grid of 1/f-weighted cosines, the spectral encoding) or cppn-cma (CMA-ME "
                        "over CPPN weights with mutation)")
    p.add_argument("--confidence", help="fitness: log_prob (default), prob or margin")
    p.add_argument("--ten-crop", action="store_true", default=None,
                   help="average confidence over 10 crops (4 corners + centre, mirrored), as the paper "
                        "on ImageNet")
    p.add_argument("--mutation-rate", type=finite_float,
                   help="per-gene (direct) or per-weight (cppn) mutation rate")
    p.add_argument("--eta", type=finite_float,
                   help="polynomial mutation's distribution index (small = bold steps)")
    p.add_argument("--halve-every", type=int, metavar="GENERATIONS",
                   help="halve the mutation every this many generations: the direct encoding's rate (the "
                        "paper's schedule, 1000), the cppn weight steps (eta doubles); default: the recipe's "
                        "(cross-cppn 500, the others 0: never)")
    p.add_argument("--crossover-rate", type=finite_float,
                   help="chance a child is also crossed with another elite (pixel and grid genomes: genes "
                        "mixed; cppn: the elite's pattern laid over the child's); default: the recipe's "
                        "(cross-cppn 0.1, the others 0)")
    p.add_argument("--parent-selection", help="map-elites parents: focus (unfinished cells) or uniform")
    p.add_argument("--adaptive", action=argparse.BooleanOptionalAction, default=None,
                   help="adapt each cell's mutation strength by the 1/5 success rule")
    p.add_argument("--overlap", action=argparse.BooleanOptionalAction, default=None,
                   help="map-elites: breed and render the next generation on a second thread while the "
                        "classifier scores this one (hides CPPN rendering on a spare core; parents one "
                        "generation stale)")
    p.add_argument("--prior", dest="priors", metavar="NAME=WEIGHT,...",
                   help="add natural-image priors to the fitness, e.g. "
                        "tv=0.3,spectrum=0.3,colour=0.3,gradient=0.3 (priors: tv, spectrum, colour, "
                        "gradient, robust; weights 0.1-1 are typical; 'none' for none)")
    p.add_argument("--colour", help="cppn colour model: hls (default), hsv or rgb")
    add_model_flags(p, defaults=False)
    p.add_argument("--engine", help="forward-pass engine: auto (default: ONNX Runtime on CPU when it is "
                                    "installed and matches torch on a probe batch, else torch), onnxruntime "
                                    "or torch")
    p.add_argument("--checkpoint-every", type=int, help="generations between checkpoints (default 50)")
    p.add_argument("--checkpoint-seconds", type=finite_float,
                   help="seconds between checkpoints, whichever of the two comes first (default 60)")
    p.add_argument("--workers", type=int,
                   help="render and score each generation on this many worker processes (default 1: this "
                        "process), each loading the model once with --threads threads (default: cores / "
                        "workers) and a GPU each with --device cuda. Generation-synchronous: same seed, "
                        "config and worker count, same run; the population is split into contiguous chunks "
                        "and the model's per-image scores depend on the batch they are in, so another worker "
                        "count gives another (equally valid) run")
    p.add_argument("--ray", type=_optional_str, default=argparse.SUPPRESS,
                   metavar="auto|local|HOST:PORT",
                   help="run the --workers as Ray actors on this cluster (local: a one-machine Ray for "
                        "this run; --threads CPUs each, default 1); same run as local workers of the same "
                        "count and threads. With --resume, 'none' goes back to local workers")
    p.add_argument("--config", help="TOML file of settings (keys as the flags, with _ for -)")
    p.add_argument("--out", help="run folder to create (default runs/<time>-<model>-<encoding>-<algorithm>)")
    p.add_argument("--resume", metavar="RUN", help="continue the run in this folder from its checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)


def run(args) -> int:
    from ..config import EvolveConfig, from_mapping, load_toml
    from ..evolve import evolve, resume

    skip = {"command", "handler", "config", "out", "resume", "quiet"}
    # --goal none (--ray none) is a None that must override the config's, so it is kept (absent = not given).
    flags = {k: v for k, v in vars(args).items() if k not in skip and (v is not None or k in ("goal", "ray"))}
    if "priors" in flags:
        from ..objectives.priors import parse_priors

        text = flags["priors"]
        flags["priors"] = {} if text.strip().lower() in ("none", "off") else parse_priors(text)
    if args.resume is not None:
        if args.out or args.config:
            raise EvodreamError("--resume continues an existing run: drop --out and --config")
        result = resume(args.resume, flags, progress=not args.quiet)
    else:
        config = from_mapping(load_toml(args.config), source="config") if args.config else EvolveConfig()
        config = from_mapping(flags, base=config, source="flag")
        model = config.model.replace(":", "-").replace("/", "-")
        out = args.out or (f"runs/{time.strftime('%Y%m%d-%H%M%S')}-{model}"
                           f"-{config.encoding or config.recipe}-{config.algorithm}")
        result = evolve(config, out, progress=not args.quiet)
    bar = 0.9999 if result.goal is None else result.goal  # count against the run's own goal
    reached = sum(c >= bar for c in result.confidences.values())
    values = sorted(result.confidences.values())
    spread = f", min {values[0]:.6f}, median {statistics.median(values):.6f}" if values else ""
    print(f"{result.run.path}: {result.generations} generations, {result.evaluations} evaluations, "
          f"{result.wall_seconds:.1f} s; {reached}/{len(values)} targets >= {bar * 100:g}%{spread} "
          f"({result.stop_reason})")
    print(f"elites: {result.run.path / 'elites.png'}")
    return 0
