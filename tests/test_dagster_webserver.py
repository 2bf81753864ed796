"""The web UI: dagster-webserver serves workspace.yaml, GraphQL shows the lineage, Chromium draws the graph.

The server runs in its own process group on a free 127.0.0.1 port with the project's dagster.yaml in a
throwaway working directory; it is
stopped with SIGTERM to the group, SIGKILL if it lingers. The Chromium test needs Debian's `chromium`
package (/usr/bin/chromium) and the playwright Python package (no browser download).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO
from dagster_util import project_dir, shell_env
from test_dagster_defs import EXPECTED_DEPS

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [  # besides --headless (playwright adds it) and a fresh --user-data-dir
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STARTUP_TIMEOUT_S = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def graphql(base: str, query: str) -> dict:
    request = urllib.request.Request(
        f"{base}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        payload = json.loads(response.read())
    assert "errors" not in payload, payload
    return payload["data"]


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's whole process group (webserver + code server), SIGKILL as a fallback."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def webserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("webserver")
    project_dir(tmp)  # the server reads its instance from the working directory, as in a new shell
    env = shell_env()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = (tmp / "webserver.log").open("w")
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "dagster-webserver"),
            "-w",
            str(REPO / "workspace.yaml"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=tmp,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            assert proc.poll() is None, (tmp / "webserver.log").read_text()
            try:
                with urllib.request.urlopen(f"{base}/server_info", timeout=5) as r:
                    assert json.loads(r.read())["dagster_version"]
                break
            except OSError:
                assert time.monotonic() < deadline, "webserver did not answer /server_info in time"
                time.sleep(1)
        yield base
    finally:
        _stop(proc)
        log.close()
    assert proc.returncode is not None


@pytest.mark.slow
def test_graphql_lineage(webserver: str):
    # the code location loads in the background: wait until its assets are served
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    query = "{ assetNodes { assetKey { path } dependencyKeys { path } groupName isPartitioned } }"
    while not (nodes := graphql(webserver, query)["assetNodes"]):
        assert time.monotonic() < deadline, "no asset nodes served"
        time.sleep(1)
    deps = {
        "/".join(n["assetKey"]["path"]): {"/".join(d["path"]) for d in n["dependencyKeys"]} for n in nodes
    }
    assert deps == EXPECTED_DEPS
    partitioned = {"/".join(n["assetKey"]["path"]) for n in nodes if n["isPartitioned"]}
    assert partitioned == {"fold_model", "gbdt_fold_model", "fold_test_logits"}


@pytest.mark.slow
@pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (apt-get install chromium)"
)
def test_asset_graph_renders_in_headless_chromium(webserver: str, tmp_path: Path):
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    graphql(webserver, "mutation { setNuxSeen }")  # no community pop-up over the graph
    screenshot = tmp_path / "asset_graph.png"
    with sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"),  # a new, empty --user-data-dir
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1600, "height": 1000},
        )
        try:
            page = browser.new_page()
            page.goto(f"{webserver}/asset-groups", wait_until="domcontentloaded")
            page.get_by_text("training", exact=True).first.wait_for(timeout=STARTUP_TIMEOUT_S * 1000)
            page.keyboard.press("Alt+e")  # the UI's "expand all groups" shortcut: asset nodes appear
            for name in EXPECTED_DEPS:
                page.get_by_text(name, exact=True).first.wait_for(timeout=30_000)
            page.wait_for_timeout(1000)  # let the edges settle before the picture
            page.screenshot(path=str(screenshot))
            text = page.inner_text("body")
        finally:
            browser.close()
    assert "Global asset lineage" in text
    assert all(name in text for name in EXPECTED_DEPS)
    assert screenshot.stat().st_size > 20_000
    print(f"screenshot: {screenshot}")
