"""Click rates nested per fold model: the model of fold k never reads fold k's labels, in any family's
reader, and co-visitation features written before the nested rates existed are refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import make_config, on_smoke_caches, run_context

from toss_core import steps
from toss_core.catboost import train as catboost_train
from toss_core.config import ConfigError
from toss_core.data.folds import load_folds
from toss_core.data.reader import MANIFEST, ShardedCache, ShardWriter
from toss_core.families import registry
from toss_core.features.covis import build_covis_features, fit, label_derived, make_plan, transform_variants
from toss_core.features.current import check_covis_current
from toss_core.features.fold_rates import fold_dense
from toss_core.features.target import TargetAccumulator
from toss_core.gbdt import train as gbdt_train
from toss_core.layout import FULL, Layout
from toss_core.tabular.design import DesignPlan, build_matrix
from toss_core.train.fold_data import FoldData
from toss_core.util.errors import ArtifactError

RATES = (
    "features.covis.nested_rates=[nn, gbdt, catboost]",
    "features.covis.stats=[covis_sum, target_rate, id_rate]",
    "features.covis.id_cols=[l_feat_14]",
    "model.embed_id_cols=true",
    "cv.n_splits=3",
    "cv.stratify_target=false",  # folds from the seed alone, so flipped labels keep the same folds
)


def test_nested_rates_by_brute_force():
    """Variant k of a train row in fold j: the rows outside folds j and k; of a test row: outside k."""
    rng = np.random.default_rng(5)
    n, n_folds, m = 120, 3, 2.0
    ids = rng.integers(0, 6, n)
    keys = np.where(ids > 0, ids, -1)[:, None]
    labels = (rng.random(n) < 0.3).astype(np.float64)
    folds = rng.integers(0, n_folds, n)
    acc = TargetAccumulator(n_folds)
    acc.add(keys, labels, folds)
    table = acc.finish()

    def want(row: int, out: np.ndarray) -> float:
        prior = labels[~out].mean()
        if ids[row] == 0:
            return prior
        same = ~out & (ids == ids[row])
        return (labels[same].sum() + m * prior) / (same.sum() + m)

    train = table.rates(keys, folds, m, [None, *range(n_folds)])
    test = table.rates(keys, None, m, [None, *range(n_folds)])
    for row in range(n):
        own = folds == folds[row]
        assert train[0][row] == pytest.approx(want(row, own))
        assert test[0][row] == pytest.approx(want(row, np.zeros(n, bool)))
        for k in range(n_folds):
            assert train[1 + k][row] == pytest.approx(want(row, own | (folds == k))), (row, k)
            assert test[1 + k][row] == pytest.approx(want(row, folds == k)), (row, k)
    np.testing.assert_array_equal(train[0], table.rate(keys, folds, m))


def _build(layout: Layout) -> None:
    steps.assign_folds(run_context(layout))
    build_covis_features(layout.cfg, layout)


def _flipped_copy(src: Layout, root: Path, fold: int) -> Layout:
    """The same run on a copy of the train cache whose labels are flipped in `fold` (same folds)."""
    layout = on_smoke_caches(src, root, *RATES, f"data.cache_dir={root / 'cache'}")
    folds = load_folds(src)
    train = ShardedCache(src.train_cache)
    with ShardWriter(layout.train_cache, "train") as writer:
        for offset, arrays in train.iter_shards():
            arrays = {k: np.array(v) for k, v in arrays.items()}
            flip = folds[offset : offset + len(arrays["label"])] == fold
            arrays["label"][flip] = 1 - arrays["label"][flip]
            writer.add(arrays)
        keep = {k: v for k, v in train.manifest.items() if k not in ("format", "kind", "n_rows", "fields")}
        writer.commit({k: v for k, v in keep.items() if k not in ("shards", "checksum")})
    shutil.copytree(src.test_cache, layout.test_cache)
    layout.run_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(src.folds_path, layout.folds_path)
    shutil.copy(src.folds_meta_path, layout.folds_meta_path)
    build_covis_features(layout.cfg, layout)
    return layout


def _tree_matrix(layout: Layout, fold: int | str, rows: np.ndarray) -> np.ndarray:
    """The design matrix a tree family builds for `rows` (its co-visitation columns included)."""
    cache = ShardedCache(layout.train_cache)
    dense = ShardedCache(layout.covis_train)
    plan = DesignPlan.build(cache.spec, cache.fields, list(dense.manifest["columns"]["dense"]))
    return build_matrix(plan, cache, rows, None, None, fold_dense(dense, fold, nested=True))


def test_fold_model_reads_nothing_of_its_fold_labels(smoke_cached, tmp_path):
    """Flip fold 0's labels and rebuild: everything the fold-0 model reads (its training, validation and
    test features, for the network and the trees alike) is unchanged; the refit's and fold 1's change."""
    base = on_smoke_caches(smoke_cached, tmp_path / "a", *RATES)
    _build(base)
    flipped = _flipped_copy(base, tmp_path / "b", fold=0)
    folds = load_folds(base)
    assert (load_folds(flipped) == folds).all()
    assert not (
        ShardedCache(base.train_cache).read_field("label")
        == ShardedCache(flipped.train_cache).read_field("label")
    ).all()

    a, b = FoldData(base.cfg, base, 0), FoldData(flipped.cfg, flipped, 0)
    names = a.spec.dense_cols
    rates = [i for i, c in enumerate(names) if label_derived(c)]
    assert len(rates) == 3  # target_rate of two ad fields and id_rate of l_feat_14
    for rows in (a.train_rows, a.val_rows):
        np.testing.assert_array_equal(a.source.take(rows)["dense"], b.source.take(rows)["dense"])
    rows = np.sort(a.train_rows)
    np.testing.assert_array_equal(_tree_matrix(base, 0, rows), _tree_matrix(flipped, 0, rows))
    for layout_a, layout_b in [(base, flipped)]:
        test_a = fold_dense(ShardedCache(layout_a.covis_test), 0, nested=True).read_field("dense")
        test_b = fold_dense(ShardedCache(layout_b.covis_test), 0, nested=True).read_field("dense")
        np.testing.assert_array_equal(test_a, test_b)

    # The check has teeth: the features of models that may see fold 0's labels do change.
    full_a = FoldData(base.cfg, base, FULL).source.take(rows)["dense"]
    full_b = FoldData(flipped.cfg, flipped, FULL).source.take(rows)["dense"]
    assert np.abs(full_a[:, rates] - full_b[:, rates]).max() > 1e-3
    fold1 = np.sort(np.flatnonzero(folds == 2))  # training rows of the fold-1 model
    assert np.abs(_tree_matrix(base, 1, fold1) - _tree_matrix(flipped, 1, fold1)).max() > 1e-3


def test_fold_views_are_as_specified(smoke_cached, tmp_path):
    """Fold k: training rows read rates_k, validation rows `dense` (outside their own fold only), test rows
    rates_k; label-free columns are `dense` everywhere; FULL reads `dense` as written."""
    layout = on_smoke_caches(smoke_cached, tmp_path, *RATES)
    _build(layout)
    folds = load_folds(layout)
    train, test = ShardedCache(layout.covis_train), ShardedCache(layout.covis_test)
    dense = train.read_field("dense")
    rates = [i for i, c in enumerate(train.manifest["columns"]["dense"]) if label_derived(c)]
    free = [i for i in range(dense.shape[1]) if i not in rates]
    assert train.manifest["columns"]["rates"] == [train.manifest["columns"]["dense"][i] for i in rates]
    scale, by_fold = train.manifest["standardize"], train.manifest["standardize_rates"]
    mean, std = np.array(scale["mean"])[rates], np.array(scale["std"])[rates]
    raw = dense[:, rates] * std + mean
    raw_test = test.read_field("dense")[:, rates] * std + mean
    for k in range(3):
        view = fold_dense(train, k, nested=True).read_field("dense")
        np.testing.assert_array_equal(view[:, free], dense[:, free])
        np.testing.assert_array_equal(view[:, rates], train.read_field(f"rates_{k}"))
        view_raw = view[:, rates] * np.array(by_fold["std"][k]) + np.array(by_fold["mean"][k])
        np.testing.assert_allclose(view_raw[folds == k], raw[folds == k], rtol=1e-5, atol=1e-6)
        assert np.abs(view_raw[folds != k] - raw[folds != k]).max() > 1e-4
        test_view = fold_dense(test, k, nested=True).read_field("dense")
        np.testing.assert_array_equal(test_view[:, rates], test.read_field(f"rates_{k}"))
        test_raw = test_view[:, rates] * np.array(by_fold["std"][k]) + np.array(by_fold["mean"][k])
        assert np.abs(test_raw - raw_test).max() > 1e-4
    assert fold_dense(train, FULL, nested=True) is train
    assert fold_dense(train, 0, nested=False) is train  # a family that nested_rates does not name
    with pytest.raises(ArtifactError, match="not fold 3"):
        fold_dense(train, 3, nested=True)

    # The written variants are the ones transform_variants computes (shards and folds line up).
    cache = ShardedCache(layout.train_cache)
    plan = make_plan(layout.cfg, cache.manifest)
    fitted = fit(layout.cfg, cache, plan, folds.astype(np.int64))
    arrays = cache.take(np.arange(cache.n_rows), ["seq", "seq_len", "seq_len_raw", "cat", "label"])
    _, nested = transform_variants(layout.cfg, plan, fitted, arrays, folds.astype(np.int64), 3)
    std1, mean1 = np.array(by_fold["std"][1]), np.array(by_fold["mean"][1])
    np.testing.assert_allclose(train.read_field("rates_1") * std1 + mean1, nested[1], rtol=1e-5, atol=1e-6)


def test_old_covis_is_refused_with_the_command(smoke_cached, tmp_path):
    layout = on_smoke_caches(smoke_cached, tmp_path, *RATES)
    _build(layout)
    for root in (layout.covis_train, layout.covis_test):  # as toss-covis/1 wrote them
        manifest = json.loads((root / MANIFEST).read_text())
        del manifest["covis"]["format"]
        (root / MANIFEST).write_text(json.dumps(manifest))
    want = r"older toss .*toss-covis/1.*rebuild them with `toss covis --cfg <your config>`"
    with pytest.raises(ArtifactError, match=want):
        check_covis_current(layout.cfg, layout)
    with pytest.raises(ArtifactError, match=want):
        FoldData(layout.cfg, layout, 0)
    with pytest.raises(ArtifactError, match=want):
        fold_dense(ShardedCache(layout.covis_test), FULL, nested=True)


def test_no_rate_columns_needs_no_variants(smoke_cached, tmp_path):
    """Label-free features only: nothing is written per fold, and every fold reads `dense` as it is."""
    layout = on_smoke_caches(smoke_cached, tmp_path, "features.covis.stats=[covis_sum]")
    _build(layout)
    train = ShardedCache(layout.covis_train)
    assert train.fields == ["dense"] and train.manifest["columns"]["rates"] == []
    assert fold_dense(train, 0, nested=True) is train
    assert make_config().features.covis.enabled


def test_by_default_only_the_network_reads_nested_rates(smoke_cached, tmp_path, monkeypatch):
    """features.covis.nested_rates defaults to [nn]: the network's fold model reads its own variant; the
    LightGBM and CatBoost fold models read `dense` as written (nested rates cost them test Score)."""
    assert make_config().features.covis.nested_rates == ["nn"]
    layout = on_smoke_caches(smoke_cached, tmp_path, *RATES[1:])
    _build(layout)
    data = FoldData(layout.cfg, layout, 0)
    rates = [i for i, c in enumerate(data.spec.dense_cols) if label_derived(c)]
    rows = np.sort(data.train_rows)
    variant = ShardedCache(layout.covis_train).take(rows, ["rates_0"])["rates_0"]
    np.testing.assert_array_equal(data.source.take(rows)["dense"][:, rates], variant)

    read: dict[str, bool] = {}
    for module, family in ((gbdt_train, "gbdt"), (catboost_train, "catboost")):

        def spy(cache, fold, *, nested, family=family):
            read[family] = nested
            return fold_dense(cache, fold, nested=nested)

        monkeypatch.setattr(module, "fold_dense", spy)
        steps.train_fold(run_context(layout), family, 0)
    assert read == {"gbdt": False, "catboost": False}


def test_nested_rates_names_registered_families():
    with pytest.raises(ConfigError, match=r"features.covis.nested_rates: unknown model family 'lgbm'"):
        registry.check(make_config("features.covis.nested_rates=[nn, lgbm]"))
    with pytest.raises(ConfigError, match=r"nested_rates is now the list of families .*\[\] for none"):
        make_config("features.covis.nested_rates=true")
