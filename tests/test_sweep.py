"""evodream sweep: grid expansion, local and Ray executors, resume after a kill, retries."""
import csv
import json
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from evodream.cli import main
from evodream.errors import EvodreamError
from evodream.sweep import expand, sweep

# lenet-mnist × {direct, cppn} × {map-elites, ascent} × 2 seeds: ascent has no encoding, so 6 jobs.
SMALL = {"title": "small", "grid": {"model": "lenet-mnist", "encoding": ["direct", "cppn"],
                                    "algorithm": ["map-elites", "ascent"], "target": "0,1", "seed": [0, 1]},
         "settings": {"max_evals": 200, "goal": 0.99}}
NAMES = ["map-elites_direct_seed0", "map-elites_direct_seed1", "map-elites_cppn_seed0",
         "map-elites_cppn_seed1", "ascent_seed0", "ascent_seed1"]
TIME_KEYS = {"wall_seconds", "created", "command", "metrics_bytes"}


def _toml(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def _metrics(folder: Path) -> list[dict]:
    with open(folder / "metrics.csv", newline="") as handle:
        return [{k: v for k, v in row.items() if k != "wall_seconds"} for row in csv.DictReader(handle)]


def _strip(obj):
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in TIME_KEYS}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def _run_contents(folder: Path) -> dict:
    """Everything a run folder computed, wall-clock fields left out."""
    contents = {"metrics": _metrics(folder)}
    for path in sorted(folder.rglob("*")):
        if path.suffix == ".json":
            contents[str(path.relative_to(folder))] = _strip(json.loads(path.read_text()))
        elif path.suffix == ".png":
            contents[str(path.relative_to(folder))] = path.read_bytes()
    return contents


# -- grid expansion -----------------------------------------------------------------------------
def test_grid_expands_every_combination_with_readable_names():
    grid = expand(SMALL)
    assert [j.name for j in grid.jobs] == NAMES
    assert grid.varying == ["algorithm", "encoding", "seed"]
    by_name = {j.name: j for j in grid.jobs}
    evolve, ascent = by_name["map-elites_cppn_seed1"], by_name["ascent_seed0"]
    assert evolve.kind == "evolve" and evolve.config["encoding"] == "cppn" and evolve.config["seed"] == 1
    # recipe defaults filled in
    assert evolve.config["max_evals"] == 200 and evolve.config["population"] == 10
    # Ascent knows no encoding (one job per seed) and spends the same evaluation budget, not 300 steps.
    assert "encoding" not in ascent.axes and ascent.kind == "ascend"
    assert ascent.config["max_evals"] == 200 and ascent.config["steps"] is None
    assert expand(SMALL).jobs == grid.jobs  # deterministic


def test_grid_kind_tables_exclusions_and_priors():
    grid = expand({"grid": {"algorithm": ["map-elites", "nsga2", "ascent"], "seed": 3,
                            "priors": ["none", "tv=0.3", {"spectrum": 0.5}]},
                   "settings": {"generations": 7, "goal": 0.9},
                   "evolve": {"population": 4}, "ascent": {"lr": 0.1},
                   "exclude": [{"algorithm": "nsga2", "priors": ["tv=0.3", {"spectrum": 0.5}]}]})
    names = [j.name for j in grid.jobs]
    assert names == ["map-elites_nopriors_seed3", "map-elites_priors-tv-0.3_seed3",
                     "map-elites_priors-spectrum-0.5_seed3", "nsga2_nopriors_seed3", "ascent_nopriors_seed3",
                     "ascent_priors-tv-0.3_seed3", "ascent_priors-spectrum-0.5_seed3"]
    jobs = {j.name: j for j in grid.jobs}
    assert jobs["map-elites_priors-tv-0.3_seed3"].config["priors"] == {"tv": 0.3}
    assert jobs["map-elites_nopriors_seed3"].config["population"] == 4
    assert (jobs["ascent_nopriors_seed3"].config["lr"] == 0.1
            and jobs["ascent_nopriors_seed3"].config["steps"] == 7)
    assert "population" not in jobs["ascent_nopriors_seed3"].config


@pytest.mark.parametrize("data, message", [
    ({"grid": {"modle": ["lenet-mnist"]}}, "did you mean 'model'"),
    ({"grid": {"algorithm": ["map-elite"]}}, "did you mean 'map-elites'"),
    ({"grid": {"seed": [0, 1]}, "settings": {"seed": 2}}, "both a [grid] axis and a [settings] value"),
    ({"grid": {"seed": [0, 0]}}, "lists a value twice"),
    ({"grid": {"seed": []}}, "empty list"),
    ({"grid": {"encoding": ["direct", "dna"]}}, "unknown encoding 'dna'"),
    ({"grid": {"seed": [0]}, "exclude": [{"colour": "hls"}]}, "not a [grid] axis"),
    ({"grid": {"seed": [0]}, "exclude": [{"seed": 0}]}, "leaves no job"),
    ({"grid": {"seed": [0, 1]}, "exclude": [{"seed": 2}]}, "seed = '2', which is not on that axis (0, 1)"),
    ({"grid": {"seed": [0]}, "evolve": {"lr": 0.1}}, "unknown key 'lr' in [evolve]"),
    ({"grdi": {}}, "unknown key 'grdi'"),
    ({"grid": {"seed": list(range(1000)), "population": list(range(1, 1001))}},
     "make 1,000,000 combinations, more than a sweep runs (100,000)"),
    ({"grid": {"model": ["lenet-mnist", "lenet-mnsit"]}}, "model lenet-mnsit: unknown model 'lenet-mnsit'"),
    ({"grid": {"target": ["3", "giraffe"]}}, "model lenet-mnist: unknown class 'giraffe'"),
    ({"grid": {"target": ["3", "macaw"]}},
     "in the sweep file, unknown class 'macaw' for lenet-mnist: it is an ImageNet class, "
     "so set model = \"efficientnet-lite0\""),
    ({"grid": {"algorithm": ["ascent"]}, "settings": {"model": "efficientnet-lite0", "target": "macw"}},
     "Did you mean 'macaw'"),
])
def test_grid_mistakes_fail_before_anything_runs(data, message):
    with pytest.raises(EvodreamError, match=".*".join(map(__import__("re").escape, message.split(".*")))):
        expand(data)


def test_dry_run_lists_the_jobs(tmp_path, capsys):
    grid = _toml(tmp_path / "g.toml", """
        [grid]
        encoding = ["direct", "cppn"]
        seed = [0, 1]
        [settings]
        max_evals = 100
    """)
    assert main(["sweep", str(grid), "--dry-run", "--out", str(tmp_path / "s")]) == 0
    out = capsys.readouterr().out
    assert "map-elites_direct_seed0" in out and "map-elites_cppn_seed1" in out and "4 jobs" in out
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("model, message", [
    ("missing.ts", "model file 'missing.ts' does not exist"),
    ("harden:missing/round-01", "harden round folder 'missing/round-01' does not exist"),
])
def test_a_missing_model_file_fails_before_any_job(tmp_path, capsys, monkeypatch, model, message):
    monkeypatch.chdir(tmp_path)  # jobs read model paths from the folder the sweep runs in
    grid = _toml(tmp_path / "g.toml",
                 f'[grid]\nmodel = ["lenet-mnist", "{model}"]\n[settings]\nmax_evals = 10\n')
    for extra in (["--dry-run"], []):
        assert main(["sweep", str(grid), "--out", "s", *extra]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "s").exists()
    # On Ray the nodes read their own disks: the file is not looked for here (Ray itself is missing).
    monkeypatch.setitem(sys.modules, "ray", None)
    assert main(["sweep", str(grid), "--ray", "auto", "--out", "s"]) == 2
    assert "pip install 'evodream[ray]'" in capsys.readouterr().err


def test_ray_missing_gives_the_install_hint(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` fail as if it were not installed
    grid = _toml(tmp_path / "g.toml", "[grid]\nseed = 0\n[settings]\nmax_evals = 10\n")
    assert main(["sweep", str(grid), "--ray", "auto", "--out", str(tmp_path / "s")]) == 2
    assert "pip install 'evodream[ray]'" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_a_sweep_killed_before_its_record_was_written_runs_in_that_folder(tmp_path, capsys):
    grid = _toml(tmp_path / "g.toml", "[grid]\nseed = 0\n[settings]\nmax_evals = 20\n")
    left = tmp_path / "s"
    (left / "runs").mkdir(parents=True)  # made before sweep.json: all a kill there leaves
    (left / ".sweep.json.tmp").write_text('{"form')
    assert main(["sweep", str(grid), "--jobs", "1", "--threads", "1", "--out", str(left), "--quiet"]) == 0
    assert (left / "sweep.json").exists() and any((left / "runs").iterdir())
    (tmp_path / "mine" / "runs").mkdir(parents=True)
    (tmp_path / "mine" / "runs" / "notes.txt").write_text("keep")
    capsys.readouterr()
    assert main(["sweep", str(grid), "--out", str(tmp_path / "mine"), "--quiet"]) == 2
    assert "not a sweep folder" in capsys.readouterr().err
    assert (tmp_path / "mine" / "runs" / "notes.txt").read_text() == "keep"


@pytest.mark.parametrize("edit, message", [
    (lambda state: [1], "expected a JSON object"),
    (lambda state: {**state, "jobs": [1, 2]}, "is corrupt (no list of job records)"),
    (lambda state: {**state, "jobs": "all"}, "is corrupt (no list of job records)"),
    (lambda state: {**state, "format_version": 9}, "is in sweep format 9"),
])
def test_a_damaged_sweep_record_is_refused_and_kept(tmp_path, capsys, edit, message):
    grid = _toml(tmp_path / "g.toml", "[grid]\nseed = 0\n[settings]\nmax_evals = 20\n")
    out = tmp_path / "s"
    assert main(["sweep", str(grid), "--jobs", "1", "--threads", "1", "--out", str(out), "--quiet"]) == 0
    record = out / "sweep.json"
    record.write_text(json.dumps(edit(json.loads(record.read_text()))))
    damaged = record.read_bytes()
    capsys.readouterr()
    assert main(["sweep", str(grid), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert record.read_bytes() == damaged


@pytest.mark.parametrize("block", ["sweep.log", "runs/map-elites_seed0"])
def test_a_file_in_the_sweeps_way_is_named_before_any_job(tmp_path, capsys, block):
    grid = _toml(tmp_path / "g.toml", "[grid]\nseed = 0\n[settings]\nmax_evals = 20\n")
    out = tmp_path / "s"
    assert main(["sweep", str(grid), "--jobs", "1", "--threads", "1", "--out", str(out), "--quiet"]) == 0
    shutil.rmtree(out / "runs" / "map-elites_seed0")
    if block == "sweep.log":
        (out / "sweep.log").unlink()
        (out / "sweep.log").mkdir()
    else:
        (out / block).write_text("mine")
    capsys.readouterr()
    assert main(["sweep", str(grid), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{out / block} is in the way of the sweep's own" in err and err.count("\n") == 1, err
    assert not (out / "runs" / "map-elites_seed0").is_dir()


# -- local runs ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "local"
    return sweep(SMALL, out, jobs=2, threads=1, progress=False)


def test_local_sweep_writes_runs_manifest_log_and_report(local_sweep):
    out = local_sweep.out
    assert sorted(p.name for p in (out / "runs").iterdir()) == sorted(NAMES)
    state = json.loads((out / "sweep.json").read_text())
    assert state["counts"] == {"done": 6, "running": 0, "pending": 0, "failed": 0}
    assert [j["name"] for j in state["jobs"]] == NAMES and state["executor"]["kind"] == "local"
    for job in state["jobs"]:
        run = out / job["folder"]
        summary = json.loads((run / "summary.json").read_text())
        manifest = json.loads((run / "manifest.json").read_text())
        assert (job["status"] == "done" and job["attempts"] == 1
                and job["evaluations"] == summary["evaluations"])
        assert manifest["kind"] == job["kind"] and manifest["config"]["seed"] == job["axes"]["seed"]
        assert manifest["config"]["threads"] == 1 and manifest["command"][:2] == ["evodream", "sweep"]
    log = (out / "sweep.log").read_text()
    assert all(f"done {name}" in log for name in NAMES)
    # One report over every run, plus one row per grid cell (seeds pooled).
    report = json.loads((out / "report" / "report.json").read_text())
    assert sorted(r["name"] for r in report) == sorted(NAMES)
    with open(out / "report" / "groups.csv", newline="") as handle:
        groups = list(csv.DictReader(handle))
    assert [(g["algorithm"], g["encoding"], g["jobs"], g["finished"]) for g in groups] == [
        ("map-elites", "direct", "2", "2"), ("map-elites", "cppn", "2", "2"), ("ascent", "—", "2", "2")]
    page = (out / "report" / "index.html").read_text()
    assert "By grid cell" in page and "ascent_seed1" in page
    assert len(local_sweep.groups) == 3


def _settled_size(path: Path, quiet: float, timeout: float) -> int:
    """The file's size once it has not changed for `quiet` seconds (or when `timeout` runs out)."""
    deadline = time.monotonic() + timeout
    size = path.stat().st_size
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = path.stat().st_size
        if now == size:
            break
        size = now
    return size


def test_kill_mid_sweep_then_rerun_skips_finished_jobs(tmp_path):
    grid = _toml(tmp_path / "g.toml", """
        [grid]
        seed = [0, 1]
        [settings]
        target = "all"
        generations = 400  # ~1 s a job: time to kill one after its first checkpoint, even on a busy machine
        goal = "none"
        checkpoint_every = 5
    """)
    out = tmp_path / "s"
    proc = subprocess.Popen([sys.executable, "-m", "evodream.cli", "sweep", str(grid), "--jobs", "1",
                             "--threads", "1", "--out", str(out), "--quiet", "--no-report"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    caught = None
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            jobs = json.loads((out / "sweep.json").read_text())["jobs"]
        except (OSError, ValueError):
            jobs = []
        done = [j for j in jobs if j["status"] == "done"]
        running = [j for j in jobs
                   if j["status"] == "running" and (out / j["folder"] / "checkpoint.json").exists()]
        if done and running:
            caught = running[0]["name"]
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert caught, "the sweep never had a finished job and a checkpointed one at once"
    finished = {p.parent.name for p in (out / "runs").glob("*/summary.json")}
    assert finished and caught not in finished
    # The worker dies with the sweep: its run stops growing, unfinished. (It notices the sweep's
    # death a moment later, longer on a busy machine: wait for the writes to settle first.)
    metrics = out / "runs" / caught / "metrics.csv"
    size = _settled_size(metrics, quiet=0.5, timeout=10)
    time.sleep(1.5)
    assert metrics.stat().st_size == size
    assert not (out / "runs" / caught / "summary.json").exists()
    stamps = {name: (out / "runs" / name / "summary.json").stat().st_mtime_ns for name in finished}

    result = sweep(grid, out, jobs=1, threads=1, progress=False, report=False)
    assert result.count("done") == 2 and not result.failed
    assert {j["name"] for j in result.jobs if j["reused"]} == finished
    assert {n: (out / "runs" / n / "summary.json").stat().st_mtime_ns for n in finished} == stamps
    log = (out / "sweep.log").read_text()
    assert all(f"skip {name}: finished earlier" in log for name in finished)
    rows = _metrics(out / "runs" / caught)  # resumed from its checkpoint: each generation exactly once
    assert [int(r["generation"]) for r in rows] == list(range(1, 401))


def test_failing_job_is_retried_then_reported_while_others_finish(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "broken.ts").write_text("not a model")  # found up front, fails when a job loads it
    grid = _toml(tmp_path / "g.toml", """
        [grid]
        model = ["lenet-mnist", "broken.ts"]
        [settings]
        target = "3"
        max_evals = 100
    """)
    out = tmp_path / "s"
    code = main(["sweep", str(grid), "--jobs", "2", "--threads", "1", "--retries", "1", "--out", str(out),
                 "--quiet"])
    captured = capsys.readouterr()
    assert code == 1
    assert "failed: broken.ts_map-elites_seed0 after 2 attempt(s)" in captured.err
    state = json.loads((out / "sweep.json").read_text())
    jobs = {j["name"]: j for j in state["jobs"]}
    bad, good = jobs["broken.ts_map-elites_seed0"], jobs["lenet-mnist_map-elites_seed0"]
    assert bad["status"] == "failed" and bad["attempts"] == 2 and len(bad["errors"]) == 2
    assert "'broken.ts' is not a TorchScript model" in bad["errors"][-1]
    assert good["status"] == "done" and (out / "runs" / good["name"] / "summary.json").exists()
    assert state["counts"]["failed"] == 1 and "1 failed" in captured.out
    log = (out / "sweep.log").read_text()
    assert "retry broken.ts_map-elites_seed0" in log and "failed broken.ts_map-elites_seed0" in log
    assert [r["name"] for r in json.loads((out / "report" / "report.json").read_text())] == [good["name"]]


DIES_ONCE = '''
import os
from pathlib import Path

import torch
from torch import nn

MARKER = Path(__file__).with_name("died-once")


class Net(nn.Module):
    """8x8 grey images -> 3 logits; the first time it is built, its process dies mid-run."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(3, 64, generator=torch.Generator().manual_seed(0)))
        self.input_size = 8
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        if self.calls == 40 and not MARKER.exists():
            MARKER.write_text("died")
            os._exit(3)
        return x.flatten(1) @ self.weight.t() * 3


def build():
    return Net()
'''


def test_dead_worker_is_retried_and_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch):
    from evodream.config import from_mapping
    from evodream.evolve import evolve

    (tmp_path / "sweep_dies_once.py").write_text(DIES_ONCE)
    monkeypatch.chdir(tmp_path)  # custom models are found in the current folder
    grid = {"grid": {"model": "sweep_dies_once:build", "seed": 4},
            # engine torch: the model dies inside its Python forward, which ONNX Runtime never calls
            "settings": {"generations": 60, "goal": "none", "checkpoint_every": 10, "engine": "torch"}}
    result = sweep(grid, tmp_path / "s", jobs=1, threads=1, progress=False, report=False)
    [job] = result.jobs
    assert job["status"] == "done" and job["attempts"] == 2
    assert job["errors"] == ["worker process died (exit code 3)"]
    run = tmp_path / "s" / "runs" / job["name"]
    assert [int(r["generation"]) for r in _metrics(run)] == list(range(1, 61))
    # The same job run in one go (the model no longer dies) computes exactly the same run.
    evolve(from_mapping(job["config"]), tmp_path / "whole", progress=False)
    whole, resumed = _run_contents(tmp_path / "whole"), _run_contents(run)
    resumed.pop("checkpoint.json"), whole.pop("checkpoint.json")  # a resumed run's checkpoint was rewritten
    assert resumed == whole


# -- Ray ----------------------------------------------------------------------------------------
def test_ray_sweep_makes_the_same_runs_as_the_local_one(local_sweep, tmp_path):
    ray = pytest.importorskip("ray")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             _node_ip_address="127.0.0.1")
    try:
        result = sweep(SMALL, tmp_path / "ray", ray="local", threads=1, progress=False, report=False)
    finally:
        ray.shutdown()
    assert result.count("done") == 6
    state = json.loads((tmp_path / "ray" / "sweep.json").read_text())
    assert state["executor"]["kind"] == "ray" and state["executor"]["cluster_cpus"] == 2
    for name in NAMES:
        local = _run_contents(local_sweep.out / "runs" / name)
        remote = _run_contents(tmp_path / "ray" / "runs" / name)
        assert remote == local, name


def test_a_job_left_open_for_its_model_is_resolved_by_its_run(tmp_path):
    from evodream.config import from_mapping
    from evodream.evolve import evolve
    from evodream.runs import existing_run

    # "auto" on an ImageNet-size model means lowres-cma for one class: the job leaves the choice to
    # its run, as `evolve` does, instead of taking the fast recipe.
    imagenet = expand({"grid": {"seed": [0]},
                       "settings": {"model": "efficientnet-lite0", "target": "macaw", "max_evals": 100}})
    assert imagenet.jobs[0].config["recipe"] == "auto" and imagenet.jobs[0].config["encoding"] is None
    # lowres-cma's population depends on the image size: the run fills it in, and the sweep run
    # again still knows the finished run as this job's.
    job = expand({"grid": {"seed": [0]},
                  "settings": {"recipe": "lowres-cma", "target": "3", "max_evals": 48}}).jobs[0]
    assert job.config["population"] is None
    result = evolve(from_mapping(job.config), tmp_path / "run", progress=False)
    assert result.run.manifest["config"]["population"] == 16
    assert existing_run(tmp_path / "run", "evolve", job.config, fix="fix") == "finished"
    with pytest.raises(EvodreamError, match="holds a run with other settings"):
        existing_run(tmp_path / "run", "evolve", {**job.config, "population": 8}, fix="fix")
