"""What the Evolve page may start: the models, methods and limits, and the check of a start request.

Everything a request carries is checked here, before anything is written: the model must be a
built-in one (no files, no code, no downloads), classes must be the model's, the budget must be a
sane number of evaluations, and the run's name is a plain folder name. The result is a job spec
for worker.run_job whose config has already passed the same validation the CLI applies.
"""

from __future__ import annotations

import functools
import re
import time
from pathlib import Path

from ..errors import EvodreamError

MODELS = {
    "lenet-mnist": "LeNet on MNIST digits (28 px, fast)",
    "lenet-mnist-b": "the same LeNet, another seed",
    "efficientnet-lite0": "EfficientNet-Lite0 on ImageNet-1k (224 px, slow on CPU)",
    "efficientnet-lite1": "EfficientNet-Lite1, a second ImageNet network (240 px, slower)",
}
# method -> (worker action, the settings it fixes)
METHODS = {
    "map-elites-cppn": ("evolve", {"algorithm": "map-elites", "encoding": "cppn"}),
    "map-elites-direct": ("evolve", {"algorithm": "map-elites", "encoding": "direct"}),
    "ga-cppn": ("evolve", {"algorithm": "ga", "encoding": "cppn"}),
    "ascent": ("ascend", {}),
}
MAX_BUDGET = 2_000_000  # evaluations: the paper's whole ImageNet run; beyond that a typo
MAX_SEED = 2**32 - 1
CHECKPOINT_SECONDS = 2.0  # so the page's elites are at most a few seconds old
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")
FIELDS = ("model", "targets", "method", "budget", "goal", "seed", "name")


@functools.lru_cache(maxsize=None)
def class_names(model: str) -> tuple[str, ...]:
    """A built-in model's class names, without loading its weights."""
    if model not in MODELS:
        raise EvodreamError(f"unknown model {model!r}: choose one of {', '.join(MODELS)}")
    from ..classifiers.registry import builtin_class_names

    return builtin_class_names(model)


def suggest(model: str, text: str, limit: int = 20) -> list[dict]:
    """Classes whose name starts with, then contains, `text` (case-insensitive), then those whose
    other words contain it (ImageNet's WordNet words: 'corgi'); an index matches itself."""
    from ..classifiers.registry import ClassLookup

    names = class_names(model)
    needle = text.strip().lower()
    if needle.isdigit() and int(needle) < len(names):
        first = [int(needle)]
    else:
        first = [i for i, n in enumerate(names) if n.lower().startswith(needle)]
    seen = set(first)  # sets: a one-letter search matches most of ImageNet's classes
    rest = [i for i, n in enumerate(names) if needle in n.lower() and i not in seen]
    seen.update(rest)
    lookup = ClassLookup(names)
    rest += [i for i in lookup.mentioning(needle) if i not in seen]
    return [{"index": i, "name": names[i], "words": lookup.other_words(i)} for i in (first + rest)[:limit]]


def _integer(body: dict, key: str, default, low: int, high: int) -> int:
    value = body.get(key, default)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise EvodreamError(f"{key} must be a whole number from {low:,} to {high:,}, got {value!r:.40}")
    if not low <= value <= high:
        raise EvodreamError(f"{key} must be from {low:,} to {high:,}, got {value:,}")
    return value


def _goal(body: dict):
    value = body.get("goal", 0.9999)
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "off")):
        return None
    try:
        goal = float(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        goal = None
    if goal is None or not 0 < goal <= 1:
        raise EvodreamError(
            f"goal must be a confidence in (0, 1], or none to run the whole budget, got {value!r:.40}"
        )
    return goal


def _targets(body: dict, model: str) -> list[int]:
    from ..classifiers import resolve_targets
    from ..classifiers.registry import EFFICIENTNETS, ImageNetClassElsewhere

    value = body.get("targets")
    if isinstance(value, str):
        value = [value] if value.strip().lower() == "all" else [v for v in value.split(",") if v.strip()]
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value)
    ):
        raise EvodreamError(
            "targets must be a list of class names or indices (or 'all'): pick at least one class"
        )
    if len(value) == 1 and str(value[0]).strip().lower() == "all":
        return list(range(len(class_names(model))))
    if len(value) > len(class_names(model)):
        raise EvodreamError(
            f"{len(value)} targets for a model of {len(class_names(model))} classes: "
            "list each class once, or 'all'"
        )
    items = [v if isinstance(v, int) else v.strip() for v in value]
    try:
        return resolve_targets(items, class_names(model), model=model)
    except ImageNetClassElsewhere as exc:
        raise EvodreamError(exc.advise(f"pick {EFFICIENTNETS[0]} (or another ImageNet model) "
                                       "in the Model menu")) from None


def run_name(model: str, method: str, taken) -> str:
    base = f"{time.strftime('%Y%m%d-%H%M%S')}-{model}-{method}"
    name, n = base, 1
    while taken(name):
        n += 1
        name = f"{base}-{n}"
    return name


def plan(body, root: Path, *, threads: int, taken) -> tuple[str, dict]:
    """(run id, worker spec) for a start request; EvodreamError names the first problem.

    `taken(name)` says whether a run of that name exists or is queued."""
    if not isinstance(body, dict):
        raise EvodreamError("the request must be a JSON object of settings")
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise EvodreamError(f"unknown setting {unknown[0]!r}: the settings are {', '.join(FIELDS)}")
    model = body.get("model", "lenet-mnist")
    if model not in MODELS:
        raise EvodreamError(f"unknown model {str(model)!r:.60}: choose one of {', '.join(MODELS)}")
    method = body.get("method", "map-elites-cppn")
    if method not in METHODS:
        raise EvodreamError(f"unknown method {str(method)!r:.60}: choose one of {', '.join(METHODS)}")
    targets = _targets(body, model)
    budget = _integer(body, "budget", 10_000, 1, MAX_BUDGET)
    seed = _integer(body, "seed", 0, 0, MAX_SEED)
    goal = _goal(body)
    name = body.get("name") or run_name(model, method, taken)
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise EvodreamError(
            f"run name {str(name)!r:.60} is not a plain folder name: use up to 80 letters, digits, "
            "'.', '_' or '-', starting with a letter or digit"
        )
    if taken(name):
        from .jobs import Conflict

        raise Conflict(f"a run named {name!r} already exists: choose another name")
    action, fixed = METHODS[method]
    target = ",".join(str(t) for t in targets)
    if action == "evolve":
        from ..config import EvolveConfig, from_mapping, validate

        config = {
            "model": model,
            "target": target,
            "seed": seed,
            "max_evals": budget,
            "goal": goal,
            "checkpoint_seconds": CHECKPOINT_SECONDS,
            "threads": threads,
            **fixed,
        }
        validate(from_mapping(config, base=EvolveConfig(), source="request").resolved())
    else:
        from ..ascend import config_from, validate

        config = {
            "model": model,
            "target": target,
            "seed": seed,
            "max_evals": budget,
            "steps": None,
            "goal": goal,
            "threads": threads,
        }
        validate(config_from(config))
    return name, {"action": action, "out": str(root / name), "config": config, "threads": threads}
