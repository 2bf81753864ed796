"""One strict, typed configuration for every step of the pipeline.

Every section and key has a default in code and a description (docs/config.md and `toss config
--explain` are rendered from them by toss_core.config_doc), so a YAML file only states what differs.
Unknown keys are errors that name the key, the file and the nearest valid key: a misspelled `top_k` must
never silently fall back to a default and waste a night of GPU time. A key that was removed
(REMOVED_KEYS) fails with the reason instead, and values are strict: a YAML `true` is not an integer.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from toss_core.util.errors import TossError


class ConfigError(TossError, ValueError):
    """A configuration that cannot be used; the message names the file and the key."""


# Keys the schema once accepted, with why they are gone: an old YAML file that still sets one fails with
# this reason rather than with the generic unknown-key error (or, worse, being silently ignored).
REMOVED_KEYS: dict[str, str] = {
    "data.chunked_build": "the cache is always built in streamed chunks of data.shard_rows rows",
    "data.hash_buckets_margin": "it never had an effect: a cat column gets exactly data.hash_buckets ids",
    "data.manifest_train": "the train cache is always data.cache_dir/train/manifest.json "
    "(set data.cache_dir to move it)",
    "data.manifest_test": "the test cache is always data.cache_dir/test/manifest.json "
    "(set data.cache_dir to move it)",
    "sequence.pad_id": "padding is always id 0 (the cache stores token t as id t + 1)",
    "calibration.method": "temperature scaling is the only calibrator "
    "(calibration.enabled: false turns it off)",
}


class _YamlLoader(yaml.SafeLoader):
    """SafeLoader that also reads `1e-3` as a float: PyYAML follows YAML 1.1, where a float needs a dot,
    and the strict schema would otherwise reject the string '1e-3' for a float key."""


_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$"), list("-+0123456789")
)


class _Strict(BaseModel):
    # strict: a YAML `true` is not the integer 1, `3.0` is not an int and "3" is not a number (ints are
    # still accepted for floats); nothing is coerced, so what the file says is what runs
    model_config = ConfigDict(extra="forbid", validate_assignment=True, strict=True)


class SyntheticConfig(_Strict):
    train_rows: int = Field(20_000, gt=0, description="rows of the generated train.parquet")
    test_rows: int = Field(
        5_000, gt=0, description="rows of the generated test.parquet (and of test_truth.parquet, its labels)"
    )
    seed: int = Field(0, description="generator seed: the planted truth and every row follow from it")
    chunk_rows: int = Field(
        200_000,
        gt=0,
        description="rows generated and written per Parquet row group: bounds memory, never changes the rows",
    )
    seq_len_scale: float = Field(1.0, gt=0, description="scales the median seq length (1.0 = Toss-like 450)")


class DataConfig(_Strict):
    source: Literal["parquet", "synthetic"] = Field(
        "synthetic",
        description="synthetic: generate Toss-schema data with a planted truth at train_path/test_path "
        "(reused while data.synthetic is unchanged); parquet: read your own files there",
    )
    synthetic: SyntheticConfig = Field(
        SyntheticConfig(), description="sizes of the built-in Toss-schema generator (data.source = synthetic)"
    )
    train_path: str = Field(
        "data/synthetic/train.parquet",
        description="training Parquet (relative paths resolve against the working directory or $TOSS_ROOT); "
        "with source = synthetic the generator writes train.parquet, test.parquet and test_truth.parquet "
        "into this file's folder",
    )
    test_path: str = Field(
        "data/synthetic/test.parquet",
        description="test Parquet to predict; with source = synthetic it must be test.parquet beside "
        "train_path",
    )
    label_col: str = Field("clicked", description="0/1 click label column of the training file")
    id_col: str = Field("ID", description="row id column of the test file, written as submission.csv's ID")
    cache_dir: str = Field(
        "cache/synthetic",
        description="folder of the NPY shard caches: train/ and test/ beneath it, each with its "
        "manifest.json",
    )
    use_cache: bool = Field(
        True,
        description="reuse a cache whose fingerprint (input file + shaping keys) matches; false = rebuild",
    )
    shard_rows: int = Field(
        250_000,
        gt=0,
        description="rows per cache shard, read from Parquet as one batch: peak memory follows it, not the "
        "file size",
    )
    add_isna_mask: bool = Field(
        True,
        description="store a 0/1 null mask for every numeric column with nulls in train: the network's "
        "null-mask field and LightGBM's isna columns (nulls come in informative blocks)",
    )
    impute_strategy: Literal["mean", "median", "zero"] = Field(
        "median",
        description="value that replaces a null numeric, fitted on train (median: exact, streamed; robust to "
        "the heavy tails of the Toss counters)",
    )
    cat_cols: list[str] = Field(
        default_factory=lambda: [
            "gender",
            "age_group",
            "inventory_id",
            "day_of_week",
            "hour",
            "l_feat_14",
            "l_feat_12",
            "l_feat_11",
        ],
        description="categorical columns: integer ids per value (vocabulary or hash, see hash_buckets), "
        "embedded by the network, native or id-encoded in LightGBM",
    )
    num_cols_explicit: list[str] | None = Field(
        None, description="numeric columns by name; null = every column that matches num_patterns"
    )
    num_patterns: list[str] = Field(
        default_factory=lambda: [
            "^l_feat_",
            "^feat_[a-e]_",
            "^history_[ab]_",
        ],
        description="regexes (searched) that pick the numeric columns, skipping the cat, label, id and "
        "sequence columns; used when num_cols_explicit is null",
    )
    hash_buckets: int | dict[str, int] = Field(
        100_000,
        description="id budget per cat column (or {column: n}, unlisted columns 100000): a column with fewer "
        "distinct train values gets a collision-free vocabulary, a larger one is hashed into n ids; id 0 is "
        "null/unseen",
    )
    verify: Literal["quick", "full"] = Field(
        "quick",
        description="checks on a reused cache: quick = every shard's size and .npy header; full = also "
        "its crc32 (reads every byte). A shard that fails is named in a warning and the cache rebuilt",
    )


class TfmConfig(_Strict):
    n_layers: int = Field(1, ge=1, description="Transformer encoder layers over the retrieved tokens")
    n_heads: int = Field(2, ge=1, description="attention heads; must divide model.emb_dim")
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="dropout inside the encoder layers")
    ffn_hidden: int = Field(64, gt=0, description="hidden width of each layer's feed-forward block")


class SequenceConfig(_Strict):
    col: str | None = Field(
        "seq",
        description="column of comma-separated integer tokens (the behaviour history, oldest first); "
        "null = no sequence: no DARE fields and no sequence features",
    )
    max_len: int = Field(
        256,
        gt=0,
        description="most recent tokens kept per row in the cache (older ones are dropped; the original "
        "length survives as seq_len_raw)",
    )
    max_token: int = Field(
        1_000_000,
        ge=0,
        description="largest sequence token kept in train; larger ones (and test tokens above the "
        "largest train token) become one out-of-vocabulary id, counted in the manifest, so one stray "
        "token never sizes the embedding tables",
    )
    top_k: int = Field(
        32, description="tokens DARE retrieves per row: the highest relevance + recency scores (positive)"
    )
    recency_tau: float = Field(
        64.0,
        gt=0,
        description="age scale of DARE's recency term, in positions: score -= beta * age / recency_tau "
        "(beta learned)",
    )
    query_mode: Literal["S1", "S2", "concat"] = Field(
        "concat",
        description="DARE's query: S1 from the target side (query_key columns), S2 from the recent context "
        "(recent_k), concat a Linear of both",
    )
    query_key: list[str] = Field(
        default_factory=lambda: ["inventory_id"],
        description="cat columns that build DARE's target field and S1 query; each must be embedded (or in "
        "query_same_vocab)",
    )
    query_same_vocab: list[str] = Field(
        default_factory=list,
        description="query_key columns whose values are tokens of the sequence vocabulary; their query "
        "uses the token's attention embedding (DARE paper)",
    )
    recent_k: int = Field(8, gt=0, description="recent tokens averaged into the S2 (context) query")
    attn_dim: int | None = Field(None, description="attention-embedding width; null = model.emb_dim")
    full_softmax: bool = Field(False, description="ablation: softmax over all tokens instead of top-k")
    transformer_block: bool = Field(
        False,
        description="pass the retrieved tokens through a small pre-norm Transformer encoder (sequence.tfm) "
        "before pooling them with the same attention weights",
    )
    tfm: TfmConfig = Field(
        TfmConfig(),
        description="the Transformer block over the retrieved tokens (sequence.transformer_block)",
    )

    @field_validator("top_k")
    @classmethod
    def _top_k_positive(cls, v: int) -> int:
        if v <= 0:
            raise ValueError(f"top_k must be a positive number of retrieved tokens, got {v}")
        return v


class QNNAlphaConfig(_Strict):
    enabled: bool = Field(True, description="false = the MLP head even when model.head is qnn_alpha")
    feature_embed_dim: int = Field(
        16,
        gt=0,
        description="width of every field the head sees (embeddings, DARE, numeric and dense fields are "
        "projected to it), whatever the head",
    )
    n_layers: int = Field(
        2, ge=1, description="stacked quadratic layers (the DCN-v2 benchmark head: cross layers)"
    )
    heads: int = Field(
        2,
        ge=1,
        description="heads per quadratic layer; must divide the field width (proj_dim or feature_embed_dim)",
    )
    rank: int = Field(
        2, ge=1, description="quadratic terms summed per coordinate; each layer has rank x D^2 weights"
    )
    proj_dim: int | None = Field(
        None,
        description="per-field projection width before the quadratic layers; null = feature_embed_dim "
        "(smaller cuts the layers' weights, which grow with the square of the total width)",
    )
    mlp_hidden: list[int] = Field(
        default_factory=lambda: [128],
        description="hidden widths of the MLP that maps the last layer to the logit (also the MLP head's "
        "and DCN-v2's deep tower)",
    )
    dropout: float = Field(
        0.1, ge=0.0, lt=1.0, description="dropout in the quadratic layers and the MLP (all heads)"
    )
    use_se: bool = Field(
        False, description="squeeze-excitation re-weighting of the fields before the quadratic layers"
    )
    se_reduction: int = Field(
        4, ge=1, description="squeeze-excitation bottleneck: fields // se_reduction hidden units"
    )
    use_residual: bool = Field(True, description="add each quadratic layer's input to its output")
    norm: Literal["none", "batch", "layer"] = Field(
        "layer", description="normalisation after each quadratic layer (layer: independent of the batch)"
    )
    pair_grouping: Literal["none", "field"] = Field(
        "none",
        description="none: each quadratic head pairs its coordinates with the whole input; field: the fields "
        "are cut into `heads` contiguous groups and each head pairs only within its group (block-diagonal)",
    )
    aux_head_weight: float = Field(
        0.1, ge=0.0, description="weight of the self-ensemble consistency terms (two dropout passes)"
    )


class ModelConfig(_Strict):
    emb_dim: int = Field(
        16,
        gt=0,
        description="embedding width of the cat columns (unless cat_embedding_dims) and of DARE's token "
        "representations",
    )
    dare_dropout: float = Field(
        0.0, ge=0.0, lt=1.0, description="dropout on the representation embeddings of the retrieved tokens"
    )
    cat_embedding_dims: dict[str, int] = Field(
        default_factory=dict,
        description="{column: width} for embedded cat columns that should not use emb_dim (e.g. wide ids)",
    )
    head: Literal["qnn_alpha", "mlp"] = Field(
        "qnn_alpha", description="what turns the fields into a logit: QNN-α (model.qnn_alpha) or a plain MLP"
    )
    embed_id_fields: bool = Field(
        False,
        description="whether the network embeds the id columns named by features.covis.id_fields; false: "
        "they reach it only as their out-of-fold click rates (the id_rate stat). An id embedding is "
        "memorised within one epoch and stops training before anything else is learned (BENCHMARKS.md)",
    )
    id_min_count: int = Field(
        1,
        ge=1,
        description="a categorical value seen in fewer training rows of the fold shares its column's unknown "
        "embedding row (id 0), so the network cannot memorise ids it has almost no evidence for; 1 = every "
        "value seen in training gets its own row",
    )
    emb_l2: float = Field(
        0.0,
        ge=0.0,
        description="L2 penalty on the categorical embedding rows a batch uses (sum of squares per row, "
        "averaged over the batch, times emb_l2): shrinks rarely seen ids without touching the others, as "
        "FuxiCTR's embedding_regularizer; 0 = off",
    )
    emb_dropout: float = Field(
        0.0, ge=0.0, lt=1.0, description="dropout on the categorical embedding fields during training"
    )
    numeric_fields: Literal["grouped", "binned", "per_column"] = Field(
        "grouped",
        description="grouped: one field per numeric column family (the name without its trailing _<digits>: "
        "l_feat_3 -> l_feat; a name without such a suffix is its own family), a Linear over the family's "
        "signed-log values, and ONE field for all co-visitation features; binned: the same fields, plus a "
        "piecewise-linear encoding of each column's quantile bins (model.numeric_bins, fitted on the fold's "
        "training rows) summed into its family's field; per_column: one field per numeric and per "
        "co-visitation column (the QNN-α width grows with the column count)",
    )
    numeric_bins: int = Field(
        16,
        ge=3,
        description="quantile bins per numeric column when numeric_fields = binned (bin edges are fitted "
        "on up to 100k training rows of the fold and saved in the checkpoint)",
    )
    qnn_alpha: QNNAlphaConfig = Field(
        QNNAlphaConfig(),
        description="the QNN-α head; feature_embed_dim, mlp_hidden and dropout also size the MLP head",
    )


class TrainConfig(_Strict):
    batch_size: int = Field(
        1024,
        gt=0,
        description="training rows per optimiser step (balanced sampler: round(pos_fraction x batch_size) "
        "of them positive)",
    )
    eval_batch_size: int = Field(
        8192,
        gt=0,
        description="rows per forward pass when predicting validation and test rows: memory and speed only",
    )
    epochs: int = Field(
        3, ge=1, description="most passes over the training rows; also the length of the cosine schedule"
    )
    lr: float = Field(2e-3, gt=0, description="peak AdamW learning rate, reached after the warm-up")
    weight_decay: float = Field(1e-5, ge=0, description="AdamW decoupled weight decay")
    warmup_epochs: float = Field(
        0.2,
        ge=0,
        description="linear warm-up length in (fractional) epochs, then a cosine decay to 1% of lr",
    )
    grad_clip_norm: float | None = Field(
        1.0, ge=0, description="clip the global gradient L2 norm to this; null or 0 = no clipping"
    )
    early_stop_patience: int = Field(
        2, ge=1, description="stop a fold after this many epochs without a better select_metric"
    )
    select_metric: Literal["Score_cal", "Score"] = Field(
        "Score_cal",
        description="validation metric for early stopping and the best epoch: Score_cal (after the "
        "temperature calibration the ensemble applies) or Score (after the prior shift only, which penalises "
        "a confident but well-ranking epoch the calibrator would fix)",
    )
    num_threads: int | None = Field(
        None,
        ge=1,
        description="CPU threads: torch (null = every core but one, the spare one "
        "prefetches batches) and LightGBM (null = every core)",
    )


class CVConfig(_Strict):
    n_splits: int = Field(
        3, ge=2, description="folds: one model per fold and family, each validated on its fold"
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


class CalibrationConfig(_Strict):
    enabled: bool = Field(
        True,
        description="fit sigmoid(a * logit + b) on the OOF logits against the class-balanced log loss and "
        "apply it to the test logits (also when the family blend weights are searched); false = raw "
        "logits, calibrated to the ~2% click rate where the class-balanced WLL is poor by construction",
    )
    lr: float = Field(
        1.0,
        gt=0,
        le=1.0,
        description="first trial length of each Newton step (1 = the full step), halved until the loss drops",
    )
    iters: int = Field(50, ge=1, description="most Newton iterations (the convex fit needs about 10)")


class LoggingConfig(_Strict):
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


class EnsembleConfig(_Strict):
    method: Literal["logit_mean", "mean", "geom_mean", "median", "trim_mean", "rank_avg", "weighted"] = Field(
        "logit_mean",
        description="how one family's fold predictions of the test rows are combined (toss_core/ensemble.py "
        "defines each)",
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


class SamplerConfig(_Strict):
    type: Literal["none", "balanced"] = Field(
        "none",
        description="none: a plain shuffle per epoch; balanced: a fixed share of positives in every batch, "
        "its prior shift undone by the checkpoint's logit_offset",
    )
    pos_fraction: float = Field(
        0.1,
        gt=0.0,
        lt=1.0,
        description="balanced: share of positives per batch (an epoch is one pass over the negatives)",
    )


class EMAConfig(_Strict):
    enabled: bool = Field(True, description="keep an exponential moving average of the network weights")
    decay: float = Field(
        0.999,
        gt=0.0,
        lt=1.0,
        description="EMA decay per optimiser step, warmed up as min(decay, (1 + n) / (10 + n)) after n steps",
    )
    eval_with_ema: bool = Field(
        True, description="validate, select the best epoch and predict with the EMA weights"
    )


class CovisConfig(_Strict):
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


class FeaturesConfig(_Strict):
    covis: CovisConfig = Field(
        CovisConfig(), description="co-visitation, sequence statistics and out-of-fold click-rate features"
    )


class GBDTConfig(_Strict):
    enabled: bool = Field(
        False, description="train the LightGBM family beside the network; the ensemble blends both"
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="LightGBM parameters over the defaults of toss_core/gbdt/train.py (seed and threads "
        "come from seed and train.num_threads unless given here)",
    )
    num_boost_round: int = Field(500, ge=1, description="most boosting rounds per fold")
    early_stopping_rounds: int = Field(
        50, ge=1, description="stop after this many rounds without a better validation log loss"
    )
    id_encoding: Literal["auto", "native", "target", "frequency"] = Field(
        "auto",
        description="id columns as: native LightGBM categoricals, their training-fold frequency, "
        "(target) frequency + smoothed click rate out of fold by inner folds, or auto: per column by "
        "evidence, native when its values average native_min_events minority-class training rows, "
        "target otherwise",
    )
    native_min_events: float = Field(
        5.0,
        gt=0,
        description="id_encoding auto: minority-class (for CTR: clicked) training rows per value, on "
        "average, from which an id column is left to LightGBM's native categorical splits",
    )
    id_cols: list[str] | None = Field(
        None, description="cat columns treated as ids by id_encoding; null = cardinality > id_min_cardinality"
    )
    id_min_cardinality: int = Field(200, ge=1, description="cat columns with more ids than this are ids")
    te_smoothing: float = Field(50.0, ge=0, description="target encoding: prior weight in pseudo-rows")
    te_inner_folds: int = Field(5, ge=2, description="target encoding: inner folds over the training rows")


class ParamRange(_Strict):
    """One searched parameter: a numeric range {low, high, log} or a list of {choices}."""

    low: int | float | None = Field(None, description="smallest value tried (with high)")
    high: int | float | None = Field(None, description="largest value tried (with low)")
    log: bool = Field(False, description="sample on a log scale (low must be > 0)")
    choices: list[Any] | None = Field(None, description="the values tried, instead of low/high")

    @model_validator(mode="after")
    def _one_kind(self) -> ParamRange:
        if self.choices is not None:
            if self.low is not None or self.high is not None or not self.choices:
                raise ValueError("give either a non-empty list of choices or low and high, not both")
            return self
        if self.low is None or self.high is None:
            raise ValueError("give low and high (or choices)")
        if self.low >= self.high:
            raise ValueError(f"empty range: low {self.low} must be below high {self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"log scale needs low > 0, got {self.low}")
        return self


def _gbdt_space() -> dict[str, ParamRange]:
    # Around the LightGBM defaults (toss_core/gbdt/params.py) and LightGBM's own ordinary settings (31
    # leaves, 20 rows per leaf, little smoothing), which did better on a public CTR set (issue 12).
    return {
        "gbdt.params.learning_rate": ParamRange(low=0.01, high=0.2, log=True),
        "gbdt.params.num_leaves": ParamRange(low=7, high=255, log=True),
        "gbdt.params.min_data_in_leaf": ParamRange(low=10, high=1000, log=True),
        "gbdt.params.feature_fraction": ParamRange(low=0.2, high=1.0),
        "gbdt.params.bagging_fraction": ParamRange(low=0.5, high=1.0),
        "gbdt.params.lambda_l2": ParamRange(low=1e-3, high=100.0, log=True),
        "gbdt.params.cat_smooth": ParamRange(low=1.0, high=100.0, log=True),
        "gbdt.params.min_data_per_group": ParamRange(low=10, high=500, log=True),
        "gbdt.id_encoding": ParamRange(choices=["auto", "native", "target", "frequency"]),
    }


def _nn_space() -> dict[str, ParamRange]:
    # Around the network defaults (train.lr 2e-3, emb_dim 16, dropout 0.1, 3 epochs): the network peaked
    # at its first epoch on the real sets tried, so epochs and the regularisers are searched too.
    return {
        "train.lr": ParamRange(low=3e-4, high=1e-2, log=True),
        "train.weight_decay": ParamRange(low=1e-7, high=1e-3, log=True),
        "train.batch_size": ParamRange(choices=[512, 1024, 2048]),
        "model.emb_dim": ParamRange(choices=[8, 16, 32]),
        "model.qnn_alpha.dropout": ParamRange(low=0.0, high=0.3),
        "train.epochs": ParamRange(low=1, high=5),
    }


class TuneSpace(_Strict):
    """Per family, config key path → range. A family's mapping replaces its default as a whole."""

    gbdt: dict[str, ParamRange] = Field(
        default_factory=_gbdt_space,
        description="LightGBM: learning_rate, num_leaves, min_data_in_leaf, feature_fraction, "
        "bagging_fraction, lambda_l2 (log 1e-3..100), cat_smooth, min_data_per_group, gbdt.id_encoding; "
        "keys under gbdt.* only",
    )
    nn: dict[str, ParamRange] = Field(
        default_factory=_nn_space,
        description="network: train.lr (log 3e-4..1e-2), train.weight_decay, train.batch_size, "
        "model.emb_dim, model.qnn_alpha.dropout, train.epochs; keys under model, sequence, train, sampler, "
        "ema only",
    )


class TuneConfig(_Strict):
    """Hyperparameter search (Optuna) per model family; `toss tune` and the tuned_params asset."""

    enabled: bool = Field(
        False,
        description="tune before training: the pipeline runs the study and the fold models train with "
        "runs/<exp_name>/tuned/<family>.json on top of the config (false: the graph is as without tuning)",
    )
    families: list[Literal["nn", "gbdt"]] = Field(
        default_factory=lambda: ["nn", "gbdt"],
        description="families searched (those also enabled: gbdt only with gbdt.enabled)",
    )
    n_trials: int = Field(20, ge=1, description="trials each `toss tune` process adds to the study")
    timeout_s: float | None = Field(
        None, gt=0, description="stop starting new trials after this many seconds (None = no limit)"
    )
    folds: list[int] = Field(
        default_factory=lambda: [0],
        description="folds a trial trains and is scored on (the mean of their calibrated Score_cal)",
    )
    sampler: Literal["tpe", "random"] = Field("tpe", description="Optuna sampler")
    seed: int | None = Field(
        None,
        description="sampler seed; None = the config seed plus the trials the study already holds (a "
        "resumed study does not repeat its start-up points). Give each concurrent worker its own",
    )
    pruner: Literal["median", "hyperband", "none"] = Field(
        "median", description="stops network trials whose per-epoch Score_cal trails the others"
    )
    storage: str | None = Field(
        None,
        description="SQLAlchemy URL of the study database, shared by every worker (e.g. "
        "postgresql://user@host/db); None = sqlite under runs/<exp_name>/tuned/study.db",
    )
    study_name: str | None = Field(
        None,
        description="None = <exp_name>-<family>-<fingerprint of data, folds, space and fixed config>, so "
        "a changed input starts a new study and an unchanged one continues",
    )
    space: TuneSpace = Field(TuneSpace(), description="the searched parameters, per family")

    @field_validator("storage")
    @classmethod
    def _storage_url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        try:
            make_url(v).get_dialect()
        except (ArgumentError, NoSuchModuleError, ValueError) as exc:
            raise ValueError(
                f"not a usable SQLAlchemy URL ({exc}); e.g. sqlite:///runs/x/study.db or postgresql://u@h/db"
            ) from None
        return v


_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class TossConfig(_Strict):
    exp_name: str = Field(
        "default",
        description="run name: a plain name (letters, digits, -_.), the directory under logging.log_dir",
    )
    seed: int = Field(
        42,
        description="seeds the folds, network initialisation (seed + fold), batch order, LightGBM and its "
        "target-encoding folds",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="where the network trains and predicts; auto = cuda when torch sees one"
    )
    deterministic: bool = Field(
        False, description="deterministic torch kernels (slower on CUDA); an op without one warns"
    )
    amp: bool = Field(
        True,
        description="mixed precision on CUDA (bf16 where supported, else fp16 with loss scaling); CPU: fp32",
    )
    use_compile: bool = Field(False, description="torch.compile the network for training (pays off on CUDA)")
    data: DataConfig = Field(
        DataConfig(), description="where the data come from, their column roles, and the NPY shard cache"
    )
    sequence: SequenceConfig = Field(
        SequenceConfig(), description="the behaviour sequence and DARE, the encoder that reads it"
    )
    model: ModelConfig = Field(ModelConfig(), description="the network: embeddings, numeric fields, head")
    train: TrainConfig = Field(TrainConfig(), description="optimisation of the neural folds")
    cv: CVConfig = Field(
        CVConfig(),
        description="how training rows are split into folds; first match: time_key, composite_group, "
        "group_key, stratified, random",
    )
    calibration: CalibrationConfig = Field(
        CalibrationConfig(), description="temperature scaling fitted on the OOF logits, applied to the test"
    )
    logging: LoggingConfig = Field(LoggingConfig(), description="where run outputs go and what is logged")
    ensemble: EnsembleConfig = Field(
        EnsembleConfig(), description="how one family's fold models are combined"
    )
    sampler: SamplerConfig = Field(SamplerConfig(), description="which training rows make up each batch")
    ema: EMAConfig = Field(EMAConfig(), description="moving average of the network weights")
    features: FeaturesConfig = Field(
        FeaturesConfig(), description="features computed after the caches and folds, for both families"
    )
    gbdt: GBDTConfig = Field(GBDTConfig(), description="the LightGBM family, on the same folds and features")
    tune: TuneConfig = Field(TuneConfig(), description="hyperparameter search per family (Optuna)")

    @property
    def network_id_columns_skipped(self) -> list[str]:
        """Id columns the network leaves to their out-of-fold click rates instead of embedding them."""
        return [] if self.model.embed_id_fields else list(self.features.covis.id_fields)

    @field_validator("exp_name")
    @classmethod
    def _plain_exp_name(cls, v: str) -> str:
        if not _PLAIN_NAME.fullmatch(v):
            raise ValueError(
                f"exp_name must be a plain name of letters, digits, '-', '_' and '.' (no '/', not empty), "
                f"got {v!r}"
            )
        return v

    @model_validator(mode="after")
    def _column_defaults_fit_schema(self) -> TossConfig:
        """Defaults that name Toss columns keep only the columns this config has (empty on other data);
        a list the user gave must name configured columns."""
        cats = set(self.data.cat_cols)
        lists = {
            "features.covis.target_fields": (self.features.covis, "target_fields", cats),
            "features.covis.id_fields": (self.features.covis, "id_fields", cats),
            "sequence.query_key": (self.sequence, "query_key", cats | set(self.sequence.query_same_vocab)),
        }
        for key, (section, name, known) in lists.items():
            values = getattr(section, name)
            if name not in section.model_fields_set:
                if any(v not in known for v in values):
                    setattr(section, name, [v for v in values if v in known])
                continue
            unknown = [v for v in values if v not in known]
            if unknown:
                raise ValueError(
                    f"{key} names {unknown}, which are not configured columns (data.cat_cols: {sorted(cats)})"
                )
        return self

    @model_validator(mode="after")
    def _cross_checks(self) -> TossConfig:
        q = self.model.qnn_alpha
        width = q.proj_dim or q.feature_embed_dim
        if width % q.heads != 0:
            raise ValueError(
                f"model.qnn_alpha.heads={q.heads} must divide the field width "
                f"(proj_dim or feature_embed_dim = {width})"
            )
        if self.sequence.transformer_block and self.model.emb_dim % self.sequence.tfm.n_heads != 0:
            raise ValueError(
                f"sequence.tfm.n_heads={self.sequence.tfm.n_heads} must divide "
                f"model.emb_dim={self.model.emb_dim}"
            )
        unknown = set(self.sequence.query_same_vocab) - set(self.sequence.query_key)
        if unknown:
            raise ValueError(f"sequence.query_same_vocab names {sorted(unknown)} which are not in query_key")
        unembedded = [c for c in self.sequence.query_key if c in self.network_id_columns_skipped]
        if unembedded:
            raise ValueError(
                f"sequence.query_key names {unembedded}, which the network does not embed "
                "(features.covis.id_fields with model.embed_id_fields=false): drop them from the query "
                "or set model.embed_id_fields=true"
            )
        weights = self.ensemble.weights
        if self.ensemble.method == "weighted" and weights is not None and len(weights) != self.cv.n_splits:
            raise ValueError(f"ensemble.weights has {len(weights)} entries, cv.n_splits={self.cv.n_splits}")
        return self

    @model_validator(mode="after")
    def _tune_checks(self) -> TossConfig:
        bad = [k for k in self.tune.folds if not 0 <= k < self.cv.n_splits]
        if bad:
            raise ValueError(f"tune.folds {bad} outside 0..{self.cv.n_splits - 1} (cv.n_splits)")
        for family in ("gbdt", "nn"):
            for key, spec in getattr(self.tune.space, family).items():
                _check_tuned_key(self, family, key, spec)
        return self

    def section_fingerprint(self, *sections: str) -> str:
        """Short stable hash of the named sections or keys (dotted paths), so caches and resume states
        know which settings shaped them."""
        payload = {name: _dump_path(self, name) for name in sections}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


# Config sections a family's search may change: never data, cv, features or paths, which shape the caches,
# folds and co-visitation features every trial shares.
TUNABLE_SECTIONS = {"gbdt": ("gbdt",), "nn": ("model", "sequence", "train", "sampler", "ema")}


def schema_leaf(key: str) -> Any:
    """The type annotation of the config key `key` (a dotted path); None for an entry of a free mapping
    such as gbdt.params.<name>. ValueError when the path names no key or names a whole section."""
    node: type[BaseModel] = TossConfig
    parts = key.split(".")
    for i, part in enumerate(parts):
        field = node.model_fields.get(part)
        if field is None:
            hint = _nearest_key(key)
            raise ValueError(f"'{key}' is not a config key" + (f" (did you mean '{hint}'?)" if hint else ""))
        ann, rest = field.annotation, parts[i + 1 :]
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            node = ann
            continue
        if get_origin(ann) is dict:
            if len(rest) != 1:
                raise ValueError(f"'{key}': {'.'.join(parts[: i + 1])} is a mapping: name one entry of it")
            return None
        if rest:
            raise ValueError(f"'{key}' is not a config key ({'.'.join(parts[: i + 1])} is a value)")
        return ann
    raise ValueError(f"'{key}' names a whole section, not one value")


def is_int_param(key: str, spec: ParamRange) -> bool:
    """Whether a range is searched over integers: the key is an int in the schema, or (a free mapping
    entry) low and high are both written as integers."""
    ann = schema_leaf(key)
    if ann is None:
        return isinstance(spec.low, int) and isinstance(spec.high, int)
    return ann is int or (int in get_args(ann) and float not in get_args(ann))


def _check_tuned_key(cfg: TossConfig, family: str, key: str, spec: ParamRange) -> None:
    """The key exists, belongs to the family and both ends of its range (or every choice) validate."""
    where = f"tune.space.{family}.{key}"
    try:
        schema_leaf(key)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    if key.split(".")[0] not in TUNABLE_SECTIONS[family]:
        raise ValueError(
            f"{where}: only keys under {', '.join(TUNABLE_SECTIONS[family])} are searched for {family} "
            "(other sections shape the caches, folds and features every trial shares)"
        )
    values = spec.choices if spec.choices is not None else [spec.low, spec.high]
    # the probe has an empty search space, so validating it does not probe again
    base = {**cfg.model_dump(mode="json", exclude={"tune"}), "tune": {"space": {"gbdt": {}, "nn": {}}}}
    for value in values:
        raw = apply_overrides(json.loads(json.dumps(base)), [f"{key}={json.dumps(value)}"])
        try:
            TossConfig.model_validate(raw)
        except ValidationError as exc:
            msg = _format_validation_error(exc, "the trial config").split("\n")[0]
            raise ValueError(f"{where}: value {value!r} would make an invalid config ({msg})") from None


def _dump_path(cfg: BaseModel, dotted: str) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        node = getattr(node, part)
    return node.model_dump() if isinstance(node, BaseModel) else node


def _valid_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        keys.append(path)
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            keys.extend(_valid_keys(ann, path + "."))
    return keys


def _nearest_key(bad: str) -> str | None:
    keys = _valid_keys(TossConfig)
    leaf = bad.rsplit(".", 1)[-1]
    matches = difflib.get_close_matches(bad, keys, n=1, cutoff=0.6)
    if not matches:
        by_leaf = {k.rsplit(".", 1)[-1]: k for k in keys}
        leaf_match = difflib.get_close_matches(leaf, list(by_leaf), n=1, cutoff=0.6)
        matches = [by_leaf[leaf_match[0]]] if leaf_match else []
    return matches[0] if matches else None


def _format_validation_error(err: ValidationError, source: str) -> str:
    lines = []
    for item in err.errors():
        key = ".".join(str(p) for p in item["loc"]) or "<root>"
        if item["type"] == "extra_forbidden" and key in REMOVED_KEYS:
            lines.append(f"{key} is no longer supported: {REMOVED_KEYS[key]}; remove it from {source}")
        elif item["type"] == "extra_forbidden":
            hint = _nearest_key(key)
            suffix = f" (did you mean '{hint}'?)" if hint else ""
            lines.append(f"{source}: unknown key '{key}'{suffix}")
        else:
            msg = item["msg"].removeprefix("Value error, ")
            if item["loc"]:
                lines.append(f"{source}: key '{key}': {msg} (got {item.get('input')!r})")
            else:
                lines.append(f"{source}: {msg}")
    return "\n".join(lines)


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse one `a.b.c=value` override; the value is read as YAML so numbers, lists and null work."""
    if "=" not in text:
        raise ConfigError(f"override '{text}' must look like key.path=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"override '{text}' has an empty key")
    return key.split("."), yaml.load(raw, Loader=_YamlLoader) if raw.strip() else ""


def apply_overrides(raw: dict[str, Any], overrides: list[str] | None) -> dict[str, Any]:
    """Apply `--set` overrides to a raw config mapping (before validation, so they are checked too)."""
    for text in overrides or []:
        path, value = parse_override(text)
        node = raw
        for part in path[:-1]:
            child = node.get(part)
            if child is None:
                child = {}
                node[part] = child
            if not isinstance(child, dict):
                raise ConfigError(f"override '{text}': '{part}' is a value, not a section")
            node = child
        node[path[-1]] = value
    return raw


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> TossConfig:
    """Load a YAML config (or the defaults when path is None), apply overrides, validate strictly."""
    source = str(path) if path is not None else "<defaults>"
    raw: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}")
        try:
            loaded = yaml.load(p.read_text(), Loader=_YamlLoader)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{p}: not valid YAML: {exc}") from exc
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{p}: the top level must be a mapping, found {type(loaded).__name__}")
        raw = loaded
    raw = apply_overrides(raw, overrides)
    if overrides:
        source += " (with --set " + ", ".join(overrides) + ")"
    try:
        return TossConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, source)) from None
