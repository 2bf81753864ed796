"""The competition metric: hand-computed values (AP and AUC are sklearn's; WLL checked against its weighted
log loss), prior shift, submission scoring."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import log_loss

from toss_core.post.submission_file import score_submission
from toss_core.scoring.fold_metrics import fold_metrics
from toss_core.scoring.metrics import (
    average_precision,
    evaluate,
    evaluate_logits,
    prior_only_score,
    prior_shift,
    score,
    sigmoid,
    weighted_logloss,
)

# y = [1, 0, 1, 0, 0], p = [0.9, 0.8, 0.4, 0.3, 0.1]
# AP: ranked by p: 0.9 (pos: precision 1/1, recall 1/2), 0.8 (neg), 0.4 (pos: precision 2/3, recall 2/2)
#     AP = 1/2·1 + 1/2·2/3 = 5/6 = 0.833333
# WLL: positives −ln 0.9 = 0.105361, −ln 0.4 = 0.916291 → mean 0.510826
#      negatives −ln 0.2 = 1.609438, −ln 0.7 = 0.356675, −ln 0.9 = 0.105361 → mean 0.690491
#      WLL = (0.510826 + 0.690491)/2 = 0.600658
# Score = 0.5·0.833333 + 0.5/(1 + 0.600658) = 0.416667 + 0.312371 = 0.729038
Y_HAND = np.array([1, 0, 1, 0, 0])
P_HAND = np.array([0.9, 0.8, 0.4, 0.3, 0.1])


def test_hand_computed_values():
    assert average_precision(Y_HAND, P_HAND) == pytest.approx(5 / 6, abs=1e-12)
    assert weighted_logloss(Y_HAND, P_HAND) == pytest.approx(0.600658, abs=1e-6)
    assert score(Y_HAND, P_HAND) == pytest.approx(0.729038, abs=1e-6)
    m = evaluate(Y_HAND, P_HAND)
    assert m["Score"] == pytest.approx(0.729038, abs=1e-6)
    # AUC: of the 6 (pos, neg) pairs only (0.4, 0.8) is misordered → 5/6
    assert m["AUC"] == pytest.approx(5 / 6)


def test_average_precision_ties_by_hand():
    # p = [0.5, 0.5, 0.2, 0.2], y = [1, 0, 1, 0]: threshold 0.5 → precision 1/2, recall 1/2;
    # threshold 0.2 → precision 2/4, recall 1 → AP = 1/2·1/2 + 1/2·1/2 = 0.5 (ties are one threshold)
    assert average_precision([1, 0, 1, 0], [0.5, 0.5, 0.2, 0.2]) == pytest.approx(0.5)


def test_wll_is_sklearns_log_loss_with_balanced_weights():
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(5, 300))
        y = rng.random(n) < 0.2
        y[:2] = [True, False]
        p = np.clip(rng.random(n), 0.01, 0.99)
        w = np.where(y, 0.5 / y.sum(), 0.5 / (~y).sum())
        assert weighted_logloss(y, p) == pytest.approx(log_loss(y, p, sample_weight=w), rel=1e-9)


def test_sigmoid_is_stable_at_both_ends():
    z = np.array([-800.0, -40.0, 0.0, 40.0, 800.0])
    np.testing.assert_allclose(sigmoid(z), [0.0, math.exp(-40.0), 0.5, 1.0, 1.0], rtol=1e-12)
    assert sigmoid(np.float32([1.0])).dtype == np.float64


def test_clipping_keeps_certain_mistakes_finite():
    # the positive predicted 0 costs −ln(1e-15) = 34.538776; the negative predicted 0 costs ~0
    wll = weighted_logloss([1, 0], [0.0, 0.0])
    assert wll == pytest.approx(0.5 * 34.538776, abs=1e-5)
    # the negative predicted 1 is clipped to 1 − 1e-15 (which float64 rounds, hence the looser tolerance)
    assert weighted_logloss([1, 0], [1.0, 1.0]) == pytest.approx(0.5 * 34.538776, abs=1e-2)


def test_prior_shift_is_bayes_rule_on_odds():
    rate = 0.019
    p = np.array([0.001, 0.019, 0.3, 0.9])
    shifted = sigmoid(prior_shift(np.log(p / (1 - p)), from_rate=rate))
    bayes = (p / rate) / (p / rate + (1 - p) / (1 - rate))
    np.testing.assert_allclose(shifted, bayes, rtol=1e-12)
    assert shifted[1] == pytest.approx(0.5)  # the base rate maps to the 50:50 prior
    assert prior_shift(np.array([0.0]), 0.019)[0] == pytest.approx(math.log(0.981 / 0.019))  # ≈ +3.94
    np.testing.assert_allclose(prior_shift(prior_shift(p, 0.1, 0.3), 0.3, 0.1), p, rtol=1e-12)
    with pytest.raises(ValueError, match="from_rate"):
        prior_shift(p, from_rate=0.0)


def test_prior_shift_improves_wll_of_base_rate_calibrated_probabilities():
    rng = np.random.default_rng(1)
    logit = rng.normal(-4.5, 1.0, 20_000)
    y = rng.random(logit.size) < sigmoid(logit)
    plain = evaluate_logits(y, logit)
    shifted = evaluate_logits(y, prior_shift(logit, from_rate=float(sigmoid(logit).mean())))
    assert shifted["WLL"] < plain["WLL"] - 0.2
    assert shifted["AP"] == pytest.approx(plain["AP"])  # a shift never changes the ranking


def test_fold_metrics_calibrated_score_forgives_overconfidence():
    """An over-confident model (logits 3× too large) ranks as well as the true one: the prior-shifted
    Score punishes it, the calibrated Score (what selection uses) gives the WLL back."""
    rng = np.random.default_rng(2)
    logit = rng.normal(-4.2, 1.0, 40_000)
    y = (rng.random(logit.size) < sigmoid(logit)).astype(float)
    prior = float(y.mean())
    honest, confident = fold_metrics(y, logit, prior), fold_metrics(y, 3.0 * (logit + 4.2) - 4.2, prior)
    assert confident["AP"] == pytest.approx(honest["AP"])
    assert confident["Score"] < honest["Score"] - 0.02
    assert confident["Score_cal"] == pytest.approx(honest["Score_cal"], abs=1e-4)
    for m in (honest, confident):  # the prior shift is one of the maps the calibrator searches
        assert m["WLL_cal"] <= m["WLL"] + 1e-9 and m["Score_cal"] >= m["Score"] - 1e-9


def test_prior_only_score_is_the_best_constant():
    y = np.array([0] * 98 + [1] * 2)
    expected = 0.5 * 0.02 + 0.5 / (1 + math.log(2))
    assert prior_only_score(y) == pytest.approx(expected)
    assert score(y, np.full(100, 0.5)) == pytest.approx(expected)
    assert score(y, np.full(100, 0.02)) < expected  # the base rate is not the WLL optimum


def test_evaluate_logits_ranks_saturated_logits():
    y = np.array([0, 1, 0, 1])
    logits = np.array([40.0, 50.0, -3.0, 1.0])  # sigmoid(40) == sigmoid(50) == 1.0 in float64
    assert evaluate_logits(y, logits)["AUC"] == pytest.approx(0.75)
    m = evaluate_logits(y, np.array([-1.0, 2.0, -3.0, 1.0]))
    ref = evaluate(y, sigmoid(np.array([-1.0, 2.0, -3.0, 1.0])))
    assert m == pytest.approx(ref)


@pytest.mark.parametrize(
    ("y", "p", "match"),
    [
        ([0, 0, 0], [0.1, 0.2, 0.3], "both classes"),
        ([1, 1], [0.1, 0.2], "both classes"),
        ([0, 1], [0.1, np.nan], "non-finite"),
        ([0, 1], [0.1, 1.2], r"\[0, 1\]"),
        ([0, 1, 1], [0.1, 0.2], "length"),
        ([0, 2], [0.1, 0.2], "0 or 1"),
    ],
)
def test_bad_inputs_raise_clear_errors(y, p, match):
    with pytest.raises(ValueError, match=match):
        evaluate(y, p)


@pytest.fixture
def truth_file(tmp_path: Path) -> Path:
    path = tmp_path / "truth.parquet"
    pl.DataFrame({"ID": [f"TEST_{i:07d}" for i in range(5)], "clicked": Y_HAND}).write_parquet(path)
    return path


def _write_sub(path: Path, ids: list[str], preds: list[float]) -> Path:
    pl.DataFrame({"ID": ids, "clicked": preds}).write_csv(path)
    return path


def test_score_submission_joins_on_id(tmp_path: Path, truth_file: Path):
    ids = [f"TEST_{i:07d}" for i in range(5)]
    order = [3, 0, 4, 2, 1]  # rows shuffled: the join, not the order, pairs them
    sub = _write_sub(tmp_path / "sub.csv", [ids[i] for i in order], [float(P_HAND[i]) for i in order])
    out = score_submission(sub, truth_file)
    assert out["Score"] == pytest.approx(0.729038, abs=1e-6)
    assert out["n"] == 5


@pytest.mark.parametrize(
    ("ids", "preds", "match"),
    [
        (["TEST_0000000", "TEST_0000001"], [0.1, 0.2], "3 missing, 0 extra"),
        ([f"TEST_{i:07d}" for i in range(5)] + ["TEST_9"], [0.1] * 6, "0 missing, 1 extra"),
        ([f"TEST_{i:07d}" for i in range(5)] + ["TEST_0000000"], [0.1] * 6, "1 duplicated"),
        ([f"TEST_{i:07d}" for i in range(5)], [0.1, 0.2, float("nan"), 0.3, 0.4], "1 non-finite"),
        ([f"TEST_{i:07d}" for i in range(5)], [0.1, 0.2, 1.5, -0.3, 0.4], "2 predictions .* outside"),
    ],
)
def test_score_submission_errors_name_the_file(tmp_path: Path, truth_file: Path, ids, preds, match):
    sub = _write_sub(tmp_path / "bad.csv", ids, preds)
    with pytest.raises(ValueError, match=match) as info:
        score_submission(sub, truth_file)
    assert "bad.csv" in str(info.value)


def test_score_submission_missing_column(tmp_path: Path, truth_file: Path):
    sub = tmp_path / "nocol.csv"
    pl.DataFrame({"ID": ["TEST_0000000"], "prob": [0.1]}).write_csv(sub)
    with pytest.raises(ValueError, match=r"nocol.csv: missing column\(s\) \['clicked'\]"):
        score_submission(sub, truth_file)


def test_score_submission_unreadable_csv(tmp_path: Path, truth_file: Path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match=r"empty\.csv: not a readable CSV"):
        score_submission(empty, truth_file)
