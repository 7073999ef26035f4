"""Throughput of evodream's searches against the classifier's own limit, and against textbook DEAP.

    python scripts/bench.py                 # LeNet cases (about a minute)
    python scripts/bench.py --imagenet      # also MAP-Elites CPPN on EfficientNet-Lite0 at 224 px,
                                            # serial and with --overlap (a few minutes)
    python scripts/bench.py --imagenet-batch 200   # the same at batch 200 (torch's column needs ~8 GB)
    python scripts/bench.py --pyribs        # also evaluations to fool LeNet on all 10 digits, against pyribs
    python scripts/bench.py --all           # every case above

Each model's cases start with its engine table: the bare forward pass (probabilities of random
images) in images/s under torch and under ONNX Runtime, and their ratio, by batch size.

For each throughput case it prints evaluations/s of the whole search (render, mutate, score,
archive; the classifier on --engine, default auto = ONNX Runtime where it loads), the bare ONNX
Runtime forward pass of the same model at the same batch size measured in the same process (in
alternating slices, the best slice of each), their ratio (the search's overhead), torch's bare
forward pass beside it, and peak memory. The bare pass is the classifier's own call (images in,
probabilities out, queries counted); beside it, ONNX Runtime's session.run alone on a ready
array, and the search's ratio to that. Without onnxruntime the ratio is taken against torch.
Figures are printed, never asserted: machines are noisy, ratios measured in one run are what to
compare.

--pyribs counts evaluations (classifier images) until all 10 MNIST digits hold >= 99.99% on the
shipped LeNet. First pyribs' "fooling MNIST" tutorial recipe (plain MAP-Elites: a GridArchive of one
cell per digit, one GaussianEmitter with sigma 0.5 started from a grey image and clipped to [0,1],
batch 30; objective = top class probability, measure = predicted digit), stopped at the goal or at
--pyribs-cap evaluations (default 1,000,000; it can take 10-20 minutes on one thread). Then
evodream's default recipe, run through the public ``evolve`` API exactly as ``evodream evolve
--model lenet-mnist --encoding direct|cppn --algorithm map-elites --target all`` would (goal
0.9999, its own 100,000-evaluation cap), for seeds 0, 1, 2. It prints the ratio pyribs / evodream;
the goal is >= 100. Needs pyribs: pip install -e '.[bench]' (the case is skipped without it).
"""
from __future__ import annotations

import argparse
import random
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from evodream.classifiers import load_classifier
from evodream.driver import Stop, run
from evodream.errors import EvodreamError
from evodream.evaluator import Evaluator
from evodream.genomes import CPPNEncoding, DirectEncoding
from evodream.objectives import Objective
from evodream.runs import RunFolder
from evodream.search.map_elites import MapElites


def classifier_rate(classifier, channels, size, batch, seconds) -> float:
    """Images/s of the bare batched forward pass (probabilities), on random images of the batch size."""
    images = torch.rand(batch, channels, size, size)
    classifier.probs(images)  # warm-up
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        classifier.probs(images)
        done += batch
    return done / (time.perf_counter() - start)


def session_rate(classifier, batch, seconds) -> float:
    """Images/s of ONNX Runtime's session.run alone on a ready float32 array (no probabilities, no
    query counting): the floor under every figure here."""
    images = np.random.default_rng(0).random(
        (batch, classifier.channels, classifier.input_size, classifier.input_size), dtype=np.float32)
    run_session = lambda: classifier.session.run(["logits"], {"images": images})  # noqa: E731
    run_session()
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        run_session()
        done += batch
    return done / (time.perf_counter() - start)


def search_rate(search, evaluator, seconds, overlap: bool = False) -> float:
    """Evaluations/s of the whole loop (ask, render, score, tell) as evodream's driver runs it."""
    search.step(evaluator)  # warm-up (and the random first generation)
    start_evals, start = search.evaluations, time.perf_counter()
    run(search, evaluator, Stop(max_seconds=seconds), overlap=overlap)
    return (search.evaluations - start_evals) / (time.perf_counter() - start)


def textbook_deap_rate(classifier, population, generations) -> float:
    """DEAP's eaSimple as its tutorials write it: one image per evaluate call, per-gene Python mutation."""
    from deap import algorithms, base, creator, tools

    if not hasattr(creator, "BenchFitness"):
        creator.create("BenchFitness", base.Fitness, weights=(1.0,))
        creator.create("BenchIndividual", list, fitness=creator.BenchFitness)
    toolbox = base.Toolbox()
    toolbox.register("individual", tools.initRepeat, creator.BenchIndividual, random.random, 784)
    toolbox.register("population", tools.initRepeat, list, toolbox.individual)

    def evaluate(individual):
        image = torch.tensor(individual, dtype=torch.float32).view(1, 1, 28, 28)
        return (classifier.probs(image)[0, 3].item(),)

    toolbox.register("evaluate", evaluate)
    toolbox.register("mate", tools.cxTwoPoint)
    toolbox.register("mutate", tools.mutPolynomialBounded, eta=15.0, low=0.0, up=1.0, indpb=0.1)
    toolbox.register("select", tools.selTournament, tournsize=3)
    pop = toolbox.population(n=population)
    before, start = classifier.queries, time.perf_counter()
    algorithms.eaSimple(pop, toolbox, cxpb=0.5, mutpb=0.2, ngen=generations, verbose=False)
    return (classifier.queries - before) / (time.perf_counter() - start)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def onnxruntime_classifier(name: str):
    """The model on ONNX Runtime, or None (after one line saying why) where it cannot run there."""
    try:
        return load_classifier(name, engine="onnxruntime")
    except EvodreamError as exc:
        print(f"{name}: no ONNX Runtime figures ({exc})", flush=True)
        return None


def engine_table(cases, seconds: float) -> None:
    """Bare forward passes, torch against ONNX Runtime: cases = [(model name, [batch, ...]), ...].
    The ONNX Runtime column is the classifier's call (a big batch in `calls` equal parts, see
    onnx_engine.CHUNK_BYTES); session.run takes the whole batch at once."""
    print(f"{'engine table':<24} {'batch':>5} {'torch img/s':>12} {'onnxruntime img/s':>18} {'ratio':>6}"
          f"   {'calls':>5} {'session.run whole batch':>23}", flush=True)
    for name, batches in cases:
        slow, fast = load_classifier(name), onnxruntime_classifier(name)
        for batch in batches:
            ort_rate, torch_rate, session = bare_rates(slow, fast, batch, seconds)
            if ort_rate:
                shown = (f"{ort_rate:18.1f} {ort_rate / torch_rate:6.2f}   {fast.parts(batch):>5} "
                         f"{session:23.1f}")
            else:
                shown = f"{'-':>18} {'-':>6}"
            print(f"{name:<24} {batch:>5} {torch_rate:12.1f} {shown}", flush=True)


def row(name, search, ort, torch_rate, session=None, note=""):
    """One search case: its rate against the bare ONNX Runtime pass (torch's where ORT is missing),
    and against ONNX Runtime's session.run alone."""
    base, label = (ort, "onnxruntime") if ort else (torch_rate, "torch")
    ort_shown = f"{ort:9.0f}" if ort else f"{'-':>9}"
    versus = "" if ort else f" (vs {label})"
    floor = f"   session.run {session:9.0f} img/s (ratio {search / session:4.2f})" if session else ""
    print(f"{name:<44} search {search:9.0f} eval/s   onnxruntime {ort_shown} img/s   "
          f"ratio {search / base:5.2f}{versus}{floor}   torch {torch_rate:9.0f} img/s   "
          f"peak {peak_mb():6.0f} MB {note}", flush=True)


def bare_rates(slow, fast, batch, seconds):
    """(ONNX Runtime or None, torch, session.run alone or None) img/s of the bare forward pass."""
    size, channels = slow.input_size, slow.channels
    ort = classifier_rate(fast, channels, size, batch, seconds) if fast is not None else None
    session = session_rate(fast, batch, seconds) if fast is not None else None
    return ort, classifier_rate(slow, channels, size, batch, seconds), session


ROUNDS = 4


def case_rates(search, evaluator, slow, fast, batch, seconds, overlap=False):
    """(search evals/s, then bare_rates' three) measured in ROUNDS alternating slices of
    seconds / ROUNDS each, the best slice of each kept: a machine whose speed drifts (a neighbour,
    frequency scaling) then slows every figure of a ratio alike instead of one of them."""
    best = [0.0, 0.0, 0.0, 0.0]
    for _ in range(ROUNDS):
        rates = (search_rate(search, evaluator, seconds / ROUNDS, overlap=overlap),
                 *bare_rates(slow, fast, batch, seconds / ROUNDS))
        best = [max(b, r or 0.0) for b, r in zip(best, rates)]
    return best[0], best[1] or None, best[2], best[3] or None


PYRIBS_GOAL = 0.9999
PYRIBS_CHECKPOINTS = (10_000, 100_000)


def pyribs_fooling_mnist(classifier, cap, seed=0, batch=30, sigma=0.5, goal=PYRIBS_GOAL,
                         report_every=100_000):
    """pyribs' fooling-MNIST tutorial recipe on `classifier`, until every digit holds `goal` or `cap` images.

    Returns None (after one line saying so) when pyribs is not installed; else a dict with the
    evaluations spent, the first evaluation count at which each digit held `goal` (-1: never),
    each digit's best probability and the wall time.
    """
    try:
        from ribs.archives import GridArchive
        from ribs.emitters import GaussianEmitter
        from ribs.schedulers import Scheduler
    except ImportError:
        print("pyribs comparison skipped: pyribs is not installed (pip install -e '.[bench]')", flush=True)
        return None

    pixels = classifier.channels * classifier.input_size ** 2
    digits = classifier.num_classes
    # One cell per digit: measures are the predicted digit 0..9, binned over [0, 10) into 10 cells.
    archive = GridArchive(solution_dim=pixels, dims=[digits], ranges=[(0, digits)], seed=seed)
    emitter = GaussianEmitter(archive, sigma=sigma, x0=np.full(pixels, 0.5), bounds=[(0.0, 1.0)] * pixels,
                              batch_size=batch, seed=seed)
    scheduler = Scheduler(archive, [emitter])
    best = np.full(digits,
                   -np.inf)          # best probability of each digit so far = its cell's elite objective
    first = np.full(digits, -1, dtype=np.int64)
    shape = (-1, classifier.channels, classifier.input_size, classifier.input_size)
    start_queries, start = classifier.queries, time.perf_counter()
    evaluations, next_report = 0, report_every
    while evaluations < cap and (first < 0).any():
        solutions = scheduler.ask()
        # one call per batch
        probs = classifier.probs(torch.from_numpy(solutions.astype(np.float32)).view(shape))
        top, predicted = probs.max(dim=1)
        objective, measure = top.numpy().astype(np.float64), predicted.numpy()
        scheduler.tell(objective, measure[:, None].astype(np.float64))
        evaluations = classifier.queries - start_queries
        np.maximum.at(best, measure, objective)
        first[(best >= goal) & (first < 0)] = evaluations
        if evaluations >= next_report:
            print(f"  pyribs: {evaluations:>9,} evaluations, {int((best >= goal).sum())}/{digits} digits >= "
                  f"{goal:.2%}, {time.perf_counter() - start:6.0f} s", flush=True)
            next_report += report_every
    elites = archive.data()
    archived = np.full(digits, -np.inf)
    archived[np.asarray(elites["index"], dtype=np.int64)] = elites["objective"]
    if not np.array_equal(archived, best):  # the tracking above must agree with the archive itself
        raise RuntimeError(f"per-digit tracking {best} disagrees with the pyribs archive {archived}")
    return {"evaluations": evaluations, "first": first, "best": best, "seconds": time.perf_counter() - start,
            "finished": bool((first >= 0).all())}


def evodream_to_goal(encoding, seed, threads):
    """`evodream evolve --model lenet-mnist --encoding ENCODING --algorithm map-elites --target all
    --seed SEED` through the Python API, its run folder in a temporary directory."""
    from evodream.config import EvolveConfig
    from evodream.evolve import evolve

    config = EvolveConfig(model="lenet-mnist", encoding=encoding, algorithm="map-elites", target="all",
                          seed=seed, threads=threads)
    with tempfile.TemporaryDirectory() as folder:
        result = evolve(config, Path(folder) / "run", progress=False)
    finished = min(result.confidences.values()) >= config.goal
    return {"evaluations": result.evaluations, "queries": result.queries, "seconds": result.wall_seconds,
            "finished": finished, "stop": result.stop_reason, "cap": config.max_evals}


def pyribs_case(cap, threads, seeds=(0, 1, 2), encodings=("direct", "cppn")):
    lenet = load_classifier("lenet-mnist")  # a fresh one: its query counter is this case's alone
    print(f"pyribs fooling_mnist recipe on lenet-mnist (GridArchive 10 cells, GaussianEmitter sigma 0.5 "
          f"from grey, batch 30), until all 10 digits >= {PYRIBS_GOAL:.2%} or {cap:,} evaluations:",
          flush=True)
    theirs = pyribs_fooling_mnist(lenet, cap)
    if theirs is None:
        return None
    first = theirs["first"]
    def reached(n):
        return int(((first >= 0) & (first <= n)).sum())

    marks = [n for n in PYRIBS_CHECKPOINTS if n < cap] + [cap]
    print(f"  pyribs: {theirs['evaluations']:,} evaluations, {int((first >= 0).sum())}/10 digits >= "
          f"{PYRIBS_GOAL:.2%} at the end "
          f"({'finished' if theirs['finished'] else 'NOT finished within the cap'}), "
          f"{theirs['seconds']:.0f} s", flush=True)
    print("  pyribs digits >= 99.99% by " + ", ".join(f"{n:,}: {reached(n)}/10" for n in marks)
          + "   best per digit " + " ".join(f"{d}:{p:.6f}" if np.isfinite(p) else f"{d}:none"
                                          for d, p in enumerate(theirs["best"])), flush=True)

    results = {}
    for encoding in encodings:
        runs = [evodream_to_goal(encoding, seed, threads) for seed in seeds]
        results[encoding] = runs
        for seed, outcome in zip(seeds, runs):
            status = "all 10 digits >= 99.99%" if outcome["finished"] else f"NOT finished ({outcome['stop']})"
            print(f"  evodream {encoding:<6} seed {seed}: {run['evaluations']:>7,} evaluations "
                  f"({run['queries']:,} classifier images), {status}, {run['seconds']:.1f} s", flush=True)
        done = [r["evaluations"] for r in runs if r["finished"]]
        if not done:
            print(f"  ratio pyribs / evodream {encoding}: not defined, no seed finished within evodream's "
                  f"{runs[0]['cap']:,}-evaluation cap", flush=True)
            continue
        mean, worst = float(np.mean(done)), max(done)
        prefix = "" if theirs["finished"] else "> "
        note = "" if theirs["finished"] else " (pyribs did not finish: > cap / ours, a lower bound)"
        unfinished = len(runs) - len(done)
        if unfinished:
            note += f" ({unfinished} evodream seed(s) did not finish and are left out)"
        ratio_mean, ratio_worst = theirs["evaluations"] / mean, theirs["evaluations"] / worst
        goal = "met" if ratio_worst >= 100 and not unfinished else "NOT met"
        print(f"  ratio pyribs / evodream {encoding}: {prefix}{theirs['evaluations']:,} / {mean:,.0f} "
              f"(mean of {len(done)} seeds) = {prefix}{ratio_mean:,.1f}x; against the slowest seed "
              f"{prefix}{ratio_worst:,.1f}x{note}; goal >= 100x: {goal}", flush=True)
    return theirs, results


def imagenet_case(seconds: float, warmup: int = 2000, archive_run: str | None = None,
                  engine: str = "auto", batch: int | None = None) -> None:
    """MAP-Elites CPPN on EfficientNet-Lite0 at 224 px over all 1,000 classes (after `warmup`
    evaluations to grow the CPPNs, or from the archive of a finished run's checkpoint), at `batch`
    or else the batch size the search's engine runs fastest per image; serial, then with overlap
    (rendering on a second thread, as --overlap)."""
    # Here, not at the start: its 224-px batches would set the LeNet cases' peak memory.
    engine_table([("efficientnet-lite0", [8, 16, 32, 200])], seconds)  # 200: the many-class default
    slow = load_classifier("efficientnet-lite0")
    fast = onnxruntime_classifier("efficientnet-lite0")
    effnet = load_classifier("efficientnet-lite0", engine=engine)
    rates = {batch: classifier_rate(effnet, 3, 224, batch, seconds) for batch in (4, 8, 16, 32)}
    print(f"efficientnet-lite0 classifier alone ({effnet.engine}), img/s by batch: "
          + ", ".join(f"{batch}: {rate:.1f}" for batch, rate in rates.items()), flush=True)
    batch = batch or max(rates, key=rates.get)
    encoding = CPPNEncoding(3, 224)
    evaluator = Evaluator(encoding, Objective(effnet, range(1000)))
    grown = MapElites(encoding, range(1000), np.random.default_rng(0), batch_size=batch, goal=1.0)
    if archive_run:
        grown.load_state_dict(RunFolder.open(archive_run).load_checkpoint()["search"])
    else:
        for _ in range(max(1, warmup // batch)):
            grown.step(evaluator)
    nodes = np.mean([g.n_nodes for g in grown.archive.genomes if g is not None])
    for overlap in (False, True):
        search = MapElites(encoding, range(1000), np.random.default_rng(1), batch_size=batch, goal=1.0)
        search.load_state_dict(grown.state_dict())  # the same grown archive for both
        row(f"map-elites cppn effnet-lite0 b{batch}{' overlap' if overlap else ''}",
            *case_rates(search, evaluator, slow, fast, batch, seconds * 4, overlap=overlap),
            note=f"(CPPNs of {nodes:.0f} nodes)")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="time per measurement")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--imagenet", action="store_true",
                        help="also the EfficientNet-Lite0 CPPN case (slow)")
    parser.add_argument("--imagenet-from", metavar="RUN",
                        help="start the --imagenet case from this 1,000-class CPPN run's archive "
                             "(grown CPPNs)")
    parser.add_argument("--imagenet-batch", type=int, metavar="N",
                        help="run the --imagenet case at this batch size (e.g. 200, the many-class default) "
                             "instead of the classifier's fastest")
    parser.add_argument("--pyribs", action="store_true",
                        help="also evaluations to all 10 digits at 99.99%%: pyribs' fooling_mnist recipe "
                             "against evodream (slow; needs pip install -e '.[bench]')")
    parser.add_argument("--pyribs-cap", type=int, default=1_000_000,
                        help="evaluations after which the pyribs run stops unfinished (default 1,000,000)")
    parser.add_argument("--all", action="store_true", help="every case: --imagenet and --pyribs")
    parser.add_argument("--engine", default="auto", choices=("auto", "onnxruntime", "torch"),
                        help="the searches' classifier engine (default auto, as `evodream evolve`)")
    args = parser.parse_args()
    if args.all:
        args.imagenet = args.pyribs = True
    if args.imagenet_from or args.imagenet_batch:
        args.imagenet = True
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
          f"{args.seconds:g} s per measurement")
    engine_table([("lenet-mnist", [10, 200])], args.seconds)  # EfficientNet-Lite0's rows: in --imagenet

    lenet = load_classifier("lenet-mnist", engine=args.engine)
    slow, fast = load_classifier("lenet-mnist"), onnxruntime_classifier("lenet-mnist")
    print(f"searches run on {lenet.engine} {lenet.engine_version}", flush=True)
    objective = Objective(lenet, range(10))
    for batch, recipe in ((10, dict(parent_selection="focus", adaptive=True, eta=2.0, rate=0.05)),
                          (200, dict(parent_selection="uniform", adaptive=False, eta=15.0, rate=0.1))):
        encoding = DirectEncoding(1, 28, mutation_rate=recipe["rate"], eta=recipe["eta"])
        # goal 1.0: no cell ever counts as finished, so the search keeps its full work per generation.
        search = MapElites(encoding, range(10), np.random.default_rng(0), batch_size=batch, goal=1.0,
                           parent_selection=recipe["parent_selection"], adaptive=recipe["adaptive"])
        row(f"map-elites direct lenet-mnist, batch {batch}",
            *case_rates(search, Evaluator(encoding, objective), slow, fast, batch, args.seconds))

    deap = textbook_deap_rate(slow, population=200, generations=5)  # as DEAP's tutorials: torch, 1 image/call
    encoding = DirectEncoding(1, 28)
    ours = search_rate(MapElites(encoding, range(10), np.random.default_rng(0), batch_size=200, goal=1.0,
                                 parent_selection="uniform", adaptive=False), Evaluator(encoding, objective),
                       args.seconds)
    print(f"{'textbook DEAP eaSimple, lenet, population 200':<44} {deap:9.0f} eval/s   evodream at batch 200 "
          f"{ours:9.0f} eval/s   speed-up {ours / deap:5.1f}x", flush=True)

    if args.imagenet:
        imagenet_case(args.seconds, archive_run=args.imagenet_from, engine=args.engine,
                      batch=args.imagenet_batch)

    if args.pyribs:
        pyribs_case(args.pyribs_cap, args.threads)


if __name__ == "__main__":
    main()
