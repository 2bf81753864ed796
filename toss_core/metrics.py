"""The competition metric, written once so every step (training, calibration, scoring) agrees.

Score = 0.5·AP + 0.5·1/(1+WLL), where AP is average precision (identical to
sklearn.metrics.average_precision_score, ties included) and WLL is the class-balanced log loss
0.5·mean(−log(1−p) | y=0) + 0.5·mean(−log p | y=1) with p clipped to [1e-15, 1−1e-15].

WLL weighs both classes equally, so the best probabilities are calibrated to a 50:50 prior, not to
the base rate: `prior_shift` moves logits between priors. Every function raises ValueError, with the
reason, on input it cannot score (one class only, NaN, probabilities outside [0, 1], length mismatch).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

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
    """AP over distinct score thresholds: sum over thresholds of (recall step) × precision."""
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    last_of_group = np.r_[np.flatnonzero(np.diff(s_sorted)), s_sorted.size - 1]
    tp = np.cumsum(y_sorted)[last_of_group]
    seen = last_of_group + 1.0
    precision = tp / seen
    recall_step = np.diff(tp, prepend=0.0) / tp[-1]
    return float(np.sum(recall_step * precision))


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
    """Numerically stable logistic function in float64."""
    z = np.asarray(logits, dtype=np.float64)
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def evaluate_logits(y: np.ndarray, logits: np.ndarray) -> dict[str, float]:
    """Metrics of logits: AP and AUC rank the logits themselves (saturated sigmoids would create
    ties), WLL uses the clipped sigmoid exactly as on the leaderboard."""
    y, z = _as_arrays(y, logits, what="logits")
    ap, wll = _average_precision(y, z), _wll(y, sigmoid(z))
    return {"AP": ap, "WLL": wll, "Score": _combine(ap, wll), "AUC": _auc(y, z)}


def _logit(rate: float, name: str) -> float:
    if not 0.0 < rate < 1.0:
        raise ValueError(f"{name} must be a rate strictly between 0 and 1, got {rate}")
    return float(np.log(rate) - np.log1p(-rate))


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


def fold_metrics(labels: np.ndarray, logits: np.ndarray, train_prior: float) -> dict[str, float]:
    """Validation metrics of true-prior logits, comparable across families and with prior_only_score.

    AP/WLL/Score/AUC are measured after the Bayes shift from the training click rate to the 50:50 prior
    WLL rewards; WLL_raw/Score_raw are those of the unshifted logits; WLL_cal/Score_cal those after the
    temperature calibration fitted on these rows (what the ensemble step will do to the OOF logits, so the
    Score that model selection should look at: a confident model loses WLL to the prior shift alone that
    the calibrator gives back)."""
    from toss_core.calibrate import fit_temperature

    raw = evaluate_logits(labels, logits)
    shifted = evaluate_logits(labels, prior_shift(logits, train_prior, 0.5))
    calibrated = evaluate_logits(labels, fit_temperature(logits, labels).apply(logits))
    return {
        **shifted,
        "WLL_raw": raw["WLL"],
        "Score_raw": raw["Score"],
        "WLL_cal": calibrated["WLL"],
        "Score_cal": calibrated["Score"],
    }


def score_submission(sub_csv: str | Path, truth_parquet: str | Path) -> dict[str, float]:
    """Score a submission CSV (ID,clicked) against a truth Parquet (ID, clicked), joined on ID.

    Errors name the file and count the missing, extra and duplicated IDs and the bad predictions."""
    import polars as pl

    sub_csv, truth_parquet = Path(sub_csv), Path(truth_parquet)
    for path in (sub_csv, truth_parquet):
        if not path.is_file():
            raise ValueError(f"{path}: file not found")
    try:
        sub = pl.read_csv(sub_csv, schema_overrides={"ID": pl.Utf8})
    except pl.exceptions.PolarsError as exc:
        raise ValueError(f"{sub_csv}: not a readable CSV ({exc})") from exc
    truth = pl.read_parquet(truth_parquet)
    for path, frame in ((sub_csv, sub), (truth_parquet, truth)):
        missing = [c for c in ("ID", "clicked") if c not in frame.columns]
        if missing:
            raise ValueError(f"{path}: missing column(s) {missing}; found {frame.columns}")
    n_dup = sub.height - sub["ID"].n_unique()
    if n_dup:
        raise ValueError(f"{sub_csv}: {n_dup} duplicated ID rows")
    try:
        pred = sub["clicked"].cast(pl.Float64).to_numpy()
    except pl.exceptions.InvalidOperationError as exc:
        raise ValueError(f"{sub_csv}: column 'clicked' is not numeric ({sub['clicked'].dtype})") from exc
    n_bad = int((~np.isfinite(pred)).sum())
    if n_bad:
        raise ValueError(f"{sub_csv}: {n_bad} non-finite predictions in 'clicked'")
    n_out = int(((pred < 0.0) | (pred > 1.0)).sum())
    if n_out:
        raise ValueError(f"{sub_csv}: {n_out} predictions in 'clicked' outside [0, 1]")
    truth_ids, sub_ids = truth.select("ID"), sub.select("ID")
    n_missing = truth_ids.join(sub_ids, on="ID", how="anti").height
    n_extra = sub_ids.join(truth_ids, on="ID", how="anti").height
    if n_missing or n_extra:
        raise ValueError(
            f"{sub_csv}: IDs do not match {truth_parquet}: {n_missing} missing, {n_extra} extra "
            f"({sub.height} rows submitted, {truth.height} expected)"
        )
    joined = truth.select("ID", pl.col("clicked").alias("y")).join(
        sub.select("ID", pl.col("clicked").cast(pl.Float64).alias("p")), on="ID", how="inner"
    )
    out = evaluate(joined["y"].to_numpy(), joined["p"].to_numpy())
    return {**out, "n": joined.height}
