"""docs/scale_out.md, checked as far as a machine without a cluster allows (needs the `scale` extra).

The definitions load with dagster-k8s's executor and one run per fold, the fold step's tags become a GPU
request, and the instance and run-config YAML of the page validate against the installed schemas.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import pytest
import yaml
from conftest import REPO, SMOKE

os.environ["TOSS_CONFIG"] = str(SMOKE)  # before toss_assets is imported: 2 fold partitions
SCALE_MISSING = "the `scale` extra is not installed: pip install -e '.[scale]'"
dagster_k8s = pytest.importorskip("dagster_k8s", reason=SCALE_MISSING)
pytest.importorskip("dagster_postgres", reason=SCALE_MISSING)

import dagster as dg  # noqa: E402
from dagster._config import validate_config  # noqa: E402
from dagster._core.instance.config import dagster_instance_config  # noqa: E402
from dagster_k8s.job import get_user_defined_k8s_config  # noqa: E402

DOC = REPO / "docs" / "scale_out.md"


def yaml_block(first_line: str) -> dict:
    """The ```yaml block of docs/scale_out.md whose first line is `first_line`."""
    blocks = DOC.read_text().split("```yaml\n")[1:]
    found = [b.split("```", 1)[0] for b in blocks if b.startswith(first_line + "\n")]
    assert len(found) == 1, f"{DOC} has no single yaml block starting with {first_line!r}"
    return yaml.safe_load(found[0])


def test_definitions_load_with_the_k8s_executor_and_one_run_per_fold():
    env = {**os.environ, "TOSS_EXECUTOR": "k8s", "TOSS_FOLD_RUNS": "per_fold"}
    probe = (
        "import json, dagster as dg\n"
        "from toss_assets.definitions import defs\n"
        "dg.Definitions.validate_loadable(defs)\n"
        "graph = defs.resolve_asset_graph()\n"
        "print(json.dumps({'executor': defs.resolve_job_def('toss_pipeline').executor_def.name,\n"
        "  'fold_runs': graph.get(dg.AssetKey('nn_fold_model')).backfill_policy.max_partitions_per_run,\n"
        "  'ensemble_runs': graph.get(dg.AssetKey('ensemble')).backfill_policy.max_partitions_per_run}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert loaded == {"executor": "k8s", "fold_runs": 1, "ensemble_runs": None}


def test_fold_step_pod_requests_one_gpu():
    from toss_assets.definitions import build_definitions

    defs = build_definitions(executor="k8s", fold_runs="per_fold")
    tags = defs.get_assets_def("nn_fold_model").op.tags
    step_tags = {k: v if isinstance(v, str) else json.dumps(v) for k, v in tags.items()}
    k8s = get_user_defined_k8s_config(step_tags)
    assert k8s.container_config["resources"]["limits"]["nvidia.com/gpu"] == "1"
    ensemble_tags = defs.get_assets_def("ensemble").op.tags
    assert not get_user_defined_k8s_config(ensemble_tags).container_config


def test_bad_executor_or_fold_policy_names_the_variable():
    from toss_assets.definitions import build_definitions

    with pytest.raises(ValueError, match="TOSS_EXECUTOR"):
        build_definitions(executor="slurm")
    with pytest.raises(ValueError, match="TOSS_FOLD_RUNS"):
        build_definitions(fold_runs="every_other")


def test_documented_instance_yaml_is_valid(tmp_path, monkeypatch):
    for var in ("DAGSTER_PG_HOST", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD"):
        monkeypatch.setenv(var, "x")
    instance = yaml_block("# $DAGSTER_HOME/dagster.yaml")
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(instance))
    config, _ = dagster_instance_config(str(tmp_path))  # raises on any schema error
    assert "postgres" in config["storage"]
    launcher = config["run_launcher"]
    launcher_class = getattr(importlib.import_module(launcher["module"]), launcher["class"])
    assert launcher_class is dagster_k8s.K8sRunLauncher
    checked = validate_config(launcher_class.config_type(), launcher["config"])
    assert checked.success, checked.errors
    assert "TOSS_EXECUTOR=k8s" in launcher["config"]["env_vars"]


def test_documented_run_config_fits_the_k8s_executor():
    run_config = yaml_block("# run config")
    schema = dagster_k8s.k8s_job_executor.config_schema.config_type
    checked = validate_config(schema, run_config["execution"]["config"])
    assert checked.success, checked.errors


def test_scale_extra_pins_match_the_dagster_release():
    patch = dg.__version__.split(".")[2]  # dagster 1.13.N ships integrations 0.29.N
    pyproject = (REPO / "pyproject.toml").read_text()
    for package in (dagster_k8s, importlib.import_module("dagster_postgres")):
        assert package.__version__ == f"0.29.{patch}"
        assert f'"{package.__name__.replace("_", "-")}==0.29.{patch}"' in pyproject
