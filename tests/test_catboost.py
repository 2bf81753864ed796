"""The CatBoost family: out-of-fold discipline, native categoricals, early stopping, test prediction,
refit, atomic artifacts and bad parameters refused before work."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import make_config, run_context

from toss_core import steps
from toss_core.artifacts.fold import SELECTED
from toss_core.catboost import train as ctrain
from toss_core.catboost.paths import checkpoint_path
from toss_core.config import ConfigError
from toss_core.data.folds import load_folds
from toss_core.data.reader import ShardedCache
from toss_core.layout import FULL, Layout
from toss_core.util.errors import ArtifactError


def _layout(smoke_cached: Layout, root: Path, *overrides: str) -> Layout:
    """A run under `root` that reads the shared (read-only) smoke caches, CatBoost kept small."""
    cfg = make_config(
        f"data.cache_dir={smoke_cached.cache_dir}",
        f"data.train_path={smoke_cached.train_path}",
        f"data.test_path={smoke_cached.test_path}",
        "families=[catboost]",
        "catboost.iterations=60",
        "catboost.early_stopping_rounds=15",
        "catboost.learning_rate=0.2",
        "catboost.depth=4",
        "runtime.num_threads=1",
        *overrides,
    )
    return Layout(cfg, root=root)


@pytest.fixture(scope="module")
def trained(smoke_cached: Layout, tmp_path_factory: pytest.TempPathFactory) -> tuple[Layout, dict]:
    """Fold 0 trained once with co-visitation features, recording the rows and labels CatBoost saw."""
    layout = _layout(smoke_cached, tmp_path_factory.mktemp("catboost"))
    steps.assign_folds(run_context(layout))
    steps.build_covis(run_context(layout))
    seen: dict = {"pools": []}
    real_pool = ctrain.cache_pool

    def recording_pool(plan, cache, rows, dense, labels):
        seen["pools"].append((np.array(rows), np.array(labels)))
        return real_pool(plan, cache, rows, dense, labels)

    mp = pytest.MonkeyPatch()
    mp.setattr(ctrain, "cache_pool", recording_pool)
    try:
        seen["result"] = steps.train_fold(run_context(layout), "catboost", 0)
    finally:
        mp.undo()
    return layout, seen


def test_oof_rows_are_never_trained_on_and_the_categoricals_are_native(trained) -> None:
    layout, seen = trained
    folds = load_folds(layout)
    labels = ShardedCache(layout.train_cache).read_field("label")
    (train_rows, train_labels), (valid_rows, _) = seen["pools"]
    np.testing.assert_array_equal(train_rows, np.flatnonzero(folds != 0))
    np.testing.assert_array_equal(valid_rows, np.flatnonzero(folds == 0))
    np.testing.assert_array_equal(train_labels, labels[folds != 0])  # only the training rows' labels
    meta = ctrain.load_sidecar(layout, 0)
    plan, spec = meta["plan"], ShardedCache(layout.train_cache).spec
    assert plan["native_cols"] == list(spec.cat_cols) and plan["id_cols"] == []  # ids as cat_features
    assert plan["dense_cols"] and meta["covis_fingerprint"]  # co-visitation features as numerics
    # but not the click rates: out of the training row's fold, they still hold the validation fold's labels
    assert not [c for c in plan["dense_cols"] if c.startswith(("target_rate", "id_rate"))]
    assert [c for c in plan["dense_source"] if c.startswith("id_rate")]
    with np.load(layout.oof_path(0, "catboost")) as z:
        np.testing.assert_array_equal(z["index"], np.flatnonzero(folds == 0))
        np.testing.assert_array_equal(z["label"], labels[folds == 0])
        assert np.isfinite(z["logit"]).all() and z["logit"].std() > 0


def test_early_stopping_selects_and_records_the_iteration(trained) -> None:
    layout, seen = trained
    result, meta = seen["result"], ctrain.load_sidecar(layout, 0)
    assert 1 <= result.best_epoch <= 60 and result.metrics[SELECTED] == meta["best_iteration"]
    assert meta["params"]["thread_count"] == 1 and meta["params"]["task_type"] == "CPU"
    assert meta["params"]["loss_function"] == "Logloss" and "class_weights" not in meta["params"]
    assert result.checkpoint == checkpoint_path(layout, 0) and result.checkpoint.is_file()
    assert 0 < result.metrics["Score_cal"] < 1 and result.prior_score > 0


def test_predict_test_is_deterministic_and_names_the_model(trained, tmp_path: Path) -> None:
    layout, _ = trained
    first = steps.predict_test(run_context(layout), "catboost", 0)
    with np.load(first.path) as npz, np.load(layout.oof_path(0, "catboost")) as oof:
        logits = npz["logit"]
        assert json.loads(str(npz["lineage"]))["model"] == json.loads(str(oof["lineage"]))["model"]
    assert logits.shape == (ShardedCache(layout.test_cache).n_rows,) and np.isfinite(logits).all()
    again = steps.predict_test(run_context(layout), "catboost", 0)
    with np.load(again.path) as npz:
        np.testing.assert_array_equal(npz["logit"], logits)

    other = Layout(layout.cfg, root=tmp_path)  # the run copied, its sidecar naming another cache
    shutil.copytree(layout.root, tmp_path, dirs_exist_ok=True)
    sidecar = checkpoint_path(other, 0).with_suffix(".json")
    sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), "cache_fingerprint": "elsewhere"}))
    with pytest.raises(ArtifactError, match="retrain"):
        steps.predict_test(run_context(other), "catboost", 0)
    with pytest.raises(ArtifactError, match=r"run `toss train --family catboost --fold 1`"):
        steps.predict_test(run_context(other), "catboost", 1)


@pytest.mark.parametrize("nested", [False, True], ids=["plain_rates", "nested_rates"])
def test_a_run_whose_co_visitation_columns_are_all_click_rates_predicts(
    smoke_cached: Layout, tmp_path, nested: bool
) -> None:
    """Frappe's case: no sequence, so the co-visitation cache holds id_rate columns only. Plain, CatBoost
    reads none of them (they hold the validation fold's labels) and its test prediction must not ask for
    them; nested per fold model (features.covis.nested_rates) it reads them, through the fold's variant."""
    readers = "[catboost]" if nested else "[nn]"  # the network's variants are written but not CatBoost's
    layout = _layout(
        smoke_cached, tmp_path, "features.covis.stats=[id_rate]", f"features.covis.nested_rates={readers}"
    )
    steps.assign_folds(run_context(layout))
    steps.build_covis(run_context(layout))
    steps.train_fold(run_context(layout), "catboost", 0)
    plan = ctrain.load_sidecar(layout, 0)["plan"]
    assert plan["dense_source"] and all(c.startswith("id_rate") for c in plan["dense_source"])
    assert plan["dense_cols"] == (plan["dense_source"] if nested else [])
    assert "rates_0" in ShardedCache(layout.covis_train).fields
    predicted = steps.predict_test(run_context(layout), "catboost", 0)
    assert predicted.n_rows == ShardedCache(layout.test_cache).n_rows


def test_refit_trains_for_the_selected_iterations_on_every_row(trained, tmp_path: Path) -> None:
    layout, seen = trained
    shutil.copytree(layout.root, tmp_path, dirs_exist_ok=True)
    other = Layout(layout.cfg, root=tmp_path)
    steps.train_fold(run_context(other), "catboost", 1)
    result = steps.refit(run_context(other), "catboost")
    sizes = [seen["result"].best_epoch, ctrain.load_sidecar(other, 1)["best_iteration"]]
    assert result.fold_sizes == sizes and result.size == max(1, round(sum(sizes) / 2))
    meta = ctrain.load_sidecar(other, FULL)
    assert (
        meta["params"]["iterations"] == result.size
        and meta["n_train"] == ShardedCache(other.train_cache).n_rows
    )
    assert result.test_logits.is_file() and checkpoint_path(other, FULL).is_file()


def test_a_failed_training_leaves_no_model_and_no_oof(
    smoke_cached: Layout, tmp_path: Path, monkeypatch
) -> None:
    """Interrupted mid-fit: nothing half-written looks like a trained fold, and a rerun trains it."""
    layout = _layout(smoke_cached, tmp_path, "features.covis.enabled=false")
    steps.assign_folds(run_context(layout))

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(ctrain, "_fit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        steps.train_fold(run_context(layout), "catboost", 0)
    left = sorted(p.name for p in layout.family_dir("catboost").rglob("*") if p.suffix != ".lock")
    assert left == [], left  # only the fold's writer lock stays
    monkeypatch.undo()
    assert steps.train_fold(run_context(layout), "catboost", 0).checkpoint.is_file()


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("catboost.params={no_such_param: 1}", "catboost.params: CatBoost refuses these parameters"),
        ("catboost.depth=0", "catboost.depth"),
        ("catboost.learning_rate=1.5", "catboost.learning_rate"),
        ("catboost.iterations=0", "catboost.iterations"),
        ("catboost.depth=deep", "catboost.depth"),
    ],
)
def test_bad_catboost_settings_fail_before_any_matrix_is_built(
    smoke_cached: Layout, tmp_path: Path, monkeypatch, override: str, fragment: str
) -> None:
    def never(*args, **kwargs):
        raise AssertionError("a matrix was built before the config was checked")

    monkeypatch.setattr(ctrain, "cache_pool", never)
    with pytest.raises(ConfigError) as err:
        layout = _layout(smoke_cached, tmp_path, override, "features.covis.enabled=false")
        steps.assign_folds(run_context(layout))
        steps.train_fold(run_context(layout), "catboost", 0)
    assert fragment in str(err.value)
