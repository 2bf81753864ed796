"""Fold ensembles: combine member logits, blend model families, calibrate, and save the result.

Combination methods are pure functions over a [n_members, n_rows] logit matrix that return logits, so
every method feeds the same calibrator:

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

The step (`build_ensemble`), per family: the OOF npz of every fold make one OOF vector (each train row
once, predicted by the model that held it out); every fold model predicts the test cache (saved to
layout.test_logits_path) and the fold test logits are combined with the method above. Several families
are blended with weights fitted on the OOF logits by toss_core.post.stacking. The calibrator is fitted on the
blended OOF logits and applied to the blended test logits: layout.test_pred_path holds the calibrated
test probabilities, layout.ensemble_path the method, weights, every metric and the fingerprints.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

from toss_core.config import EnsembleConfig, TossConfig
from toss_core.data.folds import load_folds
from toss_core.layout import Layout
from toss_core.post.stacking import fit_family_weights
from toss_core.scoring.calibration import Calibrator, fit_calibrator
from toss_core.scoring.metrics import EPS, evaluate, evaluate_logits, logit, score, sigmoid
from toss_core.spec import FeatureSpec
from toss_core.util.atomic import atomic_path, write_json
from toss_core.util.errors import ArtifactError
from toss_core.util.results import EnsembleResult

log = logging.getLogger("toss")

ENSEMBLE_FORMAT = "toss-ensemble/1"

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
    s = np.asarray(scores, dtype=np.float64) / temperature
    e = np.exp(s - s.max())
    return e / e.sum()


def logit_mean(logits: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    z = _matrix(logits)
    return normalise_weights(weights, z.shape[0]) @ z


def prob_mean(logits: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    z = _matrix(logits)
    return logit(normalise_weights(weights, z.shape[0]) @ sigmoid(z))


def geom_mean(logits: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    z = _matrix(logits)
    log_p = normalise_weights(weights, z.shape[0]) @ -np.logaddexp(0.0, -z)  # mean log σ(z) ≤ 0
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


# ---- the ensemble step: OOF + test logits per family and fold, blend, calibrate, save -----------------


@dataclass(frozen=True)
class FamilyOOF:
    """One family's out-of-fold logits: each train row once, predicted by the fold that held it out."""

    family: str
    logit: np.ndarray  # [n_train] float64, row order of the train cache
    label: np.ndarray  # [n_train] float64
    fold: np.ndarray  # [n_train] int, the fold whose model predicted the row


def load_family_oof(layout: Layout, family: str, n_splits: int, n_rows: int) -> FamilyOOF:
    """Assemble the family's OOF vector from its per-fold npz files; ArtifactError when incomplete."""
    missing = [k for k in range(n_splits) if not layout.oof_path(k, family).is_file()]
    if missing:
        raise ArtifactError(
            f"OOF predictions of family '{family}' are missing for fold(s) {missing} "
            f"(expected {layout.oof_path(missing[0], family)}): train those folds first"
        )
    logit = np.full(n_rows, np.nan)
    label = np.full(n_rows, np.nan)
    fold = np.full(n_rows, -1, dtype=np.int64)
    for k in range(n_splits):
        with np.load(layout.oof_path(k, family)) as npz:
            index = npz["index"]
            if index.size and (index.min() < 0 or index.max() >= n_rows):
                raise ArtifactError(
                    f"{layout.oof_path(k, family)} indexes rows up to {index.max()}, the train cache has "
                    f"{n_rows}: it was written for another cache; retrain fold {k}"
                )
            if (fold[index] >= 0).any():
                raise ArtifactError(
                    f"{layout.oof_path(k, family)} repeats {int((fold[index] >= 0).sum())} rows already "
                    f"predicted by another fold: the folds were reassigned; retrain every fold"
                )
            logit[index], label[index], fold[index] = npz["logit"], npz["label"], k
    uncovered = int((fold < 0).sum())
    if uncovered:
        raise ArtifactError(
            f"OOF predictions of family '{family}' in {layout.family_dir(family)} cover "
            f"{n_rows - uncovered} of {n_rows} train rows: the folds were reassigned; retrain every fold"
        )
    return FamilyOOF(family, logit, label, fold)


def _require_checkpoints(layout: Layout, family: str, n_splits: int) -> None:
    found = [k for k in range(n_splits) if layout.checkpoint(k, family).is_file()]
    expected = [layout.checkpoint(k, family).name for k in range(n_splits)]
    if not found:
        flag = " --family gbdt" if family == "gbdt" else ""
        raise ArtifactError(
            f"No checkpoints found in {layout.family_dir(family)} for family '{family}' (expected "
            f"{', '.join(expected)}): train the folds first (`toss train{flag}`)"
        )
    missing = sorted(set(range(n_splits)) - set(found))
    if missing:
        raise ArtifactError(
            f"checkpoints of fold(s) {missing} are missing in {layout.family_dir(family)} "
            f"(found {[expected[k] for k in found]}): train those folds first"
        )


def _check_fingerprints(layout: Layout, family: str, fold: int, train_fp: str) -> None:
    """A fold trained on another train cache (or other co-visitation features) is refused up front,
    naming both fingerprints, before any prediction work starts."""
    from toss_core.data.reader import ShardedCache

    if family == "gbdt":
        from toss_core.gbdt.train import load_sidecar

        meta = load_sidecar(layout, fold)
        dense = meta["plan"].get("dense_cols")
    else:
        from toss_core.train import checkpoint

        meta = checkpoint.load(layout.checkpoint(fold), "cpu")
        dense = meta["spec"].get("dense_cols")
    trained_on, covis_fp = meta["cache_fingerprint"], meta["covis_fingerprint"]
    path = layout.checkpoint(fold, family)
    if trained_on != train_fp:
        raise ArtifactError(
            f"{family} fold {fold} ({path}) was trained on cache {trained_on}, but the current train cache "
            f"{layout.train_cache} is {train_fp}: retrain the fold (or point data.cache_dir at its cache)"
        )
    if dense:
        current = ShardedCache(layout.covis_test).fingerprint
        if current != covis_fp:
            raise ArtifactError(
                f"{family} fold {fold} ({path}) was trained with co-visitation features {covis_fp}, but "
                f"{layout.covis_test} is {current}: rebuild the features or retrain the fold"
            )


def _nn_test_logits(cfg: TossConfig, layout: Layout, fold: int, test) -> np.ndarray:
    """Test logits of one neural fold (its fingerprints were checked by _check_fingerprints)."""
    import torch

    from toss_core.data.reader import ShardedCache
    from toss_core.train.predict import load_checkpoint, predict_logits
    from toss_core.train.runtime import amp_dtype, resolve_device, torch_runtime

    device = resolve_device(cfg.device)
    model, ckpt = load_checkpoint(layout.checkpoint(fold), device)
    spec = FeatureSpec.from_dict(ckpt["spec"])
    dense = ShardedCache(layout.covis_test) if spec.dense_cols else None
    with torch_runtime(cfg), torch.no_grad():
        return predict_logits(
            model,
            test,
            dense,
            cfg.train.eval_batch_size,
            device,
            float(ckpt["logit_offset"]),
            spec=spec,
            amp_dtype=amp_dtype(cfg.amp, device),
        )


def fold_test_logits(cfg: TossConfig, layout: Layout, family: str, fold: int, test) -> np.ndarray:
    """Compute one fold's test logits and save them to layout.test_logits_path(fold, family)."""
    started = time.perf_counter()
    if family == "nn":
        logits = _nn_test_logits(cfg, layout, fold, test)
    else:
        from toss_core.gbdt.train import predict_test

        logits = predict_test(cfg, layout, fold)
    logits = np.asarray(logits, dtype=np.float32)
    if logits.shape != (test.n_rows,):
        raise ArtifactError(
            f"{family} fold {fold} gave {logits.shape} test logits for {test.n_rows} test rows"
        )
    with atomic_path(layout.test_logits_path(fold, family)) as tmp, open(tmp, "wb") as fh:
        np.save(fh, logits)
    seconds = time.perf_counter() - started
    log.info("ensemble: %s fold %d test logits, %d rows in %.1fs", family, fold, logits.size, seconds)
    return logits


def fold_weights(cfg: EnsembleConfig, member_scores: list[float]) -> np.ndarray | None:
    """Per-fold weights of the configured method (None for median and trim_mean, which take none)."""
    if cfg.method in ("median", "trim_mean"):
        return None
    if cfg.method != "weighted":
        return normalise_weights(None, len(member_scores))
    if cfg.weights is not None:
        return normalise_weights(cfg.weights, len(member_scores))
    return score_weights(member_scores, cfg.val_weight_temperature)


def _metrics(y: np.ndarray, logits: np.ndarray) -> dict[str, float]:
    return {k: float(v) for k, v in evaluate_logits(y, logits).items()}


def _calibrated_metrics(y: np.ndarray, logits: np.ndarray, calibrator: Calibrator) -> dict[str, float]:
    return {k: float(v) for k, v in evaluate(y, calibrator.predict_proba(logits)).items()}


@dataclass
class FamilyEnsemble:
    """One family's fold ensemble: its combined test logits and what ensemble.json reports about it."""

    test_logits: np.ndarray
    members: dict[str, dict[str, float]]
    report: dict


def ensemble_family(cfg: TossConfig, layout: Layout, oof: FamilyOOF, test) -> FamilyEnsemble:
    """Score the family's folds, compute and combine their test logits."""
    own = fit_calibrator(cfg.calibration, oof.logit, oof.label)
    members = {}
    for fold in range(cfg.cv.n_splits):
        rows = oof.fold == fold
        y, z = oof.label[rows], oof.logit[rows]
        members[f"{oof.family}/fold_{fold}"] = {
            **_metrics(y, z),
            "Score_calibrated": float(score(y, own.predict_proba(z))),
        }
    w = fold_weights(cfg.ensemble, [m["Score_calibrated"] for m in members.values()])
    logits = np.stack([fold_test_logits(cfg, layout, oof.family, k, test) for k in range(cfg.cv.n_splits)])
    report = {
        "oof": _metrics(oof.label, oof.logit),
        "oof_calibrated": _calibrated_metrics(oof.label, oof.logit, own),
        "calibrator": own.to_dict(),
        "fold_weights": None if w is None else w.tolist(),
    }
    log.info(
        "ensemble: %s OOF Score %.5f uncalibrated, %.5f calibrated alone",
        oof.family, report["oof"]["Score"], report["oof_calibrated"]["Score"],
    )  # fmt: skip
    return FamilyEnsemble(combine(logits, cfg.ensemble.method, w, cfg.ensemble.trim_ratio), members, report)


def _covis_fingerprint(cfg: TossConfig, layout: Layout) -> str | None:
    from toss_core.data.reader import ShardedCache

    return ShardedCache(layout.covis_test).fingerprint if cfg.features.covis.enabled else None


def _checked_oofs(cfg: TossConfig, layout: Layout, families: list[str], train, test) -> list[FamilyOOF]:
    """Every family's OOF vector, after refusing artifacts made from other caches or other folds."""
    test_made_from = test.manifest.get("fingerprint", {}).get("train_cache")
    if test_made_from != train.fingerprint:
        raise ArtifactError(
            f"test cache {layout.test_cache} was built with the statistics of train cache {test_made_from}, "
            f"but the current train cache {layout.train_cache} is {train.fingerprint}: rebuild the test cache"
        )
    for family in families:
        for fold in range(cfg.cv.n_splits):
            _check_fingerprints(layout, family, fold, train.fingerprint)
    oofs = [load_family_oof(layout, f, cfg.cv.n_splits, train.n_rows) for f in families]
    folds = load_folds(layout)
    for oof in oofs:
        moved = int((oof.fold != folds).sum())
        if moved:
            raise ArtifactError(
                f"{moved} OOF rows of family '{oof.family}' were predicted by another fold than "
                f"{layout.folds_path} assigns them: the folds changed after training; retrain every fold"
            )
        if not np.array_equal(oof.label, oofs[0].label):
            raise ArtifactError(f"OOF labels of '{oof.family}' differ from '{families[0]}': retrain both")
    return oofs


def build_ensemble(cfg: TossConfig, layout: Layout, families: list[str]) -> EnsembleResult:
    """The ensemble step (see the module docstring); writes test logits, test_pred and ensemble.json."""
    for family in families:
        _require_checkpoints(layout, family, cfg.cv.n_splits)
    from toss_core.data.reader import ShardedCache

    train, test = ShardedCache(layout.train_cache), ShardedCache(layout.test_cache)
    oofs = _checked_oofs(cfg, layout, families, train, test)
    y = oofs[0].label
    parts = [ensemble_family(cfg, layout, oof, test) for oof in oofs]

    oof_matrix = np.stack([o.logit for o in oofs])
    stack = fit_family_weights(oof_matrix, y, cfg.calibration) if len(oofs) > 1 else None
    family_w = stack.weights if stack is not None else np.ones(1)
    blend_oof = family_w @ oof_matrix
    calibrator = fit_calibrator(cfg.calibration, blend_oof, y)
    oof_uncal, oof_cal = _metrics(y, blend_oof), _calibrated_metrics(y, blend_oof, calibrator)
    log.info(
        "ensemble: OOF Score %.5f before calibration, %.5f after (a=%.4f, b=%.4f)",
        oof_uncal["Score"], oof_cal["Score"], calibrator.a, calibrator.b,
    )  # fmt: skip
    test_pred = calibrator.predict_proba(family_w @ np.stack([p.test_logits for p in parts]))
    with atomic_path(layout.test_pred_path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, test_pred)

    family_weights = {f: float(w) for f, w in zip(families, family_w, strict=True)}
    fold_w = {
        f"{f}/fold_{k}": w
        for f, p in zip(families, parts, strict=True)
        for k, w in enumerate(p.report["fold_weights"] or [])
    }
    members = {name: m for p in parts for name, m in p.members.items()}
    per_family = {f: p.report for f, p in zip(families, parts, strict=True)}
    stacking = None
    if stack is not None:
        stacking = {
            "best_oof_score": stack.score,
            "grid": stack.grid.tolist(),
            "grid_oof_scores": stack.grid_scores.tolist(),
        }
    write_json(
        layout.ensemble_path,
        {
            "format": ENSEMBLE_FORMAT,
            "method": cfg.ensemble.method,
            "trim_ratio": cfg.ensemble.trim_ratio,
            "families": families,
            "family_weights": family_weights,
            "stacking": stacking,
            "per_family": per_family,
            "members": members,
            "oof_uncalibrated": oof_uncal,
            "oof_calibrated": oof_cal,
            "calibrator": calibrator.to_dict(),
            "test_rows": test.n_rows,
            "test_mean_prediction": float(test_pred.mean()),
            "fingerprints": {
                "train_cache": train.fingerprint,
                "test_cache": test.fingerprint,
                "covis": _covis_fingerprint(cfg, layout),
                "folds_cv": json.loads(layout.folds_meta_path.read_text())["cv_fingerprint"],
            },
        },
    )
    return EnsembleResult(
        path=layout.ensemble_path,
        method=cfg.ensemble.method,
        weights={**fold_w, **family_weights},
        oof_uncalibrated=oof_uncal,
        oof_calibrated=oof_cal,
        members=members,
        calibrator={"a": calibrator.a, "b": calibrator.b},
        families={
            **{f: r["oof"] for f, r in per_family.items()},
            **{f"{f}_calibrated": r["oof_calibrated"] for f, r in per_family.items()},
        },
    )
