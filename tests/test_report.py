"""Reports, comparisons and transfer checks, on tiny LeNet runs made here (a second or two each)."""
from __future__ import annotations

import csv
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evodream import EvolveConfig, evolve
from evodream.cli import main
from evodream.errors import EvodreamError
from evodream.milestones import REACHED
from evodream.report import load_run, write_report
from evodream.report.load import derive_reach

ROOT = Path(__file__).resolve().parents[1]


def tiny(path: Path, **settings) -> Path:
    config = EvolveConfig(**{"max_evals": 300, "goal": None, "threads": 1, **settings})
    evolve(config, path, progress=False)
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[Path]:
    base = tmp_path_factory.mktemp("runs")
    return [tiny(base / "direct", encoding="direct"),
            tiny(base / "ga-cppn", encoding="cppn", algorithm="ga", target="1,7")]


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def lower_median(values):
    ordered = sorted(math.inf if v is None else v for v in values)
    return ordered[(len(ordered) - 1) // 2]


def one_line_error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("evodream: error: ")
    return err


# -- numbers ---------------------------------------------------------------------------------
def test_report_numbers_match_the_runs_own_files(runs, tmp_path):
    report = write_report(runs, tmp_path / "report")
    rows = {r["run"]: r for r in read_csv(tmp_path / "report" / "summary.csv")}
    assert list(rows) == ["direct", "ga-cppn"]
    for run in runs:
        metrics = read_csv(run / "metrics.csv")
        last, row = metrics[-1], rows[run.name]
        # Recomputed straight from metrics.csv, not through the report's loader.
        assert int(row["evaluations"]) == int(last["evaluations"])
        assert float(row["median_confidence"]) == pytest.approx(float(last["median"]), abs=1e-12)
        assert float(row["min_confidence"]) == pytest.approx(float(last["min"]), abs=1e-12)
        assert int(row["reached_0.99"]) == int(last["reached_0.99"])
        assert int(row["reached_0.9999"]) == int(last["reached_0.9999"])
        summary = json.loads((run / "summary.json").read_text())
        assert float(row["wall_seconds"]) == pytest.approx(summary["wall_seconds"], abs=1e-3)
        # Final elites agree with the last metrics row: the median over the elites' own confidences.
        elites = sorted(json.loads(p.read_text())["confidence"] for p in (run / "elites").glob("*.json"))
        assert float(row["min_confidence"]) == pytest.approx(elites[0], abs=1e-9)
        reached = json.loads((run / REACHED).read_text())
        assert row["reach_source"] == "reached.json"
        expected = lower_median(reached["first_evaluation"]["0.99"])
        assert float(row["evals_to_0.99_median"]) == expected
        assert int(row["never_0.99"]) == sum(v is None for v in reached["first_evaluation"]["0.99"])
    assert len(report.rows) == 2
    page = (tmp_path / "report" / "index.html").read_text()
    assert page.count('<tr data-run="') == 2
    assert 'src="data:image/png;base64,' in page and 'src="http' not in page and "src=\"file:" not in page
    assert "| direct |" in (tmp_path / "report" / "summary.md").read_text()


def test_reached_json_matches_the_metrics_counts_when_confidence_only_rises(runs):
    # Pure-confidence MAP-Elites never loses confidence in a cell, so the sorted per-class first-reach
    # times are exactly where metrics.csv's reached counts step up: the fallback for runs without one.
    record = load_run(runs[0])
    derived = derive_reach(record.metrics, len(record.target_names))
    for threshold, times in record.reach.first.items():
        assert (sorted(t for t in times if t is not None)
                == [t for t in derived.first[threshold] if t is not None])


def test_reached_json_survives_resume(tmp_path):
    straight = tiny(tmp_path / "straight", max_evals=400)
    tiny(tmp_path / "split", max_evals=200)
    assert main(["evolve", "--resume", str(tmp_path / "split"), "--max-evals", "400", "--quiet"]) == 0
    first = json.loads((straight / REACHED).read_text())["first_evaluation"]
    assert json.loads((tmp_path / "split" / REACHED).read_text())["first_evaluation"] == first


def test_cli_report_and_rewrite_of_its_own_folder(runs, tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["report", *map(str, runs), "--out", str(out)]) == 0
    assert "report:" in capsys.readouterr().out
    assert main(["report", str(runs[0]), "--out", str(out)]) == 0  # an earlier report may be replaced
    assert len(read_csv(out / "summary.csv")) == 1


# -- bad input -------------------------------------------------------------------------------
def test_bad_input_is_one_line_and_exit_2(runs, tmp_path, capsys):
    assert "no run folders" in one_line_error(capsys, ["report", "--out", str(tmp_path / "a")])
    not_run = tmp_path / "not-a-run"
    not_run.mkdir()
    assert "not an evodream run" in one_line_error(capsys, ["report", str(not_run),
                                                            "--out", str(tmp_path / "b")])
    assert "not a folder" in one_line_error(capsys, ["report", str(tmp_path / "missing"),
                                                     "--out", str(tmp_path / "c")])
    old = tmp_path / "old"
    shutil.copytree(runs[0], old)
    manifest = json.loads((old / "manifest.json").read_text())
    manifest["format_version"] = 0
    (old / "manifest.json").write_text(json.dumps(manifest))
    assert "run format 0" in one_line_error(capsys, ["report", str(old), "--out", str(tmp_path / "d")])
    users = tmp_path / "users"
    users.mkdir()
    (users / "notes.txt").write_text("mine")
    assert "not an evodream report folder" in one_line_error(capsys, ["report", str(runs[0]),
                                                                      "--out", str(users)])
    assert (users / "notes.txt").read_text() == "mine"
    assert "given twice" in one_line_error(capsys, ["report", str(runs[0]), str(runs[0]),
                                                    "--out", str(tmp_path / "e")])


# -- transfer --------------------------------------------------------------------------------
def test_transfer_scores_elites_and_the_report_shows_it(runs, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(runs[0], run)
    assert main(["transfer", str(run), "--models", "lenet-mnist-b", "--transforms", "none,flip",
                 "--quiet"]) == 0
    data = json.loads((run / "transfer.json").read_text())
    assert data["models"] == ["lenet-mnist", "lenet-mnist-b"] and data["image_source"] == "genome"
    source = next(r for r in data["results"] if r["model"] == "lenet-mnist" and r["transform"] == "none")
    # Re-rendered genomes are the images the search scored: the source model gives their recorded confidence.
    recorded = [c["recorded_confidence"] for c in data["classes"]]
    assert source["confidence"] == pytest.approx(recorded, abs=1e-5)
    assert len(read_csv(run / "transfer.csv")) == 2 * 2 * len(recorded)
    capsys.readouterr()
    assert "--force" in one_line_error(capsys, ["transfer", str(run), "--models", "lenet-mnist-b", "--quiet"])
    assert "unknown model" in one_line_error(capsys, ["transfer", str(run), "--models", "nope", "--force",
                                                      "--quiet"])
    write_report([run], tmp_path / "report")
    assert "lenet-mnist-b" in (tmp_path / "report" / "summary.md").read_text().split("## Transfer")[1]


def test_transfer_maps_classes_by_exact_name_first():
    from types import SimpleNamespace

    from evodream.transfer import _class_map

    source = SimpleNamespace(name="a", class_names=("Cardigan", "cardigan", "tabby"))
    other = SimpleNamespace(name="b", class_names=("tabby", "cardigan", "Cardigan"))
    records = [{"class_name": "cardigan"}, {"class_name": "Cardigan"}, {"class_name": "tabby"}]
    assert _class_map(source, other, records).tolist() == [1, 2, 0]
    with pytest.raises(EvodreamError, match="b has no class named 'tabby'"):
        _class_map(source, SimpleNamespace(name="b", class_names=("cardigan",)), records[::-1])


# -- compare ---------------------------------------------------------------------------------
def test_compare_runs_each_method_on_the_same_terms_and_reuses_finished_runs(tmp_path, capsys):
    out = tmp_path / "cmp"
    argv = ["compare", "--targets", "3,8", "--budget", "200", "--seed", "5",
            "--methods", "map-elites-direct,ga-cppn", "--priors", "none", "--threads", "1",
            "--out", str(out), "--quiet"]
    assert main(argv) == 0
    assert "reused" not in capsys.readouterr().out
    for method in ("map-elites-direct", "ga-cppn"):
        manifest = json.loads((out / "runs" / method / "manifest.json").read_text())
        assert manifest["config"]["seed"] == 5 and manifest["config"]["max_evals"] == 200
        assert manifest["target_names"] == ["3", "8"]
    assert [r["run"] for r in read_csv(out / "report" / "summary.csv")] == ["map-elites-direct", "ga-cppn"]
    assert main(argv) == 0
    assert "(2 reused)" in capsys.readouterr().out
    changed = [a if a != "200" else "300" for a in argv]
    assert "other settings" in one_line_error(capsys, changed)
    bad = ["compare", "--methods", "hill-climb", "--priors", "none", "--out", str(tmp_path / "other")]
    assert "unknown method" in one_line_error(capsys, bad)


def test_compare_starts_a_cut_short_ascent_run_again(tmp_path, capsys):
    out = tmp_path / "cmp"
    argv = ["compare", "--targets", "3", "--budget", "40", "--seed", "5", "--methods", "ascent",
            "--priors", "none", "--threads", "1", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    run = out / "runs" / "ascent"
    whole = (run / "metrics.csv").read_text()
    (run / "summary.json").unlink()  # as after Ctrl-C: ascent keeps no checkpoint to resume from
    capsys.readouterr()
    assert main(argv) == 0, capsys.readouterr().err
    assert (run / "summary.json").exists() and "reused" not in capsys.readouterr().out

    def rows(text):  # every column but wall_seconds
        return [cells[:3] + cells[4:] for cells in (line.split(",") for line in text.splitlines())]

    assert rows((run / "metrics.csv").read_text()) == rows(whole)


# -- the page in a browser -------------------------------------------------------------------
@pytest.mark.skipif(not any(shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome")),
                    reason="no Chromium installed (apt-get install -y chromium)")
def test_page_opens_in_headless_chromium(runs, tmp_path):
    write_report(runs, tmp_path / "report")
    script = [sys.executable, str(ROOT / "scripts" / "check_report.py"), str(tmp_path / "report")]
    result = subprocess.run(script, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "images decoded by the browser: " in result.stdout
    # A broken image must be caught: corrupt one inline PNG and check again.
    page = tmp_path / "report" / "index.html"
    text = page.read_text()
    start = text.index("data:image/png;base64,") + len("data:image/png;base64,")
    page.write_text(text[:start] + "AAAA" + text[start + 40:])
    broken = subprocess.run(script, capture_output=True, text=True, timeout=180)
    assert broken.returncode == 1 and "FAIL images decoded" in broken.stdout
