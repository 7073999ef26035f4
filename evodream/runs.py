"""The run folder: everything a run leaves behind, and nothing else touches files.

    manifest.json     full config, seed, model, targets, package versions, format version
    metrics.csv       one row per generation (evaluations, queries, wall seconds, confidences)
    checkpoint.json   search state + RNG states: `evodream evolve --resume` continues from it
    summary.json      how the run ended (written when it stops)
    elites/           per class: PNG + genome JSON with its confidence
    elites.png        a labelled grid of every elite
    pareto/           nsga2 only: the final Pareto front per class (PNG + genome JSON per point),
                      pareto.csv (confidence and naturalness per point) and pareto.png (the plot)

Checkpoints are JSON (never pickle) and written atomically: a crash mid-write leaves the previous
one intact. A checkpoint records how many bytes of metrics.csv it covers (flushed to disk first),
so a resume cuts the file back to exactly those rows. While a process writes a run it holds
``.lock`` (an OS file lock holding its PID): a second writer is refused, and the lock of a process
that died is released by the OS and simply taken over.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import platform
import re
import socket
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import BinaryIO, Callable

from .errors import EvodreamError
from .statecheck import is_whole

FORMAT_VERSION = 1       # of the run folder (manifest, metrics, elites)
CHECKPOINT_FORMAT = 2    # of checkpoint.json (2: ask/tell searches, archive + emitters)
MANIFEST = "manifest.json"
METRICS = "metrics.csv"
CHECKPOINT = "checkpoint.json"
SUMMARY = "summary.json"
LOCK = ".lock"
METRIC_FIELDS = ["generation", "evaluations", "queries", "wall_seconds", "best", "median", "min",
                 "reached_0.99", "reached_0.9999"]
METRICS_HEADER = (",".join(METRIC_FIELDS) + "\r\n").encode()  # as csv writes it


# Settings that say how a run executes, not what it computes: reusing a finished run ignores them.
EXECUTION_KEYS = frozenset({"threads", "device", "checkpoint_every", "checkpoint_seconds", "engine",
                            "workers", "ray"})


def existing_run(folder: str | Path, kind: str, config: dict, *, fix: str) -> str | None:
    """What `folder` holds for a caller that wants a `kind` run of `config`: None (no run), "finished"
    or "unfinished". A run with other settings is an error; `fix` says what the user can do instead."""
    folder = Path(folder)
    if not (folder / MANIFEST).exists():
        return None
    manifest = RunFolder.open(folder, kind=kind).manifest
    saved = manifest.get("config", {})
    if kind == "evolve":  # a job's config leaves "auto" open; its run recorded what it resolved to
        from .config import resolved_for_run

        config = resolved_for_run(config, manifest)
    keys = (set(saved) | set(config)) - EXECUTION_KEYS
    if any(saved.get(k) != config.get(k) for k in keys):
        raise EvodreamError(f"{folder} holds a run with other settings: {fix}, or delete that folder")
    return "finished" if (folder / SUMMARY).exists() else "unfinished"


def holds_only_leftovers(folder: Path) -> bool:
    """True when `folder` holds nothing but what a creation cut short leaves (empty folders and
    write_atomic's temporary files): a kill before a run, sweep or harden record is written must not
    leave a folder that neither a resume nor a new start will take."""
    for path in Path(folder).rglob("*"):
        temporary = path.name.startswith(".") and path.name.endswith(".tmp")
        if path.is_symlink() or not (path.is_dir() or temporary):
            return False
    return True


def lies_within(path: Path, folder: Path) -> bool:
    """Whether `path` is `folder` or somewhere inside it (links resolved)."""
    path, folder = Path(path).resolve(), Path(folder).resolve()
    return path == folder or folder in path.parents


def check_new_folder(path: Path) -> None:
    """Refuse a path a new run, harden or dream must not write into: a file, or a folder holding
    anything but creation leftovers (see holds_only_leftovers)."""
    if path.exists() and (not path.is_dir() or not holds_only_leftovers(path)):
        raise EvodreamError(f"{path} exists and is not an empty folder: choose a new --out name")


def package_versions() -> dict:
    versions = {"python": platform.python_version()}
    for name in ("evodream", "torch", "torchvision", "numpy", "deap", "pillow"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:40] or "class"


def write_atomic(path: Path, data: bytes | Callable[[BinaryIO], None]) -> None:
    """Write to a temporary file, flush it to disk, then rename over the target.

    `data` is the bytes, or a function that writes them to the open file (big checkpoints stream
    out that way instead of being built as one string first)."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as handle:
            if callable(data):
                data(handle)
            else:
                handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise EvodreamError(f"cannot write {path}: {exc.strerror or exc}; the previous file is intact "
                            "(free some space or fix the folder's permissions, then --resume)") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_image(path: Path, image, image_format: str = "PNG") -> None:
    """A PIL image (PNG unless told), atomically like every other file of a run."""
    buffer = io.BytesIO()
    image.save(buffer, format=image_format)
    write_atomic(path, buffer.getvalue())


def write_json(path: Path, data) -> None:
    def dump(handle: BinaryIO) -> None:
        # Streamed: a 1,000-cell direct-encoding checkpoint is ~800 MB of text, which as one
        # string (then encoded, then joined with its newline) cost three more copies of itself.
        text = io.TextIOWrapper(handle, encoding="utf-8", newline="\n")
        json.dump(data, text, indent=1, allow_nan=False, default=_build_deferred)
        text.write("\n")
        text.flush()
        text.detach()  # leave the file open for write_atomic's fsync

    write_atomic(path, dump)


def _build_deferred(value):
    """A value may be left as a function that builds it (a search's genomes, see state_dict(defer=True)):
    it is called when the writer reaches it, so only one genome's JSON exists at a time."""
    if callable(value):
        return value()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _no_constants(name):
    # evodream writes JSON with allow_nan=False: NaN / Infinity in a file means it was damaged or edited.
    raise ValueError(f"{name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):  # 1e400 parses to infinity
        raise ValueError(f"{text[:20]} is too large a number")
    return value


def _check_targets(manifest: dict, path: Path) -> None:
    """The manifest's targets and their names, which every command reading a run indexes by."""
    targets, names = manifest.get("targets"), manifest.get("target_names")
    problem = None
    if targets is not None and not (isinstance(targets, list) and all(is_whole(t, 0, 2 ** 31 - 1)
                                                                      for t in targets)):
        problem = "targets is not a list of class indices"
    elif names is not None and not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        problem = "target_names is not a list of names"
    elif targets is not None and names is not None and len(targets) != len(names):
        problem = f"{len(targets)} targets but {len(names)} target_names"
    if problem:
        raise EvodreamError(f"{path} is corrupt ({problem}): restore it from a good copy")


def _check_elite(record: dict, path: Path) -> None:
    """The fields other commands index and compute with; a hand-edited file fails here, in one line."""
    index, name, confidence = record.get("class_index"), record.get("class_name"), record.get("confidence")
    problem = None
    if not is_whole(index, 0, 2 ** 31 - 1):
        problem = f"class_index {index!r} is not a class index"
    elif not isinstance(name, str):
        problem = f"class_name {name!r} is not text"
    elif not isinstance(confidence, (int, float)) or isinstance(confidence, bool) or not 0 <= confidence <= 1:
        problem = f"confidence {confidence!r} is not a probability"
    if problem:
        raise EvodreamError(f"{path} is corrupt ({problem}): restore the run's elites from a good copy")


def read_json(path: Path, what: str) -> dict:
    try:
        data = json.loads(path.read_text(), parse_constant=_no_constants, parse_float=_finite_float)
    except FileNotFoundError:
        raise EvodreamError(f"{path} is missing: the {what} is incomplete") from None
    except IsADirectoryError:
        raise EvodreamError(f"{path} is a folder, not a file: the {what} is corrupt") from None
    # JSONDecodeError is a ValueError
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        detail = " ".join(str(exc).split())[:120]
        raise EvodreamError(f"{path} is corrupt ({exc.__class__.__name__}: {detail}): "
                            f"the {what} cannot be read") from None
    if not isinstance(data, dict):
        raise EvodreamError(f"{path} is corrupt: expected a JSON object")
    return data


class RunFolder:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    # -- creating and opening ----------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, manifest: dict) -> "RunFolder":
        run = cls(path)
        if (run.path / MANIFEST).exists():
            raise EvodreamError(f"{run.path} already holds a run: continue it with --resume {run.path} "
                                "or choose a new --out name")
        check_new_folder(run.path)
        try:
            (run.path / "elites").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EvodreamError(f"cannot create {run.path}: {exc.strerror}; choose another --out") from None
        manifest = {"format_version": FORMAT_VERSION, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "command": sys.argv, "versions": package_versions(), **manifest}
        write_json(run.path / MANIFEST, manifest)
        write_atomic(run.path / METRICS, METRICS_HEADER)
        return run

    @classmethod
    def open(cls, path: str | Path, kind: str | None = None) -> "RunFolder":
        run = cls(path)
        if not run.path.is_dir():
            raise EvodreamError(f"{run.path} is not a folder: give the path of a run folder")
        if not (run.path / MANIFEST).exists():
            raise EvodreamError(f"{run.path} is not an evodream run (no {MANIFEST}): give a run folder")
        manifest = run.manifest
        version = manifest.get("format_version")
        if version != FORMAT_VERSION:
            raise EvodreamError(f"{run.path} was written in run format {version!r}; "
                                f"this evodream reads format {FORMAT_VERSION}: re-run it with this version")
        if kind is not None and manifest.get("kind") != kind:
            raise EvodreamError(f"{run.path} is a {manifest.get('kind')!r} run, not {kind!r}")
        _check_targets(manifest, run.path / MANIFEST)
        return run

    def check_writable(self) -> None:
        """Before a resumed run spends its time: where its outputs go holds nothing in their way."""
        elites = self.path / "elites"
        if elites.exists() and not elites.is_dir():
            raise EvodreamError(f"{elites} is a file, not the run's elites folder: move it away, then resume")
        for name in ("elites.png", SUMMARY, CHECKPOINT, METRICS, "reached.json"):
            if (self.path / name).is_dir():
                raise EvodreamError(f"{self.path / name} is a folder, not the run's file: move it away, "
                                    "then resume")
        try:
            elites.mkdir(exist_ok=True)  # (deleted by hand: the run writes its elites anew at the end)
        except OSError as exc:
            raise EvodreamError(f"cannot create {elites}: {exc.strerror}") from None

    @property
    def manifest(self) -> dict:
        return read_json(self.path / MANIFEST, "run's manifest")

    # -- metrics -----------------------------------------------------------------------------
    def append_metrics(self, rows: list[dict], *, sync: bool = False) -> int:
        """Append rows; returns metrics.csv's size in bytes. `sync` flushes it to disk (before a
        checkpoint)."""
        try:
            with open(self.path / METRICS, "a", newline="") as handle:
                writer = csv.DictWriter(handle, METRIC_FIELDS, extrasaction="ignore")
                writer.writerows(rows)
                handle.flush()
                if sync:
                    os.fsync(handle.fileno())
                return os.fstat(handle.fileno()).st_size
        except OSError as exc:
            raise EvodreamError(f"cannot write {self.path / METRICS}: {exc.strerror or exc}; "
                                "the last checkpoint is intact (free some space or fix the folder's "
                                "permissions, then --resume)") from None

    def read_metrics(self) -> list[dict]:
        try:
            with open(self.path / METRICS, newline="") as handle:
                rows = list(csv.DictReader(handle))
            if rows and None in rows[-1].values():
                rows.pop()  # a row cut short by a crash (a resume rewrites it)
            return [{k: float(v) for k, v in row.items()} for row in rows]
        except (OSError, ValueError, TypeError, csv.Error) as exc:
            raise EvodreamError(f"{self.path / METRICS} cannot be read ({exc}): the run is corrupt") from None

    def truncate_metrics(self, generation: int, size: int | None = None) -> None:
        """Drop rows past `generation`: a resumed run rewrites what came after its checkpoint.

        With `size` (the bytes the checkpoint covers) the file is cut back to exactly that; rows past
        it, and a half-written row from a crash, go. Otherwise complete rows up to `generation` stay.
        """
        path = self.path / METRICS
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            if size is not None or generation:
                raise EvodreamError(f"{path} is missing: the run is corrupt; start a new run") from None
            # Killed between the manifest and the metrics header: the run had not begun.
            write_atomic(path, METRICS_HEADER)
            return
        except OSError as exc:
            raise EvodreamError(f"cannot read {path} ({exc.strerror or exc}): the run is corrupt") from None
        if size is not None:
            if len(data) < size or not data[:size].endswith(b"\n"):
                raise EvodreamError(f"{path} holds {len(data)} bytes but its checkpoint covers {size}: "
                                    "rows were lost or changed, so the run cannot continue; start a new run")
            kept = data[:size]
        else:
            lines = data.decode("utf-8", "replace").splitlines(keepends=True)
            kept_lines = lines[:1]
            width = len(lines[0].split(",")) if lines else 0
            for line in lines[1:]:
                fields = line.rstrip("\r\n").split(",")
                if not line.endswith("\n") or len(fields) != width or not fields[0].isdigit():
                    break  # a row cut short by a crash: it and anything after it are rewritten
                if int(fields[0]) <= generation:
                    kept_lines.append(line)
            kept = "".join(kept_lines).encode()
        if kept != data:
            write_atomic(path, kept)

    # -- one writer at a time ---------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self):
        """Hold RUN/.lock while writing the run: a second process is refused with the first one's PID.

        An OS lock (flock) rather than a bare PID file: when a process dies, even by SIGKILL, the OS
        releases it, so a stale lock is taken over without anyone deleting files.
        """
        try:
            import fcntl
        except ImportError:  # Windows has no flock: runs there are not guarded against a second writer
            yield self
            return
        path = self.path / LOCK
        while True:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise EvodreamError(f"cannot create the lock {path}: {exc.strerror or exc}; "
                                    "check the folder's permissions") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.read(fd, 200).decode("utf-8", "replace").split()
                os.close(fd)
                pid = holder[0] if holder else "?"
                host = f" on {holder[1]}" if len(holder) > 1 and holder[1] != socket.gethostname() else ""
                raise EvodreamError(f"{self.path} is in use by process {pid}{host} (lock {path}): "
                                    f"wait for it to end or stop it (kill {pid}); a lock of a process that "
                                    "has died is freed automatically") from None
            # The previous holder may have removed the file between our open and flock: then we
            # hold a lock on a deleted file and must try again on the new one.
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
        except OSError:
            pass  # the PID is only for the message; the flock is what counts
        try:
            yield self
        finally:
            with contextlib.suppress(OSError):
                path.unlink()
            os.close(fd)

    # -- checkpoint and summary ---------------------------------------------------------------
    def save_checkpoint(self, state: dict) -> None:
        write_json(self.path / CHECKPOINT, {"format_version": CHECKPOINT_FORMAT, **state})

    def load_checkpoint(self) -> dict | None:
        if not (self.path / CHECKPOINT).exists():
            return None
        return read_json(self.path / CHECKPOINT, "checkpoint")

    def write_summary(self, summary: dict) -> None:
        write_json(self.path / SUMMARY, summary)

    def write_json(self, name: str, data) -> None:
        """Any other JSON file of the run (reached.json, ...), written atomically."""
        write_json(self.path / name, data)

    def write_image(self, name: str, image) -> None:
        write_image(self.path / name, image)

    def summary(self) -> dict | None:
        return read_json(self.path / SUMMARY, "run's summary") if (self.path / SUMMARY).exists() else None

    # -- elites ------------------------------------------------------------------------------
    def elite_stem(self, index: int, name: str) -> Path:
        return self.path / "elites" / f"{index:04d}-{slug(name)}"

    def write_elite(self, index: int, name: str, image, record: dict) -> None:
        stem = self.elite_stem(index, name)
        write_image(stem.with_suffix(".png"), image)
        write_json(stem.with_suffix(".json"), record)

    def elite_files(self) -> list[tuple[Path, dict]]:
        """(JSON path, record) of each elite, its class index, name and confidence checked."""
        files = []
        for path in sorted((self.path / "elites").glob("*.json")):
            record = read_json(path, "elite")
            _check_elite(record, path)
            files.append((path, record))
        return files

    def elite_records(self) -> list[dict]:
        return [record for _, record in self.elite_files()]

    # -- Pareto front (nsga2) ----------------------------------------------------------------
    PARETO_FIELDS = ["class_index", "class_name", "rank", "confidence", "fitness", "naturalness", "image"]

    def write_pareto(self, points: list[dict], pictures: list, plot_png: bytes) -> None:
        """Replace pareto/ with these points: each a PNG + JSON record, plus pareto.csv and pareto.png."""
        folder = self.path / "pareto"
        folder.mkdir(exist_ok=True)
        for old in [*folder.glob("*.png"), *folder.glob("*.json")]:  # a resumed run's older front
            old.unlink()
        rows = []
        for point, picture in zip(points, pictures):
            stem = folder / f"{point['class_index']:04d}-{slug(point['class_name'])}-{point['rank']:02d}"
            write_image(stem.with_suffix(".png"), picture)
            write_json(stem.with_suffix(".json"), point)
            rows.append({**{k: point[k] for k in self.PARETO_FIELDS[:-1]},
                         "image": stem.with_suffix(".png").name})
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=self.PARETO_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
        write_atomic(folder / "pareto.csv", text.getvalue().encode())
        write_atomic(folder / "pareto.png", plot_png)
