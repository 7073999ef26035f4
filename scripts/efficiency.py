"""Sample efficiency of evodream's recipes: evaluations to fool a classifier, method by method.

    python scripts/efficiency.py --quick            # minutes to an hour on one core (see --help)
    python scripts/efficiency.py                    # the issue's full budgets: many core-days on CPU

Three parts, each method side by side at the same budget and seeds:
  (a) EfficientNet-Lite0, all 1,000 classes in one run: median best confidence over the classes at
      each of --budgets-a evaluations (default 20k, 50k, 200k); one run per seed of --seeds-a
      (default: --seed), and with several, the median over seeds beside each seed's figure (runs
      of one recipe differ by seed up to twofold).
  (b) EfficientNet-Lite0, --classes classes drawn by numpy default_rng(--class-seed).choice(1000,
      20, replace=False) (the first N of them; default 20 classes, seed 0: 905 window shade,
      303 long-horned beetle, 265 toy poodle, 935 mashed potato, 502 clog, ...), one
      single-target run per class and method, stopped at 99% or --cap-b
      evaluations (default 50k): median evaluations to >= 99% (unreached counts as above the cap)
      and how many reached it (the median is over the runs made; see --report-only).
  (c) LeNet on MNIST, all 10 digits in one run per seed (--seeds-c, default 0-4): evaluations until
      all 10 hold >= 99.99% (median over seeds; the fast recipe must stay <= 5k).
Methods (recipes): paper (Nguyen et al.; cppn on ImageNet, direct on MNIST), fast (direct pixels),
fast-cppn (and with population 32), paper-cppn-pop500, spectral-cma (the lowres-cma recipe as it is
today: CMA-ES over 64x64 1/f-weighted cosines, 32 children per generation on ImageNet, 16 on MNIST;
spectral-cma-pop16: 16 on ImageNet too, as before), lowres-cma (the same over a 64x64 pixel-basis
grid, and lowres-cma-g16 over a 16x16 one: the recipe before), cppn-cma, cross-cppn (the paper's
recipe on CPPNs with --crossover-rate 0.1 and its weight steps halved from generation 500;
cross-cppn-fixed: never halved, the default before), paper-cppn-cross20 (crossing at 0.2), auto (what a
user gets by default: on ImageNet cross-cppn in part a and spectral-cma in part b, so the defaults
leave it out; on MNIST fast).

Every run is an ordinary run folder under OUT/<part>/<method>/<class or seed>; a run that already
holds summary.json is read, not rerun, one that was cut short is resumed from its checkpoint, so an
interrupted benchmark continues where it stopped, and runs made with `evodream evolve --out` in
that layout count. `--jobs N` makes N runs at once, each an `evodream evolve` process of its own.
Writes OUT/efficiency.md (tables), OUT/efficiency.json and OUT/efficiency.png (curves), and prints
the tables.
"""
from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from evodream.config import EvolveConfig, from_mapping
from evodream.errors import EvodreamError
from evodream.evolve import evolve, resume

METHODS = {
    "paper": {"recipe": "paper"},
    "fast": {"recipe": "fast"},
    "fast-cppn": {"recipe": "fast-cppn"},
    "fast-cppn-pop32": {"recipe": "fast-cppn", "population": 32},
    "paper-cppn-pop500": {"recipe": "paper-cppn", "population": 500},
    "spectral-cma": {"recipe": "lowres-cma", "encoding": "spectral"},  # what lowres-cma means today
    "spectral-cma-pop16": {"recipe": "lowres-cma", "encoding": "spectral", "population": 16},  # before
    # ... and before: the pixel basis, on a 64x64 and a 16x16 grid, at the 16 children it had then
    "lowres-cma": {"recipe": "lowres-cma", "encoding": "lowres", "population": 16},
    "lowres-cma-g16": {"recipe": "lowres-cma", "encoding": "lowres", "lowres_grid": 16, "population": 16},
    "cppn-cma": {"recipe": "cppn-cma"},
    # the paper's recipe with a tenth (a fifth) of the children laying another elite's pattern over
    # theirs; "fixed": the default before its weight steps were halved from generation 500
    "cross-cppn": {"recipe": "cross-cppn"},
    "cross-cppn-fixed": {"recipe": "cross-cppn", "halve_every": 0},
    "paper-cppn-cross20": {"recipe": "paper-cppn", "crossover_rate": 0.2},
    "auto": {"recipe": "auto"},
}
IMAGENET_PAPER = {"encoding": "cppn"}  # the paper's ImageNet runs evolved CPPNs
# The goals for the default methods, drawn on the curves so that a miss shows by how much: (a) the
# 1,000-class median best confidence at a budget; (b) the median class at 99% by 20k evaluations.
GOALS = {"a": {50_000: 0.30, 200_000: 0.88}, "b": {20_000: 0.99}}
# Each method keeps one colour in both panels and in every plot, whichever methods a run names.
COLOURS = {"paper": "C0", "fast-cppn": "C1", "fast-cppn-pop32": "C2", "paper-cppn-pop500": "C3",
           "cppn-cma": "C4", "fast": "C5", "spectral-cma": "C6", "lowres-cma": "C7", "lowres-cma-g16": "C8",
           "spectral-cma-pop16": "C9", "paper-cppn-cross20": "goldenrod", "cross-cppn": "crimson",
           "cross-cppn-fixed": "slateblue",
           "auto": "black"}
# Folder names of runs made by hand before this script named its methods (kept readable).
ALIASES = {"fast": ("fast-direct",)}


def method_settings(method: str, imagenet: bool) -> dict:
    settings = dict(METHODS[method])
    if method == "paper" and imagenet:
        settings.update(IMAGENET_PAPER)
    return settings


def run_folder(root: Path, method: str, name: str) -> Path:
    for alias in (method, *ALIASES.get(method, ())):
        if (root / alias / name / "summary.json").exists():
            return root / alias / name
    return root / method / name


RESUMED = ("max_evals", "goal")  # what a resumed run takes from the benchmark; the rest is its own


class NotRun(Exception):
    """A run the table needs is not there yet (--report-only: never made; --jobs: not made yet)."""


class Runs:
    """How the parts come by their runs: made here, one after another ("make"); only read, a
    missing one raising NotRun ("report"); or listed for --jobs to make several at once ("plan").
    A finished run (summary.json) is always read, never made again."""

    def __init__(self, mode: str, log):
        self.mode, self.log = mode, log
        self.planned: list[tuple[Path, dict]] = []

    def ensure(self, folder: Path, settings: dict) -> Path:
        if (folder / "summary.json").exists():
            return folder
        if self.mode == "report":
            raise NotRun(str(folder))
        if self.mode == "plan":
            if all(folder != planned for planned, _ in self.planned):  # a method named twice: one run
                self.planned.append((folder, settings))
            raise NotRun(str(folder))
        return make_run(folder, settings, self.log)


def begun(folder: Path) -> bool:
    """Whether a run was started in `folder` (its manifest written): it is resumed, not started again."""
    return (folder / "manifest.json").exists()


def make_run(folder: Path, settings: dict, log) -> Path:
    """Make the run here; an interrupted one is resumed (from its last checkpoint, to the budget
    asked for now), so an hour-long run cut short is not lost."""
    if begun(folder):
        log(f"resume {folder}")
        resume(folder, {key: settings[key] for key in RESUMED}, progress=False)
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    log(f"run {folder}: {settings}")
    evolve(from_mapping(settings, base=EvolveConfig(), source="benchmark"), folder, progress=False)
    return folder


def evolve_command(folder: Path, settings: dict) -> list[str]:
    """The `evodream evolve` command that makes (or resumes) the run in a process of its own."""
    if begun(folder):
        flags, settings = ["--resume", str(folder)], {key: settings[key] for key in RESUMED}
    else:
        flags = ["--out", str(folder)]
    for key, value in settings.items():
        flags += [f"--{key.replace('_', '-')}", "none" if value is None else str(value)]
    return [sys.executable, "-m", "evodream.cli", "evolve", "--quiet", *flags]


def make_in_parallel(planned: list[tuple[Path, dict]], jobs: int, log) -> list[str]:
    """Make the planned runs, `jobs` at a time, each an `evodream evolve` process (a crash takes no
    other run with it); the errors of those that failed, each in one line."""
    waiting, running, errors = list(planned), {}, []
    try:
        while waiting or running:
            while waiting and len(running) < jobs:
                folder, settings = waiting.pop(0)
                folder.parent.mkdir(parents=True, exist_ok=True)
                log(f"{'resume' if begun(folder) else 'run'} {folder}: {settings}")
                stderr = tempfile.TemporaryFile()
                running[subprocess.Popen(evolve_command(folder, settings), stdout=subprocess.DEVNULL,
                                         stderr=stderr)] = (folder, stderr)
            time.sleep(0.2)
            for process in [p for p in running if p.poll() is not None]:
                folder, stderr = running.pop(process)
                stderr.seek(0)
                lines = stderr.read().decode(errors="replace").strip().splitlines()
                stderr.close()
                if process.returncode != 0:
                    errors.append(f"{folder}: {lines[-1] if lines else f'exit code {process.returncode}'}")
                log(f"{'failed' if process.returncode else 'done'} {folder}")
    finally:  # interrupted: stop the runs still going (each keeps its last checkpoint to resume from)
        for process in running:
            process.terminate()
            process.wait()
    return errors


def metrics(folder: Path) -> list[dict]:
    with open(folder / "metrics.csv", newline="") as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def at_budget(rows: list[dict], budget: int, key: str = "median") -> float | None:
    """The value at the first generation that reached the budget (None if the run stopped before)."""
    for row in rows:
        if row["evaluations"] >= budget:
            return row[key]
    return None


def first_reach(folder: Path, threshold: str) -> list:
    data = json.loads((folder / "reached.json").read_text())
    return data["first_evaluation"][threshold]


def median_with_misses(values: list, cap: int) -> str:
    """Median of evaluation counts where None (never reached) counts as above the cap."""
    if not values:
        return "-"
    keyed = sorted(np.inf if v is None else v for v in values)
    median = float(np.median(keyed))
    return f"> {cap:,}" if not np.isfinite(median) else f"{median:,.0f}"


def part_a(args, runs: Runs) -> dict:
    """Per method: each --seeds-a run's median best confidence at each budget, and its curve."""
    out, results = Path(args.out) / "a", {}
    top = max(args.budgets_a)
    for method in args.methods_a:
        per_seed, curves = {}, {}
        for seed in args.seeds_a:
            settings = {**method_settings(method, True), "model": args.model, "target": "all", "goal": None,
                        "max_evals": top, "seed": seed, "threads": args.threads, "checkpoint_every": 1000}
            # (the --seed run keeps the folder name of the days when part a ran one seed)
            name = "all" if seed == args.seed else f"all-seed{seed}"
            try:
                rows = metrics(runs.ensure(run_folder(out, method, name), settings))
            except NotRun:
                continue
            per_seed[seed] = {b: at_budget(rows, b) for b in args.budgets_a}
            curves[seed] = [(r["evaluations"], r["median"]) for r in rows]
        if per_seed:
            results[method] = {"per_seed": per_seed, "curves": curves}
    return results


def part_b(args, runs: Runs) -> dict:
    out, results = Path(args.out) / "b", {}
    # The first N of default_rng(seed).choice(1000, max(N, 20)): --quick's classes are the full run's
    # first ones.
    draw = np.random.default_rng(args.class_seed).choice(1000, max(args.classes, 20), replace=False)
    classes = draw[:args.classes].tolist()
    for method in args.methods_b:
        reached, curves, finals = [], [], []
        for target in classes:
            settings = {**method_settings(method, True), "model": args.model, "target": str(target),
                        "goal": 0.99, "max_evals": args.cap_b, "seed": args.seed, "threads": args.threads}
            try:
                folder = runs.ensure(run_folder(out, method, str(target)), settings)
            except NotRun:
                reached.append("not run")
                continue
            reached.append(first_reach(folder, "0.99")[0])
            curves.append([(r["evaluations"], r["best"]) for r in metrics(folder)])
            finals.append(curves[-1][-1])
        done = [v for v in reached if v != "not run"]
        if not done:
            continue
        results[method] = {"classes": classes, "evaluations_to_99": reached, "curves": curves,
                           "finals": finals,
                           "median": median_with_misses(done, args.cap_b), "runs": len(done),
                           "reached": sum(v is not None for v in done)}
    return results


def part_c(args, runs: Runs) -> dict:
    out, results = Path(args.out) / "c", {}
    for method in args.methods_c:
        seeds, counts = [], []
        for seed in args.seeds_c:
            settings = {**method_settings(method, False), "model": "lenet-mnist", "target": "all",
                        "goal": 0.9999, "max_evals": args.cap_c, "seed": seed, "threads": args.threads}
            try:
                folder = runs.ensure(run_folder(out, method, f"seed{seed}"), settings)
            except NotRun:
                continue
            firsts = first_reach(folder, "0.9999")
            seeds.append(seed)
            counts.append(None if None in firsts else max(firsts))
        if not counts:
            continue
        results[method] = {"seeds": seeds, "evaluations_all_9999": counts,
                           "median": median_with_misses(counts, args.cap_c),
                           "reached": sum(v is not None for v in counts)}
    return results


def tables(args, results: dict) -> str:
    lines = [f"Model {args.model} (parts a, b), lenet-mnist (part c); {args.threads} thread(s); "
             f"run seed {args.seed}."]
    if "a" in results:
        lines += ["", f"(a) every class of {args.model} in one run: median best confidence at each budget "
                      f"(run seeds {args.seeds_a}; with several, the median over the seeds that reached "
                      "the budget)", "",
                  "| method | " + " | ".join(f"{b:,} evals" for b in args.budgets_a) + " |",
                  "|---|" + "---|" * len(args.budgets_a)]
        for method, r in results["a"].items():
            cells = []
            for b in args.budgets_a:
                reached = [(seed, v[b]) for seed, v in r["per_seed"].items() if v[b] is not None]
                if not reached:
                    cells.append("-")
                    continue
                seeds, values = zip(*reached)
                cell = f"{np.median(values) * 100:.2f}%"
                if len(r["per_seed"]) > 1:  # the median over seeds, then each seed's figure
                    cell += (f" (seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}: "
                             + " / ".join(f"{v * 100:.2f}" for v in values) + ")")
                cells.append(cell)
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
    if "b" in results:
        any_b = next(iter(results["b"].values()))
        lines += ["", f"(b) single-target runs, {len(any_b['classes'])} classes from "
                      f"default_rng({args.class_seed}) {any_b['classes']}, cap {args.cap_b:,}: "
                      "evaluations to >= 99%", "",
                  "| method | median | reached | per class | best confidence at the end, per run made |",
                  "|---|---|---|---|---|"]
        for method, r in results["b"].items():
            per = ", ".join("-" if v is None else v if isinstance(v, str) else f"{v:,}"
                            for v in r["evaluations_to_99"])
            final = ", ".join(f"{c * 100:.1f}% at {e:,.0f}" for e, c in r["finals"])
            lines.append(f"| {method} | {r['median']} | {r['reached']}/{r['runs']} | {per} | {final} |")
    if "c" in results:
        lines += ["", f"(c) MNIST, all 10 digits >= 99.99%, seeds {args.seeds_c}, cap {args.cap_c:,}", "",
                  "| method | median evaluations | reached | per seed |", "|---|---|---|---|"]
        for method, r in results["c"].items():
            per = ", ".join("-" if v is None else f"{v:,}" for v in r["evaluations_all_9999"])
            lines.append(f"| {method} | {r['median']} | {r['reached']}/{len(r['seeds'])} | {per} |")
    return "\n".join(lines) + "\n"


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parts = [p for p in ("a", "b") if p in results]
    if not parts:
        return
    # part (b)'s curves fill the plot's corners, so its legend sits to the right of it
    width = 6 * len(parts) + (1.8 if "b" in parts else 0)
    fig, axes = plt.subplots(1, len(parts), figsize=(width, 4), squeeze=False)
    for ax, part in zip(axes[0], parts):
        for method, r in results[part].items():
            if part == "a":  # one line per seed, in the method's colour
                for i, curve in enumerate(r["curves"].values()):
                    x, y = zip(*curve) if curve else ((), ())
                    ax.plot(x, y, color=COLOURS[method], label=None if i else method,
                            linewidth=1.5 if i == 0 else 0.8)
            else:  # median over classes of the best confidence so far, on a common grid
                top = max(c[-1][0] for c in r["curves"] if c)
                grid = np.linspace(0, top, 200)
                ys = [np.interp(grid, *zip(*c),
                                right=c[-1][1]) if c else np.zeros_like(grid) for c in r["curves"]]
                ax.plot(grid, np.median(ys, axis=0), color=COLOURS[method], label=method)
        curves = [c for r in results[part].values()
                  for c in (r["curves"].values() if part == "a" else r["curves"]) if c]
        top = max((c[-1][0] for c in curves), default=0)
        goals = [(x, y) for x, y in GOALS[part].items() if x <= top]
        if goals:
            ax.plot(*zip(*goals), "kx", markersize=9, label="goal for the default")
        ax.set_xlabel("evaluations")
        ax.set_ylabel("median best confidence" + (" over all classes" if part == "a" else " over classes"))
        ax.set_title("(a) all classes in one run (thin: other seeds)" if part == "a"
                     else "(b) one class per run")
        ax.set_ylim(0, 1)
        if part == "b":
            ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
        else:
            ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def parse_args(argv=None):
    listed = lambda kind: lambda text: [kind(t) for t in text.split(",") if t]  # noqa: E731
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="runs/efficiency",
                   help="folder of the runs and the report; runs already there are read or resumed "
                        "(default: runs/efficiency)")
    p.add_argument("--parts", type=listed(str), default=["a", "b", "c"],
                   help="which parts to run, comma-separated (default: a,b,c)")
    p.add_argument("--model", default="efficientnet-lite0",
                   help="the ImageNet model of parts a and b (default: efficientnet-lite0)")
    p.add_argument("--threads", type=int, default=1, help="threads per run (default: 1)")
    p.add_argument("--seed", type=int, default=0, help="run seed for parts a and b (default: 0)")
    p.add_argument("--seeds-a", type=listed(int), default=None,
                   help="part a: run each method with each of these seeds (default: --seed alone); the "
                        "table gives the median over seeds and each seed's figure")
    p.add_argument("--methods-a", type=listed(str),
                   default=["cross-cppn", "paper", "fast", "fast-cppn", "cppn-cma"],
                   help="part a's methods (default: cross-cppn,paper,fast,fast-cppn,cppn-cma)")
    p.add_argument("--budgets-a", type=listed(int), default=[20_000, 50_000, 200_000],
                   help="part a: report the median at these evaluation counts; runs go to the largest "
                        "(default: 20000,50000,200000)")
    p.add_argument("--methods-b", type=listed(str), default=["paper", "fast", "fast-cppn", "spectral-cma",
                                                             "lowres-cma", "cppn-cma"],
                   help="part b's methods (default: paper,fast,fast-cppn,spectral-cma,lowres-cma,cppn-cma)")
    p.add_argument("--classes", type=int, default=20,
                   help="part b: how many classes of the draw, one run each per method (default: 20)")
    p.add_argument("--class-seed", type=int, default=0,
                   help="part b: the seed of numpy's default_rng that draws the classes (default: 0)")
    p.add_argument("--cap-b", type=int, default=50_000,
                   help="part b: evaluations a class's run may use to reach 99%% (default: 50000)")
    p.add_argument("--methods-c", type=listed(str), default=["paper", "fast", "spectral-cma", "lowres-cma"],
                   help="part c's methods (default: paper,fast,spectral-cma,lowres-cma)")
    p.add_argument("--seeds-c", type=listed(int), default=[0, 1, 2, 3, 4],
                   help="part c: one run per seed (default: 0,1,2,3,4)")
    p.add_argument("--cap-c", type=int, default=100_000,
                   help="part c: evaluations a run may use to get all ten digits to 99.99%% "
                        "(default: 100000)")
    p.add_argument("--jobs", type=int, default=1,
                   help="make this many runs at once, each an `evodream evolve` process of --threads "
                        "threads (default: 1, one after another in this process)")
    p.add_argument("--quick", action="store_true",
                   help="part a at 2,000 evaluations; part b 3 classes, cap 5,000; part c in full")
    p.add_argument("--report-only", action="store_true",
                   help="run nothing: tabulate the finished runs under --out "
                        "(missing ones show as 'not run')")
    args = p.parse_args(argv)
    for method in args.methods_a + args.methods_b + args.methods_c:
        if method not in METHODS:
            p.error(f"unknown method {method!r}: choose from {', '.join(METHODS)}")
    if args.jobs < 1:
        p.error(f"--jobs must be at least 1, not {args.jobs}")
    if args.seeds_a is None:
        args.seeds_a = [args.seed]
    if args.quick:
        args.budgets_a, args.classes, args.cap_b = [1_000, 2_000], 3, 5_000
    return args


def gather(args, runs: Runs) -> dict:
    results = {}
    for part, function in (("c", part_c), ("b", part_b), ("a", part_a)):  # cheapest first
        if part in args.parts:
            results[part] = function(args, runs)
    return {part: methods for part, methods in results.items() if methods}  # --report-only: made ones


def main(argv=None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = lambda text: print(text, flush=True)  # noqa: E731
    mode = "report" if args.report_only else "plan" if args.jobs > 1 else "make"
    runs = Runs(mode, log)
    try:
        results = gather(args, runs)
    except EvodreamError as exc:  # a run made here that could not start: bad model, folder, ...
        print(f"efficiency.py: error: {exc}", file=sys.stderr)
        return 2
    if runs.planned:
        try:
            errors = make_in_parallel(runs.planned, args.jobs, log)
        except KeyboardInterrupt:
            print("efficiency.py: interrupted; the same command resumes the runs cut short", file=sys.stderr)
            return 130
        for error in errors:
            print(f"efficiency.py: error: run {error}", file=sys.stderr)
        if errors:
            return 1
        results = gather(args, Runs("report", log))
    if not results:  # (and an earlier report is left as it was)
        print(f"efficiency.py: error: {out} holds none of the runs asked for; run without --report-only "
              "first", file=sys.stderr)
        return 2
    text = tables(args, results)
    (out / "efficiency.md").write_text(text)
    (out / "efficiency.json").write_text(json.dumps({"args": vars(args), "results": results}, default=str))
    plot(results, out / "efficiency.png")
    print(text)
    print(f"wrote {out / 'efficiency.md'}, {out / 'efficiency.json'}, {out / 'efficiency.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
