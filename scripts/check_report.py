#!/usr/bin/env python
"""Open an `evodream report` page in headless Chromium and check it the way a reader would.

    python scripts/check_report.py runs/compare/report [--screenshot /tmp/report.png]

Checks: the page loads; every <img> decodes in the browser (the page's own load handler writes
"decoded/total" to <body data-images>); every image is inline (data: URI), so the file works
with no server and no neighbours; the summary table has exactly one row per run in report.json.
Exit 0 when all pass, 1 when one fails, 77 when no Chromium is installed (tests skip on it).
Install it with `apt-get install -y chromium` (Debian).
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars"]


def find_browser() -> str | None:
    return next((path for path in map(shutil.which, BROWSERS) if path), None)


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images: list[str] = []
        self.run_rows: list[str] = []
        self.body: dict = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs.get("src") or "")
        elif tag == "tr" and "data-run" in attrs:
            self.run_rows.append(attrs["data-run"])
        elif tag == "body":
            self.body = attrs


def browse(browser: str, url: str, *extra: str, timeout: float = 120) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=10000",
                               *extra, url], capture_output=True, text=True, timeout=timeout)


def check(report: Path, screenshot: Path | None = None, size: str = "1400,3000") -> list[tuple[bool, str]]:
    index = report / "index.html" if report.is_dir() else report
    browser = find_browser()
    if browser is None:
        raise FileNotFoundError("no Chromium found (apt-get install -y chromium)")
    results = []
    runs = json.loads((index.parent / "report.json").read_text())
    url = index.resolve().as_uri()
    dom = browse(browser, url, "--dump-dom")
    page = _Page()
    page.feed(dom.stdout)
    results.append((dom.returncode == 0 and "<table" in dom.stdout,
                    f"page loads in {Path(browser).name} "
                    f"(exit {dom.returncode}, {len(dom.stdout):,} characters)"))
    decoded = page.body.get("data-images", "")
    match = re.fullmatch(r"(\d+)/(\d+)", decoded)
    results.append((bool(match) and match.group(1) == match.group(2) and int(match.group(2)) > 0,
                    f"images decoded by the browser: {decoded or 'not reported (load handler did not run)'}"))
    inline = sum(src.startswith("data:image/") for src in page.images)
    results.append((inline == len(page.images) > 0,
                    f"images inline as data: URIs: {inline}/{len(page.images)}"))
    names = [r["name"] for r in runs]
    results.append((page.run_rows == names,
                    f"summary rows {len(page.run_rows)} for {len(names)} runs in report.json"
                    + ("" if page.run_rows == names else f" (rows {page.run_rows}, runs {names})")))
    if screenshot is not None:
        shot = browse(browser, url, f"--screenshot={screenshot}", f"--window-size={size}")
        results.append((shot.returncode == 0 and screenshot.exists(), f"screenshot written to {screenshot}"))
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("report", type=Path, help="a report folder (or its index.html)")
    parser.add_argument("--screenshot", type=Path, help="also save a full-page screenshot here")
    parser.add_argument("--size", default="1400,3000", help="screenshot window size W,H (default 1400,3000)")
    args = parser.parse_args(argv)
    index = args.report / "index.html" if args.report.is_dir() else args.report
    if not index.is_file() or not (index.parent / "report.json").is_file():
        print(f"check_report: {args.report} is not an evodream report (needs index.html and report.json)",
              file=sys.stderr)
        return 1
    try:
        results = check(args.report, args.screenshot, args.size)
    except FileNotFoundError as exc:
        print(f"check_report: {exc}", file=sys.stderr)
        return 77
    for ok, text in results:
        print(f"{'ok  ' if ok else 'FAIL'} {text}")
    return 0 if all(ok for ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
