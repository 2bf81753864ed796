"""The web UI on a real project: the smoke graph materialised, one fold retrained, then served.

The graph runs in process into the instance of a throwaway project directory (the project's
dagster.yaml, as `dg dev` started there would use); fold_1 is then retrained with another learning rate.
dagster-webserver serves that instance on a free 127.0.0.1 port, in its own process group (SIGTERM to the
group, SIGKILL if it lingers). GraphQL and the instance say which assets are stale; headless Chromium
draws the lineage, the stale marker ("Unsynced") and the inline plots, and the screenshots are kept under
$TOSS_TEST_ARTIFACTS (default: test-artifacts/ in the repository, git-ignored). The Chromium test
needs Debian's `chromium` package (/usr/bin/chromium) and the playwright Python package.
"""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from conftest import REPO, SMOKE
from dagster._core.definitions.data_version import StaleStatus
from dagster._utils.test.data_versions import get_stale_status_resolver
from dagster_util import BIN, instance_in, process_group, project_dir, shell_env
from test_dagster_defs import EXPECTED_DEPS

from toss_assets.assets import assets_for
from toss_assets.checks import checks_for
from toss_assets.jobs import all_folds_tags
from toss_assets.resources import TossConfigResource
from toss_core.families import registry

pytestmark = pytest.mark.slow
FAMILIES = [registry.get("nn")]  # cfgs/smoke.yaml
GRAPH = [*assets_for("synthetic", FAMILIES), *checks_for(FAMILIES)]
RETRAINED = "fold_1"
STALE_AFTER_RETRAIN = {"ensemble", "submission", "diagnostics"}  # what reads every fold
UNTOUCHED = {"raw_train", "raw_test", "train_cache", "test_cache", "folds", "covis_features"}
ARTIFACTS = Path(os.environ.get("TOSS_TEST_ARTIFACTS", REPO / "test-artifacts")) / "ui"
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


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project directory whose instance holds the whole smoke graph and then a retrained fold_1."""
    root = project_dir(tmp_path_factory.mktemp("project"))
    with instance_in(root) as instance:
        toss = TossConfigResource(config_path=str(SMOKE), root=str(root))
        run = dg.materialize(GRAPH, instance=instance, resources={"toss": toss}, tags=all_folds_tags())
        assert run.success
        retrain = toss.model_copy(update={"overrides": ["train.lr=0.005"]})
        again = dg.materialize(
            GRAPH,
            selection=["nn_fold_model"],
            partition_key=RETRAINED,
            instance=instance,
            resources={"toss": retrain},
        )
        assert again.success
    return root


def data_versions(instance: dg.DagsterInstance, asset: str, partition: str) -> list[str]:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]), limit=10
    ).records
    return [r.event_log_entry.asset_materialization.tags["dagster/data_version"] for r in records]


def test_retraining_a_fold_makes_what_reads_it_stale(project: Path):
    with instance_in(project) as instance:
        retrained = data_versions(instance, "nn_fold_model", RETRAINED)
        assert len(retrained) == 2 and retrained[0] != retrained[1]  # a new checkpoint, a new version
        resolver = get_stale_status_resolver(instance, assets_for("synthetic", FAMILIES))

        def status(asset: str, partition: str | None = None) -> StaleStatus:
            return resolver.get_status(dg.AssetKey(asset), partition)

        assert {a: status(a) for a in STALE_AFTER_RETRAIN} == dict.fromkeys(
            STALE_AFTER_RETRAIN, StaleStatus.STALE
        )
        assert status("nn_test_logits", RETRAINED) == StaleStatus.STALE
        assert status("nn_test_logits", "fold_0") == StaleStatus.FRESH
        assert status("nn_fold_model", RETRAINED) == StaleStatus.FRESH
        assert {a: status(a) for a in UNTOUCHED} == dict.fromkeys(UNTOUCHED, StaleStatus.FRESH)
        causes = resolver.get_stale_root_causes(dg.AssetKey("ensemble"))
        assert any(c.asset_key == dg.AssetKey("nn_fold_model") for c in causes), causes


@pytest.fixture(scope="module")
def webserver(project: Path) -> Iterator[str]:
    """dagster-webserver started in the project directory, as `dg dev` there would: its instance."""
    tmp = project
    env = shell_env()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [
        str(BIN / "dagster-webserver"),
        "-w",
        str(REPO / "workspace.yaml"),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    with process_group(cmd, tmp, env, tmp / "webserver.log") as proc:
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
    assert proc.returncode is not None


def served_asset_nodes(base: str, fields: str) -> list[dict]:
    """assetNodes with `fields`, once the code location (loaded in the background) serves them."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not (nodes := graphql(base, f"{{ assetNodes {{ assetKey {{ path }} {fields} }} }}")["assetNodes"]):
        assert time.monotonic() < deadline, "no asset nodes served"
        time.sleep(1)
    return nodes


def test_graphql_lineage_and_staleness(webserver: str):
    nodes = served_asset_nodes(webserver, "dependencyKeys { path } isPartitioned staleStatus")
    name = {id(n): "/".join(n["assetKey"]["path"]) for n in nodes}
    deps = {name[id(n)]: {"/".join(d["path"]) for d in n["dependencyKeys"]} for n in nodes}
    assert deps == EXPECTED_DEPS
    assert {name[id(n)] for n in nodes if n["isPartitioned"]} == {"nn_fold_model", "nn_test_logits"}
    status = {name[id(n)]: n["staleStatus"] for n in nodes}
    assert {a: status[a] for a in STALE_AFTER_RETRAIN} == dict.fromkeys(STALE_AFTER_RETRAIN, "STALE")
    assert {a: status[a] for a in UNTOUCHED} == dict.fromkeys(UNTOUCHED, "FRESH")


def _browser(p, profile: Path):
    return p.chromium.launch_persistent_context(
        str(profile),  # a new, empty --user-data-dir
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_FLAGS,
        viewport={"width": 1600, "height": 1000},
    )


@pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (apt-get install chromium)"
)
def test_ui_draws_the_lineage_the_stale_marker_and_the_inline_plots(webserver: str, tmp_path: Path):
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    graphql(webserver, "mutation { setNuxSeen }")  # no community pop-up over the graph
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shots = {name: ARTIFACTS / f"{name}.png" for name in ("asset_graph", "submission_stale", "diagnostics")}
    with sync_playwright() as p:
        browser = _browser(p, tmp_path / "profile")
        try:
            page = browser.new_page()
            page.goto(f"{webserver}/asset-groups", wait_until="domcontentloaded")
            page.get_by_text("training", exact=True).first.wait_for(timeout=STARTUP_TIMEOUT_S * 1000)
            page.keyboard.press("Alt+e")  # the UI's "expand all groups" shortcut: asset nodes appear
            for name in EXPECTED_DEPS:
                page.get_by_text(name, exact=True).first.wait_for(timeout=30_000)
            page.wait_for_timeout(1000)  # let the edges settle before the picture
            page.screenshot(path=str(shots["asset_graph"]))
            lineage_text = page.inner_text("body")

            page.goto(f"{webserver}/assets/submission", wait_until="domcontentloaded")
            page.get_by_text("Unsynced", exact=False).first.wait_for(timeout=60_000)  # the UI's word
            page.screenshot(path=str(shots["submission_stale"]))

            page.goto(f"{webserver}/assets/diagnostics", wait_until="domcontentloaded")
            plots = page.locator('img[src^="data:image/svg+xml"]')
            plots.first.wait_for(timeout=60_000)
            plots.first.scroll_into_view_if_needed()
            page.wait_for_timeout(500)
            drawn = plots.evaluate_all("imgs => imgs.map(i => i.complete && i.naturalWidth > 0)")
            page.screenshot(path=str(shots["diagnostics"]))
        finally:
            browser.close()
    assert "Global asset lineage" in lineage_text
    assert all(name in lineage_text for name in EXPECTED_DEPS)
    assert drawn == [True, True]  # the reliability diagram and the histogram, both shown and decoded
    for shot in shots.values():
        assert shot.stat().st_size > 20_000, shot
    print(f"screenshots: {ARTIFACTS}")
