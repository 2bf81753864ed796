"""LightGBM per fold on the shard cache: the gradient-boosting family beside the neural models.

It uses the same cache, fold assignment and co-visitation features as the neural folds, stops early on
the fold's validation rows, and writes the same OOF npz (index, logit = raw margin, label), so the
ensemble and calibration steps treat every family alike. Artifacts of fold k, in layout.family_dir("gbdt"):
    ckpt_fold_k.txt       the booster (LightGBM text format, best iteration only)
    ckpt_fold_k.json      sidecar: cache/covis fingerprints, design plan, id encodings, params, metrics
    ckpt_fold_k.enc.npz   id-encoding tables (per-id counts and label sums of the training fold)
    oof_fold_k.npz        validation-row logits (toss_core.artifacts.fold)
The test set is predicted by gbdt/predict.py, the family's other face.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from toss_core.artifacts.fold import Lineage, file_digest
from toss_core.config import TossConfig
from toss_core.data.reader import ShardedCache
from toss_core.features.fold_rates import fold_dense, reads_nested
from toss_core.gbdt.dataset import training_dataset
from toss_core.gbdt.ids import choose_ids, trial_ids
from toss_core.gbdt.params import gbdt_params
from toss_core.gbdt.paths import NAME, checkpoint_path
from toss_core.layout import FULL, Layout
from toss_core.tabular.design import DesignPlan, build_matrix
from toss_core.tabular.encoding import IdEncoder, oof_target_matrix
from toss_core.tabular.fold_result import record_fold, validation_scores
from toss_core.tabular.inputs import dense_cols, fold_rows, train_inputs
from toss_core.util.atomic import atomic_path, write_json
from toss_core.util.omp import load_lightgbm
from toss_core.util.progress import Progress
from toss_core.util.results import FoldResult

if TYPE_CHECKING:
    import lightgbm as lgb
    from lightgbm.callback import CallbackEnv

log = logging.getLogger("toss")

FORMAT = "toss-gbdt/1"


def model_paths(layout: Layout, fold: int | str) -> tuple[Path, Path, Path]:
    """(booster text, sidecar json, encoder tables npz) of one fold."""
    model = checkpoint_path(layout, fold)
    return model, model.with_suffix(".json"), model.with_suffix(".enc.npz")


def fit_id_encoder(
    cfg: TossConfig, plan: DesignPlan, cache: ShardedCache, train_rows: np.ndarray, labels: np.ndarray
) -> tuple[IdEncoder | None, np.ndarray | None]:
    """Id statistics of the training rows, and (target mode) their inner-K-fold encodings."""
    if not plan.id_cols:
        return None, None
    idx = plan.column_index(plan.id_cols)
    ids = cache.take(train_rows, ["cat"])["cat"][:, idx]
    cards = [cache.spec.cat_cardinalities[i] for i in idx]
    g = cfg.gbdt
    encoder = IdEncoder.fit(plan.id_method, plan.id_cols, ids, cards, labels, g.te_smoothing)
    oof = None
    if plan.id_method == "target":
        oof = oof_target_matrix(ids, labels, cards, g.te_inner_folds, g.te_smoothing, cfg.seed)
    return encoder, oof


def _progress(
    fold: int | str, rounds: int, n_rows: int, every_s: float = 5.0
) -> Callable[[CallbackEnv], None]:
    """LightGBM callback: iterations/s, training rows/s, ETA and the validation loss, like the network's
    progress lines (the ETA assumes every round runs; early stopping ends sooner)."""
    progress = Progress(f"gbdt fold {fold}", rounds, every_s=every_s, unit="iterations")

    def _callback(env: CallbackEnv) -> None:
        extra = f"{progress.rate * n_rows:,.0f} rows/s"
        if env.evaluation_result_list:
            _, name, value, *_ = env.evaluation_result_list[0]
            extra += f" | valid {name} {value:.5f}"
        progress.update(1, extra)

    return _callback


def _boost(
    cfg: TossConfig,
    fold: int,
    params: dict[str, Any],
    ds_train: lgb.Dataset,
    x_valid: np.ndarray,
    y_valid: np.ndarray,
) -> lgb.Booster:
    """Train with early stopping on the validation rows."""
    load_lightgbm()
    import lightgbm as lgb

    return lgb.train(
        params,
        ds_train,
        num_boost_round=cfg.gbdt.num_boost_round,
        valid_sets=[lgb.Dataset(x_valid, y_valid, reference=ds_train)],
        valid_names=["valid"],
        callbacks=[
            lgb.early_stopping(cfg.gbdt.early_stopping_rounds, verbose=False),
            _progress(fold, cfg.gbdt.num_boost_round, ds_train.num_data()),
        ],
    )


def _save_booster(
    layout: Layout,
    fold: int | str,
    booster: lgb.Booster,
    rounds: int,
    encoder: IdEncoder | None,
    plan: DesignPlan,
    sidecar: dict[str, Any],
) -> Lineage:
    """Booster (its first `rounds` rounds), id-encoder tables and sidecar of one fold; its lineage."""
    model_path, sidecar_path, enc_path = model_paths(layout, fold)
    if encoder is not None:
        encoder.save(enc_path)
    with atomic_path(model_path) as tmp:
        booster.save_model(str(tmp), num_iteration=rounds)
    gain = booster.feature_importance("gain", iteration=rounds)
    top = {plan.feature_names[i]: float(gain[i]) for i in np.argsort(-gain)[:20]}
    payload = {"format": FORMAT, "fold": fold, "encoder": None if encoder is None else encoder.describe()}
    write_json(sidecar_path, {**payload, **sidecar, "best_iteration": int(rounds), "top_gain": top})
    covis = sidecar["covis_fingerprint"] if plan.dense_cols else None
    return Lineage(NAME, fold, sidecar["cache_fingerprint"], covis, file_digest(model_path))


TrainData = tuple[ShardedCache, np.ndarray, ShardedCache | None]  # cache, labels, co-visitation cache
FoldInputs = tuple[ShardedCache, np.ndarray, ShardedCache | None, DesignPlan]
FoldFit = tuple[
    Any,  # the booster
    int,  # its selected round
    IdEncoder | None,
    dict[str, Any],  # its parameters
    tuple[np.ndarray, np.ndarray],  # training and validation rows
    np.ndarray,  # validation logits
    np.ndarray,  # validation labels
    tuple[dict[str, float], float],  # validation scores (validation_scores)
]


def _inputs(cfg: TossConfig, layout: Layout) -> FoldInputs:
    """(train cache, its labels, co-visitation cache or None, design plan) of a LightGBM model."""
    cache, labels, dense = train_inputs(cfg, layout)
    evidence = (cache.n_rows, float(labels.mean()))
    ids, method = choose_ids(cache.spec, cfg.gbdt, evidence)
    trial = trial_ids(cache.spec, cfg.gbdt, evidence)
    if trial:
        ids = ids + decide_ids(cfg, layout, (cache, labels, dense), ids, trial)
        ids = [c for c in cache.spec.cat_cols if c in ids]
    plan = DesignPlan.build(cache.spec, cache.fields, dense_cols(dense), ids, method)
    return cache, labels, dense, plan


def decide_ids(
    cfg: TossConfig, layout: Layout, data: TrainData, sparse: list[str], trial: list[str]
) -> list[str]:
    """gbdt.id_encoding auto: which of the `trial` id columns to target-encode (all or none), decided by a
    trial on validation rows placed like the test rows (folds.stacking_rows: the latest fold under folds
    ordered in time, else fold 0): one booster with them native, one with them target-encoded (`sparse`
    are target-encoded in both); the better calibrated validation Score wins. Saved once per run in
    <family dir>/id_choice.json with what it was decided on, so every fold, the refit and a resumed run
    agree; deterministic (the seed), so folds trained in parallel reach the same choice."""
    from toss_core.data.folds import stacking_fold
    from toss_core.util.atomic import write_json

    cache, labels, dense = data
    latest = stacking_fold(cfg)
    fold = 0 if latest is None else latest
    folds_fp = json.loads(layout.folds_meta_path.read_text())["cv_fingerprint"]
    identity = {
        "cache": cache.fingerprint,
        "covis": None if dense is None else dense.fingerprint,
        "folds": folds_fp,
        "fold": fold,
        "sparse": sparse,
        "trial": trial,
        "gbdt": cfg.section_fingerprint("gbdt", "seed"),
    }
    path = layout.family_dir(NAME) / "id_choice.json"
    if path.is_file():
        saved = json.loads(path.read_text())
        if saved.get("identity") == identity:
            return trial if saved["choice"] == "target" else []
    scores = {}
    for choice, ids in (("native", sparse), ("target", sparse + trial)):
        ids = [c for c in cache.spec.cat_cols if c in ids]
        plan = DesignPlan.build(cache.spec, cache.fields, dense_cols(dense), ids, "target")
        metrics = _fit_fold(cfg, layout, (cache, labels, dense, plan), fold)[-1][0]
        scores[choice] = {k: metrics[k] for k in ("Score_cal", "AUC") if k in metrics}
    choice = "target" if scores["target"]["Score_cal"] >= scores["native"]["Score_cal"] else "native"
    log.info("gbdt ids %s: %s on fold %d (validation %s)", trial, choice, fold, scores)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, {"identity": identity, "choice": choice, "scores": scores})
    return trial if choice == "target" else []


def _sidecar(
    cache: ShardedCache, dense: ShardedCache | None, plan: DesignPlan, params: dict[str, Any]
) -> dict[str, Any]:
    covis = None if dense is None else dense.fingerprint
    return {
        "cache_fingerprint": cache.fingerprint,
        "covis_fingerprint": covis,
        "plan": plan.to_dict(),
        "params": params,
    }


def _fit_fold(cfg: TossConfig, layout: Layout, inputs: FoldInputs, fold: int) -> FoldFit:
    """One fold's booster on `inputs` (_inputs); (booster, best round, encoder, params, rows, validation
    logits and labels, validation scores)."""
    cache, labels, dense, plan = inputs
    # the click rates this fold model may read (features.fold_rates)
    dense = fold_dense(dense, fold, nested=reads_nested(cfg, NAME))
    train_rows, valid_rows = fold_rows(layout, cache.n_rows, fold)
    encoder, oof_te = fit_id_encoder(cfg, plan, cache, train_rows, labels[train_rows])
    params = gbdt_params(cfg, len(train_rows), float(labels[train_rows].mean()))
    log.info(
        "gbdt fold %d: %d train rows, %d valid rows, %d features (%s ids: %s)",
        fold, len(train_rows), len(valid_rows), len(plan.feature_names), plan.id_method, plan.id_cols,
    )  # fmt: skip
    y_train = labels[train_rows]
    ds_train = training_dataset(plan, params, cache, train_rows, y_train, encoder, oof_te, dense, cfg.seed)
    x_valid = build_matrix(plan, cache, valid_rows, encoder, None, dense)
    y_valid = labels[valid_rows]
    booster = _boost(cfg, fold, params, ds_train, x_valid, y_valid)
    best = booster.best_iteration or booster.current_iteration()
    logits = np.asarray(booster.predict(x_valid, raw_score=True, num_iteration=best), dtype=np.float32)
    scores = validation_scores(y_valid, logits, float(labels[train_rows].mean()), best)
    return booster, best, encoder, params, (train_rows, valid_rows), logits, y_valid, scores


def train_fold(cfg: TossConfig, layout: Layout, fold: int) -> FoldResult:
    """Train LightGBM on the rows outside `fold`, early-stop and score on the rows inside it."""
    start = time.perf_counter()
    inputs = _inputs(cfg, layout)
    cache, _, dense, plan = inputs
    booster, best, encoder, params, rows, logits, y_valid, scores = _fit_fold(cfg, layout, inputs, fold)
    train_rows, valid_rows = rows
    sidecar = _sidecar(cache, dense, plan, params)
    sidecar.update(n_train=len(train_rows), n_valid=len(valid_rows), metrics=scores[0], prior_score=scores[1])
    sidecar["seconds"] = time.perf_counter() - start
    lineage = _save_booster(layout, fold, booster, best, encoder, plan, sidecar)
    checkpoint = model_paths(layout, fold)[0]
    return record_fold(layout, lineage, checkpoint, valid_rows, logits, y_valid, scores, start)


def refit(cfg: TossConfig, layout: Layout, rounds: int) -> Lineage:
    """cv.refit = full: one booster on every training row for `rounds` rounds (what the folds selected),
    saved as fold layout.FULL; the id encoder is refitted on every row too."""
    load_lightgbm()
    import lightgbm as lgb

    start = time.perf_counter()
    cache, labels, dense, plan = _inputs(cfg, layout)
    rows = np.arange(cache.n_rows)
    dense = fold_dense(dense, FULL, nested=False)
    encoder, oof_te = fit_id_encoder(cfg, plan, cache, rows, labels)
    params = gbdt_params(cfg, rows.size, float(labels.mean()))
    log.info("gbdt refit: %d rows, %d rounds, %d features", rows.size, rounds, len(plan.feature_names))
    ds = training_dataset(plan, params, cache, rows, labels, encoder, oof_te, dense, cfg.seed)
    booster = lgb.train(params, ds, num_boost_round=rounds, callbacks=[_progress(FULL, rounds, rows.size)])
    sidecar = {**_sidecar(cache, dense, plan, params), "n_train": int(rows.size)}
    lineage = _save_booster(layout, FULL, booster, rounds, encoder, plan, sidecar)
    log.info("gbdt refit: done in %.1fs", time.perf_counter() - start)
    return lineage
