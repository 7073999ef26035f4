"""Subcommands of `evodream` that live in modules of their own (see cli.COMMAND_MODULES)."""
import argparse
import math

# The ways to name a model besides the built-in names (each command lists its own default first).
MODEL_FORMS = "torchvision:ARCH, a TorchScript file or package.module:function"
TARGET_HELP = ("'all' (default), or class names / indices separated by commas; an ImageNet class also by "
               "its other WordNet words ('Pembroke Welsh corgi'): `evodream classes MODEL --search TEXT`")


def finite_float(text: str) -> float:
    """A flag's number: inf and nan are refused here, as argparse refuses a word (a run's manifest
    is strict JSON, and no setting means anything at infinity)."""
    value = float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def optional_float(text: str):
    """A finite number, or None for 'none' / 'off' (e.g. --goal none)."""
    return None if text.lower() in ("none", "off") else finite_float(text)


def add_model_flags(parser, defaults: bool = True) -> None:
    """The flags that choose where and how a model runs (ModelSpec's fields), shared by the commands
    that load one. ``defaults=False`` leaves unset flags None, for commands whose config file fills them."""
    parser.add_argument("--device", default="cpu" if defaults else None, help="cpu (default) or cuda")
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    add_model_file_flags(parser)


def add_model_file_flags(parser) -> None:
    """The flags that say what a custom or torchvision model is: its class names, input size, weights."""
    parser.add_argument("--classes", dest="classes_file",
                        help="custom model: file with one class name per line")
    parser.add_argument("--input-size", type=int, help="custom model: input size in pixels")
    parser.add_argument("--weights", help="torchvision model: a local weights file (state dict)")


def add_torch_engine_flag(parser, command: str) -> None:
    """--engine for commands that need gradients: torch (or auto, which means torch here) only."""

    def torch_only(text: str) -> str:
        from ..errors import EvodreamError

        if text in ("torch", "auto"):
            return text
        if text == "onnxruntime":
            raise EvodreamError(f"{command} needs gradients, which only the torch engine gives: "
                                "drop --engine onnxruntime (ONNX Runtime speeds up `evodream evolve`)")
        raise EvodreamError(f"unknown engine {text!r}: {command} runs on torch (--engine torch)")

    parser.add_argument("--engine", type=torch_only, default="torch",
                        help="torch (default and only choice: gradients need autograd)")
