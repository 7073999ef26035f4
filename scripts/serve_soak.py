#!/usr/bin/env python
"""Soak `evodream serve`: start, stop and resume runs every few seconds for a fixed time, then check.

    python scripts/serve_soak.py --minutes 20            # loopback only; runs in runs/serve-soak-<time>

It serves a fresh runs folder on 127.0.0.1 (a free port), and from one seeded random stream of
actions starts runs (LeNet, every method, budgets of 500-200,000 evaluations, goal on or off),
stops them, resumes stopped ones, lists runs and opens live event streams. Every --sample seconds
it records the server's resident memory, open file descriptors and live child processes. At the
end it stops everything, sends the server SIGTERM and checks: no process it started is left, and
every run folder is valid (manifest, metrics rows 1..n without gaps, checkpoint covering the
metrics, finished runs with one elite per target, a few stopped ones resumed to a finish).
Prints the figures; exit 1 when a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def descendants(pid: int) -> list[int]:
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        kids = [p for p, pp in parents.items() if pp == parent]
        found += kids
        frontier += kids
    return found


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


class Client:
    def __init__(self, url: str):
        self.url = url

    def call(self, method: str, path: str, body=None, timeout: float = 30) -> tuple[int, dict]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"} if data else {},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def events(self, run_id: str, seconds: float) -> int:
        """Read a run's event stream for `seconds`, then hang up; returns the updates seen."""
        updates, end = 0, time.time() + seconds
        try:
            with urllib.request.urlopen(f"{self.url}/api/events/{run_id}", timeout=seconds + 5) as stream:
                while time.time() < end:
                    line = stream.readline()
                    if not line:
                        break
                    updates += line.startswith(b"event: update")
        except (OSError, urllib.error.URLError):
            pass
        return updates


def check_folders(runs: Path, resume_some: int) -> tuple[int, list[str]]:
    """(folders checked, problems)."""
    sys.path.insert(0, str(ROOT))
    from evodream.evolve import resume
    from evodream.runs import RunFolder

    problems, checked, resumed = [], 0, 0
    for path in sorted(p for p in runs.iterdir() if p.is_dir()):
        checked += 1
        try:
            run = RunFolder.open(path)
            manifest = run.manifest
            rows = run.read_metrics()
            if [int(r["generation"]) for r in rows] != list(range(1, len(rows) + 1)):
                problems.append(f"{path.name}: metrics generations are not 1..{len(rows)}")
            checkpoint = run.load_checkpoint()
            if checkpoint is not None and (path / "metrics.csv").stat().st_size < checkpoint["metrics_bytes"]:
                problems.append(f"{path.name}: metrics.csv shorter than its checkpoint covers")
            if (path / "summary.json").exists():
                elites = list((path / "elites").glob("*.png"))
                if len(elites) != len(manifest["targets"]):
                    problems.append(
                        f"{path.name}: finished with {len(elites)} elites for "
                        f"{len(manifest['targets'])} targets"
                    )
            elif manifest["kind"] == "evolve" and resumed < resume_some and checkpoint is not None:
                done = checkpoint["search"]["evaluations"]
                result = resume(path, {"max_evals": done + 200, "goal": None}, progress=False)
                resumed += 1
                if result.evaluations < done + 200 or not (path / "summary.json").exists():
                    problems.append(f"{path.name}: resume ended at {result.evaluations} evaluations")
                print(f"  resumed {path.name} from {done} to {result.evaluations} evaluations: finished")
        except Exception as exc:  # every problem is a finding, not a crash of the soak
            problems.append(f"{path.name}: {exc.__class__.__name__}: {exc}")
    return checked, problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--every", type=float, default=3.0, help="seconds between actions (default 3)")
    parser.add_argument(
        "--sample", type=float, default=30.0, help="seconds between measurements (default 30)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-running", type=int, default=2)
    parser.add_argument("--runs", type=Path, help="runs folder to create (default runs/serve-soak-<time>)")
    args = parser.parse_args()
    runs = args.runs or ROOT / "runs" / f"serve-soak-{time.strftime('%Y%m%d-%H%M%S')}"
    if runs.exists() and any(runs.iterdir()):
        print(f"serve_soak: {runs} is not empty: give a new --runs", file=sys.stderr)
        return 2
    rng = random.Random(args.seed)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "evodream.cli",
            "serve",
            "--runs",
            str(runs),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--max-running",
            str(args.max_running),
            "--max-queued",
            "4",
        ],
        env=env,
    )
    client = Client(f"http://127.0.0.1:{port}")
    for _ in range(200):
        try:
            client.call("GET", "/api/options", timeout=2)
            break
        except OSError:
            time.sleep(0.3)
    before = descendants(server.pid)
    print(
        f"serving {runs} on 127.0.0.1:{port} (server pid {server.pid}); "
        f"child processes at start: {len(before)}"
    )
    counts = {k: 0 for k in ("started", "queued", "refused (queue full)", "stopped", "resumed", "streams")}
    errors, samples, seen = [], [], set()
    started = time.time()
    deadline = started + args.minutes * 60
    next_sample = started
    while time.time() < deadline:
        if time.time() >= next_sample:
            samples.append(
                (time.time() - started, rss_mib(server.pid), fds(server.pid), len(descendants(server.pid)))
            )
            print(
                f"  t={samples[-1][0]:6.0f} s  server RSS {samples[-1][1]:7.1f} MiB  "
                f"fds {samples[-1][2]:3d}  "
                f"child processes {samples[-1][3]}",
                flush=True,
            )
            next_sample += args.sample
        status, listing = client.call("GET", "/api/runs")
        runs_now = listing.get("runs", [])
        seen.update(r["id"] for r in runs_now)
        active = [r["id"] for r in runs_now if r["state"] in ("running", "queued")]
        stopped = [r["id"] for r in runs_now if r.get("resumable")]
        action = rng.choices(["start", "stop", "resume", "stream"], weights=[4, 3, 2, 1])[0]
        if action == "start" or (action == "stop" and not active) or (action == "resume" and not stopped):
            body = {
                "model": "lenet-mnist",
                "targets": rng.sample([str(d) for d in range(10)], rng.randint(1, 3)),
                "method": rng.choice(["map-elites-cppn", "map-elites-direct", "ga-cppn", "ascent"]),
                "budget": rng.choice([500, 5_000, 50_000, 200_000]),
                "seed": rng.randint(0, 99),
                "goal": rng.choice([None, 0.9999]),
            }
            status, reply = client.call("POST", "/api/runs", body)
            if status == 202:
                counts["started"] += 1
                counts["queued"] += reply["state"] == "queued"
            elif status == 429:
                counts["refused (queue full)"] += 1
            else:
                errors.append(f"start {body}: {status} {reply}")
        elif action == "stop":
            status, reply = client.call("POST", f"/api/stop/{rng.choice(active)}")
            counts["stopped"] += status == 200
            if status not in (200, 409):  # 409: it ended by itself meanwhile
                errors.append(f"stop: {status} {reply}")
        elif action == "resume":
            status, reply = client.call("POST", f"/api/resume/{rng.choice(stopped)}")
            counts["resumed"] += status == 202
            if status not in (202, 409, 429):
                errors.append(f"resume: {status} {reply}")
        elif runs_now:
            counts["streams"] += client.events(rng.choice(runs_now)["id"], 2.0) > 0
        time.sleep(args.every)
    failed = [r for r in client.call("GET", "/api/runs")[1]["runs"] if r["state"] == "failed"]
    for run in client.call("GET", "/api/runs")[1]["runs"]:
        if run["state"] in ("running", "queued"):
            client.call("POST", f"/api/stop/{run['id']}")
    time.sleep(3)
    during = descendants(server.pid)
    samples.append((time.time() - started, rss_mib(server.pid), fds(server.pid), len(during)))
    server.send_signal(signal.SIGTERM)
    code = server.wait(timeout=60)
    time.sleep(2)
    left = [pid for pid in set(during) | set(before) if Path(f"/proc/{pid}").exists()]
    print(f"\nactions over {args.minutes:g} min: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    print(
        f"server exit code {code}; child processes at start {len(before)}, after stopping all runs "
        f"{len(during)} (multiprocessing's resource tracker), left after the server ended: {len(left)}"
    )
    rss = [s[1] for s in samples]
    half = max(1, len(rss) // 4)
    print(
        f"server RSS MiB: start {rss[0]:.1f}, max {max(rss):.1f}, end {rss[-1]:.1f}; "
        "median of the first quarter "
        f"{statistics.median(rss[:half]):.1f}, of the last quarter {statistics.median(rss[-half:]):.1f}; "
        f"fds start {samples[0][2]}, end {samples[-1][2]}"
    )
    checked, problems = check_folders(runs, resume_some=3)
    print(f"run folders checked: {checked} (runs seen by the server: {len(seen)}); problems: {len(problems)}")
    for problem in problems + errors + [f"failed run {r['id']}: {r['message']}" for r in failed]:
        print("  PROBLEM", problem)
    return 1 if problems or errors or failed or left else 0


if __name__ == "__main__":
    sys.exit(main())
