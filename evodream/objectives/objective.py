"""The objective a search maximises: a fitness term (target confidence + priors, see terms.py).

``Objective(classifier, targets, priors={"tv": 0.3})`` compiles the ``--prior`` weights into
``confidence(kind) + priors``; ``Objective(classifier, targets, fitness=confidence() + 0.3 * tv())``
takes any term. The classifier's calls (including the ``robust`` prior's jitters and ten crops)
count as queries.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ..classifiers.base import Classifier, log_softmax_array
from .crops import ten_crops
from .priors import RobustPrior, parse_priors
from .terms import Confidence, Context, Term, compile_fitness


@dataclass
class Scores:
    """Per image and target: ``fitness`` drives selection, ``confidence`` is the probability reported.

    From :meth:`Objective.evaluate` (gradient ascent) torch tensors that carry gradients; from
    :meth:`Objective.score` and the evaluators (evolution) float32 numpy arrays.
    """

    fitness: torch.Tensor | np.ndarray      # (B, T)
    confidence: torch.Tensor | np.ndarray   # (B, T), softmax probability of each target
    naturalness: torch.Tensor | np.ndarray | None = None  # (B,), when a search needs it (NSGA-II)


class Objective:
    """Scores images for a list of target classes: fitness (B, T) and confidence (B, T)."""

    def __init__(self, classifier: Classifier, targets: Sequence[int], *, kind: str = "log_prob",
                 ten_crop: bool = False, priors: dict | str | None = None, fitness: Term | None = None):
        self.classifier = classifier
        self.targets = list(targets)
        self._targets = torch.tensor(self.targets, dtype=torch.long, device=classifier.device)
        self._target_array = np.asarray(self.targets, dtype=np.int64)
        self.kind = kind
        self.ten_crop = ten_crop
        self.priors = parse_priors(priors)
        self.fitness = fitness if fitness is not None else compile_fitness(kind, self.priors)
        self._robust: RobustPrior | None = None

    def settings(self) -> dict:
        return {"confidence": self.kind, "ten_crop": self.ten_crop, "priors": self.priors,
                "fitness": repr(self.fitness)}

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """Logits per image (log of the crop-averaged softmax when ten_crop is on)."""
        if not self.ten_crop:
            return self.classifier.logits(images)
        batch = images.shape[0]
        crops = ten_crops(images, self.classifier.input_size)
        log_probs = torch.log_softmax(self.classifier.logits(crops).float(), dim=1).view(10, batch, -1)
        # Average probabilities, not logits, as the paper did; a log keeps it a valid logit vector.
        return torch.logsumexp(log_probs, dim=0) - torch.log(torch.tensor(10.0))

    def robust_prior(self, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self._robust is None:
            self._robust = RobustPrior(self.classifier, self._targets)
        return self._robust(images, targets)

    def evaluate(self, images: torch.Tensor, columns: Sequence[int] | None = None) -> Scores:
        """Fitness and confidence, differentiable (gradient ascent uses this); ``columns`` picks a
        subset of the targets (by position) to score."""
        targets = self._targets if columns is None else self._targets[list(columns)]
        context = Context(self, images, targets)
        confidence = torch.softmax(context.logits.float(), dim=1)[:, targets]
        return Scores(self._fitness(context), confidence)

    def _fitness(self, context: Context) -> torch.Tensor:
        fitness = self.fitness(context)
        if fitness.dim() == 1:  # a term of image priors only
            fitness = fitness.unsqueeze(1).expand(-1, len(context.targets))
        return fitness

    def score(self, images: torch.Tensor | np.ndarray) -> Scores:
        """The same without gradients, as float32 numpy arrays: what evolution uses (images may be
        a torch tensor or a float32 array).

        Small batches spend more time in torch's per-call cost than in a small model's forward
        pass (all the more right after the pass, which leaves the caches cold), so the
        probabilities come from one array of logits and a few numpy operations, and a fitness of
        the targets' (log-)probability alone never goes through torch at all."""
        fitness = None
        if self.ten_crop or not (isinstance(self.fitness, Confidence)
                                 and self.fitness.kind in ("log_prob", "prob")):
            with torch.inference_mode():
                context = Context(self, torch.as_tensor(images), self._targets)
                fitness = self._fitness(context).float().cpu().numpy()
                logits = context.logits.float().cpu().numpy()
        else:
            logits = self.classifier.logits_array(images)
        log_probs = log_softmax_array(logits)[:, self._target_array]
        confidence = np.exp(log_probs).astype(np.float32)
        if fitness is None:
            fitness = log_probs.astype(np.float32) if self.fitness.kind == "log_prob" else confidence
        return Scores(fitness, confidence)
