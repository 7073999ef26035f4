"""Classifiers: one interface (:class:`Classifier`) for every model, and a registry of names.

The names are imported on first use (PEP 562): listing models and class names needs no torch.
"""
from ..lazy import lazy_exports

_EXPORTS = {"Classifier": ".base", "BUILTIN_MODELS": ".registry", "load_classifier": ".registry",
            "resolve_targets": ".registry"}
__getattr__ = lazy_exports(__name__, _EXPORTS)

__all__ = list(_EXPORTS)
