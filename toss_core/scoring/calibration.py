"""Temperature scaling with a bias, fitted on out-of-fold logits against the metric's own log loss.

The competition's WLL is a class-balanced log loss: it rewards probabilities calibrated to a 50:50
prior, not to the ~1.9% click rate. A model trained with plain BCE therefore needs its logits shifted
by log((1 - π) / π) ≈ +3.94 (π = positive rate), and usually a little re-scaling too. We fit

    p = σ(a · logit + b)

by minimising exactly that class-balanced log loss on the OOF logits. As a function of (a, b) the loss
is a weighted logistic loss of an affine map, hence convex: a weighted, unpenalised logistic regression,
which sklearn's newton-cholesky solver fits from a = 1 and b = the prior shift in a few passes over the
data (ten million OOF rows take seconds), deterministically.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from toss_core.config import CalibrationConfig
from toss_core.scoring.metrics import prior_shift, sigmoid


@dataclass(frozen=True)
class Calibrator:
    """Maps raw logits to calibrated logits a · logit + b; the identity is a = 1, b = 0."""

    a: float = 1.0
    b: float = 0.0
    method: str = "identity"

    def apply(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated logits (float64)."""
        return self.a * np.asarray(logits, dtype=np.float64) + self.b

    def predict_proba(self, logits: np.ndarray) -> np.ndarray:
        return sigmoid(self.apply(logits))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> Calibrator:
        return cls(a=float(payload["a"]), b=float(payload["b"]), method=str(payload["method"]))


def balanced_shift(labels: np.ndarray) -> float:
    """log((1 - π) / π): the bias that moves logits calibrated at the rate π onto a 50:50 prior."""
    return float(prior_shift(np.zeros(1), from_rate=float(np.mean(np.asarray(labels) > 0.5)))[0])


def _check_labels(labels: np.ndarray) -> np.ndarray:
    y = np.asarray(labels) > 0.5
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.size:
        raise ValueError(
            f"calibration needs both classes in the OOF labels; found {n_pos} positives of {y.size} rows"
        )
    return y


def balanced_weights(y: np.ndarray, sample_weight: np.ndarray | None = None) -> np.ndarray:
    """Row weights under which each class carries half the total, as WLL weighs them."""
    w = np.ones(y.size) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    pos, neg = float(w[y].sum()), float(w[~y].sum())
    return np.where(y, 0.5 * w / pos, 0.5 * w / neg)


RIDGE_C = 1e12
"""sklearn's inverse ridge strength: a ridge of 1e-12 on the balanced loss, whose weights sum to one."""


def fit_balanced_logistic(
    x: np.ndarray,
    labels: np.ndarray,
    start: np.ndarray,
    sample_weight: np.ndarray | None = None,
    iters: int = 50,
) -> np.ndarray:
    """Parameters of σ(x @ params) minimising the class-balanced log loss.

    sklearn's LogisticRegression by newton-cholesky: Newton's method with the exact Hessian,
    deterministic, from `start` (warm start), at most `iters` iterations. It replaced a NumPy Newton
    solver that was slower on 10M rows (bench/logistic_solver.py, BENCHMARKS.md). The weights sum to one,
    so C = RIDGE_C adds ½·1e-12·||params||² to the loss: nothing, except that collinear columns (a
    constant logit beside the intercept) stay solvable. `x` holds one column per parameter (an intercept
    is a column of ones); `sample_weight` reweights rows (a bootstrap draw) before the classes are
    balanced."""
    from sklearn.linear_model import LogisticRegression

    y = _check_labels(labels)
    model = LogisticRegression(
        C=RIDGE_C, solver="newton-cholesky", fit_intercept=False, max_iter=iters, warm_start=True
    )
    model.coef_ = np.asarray(start, dtype=np.float64).reshape(1, -1)  # what warm_start starts from
    model.fit(np.asarray(x, dtype=np.float64), y, sample_weight=balanced_weights(y, sample_weight))
    return model.coef_[0].astype(np.float64)


def fit_temperature(logits: np.ndarray, labels: np.ndarray, iters: int = 50) -> Calibrator:
    """Fit (a, b) of σ(a · logit + b) minimising the class-balanced log loss (fit_balanced_logistic),
    starting from a = 1, b = the prior shift."""
    _check_labels(labels)
    z = np.asarray(logits, dtype=np.float64)
    x = np.column_stack([z, np.ones(z.size)])
    params = fit_balanced_logistic(x, labels, np.array([1.0, balanced_shift(labels)]), iters=iters)
    return Calibrator(a=float(params[0]), b=float(params[1]), method="temperature")


def fit_calibrator(cfg: CalibrationConfig, logits: np.ndarray, labels: np.ndarray) -> Calibrator:
    """The configured calibrator: temperature scaling, or the identity when calibration is disabled."""
    if not cfg.enabled:
        return Calibrator()
    return fit_temperature(logits, labels, iters=cfg.iters)
