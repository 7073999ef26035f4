"""The `evodream` command: a thin layer that parses flags and calls the Python API.

Every problem with the user's input ends as one line on stderr and exit code 2.
"""
from __future__ import annotations

import argparse
import importlib
import shlex
import sys
from pathlib import Path

from .commands import MODEL_FORMS, add_model_file_flags
from .errors import EvodreamError
from .plugins import load_plugin_flags


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse prints usage + message; we want one line and exit 2
        raise EvodreamError(f"{message} (see `{self.prog} --help`)")


def _models(args) -> int:
    from .classifiers import BUILTIN_MODELS

    width = max(len(n) for n in BUILTIN_MODELS)
    for name, text in BUILTIN_MODELS.items():
        print(f"{name:<{width}}  {text}")
    return 0


def _classes(args) -> int:
    from .classifiers.registry import ClassLookup, class_names_without_weights, load_classifier

    # Built-in and torchvision models' names are read without their weights (offline; for a built-in
    # model, without torch). Model flags are noted when the model loads.
    flags = (args.classes_file, args.input_size, args.weights)
    names = class_names_without_weights(args.model) if flags == (None, None, None) else None
    if names is None:
        names = load_classifier(args.model, classes_file=args.classes_file, input_size=args.input_size,
                                weights=args.weights).class_names
    lookup = ClassLookup(names)
    shown = lookup.mentioning(args.search or "")
    for index in shown:
        words = lookup.other_words(index)
        print(f"{index:5d}  {names[index]}" + (f"  ({', '.join(words)})" if words else ""))
    if not shown:
        fix = _on_imagenet(names, args.search or "") or "try a shorter --search"
        raise EvodreamError(f"no class of {args.model} contains {args.search!r}: {fix}")
    return 0


def _on_imagenet(names, text: str) -> str:
    """Where a search another model's classes miss finds ImageNet classes, the command to see them."""
    from .classifiers.registry import EFFICIENTNETS, imagenet_lookup_besides

    imagenet = imagenet_lookup_besides(names)
    found = imagenet.mentioning(text) if imagenet is not None else []
    if not found:
        return ""
    command = f"evodream classes {EFFICIENTNETS[0]} --search {shlex.quote(text)}"
    return f"ImageNet has {len(found)}: see `{command}`"


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
    if out.exists() or out.is_symlink():  # (a dangling link "does not exist" but names someone's file)
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
COMMAND_MODULES: list[str] = ["report", "compare", "transfer", "ascend", "dream", "sweep", "harden", "serve"]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="evodream",
                     description="Breed fooling images: pictures a classifier labels with near-certain "
                                 "confidence while people see noise or patterns.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")
    importlib.import_module("evodream.commands.evolve").register(sub, _Parser)
    p = sub.add_parser("models", help="list the models evodream can load")
    p.set_defaults(handler=_models)
    p = sub.add_parser("classes", help="list a model's class names and indices")
    p.add_argument("model", help=f"lenet-mnist, efficientnet-lite0, {MODEL_FORMS} (see `evodream models`)")
    p.add_argument("--search", help="only names containing this text (case-insensitive)")
    add_model_file_flags(p)
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


# What to do after Ctrl-C, by subcommand (what each one keeps of cut work).
AFTER_INTERRUPT = {
    "evolve": "the run continues with `evodream evolve --resume RUN`",
    "compare": "the same command again reuses the finished methods and resumes a cut evolution run",
    "sweep": "the same sweep again skips the finished jobs and resumes the rest",
    "harden": "it continues with `evodream harden --resume OUT`",
    "ascend": "ascent runs keep no checkpoint: start it again with a new --out",
    "dream": "start it again with a new --out",
}


def main(argv=None) -> int:
    args = None
    try:
        load_plugin_flags(sys.argv[1:] if argv is None else argv)
        args = build_parser().parse_args(argv)
        return args.handler(args)
    except EvodreamError as exc:
        print(f"evodream: error: {exc}", file=sys.stderr)
        return 2
    except MemoryError:  # numpy could not allocate: a batch or picture far too big for this machine
        print("evodream: error: out of memory: ask for a smaller --population (or --size, --workers)",
              file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like: not an error of ours
        return 0
    except KeyboardInterrupt:
        after = AFTER_INTERRUPT.get(getattr(args, "command", None))
        print("evodream: interrupted" + (f"; {after}" if after else ""), file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
