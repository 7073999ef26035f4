"""Bad input on every subcommand: one line on stderr, exit code 2, no traceback, no file changed.

Plus property-based tests: random config mappings and random / garbled genome JSON never raise
anything but EvodreamError, and valid genomes round-trip exactly.
"""
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evodream.cli import main
from evodream.config import FIELD_TYPES, EvolveConfig, from_mapping, validate
from evodream.errors import EvodreamError
from evodream.genomes import CPPNEncoding, DirectEncoding

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """Runs and files the cases point at; every case must leave all of it as it was."""
    ws = tmp_path_factory.mktemp("bad-input")
    quiet = ["--quiet", "--goal", "none"]
    assert main(["evolve", "--target", "1,2", "--generations", "4", "--out", str(ws / "run")] + quiet) == 0
    assert main(["evolve", "--encoding", "cppn", "--target", "3", "--generations", "3",
                 "--out", str(ws / "cppn-run")] + quiet) == 0
    assert main(["ascend", "--target", "1", "--steps", "2", "--out", str(ws / "ascend-run"), "--quiet"]) == 0
    # A run whose checkpoint was cut short, and a CPPN run whose elite was edited into a cycle.
    shutil.copytree(ws / "run", ws / "cut-run")
    checkpoint = ws / "cut-run" / "checkpoint.json"
    checkpoint.write_bytes(checkpoint.read_bytes()[:200])
    shutil.copytree(ws / "run", ws / "no-checkpoint-run")
    (ws / "no-checkpoint-run" / "checkpoint.json").unlink()
    for name, field, value in (("hi-run", "confidence", "hi"), ("past-run", "class_index", 57),
                               ("huge-run", "class_index", 10 ** 30)):  # elites edited by hand
        shutil.copytree(ws / "run", ws / name)
        elite = next((ws / name / "elites").glob("*.json"))
        elite.write_text(json.dumps({**json.loads(elite.read_text()), field: value}))
    shutil.copytree(ws / "cppn-run", ws / "targets-run")
    manifest = ws / "targets-run" / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "targets": ["3"]}))
    (ws / "halve.toml").write_text("halve_every = -1\n")
    for name in ("elites-file-run", "wide-metrics-run", "reached-huge-run", "broken-png-run"):
        shutil.copytree(ws / "run", ws / name)
    shutil.rmtree(ws / "elites-file-run" / "elites")
    (ws / "elites-file-run" / "elites").write_text("not a folder")
    with open(ws / "wide-metrics-run" / "metrics.csv", "a") as handle:
        handle.write("5," + "9" * 200_000 + "\n")  # past the csv module's field limit
    reached = ws / "reached-huge-run" / "reached.json"
    data = json.loads(reached.read_text())
    data["first_evaluation"] = {key: [10 ** 400] * len(v) for key, v in data["first_evaluation"].items()}
    reached.write_text(json.dumps(data))
    next((ws / "broken-png-run" / "elites").glob("*.png")).write_bytes(b"\x89PNG\r\n\x1a\n cut")
    shutil.copytree(ws / "run", ws / "huge-count-run")
    checkpoint = ws / "huge-count-run" / "checkpoint.json"
    state = json.loads(checkpoint.read_text())
    state["search"]["evaluations"] = 2 ** 80
    checkpoint.write_text(json.dumps(state))
    shutil.copytree(ws / "run", ws / "priors-list-run")
    manifest = ws / "priors-list-run" / "manifest.json"
    edited = json.loads(manifest.read_text())
    edited["config"]["priors"] = edited["objective"]["priors"] = [1, 2]
    manifest.write_text(json.dumps(edited))
    shutil.copytree(ws / "cppn-run", ws / "cycle-run")
    elite = next((ws / "cycle-run" / "elites").glob("*.json"))
    record = json.loads(elite.read_text())
    record["genome"]["hidden"] += [{"id": 90, "activation": "sine"}, {"id": 91, "activation": "sine"}]
    record["genome"]["connections"] += [[90, 91, 1.0], [91, 90, 1.0]]
    elite.write_text(json.dumps(record))
    (ws / "bad.toml").write_text("model = [unclosed\n")
    (ws / "typo.toml").write_text('model = "lenet-mnist"\npopulaton = 20\n')
    (ws / "types.toml").write_text('population = "many"\n')
    (ws / "inf.toml").write_text("max_seconds = inf\n")
    (ws / "ascent-lr.toml").write_text('[grid]\nalgorithm = ["ascent"]\n[ascent]\nlr = "fast"\n')
    (ws / "seed.toml").write_text("[grid]\nseed = [0, -1]\n")
    (ws / "notes.txt").write_text("not a picture")
    (ws / "fake.png").write_bytes(b"\x89PNG\r\n\x1a\n but then garbage")
    (ws / "fake.pt").write_text("not a TorchScript archive")
    (ws / "dangling.png").symlink_to(ws / "nowhere" / "picture.png")
    (ws / "plain").mkdir()
    (ws / "plain" / "keep.txt").write_text("a folder that is not a run")
    return ws


# (subcommand args, text the one-line message must contain); paths are relative to the workspace.
CASES = {
    "evolve: unknown model": (["evolve", "--model", "lenet-mnst", "--out", "o"],
                              "did you mean 'lenet-mnist'"),
    "evolve: unknown class": (["evolve", "--target", "seven", "--out", "o"],
                              "unknown class 'seven'. Run `evodream classes lenet-mnist --search TEXT`"),
    "evolve: ImageNet class of the default model": (
        ["evolve", "--target", "Macaw", "--out", "o"],
        "unknown class 'Macaw' for lenet-mnist: it is an ImageNet class, so pass --model efficientnet-lite0"),
    "evolve: class index out of range": (["evolve", "--target", "12", "--out", "o"], "out of range"),
    "evolve: unknown encoding": (["evolve", "--encoding", "pixels", "--out", "o"],
                                 "unknown encoding 'pixels'"),
    "evolve: unknown algorithm": (["evolve", "--algorithm", "mapelites", "--out", "o"],
                                  "did you mean 'map-elites'"),
    "evolve: unknown recipe": (["evolve", "--recipe", "quick", "--out", "o"], "unknown recipe 'quick'"),
    "evolve: unknown prior": (["evolve", "--prior", "sharpness=1", "--out", "o"],
                              "unknown prior 'sharpness'"),
    "evolve: prior weight not a number": (["evolve", "--prior", "tv=lots", "--out", "o"], "not a number"),
    "evolve: nsga2 with priors": (["evolve", "--algorithm", "nsga2", "--prior", "tv=1", "--out", "o"],
                                  "drop --prior"),
    "evolve: malformed TOML": (["evolve", "--config", "bad.toml", "--out", "o"], "not valid TOML"),
    "evolve: unknown config key": (["evolve", "--config", "typo.toml", "--out", "o"],
                                   "did you mean 'population'"),
    "evolve: wrong type in TOML": (["evolve", "--config", "types.toml", "--out", "o"],
                                   "'population' must be int"),
    "evolve: missing config file": (["evolve", "--config", "nope.toml", "--out", "o"], "does not exist"),
    "evolve: wrong type on a flag": (["evolve", "--generations", "many", "--out", "o"], "invalid int value"),
    "evolve: zero population": (["evolve", "--population", "0", "--out", "o"], "population must be positive"),
    "evolve: negative budget": (["evolve", "--max-evals", "-5", "--out", "o"], "max-evals must be positive"),
    "evolve: NaN checkpoint interval": (["evolve", "--checkpoint-seconds", "nan", "--out", "o"],
                                        "argument --checkpoint-seconds: 'nan' is not a finite number"),
    "evolve: infinite eta": (["evolve", "--eta", "inf", "--out", "o"], "'inf' is not a finite number"),
    "evolve: infinity in TOML": (["evolve", "--config", "inf.toml", "--out", "o"],
                                 "setting 'max_seconds' must be a finite float or nothing, got inf"),
    "evolve: negative seed": (["evolve", "--seed", "-1", "--out", "o"], "seed must be a whole number from 0"),
    "evolve: seed past 64 bits": (["evolve", "--seed", str(2 ** 70), "--out", "o"],
                                  "seed must be a whole number from 0"),
    "evolve: rate above 1": (["evolve", "--mutation-rate", "1.5", "--out", "o"], "between 0 and 1"),
    "evolve: goal above 1": (["evolve", "--goal", "2", "--out", "o"], "goal must be in (0, 1]"),
    "evolve: goal 0": (["evolve", "--goal", "0", "--max-evals", "50", "--out", "o"],
                       "goal must be in (0, 1], or none to run on"),
    "evolve: GA of one": (["evolve", "--algorithm", "ga", "--population", "1", "--out", "o"],
                          "give --population 2 or more, not 1"),
    "evolve: cma emitter of two": (["evolve", "--recipe", "lowres-cma", "--population", "2", "--out", "o"],
                                   "the cma emitter needs at least 3 children a generation but gets 2"),
    "evolve: eta past float range": (["evolve", "--eta", "1e300", "--out", "o"], "--eta must be at most"),
    "evolve: negative halving": (["evolve", "--config", "halve.toml", "--out", "o"],
                                 "halve_every must be 0 (never) or a number of generations, got -1"),
    "evolve: prior weight 1e300": (["evolve", "--prior", "tv=1e300", "--out", "o"],
                                   "weights must be from 0 to 1,000,000"),
    "evolve: --out holds a run": (["evolve", "--generations", "2", "--out", "run"], "already holds a run"),
    "evolve: --out is a file": (["evolve", "--generations", "2", "--out", "notes.txt"],
                                "not an empty folder"),
    "evolve: model file not TorchScript": (["evolve", "--model", "fake.pt", "--input-size", "8",
                                            "--out", "o"], "is not a TorchScript model"),
    "evolve: resume a folder that is not a run": (["evolve", "--resume", "plain"], "not an evodream run"),
    "evolve: resume a run of the wrong kind": (["evolve", "--resume", "ascend-run"], "is a 'ascend' run"),
    "evolve: resume changing a setting": (["evolve", "--resume", "run", "--population", "5"],
                                          "may change, not population"),
    "evolve: resume with --out": (["evolve", "--resume", "run", "--out", "x"], "drop --out"),
    "evolve: corrupt checkpoint": (["evolve", "--resume", "cut-run", "--generations", "9"],
                                   "checkpoint.json is corrupt"),
    "evolve: finished run lost its checkpoint": (
        ["evolve", "--resume", "no-checkpoint-run", "--generations", "9"],
        "checkpoint.json is missing, so it cannot be continued"),
    "render: not a run": (["render", "plain"], "not an evodream run"),
    "render: unknown class": (["render", "run", "--class", "9"], "'9' is not a target of this run"),
    "render: --out a dangling link": (["render", "cppn-run", "--class", "3", "--out", "dangling.png"],
                                      "dangling.png exists: choose another --out"),
    "render: manifest targets edited": (["render", "targets-run", "--class", "3", "--out", "t.png"],
                                        "is corrupt (targets is not a list of class indices)"),
    "render: zero size": (["render", "run", "--size", "0", "--out", "r.png"], "--size must be between"),
    "render: existing --out": (["render", "run", "--out", "notes.txt"], "notes.txt exists"),
    "render: --out not an image name": (["render", "run", "--out", "picture.xyz"], "no image extension"),
    "render: genome with a cycle": (["render", "cycle-run", "--out", "r.png"], "form a cycle"),
    "classes: unknown model": (["classes", "lenet-mnst"], "unknown model 'lenet-mnst'"),
    "classes: nothing matches": (["classes", "lenet-mnist", "--search", "zebu"],
                                 "no class of lenet-mnist contains 'zebu': try a shorter --search"),
    "classes: an ImageNet search of the default model": (
        ["classes", "lenet-mnist", "--search", "Zebra"],
        "no class of lenet-mnist contains 'Zebra': ImageNet has 1: see `evodream classes efficientnet-lite0"),
    "models: unknown flag": (["models", "--all"], "unrecognized arguments: --all"),
    "unknown subcommand": (["breed"], "invalid choice: 'breed'"),
    "evolve: checkpoint count past int64": (["evolve", "--resume", "huge-count-run", "--generations", "9"],
                                            "search.evaluations must be an integer from 0 to"),
    "evolve: resume where elites is a file": (["evolve", "--resume", "elites-file-run", "--generations", "9"],
                                              "is a file, not the run's elites folder"),
    "report: metrics field past csv's limit": (["report", "wide-metrics-run", "--out", "rep"],
                                               "metrics.csv cannot be read (field larger than field limit"),
    "report: reached.json past int64": (["report", "reached-huge-run", "--out", "rep"],
                                        "reached.json is corrupt: delete it"),
    "report: elite PNG cut short": (["report", "broken-png-run", "--out", "rep"],
                                    "is not a readable picture"),
    "report: title not UTF-8": (["report", "run", "--out", "rep", "--title", "\udcff\udcfe"],
                                "--title is not valid UTF-8 text"),
    "transfer: --out inside the run": (
        ["transfer", "run", "--models", "lenet-mnist-b", "--out", "run/elites"],
        "--out run/elites lies inside the run run"),
    "report: not a run": (["report", "plain", "--out", "rep"], "not an evodream run"),
    "report: --out is a file": (["report", "run", "--out", "notes.txt"], "is a file"),
    "report: zero classes": (["report", "run", "--out", "rep", "--max-classes", "0"], "must be positive"),
    "compare: unknown method": (["compare", "--methods", "hillclimb", "--out", "cmp"],
                                "unknown method 'hillclimb'"),
    "compare: empty --methods": (["compare", "--methods", ",", "--out", "cmp"], "no --methods given"),
    "compare: unknown prior, no +priors method": (
        ["compare", "--methods", "map-elites-direct", "--priors", "bogus=1", "--out", "cmp"],
        "unknown prior 'bogus'"),
    "compare: zero budget": (["compare", "--budget", "0", "--out", "cmp"], "--budget must be a positive"),
    "compare: negative seed": (["compare", "--seed", "-1", "--out", "cmp"], "--seed must be a whole number"),
    "transfer: unknown model": (["transfer", "run", "--models", "lenet-mnst", "--out", "tr"],
                                "unknown model"),
    "transfer: unknown transform": (["transfer", "run", "--models", "lenet-mnist-b", "--transforms", "rotate",
                                     "--out", "tr"], "unknown transform 'rotate'"),
    "transfer: not a run": (["transfer", "plain", "--models", "lenet-mnist-b"], "not an evodream run"),
    "transfer: confidence edited": (["transfer", "hi-run", "--models", "lenet-mnist-b", "--out", "tr"],
                                    "is corrupt (confidence 'hi' is not a probability)"),
    "transfer: class past the model's": (["transfer", "past-run", "--models", "lenet-mnist-b", "--out", "tr"],
                                         "elite of class 57 is past lenet-mnist's 10 classes"),
    "transfer: huge class index": (["transfer", "huge-run", "--models", "lenet-mnist-b", "--out", "tr"],
                                   "is not a class index"),
    "report: confidence edited": (["report", "hi-run", "--out", "rep"], "is not a probability"),
    "report: priors not a table": (["report", "priors-list-run", "--out", "rep"],
                                   "manifest.json is corrupt: its priors [1, 2] are not name = weight pairs"),
    "ascend: --init not an image": (["ascend", "--init", "notes.txt", "--out", "a"],
                                    "not an image PIL can read"),
    "ascend: --init a broken PNG": (["ascend", "--init", "fake.png", "--out", "a"],
                                    "not an image PIL can read"),
    "ascend: zero steps": (["ascend", "--steps", "0", "--out", "a"], "--steps must be positive"),
    "ascend: negative seed": (["ascend", "--seed", "-3", "--out", "a"], "--seed must be a whole number"),
    "ascend: unknown param": (["ascend", "--param", "wavelet", "--out", "a"], "unknown param 'wavelet'"),
    "ascend: --out holds a run": (["ascend", "--steps", "2", "--out", "run"], "already holds a run"),
    "evolve: threads past a C int": (["evolve", "--threads", str(10**30), "--max-evals", "10", "--out", "n"],
                                     "--threads must be at most 4,096"),
    "evolve: workers past the cap": (["evolve", "--workers", str(10**30), "--max-evals", "10", "--out", "n"],
                                     "--workers must be at most 4,096"),
    "evolve: population past the cap": (["evolve", "--population", str(10**30), "--out", "n"],
                                        "--population must be at most 10,000,000"),
    "ascend: threads past a C int": (["ascend", "--threads", str(10**30), "--out", "a"],
                                     "--threads must be from 1 to 4,096"),
    "dream: octaves past the cap": (["dream", "--model", "lenet-mnist", "--octaves", "1000", "--out", "d"],
                                    "--octaves must be at most 64"),
    "dream: frame past a GIF's": (["dream", "--model", "lenet-mnist", "--frame-ms", "1000000", "--out", "d"],
                                  "--frame-ms must be at most 655,350"),
    "evolve: empty --resume": (["evolve", "--resume", "", "--max-evals", "40"], "is not an evodream run"),
    "harden: empty --resume": (["harden", "--resume", ""], "is not a harden run"),
    "dream: unknown layer": (["dream", "--model", "lenet-mnist", "--layer", "conv9", "--out", "d"],
                             "unknown layer 'conv9'"),
    "dream: --image not an image": (["dream", "--model", "lenet-mnist", "--image", "notes.txt", "--out", "d"],
                                    "not an image PIL can read"),
    "dream: --image missing": (["dream", "--model", "lenet-mnist", "--image", "gone.png", "--out", "d"],
                               "does not exist"),
    "dream: --out not empty": (["dream", "--model", "lenet-mnist", "--out", "plain"], "not an empty folder"),
    "dream: negative seed": (["dream", "--model", "lenet-mnist", "--seed", "-1", "--out", "d"],
                             "--seed must be a whole number"),
    "dream: size past the cap": (["dream", "--model", "lenet-mnist", "--size", "100000", "--out", "d"],
                                 "--size must be from 16 to 8192 pixels"),
    "dream: octave scale past float range": (["dream", "--model", "lenet-mnist", "--octave-scale", "1e308",
                                              "--out", "d"], "--octave-scale must be above 1 and at most 16"),
    "dream: zoom frames past the cap": (["dream", "--model", "lenet-mnist", "--zoom-frames", str(2 ** 70),
                                         "--out", "d"], "--zoom-frames must be at most 10,000"),
    "dream: empty target": (["dream", "--model", "lenet-mnist", "--target", " ", "--out", "d"],
                            "--target is empty"),
    "dream: unknown photo": (["dream", "--model", "lenet-mnist", "--photo", "kitten", "--out", "d"],
                             "unknown photo 'kitten'"),
    "sweep: malformed TOML": (["sweep", "bad.toml", "--dry-run", "--out", "sw"], "not valid TOML"),
    "sweep: ascent lr not a number": (["sweep", "ascent-lr.toml", "--dry-run", "--out", "sw"],
                                      "ascend setting 'lr' must be a finite float, got 'fast'"),
    "sweep: negative seed": (["sweep", "seed.toml", "--dry-run", "--out", "sw"], "must be a whole number"),
    "sweep: missing file": (["sweep", "nope.toml", "--dry-run", "--out", "sw"], "does not exist"),
}


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in folder.rglob("*")}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_exit_2_and_changes_nothing(workspace, capsys, monkeypatch, case):
    args, message = CASES[case]
    monkeypatch.chdir(workspace)
    before = _snapshot(workspace)
    code = main(args + (["--quiet"]
                        if args[0] in ("evolve", "ascend", "dream", "compare", "transfer", "sweep")
                        and "--resume" not in args else []))
    captured = capsys.readouterr()
    assert code == 2, captured
    assert captured.err.startswith("evodream: error: ") and captured.err.count("\n") == 1, captured.err
    assert message in captured.err, captured.err
    assert "Traceback" not in captured.err and captured.out == ""
    assert _snapshot(workspace) == before


def test_as_a_command_there_is_no_traceback(workspace):
    """The same through the real entry point, two at once (each pays Python's start-up)."""
    chosen = ["evolve: corrupt checkpoint", "render: genome with a cycle"]
    before = _snapshot(workspace)
    procs = [subprocess.Popen([sys.executable, "-m", "evodream.cli", *CASES[name][0]], cwd=workspace,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in chosen]
    for name, proc in zip(chosen, procs):
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 2, (name, err)
        assert "Traceback" not in err and err.count("\n") == 1 and CASES[name][1] in err, (name, err)
    assert _snapshot(workspace) == before


# -- property-based: config ----------------------------------------------------------------------

JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(),
                         st.integers(min_value=10 ** 300, max_value=10 ** 400),
                         st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))
JSON_VALUES = st.recursive(JSON_SCALARS,
                           lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                   st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                           max_leaves=8)
KEYS = st.one_of(st.sampled_from(sorted(FIELD_TYPES)),
                 st.sampled_from([k.replace("_", "-") for k in FIELD_TYPES]),
                 st.text(max_size=10))
# Values a key plausibly gets: the right kind, near the edges, or anything at all.
PLAUSIBLE = st.one_of(JSON_VALUES,
                      st.sampled_from(["all", "cppn", "nsga2", "paper", "none", "0", "1,2", "tv=1"]),
                      st.integers(min_value=-3, max_value=3), st.floats(min_value=-2, max_value=2),
                      st.dictionaries(st.sampled_from(["tv", "spectrum", "robust", "nope"]), JSON_SCALARS,
                                      max_size=3))

# Modest counts keep the file fast; EVODREAM_HYPOTHESIS_SCALE=20 makes a deeper hunt.
SCALE = float(os.environ.get("EVODREAM_HYPOTHESIS_SCALE", "1"))
CONFIG_EXAMPLES = int(200 * SCALE)
GENOME_EXAMPLES = int(100 * SCALE)


@settings(max_examples=CONFIG_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(KEYS, PLAUSIBLE, max_size=6))
def test_config_loader_raises_only_evodream_errors(values):
    try:
        config = validate(from_mapping(values).resolved())
    except EvodreamError as exc:
        assert "\n" not in str(exc)
        return
    assert isinstance(config, EvolveConfig)
    assert from_mapping(config.to_dict()) == config  # what a manifest stores loads back the same


# -- property-based: genomes ---------------------------------------------------------------------

CPPN = CPPNEncoding(3, 8)
DIRECT = DirectEncoding(1, 4)


@st.composite
def cppn_genomes(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    population = CPPN.random(2, rng)
    for generation in range(draw(st.integers(0, 12))):
        population = CPPN.mutate(population, rng, generation)
    return population[draw(st.integers(0, 1))]


# Pieces that look right: a node or a connection with ids near the real ones (dangling, duplicated, cyclic).
NEAR_IDS = st.integers(-1, 12)
NODES = st.fixed_dictionaries({"id": NEAR_IDS,
                               "activation": st.sampled_from(["sine", "sigmoid", "gaussian", "abs", "relu"])})
LINKS = st.tuples(NEAR_IDS, NEAR_IDS, st.one_of(st.floats(-12, 12), st.integers(-12, 12))).map(list)


def _garble(draw, value, depth=0, key=None):
    """One random edit somewhere inside a JSON value."""
    if isinstance(value, dict) and value and depth < 4:
        # Mostly inside the graph: a top-level typo is caught by the first check and teaches little.
        inner = [k for k in ("connections", "hidden", "outputs", "pixels_f32_base64", "shape") if k in value]
        key = draw(st.sampled_from(inner * 6 + sorted(value)) if depth == 0 and inner
                   else st.sampled_from(sorted(value)))
        action = draw(st.sampled_from(["recurse"] * (6 if depth else 20) + ["delete", "replace"]))
        out = dict(value)
        if action == "delete":
            del out[key]
        elif action == "replace":
            out[key] = draw(JSON_VALUES)
        else:
            out[key] = _garble(draw, value[key], depth + 1, key)
        return out
    if isinstance(value, list) and depth < 4:
        if not value or draw(st.integers(0, 3)) == 0:
            piece = {"connections": LINKS, "hidden": NODES, "outputs": NODES}.get(
                key, st.one_of(NODES, LINKS))
            return list(value) + [draw(piece)]
        i = draw(st.integers(0, len(value) - 1))
        action = draw(st.sampled_from(["recurse"] * 3 + ["delete", "duplicate", "replace"]))
        out = list(value)
        if action == "delete":
            del out[i]
        elif action == "duplicate":
            out.append(out[i])
        elif action == "replace":
            out[i] = draw(JSON_VALUES)
        else:
            out[i] = _garble(draw, value[i], depth + 1)
        return out
    return draw(st.one_of(JSON_SCALARS, st.integers(-3, 30), st.sampled_from(["sine", "abs", "relu", 1e308])))


def _accepted_genome_is_valid(encoding, genome):
    data = encoding.to_json(genome)
    assert encoding.to_json(encoding.from_json(json.loads(json.dumps(data)))) == data
    images = encoding.render(encoding.stack([genome]))
    assert images.shape == (1, encoding.channels, encoding.size, encoding.size)
    assert bool(((images >= 0) & (images <= 1)).all())


@settings(max_examples=GENOME_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cppn_genomes())
def test_valid_cppn_genomes_round_trip_exactly(genome):
    data = CPPN.to_json(genome)
    again = CPPN.from_json(json.loads(json.dumps(data)))
    assert CPPN.to_json(again) == data
    assert np.array_equal(CPPN.render([genome]).numpy(), CPPN.render([again]).numpy())


@settings(max_examples=GENOME_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cppn_genomes(), st.data())
def test_garbled_cppn_json_is_rejected_or_valid(genome, data):
    garbled = CPPN.to_json(genome)
    for _ in range(data.draw(st.integers(1, 3))):
        garbled = _garble(data.draw, garbled)
    try:
        result = CPPN.from_json(garbled)
    except EvodreamError as exc:
        assert "\n" not in str(exc)
        return
    _accepted_genome_is_valid(CPPN, result)


@settings(max_examples=GENOME_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2 ** 32 - 1), st.data())
def test_direct_json_round_trips_and_garbled_is_rejected_or_valid(seed, data):
    genome = DIRECT.random(1, np.random.default_rng(seed))[0]
    exact = DIRECT.to_json(genome)
    assert np.array_equal(DIRECT.from_json(json.loads(json.dumps(exact))), genome)
    garbled = _garble(data.draw, exact)
    if data.draw(st.booleans()):  # or well-formed base64 of random floats, NaN and out-of-range ones included
        raw = np.asarray(data.draw(st.lists(st.floats(width=32), min_size=16, max_size=16)), dtype="<f4")
        garbled = {**exact, "pixels_f32_base64": __import__("base64").b64encode(raw.tobytes()).decode()}
    try:
        result = DIRECT.from_json(garbled)
    except EvodreamError as exc:
        assert "\n" not in str(exc)
        return
    _accepted_genome_is_valid(DIRECT, result)


@pytest.mark.parametrize("bad", [
    {"encoding": "cppn", "hidden": [], "outputs": [{"id": 4, "activation": "sine"}] * 3, "connections": []},
    {"encoding": "cppn", "hidden": [{"id": 9, "activation": "relu"}], "outputs": [], "connections": []},
    {"encoding": "cppn", "hidden": [{"id": i, "activation": "sine"} for i in range(4, 10_010)],
     "outputs": [], "connections": []},
    {"encoding": "cppn", "hidden": [], "outputs": [{"id": i, "activation": "sine"} for i in (4, 5, 6)],
     "connections": [[0, 4, math.nan]]},
    {"encoding": "cppn", "hidden": [], "outputs": [{"id": i, "activation": "sine"} for i in (4, 5, 6)],
     "connections": [[0, 4, 10 ** 400]]},
    {"encoding": "cppn", "hidden": [{"id": 7, "activation": "sine"}, {"id": 8, "activation": "sine"}],
     "outputs": [{"id": i, "activation": "sine"} for i in (4, 5, 6)],
     "connections": [[7, 8, 1.0], [8, 7, 1.0]]},
    ["not", "an", "object"],
])
def test_cppn_rejects_named_attacks(bad):
    """Duplicated ids, unknown activations, huge graphs, NaN / huge weights, cycles, non-objects."""
    with pytest.raises(EvodreamError, match="invalid cppn genome"):
        CPPN.from_json(bad)
