"""Fold assignment: the split logic on arrays, then persistence on a real smoke cache."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from conftest import make_config, on_smoke_caches

from toss_core.config import ConfigError
from toss_core.data import folds as folds_mod
from toss_core.data.folds import (
    assign_folds,
    fold_method,
    group_folds,
    load_folds,
    random_folds,
    stratified_folds,
    time_folds,
)
from toss_core.layout import Layout
from toss_core.util.errors import ArtifactError, DataError


def test_stratified_keeps_positive_rate_per_fold():
    rng = np.random.default_rng(0)
    y = (rng.random(10_007) < 0.03).astype(np.float32)
    folds = stratified_folds(y, 5, seed=1)
    sizes = np.bincount(folds, minlength=5)
    pos = np.bincount(folds, weights=y, minlength=5)
    assert sizes.max() - sizes.min() <= 1
    assert pos.max() - pos.min() <= 1
    assert pos.sum() == y.sum()
    assert not np.array_equal(folds, stratified_folds(y, 5, seed=2))  # the seed matters
    np.testing.assert_array_equal(folds, stratified_folds(y, 5, seed=1))


def test_random_folds_balanced_sizes():
    sizes = np.bincount(random_folds(1001, 4, seed=0))
    assert sizes.tolist() == [251, 250, 250, 250]


def test_group_folds_keep_groups_whole_and_balance():
    rng = np.random.default_rng(3)
    groups = rng.permutation(np.repeat(np.arange(700), rng.integers(1, 60, size=700)))
    y = (rng.random(groups.size) < 0.05).astype(np.float32)
    folds = group_folds(groups, y, 3, seed=0, stratify=True)
    per_group = pl.DataFrame({"g": groups, "f": folds}).group_by("g").agg(pl.col("f").n_unique())
    assert per_group["f"].max() == 1
    pos, sizes = np.bincount(folds, weights=y, minlength=3), np.bincount(folds, minlength=3)
    assert pos.min() > 0.9 * pos.max() and sizes.min() > 0.9 * sizes.max()


def test_group_folds_need_enough_groups():
    with pytest.raises(DataError, match="distinct groups"):
        group_folds(np.array([1, 1, 2]), np.zeros(3), 3, seed=0, stratify=False)


def test_time_folds_are_contiguous_blocks():
    rng = np.random.default_rng(0)
    t = rng.integers(0, 50, size=5000).astype(float)
    folds = time_folds(t, 4)
    for f in range(3):
        assert t[folds == f].max() < t[folds == f + 1].min()
    sizes = np.bincount(folds)
    assert sizes.min() > 0.15 * t.size
    with pytest.raises(DataError, match="distinct values"):
        time_folds(np.array([1.0, 1.0, 2.0]), 3)


def test_fold_method_precedence_and_conflicts():
    assert fold_method(make_config()) == "stratified"
    assert fold_method(make_config("cv.stratify_target=false")) == "random"
    assert fold_method(make_config("cv.group_key=hour")) == "group"
    assert fold_method(make_config("cv.composite_group=[hour,gender]")) == "composite_group"
    assert fold_method(make_config("cv.time_key=hour")) == "time"
    with pytest.raises(ConfigError, match="time_key"):
        fold_method(make_config("cv.time_key=hour", "cv.group_key=gender"))


# ---- persisted assignment on the smoke cache ------------------------------------------------------


def _column(layout: Layout, name: str) -> pl.Series:
    return pl.read_parquet(layout.train_path, columns=[name]).to_series()


def test_assign_stratified_persists_and_reuses(smoke_cached, tmp_path, monkeypatch):
    layout = on_smoke_caches(smoke_cached, tmp_path)
    result = assign_folds(layout.cfg, layout)
    folds = load_folds(layout)
    meta = json.loads(layout.folds_meta_path.read_text())
    assert result.method == "stratified" and meta["seed"] == layout.cfg.seed
    assert sum(result.fold_sizes) == folds.size and folds.dtype == np.int8
    assert np.bincount(folds).tolist() == result.fold_sizes
    assert max(result.fold_positives) - min(result.fold_positives) <= 1

    def boom(*args, **kwargs):
        raise AssertionError("a matching saved assignment must be reused, not recomputed")

    monkeypatch.setattr(folds_mod, "compute_folds", boom)
    again = assign_folds(layout.cfg, layout)
    assert again.fold_sizes == result.fold_sizes
    np.testing.assert_array_equal(load_folds(layout), folds)


def test_mismatch_is_detected(smoke_cached, tmp_path):
    layout = on_smoke_caches(smoke_cached, tmp_path)
    with pytest.raises(ArtifactError, match="missing"):
        load_folds(layout)
    assign_folds(layout.cfg, layout)
    other = on_smoke_caches(smoke_cached, tmp_path, "cv.n_splits=3")
    with pytest.raises(ArtifactError, match="n_splits"):
        load_folds(other)
    meta = json.loads(layout.folds_meta_path.read_text())
    meta["cache_fingerprint"] = "another-cache"
    layout.folds_meta_path.write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="cache_fingerprint"):
        load_folds(layout)
    result = assign_folds(other.cfg, other)  # a changed cv section recomputes
    assert result.n_splits == 3 and len(result.fold_sizes) == 3


def test_group_and_composite_groups_stay_whole(smoke_cached, tmp_path):
    layout = on_smoke_caches(smoke_cached, tmp_path / "group", "cv.group_key=l_feat_14")
    assert assign_folds(layout.cfg, layout).method == "group"
    frame = pl.DataFrame({"g": _column(layout, "l_feat_14"), "f": load_folds(layout)})
    assert frame.group_by("g").agg(pl.col("f").n_unique())["f"].max() == 1

    layout = on_smoke_caches(smoke_cached, tmp_path / "composite", "cv.composite_group=[inventory_id,hour]")
    assert assign_folds(layout.cfg, layout).method == "composite_group"
    frame = pl.DataFrame(
        {"inv": _column(layout, "inventory_id"), "hour": _column(layout, "hour"), "f": load_folds(layout)}
    )
    assert frame.group_by("inv", "hour").agg(pl.col("f").n_unique())["f"].max() == 1
    # the key is the combination: an inventory alone spans several folds
    assert frame.group_by("inv").agg(pl.col("f").n_unique())["f"].max() > 1


def test_time_key_orders_folds_numerically(smoke_cached, tmp_path):
    layout = on_smoke_caches(smoke_cached, tmp_path, "cv.time_key=hour")
    assert assign_folds(layout.cfg, layout).method == "time"
    hours = _column(layout, "hour").cast(pl.Int64).to_numpy()  # strings "0".."23": must sort as numbers
    folds = load_folds(layout)
    assert hours[folds == 0].max() < hours[folds == 1].min()


def test_missing_column_is_named(smoke_cached, tmp_path):
    layout = on_smoke_caches(smoke_cached, tmp_path, "cv.group_key=no_such_col")
    with pytest.raises(DataError, match="no_such_col"):
        assign_folds(layout.cfg, layout)
