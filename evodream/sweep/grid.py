"""A sweep file (TOML) → the list of independent jobs it stands for.

    title = "MNIST: encodings x methods"      # optional, heads the report
    [grid]                                    # a list is an axis; every combination is one job
    model = "lenet-mnist"
    encoding = ["direct", "cppn"]
    algorithm = ["map-elites", "ascent"]      # map-elites, ga, nsga2, or ascent (gradient ascent)
    seed = [0, 1, 2]
    priors = ["none", "tv=0.3,spectrum=0.3"]
    [settings]                                # shared by every job
    max_evals = 5000
    [evolve]                                  # evolution jobs only (keys of `evodream evolve`)
    population = 10
    [ascent]                                  # gradient-ascent jobs only (keys of `evodream ascend`)
    lr = 0.05
    [[exclude]]                               # drop the combinations that match every key given
    algorithm = "nsga2"
    priors = "tv=0.3,spectrum=0.3"

A key applies to the kinds of job that know it: `encoding`, `population`, `recipe`, ... only to
evolution, `lr`, `param`, ... only to gradient ascent, so ascent jobs do not multiply over the
encoding axis. `generations` is ascent's `steps`; with a `max_evals` budget and no step count,
ascent runs on that budget like evolution. Every job's config is checked here, so a typo fails
before anything runs.
"""
from __future__ import annotations

import dataclasses
import difflib
import itertools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import EvodreamError

ASCENT = "ascent"
# Axes first in job names and group tables, in this order; other axes follow in file order, seed last.
LEADING_AXES = ("model", "algorithm", "encoding", "target", "priors")
TABLES = ("grid", "settings", "evolve", "ascent")
TOP_KEYS = ("title", "exclude") + TABLES
MAX_JOBS = 100_000  # combinations of axis values; past this a grid is a typo or a job for several sweeps


@dataclass
class Job:
    name: str                   # the run folder's name: readable, deterministic, unique in the sweep
    kind: str                   # "evolve" or "ascend"
    axes: dict                  # axis → this job's value (axes that do not apply to its kind are left out)
    config: dict                # the full EvolveConfig / AscendConfig as a dict

    def to_json(self) -> dict:
        return {"name": self.name, "kind": self.kind, "axes": self.axes, "config": self.config}


@dataclass
class Grid:
    title: str
    axes: dict                  # axis → list of values, in name order (seed last)
    jobs: list
    spec: dict = field(default_factory=dict)   # the file's content, as loaded

    @property
    def varying(self) -> list[str]:
        """Axes with more than one value: what the report groups and compares by (seed aside)."""
        return [a for a, values in self.axes.items() if len(values) > 1]


def _evolve_fields() -> set:
    from ..config import FIELD_TYPES

    return set(FIELD_TYPES)


def _ascend_fields() -> set:
    from ..ascend import FIELDS

    return set(FIELDS) | {"generations"}     # generations is ascent's steps


def _algorithms() -> tuple:
    from ..config import algorithms

    return algorithms() + (ASCENT,)


def _unknown_key(key: str, known, where: str) -> EvodreamError:
    hint = difflib.get_close_matches(key, sorted(known), n=1)
    return EvodreamError(f"unknown key {key!r} in {where} of the sweep file"
                         + (f": did you mean {hint[0]!r}?" if hint
                            else f"; known keys: {', '.join(sorted(known))}"))


def _table(data: dict, name: str) -> dict:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise EvodreamError(f"[{name}] in the sweep file must be a table of settings, got {value!r}")
    return {k.replace("-", "_"): v for k, v in value.items()}


def normalise(axis: str, value):
    """One canonical form per value, so `priors = "tv=0.3"` and `{tv = 0.3}` are the same job."""
    if axis == "priors":
        from ..objectives.priors import parse_priors

        if isinstance(value, str) and value.strip().lower() in ("none", "off", ""):
            return {}
        return parse_priors(value)
    if axis == "target":  # a list inside one value is several targets of one job: "3,7"
        return ",".join(str(v) for v in value) if isinstance(value, list) else str(value)
    return value


def value_label(axis: str, value) -> str:
    """A short readable form of an axis value, for folder names and tables."""
    if axis == "priors":
        return "none" if not value else ",".join(f"{k}={v:g}" for k, v in value.items())
    return str(value)


def _name_part(axis: str, value) -> str:
    text = value_label(axis, value)
    if axis == "priors":
        text = "nopriors" if not value else "priors-" + text
    elif axis == "seed":
        text = f"seed{value}"
    elif axis not in ("model", "algorithm", "encoding"):
        text = f"{axis}-{text}"
    return re.sub(r"[^A-Za-z0-9._]+", "-", text).strip("-.") or axis


def load_grid(source: str | Path | dict) -> Grid:
    """Read a sweep file (or an already-parsed dict) and expand it into checked jobs."""
    if isinstance(source, dict):
        data = source
    else:
        from ..config import tomllib

        path = Path(source)
        try:
            with path.open("rb") as handle:
                data = tomllib.load(handle)
        except FileNotFoundError:
            raise EvodreamError(f"sweep file {str(path)!r} does not exist: check the path "
                                "(examples/sweep-mnist.toml is a start)") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise EvodreamError(f"cannot read sweep file {str(path)!r}: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise EvodreamError(f"sweep file {str(path)!r} is not valid TOML: {exc}") from None
    return expand(data)


def expand(data: dict) -> Grid:
    for key in data:
        if key not in TOP_KEYS:
            raise _unknown_key(key, TOP_KEYS, "the top level")
    grid, settings = _table(data, "grid"), _table(data, "settings")
    only = {"evolve": _table(data, "evolve"), "ascent": _table(data, "ascent")}
    evolve_keys, ascend_keys = _evolve_fields(), _ascend_fields()
    known = evolve_keys | ascend_keys
    for name, table, keys in (("[grid]", grid, known), ("[settings]", settings, known),
                              ("[evolve]", only["evolve"], evolve_keys - {"algorithm"}),
                              ("[ascent]", only["ascent"], ascend_keys)):
        for key in table:
            if key not in keys:
                raise _unknown_key(key, keys, name)
    both = sorted(set(grid) & set(settings))
    if both:
        raise EvodreamError(f"{', '.join(both)} is both a [grid] axis and a [settings] value: keep it in one")
    if "algorithm" in settings:  # one algorithm for all: treat it as a one-value axis
        grid["algorithm"] = settings.pop("algorithm")

    axes = {}
    order = ([a for a in LEADING_AXES if a in grid]
             + [a for a in grid if a not in LEADING_AXES and a != "seed"])
    order += ["seed"] if "seed" in grid else []
    for axis in order:
        values = grid[axis] if isinstance(grid[axis], list) else [grid[axis]]
        if not values:
            raise EvodreamError(f"axis {axis!r} in [grid] is an empty list: give it at least one value")
        values = [normalise(axis, v) for v in values]
        if any(values.count(v) > 1 for v in values):
            raise EvodreamError(f"axis {axis!r} lists a value twice: list each once")
        axes[axis] = values
    for algorithm in axes.get("algorithm", []):
        if algorithm not in _algorithms():
            hint = difflib.get_close_matches(str(algorithm), _algorithms(), n=1)
            raise EvodreamError(f"unknown algorithm {algorithm!r} in the sweep file: choose from "
                                f"{', '.join(_algorithms())}"
                                + (f" (did you mean {hint[0]!r}?)" if hint else ""))
    excludes = _excludes(data.get("exclude", []), axes)
    combinations = math.prod(len(values) for values in axes.values())
    if combinations > MAX_JOBS:  # checked before expanding: a product of many axes can be astronomic
        raise EvodreamError(f"the grid's axes make {combinations:,} combinations, more than a sweep runs "
                            f"({MAX_JOBS:,}): split it into several sweep files")

    jobs, seen = [], {}
    for combination in itertools.product(*axes.values()):
        values = dict(zip(axes, combination))
        if any(all(values.get(k) in v for k, v in rule.items()) for rule in excludes):
            continue
        kind = "ascend" if values.get("algorithm") == ASCENT else "evolve"
        keys = ascend_keys if kind == "ascend" else evolve_keys
        applied = {a: v for a, v in values.items() if a in keys or (a == "algorithm" and kind == "evolve")}
        config = (_ascend_config if kind == "ascend" else _evolve_config)(settings, only, applied)
        # Ascent ignores evolution-only axes (encoding, recipe, ...): those combinations are one job.
        identity = json.dumps([kind, config], sort_keys=True, default=str)
        if identity in seen:
            continue
        axes_shown = {a: v for a, v in values.items() if a in applied or a == "algorithm"}
        name = _job_name(axes, axes_shown, kind, config)
        if len(name) > 120:  # a long folder name is hard to read and may hit path limits
            import hashlib

            name = name[:100] + "-" + hashlib.sha1(name.encode()).hexdigest()[:8]
        if any(j.name == name for j in jobs):
            raise EvodreamError(f"two jobs of the sweep would share the folder name {name!r}: "
                                "make their axis values differ in letters or digits, not only punctuation")
        seen[identity] = name
        _check_model(config)
        jobs.append(Job(name or "job", kind, axes_shown, config))
    if not jobs:
        raise EvodreamError("the sweep file's grid leaves no job (every combination is excluded): "
                            "loosen its [[exclude]] entries")
    title = data.get("title") or f"evodream sweep: {len(jobs)} jobs"
    return Grid(str(title), axes, jobs, data)


def _check_model(config: dict) -> None:
    """A misspelt model or class fails here, before --dry-run says all is well, not in every job."""
    from ..classifiers.registry import EFFICIENTNETS, ImageNetClassElsewhere, check_model_and_targets

    try:
        check_model_and_targets(config["model"], config["target"])
    except ImageNetClassElsewhere as exc:
        raise EvodreamError("in the sweep file, " + exc.advise(
            f'set model = "{EFFICIENTNETS[0]}" (or another ImageNet model) for it')) from None
    except EvodreamError as exc:
        raise EvodreamError(f"in the sweep file, model {config['model']}: {exc}") from None


def check_model_files(grid: Grid) -> None:
    """Before jobs start on this machine: every model file or harden round they name is here.
    (Not for Ray, whose nodes read their own disks.)"""
    from ..classifiers.registry import missing_model_file

    for job in grid.jobs:
        problem = missing_model_file(job.config["model"])
        if problem:
            raise EvodreamError(f"in the sweep file, {problem} (job {job.name}): check the path, "
                                "which is read from the folder the sweep runs in")


def _job_name(axes: dict, values: dict, kind: str, config: dict) -> str:
    """The varying axes' values, always with the algorithm first and the seed last:
    ``map-elites_cppn_seed0``, ``lenet-mnist_ascent_priors-tv-0.3_seed2``."""
    parts = {a: v for a, v in values.items() if len(axes[a]) > 1}
    parts["algorithm"] = ASCENT if kind == "ascend" else config["algorithm"]
    parts["seed"] = config["seed"]
    order = (["model"] if "model" in parts else []) + ["algorithm"]
    order += [a for a in axes if a in parts and a not in ("model", "algorithm", "seed")] + ["seed"]
    return "_".join(_name_part(a, parts[a]) for a in order)


def _excludes(rules, axes: dict) -> list[dict]:
    if isinstance(rules, dict):
        rules = [rules]
    if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
        raise EvodreamError("exclude in the sweep file must be [[exclude]] tables of axis = value")
    checked = []
    for rule in rules:
        entry = {}
        for key, value in rule.items():
            key = key.replace("-", "_")
            if key not in axes:
                raise EvodreamError(f"[[exclude]] names {key!r}, which is not a [grid] axis: "
                                    f"use one of {', '.join(axes) or '(no axes)'}")
            values = value if isinstance(value, list) else [value]
            entry[key] = [normalise(key, v) for v in values]
            stray = [v for v in entry[key] if v not in axes[key]]
            if stray:  # a typo here would otherwise exclude nothing, in silence
                raise EvodreamError(f"[[exclude]] gives {key} = {value_label(key, stray[0])!r}, which is not "
                                    f"on that axis ({', '.join(value_label(key, v) for v in axes[key])})")
        checked.append(entry)
    return checked


def _nulls(values: dict, config_class) -> dict:
    """TOML has no null: "none" turns a setting off where the config allows it (goal = "none")."""
    nullable = {f.name for f in dataclasses.fields(config_class) if "None" in str(f.type)}
    return {k: None if k in nullable and isinstance(v, str) and v.strip().lower() in ("none", "off") else v
            for k, v in values.items()}


def _evolve_config(settings: dict, only: dict, axes: dict) -> dict:
    from ..config import EvolveConfig, from_mapping, validate

    keys = _evolve_fields()
    values = _nulls({**{k: v for k, v in settings.items() if k in keys}, **only["evolve"], **axes},
                    EvolveConfig)
    if "priors" in values:
        values["priors"] = normalise("priors", values["priors"])
    config = from_mapping(values, base=EvolveConfig(), source="sweep")
    return validate(config.resolved()).to_dict()


def _ascend_config(settings: dict, only: dict, axes: dict) -> dict:
    from ..ascend import AscendConfig, config_from, validate

    keys = _ascend_fields()
    values = {**{k: v for k, v in settings.items() if k in keys}, **only["ascent"], **axes}
    if "generations" in values:  # ascent's generation is its step
        steps = values.pop("generations")
        values.setdefault("steps", steps)
    elif "max_evals" in values and "steps" not in values:
        values["steps"] = None  # an evaluation budget, like the evolution jobs', not ascent's 300 steps
    values = _nulls(values, AscendConfig)
    if "target" in values:
        values["target"] = normalise("target", values["target"])
    return dataclasses.asdict(validate(config_from(values)))
