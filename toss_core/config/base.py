"""What every config section shares: the strict base model, the error type, the YAML loader, the
keys that were removed (and why) or moved (and where), and `--set` overrides applied to a raw mapping
before validation."""

from __future__ import annotations

import re
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

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
    "gbdt.enabled": "the enabled model families are listed in `families` (e.g. families: [nn, gbdt])",
    "calibration.lr": "the calibrator is sklearn's newton-cholesky, which chooses its own step lengths",
    "model.qnn_alpha.enabled": "model.head names the head (model.head: mlp for the MLP head)",
}

# Keys (or whole sections) that moved, with where they live now: an old file that still sets one fails
# with one line naming the new key; nothing is read from the old place.
MOVED_KEYS: dict[str, str] = {
    "device": "runtime.device",
    "amp": "runtime.amp",
    "use_compile": "runtime.compile",
    "deterministic": "runtime.deterministic",
    "train.compile_mode": "runtime.compile_mode",
    "train.num_threads": "runtime.num_threads",
    "sampler": "train.sampler",
    "ema": "train.ema",
    "logging.log_dir": "runs_dir",
    "model.qnn_alpha.feature_embed_dim": "model.field_dim",
    "model.qnn_alpha.n_layers": "model.interaction_layers",
    "model.qnn_alpha.mlp_hidden": "model.mlp_hidden",
    "model.qnn_alpha.dropout": "model.head_dropout",
    "model.embed_id_fields": "model.embed_id_cols",
    "features.covis.id_fields": "features.covis.id_cols",
    "features.covis.target_fields": "features.covis.target_cols",
}


def moved_key(key: str) -> str | None:
    """Where the dotted `key` lives now, when it or a section above it moved (ema.decay → train.ema.decay);
    None for a key that did not move."""
    parts = key.split(".")
    for i in range(len(parts), 0, -1):
        new = MOVED_KEYS.get(".".join(parts[:i]))
        if new is not None:
            return ".".join([new, *parts[i:]])
    return None


class YamlLoader(yaml.SafeLoader):
    """SafeLoader that also reads `1e-3` as a float: PyYAML follows YAML 1.1, where a float needs a dot,
    and the strict schema would otherwise reject the string '1e-3' for a float key."""


YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$"), list("-+0123456789")
)


class Strict(BaseModel):
    # strict: a YAML `true` is not the integer 1, `3.0` is not an int and "3" is not a number (ints are
    # still accepted for floats); nothing is coerced, so what the file says is what runs. inf and nan are
    # never a setting: `train.lr=.inf` would be accepted and fail after an epoch
    model_config = ConfigDict(extra="forbid", validate_assignment=True, strict=True, allow_inf_nan=False)


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse one `a.b.c=value` override; the value is read as YAML so numbers, lists and null work."""
    if "=" not in text:
        raise ConfigError(f"override '{text}' must look like key.path=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"override '{text}' has an empty key")
    return key.split("."), yaml.load(raw, Loader=YamlLoader) if raw.strip() else ""


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
