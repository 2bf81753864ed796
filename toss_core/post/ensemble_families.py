"""Step 1b of post/ (inside the ensemble step, after 1a): weigh the families against each other.

The weights come from a logistic stacker on the families' OOF logits, validated across folds. The stacker is
a logistic regression p = σ(Σ_f w_f·z_f + b), every w_f ≥ 0, over each family's out-of-fold logits, fitted
against the class-balanced log loss the metric uses (L-BFGS-B with bounds: deterministic, seconds on
millions of rows). It must earn its place: it is refitted once per fold on the other folds' rows and scored
on the fold it did not see, and that cross-validated Score is compared with each family alone (calibrated).
The winner decides the weights; the calibrator fitted after the blend absorbs the scale and bias, so the
weights are reported as shares summing to one.

A bootstrap over rows (Poisson weights, `n_bootstrap` draws) gives each weight a 90% interval, so a
user sees whether a family's share is evidence or noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from toss_core.config import CalibrationConfig
from toss_core.scoring.calibration import balanced_weights, fit_calibrator
from toss_core.scoring.metrics import score

INTERVAL = (5.0, 95.0)  # percentiles of the bootstrap interval
BOOTSTRAP_ROWS = 500_000  # larger OOF sets draw the bootstrap on a subsample (see bootstrap_interval)


@dataclass(frozen=True)
class StackResult:
    weights: np.ndarray  # [n_families] shares summing to one (what the blend uses)
    chosen: str  # "stack", or the family kept alone because the stacker did not beat it
    cv_score: float  # calibrated Score of the cross-validated stacked OOF logits
    single_scores: np.ndarray  # [n_families] calibrated OOF Score of each family alone
    interval: np.ndarray  # [n_families, 2] bootstrap interval of the stacker's shares

    def report(self, families: list[str]) -> dict:
        """What ensemble.json and the Dagster metadata show."""
        return {
            "chosen": self.chosen,
            "cv_score": self.cv_score,
            "single_scores": dict(zip(families, self.single_scores.tolist(), strict=True)),
            "weight_interval": {f: iv.tolist() for f, iv in zip(families, self.interval, strict=True)},
        }


def _design(z: np.ndarray) -> np.ndarray:
    """[n_rows, n_families + 1]: each family's logits and an intercept column."""
    return np.column_stack([z.T, np.ones(z.shape[1])])


def _fit(
    x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None, start: np.ndarray | None = None
) -> np.ndarray:
    """Stacker coefficients (families, then the intercept), each family's at least 0, minimising the
    class-balanced log loss (L-BFGS-B with bounds, deterministic); `start` warm-starts the solver (a
    bootstrap draw starts from the full-data solution).

    Why non-negative (Breiman's stacked regressions): free weights let a family that agrees with the
    others on most rows enter with a large negative weight that exploits where they differ on the
    stacking rows; on MovieLens (network −0.52, LightGBM 0.70, CatBoost 0.81) that lost 0.007 test AUC
    to LightGBM alone, while the non-negative stack gained 0.003 over it (BENCHMARKS.md, "the
    stacker"). A family that adds nothing gets 0."""
    from scipy.optimize import minimize

    n_families = x.shape[1] - 1
    if start is None:
        start = np.r_[np.full(n_families, 1.0 / n_families), 0.0]
    labels = np.asarray(y) > 0.5
    w = balanced_weights(labels, sample_weight)
    sign = np.where(labels, -1.0, 1.0)  # loss = log(1 + exp(sign · x·params))

    def loss_and_grad(params: np.ndarray) -> tuple[float, np.ndarray]:
        margin = sign * (x @ params)
        loss = float(w @ np.logaddexp(0.0, margin))
        return loss, x.T @ (w * sign * expit(margin))

    bounds = [(0.0, None)] * n_families + [(None, None)]
    start = np.asarray(start, dtype=np.float64)
    start = np.r_[np.maximum(start[:-1], 0.0), start[-1]]  # inside the bounds
    fitted = minimize(loss_and_grad, start, jac=True, method="L-BFGS-B", bounds=bounds)
    return np.asarray(fitted.x, dtype=np.float64)


def shares(coef: np.ndarray) -> np.ndarray:
    """Family coefficients as shares summing to one (a blend's scale is the calibrator's business)."""
    w = np.asarray(coef, dtype=np.float64)
    total = w.sum()
    if abs(total) < 1e-12:
        return np.full(w.size, 1.0 / w.size)
    return w / total


def calibrated_score(blend: np.ndarray, labels: np.ndarray, calibration: CalibrationConfig) -> float:
    """Score of the blend after the configured calibrator is fitted on it."""
    return score(labels, fit_calibrator(calibration, blend, labels).predict_proba(blend))


def stacker_groups(folds: np.ndarray, n_splits: int) -> np.ndarray:
    """The groups the stacker is cross-validated over, given the fold ids of the rows it learns on: those
    folds, or where the rows hold one fold only (folds ordered in time, the stacker on the latest),
    n_splits blocks of them in cache order."""
    if np.unique(folds).size >= 2:
        return folds
    return np.arange(folds.size) * n_splits // folds.size


def cross_validated_blend(z: np.ndarray, y: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """Stacked OOF logits where each fold's rows are blended by a stacker fitted on the other folds."""
    x = _design(z)
    out = np.empty(z.shape[1])
    for k in np.unique(folds):
        held = folds == k
        out[held] = x[held] @ _fit(x[~held], y[~held])
    return out


def bootstrap_interval(x: np.ndarray, y: np.ndarray, full: np.ndarray, n_draws: int, seed: int) -> np.ndarray:
    """[n_families, 2] percentile interval of the shares over Poisson-bootstrap refits (warm-started
    from the full-data coefficients `full`). Beyond BOOTSTRAP_ROWS rows the draws use a random subsample
    of m rows and their spread around the subsample's own shares is narrowed by sqrt(m / n), the
    1/sqrt(n) rate of a maximum-likelihood estimate, so millions of OOF rows cost seconds."""
    center = shares(full[:-1])
    if n_draws == 0:
        return np.tile(center, (2, 1)).T
    rng = np.random.default_rng(seed)
    scale = 1.0
    if y.size > BOOTSTRAP_ROWS:
        rows = rng.choice(y.size, BOOTSTRAP_ROWS, replace=False)
        x, y, scale = x[rows], y[rows], np.sqrt(BOOTSTRAP_ROWS / y.size)
        full = _fit(x, y, start=full)
    sub = shares(full[:-1])
    draws = np.array([shares(_fit(x, y, rng.poisson(1.0, y.size), full)[:-1]) for _ in range(n_draws)])
    return (center + scale * (np.percentile(draws, INTERVAL, axis=0) - sub)).T


def fit_family_weights(
    oof_logits: np.ndarray,
    labels: np.ndarray,
    folds: np.ndarray,
    calibration: CalibrationConfig,
    families: list[str],
    n_bootstrap: int = 100,
    seed: int = 0,
) -> StackResult:
    """Weights of the families' OOF logits [n_families, n_rows] (see the module docstring)."""
    z = np.asarray(oof_logits, dtype=np.float64)
    y = np.asarray(labels) > 0.5
    singles = np.array([calibrated_score(zf, y, calibration) for zf in z])
    cv = calibrated_score(cross_validated_blend(z, y, folds), y, calibration)
    x = _design(z)
    full = _fit(x, y)
    coef = full[:-1]
    interval = bootstrap_interval(x, y, full, n_bootstrap, seed)
    best = int(np.argmax(singles))
    if cv > singles[best]:
        return StackResult(shares(coef), "stack", float(cv), singles, interval)
    alone = np.eye(z.shape[0])[best]
    return StackResult(alone, families[best], float(cv), singles, interval)
