"""The toss code location: `dagster dev -w workspace.yaml`, or `-m toss_assets.definitions`.

Two environment variables, read when the code location loads, adapt it to a cluster
(docs/scale_out.md):
- TOSS_EXECUTOR=k8s runs every step in its own Kubernetes pod (dagster-k8s's k8s_job_executor;
  needs the `scale` extra). Default: multiprocess, each step in its own local process.
- TOSS_FOLD_RUNS=per_fold makes a backfill launch one run per fold partition (so each fold gets its
  own run, pod and GPU) instead of one run over all folds. The single-run default is what lets
  `dagster asset materialize --select '*' --partition-range …` run the whole graph from a shell.

The local executor is Dagster's multiprocess executor started through a forkserver that has imported
this module once: each step is still its own process (a fold's memory is returned when it ends), but it
no longer pays the import of Dagster and toss_assets (seconds per step, most of a smoke run).
Import stays light (no torch): toss_core imports its heavy modules inside the step functions.
"""

from __future__ import annotations

import os

import dagster as dg

from toss_assets.assets import assets_for
from toss_assets.automation import toss_automation
from toss_assets.checks import checks_for
from toss_assets.jobs import toss_fold_training, toss_pipeline
from toss_assets.resources import TossConfigResource, load_time_config
from toss_assets.schedules import nightly_rerun
from toss_assets.sensors import raw_data_changed
from toss_core.families import registry

EXECUTOR_ENV = "TOSS_EXECUTOR"
FOLD_RUNS_ENV = "TOSS_FOLD_RUNS"


LOCAL_EXECUTOR = dg.multiprocess_executor.configured(
    {"start_method": {"forkserver": {"preload_modules": ["toss_assets.definitions"]}}},
    name="toss_multiprocess",
)


def executor_named(name: str) -> dg.ExecutorDefinition:
    """`multiprocess` (local processes, see module doc) or `k8s` (one pod per step)."""
    if name == "multiprocess":
        return LOCAL_EXECUTOR
    if name == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    raise ValueError(f"{EXECUTOR_ENV}={name!r}: expected 'multiprocess' or 'k8s'")


def build_definitions(
    executor: str = "multiprocess",
    fold_runs: str = "single",
    source: str = "synthetic",
    families: list[str] | None = None,
) -> dg.Definitions:
    """The definitions for one executor, one fold-run policy (`single` or `per_fold`), one data.source
    (`parquet` adds the observed user files) and the enabled model families (names in the registry;
    default: the loaded config's `families`)."""
    if fold_runs not in ("single", "per_fold"):
        raise ValueError(f"{FOLD_RUNS_ENV}={fold_runs!r}: expected 'single' or 'per_fold'")
    enabled = [registry.get(f, "families") for f in (families or load_time_config().families)]
    assets = assets_for(source, enabled)
    if fold_runs == "per_fold":
        per_fold = dg.BackfillPolicy.multi_run(1)
        assets = [
            a.with_attributes(backfill_policy=per_fold) if a.partitions_def is not None else a for a in assets
        ]
    return dg.Definitions(
        assets=assets,
        asset_checks=checks_for(enabled),
        jobs=[toss_pipeline, toss_fold_training],
        schedules=[nightly_rerun],
        sensors=[raw_data_changed, toss_automation],
        resources={"toss": TossConfigResource()},
        executor=executor_named(executor),
    )


defs = build_definitions(
    executor=os.environ.get(EXECUTOR_ENV, "multiprocess"),
    fold_runs=os.environ.get(FOLD_RUNS_ENV, "single"),
    source=load_time_config().data.source,
    families=load_time_config().families,
)
