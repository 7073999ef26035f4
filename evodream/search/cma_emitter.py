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
stop() fires. In a run for a few classes (``share`` set: at most ``AUTO_FEW_TARGETS``) it takes
turns instead: an ES works for its start cell alone, ranking children by that class's gain, and
after ``share`` evaluations, while other unfinished cells wait, it is paused (kept whole) and the
emitter moves to the unfinished cell whose ES has run least, resuming that cell's paused ES if it
has one. Following the largest gain let a class that kept improving slowly hold the emitter while
another never got a turn (docs/imagenet-efficiency.md, "Several classes at once").

Reproducible and resumable without pickle: pycma draws its normal deviates from a
``numpy.random.Generator`` seeded from the search's generator at each restart (never from numpy's
global state), and a checkpoint holds the start (elite genome, seed, sigma0) and the ranking
values told since, for the running ES and each paused one; loading rebuilds every ES by replaying
them, which gives the identical state.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from ..config import AUTO_FEW_TARGETS
from ..errors import EvodreamError
from ..statecheck import BadState, check_int, check_list, check_number, check_type
from .emitters import EMITTERS, Emitter

# Initial step size in each encoding's parameter units (lowres genes ~N(0,1) before the sigmoid;
# CPPN weights in +-10; direct pixels in [0, 1]).
SIGMA0 = {"lowres": 0.5, "spectral": 0.5, "cppn": 1.0, "direct": 0.1}
FULL_COVARIANCE_MAX_DIM = 100   # above this, sep-CMA (diagonal): full C costs O(n^2) memory, O(n^3) time
NEW_CELL_BONUS = 1e6            # a child that fills an empty cell outranks every improvement
# One class's turn in a run for a few classes, counted in evaluations so that it lasts as long at
# any population (100 generations at 16, 50 at 32).
TURN_EVALUATIONS = 1600


def _randn_from(seed: int):
    """A pycma ``randn(lam, N)`` drawing from its own seeded Generator (not numpy's global state)."""
    generator = np.random.default_rng(seed)
    return lambda *shape: generator.standard_normal(shape)


class CMAEmitter(Emitter):
    """CMA-ES over one elite's parameter vector at a time; ranks children by archive improvement."""

    name = "cma"
    min_children = 3  # pycma's smallest population (fewer: "population size ... too small")

    def __init__(self, cells: int, encoding, *, goal: float = 0.9999, sigma0: float | None = None,
                 diagonal: bool | None = None, patience: int = 50, share: int | None = None):
        if not encoding.has_vector():
            raise EvodreamError(f"the cma emitter needs an encoding with a parameter vector; "
                                f"{encoding.name!r} has none: use --encoding lowres, cppn or direct")
        self.cells = cells
        self.encoding = encoding
        self.goal = goal
        self.sigma0 = float(sigma0 if sigma0 is not None else SIGMA0.get(encoding.name, 0.3))
        self.diagonal = diagonal          # None: decide by dimension
        self.patience = int(patience)
        self.share = share                # evaluations a turn lasts; None: no turns (CMA-ME)
        self.attention = np.zeros(cells, dtype=np.int64)  # generations run by ESs started at each cell
        self.turn = 0                     # generations since this ES started or resumed
        # start cell -> ({"start", "values", "followed", "stall"}: what a checkpoint keeps, ES, base genome)
        self._paused: dict[int, tuple] = {}
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
        """A new ES at the genome's parameter vector."""
        import cma  # here: only runs that use this emitter need pycma loaded

        x0 = self.encoding.vector(genome)
        diagonal = self.diagonal if self.diagonal is not None else len(x0) > FULL_COVARIANCE_MAX_DIM
        options = {"popsize": popsize, "randn": _randn_from(seed), "seed": math.nan, "verbose": -9,
                   "CMA_diagonal": bool(diagonal), "tolx": 1e-8, "tolfun": 0, "tolflatfitness": 10 ** 9,
                   "tolfunhist": 0, "tolstagnation": 10 ** 9, "maxiter": math.inf, "verb_log": 0,
                   "verb_disp": 0, "CMA_mirrors": 0}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pycma warns about options it considers unusual
            return cma.CMAEvolutionStrategy(x0, self.sigma0, options)

    def _switch(self, archive, rng: np.random.Generator, popsize: int) -> None:
        """Resume the paused ES of the waiting cell run least, or start one there."""
        pool = archive.unfinished_or_filled(self.goal)
        for cell in [c for c in self._paused if archive.confidence[c] >= self.goal]:
            del self._paused[cell]
        if self.share:  # taking turns: the waiting cell whose ES has run least
            pool = pool[self.attention[pool] == self.attention[pool].min()]
        cell = int(rng.choice(pool))
        self.turn = 0
        paused, self._es, self._base = self._paused.pop(cell, (None, None, None))
        if paused is not None and paused["start"]["popsize"] == popsize:
            self._start, self._values = paused["start"], paused["values"]
            self.followed, self.stall = paused["followed"], paused["stall"]
            return
        self._restart(archive, rng, popsize, cell)

    def _pause(self) -> None:
        cell = self._start["cell"]
        record = {"start": self._start, "values": self._values, "followed": self.followed,
                  "stall": self.stall}
        self._paused[cell] = (record, self._es, self._base)
        self._es = None

    def _restart(self, archive, rng: np.random.Generator, popsize: int, cell: int) -> None:
        seed = int(rng.integers(2 ** 31 - 1))
        genome = archive.genomes[cell]
        self._start = {"cell": cell, "genome": self.encoding.to_json(genome), "seed": seed,
                       "popsize": popsize}
        self._values = []
        self.stall = 0
        self.followed = cell
        self._es, self._base = self._build(genome, seed, popsize), genome

    def _next_step(self, archive, n: int) -> str:
        """"go on" with this ES, "pause" it for another cell's turn, or "restart" elsewhere."""
        if self._es is None or self._start["popsize"] != n or self.stall >= self.patience:
            return "restart"
        unfinished = int((archive.confidence < self.goal).sum())
        if (archive.confidence[self.followed] >= self.goal and unfinished) or self._es.stop():
            return "restart"
        turn_over = self.share and self.turn * self._start["popsize"] >= self.share
        return "pause" if turn_over and unfinished > 1 else "go on"

    # -- ask / tell -----------------------------------------------------------------------------
    def ask(self, archive, n, rng, generation):
        if self._asked is not None:
            raise EvodreamError("the cma emitter is asked again before being told: "
                                "it cannot run with --overlap")
        step = self._next_step(archive, n)
        if step == "pause":
            self._pause()
        elif step == "restart" and self._es is not None:
            self.restarts += 1
        if step != "go on":
            self._switch(archive, rng, n)
        self._asked = self._es.ask()
        children = self.encoding.stack([self.encoding.with_vector(self._base, x) for x in self._asked])
        return children, len(self._values)

    def tell(self, archive, children, fitness, info):
        if self._asked is None:
            return
        cells = np.flatnonzero(archive.confidence < self.goal)
        if not len(cells):  # every target done (a run with no goal never gets here): rank on all
            cells = np.arange(len(archive.fitness))
        elif self.share and self._start["cell"] in cells:  # taking turns: this ES works for its cell
            cells = np.array([self._start["cell"]])
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
        self.attention[self._start["cell"]] += 1
        self.turn += 1
        values = [float(-k) for k in key]                       # pycma minimises
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pycma's notes on rare far samples mean nothing to a user
            self._es.tell(self._asked, values)
        self._values.append(values)
        self._asked = None

    # -- checkpoints ----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        paused = [{"cell": cell, **record} for cell, (record, _, _) in self._paused.items()]
        return {"restarts": self.restarts, "stall": self.stall, "start": self._start, "values": self._values,
                "followed": self.followed, "turn": self.turn, "attention": self.attention.tolist(),
                "paused": paused}

    def _replayed(self, start, values, followed, where: str):
        """(start, values, followed, ES, base) of a checked start and its told values; the same draws
        told the same values rebuild the ES exactly as it was."""
        prefix = f"{where}." if where else ""
        check_type(start, dict, f"{prefix}start")
        cell = check_int(start.get("cell"), f"{prefix}start.cell")
        if cell >= self.cells:
            raise BadState(f"{prefix}start.cell must be below {self.cells}, got {cell}")
        seed = check_int(start.get("seed"), f"{prefix}start.seed")
        popsize = check_int(start.get("popsize"), f"{prefix}start.popsize", 2)
        if popsize > 100_000:
            raise BadState(f"{prefix}start.popsize is {popsize}; no run asks for that many")
        try:
            genome = self.encoding.from_json(start.get("genome"))
        except EvodreamError as exc:
            raise BadState(f"{prefix}start.genome: {exc}") from None
        for g, row in enumerate(values):
            check_list(row, f"{prefix}values[{g}]", popsize, "values")
            for i, value in enumerate(row):
                check_number(value, f"{prefix}values[{g}][{i}]")
        # (checkpoints from before the emitter followed cells: it followed its start cell)
        followed = cell if followed is None else followed
        if check_int(followed, f"{prefix}followed") >= self.cells:
            raise BadState(f"{prefix}followed must be below {self.cells}, got {followed}")
        values = [[float(v) for v in row] for row in values]
        es = self._build(genome, seed, popsize)
        for row in values:
            es.tell(es.ask(), row)
        start = {"cell": cell, "genome": start["genome"], "seed": seed, "popsize": popsize}
        return start, values, followed, es, genome

    def load_state_dict(self, state: dict) -> None:
        self.restarts = check_int(state.get("restarts"), "restarts")
        self.stall = check_int(state.get("stall"), "stall")
        # (checkpoints from before the emitter took turns: none paused, nothing counted yet)
        self.turn = check_int(state.get("turn", 0), "turn")
        attention = check_list(state.get("attention", [0] * self.cells), "attention", self.cells, "counts")
        for i, count in enumerate(attention):
            check_int(count, f"attention[{i}]")
        self.attention = np.asarray(attention, dtype=np.int64)
        self._paused = {}
        for i, run in enumerate(check_list(state.get("paused", []), "paused")):
            where = f"paused[{i}]"
            check_type(run, dict, where)
            values = check_list(run.get("values"), f"{where}.values")
            start, values, followed, es, base = self._replayed(run.get("start"), values, run.get("followed"),
                                                                where)
            if check_int(run.get("cell"), f"{where}.cell") != start["cell"] or start["cell"] in self._paused:
                raise BadState(f"{where}.cell must be its start's cell, once")
            record = {"start": start, "values": values, "followed": followed,
                      "stall": check_int(run.get("stall"), f"{where}.stall")}
            self._paused[start["cell"]] = (record, es, base)
        start = state.get("start")
        values = check_list(state.get("values"), "values")
        self._es = self._base = self._asked = None
        self._start, self._values, self.followed = None, [], None
        if start is None:
            if values:
                raise BadState("values are given without a start")
            return
        self._start, self._values, self.followed, self._es, self._base = self._replayed(
            start, values, state.get("followed"), "")

    def check_info(self, info, n, cells, where):
        if not isinstance(info, int) or isinstance(info, bool) or info < 0:
            raise BadState(f"{where} must be the emitter's generation count, got {info!r:.40}")


@EMITTERS.register("cma", help="CMA-ES (pycma) over an elite's parameters, children ranked by "
                               "archive improvement")
def _build_cma(config, encoding, targets) -> CMAEmitter:
    if config.overlap:
        raise EvodreamError("the cma emitter adapts to each generation before the next: drop --overlap")
    share = TURN_EVALUATIONS if len(targets) <= AUTO_FEW_TARGETS else None
    return CMAEmitter(len(targets), encoding, goal=config.goal or 1.0, share=share)
