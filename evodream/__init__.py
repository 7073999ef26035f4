"""evodream: breed fooling images — pictures a classifier labels with near-certain confidence
while people see noise or abstract patterns (after Nguyen, Yosinski & Clune, CVPR 2015).

The public API: classifiers (``load_classifier``), encodings, searches on the ask/tell protocol
(``MapElites`` with an ``Archive`` and emitters, ``GeneticAlgorithm``, ``NSGA2``), objectives as
terms (``confidence() + 0.3 * tv()``), the ``Evaluator`` and the ``run`` driver, the registries
components join by name, and ``evolve`` / ``resume`` for whole runs in run folders.
"""
import sys
import types

from .lazy import lazy_exports

__version__ = "0.1.0"

# Public name -> the module that defines it. Imported on first use (PEP 562), so that the command
# line imports torch (seconds) inside main, where a Ctrl-C is caught, not while importing the package.
_EXPORTS = {
    "Classifier": ".classifiers", "load_classifier": ".classifiers", "resolve_targets": ".classifiers",
    "ModelSpec": ".classifiers.spec", "EvolveConfig": ".config", "Callback": ".driver", "Stop": ".driver",
    "run": ".driver", "EvodreamError": ".errors", "Evaluator": ".evaluator", "EvolveResult": ".evolve",
    "evolve": ".evolve", "resume": ".evolve", "ENCODINGS": ".genomes", "CPPNEncoding": ".genomes",
    "DirectEncoding": ".genomes", "Encoding": ".genomes", "PRIORS": ".objectives", "Objective": ".objectives",
    "Scores": ".objectives", "Term": ".objectives", "confidence": ".objectives", "prior": ".objectives",
    "robust": ".objectives", "tv": ".objectives", "RunFolder": ".runs", "EMITTERS": ".search",
    "SEARCHES": ".search", "NSGA2": ".search", "Archive": ".search", "Elite": ".search", "Emitter": ".search",
    "GeneticAlgorithm": ".search", "MapElites": ".search", "MutationEmitter": ".search", "Record": ".search",
    "Search": ".search",
}
__all__ = list(_EXPORTS)


class _Package(types.ModuleType):
    """Keeps the public names above what they were: importing the submodule ``evodream.evolve``
    would otherwise rebind the package's ``evolve`` from the function to that module."""

    def __setattr__(self, name, value):
        if name in _EXPORTS and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


__getattr__ = lazy_exports(__name__, _EXPORTS)


def __dir__():
    return sorted(list(globals()) + __all__)
