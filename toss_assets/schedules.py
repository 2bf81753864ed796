"""Nightly rerun of the whole graph (off until switched on in the UI).

One run request over the full fold range, not one per fold: a run per fold plus a run for the rest
would start the ensemble before the folds finish. One run of `toss_pipeline` executes the steps in
dependency order — every fold (one step, single-run backfill policy), then ensemble, submission and
diagnostics — and unchanged caches are reused, so only training and what follows it is redone.
"""

import dagster as dg

from toss_assets.automation import NIGHTLY_CRON, TIMEZONE
from toss_assets.jobs import all_folds_tags, toss_pipeline


@dg.schedule(
    job=toss_pipeline,
    cron_schedule=NIGHTLY_CRON,
    execution_timezone=TIMEZONE,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description=f"Every night ({NIGHTLY_CRON}, {TIMEZONE}): every fold, then the ensemble, the submission "
    "and diagnostics.",
)
def nightly_rerun(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    day = context.scheduled_execution_time.strftime("%Y-%m-%d")
    return dg.RunRequest(run_key=f"nightly-{day}", tags={**all_folds_tags(), "toss/trigger": "nightly"})
