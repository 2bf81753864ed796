"""`toss run` end to end on the smoke config, then `toss blend` and `toss score` on its submission."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import SMOKE, make_config

from toss_core.cli import main
from toss_core.layout import Layout
from toss_core.post.submission_file import read_submission


@pytest.mark.parametrize("command", ["predict", "infer"])
def test_predict_without_checkpoints_names_the_file_and_the_command(
    smoke_cached: Layout,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
) -> None:
    """`toss infer` is the old name of predict + ensemble + submit: it fails where predict fails."""
    shutil.copytree(smoke_cached.root, tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    assert main(["-q", command, "--cfg", str(SMOKE)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        "toss: error: checkpoint runs/smoke/nn/ckpt_fold_0.pt is missing: train this fold first "
        "(`toss train --fold K`)"
    )


def test_ensemble_without_fold_artifacts_names_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["-q", "ensemble", "--cfg", str(SMOKE)]) == 1
    # in an empty directory the first missing input is the cache (ensemble checks what it reads)
    assert "`toss build-cache" in capsys.readouterr().err


@pytest.mark.slow
def test_run_produces_a_valid_submission_and_diagnostics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["-q", "run", "--cfg", str(SMOKE)]) == 0
    result = json.loads(capsys.readouterr().out)
    layout = Layout(make_config(), root=tmp_path)

    test_ids = pl.read_parquet(layout.test_path, columns=["ID"])["ID"]
    sub = read_submission(layout.submission_path, test_ids)  # raises unless valid
    assert sub.height == test_ids.len() == 800
    ensemble = json.loads(layout.ensemble_path.read_text())
    assert ensemble["oof_calibrated"]["WLL"] < ensemble["oof_uncalibrated"]["WLL"]
    # the calibrator can always fall back to the constant 0.5 (a = b = 0), whose WLL is ln 2
    assert ensemble["oof_calibrated"]["WLL"] <= np.log(2.0) + 1e-6
    for fold in range(2):
        with np.load(layout.test_logits_path(fold, "nn")) as npz:
            assert npz["logit"].shape == (800,)

    assert Path(result["report_path"]).is_file() and Path(result["reliability_png"]).is_file()
    assert {"nn/fold_0", "nn/fold_1", "ensemble/oof_calibrated", "test"} <= set(result["metrics"])
    assert "| test |" in Path(result["report_path"]).read_text()

    blended = tmp_path / "blend.csv"
    sub_path = str(layout.submission_path)
    assert main(["-q", "blend", "--sub1", sub_path, "--sub2", sub_path, "--out", str(blended)]) == 0
    np.testing.assert_allclose(read_submission(blended)["clicked"], sub["clicked"], rtol=1e-9)
    capsys.readouterr()
    assert main(["-q", "score", "--sub", sub_path, "--truth", str(layout.truth_path)]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert scored["Score"] == pytest.approx(result["metrics"]["test"]["Score"])

    # a second family on the same run: LightGBM folds, then the stacked, score-weighted ensemble
    extra = ["--set", "families=[nn,gbdt]", "--set", "ensemble.method=weighted"]
    assert main(["-q", "train", "--family", "gbdt", "--cfg", str(SMOKE), *extra]) == 0
    assert main(["-q", "predict", "--family", "gbdt", "--cfg", str(SMOKE), *extra]) == 0
    assert main(["-q", "ensemble", "--cfg", str(SMOKE), *extra]) == 0
    assert main(["-q", "submit", "--cfg", str(SMOKE), *extra]) == 0
    stacked = json.loads(layout.ensemble_path.read_text())
    assert stacked["families"] == ["nn", "gbdt"] and stacked["method"] == "weighted"
    assert sum(stacked["family_weights"].values()) == pytest.approx(1.0)
    stacking = stacked["stacking"]
    assert stacking["chosen"] in ("stack", "nn", "gbdt") and set(stacking["weight_interval"]) == {
        "nn",
        "gbdt",
    }
    # the stacker is kept only when its cross-validated Score beats each family alone
    if stacking["chosen"] == "stack":
        assert stacking["cv_score"] > max(stacking["single_scores"].values())
    else:
        assert stacked["family_weights"][stacking["chosen"]] == 1.0
    read_submission(layout.submission_path, test_ids)
