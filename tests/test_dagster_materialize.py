"""The asset graph really runs: in process on cfgs/smoke.yaml, one fold alone, from the shell, and the
blocking submission check stopping what is downstream of a bad submission."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from conftest import SMOKE
from dagster_util import BIN, instance_in, project_dir, shell_env
from test_dagster_defs import EXPECTED_DEPS

from toss_assets import metadata as md
from toss_assets.assets import assets_for
from toss_assets.checks import checks_for
from toss_assets.jobs import all_folds_tags
from toss_assets.resources import TossConfigResource
from toss_core import steps
from toss_core.families import registry
from toss_core.layout import Layout
from toss_core.post.submission_file import validate_submission
from toss_core.util.results import SubmissionResult

pytestmark = pytest.mark.slow
FAMILIES = registry.enabled(TossConfigResource(config_path=str(SMOKE)).load())  # cfgs/smoke.yaml: nn
CHECKS = checks_for(FAMILIES)
GRAPH = [*assets_for("synthetic", FAMILIES), *CHECKS]
FOLDS = ["fold_0", "fold_1"]  # cfgs/smoke.yaml: cv.n_splits = 2
ROW_COUNT = "dagster/row_count"  # the standard key the UI shows as "Row count"


def materialize(root: Path, instance: dg.DagsterInstance, **kwargs) -> dg.ExecuteInProcessResult:
    toss = TossConfigResource(config_path=str(SMOKE), root=str(root))
    return dg.materialize(GRAPH, instance=instance, resources={"toss": toss}, **kwargs)


def metadata(result: dg.ExecuteInProcessResult, asset: str, partition: str | None = None) -> dict:
    events = [
        e.materialization
        for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey(asset) and e.partition == partition
    ]
    assert len(events) == 1, (asset, partition, len(events))
    return {k: v.value for k, v in events[0].metadata.items()}


def check_results(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    return {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}


def expected_ids(layout: Layout) -> pl.Series:
    return pl.read_parquet(layout.test_path, columns=["ID"])["ID"]


@pytest.fixture(scope="module")
def graph_run(tmp_path_factory: pytest.TempPathFactory):
    """The whole graph materialised once, in process, over every fold: (root, instance, result)."""
    root = tmp_path_factory.mktemp("dagster_graph")
    instance = dg.DagsterInstance.ephemeral()
    result = materialize(root, instance, tags=all_folds_tags())
    return root, instance, result


def test_whole_graph_materialises_into_a_valid_submission(graph_run):
    root, _, result = graph_run
    assert result.success
    done = {(e.asset_key.to_user_string(), e.partition) for e in result.get_asset_materialization_events()}
    partitioned = {"nn_fold_model", "nn_test_logits"}
    assert done == {(a, None) for a in set(EXPECTED_DEPS) - partitioned} | {
        (a, k) for a in partitioned for k in FOLDS
    }
    layout = Layout(TossConfigResource(config_path=str(SMOKE)).load(), root)
    ids = expected_ids(layout)
    assert validate_submission(layout.submission_path, ids)["n_rows"] == ids.len()

    checks = check_results(result)
    assert len(checks) == len(CHECKS)
    for key in [
        ("raw_train", "schema_as_configured"),
        ("raw_test", "schema_as_configured"),
        ("train_cache", "integrity"),
        ("test_cache", "integrity"),
        ("ensemble", "beats_its_best_family"),
        ("submission", "submission_valid"),
    ]:
        assert checks[key].passed, (key, checks[key].description)

    for fold in FOLDS:  # each partition carries its own fold's metrics
        fold_meta = metadata(result, "nn_fold_model", fold)
        assert 0.0 < fold_meta["Score"] < 1.0 and 0.0 < fold_meta["prior_score"] < 1.0
        assert Path(fold_meta["checkpoint"]).is_file()
    assert (
        metadata(result, "nn_fold_model", "fold_0")["Score"]
        != metadata(result, "nn_fold_model", "fold_1")["Score"]
    )
    assert "tune.enabled is false" in metadata(result, "tuned_params")["skipped"]
    assert metadata(result, "nn_fold_model", "fold_0")["params_source"] == "config"

    assert metadata(result, "train_cache")[ROW_COUNT] == 3000
    assert metadata(result, "test_cache")[ROW_COUNT] == 800
    ens = metadata(result, "ensemble")
    assert {"oof_uncalibrated/Score", "oof_calibrated/Score", "weights"} <= set(ens)
    sub = metadata(result, "submission")
    assert sub[ROW_COUNT] == ids.len() and len(sub["preview"].records) > 0
    diag = metadata(result, "diagnostics")
    for plot in ("reliability", "histogram"):  # small enough for the UI to show them inline
        assert "data:image/svg+xml;base64," in diag[plot] and len(diag[plot]) < md.INLINE_MARKDOWN_LIMIT
        assert Path(diag[f"{plot}_png"]).is_file()


def test_one_fold_partition_materialises_alone(graph_run):
    root, instance, _ = graph_run
    result = materialize(root, instance, selection=["nn_fold_model"], partition_key="fold_1")
    assert result.success
    assert [
        (e.asset_key.to_user_string(), e.partition) for e in result.get_asset_materialization_events()
    ] == [("nn_fold_model", "fold_1")]
    assert metadata(result, "nn_fold_model", "fold_1")["Score"] > 0


def test_rematerialising_unchanged_inputs_reuses_the_caches(graph_run):
    root, instance, first = graph_run
    result = materialize(root, instance, selection=["raw_train", "raw_test", "train_cache", "test_cache"])
    assert result.success
    for cache in ("train_cache", "test_cache"):
        again = metadata(result, cache)
        assert again["reused"] is True
        assert again["fingerprint"] == metadata(first, cache)["fingerprint"]


def test_whole_graph_from_the_shell(graph_run):
    """The README's command (`dg launch --job toss_pipeline` over every fold) in a new shell, in the
    directory of the in-process run (so caches are reused): the run lands on the named job, in the
    instance under .dagster_home/ that `dg dev` started there shows."""
    root, _, _ = graph_run
    cmd = [
        str(BIN / "dg"),
        "launch",
        "-m",
        "toss_assets.definitions",
        "--job",
        "toss_pipeline",
        "--partition-range",
        f"{FOLDS[0]}...{FOLDS[-1]}",
    ]
    proc = subprocess.run(
        cmd, cwd=project_dir(root), env=shell_env(), capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert (root / ".dagster_home" / "storage").is_dir()
    with instance_in(root) as instance:
        runs = instance.get_runs()
        assert [r.job_name for r in runs] == ["toss_pipeline"] and runs[0].is_success
        for fold in FOLDS:
            records = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey("nn_fold_model"), asset_partitions=[fold]),
                limit=1,
            ).records
            assert records, fold
        diag = instance.get_latest_materialization_event(dg.AssetKey("diagnostics"))
        assert diag is not None
        train_cache = instance.get_latest_materialization_event(dg.AssetKey("train_cache"))
        assert train_cache.asset_materialization.metadata["reused"].value is True
    layout = Layout(TossConfigResource(config_path=str(SMOKE)).load(), root)
    assert validate_submission(layout.submission_path, expected_ids(layout))["n_rows"] == 800


def test_failing_blocking_check_stops_what_is_downstream(tmp_path, monkeypatch):
    def bad_submission(ctx):
        layout = ctx.layout
        layout.submission_path.parent.mkdir(parents=True, exist_ok=True)
        ids = expected_ids(layout).head(10)  # most test rows missing
        pl.DataFrame({"ID": ids, "clicked": [0.5] * ids.len()}).write_csv(layout.submission_path)
        return SubmissionResult(layout.submission_path, ids.len(), 0.5, [])

    monkeypatch.setattr(steps, "write_submission", bad_submission)
    result = materialize(
        tmp_path,
        dg.DagsterInstance.ephemeral(),
        selection=["raw_train", "raw_test", "submission", "diagnostics"],
        raise_on_error=False,
    )
    assert not result.success
    done = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "submission" in done and "diagnostics" not in done
    check = check_results(result)[("submission", "submission_valid")]
    assert not check.passed and "test IDs missing" in check.description
    assert os.path.exists(Path(tmp_path) / "runs" / "smoke" / "submission.csv")
