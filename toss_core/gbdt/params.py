"""LightGBM parameters: the defaults, and how the config, seed and threads complete them."""

from __future__ import annotations

from typing import Any

from toss_core.config import TossConfig
from toss_core.tabular.inputs import cpu_threads

# LightGBM parameters derived from the data: how many rows of the rarer class (the clicks, at a CTR's
# usual rates) a fold trains on decides how much structure the trees can afford. Measured on three data
# sets (BENCHMARKS.md, "LightGBM defaults"): with few events (synthetic Toss-schema data at 100k rows,
# ~1.3k clicks per fold) small trees with many rows per leaf, strong L2 and smoothed categoricals win
# (63 leaves lose 0.000-0.004 Score); with many events (MovieLens-100k, ~23k minority rows per fold)
# LightGBM's ordinary settings win by +0.004-0.006 Score. The switch sits between the two measured
# points, at RICH_EVENTS minority rows per fold; cfg.gbdt.params overrides any of these.
BASE_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "metric": "binary_logloss",
    "learning_rate": 0.05,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "max_bin": 255,
    "cat_l2": 10.0,
    "min_data_per_group": 100,
    "max_cat_threshold": 64,
    "verbose": -1,
}
SPARSE_PARAMS: dict[str, Any] = {  # a leaf of 200 rows holds ~4 clicks at a 2% rate
    "num_leaves": 15,
    "min_data_in_leaf": 200,
    "feature_fraction": 0.5,
    "lambda_l2": 10.0,
    "cat_smooth": 50.0,
}
RICH_PARAMS: dict[str, Any] = {
    "num_leaves": 63,
    "min_data_in_leaf": 50,
    "feature_fraction": 0.8,
    "lambda_l2": 1.0,
    "cat_smooth": 10.0,
}
RICH_EVENTS = 5_000  # minority-class training rows per fold from which RICH_PARAMS apply


def data_params(n_rows: int, pos_rate: float) -> dict[str, Any]:
    """The tier of parameters the training rows of a fold support (see the comment above)."""
    events = n_rows * min(pos_rate, 1.0 - pos_rate)
    return dict(RICH_PARAMS if events >= RICH_EVENTS else SPARSE_PARAMS)


def gbdt_params(cfg: TossConfig, n_rows: int, pos_rate: float) -> dict[str, Any]:
    """BASE_PARAMS and the tier the data support (data_params), then cfg.gbdt.params; seed, determinism
    and threads come from the config."""
    params = {
        **BASE_PARAMS,
        **data_params(n_rows, pos_rate),
        "seed": cfg.seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": cpu_threads(cfg),
    }
    params.update(cfg.gbdt.params)
    return params
