"""Do a run's fooling images fool other networks, and survive small shifts, zooms and flips?

Nguyen et al. (§3.3) found that images evolved for one network often fool another one trained
on the same data. ``transfer`` scores a run's elites with other classifiers (and the source model
itself, as the baseline) under a few small image transformations, and writes

    transfer.json   settings, per (model, transform): confidence and top-1 hit per class, and a summary
    transfer.csv    one row per (model, transform, class)

into the run folder (or ``out``); `evodream report` shows the summary when it finds transfer.json.

Images: an evolution run's elites are re-rendered from their genomes (the exact float images the
search scored); other runs' elites are read from their PNGs (8-bit, so confidences may differ
slightly from the recorded ones). Ten-crop runs are scored here on the plain, uncropped image.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from .classifiers import Classifier, load_classifier
from .classifiers.registry import ClassLookup
from .errors import EvodreamError
from .image_transforms import SHIFT, TRANSFORMS, ZOOM
from .runs import RunFolder, lies_within, write_atomic, write_json

TRANSFER_JSON = "transfer.json"
TRANSFER_CSV = "transfer.csv"
TRANSFER_FORMAT = 1


def parse_list(text: str | None, what: str) -> list[str]:
    items = [t.strip() for t in (text or "").split(",") if t.strip()]
    if not items:
        raise EvodreamError(f"no {what} given: pass a comma-separated list")
    if len(set(items)) != len(items):
        raise EvodreamError(f"a name is listed twice in the {what}: list each once")
    return items


@dataclass
class TransferResult:
    json_path: Path
    csv_path: Path
    summary: list           # one dict per (model, transform)


def _elite_images(run: RunFolder, records: list[dict]) -> tuple[torch.Tensor, str]:
    if run.manifest.get("kind") == "evolve" and all("genome" in r for r in records):
        from .evolve import encoding_of_run

        encoding = encoding_of_run(run)
        genomes = [encoding.from_json(r["genome"]) for r in records]
        return encoding.render(encoding.stack(genomes)).float(), "genome"
    pictures = []
    for record in records:
        path = run.elite_stem(int(record["class_index"]), str(record["class_name"])).with_suffix(".png")
        if not path.exists():
            raise EvodreamError(f"{path} is missing: the run's elites are incomplete")
        with Image.open(path) as picture:
            array = np.asarray(picture.convert("L" if picture.mode in ("L", "I", "I;16") else "RGB"),
                               np.float32)
        pictures.append(torch.from_numpy(array / 255.0).reshape(array.shape[0], array.shape[1], -1)
                        .permute(2, 0, 1))
    if len({tuple(p.shape) for p in pictures}) != 1:
        raise EvodreamError(f"{run.path}'s elite PNGs differ in size: the run is corrupt")
    return torch.stack(pictures), "png"


def _source_classifier(manifest: dict) -> Classifier:
    config = manifest.get("config") or {}
    model = manifest.get("model")
    name = model.get("name") if isinstance(model, dict) else (model or config.get("model"))
    if not name:
        raise EvodreamError("the run's manifest names no model: the run is corrupt")
    return load_classifier(name, classes_file=config.get("classes_file"), input_size=config.get("input_size"),
                           weights=config.get("weights"))


def _class_map(source: Classifier, other: Classifier, records: list[dict]) -> np.ndarray:
    """Each elite's target class as an index of `other`: the same index when both models share their
    class list, otherwise looked up by name."""
    if other.class_names == source.class_names:
        return np.array([int(r["class_index"]) for r in records])
    lookup = ClassLookup(other.class_names)
    indices = [lookup.index(r["class_name"]) for r in records]
    missing = [r["class_name"] for r, index in zip(records, indices) if index is None]
    if missing:
        raise EvodreamError(f"{other.name} has no class named {missing[0]!r} "
                            f"({len(missing)} of the run's classes are missing): "
                            "transfer needs models trained on the same classes")
    return np.array(indices)


def _score(classifier: Classifier, images: torch.Tensor, classes: np.ndarray, batch: int = 64):
    probs = torch.cat([classifier.probs(images[i:i + batch]) for i in range(0, images.shape[0], batch)])
    rows = torch.arange(len(classes))
    index = torch.from_numpy(classes)
    return probs[rows, index].numpy().astype(np.float64), (probs.argmax(1) == index).numpy()


def transfer(run_path: str | Path, models: list[str], *, transforms: list[str] | None = None,
             out: str | Path | None = None, force: bool = False, progress: bool = True) -> TransferResult:
    run = RunFolder.open(run_path)
    manifest = run.manifest
    transforms = transforms or list(TRANSFORMS)
    unknown = [t for t in transforms if t not in TRANSFORMS]
    if unknown:
        raise EvodreamError(f"unknown transform {unknown[0]!r}: choose from {', '.join(TRANSFORMS)}")
    records = run.elite_records()
    if not records:
        raise EvodreamError(f"{run.path} has no elites yet: "
                            "let the run finish (runs write elites when they stop)")
    folder = Path(out) if out else run.path
    if lies_within(folder, run.path) and folder.resolve() != run.path.resolve():
        raise EvodreamError(f"--out {folder} lies inside the run {run.path}: leave --out out to write into "
                            "the run folder itself, or give a folder outside it")
    json_path, csv_path = folder / TRANSFER_JSON, folder / TRANSFER_CSV
    existing = [p for p in (json_path, csv_path) if p.exists()]
    if existing and not force:
        raise EvodreamError(f"{existing[0]} exists: pass --force to replace it, or --out another folder")
    source = _source_classifier(manifest)
    beyond = [r for r in records if r["class_index"] >= len(source.class_names)]
    if beyond:
        raise EvodreamError(f"{run.path}'s elite of class {beyond[0]['class_index']} is past {source.name}'s "
                            f"{len(source.class_names)} classes: the run's elites are corrupt")
    classifiers = [source] + [load_classifier(m) for m in models if m != source.name]
    try:  # only once every model loaded: a misspelt model name leaves no folder behind
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EvodreamError(f"cannot create {folder}: {exc.strerror}; choose another --out") from None
    images, image_source = _elite_images(run, records)
    # The transformed images are the same for every model: make them once.
    transformed = {t: TRANSFORMS[t](images) for t in transforms}
    results, summary = [], []
    bar = tqdm(total=len(classifiers) * len(transforms), desc="transfer", unit="test", disable=not progress)
    for classifier in classifiers:
        classes = _class_map(source, classifier, records)
        for name in transforms:
            confidence, top1 = _score(classifier, transformed[name], classes)
            results.append({"model": classifier.name, "transform": name, "confidence": confidence.tolist(),
                            "top1": top1.tolist()})
            summary.append({"model": classifier.name, "transform": name,
                            "mean_confidence": float(confidence.mean()),
                            "median_confidence": float(np.median(confidence)),
                            "top1_rate": float(top1.mean()), "reached_0.99": int((confidence >= 0.99).sum())})
            bar.update()
    bar.close()
    data = {"format_version": TRANSFER_FORMAT, "run": str(run.path), "source_model": source.name,
            "image_source": image_source, "shift": SHIFT, "zoom": ZOOM, "transforms": transforms,
            "models": [c.name for c in classifiers],
            "classes": [{"class_index": int(r["class_index"]), "class_name": str(r["class_name"]),
                         "recorded_confidence": float(r["confidence"])} for r in records],
            "summary": summary, "results": results}
    write_json(json_path, data)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["model", "transform", "class_index", "class_name", "confidence", "top1"])
    for result in results:
        for record, c, hit in zip(records, result["confidence"], result["top1"]):
            writer.writerow([result["model"], result["transform"], record["class_index"],
                             record["class_name"], repr(c), int(hit)])
    write_atomic(csv_path, buffer.getvalue().encode())
    return TransferResult(json_path, csv_path, summary)
