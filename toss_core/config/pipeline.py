"""Config sections of the steps around the models: folds, calibration, logging, the fold ensemble,
co-visitation features, and the tree families (LightGBM, CatBoost)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from toss_core.config.base import Strict


class CVConfig(Strict):
    n_splits: int = Field(
        5,
        ge=2,
        description="folds: one model per fold and family, each trained on (n_splits - 1) / n_splits of rows",
    )
    group_key: str | None = Field(
        None, description="column whose rows always share a fold (group k-fold); null = no grouping"
    )
    stratify_target: bool = Field(
        True,
        description="keep every fold's click rate; false = a seeded random split",
    )
    time_key: str | None = Field(
        None,
        description="column that orders rows in time: folds are contiguous time blocks (blocked CV)",
    )
    composite_group: list[str] | None = Field(
        None, description="several columns hashed into one group key, then as group_key"
    )
    refit: Literal["none", "full"] = Field(
        "none",
        description="none: the fold models predict the test set; full: a model on all training rows does",
    )
    order_key: str | None = Field(
        None,
        description="time column when the test is later: the last fold holds the latest rows (null = off)",
    )
    order_group: str | None = Field(
        None,
        description="with order_key or time_key: order time within each value of this column (e.g. user)",
    )


class CalibrationConfig(Strict):
    enabled: bool = Field(
        True,
        description="fit sigmoid(a * logit + b) on the OOF logits and apply it to test; false = raw logits",
    )
    iters: int = Field(50, ge=1, description="most Newton iterations (the convex fit needs about 10)")


class LoggingConfig(Strict):
    tb: bool = Field(False, description="write TensorBoard events to runs_dir/exp_name/tb/fold_K")
    csv_log: bool = Field(True, description="write runs_dir/exp_name/train_log_fold_K.csv")
    verbose_steps: int = Field(
        50,
        ge=1,
        description="a progress line and a log row every this many optimiser steps of the network",
    )


class EnsembleConfig(Strict):
    method: Literal["logit_mean", "mean", "geom_mean", "median", "trim_mean", "rank_avg", "weighted"] = Field(
        "logit_mean",
        description="how one family's fold predictions of the test rows are combined",
    )
    trim_ratio: float = Field(
        0.1, ge=0.0, lt=0.5, description="trim_mean: share of the folds dropped at each end, per row"
    )
    weights: list[float] | None = Field(
        None,
        description="weighted: one weight per fold (cv.n_splits, normalised); null = from the folds' "
        "validation Scores",
    )
    val_weight_temperature: float = Field(
        0.01,
        gt=0,
        description="weighted without weights: w ~ exp(calibrated fold Score / T)",
    )


class CovisConfig(Strict):
    enabled: bool = Field(
        True,
        description="build the features of `stats` after the caches and folds and feed them to both families",
    )
    window: int = Field(5, ge=1, description="pairs of tokens at most this many positions apart")
    top_n: int = Field(20, ge=1, description="neighbours kept per token")
    recency_tau: float = Field(64.0, gt=0, description="pair weight decays with age / recency_tau")
    last_k: int = Field(5, ge=1, description="recent tokens compared against the rest of the sequence")
    weights: Literal["count", "recency"] = Field(
        "recency",
        description="co-visitation pair weight: 1 (count) or exp(-age / recency_tau) (recency)",
    )
    stats: list[str] = Field(
        default_factory=lambda: [
            "covis_sum",
            "covis_max",
            "covis_mean",
            "transition_prob",
            "seq_len",
            "n_unique",
            "entropy",
            "diversity",
            "last_token",
            "target_rate",
            "id_rate",
            "cross_rate",
        ],
        description="sequence statistics, target_rate, id_rate (per id_cols), cross_rate (per cross_cols)",
    )
    target_cols: list[str] = Field(
        default_factory=lambda: ["inventory_id", "l_feat_14"],
        description="ad fields crossed with recent tokens for out-of-fold click rates",
    )
    target_smoothing: float = Field(
        20.0, ge=0, description="pseudo-rows of the fold's click rate mixed into target_rate and id_rate"
    )
    nested_rates: list[str] = Field(
        default_factory=lambda: ["nn"],
        description="families whose fold models read click rates with their own validation fold left out too",
    )
    id_cols: list[str] = Field(
        default_factory=lambda: ["l_feat_14", "l_feat_12", "l_feat_11"],
        description="id columns (cat columns) whose OOF click rates are features (stat id_rate)",
    )
    cross_cols: Literal["auto"] | list[list[str]] = Field(
        "auto",
        description=(
            "column pairs whose joint OOF click rate is a feature; auto: id x cat pairs adding to their rates"
        ),
    )

    @field_validator("nested_rates", mode="before")
    @classmethod
    def _nested_rates_names_families(cls, v: Any) -> Any:
        if isinstance(v, bool):  # the switch of earlier releases
            raise ValueError(
                f"nested_rates is now the list of families that read them, not {str(v).lower()}: "
                "[nn, gbdt, catboost] for every family, [] for none"
            )
        return v


class FeaturesConfig(Strict):
    covis: CovisConfig = Field(
        CovisConfig(), description="co-visitation, sequence statistics and out-of-fold click-rate features"
    )


class GBDTConfig(Strict):
    """The LightGBM family (`gbdt` in `families`)."""

    params: dict[str, Any] = Field(
        default_factory=dict,
        description="LightGBM parameters over the defaults of toss_core/gbdt/params.py",
    )
    num_boost_round: int = Field(
        2000,
        ge=1,
        description="most boosting rounds per fold (early stopping usually ends sooner)",
    )
    early_stopping_rounds: int = Field(
        50, ge=1, description="stop after this many rounds without a better validation log loss"
    )
    id_encoding: Literal["auto", "native", "target", "frequency"] = Field(
        "auto",
        description="id columns to LightGBM as native, frequency, target, or auto (a trial on one fold)",
    )
    native_min_events: float = Field(
        1.0,
        gt=0,
        description="id_encoding auto: below this many minority rows per value an id is target-encoded",
    )
    id_cols: list[str] | None = Field(
        None, description="cat columns treated as ids by id_encoding; null = cardinality > id_min_cardinality"
    )
    id_min_cardinality: int = Field(200, ge=1, description="cat columns with more ids than this are ids")
    te_smoothing: float = Field(50.0, ge=0, description="target encoding: prior weight in pseudo-rows")
    te_inner_folds: int = Field(5, ge=2, description="target encoding: inner folds over the training rows")


class CatBoostConfig(Strict):
    """The CatBoost family (`catboost` in `families`): every categorical, ids included, is a native
    cat_feature; numerics, null masks and co-visitation features are numeric columns."""

    iterations: int = Field(
        3000, ge=1, description="most boosting rounds per fold; early stopping on the fold's validation rows"
    )
    early_stopping_rounds: int = Field(
        100, ge=1, description="stop after this many rounds without a better validation log loss"
    )
    learning_rate: float | None = Field(
        None, gt=0, le=1, description="null = CatBoost's own choice from the rows and iterations"
    )
    depth: int = Field(6, ge=1, le=16, description="depth of the symmetric trees")
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="CatBoost parameters over toss's (toss_core/catboost/params.py), e.g. l2_leaf_reg",
    )
