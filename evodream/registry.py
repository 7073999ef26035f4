"""Components by name: models, encodings, searches, emitters and priors each have a Registry.

A component is one file that registers itself::

    from evodream.genomes import ENCODINGS

    @ENCODINGS.register("stripes", help="horizontal stripes, one gene per row")
    def build_stripes(config, channels, size):
        return StripesEncoding(channels, size)

After that, ``EvolveConfig(encoding="stripes")``, ``evodream evolve --encoding stripes`` (with
``--plugin my_module`` to import the file first) and the checks on both know the name. Lookups of
an unknown name fail with one line listing the known ones (and the closest match).
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Callable

from .errors import EvodreamError


@dataclass(frozen=True)
class Entry:
    """One registered component: its name, what builds it, a line of help and defaults it implies."""

    name: str
    factory: Callable
    help: str = ""
    defaults: dict = field(default_factory=dict)  # config settings this component fills where left open


class Registry:
    """Name → Entry for one kind of component (``kind`` words the error messages)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, factory: Callable | None = None, *, help: str = "",
                 defaults: dict | None = None):
        """Register ``factory`` under ``name``; used bare as a decorator when factory is omitted.

        Registering a name again replaces the entry (a plugin may override a built-in on purpose).
        """
        def add(function: Callable) -> Callable:
            self._entries[name] = Entry(name, function, help, dict(defaults or {}))
            return function

        return add if factory is None else add(factory)

    def entry(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise EvodreamError(self.unknown(name)) from None

    def __getitem__(self, name: str) -> Callable:
        return self.entry(name).factory

    def unknown(self, name) -> str:
        hint = difflib.get_close_matches(str(name), list(self._entries), n=1)
        return (f"unknown {self.kind} {name!r}: choose one of {', '.join(self._entries)}"
                + (f" (did you mean {hint[0]!r}?)" if hint else ""))

    def __contains__(self, name) -> bool:
        return name in self._entries

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def __iter__(self):  # the names, like a dict's keys (without it, list() probed __getitem__(0))
        return iter(tuple(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def describe(self) -> str:
        """'name (help), name (help)': for --help texts."""
        return ", ".join(f"{e.name} ({e.help})" if e.help else e.name for e in self._entries.values())
