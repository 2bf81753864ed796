"""Are a trained model's inputs still the current caches? One check, before any prediction work starts.

A fold model records the fingerprints of the train cache and of the co-visitation features it was
trained on. Predicting the test set with it is only meaningful when the current train cache is that
cache, the current test cache was encoded with that cache's statistics, and (when the model reads
dense features) the current co-visitation features are the ones it was trained with.
"""

from __future__ import annotations

from dataclasses import dataclass

from toss_core.data.reader import ShardedCache
from toss_core.layout import Layout
from toss_core.util.errors import ArtifactError


@dataclass(frozen=True)
class PredictionInputs:
    """The caches a fold model predicts the test set from, after check_model_inputs vouched for them."""

    train: ShardedCache
    test: ShardedCache
    dense: ShardedCache | None  # co-visitation features of the test rows, when the model reads them


def check_test_made_from(layout: Layout, train: ShardedCache, test: ShardedCache) -> None:
    """The test cache must be encoded with the statistics of the current train cache."""
    made_from = test.manifest.get("fingerprint", {}).get("train_cache")
    if made_from != train.fingerprint:
        raise ArtifactError(
            f"test cache {layout.test_cache} was built with the statistics of train cache {made_from}, "
            f"but the current train cache {layout.train_cache} is {train.fingerprint}: rebuild the test "
            "cache (`toss build-cache`)"
        )


def check_model_inputs(
    layout: Layout, what: str, trained_on: str, covis_trained_on: str | None
) -> PredictionInputs:
    """The current caches, or ArtifactError naming `what` (e.g. "gbdt fold 1 (path)") and the fingerprints."""
    crc = layout.cfg.data.verify == "full"  # each shard's checksum as the prediction first reads it
    train, test = ShardedCache(layout.train_cache, crc=crc), ShardedCache(layout.test_cache, crc=crc)
    if trained_on != train.fingerprint:
        raise ArtifactError(
            f"{what} was trained on cache {trained_on}, but the current train cache {layout.train_cache} "
            f"is {train.fingerprint}: retrain the fold (or point data.cache_dir at its cache)"
        )
    check_test_made_from(layout, train, test)
    dense = None
    if covis_trained_on is not None:
        dense = ShardedCache(layout.covis_test, crc=crc)
        if dense.fingerprint != covis_trained_on:
            raise ArtifactError(
                f"{what} was trained with co-visitation features {covis_trained_on}, but "
                f"{layout.covis_test} is {dense.fingerprint}: rebuild the features (`toss covis`) or "
                "retrain the fold"
            )
        if dense.n_rows != test.n_rows:
            raise ArtifactError(
                f"co-visitation cache {layout.covis_test} has {dense.n_rows} rows, the test cache has "
                f"{test.n_rows}: rebuild the features (`toss covis`)"
            )
    return PredictionInputs(train, test, dense)
