"""Checks for state read back from a file (checkpoints): types, ranges, lengths, finite numbers.

A checkpoint may have been cut short, edited by hand or sent by someone else, so nothing in it is
trusted. Each search validates its own state with these helpers before using any of it; the first
problem raises :class:`BadState` naming the field, which the caller turns into one line for the user.
"""
from __future__ import annotations

import math

# numpy bit generators a checkpoint may name (restore_rng looks the name up in numpy.random).
BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


class BadState(Exception):
    """A field of saved state that a resume could not use; the message names it."""


def is_whole(value, low=0, high=2 ** 63 - 1) -> bool:
    """An int (not a bool: JSON's true is no count) from low to high; by default within int64."""
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def check_int(value, where, low=0, high=2 ** 63 - 1):
    """Counts, indices and seeds: none that evodream writes leaves int64."""
    if not is_whole(value, low, high):
        raise BadState(f"{where} must be an integer from {low} to {high:,}, got {value!r:.40}")
    return value


def check_number(value, where, low=-math.inf, high=math.inf):
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise BadState(f"{where} must be a number, got {value!r:.40}")
    try:
        ok = math.isfinite(value) and low <= value <= high
    except OverflowError:  # an integer too big for a float
        ok = False
    if not ok:
        raise BadState(f"{where} must be a finite number in [{low:g}, {high:g}], got {value!r:.40}")
    return value


def check_type(value, kind, where):
    if not isinstance(value, kind):
        raise BadState(f"{where} must be a JSON {'object' if kind is dict else 'list'}, "
                       f"got {type(value).__name__}")
    return value


def check_list(value, where, length: int | None = None, what: str = "entries"):
    check_type(value, list, where)
    if length is not None and len(value) != length:
        raise BadState(f"{where} holds {len(value)} {what}, expected {length}")
    return value


def check_rng(state, where):
    check_type(state, dict, where)
    if state.get("bit_generator") not in BIT_GENERATORS:
        raise BadState(f"{where}.bit_generator must be one of {', '.join(BIT_GENERATORS)}, "
                       f"got {state.get('bit_generator')!r:.40}")
    check_type(state.get("state"), dict, f"{where}.state")


def check_python_random(state, where):
    check_type(state, list, where)
    if len(state) != 3:
        raise BadState(f"{where} must be [version, 625 integers, gauss]")
    check_int(state[0], f"{where}[0]")
    internal = check_type(state[1], list, f"{where}[1]")
    if len(internal) != 625 or not all(is_whole(v, 0, 2 ** 32 - 1) for v in internal):
        raise BadState(f"{where}[1] must be 625 integers in [0, 2^32)")
    if state[2] is not None:
        check_number(state[2], f"{where}[2]")


def check_individual(data, where, objectives: int | None = None):
    """A saved genome with its scores: fitness one number, or `objectives` numbers (NSGA-II)."""
    check_type(data, dict, where)
    check_type(data.get("genome"), dict, f"{where}.genome")
    fitness = data.get("fitness")
    if objectives is None:
        check_number(fitness, f"{where}.fitness")
    else:
        check_list(fitness, f"{where}.fitness", objectives, "numbers")
        for i, value in enumerate(fitness):
            check_number(value, f"{where}.fitness[{i}]")
    check_number(data.get("confidence"), f"{where}.confidence", 0.0, 1.0)
    check_int(data.get("found_at"), f"{where}.found_at")
    if data.get("crowding") is not None:
        check_number(data["crowding"], f"{where}.crowding", 0.0)
