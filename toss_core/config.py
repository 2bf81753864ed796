"""One strict, typed configuration for every step of the pipeline.

Every section and key has a default in code, so a YAML file only states what differs. Unknown keys are
errors that name the key, the file and the nearest valid key: a misspelled `top_k` must never silently
fall back to a default and waste a night of GPU time.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal

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
    verify: Literal["quick", "full"] = Field(
        "quick",
        description="checks on a reused cache: quick = every shard's size and .npy header; full = also "
        "its crc32 (reads every byte). A shard that fails is named in a warning and the cache rebuilt",
    )


class TfmConfig(_Strict):
    n_layers: int = Field(1, ge=1)
    n_heads: int = Field(2, ge=1)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    ffn_hidden: int = Field(64, gt=0)


class SequenceConfig(_Strict):
    col: str | None = "seq"
    max_len: int = Field(256, gt=0)
    max_token: int = Field(
        1_000_000,
        ge=0,
        description="largest sequence token kept in train; larger ones (and test tokens above the "
        "largest train token) become one out-of-vocabulary id, counted in the manifest, so one stray "
        "token never sizes the embedding tables",
    )
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


_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class TossConfig(_Strict):
    exp_name: str = Field(
        "default",
        description="run name: a plain name (letters, digits, -_.), the directory under logging.log_dir",
    )
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

    def section_fingerprint(self, *sections: str) -> str:
        """Short stable hash of the named sections, so caches know which settings shaped them."""
        payload = {name: _dump_path(self, name) for name in sections}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


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
