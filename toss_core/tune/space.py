"""A trial's parameters as config overrides, and the tuned parameters applied to a config."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from toss_core.config import (
    ConfigError,
    ParamRange,
    TossConfig,
    apply_overrides,
    is_int_param,
)


def suggest(trial: Any, space: dict[str, ParamRange]) -> dict[str, Any]:
    """Ask an Optuna trial for one value per searched key; the Optuna parameter name is the key path."""
    params: dict[str, Any] = {}
    for key, spec in space.items():
        if spec.choices is not None:
            params[key] = trial.suggest_categorical(key, spec.choices)
        elif spec.low is None or spec.high is None:  # ParamRange's validator refuses this
            raise ValueError(f"tune.space.{key}: give low and high, or choices")
        elif is_int_param(key, spec):
            params[key] = trial.suggest_int(key, int(spec.low), int(spec.high), log=spec.log)
        else:
            params[key] = trial.suggest_float(key, float(spec.low), float(spec.high), log=spec.log)
    return params


def apply_params(cfg: TossConfig, params: dict[str, Any], source: str) -> TossConfig:
    """`cfg` with each key path set to its value, validated like a `--set` override."""
    texts = [f"{key}={json.dumps(value)}" for key, value in params.items()]
    raw = apply_overrides(cfg.model_dump(mode="json"), texts)
    try:
        return TossConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{source}: key '{key}': {first['msg']} (from {texts})") from None
