"""Run settings: one dataclass, loaded from TOML and overridden by command-line flags.

Every setting is checked here, so a typo in a config file or a flag fails before any work starts
with one line naming the key and what it accepts.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass, field
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from .errors import EvodreamError
from .model_options import ModelOptions

RECIPES = ("fast", "paper", "auto", "lowres-cma", "cppn-cma", "fast-cppn", "paper-cppn", "cross-cppn")
COLOURS = ("hls", "hsv", "rgb")
ENGINES = ("auto", "onnxruntime", "torch")  # forward-pass engines; see classifiers/onnx_engine.py

# What each recipe means where the user left a setting open. "paper" is Nguyen et al.'s
# MAP-Elites; "fast" is evodream's (parents from unfinished cells, adaptive strength, small
# batches of bolder mutations), which needs about 5x fewer evaluations on MNIST.
RECIPE_DEFAULTS = {
    "paper": {"population": 200, "parent_selection": "uniform", "adaptive": False,
              "mutation_rate": 0.1, "eta": 15.0},
    "fast": {"population": 10, "parent_selection": "focus", "adaptive": True,
             "mutation_rate": 0.05, "eta": 2.0},
    # CMA-ES over a grid of genes (64x64 by default, read as 1/f-weighted cosines): adaptation wins
    # where a few classes are asked for.
    # Its population depends on the image size (lowres_cma_population).
    "lowres-cma": {"encoding": "spectral", "emitters": "cma", "parent_selection": "focus", "adaptive": True},
    # CMA-ME: CMA-ES over CPPN weights beside the mutation emitter that grows their topology.
    "cppn-cma": {"encoding": "cppn", "emitters": "mutation,cma", "population": 16,
                 "parent_selection": "focus", "adaptive": True},
}
# Both recipes on CPPN genomes. On ImageNet-size models asked for every class, CPPN patterns fool
# far more classes per evaluation than direct pixels (README: 48.7% vs 0.6% median at 200k), and the
# paper's big uniform batches beat the fast recipe's small ones (README, "ImageNet efficiency").
RECIPE_DEFAULTS["fast-cppn"] = {**RECIPE_DEFAULTS["fast"], "encoding": "cppn"}
RECIPE_DEFAULTS["paper-cppn"] = {**RECIPE_DEFAULTS["paper"], "encoding": "cppn"}
# paper-cppn with a tenth of the children laying another elite's pattern over their own. Over all
# 1,000 ImageNet classes its median over seeds led paper-cppn's at 50k, 100k (seeds 0-5) and 200k
# (seeds 0-3) evaluations: 14.6 / 29.2 / 51.1% against 9.9 / 22.1 / 42.8% (README, "ImageNet
# efficiency"). Its larger networks make each evaluation slower (a whole 200k run x1.37), yet in
# that run it also led at equal time.
# From generation 500 (100k evaluations) on, its weight steps are halved (eta 15 -> 30): resumed
# from its own 100k checkpoints, that led on every seed measured at 150k and 200k (README,
# "ImageNet efficiency"), where bolder variation that leads early had fallen behind.
RECIPE_DEFAULTS["cross-cppn"] = {**RECIPE_DEFAULTS["paper-cppn"], "crossover_rate": 0.1, "halve_every": 500}
# What a recipe implies where it leaves one of these open: direct pixels, mutation alone, no crossing,
# a fixed mutation.
RECIPE_IMPLIED = {"encoding": "direct", "emitters": "mutation", "crossover_rate": 0.0, "halve_every": 0}
RECIPE_DEFAULTS = {name: {**RECIPE_IMPLIED, **defaults} for name, defaults in RECIPE_DEFAULTS.items()}
# "auto": runs for at most this many classes count as few-target runs (lowres-cma, classes taking
# turns). Measured on ImageNet (docs/imagenet-efficiency.md): 20 classes at 50k evaluations, median
# 70.9% against paper-cppn's 4.7%; 50 classes at the default 100k, CMA ahead from about 50k on.
AUTO_FEW_TARGETS = 50
LARGE_IMAGE = 64       # px: from this input size on, a model counts as ImageNet-size


def lowres_cma_population(input_size: int) -> int:
    """lowres-cma's children per generation (docs/imagenet-efficiency.md): 32 on ImageNet-size
    images, where it reached 99% in fewer evaluations on 13 of 20 classes and the slowest in 9,440
    instead of 17,152; 16 on small ones, as MNIST needed 1,456 evaluations at 16 and 2,336 at 32."""
    return 32 if input_size >= LARGE_IMAGE else 16


def auto_recipe(config: "EvolveConfig", model: tuple[int, int, int] | None) -> str | None:
    """What recipe "auto" means for this model = (channels, input size, number of targets), or
    None when that depends on a model not known yet.

    Colour models of ImageNet size get lowres-cma when asked for a few classes and cross-cppn for
    more (measured: README, "ImageNet efficiency"); everything else, MNIST included, keeps the
    fast recipe. A user's own choice of encoding or emitters keeps the fast recipe's other settings,
    and so does another algorithm than MAP-Elites (the GA and NSGA-II have no emitters, so no CMA).
    """
    if (config.algorithm != "map-elites" or config.emitters is not None
            or config.encoding not in (None, "lowres", "spectral")):
        return "fast"
    if model is None:
        return None
    channels, input_size, targets = model
    if channels == 3 and input_size >= LARGE_IMAGE:
        if targets <= AUTO_FEW_TARGETS:
            return "lowres-cma"
        if config.encoding is None:
            return "cross-cppn"
    return "fast"


@dataclass
class EvolveConfig(ModelOptions):
    model: str = "lenet-mnist"
    encoding: str | None = None            # None: the recipe's (direct, cppn, or spectral for lowres-cma)
    algorithm: str = "map-elites"
    target: str = "all"
    seed: int = 0
    recipe: str = "auto"                   # auto: chosen by model and target count (auto_recipe)
    population: int | None = None          # children per generation (map-elites) / per target (ga)
    generations: int | None = None
    max_evals: int | None = 100_000
    max_seconds: float | None = None
    goal: float | None = 0.9999            # stop once every target holds this confidence
    confidence: str = "log_prob"           # fitness: prob, log_prob or margin
    ten_crop: bool = False
    mutation_rate: float | None = None     # direct: per-gene rate; cppn: per-weight rate
    eta: float | None = None
    halve_every: int | None = None         # None: the recipe's (cross-cppn 500, the others 0)
    crossover_rate: float | None = None    # None: the recipe's (cross-cppn 0.1, the others 0)
    parent_selection: str | None = None
    adaptive: bool | None = None
    overlap: bool = False                  # map-elites: render the next generation while this one is scored
    tournament_size: int = 3
    colour: str = "hls"
    engine: str = "auto"                   # auto (ONNX Runtime on CPU when it works), onnxruntime or torch
    checkpoint_every: int = 50             # generations between checkpoints
    checkpoint_seconds: float = 60.0       # ... or seconds, whichever comes first
    priors: dict = field(default_factory=dict)  # prior name → weight, see objectives/priors.py;
    # TOML: `priors = {tv = 0.1, spectrum = 1.0}` or a [priors] table; flag: --prior tv=0.1,spectrum=1
    emitters: str | None = None            # map-elites: emitters sharing each batch, comma-separated
    plugins: str | None = None             # modules to import first (they register components)
    lowres_grid: int | None = None         # lowres/spectral: genes per side (None: 64; 16 under 64 px)
    workers: int = 1                       # processes (or Ray actors) that render and score each generation
    ray: str | None = None                 # run the workers as Ray actors: "auto", "local" or HOST:PORT

    def resolved(self, model: tuple[int, int, int] | None = None) -> "EvolveConfig":
        """A copy with the recipe's defaults filled in where the user left a setting open.

        ``model`` = (channels, input size, number of targets) lets recipe "auto" choose, and fills
        what depends on the image size. Without it what depends on the model stays open: recipe
        "auto" is kept with nothing filled where its choice depends on the model, and lowres-cma's
        population stays None, as the run fills them once it has loaded its model (so a sweep or
        compare job is the run `evolve` would make). The copy names the recipe it resolved to.
        """
        _check_choice("recipe", self.recipe, RECIPES)  # before the lookup below, which a typo would break
        from .genomes import ENCODINGS  # here: config stays light to import

        recipe = self.recipe
        if recipe == "auto":
            recipe = auto_recipe(self, model)
            if recipe is None:
                return self
        defaults = RECIPE_DEFAULTS[recipe]
        if recipe == "lowres-cma" and model is not None:
            defaults = {**defaults, "population": lowres_cma_population(model[1])}
        encoding = self.encoding or defaults["encoding"]
        if encoding in ENCODINGS:  # (an unknown name fails in validate)
            defaults = {**defaults, **ENCODINGS.entry(encoding).defaults}
        filled = {k: v for k, v in defaults.items() if getattr(self, k) is None}
        return dataclasses.replace(self, recipe=recipe, **filled)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


FIELD_TYPES = {f.name: f.type for f in dataclasses.fields(EvolveConfig)}


def resolved_for_run(values: dict, manifest: dict) -> dict:
    """Settings as a sweep or compare job holds them (recipe "auto" and size-dependent defaults still
    open), resolved for the model and targets a run's manifest records: the config that run has if
    it was made from them. Unchanged when the manifest or the settings cannot be read."""
    try:
        model = manifest["model"]
        shape = (int(model["channels"]), int(model["input_size"]), len(manifest["targets"]))
        return from_mapping(values, source="job").resolved(shape).to_dict()
    except (KeyError, TypeError, ValueError, EvodreamError):
        return values


MAX_SEED = 2 ** 63 - 1  # a signed 64-bit integer (numpy takes any size, torch.manual_seed < 2^64)
MAX_THREADS = 4096       # far past any machine; torch overflows on numbers past a C int
MAX_WORKERS = 4096
MAX_POPULATION = 10_000_000  # children per generation; more is out of memory on any machine
MAX_ETA = 1_000_000  # polynomial mutation's eta: far past where steps vanish; near float range it overflows


def set_torch_threads(threads: int | None) -> None:
    """torch.set_num_threads, after checking the number (None or 0: leave torch's default)."""
    if not threads:
        return
    if not 0 < threads <= MAX_THREADS:
        raise EvodreamError(f"--threads must be from 1 to {MAX_THREADS:,}, got {threads}")
    import torch

    torch.set_num_threads(threads)


def check_seed(seed, flag: str = "seed", maximum: int = MAX_SEED) -> None:
    """A seed every generator of a run accepts: a whole number from 0 to ``maximum``."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= maximum:
        raise EvodreamError(f"{flag} must be a whole number from 0 to {maximum:,}, got {seed!r}")


def _check_choice(name, value, choices):
    if value not in choices:
        hint = difflib.get_close_matches(str(value), choices, n=1)
        raise EvodreamError(f"unknown {name} {value!r}: choose one of {', '.join(choices)}"
                            + (f" (did you mean {hint[0]!r}?)" if hint else ""))


def coerce_setting(key: str, value, kind: str, what: str = "setting"):
    """``value`` as a setting of dataclass type ``kind`` ("int", "float | None", "str", ...), from a
    flag, a TOML file or a JSON request; one line naming the key when it is not one."""
    if value is None:
        if "None" in kind:
            return None
        raise EvodreamError(f"{what} {key!r} cannot be empty")
    try:
        if kind.startswith("int"):
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if kind.startswith("float"):
            if isinstance(value, bool) or not math.isfinite(float(value)):  # TOML has inf and nan
                raise ValueError
            return float(value)
        if kind.startswith("bool"):
            if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
                return value.lower() in ("true", "yes", "1")
            if not isinstance(value, bool):
                raise ValueError
            return value
        if kind == "dict":
            if not isinstance(value, dict):
                raise ValueError
            return dict(value)
        if isinstance(value, (list, tuple)) and key == "target":
            return ",".join(str(v) for v in value)
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise ValueError
        return str(value)
    except (TypeError, ValueError, OverflowError):  # (a float setting given a 400-digit integer)
        expected = kind.replace("float", "a finite float").replace(" | None", " or nothing")
        raise EvodreamError(f"{what} {key!r} must be {expected}, got {value!r:.60}") from None


def algorithms() -> tuple[str, ...]:
    """The registered search names (built-ins and plugins loaded so far)."""
    from .search import SEARCHES

    return SEARCHES.names()


def validate(config: EvolveConfig) -> EvolveConfig:
    from .genomes import ENCODINGS
    from .plugins import load_plugins
    from .search import EMITTERS, SEARCHES

    load_plugins(config.plugins)
    # encoding and emitters may still be open (None): the recipe fills them in (resolved()).
    if config.encoding is not None:
        _check_choice("encoding", config.encoding, ENCODINGS.names())
    _check_choice("algorithm", config.algorithm, SEARCHES.names())
    for name in (config.emitters or "mutation").split(","):
        _check_choice("emitter", name.strip(), EMITTERS.names())
    _check_choice("recipe", config.recipe, RECIPES)
    check_seed(config.seed)
    _check_choice("confidence", config.confidence, ("log_prob", "prob", "margin"))
    _check_choice("colour", config.colour, COLOURS)
    _check_choice("engine", config.engine, ENGINES)
    if config.device.split(":")[0] not in ("cpu", "cuda"):
        raise EvodreamError(f"unknown device {config.device!r}: use cpu, cuda or cuda:N")
    if config.parent_selection is not None:
        _check_choice("parent_selection", config.parent_selection, ("focus", "uniform"))
    positive = {"population": config.population, "generations": config.generations,
                "max_evals": config.max_evals, "max_seconds": config.max_seconds,
                "tournament_size": config.tournament_size, "checkpoint_every": config.checkpoint_every,
                "checkpoint_seconds": config.checkpoint_seconds,
                "eta": config.eta, "threads": config.threads, "input_size": config.input_size,
                "workers": config.workers}
    for name, value in positive.items():
        if value is not None and not value > 0:  # `not >` also catches NaN
            raise EvodreamError(f"{name.replace('_', '-')} must be positive, got {value}")
    caps = (("threads", config.threads, MAX_THREADS), ("workers", config.workers, MAX_WORKERS),
            ("population", config.population, MAX_POPULATION), ("eta", config.eta, MAX_ETA))
    for name, value, cap in caps:
        if value is not None and value > cap:
            raise EvodreamError(f"--{name} must be at most {cap:,}, got {value}")
    if config.halve_every is not None and config.halve_every < 0:
        raise EvodreamError("halve_every must be 0 (never) or a number of generations, "
                            f"got {config.halve_every}")
    for name in ("mutation_rate", "crossover_rate"):
        value = getattr(config, name)
        if value is not None and not 0 <= value <= 1:
            raise EvodreamError(f"{name.replace('_', '-')} must be between 0 and 1, got {value}")
    if config.goal is not None and not 0 < config.goal <= 1:  # 0 would be met before the first child
        raise EvodreamError(f"goal must be in (0, 1], or none to run on, got {config.goal}")
    from .objectives.priors import parse_priors  # here, not at the top: config stays light to import

    parse_priors(config.priors)  # unknown names and bad weights fail before any work starts
    if config.overlap and config.algorithm != "map-elites":
        raise EvodreamError(f"--overlap works with --algorithm map-elites only, not {config.algorithm}; "
                            "drop --overlap")
    from .workers import check_workers  # (light: Ray is imported only when a pool starts)

    check_workers(config)
    if config.algorithm == "nsga2" and any(config.priors.values()):
        raise EvodreamError("nsga2 trades confidence against naturalness itself: drop --prior "
                            "(or use --algorithm ga / map-elites with priors)")
    limits = (config.generations, config.max_evals, config.max_seconds)
    if all(limit is None for limit in limits) and config.goal is None:
        raise EvodreamError("the run has no end: give --generations, --max-evals, --max-seconds or --goal")
    return config


def from_mapping(values: dict, base: EvolveConfig | None = None, source: str = "config") -> EvolveConfig:
    config = base or EvolveConfig()
    if not isinstance(values, dict):
        raise EvodreamError(f"the {source} must be a table of settings, got {type(values).__name__}")
    changes = {}
    for key, value in values.items():
        key = key.replace("-", "_")
        if key not in FIELD_TYPES:
            hint = difflib.get_close_matches(key, FIELD_TYPES, n=1)
            raise EvodreamError(f"unknown {source} key {key!r}"
                                + (f": did you mean {hint[0]!r}?" if hint
                                   else f"; known keys: {', '.join(FIELD_TYPES)}"))
        changes[key] = coerce_setting(key, value, FIELD_TYPES[key])
    return dataclasses.replace(config, **changes)


def load_toml(path: str | Path) -> dict:
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise EvodreamError(f"config file {str(path)!r} does not exist: check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EvodreamError(f"cannot read config file {str(path)!r}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise EvodreamError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
    # An [evolve] table is accepted as well as top-level keys, so one file can hold other sections.
    return data.get("evolve", data) if isinstance(data.get("evolve"), dict) else data
