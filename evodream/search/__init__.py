"""Searches on the ask/tell protocol, registered by name in :data:`SEARCHES`.

A factory ``(config, encoding, targets, rng) -> Search`` builds each one from an EvolveConfig.
"""
from ..registry import Registry
from .archive import Archive
from .base import Elite, Record, Search
from .cma_emitter import CMAEmitter
from .emitters import EMITTERS, Emitter, MutationEmitter
from .ga import GeneticAlgorithm
from .map_elites import MapElites
from .nsga2 import NSGA2

SEARCHES = Registry("algorithm")


@SEARCHES.register("map-elites", help="one archive cell per target, filled by emitters")
def _build_map_elites(config, encoding, targets, rng) -> MapElites:
    emitters = [EMITTERS[name.strip()](config, encoding, targets) for name in config.emitters.split(",")]
    return MapElites(encoding, targets, rng, batch_size=config.population, emitters=emitters)


@SEARCHES.register("ga", help="a DEAP genetic algorithm per target")
def _build_ga(config, encoding, targets, rng) -> GeneticAlgorithm:
    return GeneticAlgorithm(encoding, targets, rng, population_size=config.population,
                            tournament_size=config.tournament_size, crossover_rate=config.crossover_rate)


@SEARCHES.register("nsga2", help="a Pareto front of confidence against naturalness per target")
def _build_nsga2(config, encoding, targets, rng) -> NSGA2:
    return NSGA2(encoding, targets, rng, population_size=config.population,
                 crossover_rate=config.crossover_rate)


__all__ = ["SEARCHES", "EMITTERS", "Archive", "CMAEmitter", "Elite", "Emitter", "GeneticAlgorithm",
           "MapElites", "MutationEmitter",
           "NSGA2", "Record", "Search"]
