"""`evodream serve` in a real browser: headless Chromium (via Debian's chromedriver and Selenium)
starts a run from the page, sees a live elite and the curve grow, stops it and finds it under Runs.

Set EVODREAM_SCREENSHOT=FILE.png to keep a screenshot of the live run. Skipped when Chromium or
chromedriver is missing (`.ci/run` installs both: apt-get install -y chromium chromium-driver).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("uvicorn")
webdriver = pytest.importorskip("selenium.webdriver")

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
DRIVER = shutil.which("chromedriver")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1300,1400",
]
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="no Chromium / chromedriver (apt-get install -y chromium chromium-driver)",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]
    except OSError:
        return "(gone)"


@pytest.fixture()
def server(tmp_path):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "evodream.cli",
            "serve",
            "--runs",
            str(tmp_path / "runs"),
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(url + "/api/options", timeout=2).read()
            break
        except OSError:
            if process.poll() is not None or time.time() > deadline:
                process.kill()
                raise AssertionError(f"evodream serve did not start: {process.communicate()[0]}")
            time.sleep(0.3)
    yield url, process, tmp_path / "runs"
    if process.poll() is None:
        process.kill()
        process.wait()


@pytest.fixture()
def browser(tmp_path):
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS + [f"--user-data-dir={tmp_path / 'profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def click(element) -> bool:
    element.click()
    return True


def wait(driver, condition, timeout=90, what=""):
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # a list redrawn between finding an element and using it: look again
    return WebDriverWait(
        driver,
        timeout,
        poll_frequency=0.25,
        ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
    ).until(lambda d: condition(d), message=what)


def test_start_watch_stop_and_browse_a_run(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    url, process, runs = server
    find = browser.find_element
    browser.get(url + "/")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#model option"), what="models listed")

    # pick the model, type a class into the search box, take the suggestion, choose method and budget
    Select(find(By.ID, "model")).select_by_value("lenet-mnist")
    find(By.ID, "class-search").send_keys("3")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#suggestions li"), what="suggestions shown")
    find(By.ID, "class-search").send_keys(Keys.ENTER)
    assert find(By.CSS_SELECTOR, "#chosen span").get_attribute("data-index") == "3"
    Select(find(By.ID, "method")).select_by_value("map-elites-cppn")
    for field, value in (("budget", "2000000"), ("goal", "none"), ("name", "from-the-page")):
        find(By.ID, field).clear()
        find(By.ID, field).send_keys(value)
    find(By.ID, "start").click()

    # the run starts in a worker; its live elite appears and the curve grows
    view = "#live-view .run-view"
    wait(
        browser,
        lambda d: d.find_element(By.CSS_SELECTOR, view).get_attribute("data-state") == "running",
        what="run running",
    )
    wait(
        browser,
        lambda d: d.find_elements(By.CSS_SELECTOR, f"{view} img.elite[data-loaded='1']"),
        what="a live elite image decoded",
    )
    curve = find(By.CSS_SELECTOR, f"{view} svg.curve")
    first = int(curve.get_attribute("data-points"))
    wait(browser, lambda d: int(curve.get_attribute("data-points")) > first, what="the curve got new points")
    wait(
        browser,
        lambda d: find(By.CSS_SELECTOR, f"{view} .evals-per-s").text not in ("", "–"),
        what="evaluations per second shown",
    )
    rate = float(find(By.CSS_SELECTOR, f"{view} .evals-per-s").text)
    caption = find(By.CSS_SELECTOR, f"{view} .elites figcaption").text
    assert rate > 0 and caption.startswith("3 ") and "(live)" in caption
    if os.environ.get("EVODREAM_SCREENSHOT"):
        browser.save_screenshot(os.environ["EVODREAM_SCREENSHOT"])

    # stop it: the page says stopped and offers Resume; the folder holds a resumable run
    find(By.CSS_SELECTOR, f"{view} button.stop").click()
    wait(
        browser,
        lambda d: d.find_element(By.CSS_SELECTOR, view).get_attribute("data-state") == "stopped",
        what="run stopped",
    )
    assert find(By.CSS_SELECTOR, f"{view} button.resume").is_displayed()
    assert not find(By.CSS_SELECTOR, f"{view} button.stop").is_displayed()
    assert (runs / "from-the-page" / "checkpoint.json").is_file()
    assert not (runs / "from-the-page" / "summary.json").exists()

    # Runs lists it; opening it shows its elites and curve
    find(By.ID, "tab-runs").click()
    wait(
        browser,
        lambda d: click(
            d.find_element(By.CSS_SELECTOR, "tr[data-run='from-the-page'][data-state='stopped']")
        ),
        what="run listed as stopped, and opened",
    )
    detail = "#detail-view .run-view"
    wait(
        browser,
        lambda d: d.find_elements(By.CSS_SELECTOR, f"{detail} img.elite[data-loaded='1']"),
        what="the run's page shows its elite",
    )
    assert int(find(By.CSS_SELECTOR, f"{detail} svg.curve").get_attribute("data-points")) > first
    logs = (
        [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        if hasattr(browser, "get_log")
        else []
    )
    assert not logs, logs

    # Resume from the run's page; then the server, stopped by SIGTERM with the run going, stops it
    # resumably and leaves no worker behind (uvicorn re-raises the signal after its clean shutdown)
    find(By.CSS_SELECTOR, f"{detail} button.resume").click()
    wait(
        browser,
        lambda d: d.find_element(By.CSS_SELECTOR, detail).get_attribute("data-state") == "running",
        what="run resumed",
    )
    workers = children(process.pid)
    assert workers
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=40) in (0, -signal.SIGTERM), process.stdout.read()
    deadline = time.time() + 10  # multiprocessing's resource tracker ends when it sees the server gone
    while [pid for pid in workers if Path(f"/proc/{pid}").exists()] and time.time() < deadline:
        time.sleep(0.2)
    assert not [(pid, cmdline(pid)) for pid in workers if Path(f"/proc/{pid}").exists()]
    from evodream.runs import RunFolder
    from evodream.serve.folders import lock_held

    run = RunFolder.open(runs / "from-the-page")
    assert not lock_held(run.path) and run.load_checkpoint() is not None and run.read_metrics()
    assert run.manifest["target_names"] == ["3"] and run.manifest["config"]["encoding"] == "cppn"
