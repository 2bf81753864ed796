"""The co-visitation features as the model of one fold reads them.

In `dense` a train row's click rates (covis.label_derived) leave only its own fold out. The model of fold k
trains on the rows of folds j != k and validates on fold k, so read from `dense` its training rows carry
fold k's labels, and its early stopping, OOF logits and the stacker's view of it learn on optimistic rows.
So `toss covis` also writes, per fold model k, field rates_k: the click rates with fold k left out as well
(train rows: outside folds j and k; test rows: outside fold k), whenever features.covis.nested_rates names
a family. The families it names read their fold through `fold_dense(..., nested=True)`, which puts rates_k
in place of those columns of `dense`; the others read `dense` as written, and so does the refit on every
row (fold FULL: train rows out of their own fold, test rows all rows). By default only the network reads
them: with them it gained test Score alone on Frappe and MovieLens and its stack weight agrees with the
test, while the trees lost test Score (BENCHMARKS.md, "the network reads nested click rates").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from toss_core.config import TossConfig
from toss_core.data.reader import ShardedCache
from toss_core.features.covis import COVIS_FORMAT, RATES_FIELD, rates_field
from toss_core.layout import FULL
from toss_core.util.errors import ArtifactError

RERUN = "toss covis --cfg <your config>"
DENSE = "dense"


def format_problem(manifest: dict[str, Any], root: object) -> str | None:
    """Why co-visitation features with this manifest cannot be read by this toss, or None."""
    found = manifest.get("covis", {}).get("format")
    if found == COVIS_FORMAT:
        return None
    return (
        f"{root}: co-visitation features of an older toss (format {found or 'toss-covis/1'}, this one reads "
        f"{COVIS_FORMAT}: click rates nested per fold model); rebuild them with `{RERUN}`"
    )


class FoldDense(ShardedCache):
    """A co-visitation cache whose `dense` rows come back with fold `fold`'s click-rate variant in place."""

    def __init__(self, cache: ShardedCache, fold: int):
        super().__init__(cache.root, crc=cache.crc)
        self.fold = fold
        self.rates = rates_field(fold)
        names = list(self.manifest["columns"][DENSE])
        self.columns = np.array([names.index(c) for c in self.manifest["columns"][RATES_FIELD]], np.int64)

    def _compose(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        dense = np.array(arrays[DENSE])  # a copy: the mapped shard stays as written
        dense[:, self.columns] = arrays.pop(self.rates)
        arrays[DENSE] = dense
        return arrays

    def take(self, idx: np.ndarray, fields: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        names = self._field_names(fields)
        if DENSE not in names:
            return super().take(idx, names)
        return self._compose(super().take(idx, [*names, self.rates]))

    def shard_arrays(self, index: int, names: Sequence[str]) -> dict[str, np.ndarray]:
        if DENSE not in names:
            return super().shard_arrays(index, names)
        return self._compose(super().shard_arrays(index, [*names, self.rates]))

    def read_field(self, name: str) -> np.ndarray:
        if name != DENSE:
            return super().read_field(name)
        parts = [self.shard_arrays(i, [DENSE])[DENSE] for i in range(self.n_shards)]
        return np.concatenate(parts) if parts else super().read_field(name)


def has_nested_rates(cache: ShardedCache | None) -> bool:
    """Whether these co-visitation features hold a click-rate variant per fold model (nested_rates)."""
    return cache is not None and bool(cache.manifest["columns"].get(RATES_FIELD))


def reads_nested(cfg: TossConfig, family: str) -> bool:
    """Whether the fold models of `family` read the nested click rates (features.covis.nested_rates)."""
    return family in cfg.features.covis.nested_rates


def fold_dense(cache: ShardedCache | None, fold: int | str, *, nested: bool) -> ShardedCache | None:
    """The co-visitation cache (train or test) as the model of `fold` reads it: with `nested` its own
    click-rate variant, else (and for FULL) `dense` as written. ArtifactError (naming `toss covis`) for
    features written before the nested rates existed or without a variant for this fold."""
    if cache is None:
        return None
    problem = format_problem(cache.manifest, cache.root)
    if problem:
        raise ArtifactError(problem)
    if not nested or fold == FULL or not has_nested_rates(cache):
        return cache
    n_folds = int(cache.manifest["covis"]["rate_folds"])
    if not isinstance(fold, int) or not 0 <= fold < n_folds:
        raise ArtifactError(
            f"{cache.root}: click rates were written for fold models 0..{n_folds - 1}, not fold {fold!r} "
            f"(another fold assignment?); rebuild them with `{RERUN}`"
        )
    return FoldDense(cache, fold)
