"""The ASGI app behind `evodream serve`: the page, its JSON API and live updates (server-sent events).

    GET  /                          the page (Evolve and Runs tabs; static/index.html)
    GET  /api/options               models, methods, limits
    GET  /api/classes/MODEL?q=TEXT  class-name suggestions
    POST /api/runs                  start a run (JSON: model, targets, method, budget, goal, seed, name)
    GET  /api/runs                  every run folder under --runs, and the queue
    GET  /api/run/ID                one run: state, key figures, elites, pictures
    GET  /api/events/ID             the same, as server-sent events while it changes, plus new curve points
    GET  /api/metrics/ID            its confidence curve (at most `points` rows)
    POST /api/stop/ID, /api/resume/ID
    GET  /api/report/ID             `evodream report` of the run (self-contained HTML)
    GET  /api/file/ID?path=REL      an image of the run (PNG / GIF inside its folder, nothing else)

Run ids are folder paths relative to --runs. Bad input is a 4xx with {"error": "one line"} and
writes nothing; POSTs must be JSON (a cross-site form cannot send it without a CORS preflight,
which this server never grants), and when bound to loopback only loopback Host headers are served
(no DNS rebinding).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import tempfile
import threading
from importlib import resources
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..errors import EvodreamError
from . import folders, launch
from .folders import NotFound, RunsRoot
from .jobs import ACTIVE, Conflict, JobQueue, QueueFull

MAX_BODY = 16 * 1024
MAX_STREAMS = 32  # open event streams at once; each polls its run folder once a second
CURVE_POINTS = 1500  # rows of the curve sent when a page opens a run
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "testserver"]
STATIC = {"app.js": "text/javascript", "style.css": "text/css"}


class TooLarge(EvodreamError):
    """A request body beyond MAX_BODY."""


class Unsupported(EvodreamError):
    """A POST that is not JSON."""


class Busy(EvodreamError):
    """Too many event streams open."""


STATUS = [
    (NotFound, 404),
    (Conflict, 409),
    (TooLarge, 413),
    (Unsupported, 415),
    (QueueFull, 429),
    (Busy, 429),
    (EvodreamError, 400),
]


class Server:
    """The server's state: the runs root, the job queue, and a small cache of rendered reports."""

    def __init__(
        self,
        runs,
        *,
        max_running: int = 1,
        max_queued: int = 16,
        threads: int = 1,
        stream_seconds: float = 1.0,
    ):
        self.root = RunsRoot(runs)
        self.queue = JobQueue(max_running=max_running, max_queued=max_queued)
        self.threads = threads
        self.stream_seconds = stream_seconds
        self.streams = 0
        self.closing = asyncio.Event()
        self._reports: collections.OrderedDict = collections.OrderedDict()
        self._report_lock = threading.Lock()
        self._start_lock = threading.Lock()

    # -- one run ------------------------------------------------------------------------------
    def locate(self, run_id: str) -> tuple[Path | None, object]:
        """(folder or None, job or None) of a run id; NotFound when it is neither."""
        job = self.queue.get(run_id)
        try:
            return self.root.run_path(run_id), job
        except NotFound:
            if job is None:
                raise
            return None, job  # queued (or cancelled / failed) before its folder was made

    def snapshot(self, run_id: str, reader: folders.MetricsReader | None = None) -> dict:
        path, job = self.locate(run_id)
        info = {
            "id": run_id,
            "state": job.state if job else None,
            "message": job.message if job else "",
            "position": self.queue.position(run_id),
            "kind": None,
            "model": None,
            "method": None,
            "targets": [],
            "n_targets": 0,
            "figures": None,
            "elites": [],
            "elites_note": "",
            "pictures": [],
            "resumable": False,
            "stoppable": bool(job and job.state in ("queued", "running")),
        }
        if job is not None:
            info["kind"] = {"evolve": "evolve", "resume": "evolve", "ascend": "ascend"}[job.spec["action"]]
        if path is None:
            return info
        try:
            manifest = folders.read_json(path / folders.MANIFEST, "run's manifest")
        except EvodreamError as exc:
            info.update(state=info["state"] or "corrupt", message=str(exc))
            return info
        from ..report.load import method_label, model_name

        try:
            method = method_label(manifest) if manifest.get("kind") in ("evolve", "ascend") else "DeepDream"
        except ValueError as exc:
            info.update(state=info["state"] or "corrupt", message=f"manifest.json is corrupt: its {exc}")
            return info
        names = [str(n) for n in manifest.get("target_names") or []]
        info.update(
            kind=manifest.get("kind"),
            model=model_name(manifest),
            method=method,
            targets=names[:50],
            n_targets=len(names),
            created=manifest.get("created"),
            pictures=folders.pictures(path, manifest),
        )
        if job is None or job.state not in ACTIVE + ("failed",):
            info["state"] = folders.folder_state(path, manifest)
        info["resumable"] = info["state"] == "stopped" and folders.resumable(path, manifest)
        info["elites"], info["elites_note"] = folders.elites(path, manifest)
        summary = folders.json_or_none(path / folders.SUMMARY)
        last = folders.last_metrics_row(path)
        figures = dict(last or {})
        if summary:
            figures["stop_reason"] = summary.get("stop_reason")
        info["figures"] = figures or None
        return info

    def start(self, body) -> dict:
        with self._start_lock:  # the name check and the submit must not interleave with another start

            def taken(name):
                job = self.queue.get(name)
                return self.root.exists(name) or (job is not None and job.state in ACTIVE)

            run_id, spec = launch.plan(body, self.root.path, threads=self.threads, taken=taken)
            job = self.queue.submit(run_id, self.root.new_run_path(run_id), spec)
        return {"id": run_id, "state": job.state, "position": self.queue.position(run_id)}

    def resume(self, run_id: str) -> dict:
        path = self.root.run_path(run_id)
        manifest = folders.read_json(path / folders.MANIFEST, "run's manifest")
        if manifest.get("kind") != "evolve":
            raise Conflict(
                f"run {run_id!r} is a {manifest.get('kind')!r} run: only evolution keeps a checkpoint "
                "to resume from (start a new run instead)"
            )
        if (path / folders.SUMMARY).is_file():
            raise Conflict(f"run {run_id!r} has finished: there is nothing to resume (start a new run)")
        if folders.lock_held(path) and not (
            self.queue.get(run_id) and self.queue.get(run_id).state in ACTIVE
        ):
            raise Conflict(f"run {run_id!r} is being written by another process: stop that one first")
        job = self.queue.submit(run_id, path, {"action": "resume", "out": str(path), "threads": self.threads})
        return {"id": run_id, "state": job.state, "position": self.queue.position(run_id)}

    def report(self, run_id: str) -> str:
        path = self.root.run_path(run_id)
        manifest = folders.read_json(path / folders.MANIFEST, "run's manifest")
        if manifest.get("kind") not in ("evolve", "ascend"):
            raise Conflict(
                f"run {run_id!r} is a {manifest.get('kind')!r} run: reports cover evolve and ascend "
                "runs (see its pictures instead)"
            )
        key = tuple(_stamp(path / name) for name in (folders.METRICS, folders.SUMMARY, "reached.json"))
        key += tuple(_stamp(p) for p in sorted((path / "elites").glob("*.json")))
        with self._report_lock:  # one report at a time: matplotlib and two cores
            cached = self._reports.get(run_id)
            if cached is not None and cached[0] == key:
                self._reports.move_to_end(run_id)
                return cached[1]
            from ..report import write_report

            with tempfile.TemporaryDirectory(prefix="evodream-serve-report-") as tmp:
                report = write_report([path], Path(tmp) / "report", title=f"evodream: {run_id}")
                page = report.index.read_text()
            self._reports[run_id] = (key, page)
            while len(self._reports) > 8:
                self._reports.popitem(last=False)
            return page

    def listing(self) -> dict:
        runs = []
        seen = set()
        for run_id in self.root.run_ids():
            seen.add(run_id)
            runs.append(self._brief(run_id))
        queued = [j for j in self.queue.jobs() if j.id not in seen and j.state in ACTIVE]
        runs = [self._brief(j.id) for j in queued] + runs
        return {
            "runs": runs,
            "running": sum(j.state in ("running", "stopping") for j in self.queue.jobs()),
            "waiting": sum(j.state == "queued" for j in self.queue.jobs()),
            "max_running": self.queue.max_running,
        }

    def _brief(self, run_id: str) -> dict:
        try:
            info = self.snapshot(run_id)
        except EvodreamError as exc:
            return {"id": run_id, "state": "corrupt", "message": str(exc)}
        best = info["elites"][0] if info["elites"] else None
        return {
            k: info[k]
            for k in (
                "id",
                "state",
                "message",
                "position",
                "kind",
                "model",
                "method",
                "n_targets",
                "figures",
                "resumable",
                "stoppable",
            )
        } | {"best_elite": best, "created": info.get("created")}


def _stamp(path: Path):
    try:
        stat = path.stat()
        return (stat.st_mtime_ns, stat.st_size)
    except OSError:
        return None


# -- HTTP ----------------------------------------------------------------------------------------
def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _evodream_error(request: Request, exc: EvodreamError) -> JSONResponse:
    status = next(code for kind, code in STATUS if isinstance(exc, kind))
    return _error(status, str(exc))


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    messages = {404: f"no such page {request.url.path[:80]!r}", 405: f"{request.method} is not allowed here"}
    return _error(exc.status_code, messages.get(exc.status_code, str(exc.detail)))


async def _json_body(request: Request):
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise Unsupported("send the settings as JSON (Content-Type: application/json)")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
        raise TooLarge(f"the request body is over {MAX_BODY // 1024} KiB: send only the settings")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise TooLarge(f"the request body is over {MAX_BODY // 1024} KiB: send only the settings")
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise EvodreamError("the request body is not valid JSON") from None


def _server(request: Request) -> Server:
    return request.app.state.server


def _rid(request: Request) -> str:
    return request.path_params["rid"]


async def page(request: Request) -> HTMLResponse:
    return HTMLResponse(resources.files(__package__).joinpath("static", "index.html").read_text())


async def static(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in STATIC:
        raise NotFound(f"no static file {name[:80]!r}")
    text = resources.files(__package__).joinpath("static", name).read_text()
    return Response(text, media_type=STATIC[name])


async def options(request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "models": [{"name": n, "description": d} for n, d in launch.MODELS.items()],
            "methods": list(launch.METHODS),
            "max_budget": launch.MAX_BUDGET,
            "max_seed": launch.MAX_SEED,
            "defaults": {
                "model": "lenet-mnist",
                "method": "map-elites-cppn",
                "budget": 10_000,
                "goal": 0.9999,
                "seed": 0,
            },
        }
    )


def classes(request: Request) -> JSONResponse:
    model = request.path_params["model"]
    if model not in launch.MODELS:
        raise NotFound(f"unknown model {model[:60]!r}: choose one of {', '.join(launch.MODELS)}")
    text = request.query_params.get("q", "")[:100]
    try:
        limit = max(1, min(int(request.query_params.get("limit", "20")), 100))
    except ValueError:
        raise EvodreamError("limit must be a whole number") from None
    return JSONResponse(
        {
            "model": model,
            "count": len(launch.class_names(model)),
            "suggestions": launch.suggest(model, text, limit),
        }
    )


async def start_run(request: Request) -> JSONResponse:
    body = await _json_body(request)
    return JSONResponse(await run_in_threadpool(_server(request).start, body), status_code=202)


def list_runs(request: Request) -> JSONResponse:
    return JSONResponse(_server(request).listing())


def run_detail(request: Request) -> JSONResponse:
    return JSONResponse(_server(request).snapshot(_rid(request)))


def metrics(request: Request) -> JSONResponse:
    path, _ = _server(request).locate(_rid(request))
    try:
        most = max(2, min(int(request.query_params.get("points", str(CURVE_POINTS))), 20_000))
    except ValueError:
        raise EvodreamError("points must be a whole number") from None
    rows = []
    if path is not None:
        reader = folders.MetricsReader(path / folders.METRICS)
        while True:  # the whole file, a few MB at a time
            chunk, _ = reader.read()
            if not chunk:
                break
            rows += chunk
    return JSONResponse({"points": [_point(r) for r in folders.thin(rows, most)], "rows": len(rows)})


def _point(row: dict) -> list:
    return [
        row.get("evaluations"),
        row.get("best"),
        row.get("median"),
        row.get("min"),
        row.get("wall_seconds"),
    ]


async def stop_run(request: Request) -> JSONResponse:
    await _json_body(request)  # JSON only, like every POST: a cross-site form cannot stop a run
    job = await run_in_threadpool(_server(request).queue.stop, _rid(request))
    return JSONResponse({"id": job.id, "state": job.state})


async def resume_run(request: Request) -> JSONResponse:
    await _json_body(request)
    return JSONResponse(await run_in_threadpool(_server(request).resume, _rid(request)), status_code=202)


async def report(request: Request) -> HTMLResponse:
    return HTMLResponse(await run_in_threadpool(_server(request).report, _rid(request)))


def run_file(request: Request) -> FileResponse:
    path = _server(request).root.file_path(_rid(request), request.query_params.get("path", ""))
    return FileResponse(
        path,
        media_type=folders.SERVED[path.suffix.lower()],
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )


async def events(request: Request) -> StreamingResponse:
    server = _server(request)
    run_id = _rid(request)
    await run_in_threadpool(server.locate, run_id)  # NotFound before the stream opens
    if server.streams >= MAX_STREAMS:
        raise Busy(f"{MAX_STREAMS} live views are open: close some tabs")
    server.streams += 1

    async def stream():
        reader, rates, last_elites = None, collections.deque(maxlen=600), None
        try:
            while True:
                info = await run_in_threadpool(server.snapshot, run_id)
                points, reset = [], False
                path = server.root.path / run_id
                if reader is None and (path / folders.METRICS).is_file():
                    reader = folders.MetricsReader(path / folders.METRICS)
                if reader is not None:
                    first = reader.offset == 0
                    rows, reset = await run_in_threadpool(reader.read)
                    if reset:
                        rates.clear()
                    rates.extend((r["wall_seconds"], r["evaluations"]) for r in rows if "wall_seconds" in r)
                    points = [_point(r) for r in (folders.thin(rows, CURVE_POINTS) if first else rows)]
                ended = info["state"] not in ACTIVE
                while ended and reader is not None:  # a finished run's whole curve before the stream ends
                    rows, _ = await run_in_threadpool(reader.read)
                    if not rows:
                        break
                    points += [_point(r) for r in rows]
                info["points"], info["reset"] = folders.thin(points, CURVE_POINTS) if ended else points, reset
                info["evals_per_s"] = _rate(rates) if info["state"] in ("running", "stopping") else None
                signature = [(e["class_index"], e["version"]) for e in info["elites"]]
                if signature == last_elites:
                    info.pop("elites")
                last_elites = signature
                yield f"event: update\ndata: {json.dumps(info)}\n\n"
                if ended:
                    yield "event: end\ndata: {}\n\n"
                    return
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(server.closing.wait(), timeout=server.stream_seconds)
                if server.closing.is_set():
                    return
        finally:
            server.streams -= 1

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _rate(rates) -> float | None:
    """Evaluations per second over the last 10 s of the run's own clock."""
    if len(rates) < 2:
        return None
    end_t, end_n = rates[-1]
    start_t, start_n = next(((t, n) for t, n in rates if t >= end_t - 10), rates[0])
    if end_t <= start_t:
        start_t, start_n = rates[0]
    return (end_n - start_n) / (end_t - start_t) if end_t > start_t else None


def create_app(
    runs,
    *,
    max_running: int = 1,
    max_queued: int = 16,
    threads: int = 1,
    loopback: bool = True,
    stream_seconds: float = 1.0,
) -> Starlette:
    """The app serving the run folders under `runs`; `loopback` restricts Host headers to this machine."""
    server = Server(
        runs, max_running=max_running, max_queued=max_queued, threads=threads, stream_seconds=stream_seconds
    )

    @contextlib.asynccontextmanager
    async def lifespan(app):
        server.closing = asyncio.Event()  # bound to the serving loop
        server.queue.start()
        try:
            yield
        finally:
            server.closing.set()
            await run_in_threadpool(server.queue.shutdown)

    routes = [
        Route("/", page),
        Route("/static/{name}", static),
        Route("/api/options", options),
        Route("/api/classes/{model}", classes),
        Route("/api/runs", start_run, methods=["POST"]),
        Route("/api/runs", list_runs),
        Route("/api/run/{rid:path}", run_detail),
        Route("/api/events/{rid:path}", events),
        Route("/api/metrics/{rid:path}", metrics),
        Route("/api/stop/{rid:path}", stop_run, methods=["POST"]),
        Route("/api/resume/{rid:path}", resume_run, methods=["POST"]),
        Route("/api/report/{rid:path}", report),
        Route("/api/file/{rid:path}", run_file),
    ]
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=LOOPBACK_HOSTS)] if loopback else []
    app = Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={EvodreamError: _evodream_error, HTTPException: _http_error},
    )
    app.state.server = server
    return app
