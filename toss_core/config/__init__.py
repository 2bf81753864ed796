"""One strict, typed configuration for every step of the pipeline.

Every section and key has a default in code and a one-line description, with the long form of some in
NOTES (toss_core.config_doc renders both into docs/config.md, the descriptions into `toss config
--explain`), so a YAML file only states what differs.
Unknown keys are errors that name the key, the file and the nearest valid key: a misspelled `top_k` must
never silently fall back to a default and waste a night of GPU time. A key that was removed
(REMOVED_KEYS) fails with the reason instead, a key that moved (MOVED_KEYS) with its new name, and
values are strict: a YAML `true` is not an integer.

The schema is split by subject (data, model, pipeline, tune) with the whole config in root.py; every
name below is importable from toss_core.config.
"""

from toss_core.config.base import (
    MOVED_KEYS,
    REMOVED_KEYS,
    ConfigError,
    Strict,
    apply_overrides,
    moved_key,
    parse_override,
)
from toss_core.config.data import DataConfig, SequenceConfig, SyntheticConfig, TfmConfig
from toss_core.config.loading import load_config
from toss_core.config.model import EMAConfig, ModelConfig, QNNAlphaConfig, SamplerConfig, TrainConfig
from toss_core.config.notes import NOTES
from toss_core.config.pipeline import (
    CalibrationConfig,
    CatBoostConfig,
    CovisConfig,
    CVConfig,
    EnsembleConfig,
    FeaturesConfig,
    GBDTConfig,
    LoggingConfig,
)
from toss_core.config.root import TossConfig, check_tuned_key, is_int_param, schema_leaf, valid_keys
from toss_core.config.runtime import RuntimeConfig
from toss_core.config.tune import ParamRange, TuneConfig

__all__ = [
    "MOVED_KEYS",
    "NOTES",
    "REMOVED_KEYS",
    "CVConfig",
    "CalibrationConfig",
    "CatBoostConfig",
    "ConfigError",
    "CovisConfig",
    "DataConfig",
    "EMAConfig",
    "EnsembleConfig",
    "FeaturesConfig",
    "GBDTConfig",
    "LoggingConfig",
    "ModelConfig",
    "ParamRange",
    "QNNAlphaConfig",
    "RuntimeConfig",
    "SamplerConfig",
    "SequenceConfig",
    "Strict",
    "SyntheticConfig",
    "TfmConfig",
    "TossConfig",
    "TrainConfig",
    "TuneConfig",
    "apply_overrides",
    "check_tuned_key",
    "is_int_param",
    "load_config",
    "moved_key",
    "parse_override",
    "schema_leaf",
    "valid_keys",
]
