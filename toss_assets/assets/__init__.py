"""Software-defined assets, one module per group: data, features, training (+ tuning), ensemble.

These modules (and checks, schedules, sensors) do not use `from __future__ import annotations`: Dagster
reads the `context` and resource annotations when the decorators run and rejects string annotations.
"""

from toss_assets.assets.data import raw_data, test_cache, train_cache
from toss_assets.assets.ensemble import diagnostics, ensemble, submission
from toss_assets.assets.features import covis_features
from toss_assets.assets.training import fold_model, fold_test_logits, folds, gbdt_fold_model, refit_model
from toss_assets.assets.tuning import tuned_params

ALL_ASSETS = [
    raw_data,
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

__all__ = ["ALL_ASSETS"]
