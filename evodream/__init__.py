"""evodream: breed fooling images — pictures a classifier labels with near-certain confidence
while people see noise or abstract patterns (after Nguyen, Yosinski & Clune, CVPR 2015).

The public API: classifiers (``load_classifier``), encodings, searches on the ask/tell protocol
(``MapElites`` with an ``Archive`` and emitters, ``GeneticAlgorithm``, ``NSGA2``), objectives as
terms (``confidence() + 0.3 * tv()``), the ``Evaluator`` and the ``run`` driver, the registries
components join by name, and ``evolve`` / ``resume`` for whole runs in run folders.
"""
from .classifiers import Classifier, load_classifier, resolve_targets
from .classifiers.spec import ModelSpec
from .config import EvolveConfig
from .driver import Callback, Stop, run
from .errors import EvodreamError
from .evaluator import Evaluator
from .evolve import EvolveResult, evolve, resume
from .genomes import ENCODINGS, CPPNEncoding, DirectEncoding, Encoding
from .objectives import PRIORS, Objective, Scores, Term, confidence, prior, robust, tv
from .runs import RunFolder
from .search import (
                     EMITTERS,
                     NSGA2,
                     SEARCHES,
                     Archive,
                     Elite,
                     Emitter,
                     GeneticAlgorithm,
                     MapElites,
                     MutationEmitter,
                     Record,
                     Search,
)

__version__ = "0.1.0"
__all__ = ["Classifier", "load_classifier", "resolve_targets", "ModelSpec", "EvolveConfig", "Callback",
           "Stop",
           "run", "EvodreamError", "Evaluator", "EvolveResult", "evolve", "resume", "ENCODINGS",
           "CPPNEncoding",
           "DirectEncoding", "Encoding", "PRIORS", "Objective", "Scores", "Term", "confidence", "prior",
           "robust",
           "tv", "RunFolder", "EMITTERS", "SEARCHES", "NSGA2", "Archive", "Elite", "Emitter",
           "GeneticAlgorithm",
           "MapElites", "MutationEmitter", "Record", "Search"]
