"""The "plain LightGBM" bar: what a user gets from the raw columns in a few lines, to hold toss against.

    nice .venv/bin/python -m bench.plain_lightgbm --train data/movielens/train.parquet \
        --test data/movielens/test.parquet --truth data/movielens/test_truth.parquet \
        --cat user movie gender age occupation zip1 genre hour weekday --num year

Why this recipe: it is the common untuned baseline (native categoricals with the train categories,
lr 0.05, 63 leaves, 50 rows per leaf, 0.8 feature/row bagging, L2 1, early stopping after 50 rounds on a
random 10% of train), with no sequence features, no folds and no target encoding. Its raw margins are
calibrated exactly as toss calibrates its own (toss_core.scoring.calibration.fit_temperature, fitted here
on the early-stopping rows) and scored with toss_core.scoring.metrics.evaluate, so only the model differs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from toss_core.scoring.calibration import fit_temperature
from toss_core.scoring.metrics import evaluate

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
VALID_SHARE = 0.1


def _frame(path: Path, cols: list[str]) -> pd.DataFrame:
    if not path.is_file():
        raise ValueError(f"{path}: file not found")
    frame = pd.read_parquet(path)
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; found {list(frame.columns)}")
    return frame


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
    start = time.perf_counter()
    features = [*cat_cols, *num_cols]
    train = _frame(Path(train_parquet), [*features, label_col])
    test = _frame(Path(test_parquet), [*features, id_col])
    truth = _frame(Path(truth_parquet), [id_col, label_col])
    cats = {c: pd.Index(pd.unique(train[c].dropna())).sort_values() for c in cat_cols}
    x = _design(train, cat_cols, num_cols, cats)
    y = train[label_col].to_numpy(dtype=np.float64)
    valid = np.random.default_rng(seed).random(len(train)) < VALID_SHARE
    params = {**PARAMS, "seed": seed}
    d_fit = lgb.Dataset(x[~valid], y[~valid], categorical_feature=cat_cols, free_raw_data=False)
    d_valid = lgb.Dataset(x[valid], y[valid], reference=d_fit)
    booster = lgb.train(
        params,
        d_fit,
        num_boost_round=MAX_ROUNDS,
        valid_sets=[d_valid],
        callbacks=[lgb.early_stopping(EARLY_STOPPING, verbose=False)],
    )
    best = booster.best_iteration
    calibrator = fit_temperature(booster.predict(x[valid], num_iteration=best, raw_score=True), y[valid])
    test_logits = booster.predict(_design(test, cat_cols, num_cols, cats), num_iteration=best, raw_score=True)
    joined = test[[id_col]].assign(_row=np.arange(len(test))).merge(truth, on=id_col, how="inner")
    if len(joined) != len(test) or len(truth) != len(test):
        raise ValueError(
            f"{truth_parquet}: {id_col} values do not match {test_parquet} one to one "
            f"({len(test)} test rows, {len(truth)} truth rows, {len(joined)} matched)"
        )
    p = calibrator.predict_proba(test_logits[joined["_row"].to_numpy()])
    metrics = evaluate(joined[label_col].to_numpy(), p)
    return {**metrics, "seconds": time.perf_counter() - start, "best_iteration": int(best)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True)
    parser.add_argument("--truth", type=Path, required=True)
    parser.add_argument("--label", default="clicked")
    parser.add_argument("--id", default="ID")
    parser.add_argument("--cat", nargs="+", required=True, help="categorical columns")
    parser.add_argument("--num", nargs="*", default=[], help="numeric columns")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        out = plain_lightgbm(
            args.train, args.test, args.truth, args.label, args.id, args.cat, args.num, args.seed
        )
    except ValueError as exc:
        print(f"plain_lightgbm: error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
