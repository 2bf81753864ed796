"""What one fold trains on and the state it resumes from: the row split, the caches, the feature spec,
and the statistics the model takes from the fold's training rows (numeric bin edges, id counts)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from toss_core.config import TossConfig
from toss_core.data.folds import load_folds
from toss_core.features.fold_rates import fold_dense, reads_nested
from toss_core.layout import FULL, Layout
from toss_core.spec import FeatureSpec
from toss_core.train.batches import BatchSource, feature_fields, model_spec
from toss_core.train.paths import NAME

log = logging.getLogger("toss")

BIN_SAMPLE_ROWS = 100_000  # training rows the numeric quantile bin edges are fitted on


@dataclass
class FoldState:
    """Everything besides module/optimiser state that a resumed fold needs."""

    epoch: int = 0  # next epoch to run
    step: int = 0
    bad_epochs: int = 0
    best_score: float = -math.inf
    best_epoch: int = -1
    best_metrics: dict[str, float] = field(default_factory=dict)
    best_model: dict[str, torch.Tensor] | None = None
    best_ema: dict[str, torch.Tensor] | None = None
    best_logits: torch.Tensor | None = None
    log_rows: list[dict[str, Any]] = field(default_factory=list)


class FoldData:
    """The caches, the feature spec and the row split of one fold (FULL: every row trains)."""

    def __init__(self, cfg: TossConfig, layout: Layout, fold: int | str):
        from toss_core.data.reader import ShardedCache

        crc = cfg.data.verify == "full"  # each shard's checksum as it is first read
        self.cache = ShardedCache(layout.train_cache, crc=crc)
        covis = ShardedCache(layout.covis_train, crc=crc) if cfg.features.covis.enabled else None
        # this fold model's click rates (features.fold_rates)
        self.dense_cache = fold_dense(covis, fold, nested=reads_nested(cfg, NAME))
        self.covis_fingerprint = self.dense_cache.fingerprint if self.dense_cache is not None else None
        self.spec = model_spec(cfg, self.cache, self.dense_cache)
        folds = load_folds(layout)
        self.labels = self.cache.read_field("label").astype(np.float32)
        held_out = folds == fold if fold != FULL else np.zeros(folds.size, dtype=bool)  # FULL: every row
        self.val_rows = np.flatnonzero(held_out).astype(np.int64)
        self.train_rows = np.flatnonzero(~held_out).astype(np.int64)
        self.train_labels = self.labels[self.train_rows]
        self.val_labels = self.labels[self.val_rows]
        self.train_prior = float(self.train_labels.mean())
        fields = feature_fields(self.spec, self.cache.fields)
        self.source = BatchSource(self.cache, fields, self.dense_cache, label=True)


def warn_unseen_ids(cfg: TossConfig, spec: FeatureSpec, fold: int | str) -> None:
    """Log the id columns the network neither embeds nor gets as out-of-fold click rates."""
    from toss_core.features.covis import ID_STAT

    skipped = cfg.network_id_columns_skipped
    unseen = [c for c in skipped if c in spec.cat_cols and f"{ID_STAT}_{c}" not in spec.dense_cols]
    if unseen:
        log.warning(
            "fold %s: the network neither embeds nor gets the click rates of id columns %s "
            "(add %s to features.covis.stats or set model.embed_id_cols=true)",
            fold,
            unseen,
            ID_STAT,
        )


def training_id_counts(data: FoldData) -> list[torch.Tensor]:
    """Rows of every id of every cat column among the fold's training rows, shard by shard (memory: one
    shard): the evidence model.id_min_count weighs."""
    cards = data.spec.cat_cardinalities
    counts = [np.zeros(card, dtype=np.int64) for card in cards]
    in_train = np.zeros(data.cache.n_rows, dtype=bool)
    in_train[data.train_rows] = True
    for start, arrays in data.cache.iter_shards(["cat"]):
        cat = np.asarray(arrays["cat"])
        cat = cat[in_train[start : start + cat.shape[0]]]
        for c, card in enumerate(cards):
            counts[c] += np.bincount(cat[:, c], minlength=card)[:card]
    return [torch.from_numpy(c) for c in counts]


def bin_sample(data: FoldData, inputs: list[str], seed: int) -> dict[str, np.ndarray]:
    """The `inputs` ("num": numeric columns, "dense": co-visitation features) of up to BIN_SAMPLE_ROWS
    random training rows (never validation rows): what the bin edges are fitted on."""
    rng = np.random.default_rng(seed)
    n = min(BIN_SAMPLE_ROWS, data.train_rows.size)
    rows = np.sort(rng.choice(data.train_rows, n, replace=False))
    sample = {}
    if "num" in inputs:
        sample["num"] = data.cache.take(rows, ["num"])["num"]
    if "dense" in inputs:
        assert data.dense_cache is not None, "a model with dense inputs is built from a fold with them"
        sample["dense"] = data.dense_cache.take(rows, ["dense"])["dense"]
    return sample
