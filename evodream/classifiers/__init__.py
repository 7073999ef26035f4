"""Classifiers: one interface (:class:`Classifier`) for every model, and a registry of names.

The names are imported on first use (PEP 562): listing models and class names needs no torch.
"""
import importlib

_EXPORTS = {"Classifier": ".base", "BUILTIN_MODELS": ".registry", "load_classifier": ".registry",
            "resolve_targets": ".registry"}


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value  # once looked up, a plain attribute
    return value


__all__ = list(_EXPORTS)
