"""The evaluator: population → images → scores, the seam between a search and the classifier.

A search asks for genomes and is told their scores; the :class:`Evaluator` in between renders the
genomes with their encoding and scores the images with an :class:`~evodream.objectives.Objective`
(one batched classifier call), which counts the classifier queries. Anything with the same
``__call__``/``render``/``score`` can stand in for it: a pool of worker processes, a remote
cluster, or a user's own function.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from .genomes.base import Encoding
from .objectives.objective import Objective, Scores
from .objectives.priors import naturalness


class Evaluator:
    """Render a population and score it against every target of the objective.

    ``needs`` names extra scores a search wants (``"naturalness"`` for NSGA-II); ``render_size``
    overrides the encoding's image size.
    """

    def __init__(self, encoding: Encoding, objective: Objective, *, needs: Sequence[str] = (),
                 render_size: int | None = None):
        unknown = set(needs) - {"naturalness"}
        if unknown:
            raise ValueError(f"the evaluator cannot provide {', '.join(sorted(unknown))}")
        self.encoding = encoding
        self.objective = objective
        self.needs = tuple(needs)
        self.render_size = render_size

    @property
    def queries(self) -> int:
        """Images the classifier has evaluated so far (10 per image with ten_crop, and so on)."""
        return self.objective.classifier.queries

    @queries.setter
    def queries(self, value: int) -> None:
        self.objective.classifier.queries = int(value)

    def render(self, population: Any) -> torch.Tensor | np.ndarray:
        """The population's images for score(): a torch tensor or a float32 array (direct genomes)."""
        return self.encoding.render_for_scoring(population, self.render_size)

    def score(self, images: torch.Tensor | np.ndarray) -> Scores:
        """Scores as float32 numpy arrays (see Objective.score)."""
        scores = self.objective.score(images)
        if "naturalness" in self.needs:
            scores.naturalness = naturalness(torch.as_tensor(images)).cpu().numpy()
        return scores

    def __call__(self, population: Any) -> Scores:
        return self.score(self.render(population))

    def describe(self) -> dict:
        """For the run manifest: how the population is scored (here: in the run's own process)."""
        return {"backend": "in-process", "count": 1}

    def close(self) -> None:
        """Release workers (none here)."""
