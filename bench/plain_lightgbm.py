"""The "plain LightGBM" bar: what a user gets from the raw columns in a few lines, to hold toss against.

    nice .venv/bin/python -m bench.plain_lightgbm --train data/movielens/train.parquet \
        --test data/movielens/test.parquet --truth data/movielens/test_truth.parquet \
        --cat user movie gender age occupation zip1 genre hour weekday --num year

Why this recipe: it is the common untuned baseline (native categoricals with the train categories,
lr 0.05, 63 leaves, 50 rows per leaf, 0.8 feature/row bagging, L2 1, early stopping after 50 rounds on a
random 10% of train), with no sequence features, no folds and no target encoding; calibrated and scored
as toss scores its own models (bench/plain_bar.py), so only the model differs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from bench.plain_bar import bar_main, read_bar_data, score_test

PARAMS: dict[str, Any] = {
    "objective": "binary",
    "metric": "binary_logloss",
    "learning_rate": 0.05,
    "num_leaves": 63,
    "min_data_in_leaf": 50,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "verbose": -1,
}
MAX_ROUNDS = 5000  # a ceiling only: early stopping ends training long before it
EARLY_STOPPING = 50


def _design(
    frame: pd.DataFrame, cat_cols: list[str], num_cols: list[str], cats: dict[str, pd.Index]
) -> pd.DataFrame:
    """Features only (the sequence and everything else dropped); categories fixed to those of train."""
    columns = {}
    for col in cat_cols:
        values = frame[col].where(frame[col].isin(cats[col]))  # unseen in train: missing
        columns[col] = pd.Categorical(values, categories=cats[col])
    for col in num_cols:
        columns[col] = pd.to_numeric(frame[col]).astype(np.float32)
    return pd.DataFrame(columns, index=frame.index)


def plain_lightgbm(
    train_parquet: str | Path,
    test_parquet: str | Path,
    truth_parquet: str | Path,
    label_col: str,
    id_col: str,
    cat_cols: list[str],
    num_cols: list[str],
    seed: int = 0,
) -> dict[str, float]:
    """Train on a random 90% of train, stop early on the other 10%, calibrate on those 10%, score test.

    Returns test AUC, AP, WLL, Score, the seconds from reading to scoring and the best iteration."""
    data = read_bar_data(
        Path(train_parquet), Path(test_parquet), Path(truth_parquet), label_col, id_col,
        [*cat_cols, *num_cols], seed,
    )  # fmt: skip
    cats = {c: pd.Index(pd.unique(data.train[c].dropna())).sort_values() for c in cat_cols}
    x, y, valid = _design(data.train, cat_cols, num_cols, cats), data.y, data.valid
    d_fit = lgb.Dataset(x[~valid], y[~valid], categorical_feature=cat_cols, free_raw_data=False)
    d_valid = lgb.Dataset(x[valid], y[valid], reference=d_fit)
    booster = lgb.train(
        {**PARAMS, "seed": seed},
        d_fit,
        num_boost_round=MAX_ROUNDS,
        valid_sets=[d_valid],
        callbacks=[lgb.early_stopping(EARLY_STOPPING, verbose=False)],
    )
    best = booster.best_iteration
    valid_logits = np.asarray(booster.predict(x[valid], num_iteration=best, raw_score=True))
    test_x = _design(data.test, cat_cols, num_cols, cats)
    test_logits = np.asarray(booster.predict(test_x, num_iteration=best, raw_score=True))
    return score_test(data, valid_logits, test_logits, label_col, id_col, best)


def main(argv: list[str] | None = None) -> int:
    return bar_main("plain_lightgbm", __doc__, plain_lightgbm, argv)


if __name__ == "__main__":
    sys.exit(main())
