"""The competition metric, written once so every step (training, calibration, scoring) agrees.

Score = 0.5·AP + 0.5·1/(1+WLL), where AP is average precision (sklearn's average_precision_score: one
sort, as fast on 10M rows as a hand-written one, see BENCHMARKS.md) and WLL is the class-balanced log loss
0.5·mean(−log(1−p) | y=0) + 0.5·mean(−log p | y=1) with p clipped to [1e-15, 1−1e-15].

WLL weighs both classes equally, so the best probabilities are calibrated to a 50:50 prior, not to
the base rate: `prior_shift` moves logits between priors. Every function raises ValueError, with the
reason, on input it cannot score (one class only, NaN, probabilities outside [0, 1], length mismatch).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

EPS = 1e-15


def _as_arrays(y: np.ndarray, p: np.ndarray, what: str = "p") -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    p = np.asarray(p, dtype=np.float64).reshape(-1)
    if y.shape != p.shape:
        raise ValueError(f"labels and {what} differ in length: {y.size} vs {p.size}")
    if y.size == 0:
        raise ValueError("cannot score an empty set of predictions")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError(f"labels must be 0 or 1, found {np.unique(y[~np.isin(y, (0.0, 1.0))])[:5]}")
    if not np.isfinite(p).all():
        raise ValueError(f"{what} has {int((~np.isfinite(p)).sum())} non-finite values")
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.size:
        only = "positives" if n_pos else "negatives"
        raise ValueError(f"the metric needs both classes; all {y.size} labels are {only}")
    return y, p


def _check_probabilities(p: np.ndarray) -> None:
    if p.min() < 0.0 or p.max() > 1.0:
        raise ValueError(f"probabilities must lie in [0, 1], found range [{p.min():.6g}, {p.max():.6g}]")


def _average_precision(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import average_precision_score  # imported on use: sklearn takes a second to load

    return float(average_precision_score(y, s))


def average_precision(y: np.ndarray, p: np.ndarray) -> float:
    """Average precision of scores p (any monotone score works: probabilities or logits)."""
    y, p = _as_arrays(y, p)
    return _average_precision(y, p)


def _wll(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, EPS, 1.0 - EPS)
    pos = y == 1.0
    return float(0.5 * np.mean(-np.log1p(-p[~pos])) + 0.5 * np.mean(-np.log(p[pos])))


def weighted_logloss(y: np.ndarray, p: np.ndarray) -> float:
    """Class-balanced log loss: each class contributes half, whatever its frequency."""
    y, p = _as_arrays(y, p)
    _check_probabilities(p)
    return _wll(y, p)


def _combine(ap: float, wll: float) -> float:
    return 0.5 * ap + 0.5 / (1.0 + wll)


def score(y: np.ndarray, p: np.ndarray) -> float:
    """The leaderboard Score: 0.5·AP + 0.5/(1+WLL)."""
    y, p = _as_arrays(y, p)
    _check_probabilities(p)
    return _combine(_average_precision(y, p), _wll(y, p))


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s))


def evaluate(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """AP, WLL, Score and AUC of probabilities p."""
    y, p = _as_arrays(y, p)
    _check_probabilities(p)
    ap, wll = _average_precision(y, p), _wll(y, p)
    return {"AP": ap, "WLL": wll, "Score": _combine(ap, wll), "AUC": _auc(y, p)}


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """The logistic function in float64 (scipy's expit: stable for any logit)."""
    from scipy.special import expit

    return expit(np.asarray(logits, dtype=np.float64))


def logit(p: npt.ArrayLike) -> np.ndarray:
    """log(p / (1 − p)) with p clipped to [1e-15, 1 − 1e-15], as the metric clips it."""
    p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1.0 - EPS)
    return np.log(p) - np.log1p(-p)


def evaluate_logits(y: np.ndarray, logits: np.ndarray) -> dict[str, float]:
    """Metrics of logits: AP and AUC rank the logits themselves (saturated sigmoids would create
    ties), WLL uses the clipped sigmoid exactly as on the leaderboard."""
    y, z = _as_arrays(y, logits, what="logits")
    ap, wll = _average_precision(y, z), _wll(y, sigmoid(z))
    return {"AP": ap, "WLL": wll, "Score": _combine(ap, wll), "AUC": _auc(y, z)}


def _logit(rate: float, name: str) -> float:
    if not 0.0 < rate < 1.0:
        raise ValueError(f"{name} must be a rate strictly between 0 and 1, got {rate}")
    return float(logit(rate))


def prior_shift(logits: np.ndarray, from_rate: float, to_rate: float = 0.5) -> np.ndarray:
    """Move logits calibrated to a base rate `from_rate` onto the prior `to_rate` (Bayes' rule on odds):
    logits + logit(to_rate) − logit(from_rate). With to_rate = 0.5 this is what WLL rewards."""
    shift = _logit(to_rate, "to_rate") - _logit(from_rate, "from_rate")
    return np.asarray(logits, dtype=np.float64) + shift


def prior_only_score(y: np.ndarray) -> float:
    """Score of the best constant prediction (0.5): AP = positive rate, WLL = ln 2.

    The floor every model must beat; a model near it has learned nothing."""
    y, _ = _as_arrays(y, np.zeros(np.size(y)))
    return _combine(float(y.mean()), float(np.log(2.0)))
