"""Step 1a of post/ (inside the ensemble step): combine one family's folds into one logit per test row.

The methods (`ensemble.method`) are pure functions over a [n_members, n_rows] logit matrix that return
logits, so every method feeds the same calibrator; blending two submission files
(post.submission_blend) reuses them:

- logit_mean: (weighted) mean of logits, i.e. the normalised geometric mean of the odds.
- mean: mean of probabilities σ(z), mapped back with logit(p) (p clipped to [1e-15, 1 − 1e-15]).
- geom_mean: geometric mean of the probabilities p alone, exp(mean log σ(z)), mapped back with logit;
  unlike logit_mean it ignores 1 − p, so it leans towards the most pessimistic member.
- median: median of the logits (the median commutes with the monotone σ, so it is also the median
  probability).
- trim_mean: mean of the logits after dropping floor(trim_ratio · n_members) members at each end, per row.
- rank_avg: (weighted) mean of each member's normalised rank (rank − ½) / n_rows. Ranks carry no scale,
  so the order they define is given the values of the logit_mean ensemble (its sorted logits assigned
  along the rank-average order, tied rows sharing the mean of their values): a quantile mapping that
  keeps the rank-average ordering on the members' logit scale, where the OOF-fitted calibrator applies.
- weighted: logit mean with weights, either explicit (ensemble.weights) or from each fold's validation
  Score softened by a temperature: w ∝ exp(score / val_weight_temperature). The fold's Score is taken
  after its family's calibrator, so folds compete on AP and calibration quality, not on the prior shift
  every raw BCE logit needs.
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_expit, softmax
from scipy.stats import rankdata

from toss_core.config import EnsembleConfig
from toss_core.scoring.metrics import EPS, logit, sigmoid

METHODS = ("logit_mean", "mean", "geom_mean", "median", "trim_mean", "rank_avg", "weighted")
LOGIT_CLIP = float(np.log(1.0 - EPS) - np.log(EPS))  # ≈ 34.5, the logit of 1 − 1e-15


def _matrix(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2 or z.shape[0] == 0:
        raise ValueError(f"expected a [n_members, n_rows] logit matrix, got shape {z.shape}")
    return z


def normalise_weights(weights: np.ndarray | list[float] | None, n_members: int) -> np.ndarray:
    """Weights summing to one (uniform when None); negative or all-zero weights are refused."""
    if weights is None:
        return np.full(n_members, 1.0 / n_members)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n_members,):
        raise ValueError(f"{w.size} weights given for {n_members} members")
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"weights must be finite, non-negative and not all zero, got {w.tolist()}")
    return w / w.sum()


def score_weights(scores: np.ndarray | list[float], temperature: float) -> np.ndarray:
    """w ∝ exp(score / T): a small T favours the best fold, a large T tends to equal weights."""
    return softmax(np.asarray(scores, dtype=np.float64) / temperature)


def logit_mean(logits: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    z = _matrix(logits)
    return normalise_weights(weights, z.shape[0]) @ z


def prob_mean(logits: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    z = _matrix(logits)
    return logit(normalise_weights(weights, z.shape[0]) @ sigmoid(z))


def geom_mean(logits: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    z = _matrix(logits)
    log_p = normalise_weights(weights, z.shape[0]) @ log_expit(z)  # mean log σ(z) ≤ 0
    log_p = np.minimum(log_p, np.log1p(-EPS))
    return np.clip(log_p - np.log(-np.expm1(log_p)), -LOGIT_CLIP, LOGIT_CLIP)  # logit(exp(log_p))


def median(logits: np.ndarray) -> np.ndarray:
    return np.median(_matrix(logits), axis=0)


def trim_mean(logits: np.ndarray, trim_ratio: float) -> np.ndarray:
    z = _matrix(logits)
    cut = int(np.floor(trim_ratio * z.shape[0]))
    if 2 * cut >= z.shape[0]:
        raise ValueError(f"trim_ratio {trim_ratio} leaves no member of {z.shape[0]}")
    return np.sort(z, axis=0)[cut : z.shape[0] - cut].mean(axis=0)


def rank_avg(logits: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    z = _matrix(logits)
    w = normalise_weights(weights, z.shape[0])
    ranks = (rankdata(z, axis=1) - 0.5) / z.shape[1]
    avg = w @ ranks
    order = np.argsort(avg, kind="stable")
    mapped = np.empty_like(avg)
    mapped[order] = np.sort(w @ z)
    _, group, counts = np.unique(avg, return_inverse=True, return_counts=True)
    return (np.bincount(group, weights=mapped) / counts)[group]


def combine(
    logits: np.ndarray,
    method: str,
    weights: np.ndarray | list[float] | None = None,
    trim_ratio: float = 0.1,
) -> np.ndarray:
    """Combine member logits [n_members, n_rows] into one logit per row with `method`.

    `weights` apply to logit_mean, mean, geom_mean, rank_avg and weighted (required there); median and
    trim_mean are unweighted by definition and refuse them.
    """
    w = None if weights is None else np.asarray(weights, dtype=np.float64)
    if method == "weighted":
        if w is None:
            raise ValueError("ensemble method 'weighted' needs weights")
        return logit_mean(logits, w)
    if method in ("median", "trim_mean") and w is not None:
        raise ValueError(f"ensemble method '{method}' takes no weights")
    if method == "logit_mean":
        return logit_mean(logits, w)
    if method == "mean":
        return prob_mean(logits, w)
    if method == "geom_mean":
        return geom_mean(logits, w)
    if method == "median":
        return median(logits)
    if method == "trim_mean":
        return trim_mean(logits, trim_ratio)
    if method == "rank_avg":
        return rank_avg(logits, w)
    raise ValueError(f"unknown ensemble method '{method}', expected one of {METHODS}")


def fold_weights(cfg: EnsembleConfig, member_scores: list[float]) -> np.ndarray | None:
    """Per-fold weights of the configured method (None for median and trim_mean, which take none)."""
    if cfg.method in ("median", "trim_mean"):
        return None
    if cfg.method != "weighted":
        return normalise_weights(None, len(member_scores))
    if cfg.weights is not None:
        return normalise_weights(cfg.weights, len(member_scores))
    return score_weights(member_scores, cfg.val_weight_temperature)
