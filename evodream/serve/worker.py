"""What runs inside one worker process: an evolve / resume / ascend call, and its live previews.

The server never runs a search itself: each job is a fresh process (multiprocessing spawn) that
calls the public API on an ordinary run folder, so a run started from the page is the run the CLI
would have made. SIGTERM is turned into KeyboardInterrupt, which unwinds the run like Ctrl-C: the
lock is released and the last checkpoint (written atomically) stays, so the run is resumable.

Elites are written only when a run ends (evolve.write_elites); to show them while it runs, a
thread in the worker renders the archive of each new checkpoint into ``RUN/live/`` (one PNG per
class, ``live.json`` with the confidences). Only the worker writes there, only after the run
folder exists, and every file is written atomically, so the server can read it at any time.
"""

from __future__ import annotations

import signal
import threading
import traceback
from pathlib import Path

LIVE = "live"
LIVE_INDEX = "live.json"
# A checkpoint larger than this (a 1,000-class direct archive is ~800 MB of JSON) is not re-read
# every few seconds for a preview: the page says the preview is off instead.
MAX_PREVIEW_CHECKPOINT_BYTES = 64 * 2**20


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def run_job(spec: dict, conn) -> None:
    """Process entry point: run the job `spec` describes and send ("done" | "stopped" | "error", text)."""
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    outcome = ("error", "the worker ended without a result")
    preview = None
    try:
        import torch

        torch.set_num_threads(int(spec.get("threads") or 1))
        out = Path(spec["out"])
        if spec["action"] in ("evolve", "resume"):
            preview = LivePreview(out)
            preview.start()
        _run(spec, out)
        outcome = ("done", "")
    except KeyboardInterrupt:
        outcome = ("stopped", "")
    except Exception as exc:  # EvodreamError is a one-line message; anything else is a bug worth its type
        from ..errors import EvodreamError

        if isinstance(exc, EvodreamError):
            outcome = ("error", str(exc))
        else:
            traceback.print_exc()
            outcome = ("error", f"{exc.__class__.__name__}: {exc}")
    finally:
        if preview is not None:
            preview.close()
    try:
        conn.send(outcome)
        conn.close()
    except (OSError, ValueError):
        pass  # the server went away: the run folder says it all


def _run(spec: dict, out: Path) -> None:
    if spec["action"] == "evolve":
        from ..config import from_mapping
        from ..evolve import evolve

        evolve(from_mapping(spec["config"], source="request"), out, progress=False)
    elif spec["action"] == "resume":
        from ..evolve import resume

        resume(out, spec.get("overrides") or {}, progress=False)
    elif spec["action"] == "ascend":
        from ..ascend import ascend, config_from

        ascend(config_from(spec["config"]), out, progress=False)
    else:
        raise ValueError(f"unknown action {spec['action']!r}")


class LivePreview(threading.Thread):
    """Renders each new checkpoint's elites into RUN/live/ while the run goes on (a daemon thread)."""

    def __init__(self, out: Path, every: float = 1.0):
        super().__init__(name="live-preview", daemon=True)
        self.out = Path(out)
        self.every = every
        self._halt = threading.Event()
        self._seen = None  # (mtime_ns, size) of the last checkpoint rendered
        self._rendered: dict = {}  # class index -> found_at of the elite whose PNG is in live/
        self._encoding = None

    def close(self) -> None:
        self._halt.set()
        if self.is_alive():
            self.join(timeout=30)

    def run(self) -> None:
        while not self._halt.wait(self.every):
            try:
                self.refresh()
            except Exception as exc:  # a preview must never take the run down with it
                print(f"evodream serve: live preview of {self.out} failed: {exc}", flush=True)

    def refresh(self) -> bool:
        """Render the checkpoint if it changed since the last call; True when something was written."""
        from ..evolve import encoding_of_run
        from ..runs import CHECKPOINT, RunFolder, read_json, write_json

        path = self.out / CHECKPOINT
        try:
            stat = path.stat()
        except FileNotFoundError:
            return False
        key = (stat.st_mtime_ns, stat.st_size)
        if key == self._seen:
            return False
        self._seen = key
        folder = self.out / LIVE
        folder.mkdir(exist_ok=True)
        if stat.st_size > MAX_PREVIEW_CHECKPOINT_BYTES:
            write_json(
                folder / LIVE_INDEX,
                {"note": f"checkpoint of {stat.st_size / 2 ** 20:.0f} MB: no live preview", "elites": []},
            )
            return True
        checkpoint = read_json(path, "checkpoint")
        run = RunFolder.open(self.out)
        manifest = run.manifest
        if self._encoding is None:
            self._encoding = encoding_of_run(run)
        search = checkpoint.get("search") or {}
        cells = search.get("cells")
        if cells is None:  # ga / nsga2: each target's hall of fame, best first
            cells = [hall[0] if hall else None for hall in search.get("halls", [])]
        targets, names = manifest["targets"], manifest["target_names"]
        fresh = [
            (i, c)
            for i, c in enumerate(cells)
            if c is not None and i < len(targets) and self._rendered.get(i) != c.get("found_at")
        ]
        self._render(folder, [(targets[i], c) for i, c in fresh])
        for i, cell in fresh:
            self._rendered[i] = cell.get("found_at")
        elites = [
            {
                "class_index": targets[i],
                "class_name": names[i],
                "confidence": float(c["confidence"]),
                "found_at": c.get("found_at"),
                "image": f"{targets[i]:04d}.png",
            }
            for i, c in enumerate(cells)
            if c is not None and i < len(targets)
        ]
        write_json(
            folder / LIVE_INDEX,
            {
                "generation": search.get("generation"),
                "evaluations": search.get("evaluations"),
                "elites": elites,
            },
        )
        return True

    def _render(self, folder: Path, cells: list, chunk: int = 32) -> None:
        import torch

        from ..images import to_pil
        from ..runs import write_image

        encoding = self._encoding
        for start in range(0, len(cells), chunk):
            part = cells[start : start + chunk]
            with torch.no_grad():
                images = encoding.render(encoding.stack([encoding.from_json(c["genome"]) for _, c in part]))
            for (target, _), image in zip(part, images):
                write_image(folder / f"{target:04d}.png", to_pil(image))
            if self._halt.is_set():
                return
