"""Jobs: the whole pipeline, and fold training for the partitions a user picks."""

from __future__ import annotations

import dagster as dg

from toss_assets.partitions import FOLD_PARTITIONS

toss_pipeline = dg.define_asset_job(
    "toss_pipeline",
    selection=dg.AssetSelection.all(),
    description="Raw data → caches → folds → covis → every fold → ensemble → submission → diagnostics, "
    "in one run when launched over the full fold range (see all_folds_tags).",
)

toss_fold_training = dg.define_asset_job(
    "toss_fold_training",
    selection=dg.AssetSelection.groups("training") - dg.AssetSelection.assets("tuned_params", "refit_model"),
    description="Train the selected fold partitions of every enabled family and predict their test rows "
    "(their upstream must exist).",
)

# Run tags that make one run cover a partition range; Dagster's CLI sets the same tags for
# `--partition-range`, and RunRequest.partition_key_range reads them.
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def all_folds_tags() -> dict[str, str]:
    keys = FOLD_PARTITIONS.get_partition_keys()
    return {RANGE_START_TAG: keys[0], RANGE_END_TAG: keys[-1]}
