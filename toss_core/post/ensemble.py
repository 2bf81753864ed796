"""Step 1 of post/, the ensemble step: every family's saved OOF and test logits → one calibrated prediction.

It only reads fold artifacts (toss_core.artifacts.fold) and combines them; it predicts nothing itself.
Per family, the OOF files of every fold make one OOF vector (each train row once, predicted by the model
that held it out) and the folds' test logits (the test-prediction step's output) are combined with the
configured method (post.ensemble_folds). Several families are blended with weights fitted on the OOF
logits by a logistic stacker validated across folds (post.ensemble_families). The calibrator is fitted
on the blended OOF logits and applied to the blended test logits: layout.test_pred_path holds the
calibrated test probabilities, layout.ensemble_path the method, weights, every metric and the
fingerprints. With folds ordered in time (cv.order_key, cv.time_key) the stacker and every calibrator
learn on the last fold's OOF rows only (toss_core.data.folds.stacking_rows): the rows predicted, like the
test rows, by a model that saw only earlier rows.

Before anything is combined, every artifact is checked against the current caches, folds and models:
an OOF file from another train cache, a test-logit file from an older checkpoint of its fold or from
another test cache, or folds reassigned after training are refused with the command that fixes them.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from toss_core.artifacts.fold import (
    FamilyOOF,
    check_oof_lineage,
    load_family_oof,
    load_refit_test_logits,
    load_test_logits,
    require_fold_files,
)
from toss_core.config import TossConfig
from toss_core.data.folds import load_folds, stacking_rows
from toss_core.data.lineage import check_test_made_from
from toss_core.data.reader import ShardedCache
from toss_core.layout import Layout
from toss_core.post.ensemble_families import StackResult, fit_family_weights, stacker_groups
from toss_core.post.ensemble_folds import combine, fold_weights
from toss_core.scoring.calibration import Calibrator, fit_calibrator
from toss_core.scoring.metrics import evaluate, evaluate_logits, score
from toss_core.util.atomic import atomic_path, write_json
from toss_core.util.errors import ArtifactError
from toss_core.util.results import EnsembleResult

log = logging.getLogger("toss")

ENSEMBLE_FORMAT = "toss-ensemble/1"


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


def ensemble_family(
    cfg: TossConfig,
    oof: FamilyOOF,
    test_logits: np.ndarray,
    refit: np.ndarray | None = None,
    fit_rows: np.ndarray | None = None,
) -> FamilyEnsemble:
    """Score the family's folds and combine their test logits [n_folds, n_test]; with `refit` (the test
    logits of the family's model trained on every row, cv.refit = full) those are the prediction. Its
    calibrator learns on the OOF rows `fit_rows` (folds.stacking_rows; None = every row)."""
    at = slice(None) if fit_rows is None else fit_rows
    own = fit_calibrator(cfg.calibration, oof.logit[at], oof.label[at])
    members = {}
    for fold in range(cfg.cv.n_splits):
        rows = oof.fold == fold
        y, z = oof.label[rows], oof.logit[rows]
        members[f"{oof.family}/fold_{fold}"] = {
            **_metrics(y, z),
            "Score_calibrated": float(score(y, own.predict_proba(z))),
        }
    w = fold_weights(cfg.ensemble, [m["Score_calibrated"] for m in members.values()])
    report: dict[str, Any] = {
        "oof": _metrics(oof.label, oof.logit),
        "oof_calibrated": _calibrated_metrics(oof.label, oof.logit, own),
        "calibrator": own.to_dict(),
        "fold_weights": None if w is None else w.tolist(),
    }
    log.info(
        "ensemble: %s OOF Score %.5f uncalibrated, %.5f calibrated alone",
        oof.family, report["oof"]["Score"], report["oof_calibrated"]["Score"],
    )  # fmt: skip
    combined = (
        refit if refit is not None else combine(test_logits, cfg.ensemble.method, w, cfg.ensemble.trim_ratio)
    )
    return FamilyEnsemble(combined, members, report)


def _covis_fingerprint(cfg: TossConfig, layout: Layout) -> str | None:
    """The current co-visitation features' fingerprint (None when disabled or never built)."""
    if not cfg.features.covis.enabled or not (layout.covis_train / "manifest.json").is_file():
        return None
    return ShardedCache(layout.covis_train).fingerprint


def _checked_oofs(
    cfg: TossConfig, layout: Layout, families: list[str], train: ShardedCache
) -> list[FamilyOOF]:
    """Every family's OOF vector, after refusing artifacts made from other caches or other folds."""
    covis = _covis_fingerprint(cfg, layout)
    oofs = [load_family_oof(layout, f, cfg.cv.n_splits, train.n_rows) for f in families]
    folds = load_folds(layout)
    for oof in oofs:
        check_oof_lineage(oof, train.fingerprint, covis, layout)
        moved = int((oof.fold != folds).sum())
        if moved:
            raise ArtifactError(
                f"{moved} OOF rows of family '{oof.family}' were predicted by another fold than "
                f"{layout.folds_path} assigns them: the folds changed after training; retrain every fold"
            )
        if not np.array_equal(oof.label, oofs[0].label):
            raise ArtifactError(f"OOF labels of '{oof.family}' differ from '{families[0]}': retrain both")
    return oofs


def _family_parts(
    cfg: TossConfig,
    layout: Layout,
    oofs: list[FamilyOOF],
    train: ShardedCache,
    test: ShardedCache,
    fit_rows: np.ndarray | None,
) -> list[FamilyEnsemble]:
    """Each family's fold ensemble, from its verified test logits (and its refit's, cv.refit = full)."""
    parts = []
    for oof in oofs:
        tests = load_test_logits(layout, oof, test.fingerprint, test.n_rows)
        refit = None
        if cfg.cv.refit == "full":
            refit = load_refit_test_logits(
                layout, oof.family, train.fingerprint, test.fingerprint, test.n_rows
            )
        parts.append(ensemble_family(cfg, oof, tests, refit, fit_rows))
    return parts


def _stack(
    cfg: TossConfig, oofs: list[FamilyOOF], families: list[str], fit_rows: np.ndarray | None
) -> StackResult | None:
    """The cross-family stacker (None for one family), fitted and cross-validated on `fit_rows`; where
    those rows hold one fold only (folds ordered in time), on cv.n_splits blocks of them in cache order."""
    if len(oofs) == 1:
        return None
    at = slice(None) if fit_rows is None else fit_rows
    z = np.stack([o.logit[at] for o in oofs])
    groups = stacker_groups(oofs[0].fold[at], cfg.cv.n_splits)
    stack = fit_family_weights(z, oofs[0].label[at], groups, cfg.calibration, families, seed=cfg.seed)
    shares = {f: round(float(w), 4) for f, w in zip(families, stack.weights, strict=True)}
    log.info("ensemble: stacker %s (CV Score %.5f), family shares %s", stack.chosen, stack.cv_score, shares)
    return stack


def build_ensemble(cfg: TossConfig, layout: Layout, families: list[str]) -> EnsembleResult:
    """The ensemble step (see the module docstring); writes test_pred.npy and ensemble.json."""
    for family in families:
        require_fold_files(layout, family, cfg.cv.n_splits)
    train, test = ShardedCache(layout.train_cache), ShardedCache(layout.test_cache)
    check_test_made_from(layout, train, test)
    oofs = _checked_oofs(cfg, layout, families, train)
    fit_rows = stacking_rows(cfg, oofs[0].fold)
    parts = _family_parts(cfg, layout, oofs, train, test, fit_rows)
    y = oofs[0].label
    oof_matrix = np.stack([o.logit for o in oofs])
    stack = _stack(cfg, oofs, families, fit_rows)
    family_w = stack.weights if stack is not None else np.ones(1)
    blend_oof = family_w @ oof_matrix
    at = slice(None) if fit_rows is None else fit_rows
    calibrator = fit_calibrator(cfg.calibration, blend_oof[at], y[at])
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
    write_json(
        layout.ensemble_path,
        {
            "format": ENSEMBLE_FORMAT,
            "method": cfg.ensemble.method,
            "refit": cfg.cv.refit,
            "fit_rows": "every OOF row"
            if fit_rows is None
            else f"fold {cfg.cv.n_splits - 1} (the latest rows)",
            "trim_ratio": cfg.ensemble.trim_ratio,
            "families": families,
            "family_weights": family_weights,
            "stacking": None if stack is None else stack.report(families),
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
                "models": {f"{o.family}/fold_{lin.fold}": lin.model for o in oofs for lin in o.lineage},
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
        stacking=None if stack is None else stack.report(families),
        families={
            **{f: r["oof"] for f, r in per_family.items()},
            **{f"{f}_calibrated": r["oof_calibrated"] for f, r in per_family.items()},
        },
    )
