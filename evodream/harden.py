"""Retraining against fooling images (Nguyen et al. 2015, §3.4): does a "fooling" class stop them?

This is the Python API behind ``evodream harden``::

    from evodream.harden import HardenConfig, harden
    result = harden(HardenConfig(model="lenet-mnist", rounds=10), "runs/harden")

Round 0 evolves fooling images against the network for every one of its K classes (MAP-Elites
runs, one per seed, each a normal run folder). Round r >= 1 adds every image evolved for
training so far to the training set as class K, "fooling", trains a fresh (K+1)-class network
with the recipe of ``scripts/train_lenet.py`` (:func:`evodream.retrain.fit`, seeded), then evolves
new images against it — for the K real classes only: an image fools the (K+1)-class network when
it holds >= 99.99% on one of them.

The harden folder::

    OUT/harden.json        config + one record per finished round (what harden.csv and harden.md show)
    OUT/harden.csv         the same records as a table;  harden.md: the report;  harden.png: its plot
    OUT/rounds.png         one run's images per round, a row per round
    OUT/round-NN/model.pt  the round's network as a state dict (read with weights_only=True)
    OUT/round-NN/model.json   its class names, training-set counts, held-out accuracy
    OUT/round-NN/runs/     the round's evolve run folders: train-SS (their images join the training
                           set) and held-out-SS (kept out, to test whether the next network spots them)
    OUT/round-NN/images.npz   every run's final images, re-rendered exactly from their genomes
    OUT/round-NN/images.png   a grid of them

A round's network is the model ``harden:OUT/round-NN`` for every evodream command (evolve,
transfer, classes). A killed harden run continues with :func:`resume_harden`, at the round and the
evolve run it was in, and ends with the result of an uninterrupted one (same thread count).
"""
from __future__ import annotations

import dataclasses
import difflib
import io
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .config import MAX_SEED, check_seed, coerce_setting, set_torch_threads
from .errors import EvodreamError
from .retrain import DEFAULT_HOOK, Task, call_hook, fit, predict, with_fooling
from .runs import RunFolder, check_new_folder, read_json, write_atomic, write_json
from .statecheck import is_whole

FORMAT_VERSION = 1
FOOLING = 0.9999          # an image fools the network at this confidence (the paper's MNIST bar)
ALSO = 0.99               # the lower bar reported beside it
FOOLING_NAME = "fooling"
HARDEN = "harden.json"
MODEL, MODEL_INFO, IMAGES = "model.pt", "model.json", "images.npz"
# Round r's evolve run i is seeded seed * SEED_STRIDE + r * 1,000 + i (and its training seed * SEED_STRIDE
# + r): distinct for up to 99 rounds of 1,000 runs, and within every generator's range.
SEED_STRIDE = 100_000
RUNS_PER_ROUND = 1_000   # a round's block of seeds
MAX_ROUNDS = 99          # rounds 0..99 (round 0 included) fit in SEED_STRIDE
HARDEN_MAX_SEED = MAX_SEED // SEED_STRIDE - 1


@dataclass
class HardenConfig:
    """Settings of a harden run; every one is recorded in harden.json."""

    model: str = DEFAULT_HOOK       # lenet-mnist or package.module:function (see evodream/retrain.py)
    rounds: int = 10                # retraining rounds after round 0
    images_per_class: int = 10      # evolve runs per round whose images (one per class) join training
    held_out_runs: int = 2          # more runs per round, kept out of training (does the next net spot them?)
    encoding: str = "cppn"
    recipe: str = "fast"
    population: int | None = None
    max_evals: int = 5_000          # per evolve run: it stops there or once every class holds 99.99%
    budget: int = 1_000             # the fixed budget at which confidence is read from each run's metrics
    epochs: int = 15                # training recipe (scripts/train_lenet.py's)
    lr: float = 1e-3
    batch_size: int = 64
    seed: int = 0
    threads: int | None = 1         # torch threads: float sums, hence results, depend on it
    device: str = "cpu"
    classes_file: str | None = None  # the K class names, one per line (default: the model's or "0".."K-1")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class HardenResult:
    path: Path
    config: HardenConfig
    rounds: list[dict]      # one record per finished round, as in harden.json
    wall_seconds: float


FIELDS = {f.name: f for f in dataclasses.fields(HardenConfig)}


def config_from(values: dict, base: HardenConfig | None = None) -> HardenConfig:
    """A HardenConfig from a mapping (flags or harden.json), every key and type checked."""
    config = base or HardenConfig()
    changes = {}
    for key, value in values.items():
        key = key.replace("-", "_")
        if key not in FIELDS:
            hint = difflib.get_close_matches(key, FIELDS, n=1)
            raise EvodreamError(
                f"unknown harden setting {key!r}" + (f": did you mean {hint[0]!r}?" if hint else "")
            )
        changes[key] = coerce_setting(key, value, str(FIELDS[key].type), "harden setting")
    return check(dataclasses.replace(config, **changes))


def check(config: HardenConfig) -> HardenConfig:
    """Every setting in range, and the evolve settings the rounds will use valid, before any work."""
    for name, low in (("rounds", 1), ("images_per_class", 1), ("held_out_runs", 0), ("max_evals", 1),
                      ("budget", 1), ("epochs", 1), ("batch_size", 1)):
        value = getattr(config, name)
        if not value >= low:
            raise EvodreamError(f"--{name.replace('_', '-')} must be at least {low}, got {value}")
    # Runs are seeded in blocks (see SEED_STRIDE): past these, two runs would share a seed.
    if config.images_per_class + config.held_out_runs > RUNS_PER_ROUND:
        raise EvodreamError(f"--images-per-class + --held-out-runs must be at most {RUNS_PER_ROUND:,} "
                            f"(each round's runs have their own seeds), got "
                            f"{config.images_per_class + config.held_out_runs}")
    if config.rounds > MAX_ROUNDS:
        raise EvodreamError(f"--rounds must be at most {MAX_ROUNDS}, got {config.rounds}")
    if config.budget > config.max_evals:
        raise EvodreamError(f"--budget {config.budget} is past --max-evals {config.max_evals}: "
                            "confidence is read within each run, so give a budget <= max-evals")
    if not config.lr > 0:
        raise EvodreamError(f"--lr must be positive, got {config.lr}")
    check_seed(config.seed, "--seed", maximum=HARDEN_MAX_SEED)
    _evolve_config(config, "lenet-mnist", "0", 0)  # encoding, recipe, population, threads, device
    if config.device.startswith("cuda") and not torch.cuda.is_available():
        raise EvodreamError("--device cuda was asked for but torch sees no CUDA GPU: use --device cpu")
    return config


def _evolve_config(config: HardenConfig, model: str, targets: str, seed: int):
    from .config import EvolveConfig, validate

    evolve_config = EvolveConfig(
        model=model,
        encoding=config.encoding,
        recipe=config.recipe,
        target=targets,
        seed=seed,
        population=config.population,
        max_evals=config.max_evals,
        goal=FOOLING,
        threads=config.threads,
        device=config.device,
    )
    return validate(evolve_config.resolved())


# -- the API ----------------------------------------------------------------------------------------
def harden(
    config: HardenConfig, out: str | Path, *, log: Callable[[str], None] | None = print
) -> HardenResult:
    """Start a harden run in `out` (which must not exist or be empty) and run every round."""
    config = check(config)
    out = Path(out)
    if (out / HARDEN).exists():
        raise EvodreamError(
            f"{out} already holds a harden run: continue it with --resume {out} or choose a new --out"
        )
    check_new_folder(out)
    set_torch_threads(config.threads)
    task = call_hook(config.model, None)
    info = _describe(config, task)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EvodreamError(f"cannot create {out}: {exc.strerror}; choose another --out") from None
    write_json(out / HARDEN, {"format_version": FORMAT_VERSION, "kind": "harden", "config": config.to_dict(),
                              "classes": info["class_names"], "image_shape": info["image_shape"],
                              "torch_threads": torch.get_num_threads(), "rounds": []})
    return _run(out, log)


def resume_harden(out: str | Path, rounds: int | None = None, *,
                  log: Callable[[str], None] | None = print) -> HardenResult:
    """Continue the harden run in `out` where it stopped; `rounds` may raise (or lower) the round count."""
    out = Path(out)
    state = _read_state(out)
    record = (out / HARDEN).read_bytes()
    if rounds is not None:
        config = config_from({"rounds": rounds}, base=config_from(state["config"]))
        state["config"] = config.to_dict()
        write_json(out / HARDEN, state)
    try:
        return _run(out, log)
    except EvodreamError:
        # Refused before another round was recorded (say, a hook that changed): the record stays as it was.
        if len(read_json(out / HARDEN, "harden run").get("rounds", [])) == len(state["rounds"]):
            write_atomic(out / HARDEN, record)
        raise


def _read_state(out: Path) -> dict:
    if not out.is_dir():
        raise EvodreamError(f"{out} is not a folder: give the folder of a harden run")
    if not (out / HARDEN).exists():
        raise EvodreamError(
            f"{out} is not a harden run (no {HARDEN}): give the folder `evodream harden --out` made"
        )
    state = read_json(out / HARDEN, "harden run")
    if state.get("format_version") != FORMAT_VERSION or state.get("kind") != "harden":
        raise EvodreamError(
            f"{out / HARDEN} is not a harden record of format {FORMAT_VERSION}: start a new run"
        )
    if not isinstance(state.get("rounds"), list) or not isinstance(state.get("config"), dict):
        raise EvodreamError(f"{out / HARDEN} is corrupt (no config or rounds): start a new run")
    classes, rounds = state.get("classes"), state["rounds"]
    problem = None
    if not isinstance(classes, list) or len(classes) < 2 or not all(isinstance(c, str) for c in classes):
        problem = "classes is not a list of two or more names"
    elif not _is_image_shape(state.get("image_shape")):
        problem = "image_shape is not [channels, height, width]"
    elif not all(isinstance(r, dict) and r.get("round") == i for i, r in enumerate(rounds)):
        problem = "its rounds are not numbered 0, 1, 2, ..."
    if problem:
        raise EvodreamError(f"{out / HARDEN} is corrupt ({problem}): restore it from a good copy")
    return state


def _is_image_shape(shape) -> bool:
    return isinstance(shape, list) and len(shape) == 3 and all(is_whole(n, 1, 1 << 16) for n in shape)


def _run(out: Path, log) -> HardenResult:
    log = log or (lambda text: None)
    with RunFolder(out).lock():  # one writer per harden folder, as for run folders
        state = _read_state(out)
        config = config_from(state["config"])
        set_torch_threads(config.threads)
        if torch.get_num_threads() != state.get("torch_threads"):
            log(
                f"note: {torch.get_num_threads()} torch threads now, {state.get('torch_threads')} "
                "when the run "
                "started: results will differ from an uninterrupted run"
            )
        started = time.perf_counter()
        while len(state["rounds"]) <= config.rounds:
            number = len(state["rounds"])
            record = _round(out, config, state, number, log)
            state["rounds"].append(record)
            write_json(out / HARDEN, state)
            from .harden_report import write_report

            write_report(out, state)
            log(_round_line(record))
    return HardenResult(out, config, state["rounds"], time.perf_counter() - started)


def _describe(config: HardenConfig, task: Task) -> dict:
    """Class names, image shape and class count of the hook's network, checked on one training image."""
    shape = task.image_shape
    x, y = task.train[0]
    try:
        with torch.no_grad():
            logits = task.model.eval()(x.unsqueeze(0).float())
    except Exception as exc:
        raise EvodreamError(
            f"{config.model}'s network fails on one of its own training images "
            f"({type(exc).__name__}: {' '.join(str(exc).split())[:120]}): check the hook"
        ) from None
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2 or logits.shape[1] < 2:
        raise EvodreamError(
            f"{config.model}'s network must return logits (1, K >= 2) for one image, got "
            f"{tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__}"
        )
    k = int(logits.shape[1])
    if config.classes_file:
        from .classifiers.custom import _class_names

        names = list(_class_names(config.classes_file, k, config.model))
    elif (
        isinstance(getattr(task.model, "class_names", None), (list, tuple))
        and len(task.model.class_names) == k
    ):
        names = [str(n) for n in task.model.class_names]
    else:
        names = [str(i) for i in range(k)]
    if FOOLING_NAME in (n.lower() for n in names):
        raise EvodreamError(f"{config.model} already has a class named {FOOLING_NAME!r}: rename it")
    return {"class_names": names, "image_shape": list(shape), "classes": k}


# -- one round ------------------------------------------------------------------------------------
def _round(out: Path, config: HardenConfig, state: dict, number: int, log) -> dict:
    folder = out / f"round-{number:02d}"
    names = state["classes"]
    info = _model(out, folder, config, state, number, log)
    runs = [(f"train-{i:02d}", i) for i in range(config.images_per_class)]
    runs += [(f"held-out-{i:02d}", config.images_per_class + i) for i in range(config.held_out_runs)]
    targets = ",".join(str(i) for i in range(len(names)))
    model_spec = f"harden:{folder.resolve()}"
    stats = []
    for name, index in runs:
        seed = config.seed * SEED_STRIDE + number * 1_000 + index
        path = folder / "runs" / name
        stats.append(_evolve_run(path, _evolve_config(config, model_spec, targets, seed), config.budget))
        if len(runs) > 1:
            log(f"round {number}: run {name} (seed {seed}): {_run_line(stats[-1])}")
    images = _gather(folder, runs, stats)
    record = {"round": number, **{k: info[k] for k in ROUND_MODEL_KEYS}}
    record.update(_recall(out, config, state, number, info))
    record.update(_evolution_stats(stats, images, config))
    record["wall_seconds"] = round(info["train_seconds"] + sum(s["wall_seconds"] for s in stats), 3)
    return record


ROUND_MODEL_KEYS = ("classes", "train_images", "train_fooling", "held_out_accuracy", "held_out_as_fooling",
                    "train_seconds")


def _model(out: Path, folder: Path, config: HardenConfig, state: dict, number: int, log) -> dict:
    """The round's network: the hook's own in round 0, else a fresh one trained with the fooling class."""
    if (folder / MODEL_INFO).exists() and (folder / MODEL).exists():
        return read_json(folder / MODEL_INFO, "round's model record")
    names, k = state["classes"], len(state["classes"])
    started = time.perf_counter()
    if number == 0:
        task = _hook_task(out, config, state, None)
        train, fooling = task.train, 0
    else:
        fooling_images = training_fooling_images(out, number)
        # Seeded before the hook builds the network: its initial weights come from this seed.
        torch.manual_seed(config.seed * SEED_STRIDE + number)
        task = _hook_task(out, config, state, k + 1)
        train = with_fooling(task.train, fooling_images, k)
        fooling = len(fooling_images)
        log(
            f"round {number}: training a {k + 1}-class network on {len(task.train)} images "
            f"+ {fooling} fooling"
        )
        fit(
            task.model,
            train,
            task.held_out,
            epochs=config.epochs,
            lr=config.lr,
            batch_size=config.batch_size,
            device=config.device,
        )
    classes = names + ([FOOLING_NAME] if number else [])
    held = _held_out(task, k) if task.held_out is not None else {"held_out_accuracy": None,
                                                                   "held_out_as_fooling": None}
    info = {"format_version": FORMAT_VERSION, "round": number, "hook": config.model,
            "num_classes": len(classes), "class_names": classes, "image_shape": state["image_shape"],
            "classes": len(classes), "train_images": len(train), "train_fooling": fooling, **held,
            "train_seconds": round(time.perf_counter() - started, 3)}
    buffer = io.BytesIO()
    torch.save(task.model.state_dict(), buffer)
    folder.mkdir(exist_ok=True)
    write_atomic(folder / MODEL, buffer.getvalue())
    write_json(folder / MODEL_INFO, info)  # last: its presence says the model is complete
    return info


def _hook_task(out: Path, config: HardenConfig, state: dict, classes: int | None) -> Task:
    """The hook's task, refused if its images are not the shape the run started with."""
    task = call_hook(config.model, classes)
    if list(task.image_shape) != state["image_shape"]:
        raise EvodreamError(
            f"{out / HARDEN} records images of shape {state['image_shape']}, but {config.model} gives "
            f"{list(task.image_shape)}: resume with the hook the run started with, or start a new run"
        )
    return task


def _held_out(task: Task, k: int) -> dict:
    from .retrain import labels_of

    predicted, truth = predict(task.model, task.held_out), labels_of(task.held_out)
    return {"held_out_accuracy": round(float((predicted == truth).float().mean()), 6),
            "held_out_as_fooling": round(float((predicted == k).float().mean()), 6)}


def training_fooling_images(out: str | Path, number: int) -> torch.Tensor:
    """Every image the train-SS runs of rounds 0 .. number-1 evolved: round `number`'s fooling class."""
    parts = [load_images(Path(out) / f"round-{r:02d}", split="train")["images"] for r in range(number)]
    return torch.from_numpy(np.concatenate(parts)) if parts else torch.zeros(0)


def load_images(folder: str | Path, split: str | None = None) -> dict:
    """A round's images.npz as arrays (no pickle), optionally only the `train` or `held-out` runs'."""
    path = Path(folder) / IMAGES
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in ("images", "targets", "confidences", "runs", "train")}
    except FileNotFoundError:
        raise EvodreamError(f"{path} is missing: its round has not finished (`evodream harden --resume` "
                            "finishes it), or the file was removed (restore it or start a new run)") from None
    except (OSError, ValueError, KeyError) as exc:
        raise EvodreamError(
            f"{path} is corrupt ({type(exc).__name__}): the harden run cannot continue"
        ) from None
    if split is not None:
        keep = arrays["train"] if split == "train" else ~arrays["train"]
        arrays = {k: v[keep] for k, v in arrays.items()}
    return arrays


def _recall(out: Path, config: HardenConfig, state: dict, number: int, info: dict) -> dict:
    """Share of the previous round's images this round's network labels "fooling": trained on, held out."""
    if number == 0:
        return {"previous_train_as_fooling": None, "previous_held_out_as_fooling": None}
    net = load_round_model(out / f"round-{number:02d}")[0]
    k = len(state["classes"])
    shares = {}
    for split, key in (("train", "previous_train_as_fooling"), ("held-out", "previous_held_out_as_fooling")):
        images = load_images(out / f"round-{number - 1:02d}", split=split)["images"]
        shares[key] = (round(float((predict(net, torch.from_numpy(images)) == k).float().mean()), 6)
                       if len(images) else None)
    return shares


# -- evolution ------------------------------------------------------------------------------------
def _evolve_run(path: Path, evolve_config, budget: int) -> dict:
    """Run (or finish, or read) one evolve run; its figures for the round record."""
    from .evolve import evolve, resume

    if path.exists() and not (path / "manifest.json").exists():
        shutil.rmtree(path)  # killed while being created: nothing in it yet
    if not path.exists():
        evolve(evolve_config, path, progress=False)
    elif RunFolder(path).summary() is None:
        resume(path, progress=False)
    run = RunFolder.open(path, kind="evolve")
    summary = run.summary()
    reached = read_json(path / "reached.json", "run's milestones")["first_evaluation"]
    rows = run.read_metrics()
    at_budget = [r for r in rows if r["evaluations"] <= budget] or rows[:1]
    return {
        "path": path,
        "evaluations": int(summary["evaluations"]),
        "wall_seconds": float(summary["wall_seconds"]),
        "to_all_99": _all_reached(reached[f"{ALSO:g}"]),
        "to_all_9999": _all_reached(reached[f"{FOOLING:g}"]),
        "median_at_budget": at_budget[-1]["median"] if at_budget else 0.0,
        "min_at_budget": at_budget[-1]["min"] if at_budget else 0.0,
    }


def _all_reached(first: list) -> int | None:
    return None if any(v is None for v in first) else max(first)


def _gather(folder: Path, runs: list, stats: list) -> dict:
    """Every run's final elites re-rendered from their genomes (exact floats), saved as images.npz."""
    from .evolve import encoding_of_run
    from .images import labelled_grid, to_pil
    from .runs import write_image

    images, targets, confidences, run_index, train = [], [], [], [], []
    for (name, index), stat in zip(runs, stats):
        run = RunFolder.open(stat["path"], kind="evolve")
        encoding = encoding_of_run(run)
        for record in run.elite_records():
            genome = encoding.from_json(record["genome"])
            images.append(encoding.render(encoding.stack([genome]))[0].numpy().astype(np.float32))
            targets.append(int(record["class_index"]))
            confidences.append(float(record["confidence"]))
            run_index.append(index)
            train.append(name.startswith("train"))
    arrays = {
        "images": np.stack(images),
        "targets": np.array(targets, dtype=np.int64),
        "confidences": np.array(confidences, dtype=np.float64),
        "runs": np.array(run_index, dtype=np.int64),
        "train": np.array(train, dtype=bool),
    }
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_atomic(folder / IMAGES, buffer.getvalue())
    shown = arrays["runs"] < min(6, len(runs))  # a few runs' images, one row each
    pictures = [to_pil(torch.from_numpy(image), 56) for image in arrays["images"][shown]]
    labels = [f"{t} {c * 100:.2f}%" for t, c in zip(arrays["targets"][shown], arrays["confidences"][shown])]
    columns = int(np.sum(arrays["runs"] == 0)) or None
    write_image(folder / "images.png", labelled_grid(pictures, labels, columns=columns, tile=56))
    return arrays


def _evolution_stats(stats: list, images: dict, config: HardenConfig) -> dict:
    def median_reach(key):
        # Runs that never got there count as beyond the cap: the median is None if most never did.
        values = sorted(s[key] if s[key] is not None else math.inf for s in stats)
        middle = float(np.median(values))
        return None if math.isinf(middle) else round(middle, 1)

    confidences = images["confidences"]
    return {"runs": len(stats), "runs_all_fooled": sum(s["to_all_9999"] is not None for s in stats),
            "evals_to_all_99_median": median_reach("to_all_99"),
            "evals_to_all_9999_median": median_reach("to_all_9999"),
            "median_confidence_at_budget": round(float(np.median([s["median_at_budget"] for s in stats])), 6),
            "min_confidence_at_budget": round(float(np.median([s["min_at_budget"] for s in stats])), 6),
            "final_median_confidence": round(float(np.median(confidences)), 6),
            "images_fooling": round(float(np.mean(confidences >= FOOLING)), 6),
            "evaluations": int(sum(s["evaluations"] for s in stats))}


def _run_line(stat: dict) -> str:
    reach = stat["to_all_9999"]
    return (f"{stat['evaluations']} evaluations, " + (f"all classes >= 99.99% at {reach}" if reach is not None
                                                      else "not every class reached 99.99%"))


def _round_line(record: dict) -> str:
    acc = record["held_out_accuracy"]
    prev = record["previous_held_out_as_fooling"]
    return (f"round {record['round']}: {record['runs_all_fooled']}/{record['runs']} runs fooled every class "
            f"(median {record['evals_to_all_9999_median']} evaluations), median confidence "
            f"{record['median_confidence_at_budget']:.4f} at the budget; "
            + (f"held-out accuracy {acc:.4f}" if acc is not None else "no held-out set")
            + (f", last round's unseen images labelled fooling {prev:.2%}" if prev is not None else "")
            + f" ({record['wall_seconds']:.0f} s)")


# -- loading a round's network ---------------------------------------------------------------------
def load_round_model(folder: str | Path) -> tuple[torch.nn.Module, dict]:
    """A round's network (weights read with weights_only=True) and its model.json record."""
    folder = Path(folder)
    if not (folder / MODEL_INFO).exists():
        raise EvodreamError(f"{folder} holds no harden round model ({MODEL_INFO}): give OUT/round-NN of a "
                            "harden run whose round has trained")
    info = read_json(folder / MODEL_INFO, "round's model record")
    try:
        number, hook, classes = int(info["round"]), str(info["hook"]), list(info["class_names"])
    except (KeyError, TypeError, ValueError):
        raise EvodreamError(f"{folder / MODEL_INFO} is corrupt: the round cannot be loaded") from None
    net = call_hook(hook, None if number == 0 else len(classes)).model
    try:
        state = torch.load(folder / MODEL, map_location="cpu", weights_only=True)
        net.load_state_dict(state)
    except FileNotFoundError:
        raise EvodreamError(f"{folder / MODEL} is missing: the round's model is incomplete") from None
    except Exception as exc:
        raise EvodreamError(f"{folder / MODEL} cannot be loaded into {hook}'s network ({type(exc).__name__}: "
                            f"{' '.join(str(exc).split())[:120]}): the round is corrupt") from None
    return net.eval(), info


def load_round_classifier(folder: str | Path, device: str = "cpu"):
    """The Classifier of ``--model harden:OUT/round-NN``: a round's network with its class names."""
    from .classifiers import Classifier

    net, info = load_round_model(folder)
    if not _is_image_shape(info.get("image_shape")):
        raise EvodreamError(f"{Path(folder) / MODEL_INFO} is corrupt (image_shape is not [channels, height, "
                            "width]): the round cannot be loaded")
    channels, size = info["image_shape"][0], info["image_shape"][-1]
    return Classifier(net, name=f"harden:{Path(folder).name}:{info['hook']}", class_names=info["class_names"],
                      input_size=size, channels=channels, device=device)
