"""Target-class confidence: how a classifier's answer becomes a fitness to maximise.

Three measures, all computed from logits of one batched forward pass:

- ``prob``:     the softmax probability of the target;
- ``log_prob``: its logarithm (same ranking as ``prob``, but keeps precision near 100% where
  float32 probabilities round to 1 and would tie);
- ``margin``:   target logit minus the largest other logit.
"""
from __future__ import annotations

import torch

CONFIDENCE_KINDS = ("log_prob", "prob", "margin")


def confidence_fitness(logits: torch.Tensor, targets: torch.Tensor, kind: str = "log_prob") -> torch.Tensor:
    """Fitness of every image for every target, shaped (B, T). Differentiable."""
    log_probs = torch.log_softmax(logits.float(), dim=1)
    if kind == "log_prob":
        return log_probs[:, targets]
    if kind == "prob":
        return log_probs[:, targets].exp()
    if kind == "margin":
        chosen = logits[:, targets]
        # Largest logit among the *other* classes: mask each target's own column out.
        masked = logits.unsqueeze(1).expand(-1, len(targets), -1).clone()
        masked[:, torch.arange(len(targets)), targets] = float("-inf")
        return chosen - masked.max(dim=2).values
    raise ValueError(f"unknown confidence kind {kind!r}; choose one of {', '.join(CONFIDENCE_KINDS)}")
