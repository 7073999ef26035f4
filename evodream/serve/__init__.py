"""`evodream serve`: a local page to start runs, watch them evolve and browse past runs.

app.py holds the routes, jobs.py the bounded queue of worker processes, worker.py what runs in
each of them, launch.py the check of a start request, folders.py the reading of run folders, and
static/ the page. Needs the optional extra: ``pip install 'evodream[serve]'``.
"""

from .app import create_app

__all__ = ["create_app"]
