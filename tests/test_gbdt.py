"""LightGBM family: id encodings stay out of fold, OOF rows are never trained on, artifacts are checked."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import make_config, run_context

from toss_core.artifacts.fold import SELECTED
from toss_core.data.folds import load_folds
from toss_core.gbdt.paths import checkpoint_path as gbdt_checkpoint
from toss_core.layout import Layout
from toss_core.scoring.fold_metrics import fold_metrics
from toss_core.tabular.encoding import IdEncoder, frequency_values, oof_target_matrix, oof_target_values
from toss_core.util.errors import ArtifactError


def test_frequency_encoding_values() -> None:
    ids = np.array([1, 1, 2, 3, 3, 3, 0, 1])
    enc = IdEncoder.fit("frequency", ["ad"], ids[:, None], [6], np.zeros(8, np.float32), 10.0)
    got = enc.transform(np.array([[1], [3], [2], [5], [0]]))
    np.testing.assert_allclose(got[:, 0], [3 / 8, 3 / 8, 1 / 8, 0.0, 1 / 8])
    assert enc.feature_names == ["ad__freq"]
    np.testing.assert_allclose(frequency_values(np.array([4]), np.array([0, 0, 0, 0, 2.0]), 4), [0.5])


def test_target_encoding_full_statistics_for_new_rows() -> None:
    ids = np.array([[1], [1], [1], [2]])
    labels = np.array([1, 1, 0, 0], np.float32)
    enc = IdEncoder.fit("target", ["ad"], ids, [4], labels, smoothing=2.0)
    got = enc.transform(np.array([[1], [3]]))
    prior = 0.5
    np.testing.assert_allclose(got[:, 0], [3 / 4, 0.0])  # frequency
    # smoothed rate; an unseen id gets the prior
    np.testing.assert_allclose(got[:, 1], [(2 + 2 * prior) / (3 + 2), prior])


def test_target_encoding_is_out_of_fold() -> None:
    """A unique id whose only row is a click must be encoded with the prior in its own inner fold."""
    rng = np.random.default_rng(0)
    n = 2000
    ids = rng.integers(1, 20, n)
    labels = (rng.random(n) < 0.05).astype(np.float32)
    ids[123], labels[123] = 99, 1.0  # the leak probe: seen once, clicked
    oof = oof_target_values(ids, labels, 100, n_inner=5, smoothing=10.0, seed=3)
    assert abs(oof[123] - labels.mean()) < 0.01
    full = IdEncoder.fit("target", ["ad"], ids[:, None], [100], labels, 10.0).transform(np.array([[99]]))
    assert full[0, 1] > oof[123] + 0.03  # the in-fold statistic would have leaked the click
    # A frequent id still gets its real rate out of fold.
    ids2 = np.where(rng.random(n) < 0.5, 7, 8)
    labels2 = np.where(ids2 == 7, rng.random(n) < 0.3, rng.random(n) < 0.01).astype(np.float32)
    m = oof_target_matrix(ids2[:, None], labels2, [10], n_inner=4, smoothing=5.0, seed=1)
    assert abs(m[ids2 == 7, 0].mean() - 0.3) < 0.05 and m[ids2 == 8, 0].mean() < 0.05


def test_encoder_roundtrip(tmp_path: Path) -> None:
    ids = np.array([[1, 2], [2, 2], [1, 0]])
    enc = IdEncoder.fit("target", ["a", "b"], ids, [3, 4], np.array([1, 0, 0], np.float32), 1.0)
    enc.save(tmp_path / "enc.npz")
    back = IdEncoder.load(tmp_path / "enc.npz", json.loads(json.dumps(enc.describe())))
    np.testing.assert_array_equal(back.transform(ids), enc.transform(ids))
    with pytest.raises(ArtifactError, match="missing"):
        IdEncoder.load(tmp_path / "nope.npz", enc.describe())


def _gbdt_layout(smoke_cached: Layout, tmp_path: Path, *overrides: str) -> Layout:
    """A run under tmp_path that reads the shared (read-only) smoke caches."""
    cfg = make_config(
        f"data.cache_dir={smoke_cached.cache_dir}",
        f"data.train_path={smoke_cached.train_path}",
        f"data.test_path={smoke_cached.test_path}",
        "families=[nn,gbdt]",
        "gbdt.num_boost_round=40",
        "gbdt.early_stopping_rounds=10",
        "gbdt.params={num_leaves: 7, min_data_in_leaf: 20, learning_rate: 0.1}",
        "runtime.num_threads=1",
        *overrides,
    )
    return Layout(cfg, root=tmp_path)


@pytest.fixture(scope="module")
def trained(smoke_cached: Layout, tmp_path_factory: pytest.TempPathFactory) -> tuple[Layout, dict]:
    """Fold 0 trained once (target encoding, no covis), recording the rows each matrix was built from."""
    import lightgbm as lgb

    from toss_core import steps
    from toss_core.gbdt import dataset as gdataset
    from toss_core.gbdt import train as gtrain

    layout = _gbdt_layout(smoke_cached, tmp_path_factory.mktemp("gbdt"), "features.covis.enabled=false")
    steps.assign_folds(run_context(layout))
    seen: dict = {"rows": [], "labels": []}
    real_build, real_dataset = gtrain.build_matrix, lgb.Dataset

    def recording_build(plan, cache, rows, *args, **kwargs):
        seen["rows"].append(np.array(rows))
        return real_build(plan, cache, rows, *args, **kwargs)

    def recording_dataset(data, label=None, *args, **kwargs):
        seen["labels"].append(np.array(label))
        return real_dataset(data, label, *args, **kwargs)

    mp = pytest.MonkeyPatch()
    mp.setattr(gtrain, "build_matrix", recording_build)
    mp.setattr(gdataset, "build_matrix", recording_build)  # the training rows (fewer than the bin sample)
    mp.setattr(lgb, "Dataset", recording_dataset)
    try:
        seen["result"] = steps.train_fold(run_context(layout), "gbdt", 0)
    finally:
        mp.undo()
    return layout, seen


def test_oof_rows_are_never_trained_on(trained: tuple[Layout, dict]) -> None:
    from toss_core.data.reader import ShardedCache

    layout, seen = trained
    folds = load_folds(layout)
    labels = ShardedCache(layout.train_cache).read_field("label")
    train_rows, valid_rows = seen["rows"]
    np.testing.assert_array_equal(train_rows, np.flatnonzero(folds != 0))
    np.testing.assert_array_equal(valid_rows, np.flatnonzero(folds == 0))
    np.testing.assert_array_equal(seen["labels"][0], labels[train_rows])  # the training Dataset's labels
    with np.load(layout.oof_path(0, "gbdt")) as z:
        assert z["index"].dtype == np.int64 and z["logit"].dtype == np.float32
        np.testing.assert_array_equal(z["index"], valid_rows)
        np.testing.assert_array_equal(z["label"], labels[valid_rows])
        assert np.isfinite(z["logit"]).all() and z["logit"].std() > 0


def test_a_streamed_training_dataset_matches_the_matrix_built_one(trained: tuple[Layout, dict]) -> None:
    """Rows pushed block by block through given bins make the same Dataset as the float matrix; with more
    rows than LightGBM's bin sample, the bins come from a sample's design rows and every row is pushed."""
    import lightgbm as lgb

    from toss_core.data.reader import ShardedCache
    from toss_core.gbdt import dataset as gdataset
    from toss_core.tabular.design import DesignPlan, build_matrix

    layout, _ = trained
    cache = ShardedCache(layout.train_cache)
    plan = DesignPlan.build(cache.spec, cache.fields, [], [])  # every categorical native
    rows = np.flatnonzero(load_folds(layout) != 0)
    labels = cache.read_field("label").astype(np.float32)[rows]
    params = {"objective": "binary", "verbose": -1, "num_threads": 1, "seed": 0, "deterministic": True}
    params |= {"min_data_in_leaf": 20, "num_leaves": 7}
    names, cats = plan.feature_names, plan.categorical_features
    matrix = build_matrix(plan, cache, rows, None)

    def dataset(data, **kw):
        return lgb.Dataset(data, labels, feature_name=names, categorical_feature=cats, params=params, **kw)

    def raw_scores(ds) -> np.ndarray:
        return lgb.train(params, ds, num_boost_round=15).predict(matrix, raw_score=True)

    mp = pytest.MonkeyPatch()
    mp.setattr(gdataset, "BLOCK_ROWS", 300)  # several pushed blocks
    try:
        bins = dataset(matrix).construct()
        pushed = dataset(gdataset._design_rows(plan, cache, rows, None, None, None), reference=bins)
        np.testing.assert_array_equal(raw_scores(pushed), raw_scores(dataset(matrix)))
        sampled = gdataset.training_dataset(
            plan, {**params, "bin_construct_sample_cnt": 500}, cache, rows, labels, None, None, None, seed=0
        )
    finally:
        mp.undo()
    assert sampled.num_data() == len(rows) and sampled.num_feature() == len(names)
    np.testing.assert_array_equal(sampled.get_label(), labels)
    assert fold_metrics(labels, raw_scores(sampled), float(labels.mean()))["AUC"] > 0.6


def test_sidecar_and_result(trained: tuple[Layout, dict]) -> None:
    from toss_core.data.reader import ShardedCache

    layout, seen = trained
    result = seen["result"]
    assert result.family == "gbdt" and result.checkpoint == gbdt_checkpoint(layout, 0)
    assert result.checkpoint.read_text().startswith("tree")
    meta = json.loads(result.checkpoint.with_suffix(".json").read_text())
    assert meta["cache_fingerprint"] == ShardedCache(layout.train_cache).fingerprint
    assert meta["encoder"]["method"] == "target" and meta["encoder"]["columns"]
    assert set(meta["metrics"]) >= {"AUC", "AP", "WLL", "Score"} and meta["params"]["seed"] == layout.cfg.seed
    labels = ShardedCache(layout.train_cache).read_field("label")
    train_prior = float(labels[load_folds(layout) != 0].mean())
    with np.load(layout.oof_path(0, "gbdt")) as z:
        # the same prior-shifted metrics as the neural folds, so both compare with the prior-only Score
        scores = {k: v for k, v in result.metrics.items() if k != SELECTED}
        assert scores == pytest.approx(fold_metrics(z["label"], z["logit"], train_prior))
        assert json.loads(str(z["metrics"])) == pytest.approx(result.metrics)
    assert result.metrics[SELECTED] == meta["best_iteration"] == result.best_epoch  # what a refit trains


def test_predict_test_shape_and_fingerprint(trained: tuple[Layout, dict], tmp_path: Path) -> None:
    import shutil

    from toss_core.data.reader import ShardedCache
    from toss_core.gbdt.predict import predict_test

    layout, _ = trained
    logits, lineage = predict_test(layout.cfg, layout, 0)
    assert logits.shape == (ShardedCache(layout.test_cache).n_rows,) and np.isfinite(logits).all()
    np.testing.assert_array_equal(logits, predict_test(layout.cfg, layout, 0)[0])
    with np.load(layout.oof_path(0, "gbdt")) as npz:  # the OOF and the test logits name one model
        assert json.loads(str(npz["lineage"]))["model"] == lineage.model

    other = Layout(layout.cfg, root=tmp_path)  # same caches, a copy of the run with a foreign fingerprint
    shutil.copytree(layout.family_dir("gbdt"), other.family_dir("gbdt"))
    sidecar = gbdt_checkpoint(other, 0).with_suffix(".json")
    meta = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps({**meta, "cache_fingerprint": "not-this-cache"}))
    with pytest.raises(ArtifactError, match="retrain"):
        predict_test(other.cfg, other, 0)
    gbdt_checkpoint(other, 0).unlink()
    with pytest.raises(ArtifactError, match="missing"):
        predict_test(other.cfg, other, 0)
    with pytest.raises(ArtifactError, match="missing"):
        predict_test(other.cfg, other, 1)


@pytest.mark.parametrize("encoding", ["native", "frequency"])
def test_other_encodings_train_and_predict(smoke_cached: Layout, tmp_path: Path, encoding: str) -> None:
    from toss_core import steps
    from toss_core.gbdt.predict import load_sidecar, predict_test

    layout = _gbdt_layout(
        smoke_cached, tmp_path, "features.covis.enabled=false", f"gbdt.id_encoding={encoding}"
    )
    steps.assign_folds(run_context(layout))
    steps.train_fold(run_context(layout), "gbdt", 1)
    meta = load_sidecar(layout, 1)
    plan = meta["plan"]
    if encoding == "native":
        assert meta["encoder"] is None and plan["id_cols"] == [] and "l_feat_14" in plan["native_cols"]
    else:
        assert "l_feat_14" in plan["id_cols"] and plan["id_encoder_features"][0].endswith("__freq")
    assert np.isfinite(predict_test(layout.cfg, layout, 1)[0]).all()


def test_covis_features_enter_the_design(smoke_cached: Layout, tmp_path: Path) -> None:
    from toss_core import steps
    from toss_core.gbdt.predict import load_sidecar, predict_test

    layout = _gbdt_layout(smoke_cached, tmp_path)
    steps.assign_folds(run_context(layout))
    covis = steps.build_covis(run_context(layout))
    steps.train_fold(run_context(layout), "gbdt", 0)
    meta = load_sidecar(layout, 0)
    assert meta["plan"]["dense_cols"] == list(covis.feature_names) and meta["covis_fingerprint"]
    assert predict_test(layout.cfg, layout, 0)[0].shape == (layout.cfg.data.synthetic.test_rows,)


def test_auto_id_encoding_decides_per_column_by_the_evidence_of_its_values() -> None:
    """gbdt.id_encoding auto: an id column whose values average enough minority-class rows stays a native
    categorical (MovieLens' users and movies), a rarer one is target-encoded (the Toss ad ids)."""
    from toss_core.config import GBDTConfig
    from toss_core.data.evidence import minority_events_per_value
    from toss_core.gbdt.ids import choose_ids
    from toss_core.spec import FeatureSpec
    from toss_core.tabular.design import DesignPlan

    spec = FeatureSpec(["hour", "user", "ad"], [25, 1_000, 5_000], [], [], None, 0, 0)
    evidence = (100_000, 0.4)  # 40k minority rows: 40 per user, 8 per ad
    assert minority_events_per_value(*evidence, 1_000) == pytest.approx(40.0)
    plan = DesignPlan.build(
        spec, ["cat"], [], *choose_ids(spec, GBDTConfig(native_min_events=10.0), evidence)
    )
    assert plan.native_cols == ["hour", "user"] and plan.id_cols == ["ad"] and plan.id_method == "target"
    assert plan.id_encoder_features == ["ad__freq", "ad__te"]
    rare, _ = choose_ids(spec, GBDTConfig(native_min_events=10.0), (100_000, 0.02))
    assert rare == ["user", "ad"]  # a 2% click rate: 2 clicks per user value
    forced, _ = choose_ids(spec, GBDTConfig(id_encoding="target"), evidence)
    assert forced == ["user", "ad"]


def test_lightgbm_parameters_follow_the_minority_rows_a_fold_trains_on() -> None:
    from toss_core.gbdt.params import RICH_EVENTS, RICH_PARAMS, SPARSE_PARAMS, gbdt_params

    cfg = make_config()
    few = gbdt_params(cfg, n_rows=100_000, pos_rate=0.02)  # 2,000 clicks
    many = gbdt_params(cfg, n_rows=50_000, pos_rate=0.57)  # 21,500 rows of the rarer class
    assert {k: few[k] for k in SPARSE_PARAMS} == SPARSE_PARAMS
    assert {k: many[k] for k in RICH_PARAMS} == RICH_PARAMS
    edge = gbdt_params(cfg, n_rows=RICH_EVENTS * 10, pos_rate=0.1)
    assert edge["num_leaves"] == RICH_PARAMS["num_leaves"]
    mine = gbdt_params(make_config("gbdt.params={num_leaves: 7}"), n_rows=50_000, pos_rate=0.5)
    assert mine["num_leaves"] == 7 and mine["seed"] == cfg.seed  # the config's own params win
