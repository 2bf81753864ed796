"""A fourth model family in a few lines, for the test that adding one needs one package and one
registry line: the smoothed click rate of each value of the first categorical column."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from toss_core.artifacts.fold import SELECTED, Lineage, file_digest, save_oof
from toss_core.data.folds import load_folds
from toss_core.data.reader import ShardedCache
from toss_core.layout import Layout
from toss_core.scoring.fold_metrics import fold_metrics
from toss_core.scoring.metrics import logit, prior_only_score
from toss_core.util.atomic import atomic_path
from toss_core.util.results import FoldResult

SMOOTHING = 20.0


def _rates(cat: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Log-odds of the smoothed click rate per value of `cat` (unseen values: the prior's)."""
    prior = labels.mean()
    size = int(cat.max()) + 1
    counts = np.bincount(cat, minlength=size)
    clicks = np.bincount(cat, weights=labels, minlength=size)
    return logit((clicks + SMOOTHING * prior) / (counts + SMOOTHING)).astype(np.float32)


class MeanRateFamily:
    name = "meanrate"
    title = "click rate per value"
    kind = "numpy"
    takes_gpu_slot = False
    packages = ("toss_core.scoring",)
    tunable_sections = ("seed",)

    def default_space(self):
        return {}

    def shaping_keys(self):
        return ("seed",)

    def settle(self, cfg, layout: Layout):
        return cfg

    def checkpoint(self, layout: Layout, fold) -> Path:
        return layout.family_dir(self.name) / f"rates_fold_{fold}.npy"

    def _fit(self, layout: Layout, fold, rows: np.ndarray) -> Lineage:
        cache = ShardedCache(layout.train_cache)
        table = _rates(cache.read_field("cat")[rows, 0], cache.read_field("label")[rows].astype(np.float64))
        path = self.checkpoint(layout, fold)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.save(fh, table)
        return Lineage(self.name, fold, cache.fingerprint, None, file_digest(path))

    def _logits(self, layout: Layout, fold, cat: np.ndarray) -> np.ndarray:
        table = np.load(self.checkpoint(layout, fold))
        known = cat < table.size
        return np.where(known, table[np.minimum(cat, table.size - 1)], np.median(table)).astype(np.float32)

    def train_fold(self, cfg, layout: Layout, fold: int, on_epoch=None) -> FoldResult:
        cache = ShardedCache(layout.train_cache)
        folds = load_folds(layout)
        labels = cache.read_field("label").astype(np.float32)
        train_rows, valid_rows = np.flatnonzero(folds != fold), np.flatnonzero(folds == fold)
        lineage = self._fit(layout, fold, train_rows)
        logits = self._logits(layout, fold, cache.read_field("cat")[valid_rows, 0])
        metrics = {
            **fold_metrics(labels[valid_rows], logits, float(labels[train_rows].mean())),
            SELECTED: 1.0,
        }
        oof = save_oof(layout, lineage, valid_rows, logits, labels[valid_rows], metrics)
        return FoldResult(fold, self.name, self.checkpoint(layout, fold), oof, metrics,
                          float(prior_only_score(labels[valid_rows])), 1, 0.0)  # fmt: skip

    def predict_test(self, cfg, layout: Layout, fold):
        test = ShardedCache(layout.test_cache)
        path = self.checkpoint(layout, fold)
        lineage = Lineage(
            self.name, fold, ShardedCache(layout.train_cache).fingerprint, None, file_digest(path)
        )
        return self._logits(layout, fold, test.read_field("cat")[:, 0]), lineage

    def refit(self, cfg, layout: Layout, size: int) -> Lineage:
        from toss_core.layout import FULL

        return self._fit(layout, FULL, np.arange(ShardedCache(layout.train_cache).n_rows))
