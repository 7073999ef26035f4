"""Scaling one run over workers: measure what one worker and the run's own process cost, then predict.

    python scripts/scaling.py                   # EfficientNet-Lite0, CPPN, 1,000 classes, population 32
    python scripts/scaling.py --model lenet-mnist --encoding direct --population 10
    python scripts/scaling.py --cli --repeats 2 # the acceptance: `evodream evolve ... --workers 2` against
                                                # `--workers 1`, back to back, with the load average of each

A generation with N workers (generation-synchronous) costs

    T(N) = t_driver(B) + ceil(B / N) / r + t_comm        evals/s(N) = B / T(N)

  B          genomes per generation (--population)
  r          images/s one worker (one thread) renders and scores, chunk as a worker gets it
             (JSON -> from_json -> render -> classify)
  t_driver   the run's own process per generation while the workers wait: ask, to_json, gather, tell,
             and the checkpoint every --checkpoint-every generations; fitted as t0 + B * t1 from B and 8B
  t_comm     the rest of a measured 2-worker generation: pipes, wake-ups, the slower chunk

It measures evals/s with `--workers 1` (this process), 1 and 2 worker processes (steady state: the
first generation, which starts the workers, is left out), r from the workers' own timings, and
t_driver from ask/pack/tell without scoring, then prints predicted
evals/s for 8, 32 and 128 workers at the run's population, and with the population grown to keep
B/2 genomes per worker, where the driver's per-genome cost t1 caps the run at 1 / t1 evals/s.
Figures are printed, never asserted: on a shared machine, compare figures from one run of this script.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from evodream.config import EvolveConfig, validate
from evodream.evaluator import Evaluator
from evodream.evolve import build_scoring, seed_everything
from evodream.objectives.objective import Scores
from evodream.runs import write_json
from evodream.search import SEARCHES
from evodream.workers.local import LocalPool
from evodream.workers.pool import split
from evodream.workers.scorer import pack

ROOT = Path(__file__).resolve().parents[1]


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f} (5 min {five:.2f}) on {os.cpu_count()} cores"


def driver_seconds(search, encoding, scores: Scores, workers: int, generations: int) -> float:
    """Per generation: ask, pack into chunks, gather the replies, tell (no scoring: the workers' part)."""
    fitness, confidence = np.asarray(scores.fitness), np.asarray(scores.confidence)
    times = []
    for _ in range(generations):
        start = time.perf_counter()
        population = search.ask()
        size = len(population)
        genomes = None if isinstance(population, np.ndarray) else encoding.unstack(population)
        for a, b in split(size, workers):
            pack(encoding, population, genomes, a, b)
        reps = math.ceil(size / len(fitness))
        gathered = Scores(np.concatenate([fitness] * reps)[:size], np.concatenate([confidence] * reps)[:size])
        search.tell(population, gathered)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def checkpoint_seconds(search) -> float:
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        write_json(Path(folder) / "checkpoint.json", {"search": search.state_dict(defer=True)})
        return time.perf_counter() - start


def generation_seconds(search, evaluator, generations: int) -> tuple[float, float]:
    """Median wall seconds of a whole generation (ask, evaluate, tell), after one to start up, and
    (a pool) the median time its slowest worker spent scoring."""
    search.tell(population := search.ask(), evaluator(population))
    times, slowest = [], []
    for _ in range(generations):
        start = time.perf_counter()
        population = search.ask()
        search.tell(population, evaluator(population))
        times.append(time.perf_counter() - start)
        slowest.append(max(getattr(evaluator, "seconds", None) or [0.0]))
    return statistics.median(times), statistics.median(slowest)


def measure(args) -> None:
    config = validate(
        EvolveConfig(model=args.model, encoding=args.encoding, target=args.target, population=args.population,
                     threads=1, seed=args.seed, goal=None, max_evals=None, generations=1).resolved()
    )
    torch.set_num_threads(1)
    config, classifier, targets, encoding, objective = build_scoring(config)
    search = SEARCHES[config.algorithm](config, encoding, targets, seed_everything(config.seed))
    evaluator = Evaluator(encoding, objective)
    B = config.population
    print(f"{config.model}, {config.encoding}, {len(targets)} targets, population {B}, seed {config.seed}; "
          f"{load()}")
    for _ in range(args.warm):  # realistic genomes: CPPNs grow as they evolve
        search.step(evaluator)
    population = search.ask()
    scores = evaluator(population)
    search.tell(population, scores)

    t_in, _ = generation_seconds(search, evaluator, args.generations)
    measured = {}
    for n in (1, 2):
        pool = LocalPool(dataclasses.replace(config, workers=n), encoding)
        try:
            measured[n] = generation_seconds(search, pool, args.generations)
        finally:
            pool.close()
    r_full = B / measured[1][1]
    r_half = math.ceil(B / 2) / measured[2][1]

    t_b = driver_seconds(search, encoding, scores, 2, args.generations)
    if hasattr(search, "batch_size"):  # MAP-Elites: the same archive, 8x the children per generation
        search.batch_size = 8 * B
        t_8b = driver_seconds(search, encoding, scores, 2, max(3, args.generations // 4))
        search.batch_size = B
    else:  # (other searches: no per-genome slope measured)
        t_8b = t_b
    t1 = (t_8b - t_b) / (7 * B)
    t_ckpt = checkpoint_seconds(search)
    t0 = t_b - B * t1 + t_ckpt / config.checkpoint_every
    t_comm = max(0.0, measured[2][0] - (t_b + t_ckpt / config.checkpoint_every) - measured[2][1])
    print(f"r: one worker process, 1 thread: {r_full:.1f} img/s on chunks of {B}, {r_half:.1f} img/s on "
          f"chunks of {math.ceil(B / 2)}")
    print(f"t_driver: {t_b * 1e3:.1f} ms per generation at B={B}, {t_8b * 1e3:.1f} ms at B={8 * B}, "
          f"checkpoint {t_ckpt:.2f} s every {config.checkpoint_every} -> t0 {t0 * 1e3:.1f} ms, "
          f"t1 {t1 * 1e3:.3f} ms/genome")
    print(f"measured evals/s: --workers 1 (this process) {B / t_in:.1f}; "
          f"1 worker process {B / measured[1][0]:.1f}; 2 worker processes {B / measured[2][0]:.1f} "
          f"(x{t_in / measured[2][0]:.2f} over --workers 1); "
          f"t_comm {t_comm * 1e3:.1f} ms; {load()}")

    def predict(n: int, size: int) -> float:
        rate = r_full if n == 1 else r_half
        return size / (t0 + size * t1 + math.ceil(size / n) / rate + t_comm)

    b = math.ceil(B / 2)
    print(f"\nevals/s(N) = B / (t0 + B*t1 + ceil(B/N)/r + t_comm); r = {r_half:.1f} img/s, "
          f"t0 = {t0 * 1e3:.1f} ms, t1 = {t1 * 1e3:.3f} ms, t_comm = {t_comm * 1e3:.1f} ms")
    print(f"{'workers':>8} {'B':>6} {'evals/s':>9} {'B = N*' + str(b):>10} {'evals/s':>9} "
          f"{'driver share':>13}")
    for n in (1, 2, 8, 32, 128):
        grown = n * b
        share = (t0 + grown * t1) / (t0 + grown * t1 + b / r_half + t_comm)
        mark = f"   measured {B / measured[n][0]:.1f}" if n in measured else ""
        print(f"{n:>8} {B:>6} {predict(n, B):>9.1f} {grown:>10} {predict(n, grown):>9.1f} "
              f"{share:>12.0%}{mark}")
    if t1 > 0:
        crossing = max(0.0, (b / r_half + t_comm - t0) / (b * t1))
        print(f"driver-bound from about N = {crossing:.0f} workers ({b} genomes each): the run's process "
              f"then spends as long per generation as a worker; the ceiling is 1/t1 = {1 / t1:.0f} evals/s")


def cli_runs(args) -> None:
    """The acceptance measurement: the same CLI run with 1 and 2 workers, back to back."""
    base = [
        sys.executable,
        "-m",
        "evodream.cli",
        "evolve",
        "--model",
        args.model,
        "--encoding",
        args.encoding,
        "--target",
        args.target,
        "--goal",
        "none",
        "--population",
        str(args.population),
        "--max-evals",
        str(args.max_evals),
        "--threads",
        "1",
        "--seed",
        str(args.seed),
        "--quiet",
    ]
    rates: dict[int, list] = {1: [], 2: []}
    with tempfile.TemporaryDirectory(dir=ROOT / "runs" if (ROOT / "runs").is_dir() else None) as folder:
        for repeat in range(args.repeats):
            for workers in (1, 2):
                out = Path(folder) / f"w{workers}-{repeat}"
                before = load()
                start = time.perf_counter()
                subprocess.run(base + ["--workers", str(workers), "--out", str(out)], check=True, cwd=ROOT)
                process = time.perf_counter() - start
                summary = json.loads((out / "summary.json").read_text())
                rows = (out / "metrics.csv").read_text().splitlines()[1:]
                first, last = rows[0].split(","), rows[-1].split(",")  # evaluations = col 1, wall = col 3
                steady = (int(last[1]) - int(first[1])) / (float(last[3]) - float(first[3]))
                loop = summary["evaluations"] / summary["wall_seconds"]
                rates[workers].append((loop, steady))
                print(
                    f"workers {workers} #{repeat + 1}: {loop:.2f} evals/s over the run's loop, "
                    f"{steady:.2f} after "
                    f"generation 1, {process:.0f} s for the whole command; before: {before}, after: {load()}",
                    flush=True,
                )
    for kind, index in (("run's loop", 0), ("steady state", 1)):
        ratios = [two[index] / one[index] for one, two in zip(rates[1], rates[2])]
        print(f"2 workers / 1 worker ({kind}): " + ", ".join(f"x{r:.2f}" for r in ratios))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="efficientnet-lite0")
    parser.add_argument("--encoding", default="cppn")
    parser.add_argument("--target", default="all")
    parser.add_argument("--population", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--warm", type=int, default=10, help="generations evolved before measuring (default 10)"
    )
    parser.add_argument(
        "--generations", type=int, default=12, help="generations timed per figure (default 12)"
    )
    parser.add_argument(
        "--repeats", type=int, default=5, help="timed chunks per worker rate; with --cli, repeats"
    )
    parser.add_argument("--cli", action="store_true", help="run the acceptance CLI runs instead (see above)")
    parser.add_argument(
        "--max-evals", type=int, default=2000, help="with --cli: evaluations per run (default 2000)"
    )
    args = parser.parse_args()
    cli_runs(args) if args.cli else measure(args)


if __name__ == "__main__":
    main()
