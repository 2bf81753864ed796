"""The toss code location: `dagster dev -w workspace.yaml`, or `-m toss_assets.definitions`.

Import stays light (no torch): the multiprocess executor re-imports this module for every step, and
toss_core imports its heavy modules inside the step functions.
"""

from __future__ import annotations

import dagster as dg

from toss_assets.assets import ALL_ASSETS
from toss_assets.checks import ALL_CHECKS
from toss_assets.jobs import toss_fold_training, toss_pipeline
from toss_assets.resources import TossConfigResource
from toss_assets.schedules import nightly_rerun
from toss_assets.sensors import raw_data_changed


def build_definitions(executor: dg.ExecutorDefinition | None = None) -> dg.Definitions:
    """The definitions; `executor` swaps the run executor (e.g. dagster-k8s's k8s_job_executor)."""
    return dg.Definitions(
        assets=ALL_ASSETS,
        asset_checks=ALL_CHECKS,
        jobs=[toss_pipeline, toss_fold_training],
        schedules=[nightly_rerun],
        sensors=[raw_data_changed],
        resources={"toss": TossConfigResource()},
        executor=executor,
    )


defs = build_definitions()
