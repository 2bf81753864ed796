"""Cross-family blend weights, chosen on OOF logits by the leaderboard Score itself.

Score mixes a ranking term (AP) with a calibration term (WLL), so a logistic stacker (which optimises
log loss only) is not the right criterion. Instead each candidate weight vector on a simplex grid
(step 1 / resolution, weights ≥ 0 summing to 1) blends the families' OOF logits, the calibrator is
fitted on that blend exactly as it will be for the final ensemble, and the calibrated blend is scored.
The best grid point wins (ties go to the first in grid order, so the search is deterministic). With
two families and the default step of 0.05 that is 21 convex calibrator fits; one parameter fitted on
the full OOF set cannot overfit it measurably.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from toss_core.config import CalibrationConfig
from toss_core.scoring.calibration import fit_calibrator
from toss_core.scoring.metrics import score


@dataclass(frozen=True)
class StackResult:
    weights: np.ndarray  # one per family, summing to 1
    score: float  # OOF Score of the calibrated blend at these weights
    grid: np.ndarray  # [k, n_families] every weight vector tried
    grid_scores: np.ndarray  # Score at every grid point, in grid order


def simplex_grid(n: int, resolution: int) -> np.ndarray:
    """All weight vectors of n non-negative multiples of 1/resolution that sum to one, [k, n]."""
    if n == 1:
        return np.ones((1, 1))
    steps = np.array(list(itertools.product(range(resolution + 1), repeat=n - 1)), dtype=np.int64)
    steps = steps[steps.sum(axis=1) <= resolution]
    last = resolution - steps.sum(axis=1, keepdims=True)
    return np.hstack([steps, last]) / resolution


def calibrated_score(blend: np.ndarray, labels: np.ndarray, calibration: CalibrationConfig) -> float:
    """Score of the blend after the configured calibrator is fitted on it."""
    return score(labels, fit_calibrator(calibration, blend, labels).predict_proba(blend))


def fit_family_weights(
    oof_logits: np.ndarray, labels: np.ndarray, calibration: CalibrationConfig, resolution: int = 20
) -> StackResult:
    """Grid-search family weights on OOF logits [n_families, n_rows] for the best calibrated Score."""
    z = np.asarray(oof_logits, dtype=np.float64)
    grid = simplex_grid(z.shape[0], resolution)
    scores = np.array([calibrated_score(w @ z, labels, calibration) for w in grid])
    best = int(np.argmax(scores))
    return StackResult(weights=grid[best], score=float(scores[best]), grid=grid, grid_scores=scores)
