"""Ensemble methods on a hand-computed example, stacking weights, and the ensemble step's errors."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_config, run_context

from toss_core import steps
from toss_core.config import CalibrationConfig, EnsembleConfig
from toss_core.layout import Layout
from toss_core.post.ensemble import build_ensemble
from toss_core.post.ensemble_families import calibrated_score, fit_family_weights
from toss_core.post.ensemble_folds import METHODS, combine, fold_weights, score_weights
from toss_core.util.errors import ArtifactError

L = np.log(3.0)  # σ(L) = 3/4, σ(−L) = 1/4, σ(5L) = 243/244
# 3 members × 4 rows of logits
Z = np.array(
    [
        [0.0, L, -L, 0.0],  # p = [.5, .75, .25, .5]
        [L, L, 0.0, -L],  # p = [.75, .75, .5, .25]
        [-L, 0.0, L, 5 * L],  # p = [.25, .5, .75, .99590]
    ]
)


def test_logit_mean():
    # column means of the logits: [0, 2L/3, 0, 4L/3]
    np.testing.assert_allclose(combine(Z, "logit_mean"), [0.0, 2 * L / 3, 0.0, 4 * L / 3], atol=1e-12)


def test_mean_of_probabilities():
    # mean p = [.5, 2/3, .5, (.5 + .25 + .99590)/3 = .58197] → logit = [0, ln 2, 0, 0.33085]
    np.testing.assert_allclose(combine(Z, "mean"), [0.0, np.log(2.0), 0.0, 0.330854], atol=1e-6)


def test_geometric_mean_of_probabilities():
    # (.5·.75·.25)^(1/3) = (3/32)^(1/3) = .45428 → logit −0.18339;
    # (.75·.75·.5)^(1/3) = .65519 → 0.64191; row 3: (.5·.25·.99590)^(1/3) = .49932 → −0.00274
    np.testing.assert_allclose(
        combine(Z, "geom_mean"), [-0.183392, 0.641911, -0.183392, -0.002736], atol=1e-6
    )


def test_median_and_trim_mean():
    # medians of [0, L, −L], [L, L, 0], [−L, 0, L], [0, −L, 5L] = [0, L, 0, 0]
    np.testing.assert_allclose(combine(Z, "median"), [0.0, L, 0.0, 0.0], atol=1e-12)
    # trim_ratio 0.34 drops floor(0.34·3) = 1 member at each end: the median of 3
    np.testing.assert_allclose(combine(Z, "trim_mean", trim_ratio=0.34), [0.0, L, 0.0, 0.0], atol=1e-12)
    # trim_ratio 0.1 drops none: the plain mean
    np.testing.assert_allclose(combine(Z, "trim_mean", trim_ratio=0.1), combine(Z, "logit_mean"), atol=1e-12)


def test_rank_average_keeps_its_order_on_the_logit_scale():
    # ranks per member (ties averaged): [2.5, 4, 1, 2.5], [3.5, 3.5, 2, 1], [1, 2, 3, 4]
    # mean rank = [2.33, 3.17, 2.00, 2.50] → order: row 2 < row 0 < row 3 < row 1
    # sorted logit_mean values [0, 0, 2L/3, 4L/3] assigned in that order → [0, 4L/3, 0, 2L/3]
    out = combine(Z, "rank_avg")
    np.testing.assert_allclose(out, [0.0, 4 * L / 3, 0.0, 2 * L / 3], atol=1e-12)
    np.testing.assert_allclose(np.sort(out), np.sort(combine(Z, "logit_mean")), atol=1e-12)


def test_rank_average_gives_tied_rows_one_value():
    # member 2 reverses member 1: every row has mean rank 2 → all rows share the mean logit
    z = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    np.testing.assert_allclose(combine(z, "rank_avg"), [2.0, 2.0, 2.0])


def test_weighted_with_explicit_and_score_weights():
    # weights [2, 1, 1] → [.5, .25, .25]: row 1 = L/2 + L/4 + 0 = 3L/4, row 2 = −L/2 + L/4 = −L/4,
    # row 3 = −L/4 + 5L/4 = L
    np.testing.assert_allclose(combine(Z, "weighted", [2, 1, 1]), [0.0, 0.75 * L, -0.25 * L, L], atol=1e-12)
    # scores .30/.31/.29 at T = 0.01 → w ∝ [e^30, e^31, e^29] ∝ [1, e, 1/e]
    expected = np.array([1.0, np.e, 1.0 / np.e]) / (1.0 + np.e + 1.0 / np.e)
    np.testing.assert_allclose(score_weights([0.30, 0.31, 0.29], 0.01), expected)
    cfg = EnsembleConfig(method="weighted", val_weight_temperature=0.01)
    np.testing.assert_allclose(fold_weights(cfg, [0.30, 0.31, 0.29]), expected)
    assert fold_weights(EnsembleConfig(method="median"), [0.3, 0.3, 0.3]) is None


def test_method_errors():
    with pytest.raises(ValueError, match="needs weights"):
        combine(Z, "weighted")
    with pytest.raises(ValueError, match="takes no weights"):
        combine(Z, "median", weights=[1, 1, 1])
    with pytest.raises(ValueError, match="unknown ensemble method"):
        combine(Z, "vote")
    with pytest.raises(ValueError, match="non-negative"):
        combine(Z, "logit_mean", weights=[1, -1, 1])
    assert set(METHODS) == set(EnsembleConfig.model_fields["method"].annotation.__args__)


def _two_families(n: int = 20_000, seed: int = 0):
    """Two informative families with independent errors, the first on a 3× larger logit scale."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(0.0, 1.5, n)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-(signal - 3.0)))).astype(np.float32)
    a = 3.0 * (signal + rng.normal(0.0, 1.0, n)) - 9.0
    b = signal + rng.normal(0.0, 1.0, n) - 3.0
    return np.stack([a, b]), y, rng.integers(0, 3, n)


def test_stacker_weights_from_cross_validation_beat_each_family_and_the_plain_mean():
    z, y, folds = _two_families()
    cal = CalibrationConfig()
    result = fit_family_weights(z, y, folds, cal, ["nn", "gbdt"], n_bootstrap=20)
    assert result.chosen == "stack" and result.weights.sum() == pytest.approx(1.0)
    # equal information, a 3× scale: the right shares are about 1/4 and 3/4
    assert result.weights == pytest.approx([0.25, 0.75], abs=0.05)
    blended = calibrated_score(result.weights @ z, y, cal)
    assert result.cv_score > result.single_scores.max() + 0.005
    assert blended > calibrated_score(z.mean(axis=0), y, cal) + 0.003
    lo, hi = result.interval[1]
    assert lo <= result.weights[1] <= hi and hi - lo < 0.2


def test_stacker_keeps_a_family_alone_when_the_other_adds_nothing():
    rng = np.random.default_rng(1)
    n = 8_000
    signal = rng.normal(0.0, 1.5, n)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-(signal - 3.5)))).astype(np.float32)
    members = np.stack([signal - 3.5, rng.normal(0.0, 1.5, n) - 3.5])  # informative, pure noise
    result = fit_family_weights(members, y, rng.integers(0, 3, n), CalibrationConfig(), ["nn", "gbdt"])
    assert result.weights[0] >= 0.95
    if result.chosen != "stack":  # the noise family cannot help out of fold: the informative one stays alone
        assert result.chosen == "nn" and result.weights.tolist() == [1.0, 0.0]


def test_no_family_enters_the_stack_with_a_negative_weight():
    """A family that carries only another family's error (z1 = e below) is what a free stacker subtracts
    (the optimum is w1 = -w0, cancelling e out of z0); the stacker's weights stay >= 0, so it gets 0 and
    the blend is the informative family alone, as on MovieLens where a free stack lost to its best family."""
    rng = np.random.default_rng(11)
    n = 20_000
    signal, error = rng.normal(0.0, 1.5, n), rng.normal(0.0, 1.5, n)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-(signal - 1.0)))).astype(np.float32)
    z = np.stack([signal + error - 1.0, error])
    result = fit_family_weights(
        z, y, rng.integers(0, 3, n), CalibrationConfig(), ["nn", "gbdt"], n_bootstrap=5
    )
    assert (result.weights >= 0).all() and (result.interval >= 0).all()
    assert result.weights[1] == pytest.approx(0.0, abs=1e-6)


def test_the_stacker_weighs_any_number_of_families():
    """Three informative families with independent errors and a pure-noise fourth: one weight each, the
    noise family near zero, the blend ahead of every family alone, an interval per family."""
    rng = np.random.default_rng(5)
    n = 30_000
    signal = rng.normal(0.0, 1.5, n)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-(signal - 3.0)))).astype(np.float32)
    z = np.stack([signal + rng.normal(0.0, 1.0, n) - 3.0 for _ in range(3)] + [rng.normal(0.0, 1.0, n)])
    families = ["nn", "gbdt", "catboost", "noise"]
    result = fit_family_weights(z, y, rng.integers(0, 3, n), CalibrationConfig(), families, n_bootstrap=20)
    assert result.chosen == "stack" and result.weights.shape == (4,) and result.interval.shape == (4, 2)
    assert result.weights.sum() == pytest.approx(1.0) and result.weights[3] < 0.05
    assert result.weights[:3] == pytest.approx([1 / 3] * 3, abs=0.08)  # equal information, equal shares
    assert result.cv_score > result.single_scores.max() + 0.005
    assert set(result.report(families)["weight_interval"]) == set(families)


def test_missing_fold_artifacts_name_the_file_and_the_command(smoke_layout: Layout):
    with pytest.raises(
        ArtifactError, match=r"OOF predictions of family 'nn' are missing.*run `toss train --family nn`"
    ):
        build_ensemble(smoke_layout.cfg, smoke_layout, ["nn"])


def _fake_fold(
    layout: Layout, fold: int, train_cache: str, model: str, test_model: str | None = None
) -> None:
    """OOF logits of one fold over the rows the saved folds give it, and its test logits, with the given
    lineage (the test logits made by `test_model`, by default the fold's own model)."""
    from toss_core.artifacts.fold import Lineage, save_oof, save_test_logits
    from toss_core.data.folds import load_folds
    from toss_core.data.reader import ShardedCache

    rows = np.flatnonzero(load_folds(layout) == fold)
    labels = ShardedCache(layout.train_cache).read_field("label")[rows]
    save_oof(layout, Lineage("nn", fold, train_cache, None, model), rows, np.zeros(rows.size), labels, {})
    test = ShardedCache(layout.test_cache)
    made_by = Lineage("nn", fold, train_cache, None, test_model or model)
    save_test_logits(layout, made_by, test.fingerprint, np.zeros(test.n_rows))


def test_fold_trained_on_another_cache_is_refused(smoke_cached: Layout, tmp_path):
    from toss_core.data.reader import ShardedCache

    layout = Layout(make_config(f"data.cache_dir={smoke_cached.cache_dir}", "cv.n_splits=2"), root=tmp_path)
    train = ShardedCache(layout.train_cache)
    steps.assign_folds(run_context(layout))
    for fold in range(2):
        fp = "0123456789abcdef" if fold == 1 else train.fingerprint
        _fake_fold(layout, fold, fp, f"model-{fold}")
    with pytest.raises(ArtifactError, match=f"trained on cache 0123456789abcdef.*is {train.fingerprint}"):
        build_ensemble(layout.cfg, layout, ["nn"])


def test_test_logits_of_an_older_checkpoint_are_refused(smoke_cached: Layout, tmp_path):
    """A fold retrained after its test prediction: its test logits name another model than its OOF."""
    from toss_core.data.reader import ShardedCache

    layout = Layout(
        make_config(
            f"data.cache_dir={smoke_cached.cache_dir}", "cv.n_splits=2", "features.covis.enabled=false"
        ),
        root=tmp_path,
    )
    train = ShardedCache(layout.train_cache)
    steps.assign_folds(run_context(layout))
    for fold in range(2):
        _fake_fold(layout, fold, train.fingerprint, f"model-{fold}", "an-older-model" if fold == 1 else None)
    with pytest.raises(
        ArtifactError,
        match=r"test_logits_fold_1.npz was predicted by model an-older-model.*"
        r"rerun `toss predict --family nn --fold 1`",
    ):
        build_ensemble(layout.cfg, layout, ["nn"])


def test_bootstrap_on_a_subsample_gives_the_interval_of_the_whole_set(monkeypatch: pytest.MonkeyPatch):
    """Beyond BOOTSTRAP_ROWS the draws use a subsample, their spread narrowed by sqrt(m / n)."""
    from toss_core.post import ensemble_families

    z, y, folds = _two_families(n=40_000, seed=3)
    whole = fit_family_weights(z, y, folds, CalibrationConfig(), ["nn", "gbdt"], n_bootstrap=60).interval
    monkeypatch.setattr(ensemble_families, "BOOTSTRAP_ROWS", 10_000)
    sub = fit_family_weights(z, y, folds, CalibrationConfig(), ["nn", "gbdt"], n_bootstrap=60)
    width, sub_width = whole[1, 1] - whole[1, 0], sub.interval[1, 1] - sub.interval[1, 0]
    assert sub.interval[1, 0] <= sub.weights[1] <= sub.interval[1, 1]
    assert 0.6 * width < sub_width < 1.6 * width  # unscaled, a quarter of the rows would double it


def test_a_fold_retrained_after_the_ensemble_stops_the_submission(smoke_cached: Layout, tmp_path):
    """The submission would carry the old fold's test predictions: it names the fold and the step."""
    from toss_core.data.reader import ShardedCache

    layout = Layout(
        make_config(
            f"data.cache_dir={smoke_cached.cache_dir}",
            f"data.test_path={smoke_cached.test_path}",
            "cv.n_splits=2",
            "features.covis.enabled=false",
        ),
        root=tmp_path,
    )
    train = ShardedCache(layout.train_cache)
    steps.assign_folds(run_context(layout))
    for fold in range(2):
        _fake_fold(layout, fold, train.fingerprint, f"model-{fold}")
    build_ensemble(layout.cfg, layout, ["nn"])
    assert steps.write_submission(run_context(layout)).n_rows == ShardedCache(layout.test_cache).n_rows

    _fake_fold(layout, 1, train.fingerprint, "model-1-retrained")
    with pytest.raises(ArtifactError, match=r"nn/fold_1 retrained or removed since.*rerun the ensemble step"):
        steps.write_submission(run_context(layout))
