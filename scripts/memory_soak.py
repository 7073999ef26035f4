"""Memory soak: run MNIST MAP-Elites for a fixed wall time and print the process's RSS over it.

A run of hours must not grow without bound (archives, metrics, checkpoints, progress state).
This runs ``evolve()`` with ``goal`` off, so it keeps working after every class is fooled, and a
sampler thread reads the resident set size every few seconds; it prints RSS at the start (model
loaded, before generation 1), and at 10% steps of the run, then start / middle / end and the growth.

    python scripts/memory_soak.py --minutes 60 --threads 1
    python scripts/memory_soak.py --minutes 30 --encoding cppn --out runs/soak-cppn
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path


def rss_mib() -> float:
    """Resident set size of this process in MiB (psutil when installed, else /proc)."""
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2 ** 20
    except ImportError:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("cannot read RSS: install psutil")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="wall time of the run (default 60)")
    parser.add_argument("--encoding", default="direct", choices=("direct", "cppn"))
    parser.add_argument("--recipe", default="fast", choices=("fast", "paper"))
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--every", type=float, default=5.0, help="seconds between RSS samples (default 5)")
    parser.add_argument("--out", help="run folder (default runs/soak-<time>)")
    args = parser.parse_args()

    import torch

    from evodream import EvolveConfig, evolve

    torch.set_num_threads(args.threads)
    out = args.out or f"runs/soak-{time.strftime('%Y%m%d-%H%M%S')}-{args.encoding}"
    config = EvolveConfig(model="lenet-mnist", encoding=args.encoding, recipe=args.recipe, target="all",
                          seed=args.seed, goal=None, max_evals=None, max_seconds=args.minutes * 60,
                          threads=args.threads)
    samples: list[tuple[float, float]] = []
    done = threading.Event()
    started = time.perf_counter()

    def sample() -> None:
        while not done.wait(args.every):
            samples.append((time.perf_counter() - started, rss_mib()))

    import evodream.classifiers  # noqa: F401  (torch and the package imported before the first sample)

    samples.append((0.0, rss_mib()))
    print(f"start: RSS {samples[0][1]:.1f} MiB; running {args.minutes:g} min of MNIST MAP-Elites "
          f"({args.encoding}, {args.recipe} recipe, {args.threads} thread(s)) into {out}", flush=True)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    result = evolve(config, out, progress=False)
    done.set()
    sampler.join()
    samples.append((time.perf_counter() - started, rss_mib()))

    total = samples[-1][0]
    print(f"ran {total / 60:.1f} min: {result.generations} generations, {result.evaluations} evaluations "
          f"({result.evaluations / max(result.wall_seconds, 1e-9):.0f}/s), stop: {result.stop_reason}")
    # The first sample after generation 1 is the honest baseline: the model and first batch are in.
    warm = next((rss for t, rss in samples[1:] if t > 0), samples[0][1])
    marks = [min(samples, key=lambda s: abs(s[0] - f * total)) for f in [i / 10 for i in range(11)]]
    for t, rss in marks:
        print(f"  t={t / 60:6.1f} min  RSS {rss:8.1f} MiB")
    middle = min(samples, key=lambda s: abs(s[0] - total / 2))
    last = samples[-2] if len(samples) > 2 else samples[-1]  # the last one taken while generations ran
    print(f"RSS start {samples[0][1]:.1f} MiB, first sample in the run {warm:.1f} MiB, "
          f"middle ({middle[0] / 60:.1f} min) {middle[1]:.1f} MiB, last in the run ({last[0] / 60:.1f} min) "
          f"{last[1]:.1f} MiB, end (elites written) {samples[-1][1]:.1f} MiB; growth first->last in the run "
          f"{last[1] - warm:+.1f} MiB, peak {max(r for _, r in samples):.1f} MiB")
    metrics = Path(out) / "metrics.csv"
    print(f"metrics.csv {metrics.stat().st_size / 2 ** 20:.1f} MiB, checkpoint.json "
          f"{(Path(out) / 'checkpoint.json').stat().st_size / 2 ** 10:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
