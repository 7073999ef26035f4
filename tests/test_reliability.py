"""Runs survive crashes: SIGKILL + --resume gives the uninterrupted result, one writer per run,
a full disk leaves the last checkpoint usable, corrupt checkpoints and NaN models fail clearly."""
import csv
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import evodream.runs
from evodream.classifiers.base import Classifier
from evodream.cli import main
from evodream.errors import EvodreamError
from evodream.runs import RunFolder

ROOT = Path(__file__).resolve().parents[1]


def _cli(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _rows(folder):
    with open(folder / "metrics.csv", newline="") as handle:
        return [{k: v for k, v in row.items() if k != "wall_seconds"} for row in csv.DictReader(handle)]


def _json(path):
    return json.loads(Path(path).read_text())


def _files(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _assert_same_run(whole: Path, resumed: Path):
    """Everything a run leaves is identical, except the wall-clock times."""
    assert _rows(whole) == _rows(resumed)
    elites = sorted(p.name for p in (whole / "elites").iterdir())
    assert elites and elites == sorted(p.name for p in (resumed / "elites").iterdir())
    for name in elites:  # genome JSON, confidence, fitness, found_at, and the PNG itself
        assert (whole / "elites" / name).read_bytes() == (resumed / "elites" / name).read_bytes(), name

    def drop(d):
        return {k: v for k, v in d.items() if k != "wall_seconds"}

    assert drop(_json(whole / "summary.json")) == drop(_json(resumed / "summary.json"))
    assert (whole / "reached.json").read_bytes() == (resumed / "reached.json").read_bytes()
    assert _json(whole / "checkpoint.json")["search"] == _json(resumed / "checkpoint.json")["search"]
    if (whole / "pareto").exists():
        assert _files(whole / "pareto") == _files(resumed / "pareto")


def _checkpoint_generation(run: Path) -> int:
    try:  # written by rename, so a read sees the old file or the new one, never half of one
        return _json(run / "checkpoint.json")["search"]["generation"]
    except (OSError, ValueError, KeyError):
        return 0


KILL_CASES = {
    "map-elites-direct": (["--generations", "200"], 20),
    "nsga2-cppn": (["--algorithm", "nsga2", "--encoding", "cppn", "--target", "1,7", "--population", "6",
                    "--generations", "60"], 10),
}


@pytest.mark.parametrize("case", list(KILL_CASES))
def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path, capsys, case):
    extra, kill_after = KILL_CASES[case]
    base = ["evolve", "--goal", "none", "--seed", "3", "--checkpoint-every", "5", "--threads", "1",
            "--quiet"] + extra
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    assert _cli(base + ["--out", str(whole)], capsys)[0] == 0

    proc = subprocess.Popen([sys.executable, "-m", "evodream.cli", *base, "--out", str(killed)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while (_checkpoint_generation(killed) < kill_after and proc.poll() is None
               and time.monotonic() < deadline):
            time.sleep(0.005)
        assert proc.poll() is None, f"the run ended before it could be killed: {proc.communicate()}"
        # While it runs, nobody else may write the folder: the refusal names its PID.
        with pytest.raises(EvodreamError, match=f"in use by process {proc.pid}"):
            with RunFolder(killed).lock():
                pass
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    generation = _checkpoint_generation(killed)
    total = int(extra[extra.index("--generations") + 1])
    assert kill_after <= generation < total and not (killed / "summary.json").exists()
    # SIGKILL left the lock file with a dead PID in it: the resume takes it over by itself.
    assert (killed / ".lock").read_text().split()[0] == str(proc.pid)

    code, out, err = _cli(["evolve", "--resume", str(killed), "--quiet"], capsys)
    assert code == 0, err
    assert f"{total} generations" in out
    assert not (killed / ".lock").exists()
    _assert_same_run(whole, killed)


def test_a_kill_while_a_run_is_created_leaves_a_folder_a_new_start_or_a_resume_takes(tmp_path, capsys):
    args = ["evolve", "--target", "0,1,2", "--goal", "none", "--seed", "2", "--generations", "30",
            "--threads", "1", "--quiet"]
    whole = tmp_path / "whole"
    assert _cli(args + ["--out", str(whole)], capsys)[0] == 0
    # Killed before the manifest was renamed into place: the empty elites/ and the half-written
    # temporary are all there is, so the same command starts the run in that folder.
    before = tmp_path / "before-manifest"
    (before / "elites").mkdir(parents=True)
    (before / ".manifest.json.tmp").write_bytes(b'{"format_ver')
    code, _, err = _cli(args + ["--out", str(before)], capsys)
    assert code == 0, err
    _assert_same_run(whole, before)
    # Killed between the manifest and the metrics header: the run exists and resumes from the start.
    after = tmp_path / "after-manifest"
    (after / "elites").mkdir(parents=True)
    (after / "manifest.json").write_bytes((whole / "manifest.json").read_bytes())
    code, _, err = _cli(["evolve", "--resume", str(after), "--quiet"], capsys)
    assert code == 0, err
    _assert_same_run(whole, after)
    # A folder with anything else in it is still refused, and kept.
    mine, linked = tmp_path / "mine", tmp_path / "linked"
    (mine / "elites").mkdir(parents=True)
    (mine / "notes.txt").write_text("keep")
    (linked / "elites").mkdir(parents=True)
    (linked / "elites" / "link").symlink_to(whole)
    for folder in (mine, linked):
        code, _, err = _cli(args + ["--out", str(folder)], capsys)
        assert code == 2 and "not an empty folder" in err and not (folder / "manifest.json").exists()
    assert (mine / "notes.txt").read_text() == "keep" and (linked / "elites" / "link").is_symlink()


def _small_run(out: Path, capsys, generations=20):
    args = ["evolve", "--target", "0,1,2", "--goal", "none", "--seed", "2", "--checkpoint-every", "5",
            "--generations", str(generations), "--out", str(out), "--quiet"]
    return _cli(args, capsys)


def test_a_second_writer_is_refused_with_the_first_ones_pid(tmp_path, capsys):
    out = tmp_path / "run"
    assert _small_run(out, capsys)[0] == 0
    before = _files(out)
    with RunFolder(out).lock():
        code, _, err = _cli(["evolve", "--resume", str(out), "--generations", "30", "--quiet"], capsys)
        assert code == 2 and err.count("\n") == 1
        assert f"is in use by process {os.getpid()}" in err and "kill" in err
        assert {k: v for k, v in _files(out).items() if k != ".lock"} == before  # our own lock aside
    assert not (out / ".lock").exists()


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path, capsys):
    out = tmp_path / "run"
    assert _small_run(out, capsys, generations=10)[0] == 0
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (out / ".lock").write_text(f"{dead.pid} somehost\n")
    code, stdout, err = _cli(["evolve", "--resume", str(out), "--generations", "15", "--quiet"], capsys)
    assert code == 0 and "15 generations" in stdout, err
    assert not (out / ".lock").exists()


def _no_space(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_disk_full_while_checkpointing_keeps_the_last_checkpoint(tmp_path, capsys, monkeypatch):
    whole, run = tmp_path / "whole", tmp_path / "run"
    assert _small_run(whole, capsys)[0] == 0
    real_replace = os.replace
    checkpoints = []

    def replace(src, dst):
        if Path(dst).name == "checkpoint.json":
            checkpoints.append(dst)
            if len(checkpoints) == 3:  # the third checkpoint (generation 15) meets a full disk
                _no_space()
        return real_replace(src, dst)

    monkeypatch.setattr(evodream.runs.os, "replace", replace)
    code, _, err = _small_run(run, capsys)
    monkeypatch.undo()
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "No space left on device" in err and "previous file is intact" in err and "--resume" in err
    assert _checkpoint_generation(run) == 10
    assert not list(run.glob(".*.tmp")) and not (run / ".lock").exists()
    assert _cli(["evolve", "--resume", str(run), "--quiet"], capsys)[0] == 0
    _assert_same_run(whole, run)


def test_disk_full_while_appending_metrics_is_a_clear_error(tmp_path, capsys, monkeypatch):
    whole, run = tmp_path / "whole", tmp_path / "run"
    assert _small_run(whole, capsys)[0] == 0
    appends = []

    def fake_open(file, mode="r", *args, **kwargs):
        if str(file).endswith("metrics.csv") and "a" in mode:
            appends.append(file)
            if len(appends) == 2:
                _no_space()
        return open(file, mode, *args, **kwargs)

    monkeypatch.setattr(evodream.runs, "open", fake_open, raising=False)
    code, _, err = _small_run(run, capsys)
    monkeypatch.undo()
    assert code == 2 and "cannot write" in err and "metrics.csv" in err and "No space left" in err
    assert _checkpoint_generation(run) == 5
    assert _cli(["evolve", "--resume", str(run), "--quiet"], capsys)[0] == 0
    _assert_same_run(whole, run)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="root writes through chmod; see the ENOSPC tests")
def test_read_only_run_folder_keeps_the_last_checkpoint(tmp_path, capsys):
    run = tmp_path / "run"
    assert _small_run(run, capsys, generations=10)[0] == 0
    before = _files(run)
    run.chmod(0o555)
    try:
        code, _, err = _cli(["evolve", "--resume", str(run), "--generations", "20", "--quiet"], capsys)
    finally:
        run.chmod(0o755)
    assert code == 2 and err.count("\n") == 1 and "permission" in err.lower()
    assert _files(run) == before


def test_crash_mid_row_is_cut_back_on_resume(tmp_path, capsys):
    """A half-written metrics row (power cut mid-append) and rows past the checkpoint go on resume."""
    whole, run = tmp_path / "whole", tmp_path / "run"
    assert _small_run(whole, capsys)[0] == 0
    assert _small_run(run, capsys, generations=10)[0] == 0
    with open(run / "metrics.csv", "a") as handle:
        handle.write("11,110,110,0.5,0.9,0.8,0.7,0,0\r\n12,12")
    # Readers (report, compare) see the whole rows and leave out the half one.
    assert [r["generation"] for r in RunFolder(run).read_metrics()] == list(range(1, 12))
    assert _cli(["evolve", "--resume", str(run), "--generations", "20", "--quiet"], capsys)[0] == 0
    _assert_same_run(whole, run)


def _corrupt(mutate):
    def apply(path: Path):
        data = _json(path)
        mutate(data)
        path.write_text(json.dumps(data))
    return apply


CORRUPTIONS = {
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "JSONDecodeError"),
    "nested": (lambda p: p.write_text("[" * 100_000), "corrupt"),
    "nan literal": (lambda p: p.write_text(p.read_text().replace('"queries": ', '"queries": NaN, "x": ', 1)),
                    "not a number JSON allows"),
    "huge float": (lambda p: p.write_text(p.read_text().replace('"wall_seconds": ',
                                                                '"wall_seconds": 1e999, "x": ', 1)),
                   "too large"),
    "not an object": (lambda p: p.write_text("[1, 2]"), "expected a JSON object"),
    "cells missing": (_corrupt(lambda d: d["search"].pop("cells")), "search.cells"),
    "one cell too many": (_corrupt(lambda d: d["search"]["cells"].append(None)),
                          "search.cells holds 4 cells, expected 3"),
    "confidence above 1": (_corrupt(lambda d: d["search"]["cells"][0].update(confidence=3.0)),
                           "search.cells[0].confidence"),
    "negative generation": (_corrupt(lambda d: d["search"].update(generation=-4)), "search.generation"),
    "bool counter": (_corrupt(lambda d: d.update(queries=True)), "queries"),
    "rng name": (_corrupt(lambda d: d["search"]["rng"].update(bit_generator="seed")), "bit_generator"),
    "rng state": (_corrupt(lambda d: d["search"]["rng"]["state"].update(state="x")), "corrupt"),
    "python random": (_corrupt(lambda d: d["python_random"][1].__setitem__(0, 2 ** 40)), "python_random"),
    "torch rng": (_corrupt(lambda d: d.update(torch_rng="AAAA")), "corrupt"),
    "genome encoding": (_corrupt(lambda d: d["search"]["cells"][0]["genome"].update(encoding="cppn")),
                     "invalid direct genome"),
    "genome pixels": (_corrupt(lambda d: d["search"]["cells"][1]["genome"].update(pixels_f32_base64="@@")),
                      "invalid direct genome"),
    "bred-ahead parent out of range": (_corrupt(lambda d: d["search"].update(
        asked=[{"genomes": [d["search"]["cells"][0]["genome"]] * 10, "infos": [[7] * 10]}])),
        "search.asked[0].infos[0][0] must be a cell index below 3"),
    "bred-ahead batch too short": (_corrupt(lambda d: d["search"].update(
        asked=[{"genomes": [d["search"]["cells"][0]["genome"]], "infos": [[0]]}])), "batches hold 10"),
    "emitter state": (_corrupt(lambda d: d["search"]["emitters"][0].update(strength=[1.0, -1.0, 1.0])),
                      "search.emitters[0].strength[1]"),
    "older checkpoint format": (_corrupt(lambda d: d.update(format_version=1)),
                                "checkpoint of format 1 (this evodream reads format 2)"),
    "metrics shorter": (_corrupt(lambda d: d.update(metrics_bytes=10 ** 9)), "rows were lost"),
}


@pytest.fixture(scope="module")
def checkpointed_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt") / "run"
    assert main(["evolve", "--target", "0,1,2", "--goal", "none", "--generations", "4", "--out", str(out),
                 "--quiet"]) == 0
    return out


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_corrupt_checkpoints_fail_with_one_clear_line(tmp_path, capsys, checkpointed_run, case):
    import shutil

    damage, message = CORRUPTIONS[case]
    run = tmp_path / "run"
    shutil.copytree(checkpointed_run, run)
    capsys.readouterr()
    damage(run / "checkpoint.json")
    before = _files(run)
    code, _, err = _cli(["evolve", "--resume", str(run), "--generations", "6", "--quiet"], capsys)
    assert code == 2 and err.count("\n") == 1 and err.startswith("evodream: error:"), err
    assert "checkpoint" in err and message in err, err
    assert _files(run) == before


NAN_MODELS = '''
import torch
from torch import nn


class _Net(nn.Module):
    input_size, channels = 8, 1

    def __init__(self, when):
        super().__init__()
        self.fc = nn.Linear(64, 3)
        self.when = when

    def forward(self, x):
        logits = self.fc(x.flatten(1))
        bad = torch.ones_like(logits[:, :1], dtype=torch.bool) if self.when == "always" else \\
            x.flatten(1).std(dim=1, keepdim=True) > 0  # fine on a flat grey probe, NaN on real images
        return torch.where(bad, torch.full_like(logits, float("nan")), logits)


def always():
    return _Net("always")


def on_texture():
    return _Net("texture")
'''


def test_a_model_returning_nan_is_a_clear_error(tmp_path, capsys, monkeypatch):
    (tmp_path / "evodream_nan_models.py").write_text(NAN_MODELS)
    monkeypatch.chdir(tmp_path)
    # Caught by the loader's probe, before a run folder exists.
    code, _, err = _cli(["evolve", "--model", "evodream_nan_models:always", "--generations", "2",
                         "--out", "a", "--quiet"], capsys)
    assert code == 2 and "NaN or infinite" in err and err.count("\n") == 1 and not (tmp_path / "a").exists()
    # Caught on the first scored batch: no checkpoint or elite holds garbage.
    code, _, err = _cli(["evolve", "--model", "evodream_nan_models:on_texture", "--generations", "2",
                         "--out", "b", "--quiet"], capsys)
    assert (code == 2 and "returned NaN or infinite outputs for 10 of 10 images" in err
            and err.count("\n") == 1)
    assert (not (tmp_path / "b" / "checkpoint.json").exists()
            and not any((tmp_path / "b" / "elites").iterdir()))


def test_classifier_checks_every_batch_for_nan():
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    classifier = Classifier(net, name="tiny", class_names=["a", "b"], input_size=2, channels=1)
    images = torch.rand(3, 1, 2, 2)
    assert torch.isfinite(classifier.probs(images)).all()
    images[1, 0, 0, 0] = float("nan")
    with pytest.raises(EvodreamError, match="1 of 3 images"):
        classifier.probs(images)


def test_deferred_genomes_write_the_same_checkpoint_bytes(tmp_path, lenet):
    import numpy as np

    from evodream.evaluator import Evaluator
    from evodream.genomes import DirectEncoding
    from evodream.objectives import Objective
    from evodream.runs import write_json
    from evodream.search.map_elites import MapElites

    search = MapElites(DirectEncoding(1, 28), range(10), np.random.default_rng(0), batch_size=10)
    evaluate = Evaluator(search.encoding, Objective(lenet, range(10)))
    for _ in range(3):
        search.step(evaluate)
    write_json(tmp_path / "now.json", search.state_dict())
    write_json(tmp_path / "deferred.json", search.state_dict(defer=True))
    assert (tmp_path / "now.json").read_bytes() == (tmp_path / "deferred.json").read_bytes()


def test_a_failed_json_write_leaves_the_old_file_and_no_temporary(tmp_path):
    from evodream.runs import write_json

    target = tmp_path / "state.json"
    write_json(target, {"a": 1})
    with pytest.raises(ValueError):
        write_json(target, {"a": float("nan")})  # allow_nan=False: refused halfway through the stream
    assert json.loads(target.read_text()) == {"a": 1} and list(tmp_path.iterdir()) == [target]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_the_allocator_is_left_alone_when_the_user_set_glibc_variables():
    code = "from evodream.classifiers.allocator import keep_freed_memory; print(keep_freed_memory())"
    env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "1000000"}
    chosen = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    default = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env={k: v for k, v in os.environ.items()
                                  if not k.startswith(("MALLOC_", "GLIBC_"))})
    import platform

    assert chosen.stdout.strip() == "False"
    assert default.stdout.strip() == str(platform.libc_ver()[0] == "glibc")
