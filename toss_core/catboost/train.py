"""CatBoost per fold on the shard cache, beside the network and LightGBM.

Same cache, fold assignment and co-visitation features (whose click rates are out of fold), early stopping
on the fold's validation rows, and the same OOF npz as every family (toss_core.artifacts.fold). CatBoost
sees only the training rows' labels: its ordered target statistics on the categoricals are computed over
permutations of those rows. Artifacts of fold k, in layout.family_dir("catboost"):
    ckpt_fold_k.cbm    the model, cut at the selected iteration
    ckpt_fold_k.json   sidecar: cache/covis fingerprints, design plan, parameters, metrics
    oof_fold_k.npz     validation-row logits
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from toss_core.artifacts.fold import Lineage, file_digest
from toss_core.catboost.design import cache_pool, plan_for
from toss_core.catboost.params import catboost_params, classifier
from toss_core.catboost.paths import NAME, checkpoint_path
from toss_core.config import TossConfig
from toss_core.data.reader import ShardedCache
from toss_core.features.fold_rates import fold_dense, reads_nested
from toss_core.layout import FULL, Layout
from toss_core.tabular.design import DesignPlan
from toss_core.tabular.fold_result import record_fold, validation_scores
from toss_core.tabular.inputs import fold_rows, train_inputs
from toss_core.util.atomic import atomic_path, write_json
from toss_core.util.errors import ArtifactError
from toss_core.util.progress import Progress
from toss_core.util.results import FoldResult

log = logging.getLogger("toss")

FORMAT = "toss-catboost/1"


def sidecar_path(layout: Layout, fold: int | str) -> Path:
    return checkpoint_path(layout, fold).with_suffix(".json")


class _ProgressCallback:
    """CatBoost callback (CPU only: CatBoost runs no user callback on GPU): iterations/s, training rows/s,
    ETA and the validation loss, like LightGBM's and the network's progress lines."""

    def __init__(self, fold: int | str, iterations: int, n_rows: int):
        self.progress = Progress(f"catboost fold {fold}", iterations, every_s=5.0, unit="iterations")
        self.n_rows = n_rows

    def after_iteration(self, info: Any) -> bool:
        extra = f"{self.progress.rate * self.n_rows:,.0f} rows/s"
        valid = info.metrics.get("validation", {}).get("Logloss")
        if valid:
            extra += f" | valid Logloss {valid[-1]:.5f}"
        self.progress.update(1, extra)
        return True  # keep training: early stopping is CatBoost's own


def _fit(params: dict[str, Any], fold: int | str, train_pool: Any, n_rows: int, **fit_args: Any) -> Any:
    import catboost

    model = classifier(params)
    callbacks = (
        [_ProgressCallback(fold, params["iterations"], n_rows)] if params["task_type"] == "CPU" else None
    )
    try:
        return model.fit(train_pool, callbacks=callbacks, **fit_args)
    except catboost.CatBoostError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ArtifactError(
            f"catboost fold {fold}: CatBoost refused to train ({first}); check catboost.params"
        ) from None


def _save(layout: Layout, fold: int | str, model: Any, plan: DesignPlan, sidecar: dict[str, Any]) -> Lineage:
    """Model and sidecar of one fold, written atomically; the lineage of the saved model."""
    path = checkpoint_path(layout, fold)
    with atomic_path(path) as tmp:
        model.save_model(str(tmp), format="cbm")
    importance = model.get_feature_importance()
    top = {plan.feature_names[i]: float(importance[i]) for i in np.argsort(-importance)[:20]}
    write_json(sidecar_path(layout, fold), {"format": FORMAT, "fold": fold, **sidecar, "top_importance": top})
    covis = sidecar["covis_fingerprint"] if plan.dense_cols else None
    return Lineage(NAME, fold, sidecar["cache_fingerprint"], covis, file_digest(path))


def _sidecar(
    cache: ShardedCache,
    dense: ShardedCache | None,
    plan: DesignPlan,
    params: dict[str, Any],
    best: int,
    **extra: Any,
) -> dict[str, Any]:
    """What predict and refit need besides the model: the inputs' fingerprints, the plan, the parameters."""
    return {
        "cache_fingerprint": cache.fingerprint,
        "covis_fingerprint": None if dense is None else dense.fingerprint,
        "plan": plan.to_dict(),
        "params": params,
        "best_iteration": int(best),
        **{k: int(v) for k, v in extra.items()},
    }


def train_fold(cfg: TossConfig, layout: Layout, fold: int) -> FoldResult:
    """Train CatBoost on the rows outside `fold`, early-stop and score on the rows inside it."""
    start = time.perf_counter()
    cache, labels, dense = train_inputs(cfg, layout)
    plan = plan_for(cache, dense, nested=reads_nested(cfg, NAME))
    # none of its columns read: no lineage to it either; else this fold model's click rates
    dense = fold_dense(dense, fold, nested=reads_nested(cfg, NAME)) if plan.dense_cols else None
    train_rows, valid_rows = fold_rows(layout, cache.n_rows, fold)
    params = catboost_params(cfg)
    classifier(params)  # a bad catboost.params key fails here, before any matrix is built
    log.info(
        "catboost fold %d: %d train rows, %d valid rows, %d features (%d categorical), %s",
        fold, len(train_rows), len(valid_rows), len(plan.feature_names), len(plan.native_cols),
        params["task_type"],
    )  # fmt: skip
    train_pool = cache_pool(plan, cache, train_rows, dense, labels[train_rows])
    y_valid = labels[valid_rows]
    valid_pool = cache_pool(plan, cache, valid_rows, dense, y_valid)
    model = _fit(
        params,
        fold,
        train_pool,
        len(train_rows),
        eval_set=valid_pool,
        early_stopping_rounds=cfg.catboost.early_stopping_rounds,
        use_best_model=True,
    )
    del train_pool
    best = int(model.tree_count_)  # use_best_model cut the model at the best iteration
    logits = model.predict(valid_pool, prediction_type="RawFormulaVal").astype(np.float32)
    scores = validation_scores(y_valid, logits, float(labels[train_rows].mean()), best)
    sidecar = _sidecar(cache, dense, plan, params, best, n_train=len(train_rows), n_valid=len(valid_rows))
    sidecar.update(metrics=scores[0], prior_score=scores[1], seconds=time.perf_counter() - start)
    lineage = _save(layout, fold, model, plan, sidecar)
    return record_fold(
        layout, lineage, checkpoint_path(layout, fold), valid_rows, logits, y_valid, scores, start
    )


def refit(cfg: TossConfig, layout: Layout, iterations: int) -> Lineage:
    """cv.refit = full: one model on every training row for `iterations` (what the folds selected),
    saved as fold layout.FULL."""
    start = time.perf_counter()
    cache, labels, dense = train_inputs(cfg, layout)
    plan = plan_for(cache, dense, nested=reads_nested(cfg, NAME))
    dense = fold_dense(dense, FULL, nested=False) if plan.dense_cols else None
    rows = np.arange(cache.n_rows)
    params = {**catboost_params(cfg), "iterations": iterations}
    log.info(
        "catboost refit: %d rows, %d iterations, %d features", rows.size, iterations, len(plan.feature_names)
    )
    train_pool = cache_pool(plan, cache, rows, dense, labels)
    model = _fit(params, FULL, train_pool, rows.size)
    lineage = _save(
        layout, FULL, model, plan, _sidecar(cache, dense, plan, params, iterations, n_train=rows.size)
    )
    log.info("catboost refit: done in %.1fs", time.perf_counter() - start)
    return lineage


def load_sidecar(layout: Layout, fold: int | str) -> dict[str, Any]:
    """The fold's sidecar; ArtifactError naming the command when the model or sidecar is missing."""
    for p in (checkpoint_path(layout, fold), sidecar_path(layout, fold)):
        if not p.is_file():
            raise ArtifactError(
                f"catboost model of fold {fold} is missing ({p}); "
                f"run `toss train --family catboost --fold {fold}`"
            )
    meta = json.loads(sidecar_path(layout, fold).read_text())
    if meta.get("format") != FORMAT:
        raise ArtifactError(
            f"{sidecar_path(layout, fold)}: format {meta.get('format')!r}, expected {FORMAT!r}"
        )
    return meta
