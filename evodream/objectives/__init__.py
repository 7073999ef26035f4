"""Objectives: target confidence and natural-image priors, as batched torch functions."""
from .confidence import CONFIDENCE_KINDS, confidence_fitness
from .crops import crop_render_size, ten_crops
from .objective import Objective, Scores
from .priors import NATURALNESS, PRIORS, naturalness, parse_priors
from .terms import Term, colour, confidence, gradient, prior, robust, spectrum, tv

__all__ = ["CONFIDENCE_KINDS", "confidence_fitness", "crop_render_size", "ten_crops", "Objective", "Scores",
           "NATURALNESS", "PRIORS", "naturalness", "parse_priors", "Term", "confidence", "prior", "tv",
           "spectrum", "colour", "gradient", "robust"]
