"""Folds in parallel on one machine, as "Materialize all" runs them: the daemon carries out an asset
backfill of the whole graph with TOSS_FOLD_RUNS=per_fold and the pool `gpu` at 2, on SQLite storage and
on a real PostgreSQL 15 (dagster-postgres).

`dagster-daemon run` (the process `dg dev` starts beside the webserver; its backfill and run-queue daemons
are what carry out "Materialize all") starts in a throwaway working directory holding the instance file,
in its own process group, which is stopped with SIGTERM, then SIGKILL, whatever happens. The backfill is
the one the UI's launchPartitionBackfill mutation adds: every asset, all partitions.
"""

import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
import yaml
from conftest import REPO, SMOKE, make_config
from dagster_util import BIN, instance_in, process_group, project_dir, shell_env

os.environ["TOSS_CONFIG"] = str(SMOKE)  # before toss_assets is imported: 2 fold partitions

import dagster as dg
import polars as pl
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from dagster._core.instance.config import dagster_instance_config
from dagster._core.storage.dagster_run import RunRecord, RunsFilter
from dagster._serdes import serialize_value

from toss_assets.definitions import build_definitions
from toss_assets.jobs import RANGE_END_TAG, RANGE_START_TAG
from toss_core.layout import Layout
from toss_core.post.submission_file import validate_submission

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
PG_SCHEME = "postgresql+psycopg2"
SCALE_MISSING = "the `scale` extra is not installed: pip install -e '.[scale]'"
DOC = REPO / "docs" / "scale_out.md"
FOLD_ASSETS = {"nn_fold_model", "nn_test_logits"}
FOLDS = ["fold_0", "fold_1"]  # cfgs/smoke.yaml: cv.n_splits = 2
BACKFILL_TIMEOUT_S = 480  # the backfill daemon looks every 30 s: ~4 looks, plus the runs themselves
DONE = {
    BulkActionStatus.COMPLETED,
    BulkActionStatus.COMPLETED_SUCCESS,
    BulkActionStatus.COMPLETED_FAILED,
    BulkActionStatus.FAILED,
    BulkActionStatus.CANCELED,
}


def postgres_answers() -> bool:
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture
def postgres_db() -> Iterator[str]:
    """A database of its own on the local PostgreSQL server, dropped afterwards."""
    if not postgres_answers():
        pytest.skip(
            f"no PostgreSQL server answers on {PG_HOST}:{PG_PORT} (the project's dev and CI machines run one)"
        )
    psycopg = pytest.importorskip("psycopg", reason=SCALE_MISSING)
    pytest.importorskip("dagster_postgres", reason=SCALE_MISSING)
    name = f"toss_test_{uuid.uuid4().hex[:12]}"
    admin = f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def storage(request: pytest.FixtureRequest) -> dict:
    """The `storage:` section of the instance: the project's SQLite one, or Postgres."""
    if request.param == "sqlite":
        return yaml.safe_load((REPO / "dagster.yaml").read_text())["storage"]
    return postgres_storage(request.getfixturevalue("postgres_db"))


def postgres_storage(db_name: str) -> dict:
    """Dagster storage in one database of the local server (trust authentication: no password), through
    psycopg2: dagster-postgres's NOTIFY fails under psycopg 3, which SQLAlchemy 2.1 picks by default."""
    db = {"hostname": PG_HOST, "port": PG_PORT, "username": PG_USER, "db_name": db_name, "scheme": PG_SCHEME}
    return {"postgres": {"postgres_db": db}}


def instance_dir(root: Path, storage: dict) -> Path:
    """The project's dagster.yaml in `root`, with `storage` and room for the fold runs beside each other."""
    project_dir(root)
    config = yaml.safe_load((root / "dagster.yaml").read_text())
    config["storage"] = storage
    config["concurrency"]["runs"]["max_concurrent_runs"] = 4  # two fold runs, and headroom
    (root / "dagster.yaml").write_text(yaml.safe_dump(config))
    return root


def daemon_running(
    root: Path, env: dict[str, str], instance: dg.DagsterInstance
) -> AbstractContextManager[subprocess.Popen]:
    """`dagster-daemon run` as `dg dev` starts it (the instance passed as a serialized ref, the workspace
    loaded by its own code server), in its own process group, stopped with everything it started."""
    cmd = [
        *(str(BIN / "dagster-daemon"), "run", "-w", str(REPO / "workspace.yaml")),
        *("--instance-ref", serialize_value(instance.get_ref())),
    ]
    return process_group(cmd, root, env, root / "daemon.log")


def materialize_all(instance: dg.DagsterInstance) -> str:
    """What "Materialize all" adds: an asset backfill of every asset over all its partitions."""
    graph = build_definitions(fold_runs="per_fold").resolve_asset_graph()
    backfill = PartitionBackfill.from_asset_partitions(
        backfill_id=f"toss{uuid.uuid4().hex[:8]}",
        asset_graph=graph,
        partition_names=None,
        asset_selection=sorted(graph.get_all_asset_keys()),
        backfill_timestamp=time.time(),
        tags={},
        dynamic_partitions_store=instance,
        all_partitions=True,
        title="materialize all",
        description=None,
        run_config=None,
    )
    instance.add_backfill(backfill)
    return backfill.backfill_id


def wait_for(instance: dg.DagsterInstance, backfill_id: str, daemon: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + BACKFILL_TIMEOUT_S
    while (status := instance.get_backfill(backfill_id).status) not in DONE:
        assert daemon.poll() is None, f"the daemon exited:\n{log.read_text()[-4000:]}"
        assert time.monotonic() < deadline, f"backfill still {status} after {BACKFILL_TIMEOUT_S}s"
        time.sleep(2)
    assert status == BulkActionStatus.COMPLETED_SUCCESS, f"{status}:\n{log.read_text()[-4000:]}"


def backfill_runs(instance: dg.DagsterInstance, backfill_id: str) -> dict[str, tuple[set[str], RunRecord]]:
    """run id → (the assets it materialised, its record) for every run the backfill launched."""
    records = instance.get_run_records(RunsFilter(tags={"dagster/backfill": backfill_id}))
    return {
        r.dagster_run.run_id: ({k.to_user_string() for k in r.dagster_run.asset_selection or ()}, r)
        for r in records
    }


def partition_range(record: RunRecord) -> tuple[str | None, str | None]:
    """The first and last partition a backfill run covers (its range tags)."""
    tags = record.dagster_run.tags
    return tags.get(RANGE_START_TAG), tags.get(RANGE_END_TAG)


def step_window(instance: dg.DagsterInstance, run_id: str, step: str) -> tuple[float, float]:
    """When `step` of the run started and succeeded (event timestamps)."""
    kinds = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS}
    times = {
        e.dagster_event.event_type: e.timestamp
        for e in instance.all_logs(run_id, of_type=kinds)
        if e.step_key == step
    }
    return times[dg.DagsterEventType.STEP_START], times[dg.DagsterEventType.STEP_SUCCESS]


def share_messages(instance: dg.DagsterInstance, run_id: str, step: str) -> list[str]:
    """What toss_assets.fold_share logged for the step."""
    logs = instance.all_logs(run_id)
    return [e.user_message for e in logs if e.step_key == step and e.user_message.startswith("machine share")]


@pytest.mark.slow
def long_folds_config(root: Path) -> Path:
    """cfgs/smoke.yaml with folds that train for 60 epochs: each fold step then lasts well beyond the
    ~10 s a daemon on a busy machine or in a fresh clone (no bytecode yet) took between launching the two
    fold runs, when a fold trained in 5 s and the steps never overlapped."""
    cfg = yaml.safe_load(SMOKE.read_text())
    cfg["train"] = {**cfg.get("train", {}), "epochs": 60, "early_stop_patience": 60}
    path = root / "long_folds.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_materialize_all_trains_two_folds_at_once(tmp_path: Path, storage: dict):
    root = instance_dir(tmp_path / "project", storage)
    env = shell_env(long_folds_config(root), TOSS_FOLD_RUNS="per_fold", TOSS_ROOT=str(root))
    # the documented command; instance commands read DAGSTER_HOME/dagster.yaml, not ./dagster.yaml
    subprocess.run(
        [str(BIN / "dagster"), "instance", "concurrency", "set", "gpu", "2"],
        cwd=root,
        env={**env, "DAGSTER_HOME": str(root)},
        check=True,
        capture_output=True,
        timeout=120,
    )
    with instance_in(root) as instance, daemon_running(root, env, instance) as daemon:
        assert instance.event_log_storage.get_concurrency_info("gpu").limit == 2
        backfill_id = materialize_all(instance)
        wait_for(instance, backfill_id, daemon, root / "daemon.log")
        runs = backfill_runs(instance, backfill_id)
        assert all(record.dagster_run.is_success for _, record in runs.values())

        fold_runs = {rid: partition_range(r) for rid, (a, r) in runs.items() if a & FOLD_ASSETS}
        assert sorted(fold_runs.values()) == [(k, k) for k in FOLDS], fold_runs  # one run per fold
        assert all(runs[rid][0] == FOLD_ASSETS for rid in fold_runs)
        windows = [step_window(instance, rid, "nn_fold_model") for rid in fold_runs]
        assert max(w[0] for w in windows) < min(w[1] for w in windows), (
            f"fold_model steps one after another: {windows}"
        )
        for rid in fold_runs:
            shares = share_messages(instance, rid, "nn_fold_model")
            assert shares and "runs up to 2 steps at once" in shares[0], shares

        (ensemble,) = [r for a, r in runs.values() if "ensemble" in a]
        assert ensemble.start_time > max(runs[rid][1].end_time for rid in fold_runs)

    layout = Layout(make_config(), root)
    ids = pl.read_parquet(layout.test_path, columns=["ID"])["ID"]
    assert validate_submission(layout.submission_path, ids)["n_rows"] == ids.len()


def doc_block(first_line: str) -> str:
    """The ```yaml block of docs/scale_out.md whose first line is `first_line`."""
    blocks = DOC.read_text().split("```yaml\n")[1:]
    (block,) = [b.split("```", 1)[0] for b in blocks if b.startswith(first_line + "\n")]
    return block


def test_documented_postgres_instance_is_the_tested_one(tmp_path: Path):
    pytest.importorskip("dagster_postgres", reason=SCALE_MISSING)
    block = doc_block("# dagster.yaml: Postgres on this machine")
    assert yaml.safe_load(block)["storage"] == postgres_storage("dagster")  # the slow test's, but its db
    (tmp_path / "dagster.yaml").write_text(block)
    config, _ = dagster_instance_config(str(tmp_path))  # raises on any schema error
    assert config["storage"]["postgres"]["postgres_db"]["db_name"] == "dagster"
    cluster = yaml.safe_load(doc_block("# $DAGSTER_HOME/dagster.yaml"))
    assert cluster["storage"]["postgres"]["postgres_db"]["scheme"] == PG_SCHEME
