"""The "plain CatBoost" bar: one CatBoost model at its defaults on the raw columns, to hold toss against.

    nice .venv/bin/python -m bench.plain_catboost --train data/frappe/train.parquet \
        --test data/frappe/test.parquet --truth data/frappe/test_truth.parquet --cat user item ...

Why this recipe: it is what a user tries first on categorical CTR data: every categorical as a native
cat_feature (CatBoost's ordered target statistics and feature combinations), CatBoost's defaults (depth 6,
its automatic learning rate), at most 3,000 iterations with early stopping after 100 on a random 10% of
train, no sequence features, no folds; calibrated and scored as toss scores its own models
(bench/plain_bar.py), so only the model differs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from bench.plain_bar import bar_main, read_bar_data, score_test

ITERATIONS = 3000
EARLY_STOPPING = 100


def _design(frame: pd.DataFrame, cat_cols: list[str], num_cols: list[str]) -> pd.DataFrame:
    """Categoricals as strings (missing as their own value), numerics as float32."""
    columns = {c: frame[c].astype("string").fillna("<missing>").astype(str) for c in cat_cols}
    columns.update({c: pd.to_numeric(frame[c]).astype(np.float32) for c in num_cols})
    return pd.DataFrame(columns, index=frame.index)


def plain_catboost(
    train_parquet: str | Path,
    test_parquet: str | Path,
    truth_parquet: str | Path,
    label_col: str,
    id_col: str,
    cat_cols: list[str],
    num_cols: list[str],
    seed: int = 0,
) -> dict[str, float]:
    """Train on a random 90% of train, stop early on the other 10%, calibrate on those 10%, score test."""
    import catboost

    data = read_bar_data(
        Path(train_parquet), Path(test_parquet), Path(truth_parquet), label_col, id_col,
        [*cat_cols, *num_cols], seed,
    )  # fmt: skip
    x, y, valid = _design(data.train, cat_cols, num_cols), data.y, data.valid
    model = catboost.CatBoostClassifier(
        iterations=ITERATIONS,
        random_seed=seed,
        thread_count=os.cpu_count() or 1,
        allow_writing_files=False,
        verbose=False,
    )
    model.fit(
        catboost.Pool(x[~valid], y[~valid], cat_features=cat_cols),
        eval_set=catboost.Pool(x[valid], y[valid], cat_features=cat_cols),
        early_stopping_rounds=EARLY_STOPPING,
        use_best_model=True,
    )
    valid_logits = model.predict(x[valid], prediction_type="RawFormulaVal")
    test_logits = model.predict(_design(data.test, cat_cols, num_cols), prediction_type="RawFormulaVal")
    return score_test(data, valid_logits, test_logits, label_col, id_col, int(model.tree_count_))


def main(argv: list[str] | None = None) -> int:
    return bar_main("plain_catboost", __doc__, plain_catboost, argv)


if __name__ == "__main__":
    sys.exit(main())
