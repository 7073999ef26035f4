"""Objectives as an algebra of terms: ``confidence() + 0.3 * tv() + 0.5 * robust()``.

A term maps a batch of images (and, through the :class:`Context`, the classifier's logits for
them and the target classes) to a score per image and target, shaped (B, T), or per image, (B,),
which counts for every target alike. Terms add, subtract and scale by numbers; an
:class:`~evodream.objectives.Objective` evaluates one, computing the logits once for all terms.
``--prior tv=0.3,spectrum=0.3`` compiles to ``confidence(kind) + priors({...})``.
"""
from __future__ import annotations

import torch

from .confidence import confidence_fitness
from .priors import PRIORS, RobustPrior, prior_terms


class Context:
    """One batch being scored: the images, the target indices, the objective (its classifier and
    cached helpers) and the logits, computed on first use."""

    def __init__(self, objective, images: torch.Tensor, targets: torch.Tensor):
        self.objective, self.images, self.targets = objective, images, targets
        self._logits = None

    @property
    def logits(self) -> torch.Tensor:
        if self._logits is None:
            self._logits = self.objective.logits(self.images)
        return self._logits


class Term:
    """A scoring term; combine with +, -, * (by a number)."""

    def __call__(self, context: Context) -> torch.Tensor:
        raise NotImplementedError

    def __add__(self, other: "Term") -> "Term":
        if not isinstance(other, Term):
            return NotImplemented
        return Sum([self, other])

    def __radd__(self, other):
        if isinstance(other, (int, float)) and other == 0:  # sum([...]) starts from 0
            return self
        return NotImplemented

    def __mul__(self, weight: float) -> "Term":
        if not isinstance(weight, (int, float)):
            return NotImplemented
        return Scaled(float(weight), self)

    __rmul__ = __mul__

    def __neg__(self) -> "Term":
        return Scaled(-1.0, self)

    def __sub__(self, other: "Term") -> "Term":
        if not isinstance(other, Term):
            return NotImplemented
        return self + (-other)


def _add(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Sum of (B, T) and/or (B,) scores; a per-image score counts for every target."""
    if a.dim() != b.dim():
        a, b = (a.unsqueeze(1), b) if a.dim() == 1 else (a, b.unsqueeze(1))
    return a + b.to(a.device)


class Sum(Term):
    def __init__(self, terms: list[Term]):
        self.terms = [t for term in terms for t in (term.terms if isinstance(term, Sum) else [term])]

    def __call__(self, context):
        total = self.terms[0](context)
        for term in self.terms[1:]:
            total = _add(total, term(context))
        return total

    def __repr__(self):
        return " + ".join(repr(t) for t in self.terms)


class Scaled(Term):
    def __init__(self, weight: float, term: Term):
        self.weight, self.term = weight, term

    def __call__(self, context):
        return self.weight * self.term(context)

    def __repr__(self):
        return f"{self.weight:g} * {self.term!r}"


class Confidence(Term):
    """The targets' confidence: log_prob (default), prob or margin over the best other class."""

    def __init__(self, kind: str = "log_prob"):
        self.kind = kind

    def __call__(self, context):
        return confidence_fitness(context.logits, context.targets, self.kind)

    def __repr__(self):
        return f"confidence({self.kind})"


class ImagePriors(Term):
    """A weighted sum of image priors by name (PRIORS), per image: what --prior compiles to."""

    def __init__(self, weights: dict[str, float]):
        self.weights = dict(weights)

    def __call__(self, context):
        return prior_terms(context.images, self.weights)

    def __repr__(self):
        return " + ".join(f"{w:g} * {name}()" for name, w in self.weights.items())


class Robust(Term):
    """The targets' log-probability under fixed small shifts and zooms (see RobustPrior)."""

    def __call__(self, context):
        return context.objective.robust_prior(context.images, context.targets)

    def __repr__(self):
        return "robust()"


def confidence(kind: str = "log_prob") -> Term:
    return Confidence(kind)


def prior(name: str) -> Term:
    PRIORS.entry(name)  # an unknown name fails here, with the known ones listed
    return Robust() if name == "robust" else ImagePriors({name: 1.0})


def tv() -> Term:
    return prior("tv")


def spectrum() -> Term:
    return prior("spectrum")


def colour() -> Term:
    return prior("colour")


def gradient() -> Term:
    return prior("gradient")


def robust() -> Term:
    return Robust()


def compile_fitness(kind: str, priors: dict[str, float]) -> Term:
    """confidence(kind) + the image priors + robust, as ``--prior`` weights them."""
    term: Term = Confidence(kind)
    image = {k: w for k, w in priors.items() if k != "robust"}
    if any(image.values()):
        term = term + ImagePriors(image)
    if priors.get("robust"):
        term = term + priors["robust"] * Robust()
    return term


__all__ = ["Context", "Term", "confidence", "prior", "tv", "spectrum", "colour", "gradient", "robust",
           "compile_fitness", "RobustPrior"]
