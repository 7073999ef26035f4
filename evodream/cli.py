"""The `evodream` command: a thin layer that parses flags and calls the Python API.

Every problem with the user's input ends as one line on stderr and exit code 2.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

from .errors import EvodreamError


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse prints usage + message; we want one line and exit 2
        raise EvodreamError(f"{message} (see `{self.prog} --help`)")


def _optional_float(text: str):
    return None if text.lower() in ("none", "off") else float(text)


def _add_evolve(sub) -> None:
    p = sub.add_parser("evolve", help="breed fooling images (GA or MAP-Elites)",
                       description="Breed images the model labels as the target classes with near-certain "
                                   "confidence. Flags override --config; unset flags keep the config's values.")
    p.add_argument("--model", help="lenet-mnist (default), efficientnet-lite0, torchvision:ARCH, a TorchScript "
                                   "file or package.module:function (see `evodream models`)")
    p.add_argument("--encoding", help="direct (one gene per pixel, default) or cppn")
    p.add_argument("--algorithm", help="map-elites (default), ga, or nsga2 (a Pareto front of confidence "
                                       "against naturalness per target, saved in RUN/pareto/)")
    p.add_argument("--target", help="'all' (default), or class names / indices separated by commas")
    p.add_argument("--population", type=int, help="children per generation (map-elites) or per target (ga); "
                                                  "default 10 (fast recipe) or 200 (paper recipe)")
    p.add_argument("--generations", type=int, help="stop after this many generations")
    p.add_argument("--max-evals", type=int, help="stop after this many evaluated images (default 100000)")
    p.add_argument("--max-seconds", type=float, help="stop after this much wall time")
    p.add_argument("--goal", type=_optional_float, default=argparse.SUPPRESS,
                   help="stop once every target holds this confidence (default 0.9999; 'none' to run on)")
    p.add_argument("--seed", type=int, help="random seed (default 0): same seed and config, same run on CPU")
    p.add_argument("--recipe", help="fast (default: parents from unfinished classes, adaptive mutation) or "
                                    "paper (Nguyen et al.'s settings)")
    p.add_argument("--confidence", help="fitness: log_prob (default), prob or margin")
    p.add_argument("--ten-crop", action="store_true", default=None,
                   help="average confidence over 10 crops (4 corners + centre, mirrored), as the paper on ImageNet")
    p.add_argument("--mutation-rate", type=float, help="per-gene (direct) or per-weight (cppn) mutation rate")
    p.add_argument("--eta", type=float, help="polynomial mutation's distribution index (small = bold steps)")
    p.add_argument("--crossover-rate", type=float, help="chance a child is also crossed with another elite")
    p.add_argument("--parent-selection", help="map-elites parents: focus (unfinished cells) or uniform")
    p.add_argument("--adaptive", action=argparse.BooleanOptionalAction, default=None,
                   help="adapt each cell's mutation strength by the 1/5 success rule")
    p.add_argument("--overlap", action=argparse.BooleanOptionalAction, default=None,
                   help="map-elites: breed and render the next generation on a second thread while the classifier "
                        "scores this one (hides CPPN rendering on a spare core; parents one generation stale)")
    p.add_argument("--prior", dest="priors", metavar="NAME=WEIGHT,...",
                   help="add natural-image priors to the fitness, e.g. tv=0.3,spectrum=0.3,colour=0.3,gradient=0.3 "
                        "(priors: tv, spectrum, colour, gradient, robust; weights 0.1-1 are typical; 'none' for none)")
    p.add_argument("--colour", help="cppn colour model: hls (default), hsv or rgb")
    p.add_argument("--device", help="cpu (default) or cuda")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--classes", dest="classes_file", help="custom model: file with one class name per line")
    p.add_argument("--input-size", type=int, help="custom model: input size in pixels")
    p.add_argument("--weights", help="torchvision model: a local weights file (state dict)")
    p.add_argument("--checkpoint-every", type=int, help="generations between checkpoints (default 50)")
    p.add_argument("--checkpoint-seconds", type=float,
                   help="seconds between checkpoints, whichever of the two comes first (default 60)")
    p.add_argument("--config", help="TOML file of settings (keys as the flags, with _ for -)")
    p.add_argument("--out", help="run folder to create (default runs/<time>-<model>-<encoding>-<algorithm>)")
    p.add_argument("--resume", metavar="RUN", help="continue the run in this folder from its checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_evolve)


def _evolve(args) -> int:
    from .config import EvolveConfig, from_mapping, load_toml
    from .evolve import evolve, resume

    skip = {"command", "handler", "config", "out", "resume", "quiet"}
    # --goal none is a None that must override the config's goal, so it is kept (absent = not given).
    flags = {k: v for k, v in vars(args).items() if k not in skip and (v is not None or k == "goal")}
    if "priors" in flags:
        from .objectives.priors import parse_priors

        flags["priors"] = {} if flags["priors"].strip().lower() in ("none", "off") else parse_priors(flags["priors"])
    if args.resume:
        if args.out or args.config:
            raise EvodreamError("--resume continues an existing run: drop --out and --config")
        result = resume(args.resume, flags, progress=not args.quiet)
    else:
        config = from_mapping(load_toml(args.config), source="config") if args.config else EvolveConfig()
        config = from_mapping(flags, base=config, source="flag")
        out = args.out or f"runs/{time.strftime('%Y%m%d-%H%M%S')}-{config.model.replace(':', '-').replace('/', '-')}" \
                          f"-{config.encoding}-{config.algorithm}"
        result = evolve(config, out, progress=not args.quiet)
    reached = sum(c >= 0.9999 for c in result.confidences.values())
    values = sorted(result.confidences.values())
    print(f"{result.run.path}: {result.generations} generations, {result.evaluations} evaluations, "
          f"{result.wall_seconds:.1f} s; {reached}/{len(values)} targets >= 99.99%, "
          f"min {values[0]:.6f}, median {values[len(values) // 2]:.6f} ({result.stop_reason})")
    print(f"elites: {result.run.path / 'elites.png'}")
    return 0


def _models(args) -> int:
    from .classifiers import BUILTIN_MODELS

    width = max(len(n) for n in BUILTIN_MODELS)
    for name, text in BUILTIN_MODELS.items():
        print(f"{name:<{width}}  {text}")
    return 0


def _classes(args) -> int:
    from .classifiers import load_classifier

    classifier = load_classifier(args.model, classes_file=args.classes_file, input_size=args.input_size,
                                 weights=args.weights)
    needle = (args.search or "").lower()
    shown = [(i, n) for i, n in enumerate(classifier.class_names) if needle in n.lower()]
    for index, name in shown:
        print(f"{index:5d}  {name}")
    if not shown:
        raise EvodreamError(f"no class of {args.model} contains {args.search!r}: try a shorter --search")
    return 0


def _run_target(manifest: dict, wanted: str | None) -> tuple[int, str]:
    """The (class index, name) of a run's target given by name or class index; the first by default."""
    targets = list(zip(manifest.get("targets", []), manifest.get("target_names", [])))
    if not targets:
        raise EvodreamError("the run's manifest lists no targets: the run is corrupt")
    if wanted is None:
        return targets[0]
    for index, name in targets:
        if wanted.strip().lower() == name.lower() or wanted.strip() == str(index):
            return index, name
    shown = ", ".join(repr(n) for _, n in targets[:8]) + (", ..." if len(targets) > 8 else "")
    raise EvodreamError(f"{wanted!r} is not a target of this run: choose one of {shown}")


MAX_RENDER_SIZE = 16384  # a 16k x 16k RGB float image is 3 GiB: beyond that a typo, not a wish


def _render(args) -> int:
    from PIL import Image

    from .evolve import encoding_of_run
    from .images import to_pil
    from .runs import RunFolder, read_json, write_image

    if not 1 <= args.size <= MAX_RENDER_SIZE:
        raise EvodreamError(f"--size must be between 1 and {MAX_RENDER_SIZE} pixels, got {args.size}")
    run = RunFolder.open(args.run, kind="evolve")
    index, name = _run_target(run.manifest, args.class_name)
    path = run.elite_stem(index, name).with_suffix(".json")
    if not path.exists():
        raise EvodreamError(f"{run.path} has no elite for {name!r} yet: let the run finish or --resume it")
    encoding = encoding_of_run(run)
    genome = encoding.from_json(read_json(path, "elite").get("genome"))
    out = Path(args.out) if args.out else run.path / "renders" / f"{path.stem}-{args.size}.png"
    if out.exists():
        raise EvodreamError(f"{out} exists: choose another --out")
    image_format = Image.registered_extensions().get(out.suffix.lower())
    if image_format is None:
        raise EvodreamError(f"--out {out} has no image extension PIL knows: end it with .png, .jpg or .webp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EvodreamError(f"cannot create {out.parent}: {exc.strerror}; choose another --out") from None
    picture = to_pil(encoding.render(encoding.stack([genome]), args.size)[0])
    write_image(out, picture.convert("RGB") if image_format == "JPEG" else picture, image_format)
    print(out)
    return 0


# Subcommands that live in their own modules under evodream/commands/: each has
# `register(subparsers)`, which adds its parser and sets `handler`.
COMMAND_MODULES: list[str] = ["report", "compare", "transfer", "ascend", "dream", "sweep", "serve"]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="evodream", description="Breed fooling images: pictures a classifier labels with "
                                                  "near-certain confidence while people see noise or patterns.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")
    _add_evolve(sub)
    p = sub.add_parser("models", help="list the models evodream can load")
    p.set_defaults(handler=_models)
    p = sub.add_parser("classes", help="list a model's class names and indices")
    p.add_argument("model")
    p.add_argument("--search", help="only names containing this text (case-insensitive)")
    p.add_argument("--classes", dest="classes_file", help="custom model: file with one class name per line")
    p.add_argument("--input-size", type=int, help="custom model: input size in pixels")
    p.add_argument("--weights", help="torchvision model: a local weights file")
    p.set_defaults(handler=_classes)
    p = sub.add_parser("render", help="re-render a run's elite at any size (CPPN: sharp at any resolution)")
    p.add_argument("run", help="a run folder")
    p.add_argument("--class", dest="class_name", help="class name or index (default: the first target)")
    p.add_argument("--size", type=int, default=1024, help="output size in pixels (default 1024)")
    p.add_argument("--out", help="PNG to write (default RUN/renders/<class>-<size>.png)")
    p.set_defaults(handler=_render)
    for module in COMMAND_MODULES:
        importlib.import_module(f"evodream.commands.{module}").register(sub, _Parser)
    return parser


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.handler(args)
    except EvodreamError as exc:
        print(f"evodream: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like: not an error of ours
        return 0
    except KeyboardInterrupt:
        print("evodream: interrupted; a run continues with `evodream evolve --resume RUN`", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
