"""The objective a search maximises: target confidence (+ priors, see priors.py).

Image priors (tv, spectrum, colour, gradient) are functions of the images alone and add the same
term to every target's fitness. The ``robust`` prior needs the classifier and the targets, so the
Objective builds it (a RobustPrior: the target's log-probability under fixed small jitters) and
adds it per target; its classifier calls count as queries like any other.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from ..classifiers.base import Classifier
from .confidence import confidence_fitness
from .crops import ten_crops
from .priors import CLASSIFIER_PRIORS, RobustPrior, parse_priors, prior_terms


@dataclass
class Scores:
    """Per image and target: ``fitness`` drives selection, ``confidence`` is the probability reported."""

    fitness: torch.Tensor      # (B, T)
    confidence: torch.Tensor   # (B, T), softmax probability of each target


class Objective:
    def __init__(self, classifier: Classifier, targets: Sequence[int], *, kind: str = "log_prob",
                 ten_crop: bool = False, priors: dict | str | None = None):
        self.classifier = classifier
        self.targets = list(targets)
        self._targets = torch.tensor(self.targets, dtype=torch.long, device=classifier.device)
        self.kind = kind
        self.ten_crop = ten_crop
        self.priors = parse_priors(priors)
        self._image_priors = {k: w for k, w in self.priors.items() if k not in CLASSIFIER_PRIORS}
        self._robust = RobustPrior(classifier, self._targets) if self.priors.get("robust") else None

    def settings(self) -> dict:
        return {"confidence": self.kind, "ten_crop": self.ten_crop, "priors": self.priors}

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """Logits per image (log of the crop-averaged softmax when ten_crop is on)."""
        if not self.ten_crop:
            return self.classifier.logits(images)
        batch = images.shape[0]
        crops = ten_crops(images, self.classifier.input_size)
        log_probs = torch.log_softmax(self.classifier.logits(crops).float(), dim=1).view(10, batch, -1)
        # Average probabilities, not logits, as the paper did; a log keeps it a valid logit vector.
        return torch.logsumexp(log_probs, dim=0) - torch.log(torch.tensor(10.0))

    def evaluate(self, images: torch.Tensor) -> Scores:
        """Fitness (confidence + weighted priors) and confidence; differentiable, for gradient ascent."""
        logits = self.logits(images)
        fitness = confidence_fitness(logits, self._targets, self.kind)
        if self._image_priors:
            fitness = fitness + prior_terms(images.to(fitness.device), self._image_priors).unsqueeze(1)
        if self._robust is not None:
            fitness = fitness + self.priors["robust"] * self._robust(images).to(fitness.device)
        return Scores(fitness, torch.softmax(logits.float(), dim=1)[:, self._targets])

    def score(self, images: torch.Tensor) -> Scores:
        """The same without gradients, on the CPU: what evolution uses."""
        with torch.inference_mode():
            scores = self.evaluate(images)
        return Scores(scores.fitness.cpu(), scores.confidence.cpu())
