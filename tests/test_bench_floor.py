"""scripts/bench_floor.py: its lean loop is a working search (so its ratio is a fair floor), and
the script prints every figure it promises."""
import sys

import numpy as np
import pytest
from scripts_loader import load_script


@pytest.fixture(scope="module")
def floor():
    pytest.importorskip("onnxruntime")
    return load_script("bench_floor")  # (it imports bench.py's rates, as it does run as a script)


def test_the_lean_loop_improves_its_cells(floor):
    from evodream.classifiers import load_classifier

    session = load_classifier("lenet-mnist", engine="onnxruntime").session
    loop = floor.LeanLoop(session, batch=10, mutate=True)
    for _ in range(20):
        loop.generation()
    early = loop.fitness.copy()
    for _ in range(300):
        loop.generation()
    assert np.isfinite(early).all()
    assert (loop.fitness >= early).all() and loop.fitness.sum() > early.sum() + 1.0
    # Without mutation nothing new is ever made: the cells keep what the first parents scored
    # (to the engine's rounding, which may differ with a batch's other images).
    still = floor.LeanLoop(session, batch=10, mutate=False)
    still.generation()
    first = still.fitness.copy()
    for _ in range(50):
        still.generation()
    assert np.allclose(still.fitness, first, rtol=0, atol=1e-4)


def test_the_script_prints_each_loop_and_the_cache_effect(floor, monkeypatch, capsys):
    measure = floor.cache_effect
    monkeypatch.setattr(floor, "cache_effect", lambda *args: measure(*args, generations=50))
    monkeypatch.setattr(sys, "argv", ["bench_floor.py", "--seconds", "0.4"])
    floor.main()
    out = capsys.readouterr().out
    assert "us in a loop of its own" in out and "right after a session.run" in out
    for name in ("bare session.run", "evodream search", "lean loop", "lean loop, no mutation"):
        assert f"{name} " in out
    assert out.count("ratio to bare") == 4
