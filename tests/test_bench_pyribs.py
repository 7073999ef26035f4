"""scripts/bench.py --pyribs: the pyribs recipe runs to a small cap, and is skipped cleanly without pyribs."""
import sys

import pytest
from scripts_loader import load_script


@pytest.fixture(scope="module")
def bench():
    return load_script("bench")


def test_pyribs_recipe_stops_at_its_cap(bench):
    pytest.importorskip("ribs")
    lenet = bench.load_classifier("lenet-mnist")
    result = bench.pyribs_fooling_mnist(lenet, cap=300)
    assert result["evaluations"] == 300 == lenet.queries  # 10 batches of 30, one classifier call each
    assert not result["finished"] and len(result["first"]) == 10


def test_pyribs_case_is_skipped_without_pyribs(bench, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ribs", None)  # import ribs... raises ImportError
    monkeypatch.setitem(sys.modules, "ribs.archives", None)
    assert bench.pyribs_case(cap=300, threads=1) is None
    out = capsys.readouterr().out
    assert "pyribs comparison skipped" in out and "pip install -e '.[bench]'" in out
