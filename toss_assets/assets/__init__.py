"""Software-defined assets, one module per group: data (+ folds), features, training (+ tuning), ensemble.

These modules (and checks, schedules, sensors) do not use `from __future__ import annotations`: Dagster
reads the `context` and resource annotations when the decorators run and rejects string annotations.
The training and ensemble assets are built per model family (toss_core.families.registry).
"""

from toss_assets.assets.data import folds, raw_data_asset, raw_file_assets, test_cache, train_cache
from toss_assets.assets.ensemble import ensemble_assets
from toss_assets.assets.features import covis_features
from toss_assets.assets.training import training_assets
from toss_assets.assets.tuning import tuned_params
from toss_core.families.base import Family


def assets_for(source: str, families: list[Family]) -> list:
    """Every asset of the graph for data.source (`parquet` adds the observed user files upstream) and the
    enabled model families (each gets its fold models and test logits)."""
    return [
        *raw_file_assets(source),
        raw_data_asset(source),
        train_cache,
        test_cache,
        folds,
        covis_features,
        tuned_params,
        *training_assets(families),
        *ensemble_assets(families),
    ]


__all__ = ["assets_for"]
