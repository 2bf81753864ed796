"""Diagnostics: the class-balanced reliability curve, and the report, plots and metrics of a run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import make_config

from toss_core.artifacts.fold import Lineage, save_oof
from toss_core.data.folds import stratified_folds
from toss_core.layout import Layout
from toss_core.post.diagnostics import balanced_reliability, diagnose
from toss_core.scoring.metrics import sigmoid


def test_reliability_is_diagonal_for_balanced_calibration():
    # Labels drawn from σ(z − 4) (a ~3% rate). σ(z − 4 + log((1−π)/π)) is calibrated for the 50:50 prior:
    # its bins lie on the diagonal of the class-balanced reliability curve; the raw σ(z − 4) lies far below.
    rng = np.random.default_rng(0)
    z = rng.normal(0.0, 1.5, 400_000)
    y = (rng.random(z.size) < sigmoid(z - 4.0)).astype(np.float64)
    shift = np.log((1 - y.mean()) / y.mean())
    mean_p, rate, n = balanced_reliability(y, sigmoid(z - 4.0 + shift), n_bins=10)
    assert n.sum() == z.size and mean_p.size == 10
    np.testing.assert_allclose(rate, mean_p, atol=0.05)
    raw_p, raw_rate, _ = balanced_reliability(y, sigmoid(z - 4.0), n_bins=10)
    assert (raw_rate - raw_p).mean() > 0.3


def _fake_run(smoke_cached: Layout, root: Path, with_ensemble: bool) -> Layout:
    """OOF npz for 2 folds over the smoke train cache (logits that carry the label), and ensemble.json."""
    from toss_core.data.reader import ShardedCache

    layout = Layout(make_config(f"data.cache_dir={smoke_cached.cache_dir}", "cv.n_splits=2"), root=root)
    labels = ShardedCache(layout.train_cache).read_field("label").astype(np.float32)
    folds = stratified_folds(labels, 2, seed=0)
    logits = np.random.default_rng(1).normal(-4.0, 1.0, labels.size) + 2.0 * labels
    layout.run_dir.mkdir(parents=True)
    for k in range(2):
        rows = np.flatnonzero(folds == k)
        lineage = Lineage("nn", k, "train-cache", None, f"model-{k}")
        save_oof(layout, lineage, rows, logits[rows], labels[rows], {})
    if with_ensemble:
        payload = {
            "families": ["nn"],
            "family_weights": {"nn": 1.0},
            "method": "logit_mean",
            "calibrator": {"a": 1.0, "b": 3.9, "method": "temperature"},
        }
        layout.ensemble_path.write_text(json.dumps(payload))
    return layout


@pytest.mark.parametrize("with_ensemble", [True, False])
def test_diagnose_writes_report_plots_and_metrics(smoke_cached: Layout, tmp_path: Path, with_ensemble: bool):
    layout = _fake_run(smoke_cached, tmp_path, with_ensemble)
    result = diagnose(layout.cfg, layout, layout.cfg.families)
    for png in (result.reliability_png, result.histogram_png):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = result.report_path.read_text()
    assert "![reliability](reliability.png)" in report and "![histogram](histogram.png)" in report
    assert {"nn/fold_0", "nn/fold_1", "nn/oof"} <= set(result.metrics)
    assert f"| nn/fold_1 | {result.metrics['nn/fold_1']['AP']:.5f} |" in report
    if with_ensemble:
        calibrated = result.metrics["ensemble/oof_calibrated"]
        assert calibrated["WLL"] < result.metrics["ensemble/oof_uncalibrated"]["WLL"]
        assert result.metrics["ensemble/fold_0_calibrated"]["WLL"] < result.metrics["nn/fold_0"]["WLL"]
        assert "p = σ(1.0000·logit + 3.9000)" in report
    else:
        assert "No ensemble.json yet" in report
