"""The pipelines' lineage: a static kedro-viz site, served locally and checked in headless Chromium.

``kedro viz build`` always writes its site to ``build/`` in the working directory; ``build_site``
runs it in a scratch copy of the project (so whatever the project's own ``build/`` holds is never
in the way, nor touched) and moves the site to a chosen folder (``make viz``:
``data/08_reporting/viz``). ``check_site`` serves a site from a loopback HTTP server, opens it in
the Debian ``chromium`` package through ``chromium-driver`` (selenium, no driver download), waits
until the expected nodes are drawn and saves a screenshot::

    python -m streamflow.devtools.lineage build --output data/08_reporting/viz
    python -m streamflow.devtools.lineage check --site data/08_reporting/viz --screenshot data/08_reporting/lineage.png
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from streamflow.devtools.scratch import make_scratch_project

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# Headless, and quiet on a machine without network: no background fetches, updates or sync.
CHROMIUM_FLAGS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1600,1000",
)
VIZ_BUILD_FOLDER = "build"  # fixed by kedro-viz: relative to the working directory
SITE_MARKER = Path("api") / "main"  # the pipelines' JSON the page draws from
TASK_NODE_SELECTOR = ".pipeline-node--task"
FEATURE_HINTS = ".feature-hints"  # kedro-viz's onboarding pop-up
FEATURE_HINTS_CLOSE = ".feature-hints__close"
HINTS_FADE_S = 8.0
SERVER_START_S = 10.0
DRAW_TIMEOUT_S = 60.0
# Nodes of the medallion pipeline: the page is "drawn" once these are on it.
MEDALLION_NODES: tuple[str, ...] = (
    "ingest_raw_files_node",
    "build_silver_node",
    "build_fact_transactions_node",
    "build_aggregates_node",
)


class LineageError(RuntimeError):
    """The lineage site could not be built, served or drawn; the message says how to fix it."""


def build_site(project: Path, output: Path) -> Path:
    """Run ``kedro viz build`` on ``project``'s pipelines and config, and move the site to ``output`` (replaced).

    The build runs in a scratch copy of the project: ``kedro viz build`` writes to ``./build``,
    which in the project itself may hold anything (another tool's output) and is left alone.

    Args:
        project: The Kedro project root (holds ``pyproject.toml`` and ``conf/``).
        output: The folder that receives the static site.

    Returns:
        ``output``.

    Raises:
        LineageError: If the build produced no site.

    """
    kedro = Path(sys.executable).with_name("kedro")
    environment = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1"}
    with tempfile.TemporaryDirectory(prefix="streamflow-viz-") as scratch:
        copy = make_scratch_project(project, Path(scratch) / "project")
        staging = copy / VIZ_BUILD_FOLDER
        done = subprocess.run(
            [str(kedro), "viz", "build"], cwd=copy, env=environment, capture_output=True, text=True, check=False
        )
        if done.returncode != 0 or not (staging / SITE_MARKER).is_file():
            raise LineageError(
                f"kedro viz build failed for {project} (exit {done.returncode}):\n"
                f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
            )
        if output.exists():
            shutil.rmtree(output)
        output.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(staging, output)
    return output


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def serve(site: Path) -> Iterator[str]:
    """Serve ``site`` from ``python -m http.server`` on a free loopback port.

    Yields:
        The site's URL. The server is stopped through the PID of the process started here.

    Raises:
        LineageError: If the server does not answer within ``SERVER_START_S`` seconds.

    """
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(site)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_until_served(url, server)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


def _wait_until_served(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while True:
        if server.poll() is not None:
            raise LineageError(f"the HTTP server for {url} exited at start (exit {server.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # nosec B310 - our own server on 127.0.0.1
                if response.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise LineageError(f"nothing answered at {url} within {SERVER_START_S:.0f} s") from None
            time.sleep(0.1)


@contextlib.contextmanager
def headless_chromium() -> Iterator[WebDriver]:
    """Headless Chromium with a fresh profile, driven by the system's ``chromedriver``.

    Yields:
        The selenium driver; the browser quits and its profile is deleted afterwards.

    Raises:
        LineageError: If Chromium or chromedriver is not installed.

    """
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not Path(path).exists()]
    if missing:
        raise LineageError(
            f"{', '.join(missing)} not found: install the Debian packages with "
            "'apt-get install -y chromium chromium-driver' (.ci/run does)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="streamflow-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        try:
            yield driver
        finally:
            driver.quit()


def drawn_task_nodes(
    url: str, screenshot: Path, *, expected: Sequence[str] = MEDALLION_NODES, timeout_s: float = DRAW_TIMEOUT_S
) -> set[str]:
    """Open ``url`` in headless Chromium, wait for the ``expected`` nodes, save a screenshot.

    Args:
        url: A served kedro-viz site.
        screenshot: PNG file written once the nodes are drawn (folders are created).
        expected: Node names that must appear in the drawn graph.
        timeout_s: How long to wait for them.

    Returns:
        The names of every task node drawn on the page.

    Raises:
        LineageError: If the expected nodes are not drawn within ``timeout_s``.

    """
    from selenium.common.exceptions import TimeoutException, WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def task_names(driver: WebDriver) -> set[str]:
        return {element.text for element in driver.find_elements(By.CSS_SELECTOR, TASK_NODE_SELECTOR)}

    with headless_chromium() as driver:
        driver.get(url)
        try:
            WebDriverWait(driver, timeout_s).until(lambda d: set(expected) <= task_names(d))
        except TimeoutException as exc:
            raise LineageError(
                f"{url}: nodes {sorted(set(expected) - task_names(driver))} were not drawn within "
                f"{timeout_s:.0f} s; drawn: {sorted(task_names(driver))}"
            ) from exc
        for button in driver.find_elements(By.CSS_SELECTOR, FEATURE_HINTS_CLOSE):
            with contextlib.suppress(WebDriverException):
                button.click()
        with contextlib.suppress(TimeoutException):  # its "revisit the hints" note fades out
            WebDriverWait(driver, HINTS_FADE_S).until(lambda d: not d.find_elements(By.CSS_SELECTOR, FEATURE_HINTS))
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        if not driver.save_screenshot(str(screenshot)):
            raise LineageError(f"could not save the screenshot to {screenshot}")
        return task_names(driver)


def main(argv: Sequence[str] | None = None) -> int:
    """``build`` the site, or ``check`` a built one in headless Chromium."""
    parser = argparse.ArgumentParser(
        prog="python -m streamflow.devtools.lineage", description="kedro-viz lineage site: build or check"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="kedro viz build into --output")
    build.add_argument("--project", type=Path, default=Path.cwd())
    build.add_argument("--output", type=Path, required=True)
    check = commands.add_parser("check", help="serve --site, check the nodes are drawn, save --screenshot")
    check.add_argument("--site", type=Path, required=True)
    check.add_argument("--screenshot", type=Path, required=True)
    arguments = parser.parse_args(argv)
    try:
        if arguments.command == "build":
            site = build_site(arguments.project.resolve(), arguments.output.resolve())
            print(f"kedro-viz site in {site}; serve it with: python -m http.server -d {arguments.output}")
        else:
            with serve(arguments.site) as url:
                drawn = drawn_task_nodes(url, arguments.screenshot)
            print(f"{len(drawn)} pipeline nodes drawn; screenshot in {arguments.screenshot}")
    except LineageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
