"""Classifiers: one interface (:class:`Classifier`) for every model, and a registry of names."""
from .base import Classifier
from .registry import BUILTIN_MODELS, load_classifier, resolve_targets

__all__ = ["Classifier", "BUILTIN_MODELS", "load_classifier", "resolve_targets"]
