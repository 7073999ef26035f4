"""Lazy package exports (PEP 562): a package names its public objects and the submodule of each,
and a submodule is imported only when one of its names is first looked up. So the command line
builds its parser, and ``import evodream`` returns, without importing torch."""
from __future__ import annotations

import importlib
import sys


def lazy_exports(package: str, exports: dict[str, str]):
    """The module ``__getattr__`` of `package`: ``exports`` maps each public name to its submodule,
    relative to the package (".base"); once looked up, a name is a plain attribute."""

    def __getattr__(name: str):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name], package), name)
        vars(sys.modules[package])[name] = value
        return value

    return __getattr__
