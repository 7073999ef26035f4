"""A toy encoding, emitter and prior defined here, registered, and run by name — through the Python
API and through the CLI's --plugin route (this file is the plugin) — without touching the package."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from evodream import EMITTERS, ENCODINGS, PRIORS, Emitter, Encoding, EvolveConfig, evolve
from evodream.errors import EvodreamError

ASKED = {"toy": 0}


class StripesEncoding(Encoding):
    """One grey level per image row: images are horizontal stripes."""

    name = "stripes"

    def random(self, n, rng):
        return rng.random((n, self.size), dtype=np.float32)

    def mutate(self, population, rng, generation=0, strength=None):
        scale = 0.2 if strength is None else 0.2 * strength[:, None]
        return np.clip(population + scale * rng.standard_normal(population.shape), 0, 1).astype(np.float32)

    def render(self, population, size=None):
        rows = torch.from_numpy(np.asarray(population, dtype=np.float32))
        return rows[:, None, :, None].expand(-1, self.channels, -1, self.size).clone()

    def stack(self, genomes):
        return np.stack(genomes)

    def unstack(self, population):
        return list(population)

    def to_json(self, genome):
        return {"rows": [float(v) for v in genome]}

    def from_json(self, data):
        rows = data.get("rows") if isinstance(data, dict) else None
        if not isinstance(rows, list) or len(rows) != self.size:
            raise EvodreamError(f"a stripes genome holds {self.size} rows")
        return np.asarray(rows, dtype=np.float32)


class BestParentEmitter(Emitter):
    """Mutates the single best elite over all cells, boldly."""

    name = "toy"

    def ask(self, archive, n, rng, generation):
        ASKED["toy"] += 1
        best = int(np.argmax(archive.confidence))
        parents = archive.parents(np.full(n, best))
        return archive.encoding.mutate(parents, rng, generation, strength=np.full(n, 2.0)), None


def darkness(images):
    """A toy prior: darker images score higher (per image)."""
    return -images.mean(dim=(1, 2, 3))


ENCODINGS.register("stripes", lambda config, channels, size: StripesEncoding(channels, size),
                   help="toy stripes")
EMITTERS.register("toy", lambda config, encoding, targets: BestParentEmitter())
PRIORS.register("darkness", darkness, help="toy: darker is better")


def _elite_images(run: Path):
    from PIL import Image

    return [np.asarray(Image.open(p)) for p in sorted((run / "elites").glob("*.png"))]


def test_a_registry_iterates_its_names():
    assert list(EMITTERS) == list(EMITTERS.names()) and {"mutation", "cma"} <= set(EMITTERS)
    assert len(ENCODINGS) == len(ENCODINGS.names()) and "cppn" in list(ENCODINGS)


def test_a_toy_encoding_emitter_and_prior_run_by_name(tmp_path):
    ASKED["toy"] = 0
    config = EvolveConfig(encoding="stripes", emitters="mutation,toy", target="0,1,7",
                          priors={"darkness": 0.1}, max_evals=1500, goal=None, threads=1)
    result = evolve(config, tmp_path / "run", progress=False)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["encoding"]["encoding"] == "stripes"
    assert manifest["objective"]["fitness"] == "confidence(log_prob) + 0.1 * darkness()"
    assert ASKED["toy"] == result.generations - 1  # every generation after the random first one
    first = [float(r.split(",")[4]) for r in (tmp_path / "run" / "metrics.csv").read_text().splitlines()[1:2]]
    assert max(result.confidences.values()) > first[0]  # the toy pieces improved the best elite
    for image in _elite_images(tmp_path / "run"):  # stripes: every row one grey level
        assert (image == image[:, :1]).all()


def test_the_cli_runs_them_through_a_plugin_module(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent),
                                                         os.environ.get("PYTHONPATH", "")])}
    base = [sys.executable, "-m", "evodream.cli", "evolve", "--plugin", "test_plugins",
            "--encoding", "stripes", "--emitters", "toy", "--prior", "darkness=0.1", "--target", "3",
            "--max-evals", "200", "--quiet", "--threads", "1"]
    done = subprocess.run(base + ["--out", str(tmp_path / "cli")], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((tmp_path / "cli" / "manifest.json").read_text())
    assert manifest["config"]["plugins"] == "test_plugins" and manifest["config"]["emitters"] == "toy"
    # The help lists the plugin's components; a resume imports the plugin again from the manifest.
    shown = subprocess.run(base[:6] + ["--help"], capture_output=True, text=True, env=env).stdout
    assert "stripes (toy stripes)" in " ".join(shown.split())
    resumed = subprocess.run([sys.executable, "-m", "evodream.cli", "evolve",
                              "--resume", str(tmp_path / "cli"), "--max-evals", "300", "--quiet"],
                             capture_output=True, text=True, env=env)
    assert resumed.returncode == 0 and "300 evaluations" in resumed.stdout, resumed.stderr
    # Without the plugin the name is unknown: one line, exit 2.
    missing = subprocess.run(base[:4] + ["--encoding", "stripes", "--out", str(tmp_path / "x")],
                             capture_output=True, text=True, env=env)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert "unknown encoding 'stripes'" in missing.stderr and not (tmp_path / "x").exists()
