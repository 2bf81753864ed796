"""TossConfig, the whole configuration: every section, the checks that span sections, the fingerprints
of sections, and the key paths (nearest-key hints, the leaf type of a searched key)."""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from typing import Any, get_args, get_origin

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from toss_core.config.base import REMOVED_KEYS, Strict, apply_overrides, moved_key
from toss_core.config.columns import column_problems
from toss_core.config.data import DataConfig, SequenceConfig
from toss_core.config.limits import limit_problems
from toss_core.config.model import ModelConfig, TrainConfig
from toss_core.config.pipeline import (
    CalibrationConfig,
    CatBoostConfig,
    CVConfig,
    EnsembleConfig,
    FeaturesConfig,
    GBDTConfig,
    LoggingConfig,
)
from toss_core.config.runtime import RuntimeConfig
from toss_core.config.tune import ParamRange, TuneConfig

_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class TossConfig(Strict):
    """The sections in the order the pipeline uses them: the data and its cache, the folds, the features,
    the families' models and training, the search, the ensemble and its calibration, the logs."""

    exp_name: str = Field(
        "default", description="run name: a plain name (letters, digits, -_.), the directory under runs_dir"
    )
    runs_dir: str = Field(
        "runs", description="root of every run's outputs (folds, features, models, submission)"
    )
    seed: int = Field(
        42,
        description="seeds the folds, network initialisation (seed + fold), batch order, the tree families",
    )
    families: list[str] = Field(
        default_factory=lambda: ["nn", "gbdt", "catboost"],
        min_length=1,
        description="the model families trained on the folds and stacked by the ensemble, in order",
    )
    runtime: RuntimeConfig = Field(
        RuntimeConfig(), description="how the run executes here: device, precision, compilation, threads"
    )
    data: DataConfig = Field(
        DataConfig(), description="where the data come from, their column roles, and the NPY shard cache"
    )
    cv: CVConfig = Field(
        CVConfig(),
        description="how training rows are split into folds",
    )
    features: FeaturesConfig = Field(
        FeaturesConfig(), description="features computed after the caches and folds, for every family"
    )
    sequence: SequenceConfig = Field(
        SequenceConfig(), description="the behaviour sequence and DARE, the encoder that reads it"
    )
    model: ModelConfig = Field(ModelConfig(), description="the network: embeddings, numeric fields, head")
    train: TrainConfig = Field(TrainConfig(), description="optimisation of the neural folds")
    gbdt: GBDTConfig = Field(GBDTConfig(), description="the LightGBM family, on the same folds and features")
    catboost: CatBoostConfig = Field(
        CatBoostConfig(), description="the CatBoost family, on the same folds and features"
    )
    tune: TuneConfig = Field(TuneConfig(), description="hyperparameter search per family (Optuna)")
    ensemble: EnsembleConfig = Field(
        EnsembleConfig(), description="how one family's fold models are combined"
    )
    calibration: CalibrationConfig = Field(
        CalibrationConfig(), description="temperature scaling fitted on the OOF logits, applied to the test"
    )
    logging: LoggingConfig = Field(LoggingConfig(), description="what the network's training logs")

    @property
    def network_id_columns_skipped(self) -> list[str]:
        """Id columns the network leaves to their out-of-fold click rates instead of embedding them.
        `auto` is resolved against the training data into a list before a fold's model is built
        (train/ids.py) and saved so in its checkpoint; unresolved it embeds none, the sparse case."""
        embed, ids = self.model.embed_id_cols, list(self.features.covis.id_cols)
        if isinstance(embed, bool):
            return [] if embed else ids
        return ids if embed == "auto" else [c for c in ids if c not in embed]

    @field_validator("families")
    @classmethod
    def _distinct_families(cls, v: list[str]) -> list[str]:
        repeated = sorted({f for f in v if v.count(f) > 1})
        if repeated:
            raise ValueError(f"families lists {repeated} more than once")
        return v

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
            "features.covis.target_cols": (self.features.covis, "target_cols", cats),
            "features.covis.id_cols": (self.features.covis, "id_cols", cats),
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
        width = q.proj_dim or self.model.field_dim
        if width % q.heads != 0:
            raise ValueError(
                f"model.qnn_alpha.heads={q.heads} must divide the field width "
                f"(model.qnn_alpha.proj_dim or model.field_dim = {width})"
            )
        if self.sequence.transformer_block and self.model.emb_dim % self.sequence.tfm.n_heads != 0:
            raise ValueError(
                f"sequence.tfm.n_heads={self.sequence.tfm.n_heads} must divide "
                f"model.emb_dim={self.model.emb_dim}"
            )
        unknown = set(self.sequence.query_same_vocab) - set(self.sequence.query_key)
        if unknown:
            raise ValueError(f"sequence.query_same_vocab names {sorted(unknown)} which are not in query_key")
        embed = self.model.embed_id_cols
        if isinstance(embed, list) and (stray := [c for c in embed if c not in self.features.covis.id_cols]):
            raise ValueError(
                f"model.embed_id_cols names {stray}, which are not in features.covis.id_cols "
                f"{self.features.covis.id_cols}: list some of those, or use auto, true or false"
            )
        explicit = embed != "auto"  # auto always embeds a query column
        unembedded = [c for c in self.sequence.query_key if c in self.network_id_columns_skipped]
        if explicit and unembedded:
            raise ValueError(
                f"sequence.query_key names {unembedded}, which the network does not embed "
                "(features.covis.id_cols left out by model.embed_id_cols): drop them from the query "
                "or set model.embed_id_cols=true"
            )
        weights = self.ensemble.weights
        if self.ensemble.method == "weighted" and weights is not None and len(weights) != self.cv.n_splits:
            raise ValueError(f"ensemble.weights has {len(weights)} entries, cv.n_splits={self.cv.n_splits}")
        return self

    @model_validator(mode="after")
    def _limits_and_columns(self) -> TossConfig:
        """Absurd sizes, bad seeds and contradictory column roles (config/limits.py, config/columns.py),
        gbdt.params checked by LightGBM (its import is paid only when gbdt.params is given)."""
        problems = limit_problems(self) + column_problems(self)
        if self.gbdt.params:
            from toss_core.config.lgb_params import lightgbm_param_problems

            problems += lightgbm_param_problems(self.gbdt.params)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _tune_checks(self) -> TossConfig:
        bad = [k for k in self.tune.folds if not 0 <= k < self.cv.n_splits]
        if bad:
            raise ValueError(f"tune.folds {bad} outside 0..{self.cv.n_splits - 1} (cv.n_splits)")
        if self.tune.enabled and set(self.tune.folds) >= set(range(self.cv.n_splits)):
            raise ValueError(
                f"tune.folds {self.tune.folds} holds every fold: leave one out, the fold the best trial is "
                "checked against the defaults on (toss_core/tune/verdict.py)"
            )
        return self

    def section_fingerprint(self, *sections: str) -> str:
        """Short stable hash of the named sections or keys (dotted paths), so caches and resume states
        know which settings shaped them."""
        payload = {name: _dump_path(self, name) for name in sections}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def schema_leaf(key: str) -> Any:
    """The type annotation of the config key `key` (a dotted path); None for an entry of a free mapping
    such as gbdt.params.<name>. ValueError when the path names no key or names a whole section."""
    node: type[BaseModel] = TossConfig
    parts = key.split(".")
    for i, part in enumerate(parts):
        field = node.model_fields.get(part)
        if field is None:
            moved = moved_key(key)
            if moved is not None:
                raise ValueError(f"'{key}' is now '{moved}'")
            hint = nearest_key(key)
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


def check_tuned_key(
    cfg: TossConfig, family: str, sections: tuple[str, ...], key: str, spec: ParamRange
) -> None:
    """The key exists, lies in the family's `sections` (never data, cv, features or paths, which shape the
    caches, folds and features every trial shares) and both ends of its range (or every choice) validate;
    ValueError otherwise."""
    where = f"tune.space.{family}.{key}"
    try:
        schema_leaf(key)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    if key.split(".")[0] not in sections:
        raise ValueError(
            f"{where}: only keys under {', '.join(sections)} are searched for {family} "
            "(other sections shape the caches, folds and features every trial shares)"
        )
    values = spec.choices if spec.choices is not None else [spec.low, spec.high]
    # the probe has an empty search space, so validating it does not probe again
    base = {**cfg.model_dump(mode="json", exclude={"tune"}), "tune": {"space": {}}}
    for value in values:
        raw = apply_overrides(json.loads(json.dumps(base)), [f"{key}={json.dumps(value)}"])
        try:
            TossConfig.model_validate(raw)
        except ValidationError as exc:
            msg = format_validation_error(exc, "the trial config").split("\n")[0]
            raise ValueError(f"{where}: value {value!r} would make an invalid config ({msg})") from None


def _dump_path(cfg: BaseModel, dotted: str) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        node = getattr(node, part)
    return node.model_dump() if isinstance(node, BaseModel) else node


def valid_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        keys.append(path)
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            keys.extend(valid_keys(ann, path + "."))
    return keys


def nearest_key(bad: str) -> str | None:
    keys = valid_keys(TossConfig)
    leaf = bad.rsplit(".", 1)[-1]
    matches = difflib.get_close_matches(bad, keys, n=1, cutoff=0.6)
    if not matches:
        by_leaf = {k.rsplit(".", 1)[-1]: k for k in keys}
        leaf_match = difflib.get_close_matches(leaf, list(by_leaf), n=1, cutoff=0.6)
        matches = [by_leaf[leaf_match[0]]] if leaf_match else []
    return matches[0] if matches else None


def format_validation_error(err: ValidationError, source: str) -> str:
    lines = []
    for item in err.errors():
        key = ".".join(str(p) for p in item["loc"]) or "<root>"
        if item["type"] == "extra_forbidden" and key in REMOVED_KEYS:
            lines.append(f"{key} is no longer supported: {REMOVED_KEYS[key]}; remove it from {source}")
        elif item["type"] == "extra_forbidden" and moved_key(key) is not None:
            lines.append(f"{source}: key '{key}' is now '{moved_key(key)}'; rename it")
        elif item["type"] == "extra_forbidden":
            hint = nearest_key(key)
            suffix = f" (did you mean '{hint}'?)" if hint else ""
            lines.append(f"{source}: unknown key '{key}'{suffix}")
        else:
            msg = item["msg"].removeprefix("Value error, ")
            if item["loc"]:
                lines.append(f"{source}: key '{key}': {msg} (got {item.get('input')!r})")
            else:
                lines.append(f"{source}: {msg}")
    return "\n".join(lines)
