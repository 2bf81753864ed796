"""Config sections of the steps around the models: folds, calibration, logging, the fold ensemble,
co-visitation features, and the tree families (LightGBM, CatBoost)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from toss_core.config.base import Strict


class CVConfig(Strict):
    n_splits: int = Field(
        5,
        ge=2,
        description="folds: one model per fold and family, each validated on its fold and trained on "
        "(n_splits - 1) / n_splits of the rows; cost grows with n_splits (BENCHMARKS.md, issue 20 item 2)",
    )
    group_key: str | None = Field(
        None, description="column whose rows always share a fold (group k-fold); null = no grouping"
    )
    stratify_target: bool = Field(
        True,
        description="keep every fold's click rate; false = a seeded random split. With groups: balance "
        "positives across folds, else only sizes",
    )
    time_key: str | None = Field(
        None,
        description="column that orders rows in time: folds are contiguous time blocks (blocked CV); "
        "excludes group_key and composite_group",
    )
    composite_group: list[str] | None = Field(
        None, description="several columns hashed into one group key, then as group_key"
    )
    refit: Literal["none", "full"] = Field(
        "none",
        description="none: the test set is predicted by the fold models, combined (ensemble.method); full: "
        "each family is also trained once on every training row, for the epochs / boosting rounds its "
        "folds selected (their mean), and that model predicts the test set; the calibrator and the "
        "family weights still come from the OOF logits",
    )
    order_key: str | None = Field(
        None,
        description="column that orders train rows in time when the test rows come later: the last fold "
        "holds the latest 1/n_splits of rows, the other folds are dealt from the rest as usual, and the "
        "stacker and calibrators learn on the last fold's OOF only; excludes time_key and group keys",
    )
    order_group: str | None = Field(
        None,
        description="with order_key or time_key: time runs within each value of this column (e.g. the "
        "user, when the test holds each user's latest rows), so each group's latest rows form the last fold",
    )


class CalibrationConfig(Strict):
    enabled: bool = Field(
        True,
        description="fit sigmoid(a * logit + b) on the OOF logits against the class-balanced log loss and "
        "apply it to the test logits (also when the family blend weights are searched); false = raw "
        "logits, calibrated to the ~2% click rate where the class-balanced WLL is poor by construction",
    )
    iters: int = Field(50, ge=1, description="most Newton iterations (the convex fit needs about 10)")


class LoggingConfig(Strict):
    log_dir: str = Field(
        "runs",
        description="root of every run's outputs (folds, checkpoints, OOF, submission, logs): "
        "log_dir/exp_name",
    )
    tb: bool = Field(False, description="write TensorBoard events to log_dir/exp_name/tb/fold_K")
    csv_log: bool = Field(True, description="write log_dir/exp_name/train_log_fold_K.csv")
    verbose_steps: int = Field(
        50,
        ge=1,
        description="a progress line and a log row every this many optimiser steps of the network "
        "(LightGBM logs iterations/s and its ETA every few seconds instead)",
    )


class EnsembleConfig(Strict):
    method: Literal["logit_mean", "mean", "geom_mean", "median", "trim_mean", "rank_avg", "weighted"] = Field(
        "logit_mean",
        description="how one family's fold predictions of the test rows are combined "
        "(toss_core/post/combine.py defines each)",
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
        description="weighted without weights: w ~ exp(calibrated fold Score / T); a small T favours the "
        "best fold, a large one tends to equal weights",
    )


class CovisConfig(Strict):
    enabled: bool = Field(
        True,
        description="build the features of `stats` after the caches and folds (runs/<exp>/covis) and feed "
        "them to both families",
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
        ],
        description="features to compute: sequence statistics (toss_core/features/seqstats.py), target_rate "
        "(per target_fields), id_rate (per id_fields); without a sequence only id_rate applies",
    )
    target_fields: list[str] = Field(
        default_factory=lambda: ["inventory_id", "l_feat_14"],
        description="ad fields crossed with recent tokens for out-of-fold click rates",
    )
    target_smoothing: float = Field(
        20.0, ge=0, description="pseudo-rows of the fold's click rate mixed into target_rate and id_rate"
    )
    id_fields: list[str] = Field(
        default_factory=lambda: ["l_feat_14", "l_feat_12", "l_feat_11"],
        description="high-cardinality id columns (cat columns): their out-of-fold, smoothed click rates are "
        "features when stats lists id_rate, and the network does not embed them unless "
        "model.embed_id_fields",
    )


class FeaturesConfig(Strict):
    covis: CovisConfig = Field(
        CovisConfig(), description="co-visitation, sequence statistics and out-of-fold click-rate features"
    )


class GBDTConfig(Strict):
    """The LightGBM family (`gbdt` in `families`)."""

    params: dict[str, Any] = Field(
        default_factory=dict,
        description="LightGBM parameters over the defaults of toss_core/gbdt/params.py, which depend on "
        "the minority-class rows a fold trains on (seed and threads come from seed and train.num_threads "
        "unless given here)",
    )
    num_boost_round: int = Field(
        2000,
        ge=1,
        description="most boosting rounds per fold (early stopping usually ends sooner; MovieLens-100k "
        "still improved at 500)",
    )
    early_stopping_rounds: int = Field(
        50, ge=1, description="stop after this many rounds without a better validation log loss"
    )
    id_encoding: Literal["auto", "native", "target", "frequency"] = Field(
        "auto",
        description="id columns as: native LightGBM categoricals, their training-fold frequency, "
        "(target) frequency + smoothed click rate out of fold by inner folds, or auto: target for ids "
        "below native_min_events, the others native or target as a trial on the validation rows placed "
        "like the test (the latest fold under cv.order_key / time_key, else fold 0) decides",
    )
    native_min_events: float = Field(
        1.0,
        gt=0,
        description="id_encoding auto: an id column whose values average fewer minority-class (for CTR: "
        "clicked) training rows than this is target-encoded without a trial",
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
        description="CatBoost parameters over toss's (toss_core/catboost/params.py), e.g. l2_leaf_reg; "
        "random_seed, thread_count and task_type come from seed, train.num_threads and device unless given",
    )
