"""cv.refit = full: each family trained once on every training row, and the ensemble predicts with it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import make_config, run_context

from toss_core import steps
from toss_core.artifacts.fold import read_test_logits, selected_sizes
from toss_core.data.reader import ShardedCache
from toss_core.gbdt.paths import checkpoint_path as gbdt_checkpoint
from toss_core.layout import FULL, Layout
from toss_core.scoring.calibration import Calibrator
from toss_core.train.paths import checkpoint_path
from toss_core.util.errors import ArtifactError


@pytest.fixture(scope="module")
def refitted(smoke_cached: Layout, tmp_path_factory: pytest.TempPathFactory) -> Layout:
    root = tmp_path_factory.mktemp("refit")
    shutil.copytree(smoke_cached.root / "data", root / "data")
    cfg = make_config("families=[nn,gbdt]", "cv.refit=full", "train.epochs=2", "gbdt.num_boost_round=30")
    layout = Layout(cfg, root=root)
    steps.prepare(run_context(layout))
    for family in ("nn", "gbdt"):
        for fold in range(cfg.cv.n_splits):
            steps.train_fold(run_context(layout), family, fold)
            steps.predict_test(run_context(layout), family, fold)
    return layout


@pytest.mark.parametrize("family", ["nn", "gbdt"])
def test_refit_trains_every_row_for_what_the_folds_selected(refitted: Layout, family: str) -> None:
    cfg, layout = refitted.cfg, refitted
    sizes = selected_sizes(layout, family, cfg.cv.n_splits)
    result = steps.refit(run_context(layout), family)
    assert result.fold_sizes == sizes and result.size == max(1, round(sum(sizes) / len(sizes)))
    n_rows = ShardedCache(layout.train_cache).n_rows
    if family == "gbdt":
        sidecar = json.loads(gbdt_checkpoint(layout, FULL).with_suffix(".json").read_text())
        assert sidecar["n_train"] == n_rows and sidecar["best_iteration"] == result.size
    else:
        import torch

        ckpt = torch.load(checkpoint_path(layout, FULL), weights_only=True)
        assert ckpt["fold"] == FULL and ckpt["best_epoch"] == result.size - 1
    logits, lineage = read_test_logits(layout, FULL, family)
    assert lineage.fold == FULL and logits.shape == (cfg.data.synthetic.test_rows,)
    assert np.isfinite(logits).all()


def test_the_ensemble_predicts_with_the_refit_models(refitted: Layout) -> None:
    layout = refitted
    for family in ("nn", "gbdt"):
        if not layout.test_logits_path(FULL, family).is_file():
            steps.refit(run_context(layout), family)
    result = steps.ensemble(run_context(layout))
    ensemble = json.loads(layout.ensemble_path.read_text())
    assert ensemble["refit"] == "full"
    shares = np.array([ensemble["family_weights"][f] for f in ("nn", "gbdt")])
    refit = np.stack([read_test_logits(layout, FULL, f)[0] for f in ("nn", "gbdt")])
    expected = Calibrator.from_dict(ensemble["calibrator"]).predict_proba(shares @ refit)
    np.testing.assert_allclose(np.load(layout.test_pred_path), expected, rtol=1e-6)
    assert result.oof_calibrated["Score"] > 0


def test_a_missing_refit_names_the_command(refitted: Layout, tmp_path: Path) -> None:
    cfg = refitted.cfg
    other = Layout(cfg, root=tmp_path)
    shutil.copytree(refitted.root, tmp_path, dirs_exist_ok=True)
    for family in ("nn", "gbdt"):
        other.test_logits_path(FULL, family).unlink(missing_ok=True)
    with pytest.raises(
        ArtifactError, match=r"test_logits_fold_full.npz is missing: run `toss refit --family nn` first"
    ):
        steps.ensemble(run_context(other))


def test_the_refit_is_no_fold_to_train(refitted: Layout) -> None:
    """steps.train_fold trains folds 0..n_splits-1 only; the model on every row comes from steps.refit."""
    with pytest.raises(ValueError, match=r"fold full is outside 0\.\.1"):
        steps.train_fold(run_context(refitted), "nn", FULL)
