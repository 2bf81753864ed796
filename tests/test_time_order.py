"""Folds for a test set later in time (cv.order_key, cv.order_group), the stacker and calibrators learning
on the latest fold, and LightGBM's id encoding decided on that fold (issue 20, items 6 and 3)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import make_config, on_smoke_caches, run_context

from toss_core import steps
from toss_core.config import ConfigError
from toss_core.data.folds import (
    assign_folds,
    fold_method,
    group_time_rank,
    late_mask,
    latest_folds,
    load_folds,
    stacking_rows,
)
from toss_core.layout import Layout
from toss_core.scoring.calibration import fit_calibrator
from toss_core.util.errors import DataError


def test_late_mask_takes_the_latest_share_and_keeps_tied_times_together() -> None:
    t = np.array([5, 1, 9, 3, 9, 7, 2, 8, 6, 4], dtype=float)
    np.testing.assert_array_equal(np.flatnonzero(late_mask(t, 0.3)), [2, 4, 7])
    tied = np.array([1.0, 1.0, 2.0, 2.0, 2.0, 2.0])
    assert late_mask(tied, 0.2).tolist() == [False, False, True, True, True, True]
    assert late_mask(np.ones(4), 0.1).all()  # one value: it is the latest


def test_group_time_rank_orders_rows_within_their_own_group() -> None:
    groups = np.array([0, 1, 0, 1, 0, 1])
    times = np.array([30.0, 1.0, 10.0, 3.0, 20.0, 2.0])
    np.testing.assert_allclose(group_time_rank(groups, times), np.array([5, 1, 1, 5, 3, 3]) / 6)


def test_latest_folds_put_the_latest_rows_last_and_deal_the_rest() -> None:
    rng = np.random.default_rng(0)
    t = rng.permutation(3000).astype(float)
    y = (rng.random(3000) < 0.2).astype(float)
    folds = latest_folds(t, y, 3, seed=0, stratify=True)
    assert t[folds == 2].min() > t[folds != 2].max()
    assert np.bincount(folds).tolist() == [1000, 1000, 1000]
    assert abs(y[folds == 0].sum() - y[folds == 1].sum()) <= 1  # stratified over the earlier rows
    assert np.corrcoef(t[folds != 2], folds[folds != 2])[0, 1] ** 2 < 0.01  # not ordered in time
    with pytest.raises(DataError, match="one time value"):
        latest_folds(np.ones(10), np.zeros(10), 3, 0, True)


def test_order_keys_select_the_method_and_conflicts_are_config_errors() -> None:
    assert fold_method(make_config("cv.order_key=hour")) == "latest"
    assert fold_method(make_config("cv.time_key=hour", "cv.order_group=gender")) == "time"
    with pytest.raises(ConfigError, match=r"cv\.order_key cannot be combined"):
        fold_method(make_config("cv.order_key=hour", "cv.time_key=hour"))
    with pytest.raises(ConfigError, match=r"cv\.order_group='gender' needs cv\.order_key or cv\.time_key"):
        fold_method(make_config("cv.order_group=gender"))


def test_stacking_rows_are_the_last_fold_only_when_folds_are_ordered_in_time() -> None:
    folds = np.array([0, 1, 2, 2, 1, 0])
    assert stacking_rows(make_config("cv.n_splits=3"), folds) is None
    for key in ("cv.order_key=hour", "cv.time_key=hour"):
        mask = stacking_rows(make_config("cv.n_splits=3", key), folds)
        assert mask.tolist() == [False, False, True, True, False, False]


def test_the_order_keys_join_the_fold_identity_only_when_set() -> None:
    """Saved folds and resumable network folds of configs without the keys keep their identity; setting
    one makes earlier assignments (and checkpoints trained on them) stale."""
    from toss_core.data.folds import FOLD_KEYS, fold_keys

    plain = make_config()
    assert fold_keys(plain) == FOLD_KEYS
    ordered = make_config("cv.order_key=hour")
    assert set(fold_keys(ordered)) - set(FOLD_KEYS) == {"cv.order_key", "cv.order_group"}
    assert plain.section_fingerprint(*fold_keys(plain)) != ordered.section_fingerprint(*fold_keys(ordered))


def test_each_groups_latest_rows_form_the_last_fold(smoke_cached: Layout, tmp_path: Path) -> None:
    layout = on_smoke_caches(smoke_cached, tmp_path, "cv.order_key=history_a_1", "cv.order_group=gender")
    result = assign_folds(layout.cfg, layout)
    folds = load_folds(layout)
    assert result.method == "latest"
    df = pl.read_parquet(layout.train_path, columns=["history_a_1", "gender"]).with_columns(
        fold=pl.Series(folds)
    )
    for _, part in df.group_by("gender"):
        last = part.filter(pl.col("fold") == 1)["history_a_1"].fill_null(-np.inf)
        rest = part.filter(pl.col("fold") == 0)["history_a_1"].fill_null(-np.inf)
        assert last.min() >= rest.max() and abs(last.len() - rest.len()) <= 1
    ungrouped = on_smoke_caches(smoke_cached, tmp_path, "cv.order_key=history_a_1")
    with pytest.raises(Exception, match="other inputs"):  # the group shapes the folds: a stale assignment
        load_folds(ungrouped)


def test_a_missing_order_column_is_named(smoke_cached: Layout, tmp_path: Path) -> None:
    layout = on_smoke_caches(smoke_cached, tmp_path, "cv.order_key=no_such_time")
    with pytest.raises(DataError, match=r"cv column\(s\) \['no_such_time'\] not found"):
        assign_folds(layout.cfg, layout)


@pytest.fixture(scope="module")
def ordered_run(smoke_cached: Layout, tmp_path_factory: pytest.TempPathFactory) -> Layout:
    """The smoke data with folds ordered by a numeric column, the LightGBM family, ensembled."""
    root = tmp_path_factory.mktemp("ordered")
    shutil.copytree(smoke_cached.root / "data", root / "data")
    cfg = make_config("families=[gbdt]", "cv.order_key=history_a_1", "gbdt.num_boost_round=20")
    layout = Layout(cfg, root=root)
    ctx = run_context(layout)
    steps.prepare(ctx)
    for fold in range(cfg.cv.n_splits):
        steps.train_fold(ctx, "gbdt", fold)
        steps.predict_test(ctx, "gbdt", fold)
    steps.ensemble(ctx)
    return layout


def test_the_calibrator_learns_on_the_latest_fold_only(ordered_run: Layout) -> None:
    from toss_core.artifacts.fold import load_family_oof
    from toss_core.data.reader import ShardedCache

    cfg, layout = ordered_run.cfg, ordered_run
    report = json.loads(layout.ensemble_path.read_text())
    assert report["fit_rows"] == "fold 1 (the latest rows)"
    oof = load_family_oof(layout, "gbdt", cfg.cv.n_splits, ShardedCache(layout.train_cache).n_rows)
    last = oof.fold == 1
    expected = fit_calibrator(cfg.calibration, oof.logit[last], oof.label[last])
    everywhere = fit_calibrator(cfg.calibration, oof.logit, oof.label)
    assert report["calibrator"]["b"] == pytest.approx(expected.b, abs=1e-9)
    assert abs(expected.b - everywhere.b) > 1e-6  # the test would not tell the two apart otherwise


def test_auto_id_encoding_is_decided_once_by_a_trial_on_the_latest_fold(
    smoke_cached: Layout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gbdt.id_encoding auto: ids with enough evidence go to a validation trial (native vs target) on the
    fold placed like the test; the choice is saved and every fold and the refit use it."""
    from toss_core.gbdt import train as gbdt_train
    from toss_core.gbdt.predict import load_sidecar

    shutil.copytree(smoke_cached.root / "data", tmp_path / "data")
    cfg = make_config(
        "families=[gbdt]",
        "cv.order_key=history_a_1",
        "gbdt.num_boost_round=10",
        "gbdt.native_min_events=1e-9",  # every id column has enough evidence: all go to the trial
        "features.covis.enabled=false",
    )
    layout = Layout(cfg, root=tmp_path)
    ctx = run_context(layout)
    steps.prepare(ctx)
    trained_folds: list[int] = []
    fit = gbdt_train._fit_fold

    def counted(c, lay, inp, fold):
        trained_folds.append(fold)
        return fit(c, lay, inp, fold)

    monkeypatch.setattr(gbdt_train, "_fit_fold", counted)
    for fold in range(cfg.cv.n_splits):
        steps.train_fold(ctx, "gbdt", fold)
    assert trained_folds == [1, 1, 0, 1]  # the trial on the latest fold (native, target), then the folds
    choice = json.loads((layout.family_dir("gbdt") / "id_choice.json").read_text())
    assert choice["identity"]["fold"] == 1 and set(choice["scores"]) == {"native", "target"}
    ids = load_sidecar(layout, 0)["plan"]["id_cols"]
    assert (ids != []) == (choice["choice"] == "target")
    assert load_sidecar(layout, 1)["plan"]["id_cols"] == ids


def test_five_folds_and_no_refit_are_the_defaults() -> None:
    """Issue 20 item 2: five folds beat three on two real sets and tie on synthetic ones; a refit never
    beat the five-fold ensemble (BENCHMARKS.md), so a config that names only columns gets 5 and none."""
    from toss_core.config import TossConfig, load_config
    from toss_core.config.pipeline import CVConfig

    assert CVConfig().n_splits == 5 and CVConfig().refit == "none"
    assert TossConfig().cv.n_splits == 5
    for name in ("frappe.yaml", "movielens.yaml"):  # the public sets' configs name columns, not folds
        assert load_config(Path(__file__).resolve().parents[1] / "cfgs" / name, []).cv.n_splits == 5
