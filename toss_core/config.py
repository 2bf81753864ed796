"""One strict, typed configuration for every step of the pipeline.

Every section and key has a default in code, so a YAML file only states what differs. Unknown keys are
errors that name the key, the file and the nearest valid key: a misspelled `top_k` must never silently
fall back to a default and waste a night of GPU time.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from toss_core.util.errors import TossError


class ConfigError(TossError, ValueError):
    """A configuration that cannot be used; the message names the file and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SyntheticConfig(_Strict):
    """Sizes of the built-in Toss-schema generator (used when data.source = synthetic)."""

    train_rows: int = Field(20_000, gt=0)
    test_rows: int = Field(5_000, gt=0)
    seed: int = 0
    chunk_rows: int = Field(200_000, gt=0)
    seq_len_scale: float = Field(1.0, gt=0, description="scales the median seq length (1.0 = Toss-like 450)")


class DataConfig(_Strict):
    source: Literal["parquet", "synthetic"] = "synthetic"
    synthetic: SyntheticConfig = SyntheticConfig()
    train_path: str = "data/synthetic/train.parquet"
    test_path: str = "data/synthetic/test.parquet"
    label_col: str = "clicked"
    id_col: str = "ID"
    cache_dir: str = "cache/synthetic"
    use_cache: bool = True
    chunked_build: bool = True
    shard_rows: int = Field(250_000, gt=0)
    add_isna_mask: bool = True
    impute_strategy: Literal["mean", "median", "zero"] = "median"
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
        ]
    )
    num_cols_explicit: list[str] | None = None
    num_patterns: list[str] = Field(
        default_factory=lambda: [
            "^l_feat_",
            "^feat_[a-e]_",
            "^history_[ab]_",
        ]
    )
    hash_buckets: int | dict[str, int] = 100_000
    hash_buckets_margin: float = Field(2.0, ge=1.0)
    manifest_train: str = "train/manifest.json"
    manifest_test: str = "test/manifest.json"


class TfmConfig(_Strict):
    n_layers: int = Field(1, ge=1)
    n_heads: int = Field(2, ge=1)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    ffn_hidden: int = Field(64, gt=0)


class SequenceConfig(_Strict):
    col: str | None = "seq"
    max_len: int = Field(256, gt=0)
    pad_id: int = 0
    top_k: int = 32
    recency_tau: float = Field(64.0, gt=0)
    query_mode: Literal["S1", "S2", "concat"] = "concat"
    query_key: list[str] = Field(default_factory=lambda: ["inventory_id"])
    query_same_vocab: list[str] = Field(
        default_factory=list,
        description="query_key columns whose values are tokens of the sequence vocabulary; their query "
        "uses the token's attention embedding (DARE paper)",
    )
    recent_k: int = Field(8, gt=0, description="recent tokens averaged into the S2 (context) query")
    attn_dim: int | None = Field(None, description="attention-embedding width; None = model.emb_dim")
    full_softmax: bool = Field(False, description="ablation: softmax over all tokens instead of top-k")
    transformer_block: bool = False
    tfm: TfmConfig = TfmConfig()

    @field_validator("top_k")
    @classmethod
    def _top_k_positive(cls, v: int) -> int:
        if v <= 0:
            raise ValueError(f"top_k must be a positive number of retrieved tokens, got {v}")
        return v


class QNNAlphaConfig(_Strict):
    enabled: bool = Field(True, description="false = the MLP head even when model.head is qnn_alpha")
    feature_embed_dim: int = Field(16, gt=0)
    n_layers: int = Field(2, ge=1)
    heads: int = Field(2, ge=1)
    rank: int = Field(2, ge=1)
    proj_dim: int | None = None
    mlp_hidden: list[int] = Field(default_factory=lambda: [128])
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    use_se: bool = False
    se_reduction: int = Field(4, ge=1)
    use_residual: bool = True
    norm: Literal["none", "batch", "layer"] = "layer"
    pair_grouping: Literal["none", "field"] = Field(
        "none",
        description="none: each quadratic head pairs its coordinates with the whole input; field: the fields "
        "are cut into `heads` contiguous groups and each head pairs only within its group (block-diagonal)",
    )
    aux_head_weight: float = Field(
        0.1, ge=0.0, description="weight of the self-ensemble consistency terms (two dropout passes)"
    )


class ModelConfig(_Strict):
    emb_dim: int = Field(16, gt=0)
    dare_dropout: float = Field(0.0, ge=0.0, lt=1.0)
    cat_embedding_dims: dict[str, int] = Field(default_factory=dict)
    head: Literal["qnn_alpha", "mlp"] = "qnn_alpha"
    embed_id_fields: bool = Field(
        False,
        description="whether the network embeds the id columns named by features.covis.id_fields; false: "
        "they reach it only as their out-of-fold click rates (the id_rate stat). An id embedding is "
        "memorised within one epoch and stops training before anything else is learned (BENCHMARKS.md)",
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
    qnn_alpha: QNNAlphaConfig = QNNAlphaConfig()


class TrainConfig(_Strict):
    batch_size: int = Field(1024, gt=0)
    eval_batch_size: int = Field(8192, gt=0)
    epochs: int = Field(3, ge=1)
    lr: float = Field(2e-3, gt=0)
    weight_decay: float = Field(1e-5, ge=0)
    warmup_epochs: float = Field(0.2, ge=0)
    grad_clip_norm: float | None = 1.0
    early_stop_patience: int = Field(2, ge=1)
    select_metric: Literal["Score_cal", "Score"] = Field(
        "Score_cal",
        description="validation metric for early stopping and the best epoch: Score_cal (after the "
        "temperature calibration the ensemble applies) or Score (after the prior shift only, which penalises "
        "a confident but well-ranking epoch the calibrator would fix)",
    )
    num_threads: int | None = Field(
        None,
        ge=1,
        description="CPU threads: torch (None = every core but one, the spare one "
        "prefetches batches) and LightGBM (None = every core)",
    )


class CVConfig(_Strict):
    n_splits: int = Field(3, ge=2)
    group_key: str | None = None
    stratify_target: bool = True
    time_key: str | None = None
    composite_group: list[str] | None = None


class CalibrationConfig(_Strict):
    enabled: bool = True
    method: Literal["temperature"] = "temperature"
    lr: float = Field(
        1.0,
        gt=0,
        le=1.0,
        description="first trial length of each Newton step (1 = the full step), halved until the loss drops",
    )
    iters: int = Field(50, ge=1, description="most Newton iterations (the convex fit needs about 10)")


class LoggingConfig(_Strict):
    log_dir: str = "runs"
    tb: bool = False
    csv_log: bool = True
    verbose_steps: int = Field(50, ge=1)


class EnsembleConfig(_Strict):
    method: Literal["logit_mean", "mean", "geom_mean", "median", "trim_mean", "rank_avg", "weighted"] = (
        "logit_mean"
    )
    trim_ratio: float = Field(0.1, ge=0.0, lt=0.5)
    weights: list[float] | None = None
    val_weight_temperature: float = Field(0.01, gt=0)


class SamplerConfig(_Strict):
    type: Literal["none", "balanced"] = "none"
    pos_fraction: float = Field(0.1, gt=0.0, lt=1.0)


class EMAConfig(_Strict):
    enabled: bool = True
    decay: float = Field(0.999, gt=0.0, lt=1.0)
    eval_with_ema: bool = True


class CovisConfig(_Strict):
    enabled: bool = True
    window: int = Field(5, ge=1, description="pairs of tokens at most this many positions apart")
    top_n: int = Field(20, ge=1, description="neighbours kept per token")
    recency_tau: float = Field(64.0, gt=0, description="pair weight decays with age / recency_tau")
    last_k: int = Field(5, ge=1, description="recent tokens compared against the rest of the sequence")
    weights: Literal["count", "recency"] = "recency"
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
        ]
    )
    target_fields: list[str] = Field(
        default_factory=lambda: ["inventory_id", "l_feat_14"],
        description="ad fields crossed with recent tokens for out-of-fold click rates",
    )
    target_smoothing: float = Field(20.0, ge=0)
    id_fields: list[str] = Field(
        default_factory=lambda: ["l_feat_14", "l_feat_12", "l_feat_11"],
        description="high-cardinality id columns (cat columns): their out-of-fold, smoothed click rates are "
        "features when stats lists id_rate, and the network does not embed them unless "
        "model.embed_id_fields",
    )


class FeaturesConfig(_Strict):
    covis: CovisConfig = CovisConfig()


class GBDTConfig(_Strict):
    enabled: bool = False
    params: dict[str, Any] = Field(default_factory=dict)
    num_boost_round: int = Field(500, ge=1)
    early_stopping_rounds: int = Field(50, ge=1)
    id_encoding: Literal["native", "target", "frequency"] = "target"
    id_cols: list[str] | None = Field(
        None, description="cat columns treated as ids by id_encoding; None = cardinality > id_min_cardinality"
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
        "gbdt.id_encoding": ParamRange(choices=["native", "target", "frequency"]),
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


class TossConfig(_Strict):
    exp_name: str = "default"
    seed: int = 42
    device: Literal["auto", "cpu", "cuda"] = "auto"
    deterministic: bool = False
    amp: bool = True
    use_compile: bool = False
    data: DataConfig = DataConfig()
    sequence: SequenceConfig = SequenceConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    cv: CVConfig = CVConfig()
    calibration: CalibrationConfig = CalibrationConfig()
    logging: LoggingConfig = LoggingConfig()
    ensemble: EnsembleConfig = EnsembleConfig()
    sampler: SamplerConfig = SamplerConfig()
    ema: EMAConfig = EMAConfig()
    features: FeaturesConfig = FeaturesConfig()
    gbdt: GBDTConfig = GBDTConfig()
    tune: TuneConfig = TuneConfig()

    @property
    def network_id_columns_skipped(self) -> list[str]:
        """Id columns the network leaves to their out-of-fold click rates instead of embedding them."""
        return [] if self.model.embed_id_fields else list(self.features.covis.id_fields)

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
        """Short stable hash of the named sections, so caches know which settings shaped them."""
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
        if item["type"] == "extra_forbidden":
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
    return key.split("."), yaml.safe_load(raw) if raw.strip() else ""


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
            loaded = yaml.safe_load(p.read_text())
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
