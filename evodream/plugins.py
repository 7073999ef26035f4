"""Plugins: modules a run imports first, so the components they register can be named.

``evodream evolve --plugin my_pkg.stripes --encoding stripes`` imports ``my_pkg.stripes`` (which
registers the ``stripes`` encoding) before the config is checked; the run's manifest keeps the
module names, so ``--resume`` imports them again. A plugin runs code: use only modules you trust.
"""
from __future__ import annotations

import importlib
import re

from .errors import EvodreamError

_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def plugin_names(text: str | None) -> list[str]:
    return [name.strip() for name in (text or "").split(",") if name.strip()]


def load_plugins(text: str | None) -> None:
    """Import every module named in the comma-separated `text` (already imported ones are kept)."""
    for name in plugin_names(text):
        if not _MODULE.match(name):
            raise EvodreamError(f"plugin {name!r} is not a module name: give a dotted name such as "
                                "my_pkg.plugin")
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise EvodreamError(f"cannot import plugin {name!r} ({exc}): install it or put it on "
                                "PYTHONPATH") from None


def load_plugin_flags(argv) -> None:
    """Import the modules of every --plugin flag in `argv` (before the parser is built, so the
    components they register appear in --help and pass the parser's checks)."""
    for i, arg in enumerate(argv):
        if arg == "--plugin" and i + 1 < len(argv):
            load_plugins(argv[i + 1])
        elif arg.startswith("--plugin="):
            load_plugins(arg.split("=", 1)[1])
