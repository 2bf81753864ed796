"""Which config keys shape a cache, their fingerprint, and the check that a cache still matches them.

A step that reads a cache built under other shaping keys (say `sequence.max_len` 32 while the config
says 8) would train on the old shape and record the new one: it stops instead, naming the key.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from toss_core.config import TossConfig
from toss_core.util.errors import ArtifactError

# config keys that change the cache's content; everything else (paths, use_cache, ...) does not
SHAPING_KEYS = {
    "data": [
        "label_col",
        "id_col",
        "cat_cols",
        "num_cols_explicit",
        "num_patterns",
        "shard_rows",
        "shard_mb",
        "add_isna_mask",
        "impute_strategy",
        "hash_buckets",
    ],
    "sequence": ["col", "max_len", "max_token", "query_same_vocab"],
}
REBUILD = "toss build-cache --cfg <your config>"


def shaping_config(cfg: TossConfig) -> dict[str, Any]:
    return {sec: {k: getattr(getattr(cfg, sec), k) for k in keys} for sec, keys in SHAPING_KEYS.items()}


def digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def check_current(cfg: TossConfig, manifest: dict[str, Any], root: Path) -> None:
    """ArtifactError naming the first shaping key whose value differs from the cache's."""
    want = json.loads(json.dumps(shaping_config(cfg), default=str))
    built = manifest.get("shaping_config", {})
    for sec, keys in SHAPING_KEYS.items():
        for key in keys:
            old = built.get(sec, {}).get(key, "<not recorded>")
            if old != want[sec][key]:
                raise ArtifactError(
                    f"{root}: the cache was built with {sec}.{key}={old!r} but the config says "
                    f"{want[sec][key]!r}; rebuild it with `{REBUILD}`"
                )
