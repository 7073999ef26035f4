"""One run on many workers (--workers, --ray): the same run each time for a worker count, a worker
killed mid-generation costs nothing, repeated deaths stop the run resumably, a killed or interrupted
run's process resumes to the uninterrupted result, and bad settings fail before anything is written."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from test_reliability import ROOT, _assert_same_run, _checkpoint_generation, _cli, _json

from evodream.config import EvolveConfig, validate
from evodream.evaluator import Evaluator
from evodream.evolve import build_scoring
from evodream.workers.local import LocalPool
from evodream.workers.pool import WorkerPool, split

GENERATIONS = 120
BASE = [
    "evolve",
    "--goal",
    "none",
    "--seed",
    "3",
    "--checkpoint-every",
    "5",
    "--threads",
    "1",
    "--quiet",
    "--generations",
    str(GENERATIONS),
]


def _evolve(out, capsys, *extra):
    code, stdout, err = _cli(BASE + ["--out", str(out), *extra], capsys)
    assert code == 0, err
    return stdout


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An undisturbed 2-worker run, which the disturbed ones must reproduce."""
    from evodream.cli import main

    out = tmp_path_factory.mktemp("workers") / "reference"
    assert main(BASE + ["--workers", "2", "--out", str(out)]) == 0
    return out


def test_split_is_contiguous_and_fixed_by_the_worker_count():
    assert split(10, 3) == [(0, 4), (4, 7), (7, 10)]
    assert split(2, 4) == [(0, 1), (1, 2), (2, 2), (2, 2)]
    for size in range(0, 40):
        for count in range(1, 6):
            chunks = [np.arange(size)[a:b] for a, b in split(size, count)]
            assert [len(c) for c in chunks] == [len(c) for c in np.array_split(np.arange(size), count)]


@pytest.mark.parametrize("encoding,algorithm", [("direct", "map-elites"), ("cppn", "nsga2")])
def test_a_pool_scores_each_chunk_as_this_process_would(encoding, algorithm):
    config = validate(
        EvolveConfig(encoding=encoding, algorithm=algorithm, workers=3, threads=1, target="1,7").resolved()
    )
    _, _, _, encoding_, objective = build_scoring(config)
    needs = ("naturalness",) if algorithm == "nsga2" else ()
    evaluator = Evaluator(encoding_, objective, needs=needs)
    rng = np.random.default_rng(0)
    population = encoding_.mutate(encoding_.random(11, rng), rng)
    pool = LocalPool(config, encoding_, needs)
    try:
        scores = pool(population)
        assert pool.queries == 11
        genomes = encoding_.unstack(population)
        expected = [evaluator(encoding_.stack(genomes[a:b])) for a, b in split(11, 3)]
        assert np.array_equal(scores.fitness, np.concatenate([e.fitness for e in expected]))
        assert np.array_equal(scores.confidence, np.concatenate([e.confidence for e in expected]))
        if needs:
            assert np.array_equal(scores.naturalness, np.concatenate([e.naturalness for e in expected]))
        assert len(set(pool.pids().values())) == 3
    finally:
        pool.close()
    assert not pool.pids()


def test_two_workers_twice_give_the_same_run(reference, tmp_path, capsys):
    again = tmp_path / "again"
    assert f"{GENERATIONS} generations" in _evolve(again, capsys, "--workers", "2")
    _assert_same_run(reference, again)
    manifest = _json(again / "manifest.json")
    assert manifest["config"]["workers"] == 2
    assert manifest["workers"] == {"backend": "local", "count": 2, "threads_each": 1, "split": "contiguous"}
    assert _json(again / "summary.json")["queries"] == 10 * GENERATIONS


def _killing(pool_class, victim: int, kill_when, kills: list):
    """pool_class._dispatch that SIGKILLs worker `victim` as its n-th chunk is sent, whenever
    kill_when(n) holds: it dies owing that chunk. (Killed just before the send, not after: a fast
    worker could otherwise answer before the signal lands, and the test would depend on timing.)"""
    real = pool_class._dispatch
    sent = {"n": 0}

    def dispatch(self, slot, payload):
        if slot == victim:
            sent["n"] += 1
            if kill_when(sent["n"]):
                pid = self.pids()[slot]
                os.kill(pid, signal.SIGKILL)
                kills.append(pid)
        return real(self, slot, payload)

    return dispatch


def _spy_deaths(monkeypatch) -> list:
    deaths, real = [], WorkerPool._died

    def died(self, slot, why):
        deaths.append((slot, why))
        real(self, slot, why)

    monkeypatch.setattr(WorkerPool, "_died", died)
    return deaths


def test_a_worker_killed_mid_generation_costs_nothing(reference, tmp_path, capsys, monkeypatch):
    kills = []
    monkeypatch.setattr(LocalPool, "_dispatch", _killing(LocalPool, 1, lambda n: n in (7, 40), kills))
    deaths = _spy_deaths(monkeypatch)
    out = tmp_path / "killed"
    _evolve(out, capsys, "--workers", "2")
    assert len(kills) == 2 and [d[0] for d in deaths] == [1, 1]
    assert "SIGKILL" in deaths[0][1]
    _assert_same_run(reference, out)  # the archive, the metrics (queries too), the checkpoint
    assert _json(out / "summary.json")["queries"] == 10 * GENERATIONS


def test_a_worker_that_keeps_dying_stops_the_run_resumably(reference, tmp_path, capsys, monkeypatch):
    kills = []
    monkeypatch.setattr(LocalPool, "_dispatch", _killing(LocalPool, 1, lambda n: n >= 33, kills))
    out = tmp_path / "dying"
    code, _, err = _cli(BASE + ["--workers", "2", "--out", str(out)], capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert "worker 1 of 2 died 3 times in a row (last: killed by SIGKILL)" in err and "--resume" in err
    assert len(kills) == 3 and _checkpoint_generation(out) == 30 and not (out / ".lock").exists()
    monkeypatch.undo()
    code, stdout, err = _cli(["evolve", "--resume", str(out), "--quiet"], capsys)
    assert code == 0, err
    _assert_same_run(reference, out)


def test_the_runs_process_killed_then_resumed_equals_an_uninterrupted_run(reference, tmp_path, capsys):
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "evodream.cli", *BASE, "--workers", "2", "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while _checkpoint_generation(out) < 20 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert proc.poll() is None, f"the run ended before it could be killed: {proc.communicate()}"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert 20 <= _checkpoint_generation(out) < GENERATIONS and not (out / "summary.json").exists()
    code, stdout, err = _cli(["evolve", "--resume", str(out), "--quiet"], capsys)
    assert code == 0, err
    _assert_same_run(reference, out)


def test_ctrl_c_mid_generation_stops_the_workers_and_leaves_a_resumable_run(
    reference, tmp_path, capsys, monkeypatch
):
    import evodream.workers.local as local

    started, calls, real_wait, real_start = [], {"n": 0}, local.wait, LocalPool._start

    def start(self, slot):
        real_start(self, slot)
        started.append(self._workers[slot][0])

    def wait(handles, timeout=None):  # Ctrl-C lands while the driver waits for chunks in flight
        calls["n"] += 1
        if calls["n"] == 50:
            raise KeyboardInterrupt
        return real_wait(handles, timeout)

    monkeypatch.setattr(LocalPool, "_start", start)
    monkeypatch.setattr(local, "wait", wait)
    out = tmp_path / "interrupted"
    code, _, err = _cli(BASE + ["--workers", "2", "--out", str(out)], capsys)
    assert code == 130 and err.count("\n") == 1 and "--resume" in err, err
    assert len(started) == 2 and not any(process.is_alive() for process in started)  # the workers are stopped
    assert not (out / ".lock").exists() and not (out / "summary.json").exists()
    monkeypatch.undo()
    code, stdout, err = _cli(["evolve", "--resume", str(out), "--quiet"], capsys)
    assert code == 0, err
    _assert_same_run(reference, out)


def test_resume_may_change_the_worker_count(tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = _cli(BASE[:-1] + ["40", "--workers", "2", "--out", str(out)], capsys)
    assert code == 0, err
    code, stdout, err = _cli(
        ["evolve", "--resume", str(out), "--generations", "60", "--workers", "3", "--quiet"], capsys
    )
    assert code == 0 and "60 generations" in stdout, err
    rows = (out / "metrics.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == list(range(1, 61))
    assert [int(r.split(",")[2]) for r in rows] == [10 * g for g in range(1, 61)]  # queries: exact, no gap
    assert _json(out / "checkpoint.json")["search"]["generation"] == 60
    assert _json(out / "manifest.json")["config"]["workers"] == 2  # what the run was made with
    code, _, err = _cli(["evolve", "--resume", str(out), "--generations", "70", "--workers", "0"], capsys)
    assert code == 2 and "workers must be positive" in err


def _nothing_written(tmp_path):
    return not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--workers", "0"], "workers must be positive, got 0"),
        (["--workers", "2", "--overlap"], "drop --overlap"),
        (["--workers", "2", "--ray", "not an address"], "--ray must be auto, local or a cluster's HOST:PORT"),
    ],
)
def test_bad_worker_settings_fail_in_one_line_before_anything_is_written(tmp_path, capsys, flags, message):
    code, _, err = _cli(["evolve", "--out", str(tmp_path / "run"), *flags], capsys)
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert _nothing_written(tmp_path)


def test_ascend_has_no_workers(tmp_path, capsys):
    code, _, err = _cli(["ascend", "--workers", "2", "--out", str(tmp_path / "run")], capsys)
    assert code == 2 and err.count("\n") == 1 and "evodream evolve" in err, err
    assert _nothing_written(tmp_path)


def test_an_unreachable_ray_address_fails_before_anything_is_written(tmp_path, capsys):
    pytest.importorskip("ray")
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    code, _, err = _cli(
        ["evolve", "--workers", "2", "--ray", f"127.0.0.1:{port}", "--out", str(tmp_path / "r")], capsys
    )
    assert (
        code == 2 and err.count("\n") == 1 and f"cannot reach a Ray cluster at '127.0.0.1:{port}'" in err
    ), err
    assert time.monotonic() - started < 30 and _nothing_written(tmp_path)


# -- Ray: actors instead of processes, same run ------------------------------------------------------


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    import logging

    try:
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.WARNING)
    except Exception as exc:  # noqa: BLE001 - no Ray here: the Ray tests cannot run
        pytest.skip(f"a local Ray cannot start here: {exc.__class__.__name__}: {exc}")
    yield ray
    ray.shutdown()


def test_ray_actors_give_the_local_workers_run_and_survive_a_kill(
    ray_cluster, reference, tmp_path, capsys, monkeypatch
):
    from evodream.workers.ray_pool import RayPool

    kills = []
    monkeypatch.setattr(RayPool, "_dispatch", _killing(RayPool, 1, lambda n: n == 12, kills))
    deaths = _spy_deaths(monkeypatch)
    out = tmp_path / "ray"
    _evolve(out, capsys, "--workers", "2", "--ray", "local")
    assert len(kills) == 1 and [d[0] for d in deaths] == [1]
    _assert_same_run(reference, out)
    assert _json(out / "manifest.json")["workers"]["backend"] == "ray"
    assert ray_cluster.is_initialized()  # a cluster the run did not start is left running
