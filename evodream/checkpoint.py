"""What a checkpoint holds besides the search, and the check every checkpoint passes before use.

A checkpoint.json may have been cut short, edited by hand or sent by someone else. Resuming
trusts nothing in it: :func:`check_checkpoint` walks its structure (types, ranges, lengths, finite
numbers, known RNG names) and turns the first problem into one EvodreamError naming the field.
Genomes are checked by their encoding's own ``from_json`` afterwards.

Process-wide RNG states (Python's ``random``, torch's CPU generator) are saved here for every
search, so a search that starts drawing from them later still resumes identically.
"""
from __future__ import annotations

import base64
import math
from pathlib import Path

import torch

from .errors import EvodreamError
from .search.base import python_random_state, restore_python_random

# numpy bit generators a checkpoint may name (restore_rng looks the name up in numpy.random).
BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


def global_rng_state() -> dict:
    return {"python_random": python_random_state(),
            "torch_rng": base64.b64encode(torch.get_rng_state().numpy().tobytes()).decode("ascii")}


def restore_global_rng(state: dict) -> None:
    if "python_random" in state:
        restore_python_random(state["python_random"])
    if "torch_rng" in state:
        raw = base64.b64decode(state["torch_rng"], validate=True)
        torch.set_rng_state(torch.frombuffer(bytearray(raw), dtype=torch.uint8))


class _Bad(Exception):
    pass


def _int(value, where, low=0):
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise _Bad(f"{where} must be an integer >= {low}, got {value!r:.40}")
    return value


def _number(value, where, low=-math.inf, high=math.inf):
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise _Bad(f"{where} must be a number, got {value!r:.40}")
    try:
        ok = math.isfinite(value) and low <= value <= high
    except OverflowError:  # an integer too big for a float
        ok = False
    if not ok:
        raise _Bad(f"{where} must be a finite number in [{low:g}, {high:g}], got {value!r:.40}")
    return value


def _type(value, kind, where):
    if not isinstance(value, kind):
        raise _Bad(f"{where} must be a JSON {'object' if kind is dict else 'list'}, got {type(value).__name__}")
    return value


def _rng(state, where):
    _type(state, dict, where)
    if state.get("bit_generator") not in BIT_GENERATORS:
        raise _Bad(f"{where}.bit_generator must be one of {', '.join(BIT_GENERATORS)}, "
                   f"got {state.get('bit_generator')!r:.40}")
    _type(state.get("state"), dict, f"{where}.state")


def _python_random(state, where):
    _type(state, list, where)
    if len(state) != 3:
        raise _Bad(f"{where} must be [version, 625 integers, gauss]")
    _int(state[0], f"{where}[0]")
    internal = _type(state[1], list, f"{where}[1]")
    if len(internal) != 625 or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2 ** 32
                                       for v in internal):
        raise _Bad(f"{where}[1] must be 625 integers in [0, 2^32)")
    if state[2] is not None:
        _number(state[2], f"{where}[2]")


def _individual(data, where, objectives: int | None):
    _type(data, dict, where)
    _type(data.get("genome"), dict, f"{where}.genome")
    fitness = data.get("fitness")
    if objectives is None:
        _number(fitness, f"{where}.fitness")
    else:
        _type(fitness, list, f"{where}.fitness")
        if len(fitness) != objectives:
            raise _Bad(f"{where}.fitness must hold {objectives} numbers")
        for i, value in enumerate(fitness):
            _number(value, f"{where}.fitness[{i}]")
    _number(data.get("confidence"), f"{where}.confidence", 0.0, 1.0)
    _int(data.get("found_at"), f"{where}.found_at")
    if data.get("crowding") is not None:
        _number(data["crowding"], f"{where}.crowding", 0.0)


def _search(state, targets: int, algorithm: str):
    _type(state, dict, "search")
    _int(state.get("generation"), "search.generation")
    _int(state.get("evaluations"), "search.evaluations")
    _rng(state.get("rng"), "search.rng")
    if "python_random" in state:
        _python_random(state["python_random"], "search.python_random")
    if algorithm == "map-elites":  # one archive cell per target
        cells = _type(state.get("cells"), list, "search.cells")
        if len(cells) != targets:
            raise _Bad(f"search.cells holds {len(cells)} cells for a run of {targets} targets")
        for i, cell in enumerate(cells):
            if cell is not None:
                _individual(cell, f"search.cells[{i}]", None)
        strength = _type(state.get("strength"), list, "search.strength")
        if len(strength) != targets:
            raise _Bad(f"search.strength holds {len(strength)} values for {targets} targets")
        for i, value in enumerate(strength):
            _number(value, f"search.strength[{i}]", 0.0)
        if state.get("next") is not None:  # overlap: a generation bred but not yet scored
            pending = _type(state["next"], dict, "search.next")
            genomes = _type(pending.get("genomes"), list, "search.next.genomes")
            if not genomes:
                raise _Bad("search.next.genomes is empty")
            if pending.get("parent_cells") is not None:
                parents = _type(pending["parent_cells"], list, "search.next.parent_cells")
                if len(parents) != len(genomes):
                    raise _Bad(f"search.next.parent_cells holds {len(parents)} cells for {len(genomes)} genomes")
                for i, cell in enumerate(parents):
                    _int(cell, f"search.next.parent_cells[{i}]")
                    if cell >= targets:
                        raise _Bad(f"search.next.parent_cells[{i}] is {cell}, past the last of {targets} cells")
        return
    # ga / nsga2: a population and a hall of fame per target; nsga2 scores two objectives
    objectives = 2 if algorithm == "nsga2" else None
    for key in ("populations", "halls"):
        groups = _type(state.get(key), list, f"search.{key}")
        if len(groups) != targets:
            raise _Bad(f"search.{key} holds {len(groups)} entries for a run of {targets} targets")
        for t, group in enumerate(groups):
            for i, ind in enumerate(_type(group, list, f"search.{key}[{t}]")):
                _individual(ind, f"search.{key}[{t}][{i}]", objectives)


def check_checkpoint(data: dict, targets: int, algorithm: str, path: Path | str) -> None:
    """Raise an EvodreamError naming the first field of `data` that a resume of this run could not use."""
    try:
        _type(data, dict, "the checkpoint")
        _search(data.get("search"), targets, algorithm)
        _int(data.get("queries"), "queries")
        _number(data.get("wall_seconds"), "wall_seconds", 0.0)
        if "metrics_bytes" in data:
            _int(data["metrics_bytes"], "metrics_bytes", 1)
        if "python_random" in data:
            _python_random(data["python_random"], "python_random")
        if "torch_rng" in data:
            if not isinstance(data["torch_rng"], str) or len(data["torch_rng"]) > 100_000:
                raise _Bad("torch_rng must be a base64 string")
        if "milestones" in data:
            _type(data["milestones"], dict, "milestones")
    except _Bad as exc:
        raise EvodreamError(f"{path} is corrupt ({exc}); resume from a good copy or start a new run") from None
