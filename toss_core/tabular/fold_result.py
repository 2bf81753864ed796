"""How a tree family closes a fold: its validation metrics, its OOF file and the FoldResult, the same for
LightGBM and CatBoost (so their Dagster metadata and logs read alike)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from toss_core.artifacts.fold import SELECTED, Lineage, save_oof
from toss_core.layout import Layout
from toss_core.scoring.fold_metrics import fold_metrics
from toss_core.scoring.metrics import prior_only_score
from toss_core.util.results import FoldResult

log = logging.getLogger("toss")


def validation_scores(
    y_valid: np.ndarray, logits: np.ndarray, train_prior: float, selected: int
) -> tuple[dict[str, float], float]:
    """(the fold's metrics with SELECTED = the iterations kept, the prior-only Score of its rows)."""
    metrics = {k: float(v) for k, v in fold_metrics(y_valid, logits, train_prior).items()}
    metrics[SELECTED] = float(selected)
    return metrics, float(prior_only_score(y_valid))


def record_fold(
    layout: Layout,
    lineage: Lineage,
    checkpoint: Path,
    valid_rows: np.ndarray,
    logits: np.ndarray,
    y_valid: np.ndarray,
    scores: tuple[dict[str, float], float],
    started: float,
) -> FoldResult:
    """Write the fold's OOF logits (through toss_core.artifacts.fold), log its line, return its result."""
    metrics, prior = scores
    oof_path = save_oof(layout, lineage, valid_rows, logits, y_valid, metrics)
    seconds = time.perf_counter() - started
    best = int(metrics[SELECTED])
    shown = ", ".join(f"{k} {v:.5g}" for k, v in metrics.items())
    log.info("%s fold %s: best iteration %d, %s (%.1fs)", lineage.family, lineage.fold, best, shown, seconds)
    return FoldResult(
        fold=int(lineage.fold),
        family=lineage.family,
        checkpoint=checkpoint,
        oof_path=oof_path,
        metrics=metrics,
        prior_score=prior,
        best_epoch=best,
        seconds=seconds,
    )
