"""What a tree family's fold reads from disk: its training and validation rows, the co-visitation
features aligned with a cache, and the CPU threads it may use."""

from __future__ import annotations

import os

import numpy as np

from toss_core.config import TossConfig
from toss_core.data.reader import ShardedCache
from toss_core.layout import Layout
from toss_core.util.errors import ArtifactError


def fold_rows(layout: Layout, n_rows: int, fold: int) -> tuple[np.ndarray, np.ndarray]:
    """(training rows, validation rows) of `fold` from the saved fold assignment."""
    from toss_core.data.folds import load_folds

    folds = load_folds(layout)
    if len(folds) != n_rows:
        raise ArtifactError(f"{layout.folds_path} has {len(folds)} rows, the train cache has {n_rows}")
    train_rows, valid_rows = np.flatnonzero(folds != fold), np.flatnonzero(folds == fold)
    if len(valid_rows) == 0 or len(train_rows) == 0:
        raise ArtifactError(f"fold {fold} of {layout.folds_path} has no training or no validation rows")
    return train_rows, valid_rows


def dense_cache(layout: Layout, kind: str, n_rows: int) -> ShardedCache:
    """The co-visitation feature shards of the `kind` cache, checked to hold its `n_rows` rows."""
    root = layout.covis_train if kind == "train" else layout.covis_test
    dense = ShardedCache(root, crc=layout.cfg.data.verify == "full")
    if dense.n_rows != n_rows:
        raise ArtifactError(
            f"co-visitation cache {root} has {dense.n_rows} rows, the {kind} cache has {n_rows}"
        )
    return dense


def dense_cols(dense: ShardedCache | None) -> list[str]:
    return [] if dense is None else list(dense.manifest["columns"].get("dense", []))


def train_inputs(cfg: TossConfig, layout: Layout) -> tuple[ShardedCache, np.ndarray, ShardedCache | None]:
    """(train cache, its labels as float32, its co-visitation features or None when disabled)."""
    cache = ShardedCache(layout.train_cache, crc=cfg.data.verify == "full")
    dense = dense_cache(layout, "train", cache.n_rows) if cfg.features.covis.enabled else None
    return cache, cache.read_field("label").astype(np.float32), dense


def cpu_threads(cfg: TossConfig) -> int:
    """runtime.num_threads (the fair share Dagster's parallel folds set), or every core: the tree libraries
    have no prefetch thread to leave a core for."""
    return cfg.runtime.num_threads or os.cpu_count() or 1
