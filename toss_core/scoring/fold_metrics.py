"""Validation metrics of one fold, the same for both model families, so their folds compare directly."""

from __future__ import annotations

import numpy as np

from toss_core.scoring.calibration import fit_temperature
from toss_core.scoring.metrics import evaluate_logits, prior_shift


def fold_metrics(labels: np.ndarray, logits: np.ndarray, train_prior: float) -> dict[str, float]:
    """Validation metrics of true-prior logits, comparable across families and with prior_only_score.

    AP/WLL/Score/AUC are measured after the Bayes shift from the training click rate to the 50:50 prior
    WLL rewards; WLL_raw/Score_raw are those of the unshifted logits; WLL_cal/Score_cal those after the
    temperature calibration fitted on these rows (what the ensemble step will do to the OOF logits, so the
    Score that model selection should look at: a confident model loses WLL to the prior shift alone that
    the calibrator gives back)."""
    raw = evaluate_logits(labels, logits)
    shifted = evaluate_logits(labels, prior_shift(logits, train_prior, 0.5))
    calibrated = calibrated_metrics(labels, logits)
    return {
        **shifted,
        "WLL_raw": raw["WLL"],
        "Score_raw": raw["Score"],
        "WLL_cal": calibrated["WLL"],
        "Score_cal": calibrated["Score"],
    }


def calibrated_metrics(labels: np.ndarray, logits: np.ndarray) -> dict[str, float]:
    """Metrics after the temperature calibration fitted on these rows (fold_metrics' *_cal)."""
    return evaluate_logits(labels, fit_temperature(logits, labels).apply(logits))
