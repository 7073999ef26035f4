"""evodream: breed fooling images — pictures a classifier labels with near-certain confidence
while people see noise or abstract patterns (after Nguyen, Yosinski & Clune, CVPR 2015)."""
from .classifiers import Classifier, load_classifier, resolve_targets
from .config import EvolveConfig
from .errors import EvodreamError
from .evolve import EvolveResult, evolve, resume
from .genomes import CPPNEncoding, DirectEncoding
from .objectives import Objective
from .runs import RunFolder

__version__ = "0.1.0"
__all__ = ["Classifier", "load_classifier", "resolve_targets", "EvolveConfig", "EvodreamError", "EvolveResult",
           "evolve", "resume", "CPPNEncoding", "DirectEncoding", "Objective", "RunFolder"]
