"""Loading a config: a YAML file (or the defaults), `--set` overrides, strict validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from toss_core.config.base import ConfigError, YamlLoader, apply_overrides
from toss_core.config.root import TossConfig, format_validation_error


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> TossConfig:
    """Load a YAML config (or the defaults when path is None), apply overrides, validate strictly."""
    source = str(path) if path is not None else "<defaults>"
    raw: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}")
        try:
            loaded = yaml.load(p.read_text(), Loader=YamlLoader)
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
        raise ConfigError(format_validation_error(exc, source)) from None
