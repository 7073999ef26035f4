"""`evodream serve`: a local page to start runs, watch them evolve live and browse past runs."""

from __future__ import annotations

import argparse
import ipaddress
import socket
import sys
from pathlib import Path

from ..errors import EvodreamError


def register(sub, parser_class=None) -> None:
    p = sub.add_parser(
        "serve",
        help="a local web page: start runs, watch them evolve, browse run folders",
        description="Serve a page on which you pick a model, classes, a method and a budget, start a run and "
        "watch its elites and confidence curve live; and browse every run folder under --runs "
        "(elites, key figures, report, DeepDream GIFs). Runs are ordinary run folders, made by worker "
        "processes, --max-running at a time. Needs `pip install 'evodream[serve]'`.",
    )
    p.add_argument(
        "--runs", default="runs", help="the folder of run folders to serve and start runs in (default runs)"
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1: this machine only; anything else lets others on the "
        "network start runs)",
    )
    p.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    p.add_argument("--max-running", type=int, default=1, help="runs at once (default 1); more wait in line")
    p.add_argument("--max-queued", type=int, default=16, help="runs that may wait in line (default 16)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads per run (default 1)")
    p.set_defaults(handler=run)


def check_address(host: str, port: int) -> None:
    """Fail in one line, before anything is written, where uvicorn would print its own error: a host
    that does not resolve, or a port that is taken or not ours to use."""
    try:
        family, kind, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (OSError, UnicodeError) as exc:
        raise EvodreamError(f"--host {host!r} does not resolve ({exc}): use 127.0.0.1 or a name this "
                            "machine knows") from None
    with socket.socket(family, kind) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            probe.bind(address)
        except OSError as exc:
            raise EvodreamError(f"cannot listen on {host}:{port} ({exc.strerror or exc}): choose another "
                                "--port, or stop what holds it") from None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from ..serve import create_app
    except ImportError as exc:
        raise EvodreamError(
            f"evodream serve needs the serve extra ({exc.name} is missing): " "pip install 'evodream[serve]'"
        ) from None
    if not 0 < args.port < 65536:
        raise EvodreamError(f"--port must be from 1 to 65535, got {args.port}")
    for name in ("max_running", "threads"):
        if getattr(args, name) < 1:
            raise EvodreamError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.max_queued < 0:
        raise EvodreamError(f"--max-queued must be 0 or more, got {args.max_queued}")
    check_address(args.host, args.port)
    runs = Path(args.runs)
    if runs.exists() and not runs.is_dir():
        raise EvodreamError(f"--runs {runs} is a file: give a folder")
    try:
        runs.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EvodreamError(f"cannot create --runs {runs}: {exc.strerror}") from None
    loopback = is_loopback(args.host)
    if not loopback:
        print(
            f"evodream serve: warning: bound to {args.host}, beyond this machine: "
            "anyone who can reach it can "
            "start runs and read every run under --runs (there is no login); use --host 127.0.0.1 unless you "
            "mean it",
            file=sys.stderr,
        )
    app = create_app(
        runs,
        max_running=args.max_running,
        max_queued=args.max_queued,
        threads=args.threads,
        loopback=loopback,
    )
    print(
        f"evodream serve: http://{args.host}:{args.port}/  (runs in {runs.resolve()}; Ctrl-C to stop, "
        "which stops running runs resumably)",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", timeout_graceful_shutdown=3)
    return 0
