"""`evodream serve` over HTTP (Starlette's TestClient): every error case, and real runs in workers."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx2")  # what Starlette's TestClient uses

from starlette.testclient import TestClient  # noqa: E402

from evodream import EvolveConfig, evolve  # noqa: E402
from evodream.ascend import AscendConfig, ascend  # noqa: E402
from evodream.runs import RunFolder  # noqa: E402
from evodream.serve import (
    create_app,  # noqa: E402
    folders,  # noqa: E402
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A runs root holding a finished evolve run, an ascend run, a DeepDream run and a nested run."""
    root = tmp_path_factory.mktemp("runs")
    evolve(
        EvolveConfig(model="lenet-mnist", target="3,7", max_evals=300, goal=None, threads=1),
        root / "evo",
        progress=False,
    )
    ascend(
        AscendConfig(model="lenet-mnist", target="1", steps=3, goal=None, threads=1),
        root / "asc",
        progress=False,
    )
    evolve(
        EvolveConfig(model="lenet-mnist", target="5", max_evals=100, goal=None, threads=1),
        root / "cmp" / "runs" / "inner",
        progress=False,
    )
    from evodream.dream import DreamConfig, deep_dream

    deep_dream(
        DreamConfig(model="lenet-mnist", size=28, octaves=1, steps=1, jitter=1, zoom_frames=2, threads=1),
        root / "dream",
        progress=False,
    )
    (root / "outside").mkdir()  # a sibling of nothing: the target of symlinks that must not be followed
    return root


@pytest.fixture()
def client(runs):
    with TestClient(create_app(runs)) as c:
        yield c


def files_under(root: Path) -> set:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def error_of(response, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    message = response.json()["error"]
    assert message and "\n" not in message and "Traceback" not in message
    return message


def test_the_page_and_its_options(client):
    page = client.get("/")
    assert page.status_code == 200 and 'id="start"' in page.text and "/static/app.js" in page.text
    assert client.get("/static/app.js").headers["content-type"].startswith("text/javascript")
    options = client.get("/api/options").json()
    assert [m["name"] for m in options["models"]] == ["lenet-mnist", "lenet-mnist-b", "efficientnet-lite0",
                                                        "efficientnet-lite1"]
    assert options["methods"] == ["map-elites-cppn", "map-elites-direct", "ga-cppn", "ascent"]


def test_class_suggestions(client):
    cats = client.get("/api/classes/efficientnet-lite0", params={"q": "tabby"}).json()
    assert cats["count"] == 1000
    assert cats["suggestions"][0] == {"index": 281, "name": "tabby", "words": ["tabby cat"]}
    corgis = client.get("/api/classes/efficientnet-lite0", params={"q": "corgi"}).json()["suggestions"]
    assert [(s["index"], s["name"]) for s in corgis] == [(263, "Pembroke"), (264, "Cardigan")]
    digits = client.get("/api/classes/lenet-mnist", params={"q": "7"}).json()["suggestions"]
    assert digits == [{"index": 7, "name": "7", "words": []}]
    assert "unknown model" in error_of(client.get("/api/classes/resnet"), 404)


def test_lists_every_run_folder_with_its_state(client):
    runs = {r["id"]: r for r in client.get("/api/runs").json()["runs"]}
    assert set(runs) == {"evo", "asc", "dream", "cmp/runs/inner"}
    assert {r["state"] for r in runs.values()} == {"finished"}
    assert runs["evo"]["figures"]["evaluations"] == 300 and runs["evo"]["n_targets"] == 2
    assert runs["evo"]["best_elite"]["image"].startswith("elites/")


def test_a_finished_run_is_shown_read_only(client, runs):
    before = {p: p.stat().st_mtime_ns for p in (runs / "evo").rglob("*")}
    info = client.get("/api/run/evo").json()
    assert info["state"] == "finished" and not info["resumable"] and not info["stoppable"]
    assert [e["class_name"] for e in sorted(info["elites"], key=lambda e: e["class_index"])] == ["3", "7"]
    assert all(e["source"] == "final" for e in info["elites"])
    assert {p["image"] for p in info["pictures"]} == {"elites.png"}
    image = client.get("/api/file/evo", params={"path": info["elites"][0]["image"]})
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    curve = client.get("/api/metrics/evo").json()
    assert curve["rows"] == 30 and curve["points"][-1][0] == 300
    report = client.get("/api/report/evo")
    assert report.status_code == 200 and "<table" in report.text and "evodream: evo" in report.text
    events = client.get("/api/events/evo").text  # a finished run: one update with the whole curve, then end
    update = json.loads(events.split("data: ", 1)[1].split("\n", 1)[0])
    assert (
        update["state"] == "finished" and len(update["points"]) == 30 and events.rstrip().endswith("data: {}")
    )
    assert {p: p.stat().st_mtime_ns for p in (runs / "evo").rglob("*")} == before  # nothing written
    assert client.get("/api/run/cmp/runs/inner").json()["state"] == "finished"


def test_dream_runs_show_their_zoom_gif(client):
    info = client.get("/api/run/dream").json()
    assert info["kind"] == "dream" and "zoom.gif" in {p["image"] for p in info["pictures"]}
    gif = client.get("/api/file/dream", params={"path": "zoom.gif"})
    assert gif.status_code == 200 and gif.headers["content-type"] == "image/gif" and gif.content[:3] == b"GIF"
    assert "reports cover evolve and ascend" in error_of(client.get("/api/report/dream"), 409)


def test_serves_only_images_inside_run_folders(client, runs):
    secret = runs / "outside" / "secret.png"
    secret.write_bytes(b"\x89PNG secret")
    link = runs / "evo" / "elites" / "link.png"
    if not link.exists():
        link.symlink_to(secret)
    if not (runs / "linked").exists():
        (runs / "linked").symlink_to(runs / "evo")
    for path in [
        "../outside/secret.png",
        "elites/../../outside/secret.png",
        "/etc/passwd",
        "manifest.json",
        "checkpoint.json",
        "elites/link.png",
        "elites/nope.png",
        "",
        "elites//x.png",
        "..",
        "elites/0003-3.json",
    ]:
        assert error_of(client.get("/api/file/evo", params={"path": path}), 404)
    for run_id in ["..", "../outside", "nope", "outside", "linked", "evo/elites", ".hidden", "a/b/c/d/e"]:
        for route in ("run", "events", "metrics", "report", "file"):
            error_of(client.get(f"/api/{route}/{run_id}", params={"path": "elites.png"}), 404)
    assert error_of(client.get("/api/run/..%2F..%2Fetc"), 404)
    assert error_of(client.get("/static/..%2Fapp.py"), 404)
    assert error_of(client.get("/api/nothing"), 404).startswith("no such page")
    assert "linked" not in {r["id"] for r in client.get("/api/runs").json()["runs"]}


BAD_STARTS = {
    "unknown class": ({"targets": ["tabby kat"], "model": "efficientnet-lite0"}, 400, "Did you mean 'tabby'"),
    "ImageNet class of the digit model": ({"targets": ["macaw"], "model": "lenet-mnist"}, 400,
                                          "it is an ImageNet class, so pick efficientnet-lite0 "
                                          "(or another ImageNet model) in the Model menu"),
    "class index out of range": ({"targets": [10]}, 400, "out of range"),
    "no classes": ({"targets": []}, 400, "pick at least one class"),
    "classes not a list": ({"targets": {"a": 1}}, 400, "list of class names"),
    "unknown model": ({"model": "resnet", "targets": ["3"]}, 400, "unknown model"),
    "a model file": ({"model": "evil.pt", "targets": ["3"]}, 400, "unknown model"),
    "unknown method": ({"method": "nsga3", "targets": ["3"]}, 400, "unknown method"),
    "budget zero": ({"targets": ["3"], "budget": 0}, 400, "budget must be from 1"),
    "budget negative": ({"targets": ["3"], "budget": -5}, 400, "budget must be from 1"),
    "budget absurd": ({"targets": ["3"], "budget": 10**12}, 400, "budget must be from 1"),
    "budget words": ({"targets": ["3"], "budget": "lots"}, 400, "budget must be a whole number"),
    "budget float": ({"targets": ["3"], "budget": 1.5}, 400, "budget must be a whole number"),
    "budget bool": ({"targets": ["3"], "budget": True}, 400, "budget must be a whole number"),
    "seed negative": ({"targets": ["3"], "seed": -1}, 400, "seed must be from 0"),
    "goal above 1": ({"targets": ["3"], "goal": 2}, 400, "goal must be"),
    "goal words": ({"targets": ["3"], "goal": "high"}, 400, "goal must be"),
    "unknown setting": ({"targets": ["3"], "population": 5}, 400, "unknown setting 'population'"),
    "name with a slash": ({"targets": ["3"], "name": "../evil"}, 400, "not a plain folder name"),
    "name hidden": ({"targets": ["3"], "name": ".x"}, 400, "not a plain folder name"),
    "name taken": ({"targets": ["3"], "name": "evo"}, 409, "already exists"),
    "not an object": ([1, 2], 400, "must be a JSON object"),
}


@pytest.mark.parametrize("case", BAD_STARTS)
def test_bad_start_requests_are_refused_and_write_nothing(client, runs, case):
    body, status, message = BAD_STARTS[case]
    before = files_under(runs)
    assert message in error_of(client.post("/api/runs", json=body), status)
    assert files_under(runs) == before


def test_malformed_requests(client, runs):
    before = files_under(runs)
    assert "JSON" in error_of(
        client.post(
            "/api/runs", content=b"targets=3", headers={"content-type": "application/x-www-form-urlencoded"}
        ),
        415,
    )
    assert "JSON" in error_of(
        client.post("/api/runs", content=b"{}", headers={"content-type": "text/plain"}), 415
    )
    assert "not valid JSON" in error_of(
        client.post("/api/runs", content=b"{targets", headers={"content-type": "application/json"}), 400
    )
    big = json.dumps({"targets": ["3"] * 10_000}).encode()
    assert "over 16 KiB" in error_of(
        client.post("/api/runs", content=big, headers={"content-type": "application/json"}), 413
    )
    assert "not allowed" in error_of(client.get("/api/stop/evo"), 405)
    assert client.get("/api/options", headers={"host": "evil.example"}).status_code == 400  # DNS rebinding
    assert files_under(runs) == before


def test_stop_and_resume_refuse_what_they_cannot_do(client):
    assert "nothing to stop" in error_of(client.post("/api/stop/evo", json={}), 409)
    assert "has finished" in error_of(client.post("/api/resume/evo", json={}), 409)
    assert "only evolution keeps a checkpoint" in error_of(client.post("/api/resume/asc", json={}), 409)
    assert error_of(client.post("/api/resume/nope", json={}), 404)
    assert error_of(client.post("/api/stop/nope", json={}), 409)
    # What a cross-site page can send without a CORS preflight (a form, text/plain) is refused.
    for what in ("stop", "resume"):
        for kind in ("text/plain", "application/x-www-form-urlencoded"):
            response = client.post(f"/api/{what}/evo", content=b"{}",
                                   headers={"content-type": kind, "origin": "http://evil.example"})
            assert "Content-Type: application/json" in error_of(response, 415)


# -- real runs in worker processes ------------------------------------------------------------
def wait_for(client, run_id, states, timeout=90.0) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        info = client.get(f"/api/run/{run_id}").json()
        if info.get("state") in states:
            return info
        time.sleep(0.2)
    raise AssertionError(f"{run_id} never reached {states}: {info}")


def test_runs_queue_stop_resume_and_finish(tmp_path):
    app = create_app(tmp_path, max_running=1, max_queued=1)
    with TestClient(app) as client:
        start = {
            "model": "lenet-mnist",
            "targets": ["3"],
            "method": "map-elites-direct",
            "budget": 2_000_000,
            "goal": None,
        }
        first = client.post("/api/runs", json={**start, "name": "long"})
        assert first.status_code == 202 and first.json()["state"] == "running"
        second = client.post("/api/runs", json={**start, "name": "waits", "method": "ascent", "budget": 50})
        assert second.json() == {"id": "waits", "state": "queued", "position": 1}
        assert "already waiting" in error_of(client.post("/api/runs", json={**start, "name": "third"}), 429)
        assert client.get("/api/run/waits").json()["position"] == 1
        assert {r["id"]: r["state"] for r in client.get("/api/runs").json()["runs"]} == {
            "long": "running",
            "waits": "queued",
        }
        # live elites: rendered from the checkpoint by the worker while the run goes on
        deadline = time.time() + 90
        while not (info := client.get("/api/run/long").json())["elites"] and time.time() < deadline:
            time.sleep(0.3)
        assert info["elites"][0]["source"] == "live" and info["figures"]["evaluations"] > 0
        assert (
            client.get("/api/file/long", params={"path": info["elites"][0]["image"]}).content[:4]
            == b"\x89PNG"
        )
        assert client.post("/api/stop/long", json={}).json()["state"] == "stopping"
        info = wait_for(client, "long", {"stopped"})
        assert info["resumable"] and info["message"] == "" and not folders.lock_held(tmp_path / "long")
        checkpoint = RunFolder.open(tmp_path / "long").load_checkpoint()
        assert checkpoint is not None and not (tmp_path / "long" / "summary.json").exists()
        # the queued ascent started when the first run stopped, and finishes on its own
        info = wait_for(client, "waits", {"finished", "failed"})
        assert info["state"] == "finished" and info["elites"][0]["source"] == "final", info
        # resume continues from the checkpoint: the curve goes on past the evaluations it had
        evaluations = checkpoint["search"]["evaluations"]
        assert client.post("/api/resume/long", json={}).status_code == 202
        assert "already running" in error_of(client.post("/api/resume/long", json={}), 409)
        deadline = time.time() + 90
        while (client.get("/api/run/long").json()["figures"] or {}).get(
            "evaluations", 0
        ) <= evaluations + 100:
            assert time.time() < deadline
            time.sleep(0.3)
        client.post("/api/stop/long", json={})
        wait_for(client, "long", {"stopped"})
        pids = [j.pid for j in app.state.server.queue.jobs()]
    # the server has shut down: no worker outlives it
    assert pids and not [pid for pid in pids if Path(f"/proc/{pid}").exists()]
    rows = RunFolder.open(tmp_path / "long").read_metrics()
    assert [r["generation"] for r in rows] == list(range(1, len(rows) + 1))  # one curve, no gap or repeat


def test_queued_run_stopped_before_it_starts_writes_nothing(tmp_path):
    app = create_app(tmp_path, max_running=1)
    with TestClient(app) as client:
        app.state.server.queue.max_running = 0  # hold the line: nothing starts
        assert client.post("/api/runs", json={"targets": ["2"], "name": "held"}).json()["state"] == "queued"
        assert client.post("/api/stop/held", json={}).json()["state"] == "cancelled"
        info = client.get("/api/run/held").json()
        assert info["state"] == "cancelled" and "nothing was written" in info["message"]
    assert list(tmp_path.iterdir()) == []


def test_cli_warns_beyond_loopback(monkeypatch, tmp_path, capsys):
    import uvicorn

    from evodream.cli import main

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    with socket.socket() as taken:  # a port in use, then free again for the runs below
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        assert main(["serve", "--runs", str(tmp_path / "r"), "--port", port]) == 2
        assert "choose another --port" in capsys.readouterr().err and not (tmp_path / "r").exists()
    assert main(["serve", "--runs", str(tmp_path / "r"), "--host", "evil..host", "--port", port]) == 2
    assert "does not resolve" in capsys.readouterr().err
    assert main(["serve", "--runs", str(tmp_path / "r"), "--host", "0.0.0.0", "--port", port]) == 0
    assert "warning: bound to 0.0.0.0" in capsys.readouterr().err and calls[0]["host"] == "0.0.0.0"
    assert main(["serve", "--runs", str(tmp_path / "r"), "--port", port]) == 0
    assert "warning" not in capsys.readouterr().err and calls[1]["host"] == "127.0.0.1"
    assert main(["serve", "--runs", str(tmp_path / "r"), "--max-running", "0"]) == 2
    (tmp_path / "file").write_text("x")
    assert main(["serve", "--runs", str(tmp_path / "file")]) == 2
    assert "is a file" in capsys.readouterr().err
