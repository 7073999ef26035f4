"""The objective a search maximises: target confidence (+ priors, see priors.py)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from ..classifiers.base import Classifier
from .confidence import confidence_fitness
from .crops import ten_crops


@dataclass
class Scores:
    """Per image and target: ``fitness`` drives selection, ``confidence`` is the probability reported."""

    fitness: torch.Tensor      # (B, T)
    confidence: torch.Tensor   # (B, T), softmax probability of each target


class Objective:
    def __init__(self, classifier: Classifier, targets: Sequence[int], *, kind: str = "log_prob",
                 ten_crop: bool = False):
        self.classifier = classifier
        self.targets = list(targets)
        self._targets = torch.tensor(self.targets, dtype=torch.long, device=classifier.device)
        self.kind = kind
        self.ten_crop = ten_crop

    def settings(self) -> dict:
        return {"confidence": self.kind, "ten_crop": self.ten_crop}

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """Logits per image (log of the crop-averaged softmax when ten_crop is on)."""
        if not self.ten_crop:
            return self.classifier.logits(images)
        batch = images.shape[0]
        crops = ten_crops(images, self.classifier.input_size)
        log_probs = torch.log_softmax(self.classifier.logits(crops).float(), dim=1).view(10, batch, -1)
        # Average probabilities, not logits, as the paper did; a log keeps it a valid logit vector.
        return torch.logsumexp(log_probs, dim=0) - torch.log(torch.tensor(10.0))

    def score(self, images: torch.Tensor) -> Scores:
        with torch.inference_mode():
            logits = self.logits(images)
            fitness = confidence_fitness(logits, self._targets, self.kind)
            confidence = torch.softmax(logits.float(), dim=1)[:, self._targets]
        return Scores(fitness.cpu(), confidence.cpu())
