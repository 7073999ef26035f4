"""How many evaluations one class needs from a many-class run's elite: the cost behind the 1,000-class goal.

    python scripts/warm_start_probe.py runs/efficiency/a/paper/all --classes 8 --seed 1 --budget 1600

Reads a MAP-Elites run's checkpoint, draws classes whose best confidence lies around the archive's
median (the middle fifth of its classes, numpy default_rng(--seed)) and lifts each from its
elite's picture, on the class alone, with two black-box searches of equal budget:

  cma       sep-CMA-ES (pycma, population 16, step 0.5) over a spectral residual added before the
            sigmoid: image = sigmoid(logit(elite's image) + field(z)), z the 1/f-weighted cosine
            coefficients of a --grid x --grid x 3 grid (the spectral encoding's), 0 at the start,
            so the search starts at the elite's picture and learns a correction to it
  mutation  the run's own mutation of the elite's genome, as a (1+16) hill climber on the class

It prints each class's best confidence at each budget and the median over the classes. A run for
every class has about (evaluations / classes) to spend per class; what a class needs here says how
far that is from a goal. Nothing is written: the run folder is only read.
"""
import argparse
import sys

import numpy as np

from evodream.errors import EvodreamError
from evodream.runs import RunFolder

POPULATION = 16   # children per step of either search
SIGMA0 = 0.5      # CMA-ES's first step, in spectral gene units (as the lowres-cma recipe)
LOGIT_CLAMP = 1e-3


def pick_classes(confidence: np.ndarray, count: int, seed: int) -> np.ndarray:
    """`count` cells drawn from the middle fifth of the archive by confidence (or the middle `count`)."""
    if count > len(confidence):
        raise EvodreamError(f"the run has {len(confidence)} classes: ask for --classes {len(confidence)} "
                            f"or fewer")
    window = max(count, len(confidence) // 5)
    first = (len(confidence) - window) // 2
    middle = np.argsort(confidence, kind="stable")[first:first + window]
    return np.random.default_rng(seed).choice(middle, count, replace=False)


def budget_marks(budget: int) -> list[int]:
    """100, 200, 400, ... up to the budget (and the budget itself)."""
    marks, mark = [], 100
    while mark < budget:
        marks.append(mark)
        mark *= 2
    return marks + [budget]


def record(best_at: dict, marks: list[int], evaluations: int, best: float) -> None:
    for mark in marks:
        if evaluations >= mark and mark not in best_at:
            best_at[mark] = best


def lift_with_cma(objective, base_logit, residual, cell: int, start: float, budget: int, marks, seed: int):
    import cma
    import torch

    dimension = int(np.prod(residual.shape))
    es = cma.CMAEvolutionStrategy(np.zeros(dimension), SIGMA0, {
        "popsize": POPULATION, "CMA_diagonal": True, "seed": seed, "verbose": -9})
    best, best_at, evaluations = start, {}, 0
    while evaluations < budget:
        genes = np.asarray(es.ask())
        field = residual.field(genes.reshape(-1, *residual.shape).astype(np.float32))
        scores = objective.score(torch.sigmoid(base_logit + field))
        es.tell(genes, -np.asarray(scores.fitness[:, cell], dtype=np.float64))
        best = max(best, float(scores.confidence[:, cell].max()))
        evaluations += len(genes)
        record(best_at, marks, evaluations, best)
    return best_at


def lift_with_mutation(objective, encoding, genome, fitness: float, cell: int, start: float, budget: int,
                       marks, seed: int):
    rng = np.random.default_rng(seed)
    best, best_at, evaluations = start, {}, 0
    while evaluations < budget:
        children = encoding.mutate(encoding.stack([genome] * POPULATION), rng)
        scores = objective.score(encoding.render(children))
        k = int(np.argmax(scores.fitness[:, cell]))
        if scores.fitness[k, cell] > fitness:
            genome, fitness = encoding.take(children, k), float(scores.fitness[k, cell])
        best = max(best, float(scores.confidence[k, cell]))
        evaluations += POPULATION
        record(best_at, marks, evaluations, best)
    return best_at


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="a MAP-Elites run folder with a checkpoint")
    parser.add_argument("--classes", type=int, default=8, help="classes to lift (default 8)")
    parser.add_argument("--seed", type=int, default=1, help="draws the classes and seeds both searches")
    parser.add_argument("--budget", type=int, default=1600, help="evaluations per class and search")
    parser.add_argument("--grid", type=int, default=32, help="cells a side of the residual (default 32)")
    args = parser.parse_args(argv)
    try:
        if args.classes < 1 or args.budget < POPULATION or not 2 <= args.grid <= 256:
            raise EvodreamError("--classes must be >= 1, --budget >= 16 and --grid 2 to 256")
        run = RunFolder.open(args.run)
        checkpoint = run.load_checkpoint()
        cells = (checkpoint or {}).get("search", {}).get("cells")
        if not isinstance(cells, list) or any(cell is None for cell in cells):
            raise EvodreamError(f"{args.run} has no checkpoint of a MAP-Elites archive with every cell "
                                f"filled: probe a map-elites run that has run a few generations")
        import torch

        from evodream.config import set_torch_threads
        from evodream.evolve import build_scoring, config_of_run
        from evodream.genomes.spectral import SpectralEncoding

        config = config_of_run(run)
        set_torch_threads(config.threads)
        config, classifier, targets, encoding, objective = build_scoring(config)
        residual = SpectralEncoding(classifier.channels, encoding.size, grid=args.grid)
        confidence = np.array([cell["confidence"] for cell in cells])
        marks = budget_marks(args.budget)
        picks = pick_classes(confidence, args.classes, args.seed).tolist()
        print(f"{args.run}: {checkpoint['search']['evaluations']:,} evaluations, median confidence "
              f"{np.median(confidence):.2%}; seed {args.seed}, {args.budget:,} evaluations per class "
              f"and search")
        print(f"{'class':<28} {'start':>7}  search    " + " ".join(f"{m:>7,}" for m in marks))
        results = {"cma": [], "mutation": []}
        for n, cell in enumerate(picks):
            genome = encoding.from_json(cells[cell]["genome"])
            image = encoding.render(encoding.stack([genome]))
            base_logit = torch.logit(image.clamp(LOGIT_CLAMP, 1 - LOGIT_CLAMP))
            seed = args.seed * 1000 + n
            start = confidence[cell]
            lifted = {
                "cma": lift_with_cma(objective, base_logit, residual, cell, start, args.budget, marks, seed),
                "mutation": lift_with_mutation(objective, encoding, genome, float(cells[cell]["fitness"]),
                                               cell, start, args.budget, marks, seed)}
            name = classifier.class_names[targets[cell]][:20]
            for search, best_at in lifted.items():
                results[search].append([best_at[m] for m in marks])
                label = f"{targets[cell]:>4} {name:<23} {start:7.2%}" if search == "cma" else " " * 36
                print(f"{label}  {search:<9} " + " ".join(f"{best_at[m]:7.1%}" for m in marks), flush=True)
        for search, rows in results.items():
            print(f"{'median':<36}  {search:<9} " + " ".join(f"{v:7.1%}" for v in np.median(rows, axis=0)))
    except EvodreamError as exc:
        print(f"warm_start_probe: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
