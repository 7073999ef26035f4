"""The ``cma`` emitter: CMA-ES (pycma) over an elite's continuous parameters, CMA-ME style.

Where the mutation emitter steps every elite by a fixed-shape distribution, this emitter takes one
elite, and adapts a Gaussian (mean, step size, covariance: diagonal by default in high dimension,
sep-CMA) over its parameter vector (``Encoding.vector``: a lowres grid's genes, a spectral grid's
coefficients, a CPPN's weights at fixed topology, a direct genome's pixels) to the directions that
pay. Children are ranked for CMA by their largest improvement over any archive cell still below
the goal (a child that fills an empty cell ranks above all), as in CMA-ME's improvement emitter
(Fontaine et al., 2020), so the emitter follows whatever unfinished class it is improving; it
*follows* the cell its best child improved most. It restarts from an unfinished elite when the
cell it follows reaches the goal (polishing a finished class past it would starve the others),
when no child has improved an unfinished cell for ``patience`` generations, or when pycma's own
stop() fires.

Reproducible and resumable without pickle: pycma draws its normal deviates from a
``numpy.random.Generator`` seeded from the search's generator at each restart (never from numpy's
global state), and a checkpoint holds the start (elite genome, seed, sigma0) and the ranking
values told since; loading rebuilds the ES by replaying them, which gives the identical state.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from ..errors import EvodreamError
from ..statecheck import BadState, check_int, check_list, check_number, check_type
from .emitters import EMITTERS, Emitter

# Initial step size in each encoding's parameter units (lowres genes ~N(0,1) before the sigmoid;
# CPPN weights in +-10; direct pixels in [0, 1]).
SIGMA0 = {"lowres": 0.5, "spectral": 0.5, "cppn": 1.0, "direct": 0.1}
FULL_COVARIANCE_MAX_DIM = 100   # above this, sep-CMA (diagonal): full C costs O(n^2) memory, O(n^3) time
NEW_CELL_BONUS = 1e6            # a child that fills an empty cell outranks every improvement


def _randn_from(seed: int):
    """A pycma ``randn(lam, N)`` drawing from its own seeded Generator (not numpy's global state)."""
    generator = np.random.default_rng(seed)
    return lambda *shape: generator.standard_normal(shape)


class CMAEmitter(Emitter):
    """CMA-ES over one elite's parameter vector at a time; ranks children by archive improvement."""

    name = "cma"
    min_children = 3  # pycma's smallest population (fewer: "population size ... too small")

    def __init__(self, cells: int, encoding, *, goal: float = 0.9999, sigma0: float | None = None,
                 diagonal: bool | None = None, patience: int = 50):
        if not encoding.has_vector():
            raise EvodreamError(f"the cma emitter needs an encoding with a parameter vector; "
                                f"{encoding.name!r} has none: use --encoding lowres, cppn or direct")
        self.cells = cells
        self.encoding = encoding
        self.goal = goal
        self.sigma0 = float(sigma0 if sigma0 is not None else SIGMA0.get(encoding.name, 0.3))
        self.diagonal = diagonal          # None: decide by dimension
        self.patience = int(patience)
        self.restarts = 0
        self.stall = 0
        self._start: dict | None = None   # {"cell", "genome", "seed", "popsize"}: what rebuilds the ES
        self.followed: int | None = None  # the cell the last improving best child improved most
        self._values: list[list[float]] = []  # ranking values told since the start, one list per generation
        self._es = None
        self._base = None                 # the elite genome whose structure the children share
        self._asked = None                # the solutions of the pending ask

    # -- the ES ---------------------------------------------------------------------------------
    def _build(self, genome, seed: int, popsize: int):
        import cma  # here: only runs that use this emitter need pycma loaded

        x0 = self.encoding.vector(genome)
        diagonal = self.diagonal if self.diagonal is not None else len(x0) > FULL_COVARIANCE_MAX_DIM
        options = {"popsize": popsize, "randn": _randn_from(seed), "seed": math.nan, "verbose": -9,
                   "CMA_diagonal": bool(diagonal), "tolx": 1e-8, "tolfun": 0, "tolflatfitness": 10 ** 9,
                   "tolfunhist": 0, "tolstagnation": 10 ** 9, "maxiter": math.inf, "verb_log": 0,
                   "verb_disp": 0, "CMA_mirrors": 0}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pycma warns about options it considers unusual
            self._es = cma.CMAEvolutionStrategy(x0, self.sigma0, options)
        self._base = genome

    def _restart(self, archive, rng: np.random.Generator, popsize: int) -> None:
        cell = int(rng.choice(archive.unfinished_or_filled(self.goal)))
        seed = int(rng.integers(2 ** 31 - 1))
        genome = archive.genomes[cell]
        self._start = {"cell": cell, "genome": self.encoding.to_json(genome), "seed": seed,
                       "popsize": popsize}
        self._values = []
        self.stall = 0
        self.followed = cell
        self._build(genome, seed, popsize)

    def _should_restart(self, archive, n: int) -> bool:
        if self._es is None or self._start["popsize"] != n or self.stall >= self.patience:
            return True
        if archive.confidence[self.followed] >= self.goal and (archive.confidence < self.goal).any():
            return True
        return bool(self._es.stop())

    # -- ask / tell -----------------------------------------------------------------------------
    def ask(self, archive, n, rng, generation):
        if self._asked is not None:
            raise EvodreamError("the cma emitter is asked again before being told: "
                                "it cannot run with --overlap")
        if self._should_restart(archive, n):
            if self._es is not None:
                self.restarts += 1
            self._restart(archive, rng, n)
        self._asked = self._es.ask()
        children = self.encoding.stack([self.encoding.with_vector(self._base, x) for x in self._asked])
        return children, len(self._values)

    def tell(self, archive, children, fitness, info):
        if self._asked is None:
            return
        cells = np.flatnonzero(archive.confidence < self.goal)
        if not len(cells):  # every target done (a run with no goal never gets here): rank on all
            cells = np.arange(len(archive.fitness))
        gains = fitness[:, cells] - archive.fitness[None, cells]  # -inf cells: +inf improvement
        empty = ~np.isfinite(archive.fitness[cells])
        gains = np.where(empty[None, :], NEW_CELL_BONUS + fitness[:, cells], gains)
        key = gains.max(axis=1)
        best = int(key.argmax())
        if key[best] > 0:
            self.followed = int(cells[gains[best].argmax()])
            self.stall = 0
        else:
            self.stall += 1
        values = [float(-k) for k in key]                       # pycma minimises
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pycma's notes on rare far samples mean nothing to a user
            self._es.tell(self._asked, values)
        self._values.append(values)
        self._asked = None

    # -- checkpoints ----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"restarts": self.restarts, "stall": self.stall, "start": self._start, "values": self._values,
                "followed": self.followed}

    def load_state_dict(self, state: dict) -> None:
        self.restarts = check_int(state.get("restarts"), "restarts")
        self.stall = check_int(state.get("stall"), "stall")
        start = state.get("start")
        values = check_list(state.get("values"), "values")
        self._es = self._base = self._asked = None
        self._start, self._values, self.followed = None, [], None
        if start is None:
            if values:
                raise BadState("values are given without a start")
            return
        check_type(start, dict, "start")
        cell = check_int(start.get("cell"), "start.cell")
        if cell >= self.cells:
            raise BadState(f"start.cell must be below {self.cells}, got {cell}")
        seed = check_int(start.get("seed"), "start.seed")
        popsize = check_int(start.get("popsize"), "start.popsize", 2)
        if popsize > 100_000:
            raise BadState(f"start.popsize is {popsize}; no run asks for that many")
        try:
            genome = self.encoding.from_json(start.get("genome"))
        except EvodreamError as exc:
            raise BadState(f"start.genome: {exc}") from None
        for g, row in enumerate(values):
            check_list(row, f"values[{g}]", popsize, "values")
            for i, value in enumerate(row):
                check_number(value, f"values[{g}][{i}]")
        # (checkpoints from before the emitter followed cells: it followed its start cell)
        followed = state.get("followed", cell)
        if check_int(followed, "followed") >= self.cells:
            raise BadState(f"followed must be below {self.cells}, got {followed}")
        self._start = {"cell": cell, "genome": start["genome"], "seed": seed, "popsize": popsize}
        self._build(genome, seed, popsize)
        # Replay: the same draws told the same values rebuild the ES exactly as it was.
        for row in values:
            self._es.tell(self._es.ask(), [float(v) for v in row])
        self._values = [[float(v) for v in row] for row in values]
        self.followed = followed

    def check_info(self, info, n, cells, where):
        if not isinstance(info, int) or isinstance(info, bool) or info < 0:
            raise BadState(f"{where} must be the emitter's generation count, got {info!r:.40}")


@EMITTERS.register("cma", help="CMA-ES (pycma) over an elite's parameters, children ranked by "
                               "archive improvement")
def _build_cma(config, encoding, targets) -> CMAEmitter:
    if config.overlap:
        raise EvodreamError("the cma emitter adapts to each generation before the next: drop --overlap")
    return CMAEmitter(len(targets), encoding, goal=config.goal or 1.0)
