"""The steps of the pipeline, one function each, shared by the `toss` CLI and the Dagster assets.

Each step takes the run's context (toss_core.context.RunContext: config, paths, enabled families) and,
where it applies, a family and a fold; it does its work through one toss_core module and returns a small
result with paths and metrics. `run_all` calls them in order; each Dagster asset calls exactly one of
them. So the chain is written once and the CLI and the UI cannot drift apart. What each step writes
(paths from toss_core.layout.Layout):

    prepare_raw       data.train_path / test_path (generated when data.source = synthetic)
    build_cache       cache/<name>/{train,test}/ NPY shards + manifest.json
    assign_folds      runs/<exp>/folds.npy + folds.json
    build_covis       runs/<exp>/covis/{train,test}/ dense feature shards
    tune              runs/<exp>/tuned/<family>.json + the Optuna study (tune.storage)
    train_fold        runs/<exp>/<family>/: the fold's model and oof_fold_K.npz (tuned parameters when
                      tune.enabled and the family's tuned file exists)
    predict_test      runs/<exp>/<family>/test_logits_fold_K.npz
    refit             cv.refit = full: the family's model of fold `full` and test_logits_fold_full.npz
    ensemble          runs/<exp>/ensemble.json + test_pred.npy
    write_submission  runs/<exp>/submission.csv
    diagnose          runs/<exp>/diagnostics/
"""

from __future__ import annotations

import dataclasses
import logging
import time

from toss_core.context import RunContext
from toss_core.families import registry
from toss_core.layout import FULL
from toss_core.util.results import (
    CacheResult,
    CovisResult,
    DiagnosticsResult,
    EnsembleResult,
    FoldResult,
    FoldsResult,
    RawResult,
    RefitResult,
    SubmissionResult,
    TestLogitsResult,
    TuneResult,
)

log = logging.getLogger("toss")


def prepare_raw(ctx: RunContext) -> RawResult:
    """Generate the synthetic Parquet (data.source = synthetic) or validate the user's Parquet."""
    from toss_core.data import raw

    return raw.prepare_raw(ctx.cfg, ctx.layout)


def build_cache(ctx: RunContext, kind: str) -> CacheResult:
    """Stream one Parquet file (kind = train | test) into the NPY shard cache, or reuse a matching one."""
    from toss_core.data import cache

    return cache.build_cache(ctx.cfg, ctx.layout, kind)


def build_caches(ctx: RunContext) -> list[CacheResult]:
    """Train cache first: the test cache applies the statistics fitted on train."""
    return [build_cache(ctx, "train"), build_cache(ctx, "test")]


def _require_current(ctx: RunContext, *kinds: str, covis: bool = False) -> None:
    """The caches a step reads exist and match the config's shaping keys and their raw files; with
    `covis`, the co-visitation features too (when enabled)."""
    from toss_core.data.cache import check_caches_current

    check_caches_current(ctx.cfg, ctx.layout, kinds or ("train", "test"))
    if covis:
        from toss_core.features.current import check_covis_current

        check_covis_current(ctx.cfg, ctx.layout)


def assign_folds(ctx: RunContext) -> FoldsResult:
    """Compute the fold of every training row once and persist it, so every later step agrees."""
    from toss_core.data import folds

    _require_current(ctx, "train")
    return folds.assign_folds(ctx.cfg, ctx.layout)


def build_covis(ctx: RunContext) -> CovisResult:
    """Co-visitation, sequence and out-of-fold target statistics, shard-aligned with the caches."""
    from toss_core.features import covis

    _require_current(ctx)
    return covis.build_covis_features(ctx.cfg, ctx.layout)


def _check_fold(ctx: RunContext, fold: int | str, full_ok: bool = False) -> None:
    """A fold index of cv.n_splits (or FULL, the refit, where `full_ok`)."""
    n = ctx.cfg.cv.n_splits
    if not (full_ok and fold == FULL) and not (isinstance(fold, int) and 0 <= fold < n):
        raise ValueError(f"fold {fold} is outside 0..{n - 1} (cv.n_splits = {n})")


def tune(
    ctx: RunContext, family: str, n_trials: int | None = None, timeout_s: float | None = None
) -> TuneResult:
    """Add trials to the family's Optuna study (tune.*) and write its best parameters."""
    from toss_core.tune import run

    model_family = registry.get(family)
    _require_current(ctx, "train", covis=True)
    return run.run_study(ctx.cfg, ctx.layout, model_family, n_trials, timeout_s)


def train_fold(ctx: RunContext, family: str, fold: int) -> FoldResult:
    """Train one fold of one model family; writes its model and its OOF logits. With tune.enabled the
    family's tuned parameters (runs/<exp>/tuned/<family>.json) go on top of the config.

    Under the fold's lock: a second process training the same fold stops with a clear error."""
    from toss_core.tune.run import tuned_config
    from toss_core.util.locks import writer_lock

    model_family = registry.get(family)
    _check_fold(ctx, fold)
    _require_current(ctx, "train", covis=True)
    cfg, source, overrides = tuned_config(ctx.cfg, ctx.layout, model_family)
    tuned = ctx.with_config(cfg)
    ckpt = model_family.checkpoint(tuned.layout, fold)
    with writer_lock(ckpt, f"{family} fold {fold} of {tuned.layout.run_dir}", wait=False):
        result = model_family.train_fold(tuned.cfg, tuned.layout, fold)
    return dataclasses.replace(result, params_source=source, tuned_params=overrides)


def predict_test(ctx: RunContext, family: str, fold: int | str) -> TestLogitsResult:
    """Predict the test set with one trained fold of one family (fold FULL: its refit on every row);
    writes the fold's test logits."""
    from toss_core.artifacts import fold as artifacts
    from toss_core.data.reader import ShardedCache

    model_family = registry.get(family)
    _check_fold(ctx, fold, full_ok=True)
    _require_current(ctx, covis=True)
    layout = ctx.layout
    started = time.perf_counter()
    artifacts.verify_model(layout, fold, family, model_family.checkpoint(layout, fold))
    logits, lineage = model_family.predict_test(ctx.cfg, layout, fold)
    path = artifacts.save_test_logits(layout, lineage, ShardedCache(layout.test_cache).fingerprint, logits)
    seconds = time.perf_counter() - started
    log.info("predict: %s fold %s, %d test rows in %.1fs → %s", family, fold, logits.size, seconds, path)
    return TestLogitsResult(
        fold=fold,
        family=family,
        path=path,
        n_rows=int(logits.size),
        mean_logit=float(logits.mean()),
        seconds=seconds,
    )


def refit(ctx: RunContext, family: str) -> RefitResult:
    """cv.refit = full: train `family` once on every training row, for the mean of the epochs / boosting
    rounds its folds selected, and predict the test set with it."""
    from toss_core.artifacts import fold as artifacts

    model_family = registry.get(family)
    _require_current(ctx, covis=True)  # it trains on train and predicts test: both current
    started = time.perf_counter()
    sizes = artifacts.selected_sizes(ctx.layout, family, ctx.cfg.cv.n_splits)
    size = max(1, round(sum(sizes) / len(sizes)))
    model_family.refit(ctx.cfg, ctx.layout, size)
    predicted = predict_test(ctx, family, FULL)
    return RefitResult(
        family=family,
        size=size,
        fold_sizes=sizes,
        checkpoint=model_family.checkpoint(ctx.layout, FULL),
        test_logits=predicted.path,
        seconds=time.perf_counter() - started,
    )


def ensemble(ctx: RunContext) -> EnsembleResult:
    """Combine the saved fold-wise test logits of every enabled family; calibrator fitted on OOF logits."""
    from toss_core.post import ensemble as post_ensemble

    _require_current(ctx, covis=True)
    return post_ensemble.build_ensemble(ctx.cfg, ctx.layout, ctx.family_names)


def write_submission(ctx: RunContext) -> SubmissionResult:
    """Write runs/<exp_name>/submission.csv (ID,clicked), validated before it is renamed into place."""
    from toss_core.post import submission

    _require_current(ctx, covis=True)
    return submission.write_submission(ctx.cfg, ctx.layout)


def diagnose(ctx: RunContext) -> DiagnosticsResult:
    """Per-fold and OOF metrics, reliability diagram, histogram and a Markdown report."""
    from toss_core.post import diagnostics

    return diagnostics.diagnose(ctx.cfg, ctx.layout, ctx.family_names)


def prepare(ctx: RunContext) -> None:
    """Everything the models train on: raw data, caches, folds and (when enabled) co-visitation features."""
    prepare_raw(ctx)
    build_caches(ctx)
    assign_folds(ctx)
    if ctx.cfg.features.covis.enabled:
        build_covis(ctx)


def run_all(ctx: RunContext) -> DiagnosticsResult:
    """The whole chain for users without Dagster: the same steps the asset graph runs, in order."""
    prepare(ctx)
    for family in registry.tuned(ctx.cfg):
        tune(ctx, family.name)
    for family in ctx.families:
        for fold in range(ctx.cfg.cv.n_splits):
            train_fold(ctx, family.name, fold)
            predict_test(ctx, family.name, fold)
        if ctx.cfg.cv.refit == "full":
            refit(ctx, family.name)
    ensemble(ctx)
    sub = write_submission(ctx)
    log.info("submission written: %s", sub.path)
    return diagnose(ctx)
