"""The Dagster definitions without running the pipeline: lineage, partitions, resource, schedule, sensor.

TOSS_CONFIG is set before toss_assets is imported: the fold partitions come from the config that the
code location loads (cfgs/smoke.yaml: 2 folds).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from conftest import REPO, SMOKE
from dagster_util import BIN, shell_env

os.environ["TOSS_CONFIG"] = str(SMOKE)

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from toss_assets.automation import NIGHTLY_CRON, TIMEZONE
from toss_assets.definitions import build_definitions, defs
from toss_assets.jobs import RANGE_END_TAG, RANGE_START_TAG
from toss_assets.resources import TossConfigResource, resolve_config_path
from toss_assets.schedules import nightly_rerun
from toss_assets.sensors import raw_data_changed
from toss_core.config import ConfigError

# The lineage of DESIGN.md with the real order cache → folds → covis → fold models; cfgs/smoke.yaml
# enables the network family only (the per-family assets of more families: test_the_graph_grows_...).
EXPECTED_DEPS = {
    "raw_train": set(),
    "raw_test": set(),
    "train_cache": {"raw_train"},
    "test_cache": {"raw_test", "train_cache"},
    "folds": {"train_cache"},
    "covis_features": {"folds", "train_cache", "test_cache"},
    "tuned_params": {"train_cache", "folds", "covis_features"},
    "nn_fold_model": {"train_cache", "folds", "covis_features", "tuned_params"},
    "nn_test_logits": {"nn_fold_model", "test_cache", "covis_features"},
    "refit_model": {"nn_fold_model", "test_cache", "covis_features"},
    "ensemble": {"nn_fold_model", "nn_test_logits", "refit_model", "test_cache"},
    "submission": {"ensemble", "test_cache", "nn_fold_model"},
    "diagnostics": {"submission", "ensemble", "nn_fold_model"},
}
GROUPS = {
    "data": {"raw_train", "raw_test", "train_cache", "test_cache", "folds"},
    "features": {"covis_features"},
    "training": {"tuned_params", "nn_fold_model", "nn_test_logits", "refit_model"},
    "ensemble": {"ensemble", "submission", "diagnostics"},
}


def test_lineage_groups_and_metadata():
    graph = defs.resolve_asset_graph()
    nodes = {key.to_user_string(): graph.get(key) for key in graph.get_all_asset_keys()}
    assert set(nodes) == set(EXPECTED_DEPS)
    for name, node in nodes.items():
        assert {k.to_user_string() for k in node.parent_keys} == EXPECTED_DEPS[name], name
        assert node.code_version, name
        assert node.owners == ["team:toss-ml"], name
        assert node.description, name
    for group, members in GROUPS.items():
        assert {n for n, node in nodes.items() if node.group_name == group} == members


def test_the_users_parquet_files_show_their_kind():
    """A source asset takes no `kinds` argument (Dagster's decorator once swallowed it unread)."""
    graph = build_definitions(source="parquet").resolve_asset_graph()
    for name in ("train_parquet", "test_parquet"):
        assert graph.get(dg.AssetKey(name)).kinds == {"parquet"}, name


def test_the_graph_grows_one_fold_model_and_test_logits_asset_per_enabled_family():
    graph = build_definitions(families=["nn", "gbdt", "catboost"]).resolve_asset_graph()
    nodes = {key.to_user_string(): graph.get(key) for key in graph.get_all_asset_keys()}
    for family, kind in (("nn", "pytorch"), ("gbdt", "lightgbm"), ("catboost", "catboost")):
        model, logits = nodes[f"{family}_fold_model"], nodes[f"{family}_test_logits"]
        assert {k.to_user_string() for k in logits.parent_keys} == {
            f"{family}_fold_model",
            "test_cache",
            "covis_features",
        }
        assert kind in model.kinds and model.pools == logits.pools == {"gpu"}, family
        assert model.partitions_def.get_partition_keys() == ["fold_0", "fold_1"]
        for downstream in ("ensemble", "submission", "diagnostics", "refit_model"):
            assert dg.AssetKey(f"{family}_fold_model") in nodes[downstream].parent_keys, downstream
        assert dg.AssetKey(f"{family}_test_logits") in nodes["ensemble"].parent_keys
    assert model.code_version != nodes["nn_fold_model"].code_version  # each family's own source
    with pytest.raises(ConfigError, match="unknown model family 'xgb'"):
        build_definitions(families=["nn", "xgb"])


def test_fold_partitions_pool_and_gpu_request_come_with_the_training_assets():
    graph = defs.resolve_asset_graph()
    for name in ("nn_fold_model", "nn_test_logits"):
        node = graph.get(dg.AssetKey(name))
        assert node.partitions_def.get_partition_keys() == ["fold_0", "fold_1"]  # smoke: cv.n_splits = 2
        assert node.pools == {"gpu"}
    probe = "from toss_assets.definitions import defs; print(defs.get_assets_def('gbdt_fold_model').op.pool)"
    env = {**os.environ, "TOSS_CONFIG": str(REPO / "cfgs" / "demo.yaml")}  # families: [nn, gbdt]
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "gpu", out.stderr[-2000:]
    fold_model = defs.get_assets_def("nn_fold_model")
    tags = fold_model.op.tags
    k8s = tags["dagster-k8s/config"]
    k8s = json.loads(k8s) if isinstance(k8s, str) else k8s
    assert k8s["container_config"]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    for name in ("raw_train", "ensemble", "diagnostics"):
        assert graph.get(dg.AssetKey(name)).partitions_def is None


def test_a_family_enabled_only_per_run_is_refused(tmp_path: Path):
    toss = TossConfigResource(config_path=str(SMOKE), overrides=["families=[nn,gbdt]"], root=str(tmp_path))
    (ensemble,) = [a for a in defs.assets if dg.AssetKey("ensemble") in a.keys]
    with pytest.raises(Exception, match=r"set `families` in the YAML"):
        dg.materialize([ensemble], resources={"toss": toss})


def test_checks_cover_the_spec_and_the_cache_and_submission_checks_block():
    specs = {
        (spec.asset_key.to_user_string(), spec.name): spec
        for checks_def in defs.asset_checks or []
        for spec in checks_def.check_specs
    }
    assert set(specs) == {
        ("raw_train", "schema_as_configured"),
        ("raw_test", "schema_as_configured"),
        ("train_cache", "integrity"),
        ("test_cache", "integrity"),
        ("nn_fold_model", "score_above_prior"),
        ("ensemble", "beats_its_best_family"),
        ("submission", "submission_valid"),
    }
    assert {key for key, spec in specs.items() if spec.blocking} == {
        ("train_cache", "integrity"),
        ("test_cache", "integrity"),
        ("submission", "submission_valid"),
    }


def test_jobs_schedule_and_sensor_are_registered_and_off_by_default():
    assert defs.resolve_job_def("toss_pipeline").partitions_def.get_partition_keys() == ["fold_0", "fold_1"]
    training = defs.resolve_job_def("toss_fold_training")
    assert {k.to_user_string() for k in training.asset_layer.executable_asset_keys} == {
        "nn_fold_model",
        "nn_test_logits",
    }
    schedule = defs.resolve_schedule_def("nightly_rerun")
    sensor = defs.resolve_sensor_def("raw_data_changed")
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    assert schedule.job_name == sensor.job_name == "toss_pipeline"
    assert (schedule.cron_schedule, schedule.execution_timezone) == (NIGHTLY_CRON, TIMEZONE)


def test_nightly_schedule_requests_every_fold_then_the_rest_in_one_run(tmp_path):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        context = dg.build_schedule_context(
            instance=instance, scheduled_execution_time=datetime(2026, 1, 2, 2, tzinfo=timezone.utc)
        )
        request = nightly_rerun(context)
    assert request.run_key == "nightly-2026-01-02"
    assert request.partition_key_range == dg.PartitionKeyRange("fold_0", "fold_1")
    # one run over the whole job, so Dagster orders the fold step before ensemble and submission
    assert request.asset_selection is None


def test_config_path_resolution(monkeypatch, tmp_path):
    monkeypatch.delenv("TOSS_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    assert resolve_config_path() == REPO / "cfgs" / "demo.yaml"  # default, found from any directory
    monkeypatch.setenv("TOSS_CONFIG", "cfgs/smoke.yaml")
    assert resolve_config_path() == REPO / "cfgs" / "smoke.yaml"
    (tmp_path / "cfgs").mkdir()
    local = tmp_path / "cfgs" / "smoke.yaml"
    local.write_text("exp_name: local\n")
    assert resolve_config_path() == Path("cfgs/smoke.yaml")  # the working directory wins
    assert TossConfigResource().load().exp_name == "local"
    assert resolve_config_path("elsewhere.yaml") == Path("elsewhere.yaml")
    with pytest.raises(ConfigError, match=r"elsewhere\.yaml"):
        TossConfigResource(config_path="elsewhere.yaml").load()


def test_resource_overrides_and_root(tmp_path):
    toss = TossConfigResource(
        config_path=str(SMOKE), overrides=["train.epochs=2", "exp_name=x"], root=str(tmp_path)
    )
    ctx = toss.context()
    assert ctx.cfg.train.epochs == 2
    assert ctx.layout.submission_path == tmp_path / "runs" / "x" / "submission.csv"
    with pytest.raises(ConfigError, match="trian"):
        TossConfigResource(config_path=str(SMOKE), overrides=["trian.epochs=2"]).load()


def _parquet_config(tmp_path: Path) -> TossConfigResource:
    for name in ("train", "test"):
        pq.write_table(pa.table({"x": [1, 2, 3]}), tmp_path / f"{name}.parquet")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        "data:\n  source: parquet\n"
        f"  train_path: {tmp_path / 'train.parquet'}\n  test_path: {tmp_path / 'test.parquet'}\n"
    )
    return TossConfigResource(config_path=str(cfg), root=str(tmp_path))


def test_sensor_starts_one_full_run_when_the_raw_parquet_changes(tmp_path):
    toss = _parquet_config(tmp_path)

    def tick(cursor):
        context = dg.build_sensor_context(cursor=cursor, resources={"toss": toss})
        return raw_data_changed(context), context.cursor

    first, cursor = tick(None)
    assert isinstance(first, dg.SkipReason) and "first tick" in first.skip_message
    same, cursor2 = tick(cursor)
    assert isinstance(same, dg.SkipReason) and "unchanged" in same.skip_message
    assert cursor2 == cursor
    pq.write_table(pa.table({"x": [1, 2, 3, 4]}), tmp_path / "train.parquet")
    result, cursor3 = tick(cursor)
    [changed] = result.run_requests
    assert changed.tags[RANGE_START_TAG] == "fold_0" and changed.tags[RANGE_END_TAG] == "fold_1"
    assert changed.tags["toss/changed"] == "train"
    [observed] = result.asset_events  # the changed file, versioned by its new fingerprint
    assert observed.asset_key == dg.AssetKey("train_parquet")
    assert observed.data_version == json.loads(cursor3)["train"]
    assert json.loads(cursor3)["train"] != json.loads(cursor)["train"]


def test_sensor_skips_synthetic_data(tmp_path):
    context = dg.build_sensor_context(
        resources={"toss": TossConfigResource(config_path=str(SMOKE), root=str(tmp_path))}
    )
    result = raw_data_changed(context)
    assert isinstance(result, dg.SkipReason) and "synthetic" in result.skip_message


@pytest.mark.slow
def test_a_new_shell_in_the_repository_needs_no_dagster_home():
    """What a user types first, with no DAGSTER_HOME: no traceback, no ignored-file warning."""
    for cmd in (
        [str(BIN / "dg"), "list", "defs"],
        [str(BIN / "dg"), "check", "defs"],
        [str(BIN / "dagster"), "definitions", "validate", "-m", "toss_assets.definitions"],
    ):
        proc = subprocess.run(cmd, cwd=REPO, env=shell_env(), capture_output=True, text=True, timeout=180)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out
        assert "Traceback" not in out and "will not be used" not in out, out
    listed = subprocess.run(
        [str(BIN / "dg"), "list", "defs", "--json"], cwd=REPO, env=shell_env(), capture_output=True, text=True
    )
    assert "toss_pipeline" in listed.stdout and "diagnostics" in listed.stdout


def test_run_config_overrides_keys_for_one_run(tmp_path):
    from toss_assets.assets import raw_data_asset

    run_config = {
        "resources": {
            "toss": {
                "config": {
                    "config_path": str(SMOKE),
                    "root": str(tmp_path),
                    "overrides": ["data.synthetic.train_rows=400", "data.synthetic.test_rows=100"],
                }
            }
        }
    }
    result = dg.materialize(
        [raw_data_asset("synthetic")],
        resources={"toss": TossConfigResource()},
        run_config=run_config,
        raise_on_error=True,
    )
    rows = {
        e.asset_key.to_user_string(): e.materialization.metadata["dagster/row_count"].value
        for e in result.get_asset_materialization_events()
    }
    assert rows == {"raw_train": 400, "raw_test": 100}
    assert (tmp_path / "data" / "smoke" / "train.parquet").is_file()
