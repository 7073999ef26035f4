"""When each target first reached each confidence threshold: ``reached.json`` in a run folder.

metrics.csv keeps only the best / median / min over targets per generation, so it cannot say
*which* class crossed 99% when. Reports need exactly that ("evaluations to reach 99%, per
class"), so searches and gradient ascent feed every generation's per-target confidences to a
:class:`Milestones`, which remembers the first evaluation (and query) count at which each target
held each threshold. The count is taken at the end of that generation or step, so its
resolution is one generation.

File format (``reached.json``)::

    {"format_version": 1, "thresholds": [0.99, 0.9999], "targets": [..], "target_names": [..],
     "first_evaluation": {"0.99": [int | null per target], "0.9999": [...]},
     "first_query":      {"0.99": [...], "0.9999": [...]}}

``null`` means the target never held that threshold.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

REACHED = "reached.json"
REACHED_FORMAT = 1
THRESHOLDS = (0.99, 0.9999)


def threshold_key(threshold: float) -> str:
    return f"{threshold:g}"


class Milestones:
    def __init__(self, targets: Sequence[int], target_names: Sequence[str], thresholds=THRESHOLDS):
        self.targets = [int(t) for t in targets]
        self.target_names = list(target_names)
        self.thresholds = tuple(float(t) for t in thresholds)
        n = len(self.targets)
        # -1 marks "not yet": the arrays stay integer and the update stays one vectorised step.
        self.evaluations = {t: np.full(n, -1, dtype=np.int64) for t in self.thresholds}
        self.queries = {t: np.full(n, -1, dtype=np.int64) for t in self.thresholds}

    def update(self, confidences: Sequence[float], evaluations: int, queries: int) -> None:
        """Record the targets that hold a threshold now and never did before."""
        c = np.asarray(confidences, dtype=np.float64)
        for t in self.thresholds:
            new = (c >= t) & (self.evaluations[t] < 0)
            self.evaluations[t][new] = evaluations
            self.queries[t][new] = queries

    def to_json(self) -> dict:
        def listed(arrays):
            return {threshold_key(t): [None if v < 0 else int(v) for v in arrays[t]] for t in self.thresholds}

        return {"format_version": REACHED_FORMAT, "thresholds": list(self.thresholds),
                "targets": self.targets, "target_names": self.target_names,
                "first_evaluation": listed(self.evaluations), "first_query": listed(self.queries)}

    # The checkpoint stores the same dict, so a resumed run keeps its earlier first-reach counts.
    state_dict = to_json

    def load_state_dict(self, state: dict) -> None:
        for t in self.thresholds:
            key = threshold_key(t)
            for arrays, name in ((self.evaluations, "first_evaluation"), (self.queries, "first_query")):
                values = state[name][key]
                if len(values) != len(self.targets):
                    raise ValueError(f"{name} has {len(values)} entries for {len(self.targets)} targets")
                arrays[t] = np.array([-1 if v is None else int(v) for v in values], dtype=np.int64)
