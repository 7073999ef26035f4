"""`evodream dream`: DeepDream on a photo (a layer's activations or a class), with an optional zoom GIF."""
from __future__ import annotations

import argparse
import time

from . import MODEL_FORMS, add_model_flags, add_torch_engine_flag, finite_float


def register(sub, parser_class=None) -> None:
    p = sub.add_parser(
        "dream",
        help="DeepDream: amplify a layer (or a class) in a photo; --zoom-frames makes an infinite-zoom GIF",
        description="Amplify what a layer of the model responds to in a photo (or push the photo towards "
                    "--target classes), over several octaves with jitter and gradient steps normalised by "
                    "their mean magnitude (Mordvintsev et al. 2015). Writes input.png, dream.png, frames/ "
                    "and, with --zoom-frames N > 1, zoom.gif into a new --out folder.")
    p.add_argument("--model", default="efficientnet-lite0",
                   help=f"efficientnet-lite0 (default), lenet-mnist, {MODEL_FORMS}")
    p.add_argument("--layer", help="named module to amplify (default: a mid layer; see --list-layers)")
    p.add_argument("--target",
                   help="amplify these classes (names / indices, comma-separated) instead of a layer")
    p.add_argument("--list-layers", action="store_true",
                   help="print the model's layer names and output shapes, then stop")
    p.add_argument("--image", help="image file to dream on (PNG, JPEG, ...; centre square is used)")
    p.add_argument("--photo",
                   help="a scikit-image photo by name (default chelsea for colour models, camera for grey)")
    p.add_argument("--size", type=int, default=224, help="side of the square picture in pixels (default 224)")
    p.add_argument("--octaves", type=int, default=4, help="number of scales (default 4)")
    p.add_argument("--octave-scale", type=finite_float, default=1.4,
                   help="size ratio between octaves (default 1.4)")
    p.add_argument("--steps", type=int, default=10, help="gradient steps per octave (default 10)")
    p.add_argument("--step-size", type=finite_float, default=0.01,
                   help="step, in units of the [0,1] pixel range, after dividing the gradient by its mean "
                        "magnitude (default 0.01)")
    p.add_argument("--jitter", type=int, default=32,
                   help="random shift of up to this many pixels per step (default 32)")
    p.add_argument("--zoom-frames", type=int, default=1,
                   help="frames of the infinite zoom: dream, zoom in, dream again "
                        "(default 1: just the dream)")
    p.add_argument("--zoom", type=finite_float, default=0.05,
                   help="share of the side cut away per zoom frame (default 0.05)")
    p.add_argument("--frame-ms", type=int, default=120,
                   help="GIF frame duration in milliseconds (default 120)")
    p.add_argument("--confidence", default="log_prob",
                   help="class dreams: log_prob (default), prob or margin")
    p.add_argument("--prior", dest="priors", default="",
                   help="class dreams: natural-image priors, NAME=WEIGHT,... (e.g. tv=0.1)")
    p.add_argument("--seed", type=int, default=0, help="random seed for the jitter (default 0)")
    add_model_flags(p)
    add_torch_engine_flag(p, "dream")
    p.add_argument("--out", help="folder to create (default runs/<time>-<model>-dream)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..dream import DreamConfig, deep_dream, list_layers

    skip = {"command", "handler", "out", "quiet", "list_layers", "engine"}
    config = DreamConfig(**{k: v for k, v in vars(args).items() if k not in skip})
    if args.list_layers:
        layers, default = list_layers(config)
        width = max(len(name) for name, _, _ in layers)
        for name, kind, shape in layers:
            shown = "x".join(map(str, shape)) if shape else "-"
            mark = "  (default)" if name == default else ""
            print(f"{name:<{width}}  {kind:<20} {shown}{mark}")
        return 0
    out = args.out or (f"runs/{time.strftime('%Y%m%d-%H%M%S')}-"
                       f"{config.model.replace(':', '-').replace('/', '-')}-dream")
    result = deep_dream(config, out, progress=not args.quiet)
    what = f"layer {result.layer}" if result.layer else f"class {', '.join(result.targets)}"
    print(f"{result.out}: dreamed {what}, {len(result.frames)} frame(s), {result.queries} queries, "
          f"{result.wall_seconds:.1f} s")
    print(f"dream: {result.out / 'dream.png'}" + (f"\nzoom: {result.gif}" if result.gif else ""))
    return 0
