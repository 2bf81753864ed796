"""Software-defined assets, one module per group: data (+ folds), features, training (+ tuning), ensemble.

These modules (and checks, schedules, sensors) do not use `from __future__ import annotations`: Dagster
reads the `context` and resource annotations when the decorators run and rejects string annotations.
"""

from toss_assets.assets.data import folds, raw_data_asset, raw_file_assets, test_cache, train_cache
from toss_assets.assets.ensemble import diagnostics, ensemble, submission
from toss_assets.assets.features import covis_features
from toss_assets.assets.training import fold_model, fold_test_logits, gbdt_fold_model, refit_model
from toss_assets.assets.tuning import tuned_params


def assets_for(source: str) -> list:
    """Every asset of the graph for data.source (`parquet` adds the observed user files upstream)."""
    return [*raw_file_assets(source), raw_data_asset(source), *DERIVED_ASSETS]


DERIVED_ASSETS = [
    train_cache,
    test_cache,
    folds,
    covis_features,
    tuned_params,
    fold_model,
    gbdt_fold_model,
    fold_test_logits,
    refit_model,
    ensemble,
    submission,
    diagnostics,
]

__all__ = ["DERIVED_ASSETS", "assets_for"]
