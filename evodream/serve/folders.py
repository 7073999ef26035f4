"""Reading run folders for the page: which runs exist, where each stands, its elites and metrics.

The server reads run folders only (DESIGN.md: storage is the interface), and only inside the runs
root: a run id is a relative path of plain names that must resolve, symlinks included, to a run
folder under the root; a file is one of that folder's images. Anything else is "not found".
"""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

from ..errors import EvodreamError
from ..runs import CHECKPOINT, LOCK, MANIFEST, METRICS, SUMMARY, read_json, slug
from .worker import LIVE, LIVE_INDEX

PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,119}")
MAX_DEPTH = 3  # runs/<run>, runs/<compare>/runs/<method>
SERVED = {".png": "image/png", ".gif": "image/gif"}
MAX_LISTED = 2000  # folders looked at when listing runs
MAX_SHOWN_ELITES = 300  # tiles on a run's page (a 1,000-class run shows its elites.png too)


class NotFound(EvodreamError):
    """No such run or file under the runs root (also said of anything outside it)."""


class RunsRoot:
    """The --runs folder: the only place the server reads from (and writes to, through workers)."""

    def __init__(self, path: str | Path):
        self.given = Path(path)
        self.path = self.given.resolve()

    def _parts(self, text: str, what: str) -> list[str]:
        parts = text.split("/")
        if (
            not text
            or len(parts) > MAX_DEPTH + 2
            or not all(PART.fullmatch(p) and p not in (".", "..") for p in parts)
        ):
            raise NotFound(f"no {what} {text[:80]!r}: ids are folder names under the runs folder")
        return parts

    def run_path(self, run_id: str) -> Path:
        """The folder of run `run_id`; NotFound unless it is a run folder inside the root."""
        parts = self._parts(run_id, "run")
        if len(parts) > MAX_DEPTH:
            raise NotFound(f"no run {run_id[:80]!r} under {self.given}")
        path = self.path.joinpath(*parts)
        # resolve() follows symlinks: a link pointing out of the root is refused like '..'
        if path.resolve() != path or not (path / MANIFEST).is_file():
            raise NotFound(f"no run {run_id[:80]!r} under {self.given}")
        return path

    def new_run_path(self, name: str) -> Path:
        return self.path / name

    def exists(self, name: str) -> bool:
        return os.path.lexists(self.path / name)

    def file_path(self, run_id: str, relative: str) -> Path:
        """An image inside a run folder (PNG or GIF); NotFound for anything else."""
        run = self.run_path(run_id)
        parts = self._parts(relative, "file")
        path = run.joinpath(*parts)
        if path.suffix.lower() not in SERVED or path.resolve() != path or not path.is_file():
            raise NotFound(f"run {run_id[:80]!r} has no image {relative[:80]!r}")
        return path

    def run_ids(self) -> list[str]:
        """Every run folder under the root (not inside other runs), newest first."""
        found: list[tuple[float, str]] = []
        budget = [MAX_LISTED]

        def walk(folder: Path, prefix: str, depth: int) -> None:
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError:
                return
            for entry in entries:
                if budget[0] <= 0:
                    return
                budget[0] -= 1
                if not PART.fullmatch(entry.name) or not entry.is_dir(follow_symlinks=False):
                    continue
                path = Path(entry.path)
                if (path / MANIFEST).is_file():
                    found.append((entry.stat().st_mtime, prefix + entry.name))
                elif depth < MAX_DEPTH:
                    walk(path, prefix + entry.name + "/", depth + 1)

        if self.path.is_dir():
            walk(self.path, "", 1)
        return [run_id for _, run_id in sorted(found, reverse=True)]


# -- one run ------------------------------------------------------------------------------------
def json_or_none(path: Path) -> dict | None:
    try:
        return read_json(path, "run") if path.is_file() else None
    except EvodreamError:
        return None


def lock_held(run: Path) -> bool:
    """Whether some process holds RUN/.lock (a run being written by the CLI or another server)."""
    try:
        import fcntl
    except ImportError:
        return False
    try:
        fd = os.open(run / LOCK, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def folder_state(run: Path, manifest: dict) -> str:
    """finished, running elsewhere, or stopped — for a run no job of this server is working on."""
    if (run / SUMMARY).is_file() or manifest.get("kind") == "dream":
        return "finished"
    return "running elsewhere" if lock_held(run) else "stopped"


def resumable(run: Path, manifest: dict) -> bool:
    return manifest.get("kind") == "evolve" and not (run / SUMMARY).is_file()


def last_metrics_row(run: Path) -> dict | None:
    """The last complete row of metrics.csv, read from the file's end."""
    path = run / METRICS
    try:
        with open(path, "rb") as handle:
            header = handle.readline().decode().strip().split(",")
            size = os.fstat(handle.fileno()).st_size
            handle.seek(max(handle.tell(), size - 4096))
            lines = handle.read().decode("utf-8", "replace").split("\n")
    except OSError:
        return None
    for line in reversed(lines[1:] if len(lines) > 1 else []):  # the first may be cut in half
        fields = line.strip().split(",")
        if len(fields) == len(header):
            try:
                return dict(zip(header, map(float, fields)))
            except ValueError:
                continue
    return None


def elites(run: Path, manifest: dict, limit: int = MAX_SHOWN_ELITES) -> tuple[list[dict], str]:
    """Each target's elite image and confidence, best first: elites/ once written, else live/.

    Returns (elites, note); the note says why there are none or that some are left out."""
    targets, names = manifest.get("targets") or [], manifest.get("target_names") or []
    summary = json_or_none(run / SUMMARY) or {}
    final = summary.get("confidences") if isinstance(summary.get("confidences"), dict) else {}
    live = json_or_none(run / LIVE / LIVE_INDEX) or {}
    live_by_index = {e.get("class_index"): e for e in live.get("elites") or [] if isinstance(e, dict)}
    shown = []
    for index, name in zip(targets, names):
        stem = f"{int(index):04d}-{slug(str(name))}"
        image = run / "elites" / f"{stem}.png"
        entry = live_by_index.get(index)
        if image.is_file() and name in final:
            shown.append(_tile(run, image, index, name, final[name], "final"))
        elif entry is not None and (run / LIVE / str(entry.get("image"))).is_file():
            shown.append(
                _tile(run, run / LIVE / str(entry["image"]), index, name, entry.get("confidence"), "live")
            )
    shown.sort(key=lambda e: -(e["confidence"] or 0))
    note = live.get("note", "")
    if len(shown) > limit:
        note = f"the {limit} most confident of {len(shown)} elites"
        shown = shown[:limit]
    return shown, note


def _tile(run: Path, image: Path, index, name, confidence, source: str) -> dict:
    stat = image.stat()
    return {
        "class_index": index,
        "class_name": name,
        "confidence": float(confidence) if isinstance(confidence, (int, float)) else None,
        "image": image.relative_to(run).as_posix(),
        "version": stat.st_mtime_ns,
        "source": source,
    }


def pictures(run: Path, manifest: dict) -> list[dict]:
    """The run's other images worth showing: the elites grid, a DeepDream's input, dream and zoom GIF."""
    candidates = ["elites.png", "input.png", "dream.png", "zoom.gif", "pareto/pareto.png"]
    return [
        {"image": name, "version": (run / name).stat().st_mtime_ns}
        for name in candidates
        if (run / name).is_file()
    ]


class MetricsReader:
    """Reads metrics.csv incrementally: each call returns the complete rows appended since the last."""

    CHUNK = 4 * 2**20

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0
        self.header: list[str] | None = None

    def read(self) -> tuple[list[dict], bool]:
        """(new rows, reset): reset is True when the file shrank (a resume cut it back to its checkpoint)."""
        reset = False
        try:
            with open(self.path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if size < self.offset:
                    self.offset, self.header, reset = 0, None, True
                handle.seek(self.offset)
                data = handle.read(self.CHUNK)
        except OSError:
            return [], reset
        end = data.rfind(b"\n")
        if end < 0:
            return [], reset
        self.offset += end + 1
        lines = data[: end + 1].decode("utf-8", "replace").splitlines()
        if self.header is None and lines:
            self.header = lines.pop(0).split(",")
        rows = []
        for row in csv.reader(io.StringIO("\n".join(lines))):
            if len(row) == len(self.header):
                try:
                    rows.append(dict(zip(self.header, map(float, row))))
                except ValueError:
                    continue
        return rows, reset


def thin(rows: list, most: int) -> list:
    """At most `most` rows, evenly spaced, always keeping the last."""
    if len(rows) <= most:
        return rows
    step = len(rows) / (most - 1)
    return [rows[int(i * step)] for i in range(most - 1)] + [rows[-1]]


def checkpoint_bytes(run: Path) -> int | None:
    try:
        return (run / CHECKPOINT).stat().st_size
    except OSError:
        return None
