"""What a checkpoint holds besides the search, and the check every checkpoint passes before use.

A checkpoint.json may have been cut short, edited by hand or sent by someone else. Resuming
trusts nothing in it: :func:`check_checkpoint` checks the fields around the search (format,
queries, wall time, RNG states) and the search checks its own state in ``load_state_dict``;
genomes are checked by their encoding's ``from_json``.

Process-wide RNG states (Python's ``random``, torch's CPU generator) are saved here for every
search, so a search that starts drawing from them later still resumes identically.
"""
from __future__ import annotations

import base64
from pathlib import Path

import torch

from .errors import EvodreamError
from .runs import CHECKPOINT_FORMAT
from .search.base import python_random_state, restore_python_random
from .statecheck import BadState, check_int, check_number, check_python_random, check_type


def global_rng_state() -> dict:
    return {"python_random": python_random_state(),
            "torch_rng": base64.b64encode(torch.get_rng_state().numpy().tobytes()).decode("ascii")}


def restore_global_rng(state: dict) -> None:
    if "python_random" in state:
        restore_python_random(state["python_random"])
    if "torch_rng" in state:
        raw = base64.b64decode(state["torch_rng"], validate=True)
        torch.set_rng_state(torch.frombuffer(bytearray(raw), dtype=torch.uint8))


def check_checkpoint(data: dict, path: Path | str) -> None:
    """Raise an EvodreamError naming the first field around the search that a resume could not use."""
    try:
        check_type(data, dict, "the checkpoint")
        version = check_int(data.get("format_version"), "format_version", 1)
        if version != CHECKPOINT_FORMAT:
            raise EvodreamError(f"{path} is a checkpoint of format {version!r:.20} "
                                f"(this evodream reads format {CHECKPOINT_FORMAT}): "
                                "finish the run with the evodream that started it, or start a new run")
        check_type(data.get("search"), dict, "search")
        check_int(data.get("queries"), "queries")
        check_number(data.get("wall_seconds"), "wall_seconds", 0.0)
        if "metrics_bytes" in data:
            check_int(data["metrics_bytes"], "metrics_bytes", 1)
        if "python_random" in data:
            check_python_random(data["python_random"], "python_random")
        if "torch_rng" in data:
            if not isinstance(data["torch_rng"], str) or len(data["torch_rng"]) > 100_000:
                raise BadState("torch_rng must be a base64 string")
        if "milestones" in data:
            check_type(data["milestones"], dict, "milestones")
    except BadState as exc:
        raise EvodreamError(
            f"{path} is corrupt ({exc}); resume from a good copy or start a new run"
        ) from None
