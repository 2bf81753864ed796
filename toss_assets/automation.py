"""Declarative automation: when an asset reruns by itself, and how fresh the submission must be.

Every asset carries `RERUN_CONDITION`: rerun when something it depends on has a new data version
(a changed raw Parquet, observed by the sensor `raw_data_changed`, starts the chain), and once a night
after 02:00 UTC, each asset once its dependencies have been updated since that tick. The conditions are
evaluated only while the sensor `toss_automation` runs, and it is off by default (Automation in the UI).
It emits backfills, so a tick that requests every fold partition honours the fold assets' backfill
policy (one run over all folds, or one per fold in the per-fold mode).
"""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

NIGHTLY_CRON = "0 2 * * *"
TIMEZONE = "UTC"
"""The one nightly tick: the automation condition below and the schedule nightly_rerun both use it."""

RERUN_CONDITION = dg.AutomationCondition.eager() | dg.AutomationCondition.on_cron(NIGHTLY_CRON, TIMEZONE)

SUBMISSION_FRESHNESS = dg.FreshnessPolicy.time_window(
    warn_window=timedelta(hours=26), fail_window=timedelta(hours=50)
)
"""A nightly rerun refreshes the submission every 24 h: one missed night warns, two fail."""

toss_automation = dg.AutomationConditionSensorDefinition(
    "toss_automation",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.STOPPED,
    emit_backfills=True,
    description="Evaluates every asset's automation condition: rerun on changed inputs and nightly.",
)
