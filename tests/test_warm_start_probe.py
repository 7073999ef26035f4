"""scripts/warm_start_probe.py: lifts classes around a run's median from their elites, only reads the run."""
import re

import numpy as np
from scripts_loader import load_script

from evodream.config import EvolveConfig
from evodream.evolve import evolve


def test_probe_lifts_middle_classes_and_leaves_the_run_as_it_was(tmp_path, capsys):
    run = evolve(EvolveConfig(target="all", goal=None, max_evals=200, seed=0, threads=1), tmp_path / "run",
                 progress=False).run
    files = {path: path.read_bytes() for path in run.path.rglob("*") if path.is_file()}
    probe = load_script("warm_start_probe")
    assert probe.main([str(run.path), "--classes", "3", "--budget", "400", "--grid", "8"]) == 0
    out = capsys.readouterr().out
    assert {path: path.read_bytes() for path in run.path.rglob("*") if path.is_file()} == files

    confidence = np.array([cell["confidence"] for cell in run.load_checkpoint()["search"]["cells"]])
    rows = re.findall(r"^\s*(\d+) \S+\s+([\d.]+)%\s+cma\s+([\d.% ]+)\n\s+mutation\s+([\d.% ]+)$", out, re.M)
    assert len(rows) == 3, out
    ranks = np.argsort(np.argsort(confidence))
    for digit, start, cma_row, mutation_row in rows:
        assert 3 <= ranks[int(digit)] <= 5  # the middle 3 of 10 classes
        assert float(start) == round(confidence[int(digit)] * 100, 2)
        for row in (cma_row, mutation_row):
            best = [float(v) for v in row.split("%") if v.strip()]
            assert len(best) == 3 and best == sorted(best) and best[0] >= float(start)
    # On LeNet either search lifts a middling digit far within 400 evaluations.
    medians = dict(re.findall(r"^median\s+(\w+)\s+(?:[\d.]+%\s+){2}([\d.]+)%$", out, re.M))
    assert set(medians) == {"cma", "mutation"} and min(map(float, medians.values())) > 50, out


def test_probe_refuses_a_folder_without_an_archive_and_too_many_classes(tmp_path, capsys):
    probe = load_script("warm_start_probe")
    assert probe.main([str(tmp_path / "missing")]) == 2
    assert "not a folder" in capsys.readouterr().err
    run = evolve(EvolveConfig(target="all", goal=None, max_evals=20, seed=0, threads=1), tmp_path / "run",
                 progress=False).run
    assert probe.main([str(run.path), "--classes", "11"]) == 2
    assert "--classes 10 or fewer" in capsys.readouterr().err
