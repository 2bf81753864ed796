"""Fold partitions `fold_0 … fold_{k-1}`, k = cv.n_splits of the config the code location loads.

Partitions are fixed when Dagster loads the definitions, so change `cv.n_splits` in the YAML (and reload
the code location), not per run: a run whose config disagrees is refused by the training assets.
"""

from __future__ import annotations

import dagster as dg

from toss_assets.resources import load_time_config

PREFIX = "fold_"


def fold_keys(n_splits: int) -> list[str]:
    return [f"{PREFIX}{k}" for k in range(n_splits)]


def fold_index(key: str) -> int:
    """`fold_3` → 3."""
    if not key.startswith(PREFIX) or not key[len(PREFIX) :].isdigit():
        raise ValueError(f"partition key '{key}' is not a fold key like {PREFIX}0")
    return int(key[len(PREFIX) :])


FOLD_PARTITIONS = dg.StaticPartitionsDefinition(fold_keys(load_time_config().cv.n_splits))
