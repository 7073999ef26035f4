import csv
import importlib
import json
import subprocess
import sys

import numpy as np
import pytest

from evodream.cli import main
from evodream.evolve import PROGRESS_ELITES, write_elites
from evodream.genomes import DirectEncoding
from evodream.runs import RunFolder
from evodream.search.base import Elite


def _run(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _metrics(folder):
    with open(folder / "metrics.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def _last_bar(stderr):
    """The progress bar as it was last drawn (tqdm redraws it in place with carriage returns)."""
    return stderr.replace("\r", "\n").strip().splitlines()[-1]


def _without_time(rows):
    return [{k: v for k, v in r.items() if k != "wall_seconds"} for r in rows]


def test_small_run_writes_the_run_folder(tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, _ = _run(["evolve", "--target", "3,7", "--generations", "20", "--goal", "none",
                            "--seed", "1", "--out", str(out), "--quiet"], capsys)
    assert code == 0 and "20 generations" in stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["seed"] == 1 and manifest["targets"] == [3, 7]
    assert manifest["versions"]["torch"] and manifest["model"]["name"] == "lenet-mnist"
    rows = _metrics(out)
    assert [int(r["generation"]) for r in rows] == list(range(1, 21))
    assert int(rows[-1]["evaluations"]) == 200
    elites = sorted(p.name for p in (out / "elites").iterdir())
    assert elites == ["0003-3.json", "0003-3.png", "0007-7.json", "0007-7.png"]
    record = json.loads((out / "elites" / "0003-3.json").read_text())
    assert 0 <= record["confidence"] <= 1 and record["genome"]["encoding"] == "direct"
    assert (out / "elites.png").stat().st_size > 0 and (out / "checkpoint.json").exists()
    # Two targets: the printed median is the mean of both, as in metrics.csv (not the upper one).
    assert f"min {float(rows[-1]['min']):.6f}, median {float(rows[-1]['median']):.6f}" in stdout
    assert rows[-1]["min"] != rows[-1]["median"] != rows[-1]["best"]


def test_the_closing_line_counts_targets_against_the_runs_goal(tmp_path, capsys):
    def closing_line(goal):
        out = tmp_path / f"goal-{goal}"
        code, stdout, _ = _run(["evolve", "--target", "0,1,2,3", "--generations", "30", "--goal", goal,
                                "--seed", "2", "--out", str(out), "--quiet"], capsys)
        assert code == 0
        return stdout.splitlines()[0], json.loads((out / "summary.json").read_text())["confidences"]

    line, confidences = closing_line("0.5")
    reached = sum(c >= 0.5 for c in confidences.values())
    assert reached != sum(c >= 0.9999 for c in confidences.values())  # the two bars tell apart here
    assert f"{reached}/4 targets >= 50%" in line
    line, confidences = closing_line("none")  # no goal: counted at 99.99%, as ever
    assert f"{sum(c >= 0.9999 for c in confidences.values())}/4 targets >= 99.99%" in line


def test_the_progress_bar_stays_a_bar_when_the_last_generation_overshoots_the_budget(tmp_path, capsys):
    code, stdout, err = _run(["evolve", "--target", "3", "--max-evals", "25", "--goal", "none",
                              "--out", str(tmp_path / "run")], capsys)
    assert code == 0 and "30 evaluations" in stdout  # generations of 10 children
    last = _last_bar(err)
    assert "100%" in last and "30/30" in last, last


def test_resuming_past_a_lowered_budget_says_so_and_the_bar_shows_the_evaluations_made(tmp_path, capsys):
    out = tmp_path / "run"
    assert _run(["evolve", "--target", "3", "--max-evals", "60", "--goal", "none", "--out", str(out),
                 "--quiet"], capsys)[0] == 0
    code, stdout, err = _run(["evolve", "--resume", str(out), "--max-evals", "30"], capsys)
    assert code == 0 and "60 evaluations" in stdout
    assert "already past --max-evals 30" in stdout and "raise that limit" in stdout
    last = _last_bar(err)
    assert "100%" in last and "60/60" in last, last
    code, stdout, _ = _run(["evolve", "--resume", str(out), "--max-evals", "90"], capsys)
    assert code == 0 and "already past" not in stdout


def test_resume_continues_the_generation_count(tmp_path, capsys):
    out = tmp_path / "run"
    assert _run(["evolve", "--encoding", "cppn", "--target", "1", "--generations", "10", "--goal", "none",
                 "--out", str(out), "--checkpoint-every", "5", "--quiet"], capsys)[0] == 0
    first = _metrics(out)
    code, stdout, _ = _run(["evolve", "--resume", str(out), "--generations", "25", "--quiet"], capsys)
    assert code == 0 and "25 generations" in stdout
    rows = _metrics(out)
    assert [int(r["generation"]) for r in rows] == list(range(1, 26))
    assert rows[:10] == first
    assert int(rows[-1]["evaluations"]) > int(first[-1]["evaluations"])


def test_resumed_run_matches_an_uninterrupted_one(tmp_path, capsys):
    whole, split = tmp_path / "whole", tmp_path / "split"
    base = ["evolve", "--target", "all", "--goal", "none", "--seed", "5", "--checkpoint-every", "10",
            "--quiet"]
    _run(base + ["--generations", "40", "--out", str(whole)], capsys)
    _run(base + ["--generations", "20", "--out", str(split)], capsys)
    _run(["evolve", "--resume", str(split), "--generations", "40", "--quiet"], capsys)
    assert _without_time(_metrics(whole)) == _without_time(_metrics(split))
    for name in ("0000-0.json", "0009-9.json"):
        assert (whole / "elites" / name).read_text() == (split / "elites" / name).read_text()


def test_cppn_crossover_runs_repeat_and_resume_like_uninterrupted_ones(tmp_path, capsys):
    whole, again, split = tmp_path / "whole", tmp_path / "again", tmp_path / "split"
    base = ["evolve", "--encoding", "cppn", "--crossover-rate", "0.5", "--target", "all", "--goal", "none",
            "--seed", "4", "--checkpoint-every", "5", "--quiet"]
    _run(base + ["--generations", "30", "--out", str(whole)], capsys)
    _run(base + ["--generations", "30", "--out", str(again)], capsys)
    _run(base + ["--generations", "12", "--out", str(split)], capsys)
    _run(["evolve", "--resume", str(split), "--generations", "30", "--quiet"], capsys)
    assert _without_time(_metrics(whole)) == _without_time(_metrics(again)) == _without_time(_metrics(split))
    elites = sorted(p.name for p in (whole / "elites").glob("*.json"))
    assert elites
    for name in elites:
        assert (whole / "elites" / name).read_text() == (split / "elites" / name).read_text()


def test_overlapped_run_resumes_like_an_uninterrupted_one(tmp_path, capsys):
    whole, split = tmp_path / "whole", tmp_path / "split"
    base = ["evolve", "--encoding", "cppn", "--target", "all", "--goal", "none", "--seed", "2", "--overlap",
            "--checkpoint-every", "5", "--quiet"]
    _run(base + ["--generations", "16", "--out", str(whole)], capsys)
    _run(base + ["--generations", "8", "--out", str(split)], capsys)
    assert json.loads((split / "checkpoint.json").read_text())["search"]["asked"]  # a generation bred ahead
    _run(["evolve", "--resume", str(split), "--generations", "16", "--quiet"], capsys)
    assert len(_metrics(whole)) == 16 and _without_time(_metrics(whole)) == _without_time(_metrics(split))
    assert (whole / "elites" / "0004-4.json").read_text() == (split / "elites" / "0004-4.json").read_text()


@pytest.mark.parametrize("args, message", [
    (["--model", "lenet-mnst"], "did you mean 'lenet-mnist'"),
    (["--target", "seven"], "unknown class 'seven'"),
    (["--target", "12"], "out of range"),
    (["--encoding", "pixels"], "unknown encoding 'pixels'"),
    (["--algorithm", "mapelites"], "did you mean 'map-elites'"),
    (["--population", "0"], "population must be positive"),
    (["--max-evals", "-5"], "max-evals must be positive"),
    (["--mutation-rate", "1.5"], "between 0 and 1"),
    (["--generations", "many"], "invalid int value"),
    (["--algorithm", "ga", "--overlap"], "--overlap works with --algorithm map-elites only"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, message):
    out = tmp_path / "run"
    code, _, err = _run(["evolve", "--out", str(out), "--quiet", "--generations", "2"] + args, capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("evodream: error:") and message in err
    assert not out.exists()


def test_config_file_keys_are_checked(tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_text('model = "lenet-mnist"\npopulaton = 20\n')
    code, _, err = _run(["evolve", "--config", str(config), "--out", str(tmp_path / "r")], capsys)
    assert code == 2 and "unknown config key 'populaton'" in err and "did you mean 'population'" in err
    config.write_text("model = [unclosed\n")
    code, _, err = _run(["evolve", "--config", str(config), "--out", str(tmp_path / "r")], capsys)
    assert code == 2 and "not valid TOML" in err and err.count("\n") == 1


def test_config_file_values_and_flag_overrides(tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_text('[evolve]\ntarget = [2, 5]\ngenerations = 3\ngoal = 0.5\npopulation = 4\n')
    out = tmp_path / "r"
    assert _run(["evolve", "--config", str(config), "--population", "6", "--out", str(out), "--quiet"],
                capsys)[0] == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["targets"] == [2, 5] and manifest["config"]["population"] == 6


def test_an_existing_run_is_never_overwritten(tmp_path, capsys):
    out = tmp_path / "run"
    _run(["evolve", "--target", "1", "--generations", "2", "--out", str(out), "--quiet"], capsys)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    code, _, err = _run(["evolve", "--target", "1", "--generations", "2", "--out", str(out), "--quiet"],
                        capsys)
    assert code == 2 and "already holds a run" in err and "--resume" in err
    assert before == {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}


@pytest.mark.parametrize("make, message", [
    (lambda p: p.mkdir(), "not an evodream run"),
    (lambda p: (p.mkdir(), (p / "manifest.json").write_text("{not json")), "corrupt"),
    (lambda p: None, "is not a folder"),
])
def test_bad_resume_folders(tmp_path, capsys, make, message):
    folder = tmp_path / "x"
    make(folder)
    code, _, err = _run(["evolve", "--resume", str(folder)], capsys)
    assert code == 2 and message in err and err.count("\n") == 1


def test_corrupt_checkpoint_is_reported(tmp_path, capsys):
    out = tmp_path / "run"
    _run(["evolve", "--target", "1", "--generations", "2", "--out", str(out), "--quiet"], capsys)
    (out / "checkpoint.json").write_text('{"search": {"generation": "x"}}')
    code, _, err = _run(["evolve", "--resume", str(out), "--generations", "4"], capsys)
    assert code == 2 and "checkpoint.json is corrupt" in err


def test_models_and_classes_listing(capsys):
    code, stdout, _ = _run(["models"], capsys)
    assert code == 0 and "lenet-mnist" in stdout and "efficientnet-lite0" in stdout
    code, stdout, _ = _run(["classes", "lenet-mnist", "--search", "7"], capsys)
    assert code == 0 and stdout.split() == ["7", "7"]


def test_render_a_cppn_champion_large(tmp_path, capsys):
    from PIL import Image

    out = tmp_path / "run"
    _run(["evolve", "--encoding", "cppn", "--target", "4", "--generations", "3", "--out", str(out),
          "--quiet"], capsys)
    code, stdout, _ = _run(["render", str(out), "--class", "4", "--size", "256"], capsys)
    assert code == 0 and Image.open(stdout.strip()).size == (256, 256)
    code, _, err = _run(["render", str(out), "--class", "4", "--size", "256"], capsys)
    assert code == 2 and "exists" in err


def test_the_installed_command_exits_2_without_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "evodream.cli", "evolve", "--model", "nope", "--out",
                             str(tmp_path / "r")], capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0


def test_running_out_of_memory_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    """A batch too big for the machine (numpy's MemoryError) gets the one-line error, not a traceback."""
    def no_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 292. GiB")

    # sys.modules: the package's attribute `evolve` is the function, not this module
    monkeypatch.setattr(sys.modules["evodream.evolve"], "evolve", no_memory)
    code, out, err = _run(["evolve", "--population", "100000000", "--out", str(tmp_path / "r")], capsys)
    assert code == 2 and err == "evodream: error: out of memory: ask for a smaller --population " \
                                "(or --size, --workers)\n" and out == ""


@pytest.mark.parametrize("command, hint", [
    (["evolve"], "evodream evolve --resume RUN"),
    (["compare", "--methods", "map-elites-direct", "--budget", "100"], "the same command again"),
])
def test_ctrl_c_says_how_to_continue(tmp_path, capsys, monkeypatch, command, hint):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    # Both commands call evodream.evolve.evolve (compare imports it when it runs).
    monkeypatch.setattr(importlib.import_module("evodream.evolve"), "evolve", interrupted)
    code, _, err = _run(command + ["--out", str(tmp_path / "r")], capsys)
    assert code == 130 and err.startswith("evodream: interrupted; ") and hint in err and err.count("\n") == 1


def test_the_command_line_imports_torch_only_inside_main():
    """So Ctrl-C in the seconds torch takes to import is caught by main (one line, exit 130), not a
    traceback; and `from evodream import evolve` still gives the function."""
    probe = ("import sys, evodream.cli; assert 'torch' not in sys.modules, 'torch imported'; "
             "import evodream.evolve; from evodream import evolve, MapElites; "
             "assert callable(evolve) and not isinstance(evolve, type(sys)), evolve; print('ok')")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout == "ok\n", done.stderr


def test_help_and_lookups_need_no_torch():
    """Every subcommand's parser is built without torch, so --help and flag errors answer at once;
    `models` and a built-in model's `classes` need no torch either."""
    probe = ("import sys; from evodream.cli import build_parser, main; build_parser(); "
             "assert main(['models']) == main(['classes', 'efficientnet-lite0', '--search', 'macaw']) == 0; "
             "print(sorted(m for m in ('torch', 'PIL', 'onnxruntime') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.endswith("   88  macaw\n[]\n"), (done.stdout, done.stderr)


def test_writing_many_elites_shows_progress_unless_quiet(tmp_path, capsys):
    encoding = DirectEncoding(1, 8)
    genomes = encoding.random(PROGRESS_ELITES, np.random.default_rng(0))
    elites = [Elite(i, genomes[i], 0.5, 0.5, i) for i in range(PROGRESS_ELITES)]
    names = [f"class {i}" for i in range(PROGRESS_ELITES)]
    for progress, folder in ((True, "shown"), (False, "quiet")):
        run = RunFolder.create(tmp_path / folder, {"kind": "evolve"})
        write_elites(run, encoding, elites, names, progress=progress)
        assert len(list((tmp_path / folder / "elites").glob("*.png"))) == PROGRESS_ELITES
        shown = f"writing {PROGRESS_ELITES} elites" in capsys.readouterr().err
        assert shown == progress
