"""The steps of the pipeline, one function each, shared by the `toss` CLI and the Dagster assets.

Each step takes the config (and a fold and family where it applies), does its work through one
toss_core module, and returns a small result with paths and metrics. `run_all` calls them in order;
each Dagster asset calls exactly one of them. So the chain is written once and the CLI and the UI
cannot drift apart. What each step writes (paths from toss_core.layout.Layout):

    prepare_raw       data.train_path / test_path (generated when data.source = synthetic)
    build_cache       cache/<name>/{train,test}/ NPY shards + manifest.json
    assign_folds      runs/<exp>/folds.npy + folds.json
    build_covis       runs/<exp>/covis/{train,test}/ dense feature shards
    tune              runs/<exp>/tuned/<family>.json + the Optuna study (tune.storage)
    train_fold        runs/<exp>/<family>/: the fold's model and oof_fold_K.npz (tuned parameters when
                      tune.enabled and the family's tuned file exists)
    predict_test      runs/<exp>/<family>/test_logits_fold_K.npz
    refit             cv.refit = full: the family's model of fold `full` and test_logits_fold_full.npz

The families are those of toss_core.families.registry that the config's `families` names.
    ensemble          runs/<exp>/ensemble.json + test_pred.npy
    write_submission  runs/<exp>/submission.csv
    diagnose          runs/<exp>/diagnostics/
"""

from __future__ import annotations

import dataclasses
import logging
import time

from toss_core.config import TossConfig
from toss_core.families import registry
from toss_core.layout import FULL, Layout
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


def prepare_raw(cfg: TossConfig, layout: Layout | None = None) -> RawResult:
    """Generate the synthetic Parquet (data.source = synthetic) or validate the user's Parquet."""
    from toss_core.data import raw

    return raw.prepare_raw(cfg, layout or Layout(cfg))


def build_cache(cfg: TossConfig, kind: str, layout: Layout | None = None) -> CacheResult:
    """Stream one Parquet file (kind = train | test) into the NPY shard cache, or reuse a matching one."""
    from toss_core.data import cache

    return cache.build_cache(cfg, layout or Layout(cfg), kind)


def build_caches(cfg: TossConfig, layout: Layout | None = None) -> list[CacheResult]:
    """Train cache first: the test cache applies the statistics fitted on train."""
    layout = layout or Layout(cfg)
    return [build_cache(cfg, "train", layout), build_cache(cfg, "test", layout)]


def _current_caches(cfg: TossConfig, layout: Layout | None, *kinds: str, covis: bool = False) -> Layout:
    """The layout, once the caches a step reads exist and match the config's shaping keys and their raw
    files; with `covis`, the co-visitation features too (when enabled)."""
    from toss_core.data.cache import check_caches_current

    layout = layout or Layout(cfg)
    check_caches_current(cfg, layout, kinds or ("train", "test"))
    if covis:
        from toss_core.features.current import check_covis_current

        check_covis_current(cfg, layout)
    return layout


def assign_folds(cfg: TossConfig, layout: Layout | None = None) -> FoldsResult:
    """Compute the fold of every training row once and persist it, so every later step agrees."""
    from toss_core.data import folds

    return folds.assign_folds(cfg, _current_caches(cfg, layout, "train"))


def build_covis(cfg: TossConfig, layout: Layout | None = None) -> CovisResult:
    """Co-visitation, sequence and out-of-fold target statistics, shard-aligned with the caches."""
    from toss_core.features import covis

    return covis.build_covis_features(cfg, _current_caches(cfg, layout))


def _check_fold(cfg: TossConfig, fold: int | str, full_ok: bool = False) -> None:
    """A fold index of cv.n_splits (or FULL, the refit, where `full_ok`)."""
    if not (full_ok and fold == FULL) and not (isinstance(fold, int) and 0 <= fold < cfg.cv.n_splits):
        raise ValueError(f"fold {fold} is outside 0..{cfg.cv.n_splits - 1} (cv.n_splits = {cfg.cv.n_splits})")


def tune(
    cfg: TossConfig,
    family: str,
    layout: Layout | None = None,
    n_trials: int | None = None,
    timeout_s: float | None = None,
) -> TuneResult:
    """Add trials to the family's Optuna study (tune.*) and write its best parameters."""
    from toss_core.tune import run

    return run.run_study(
        cfg, _current_caches(cfg, layout, "train", covis=True), registry.get(family), n_trials, timeout_s
    )


def train_fold(cfg: TossConfig, fold: int, layout: Layout | None = None, family: str = "nn") -> FoldResult:
    """Train one fold of one model family; writes its model and its OOF logits. With tune.enabled the
    family's tuned parameters (runs/<exp>/tuned/<family>.json) go on top of the config.

    Under the fold's lock: a second process training the same fold stops with a clear error."""
    from toss_core.tune.run import tuned_config
    from toss_core.util.locks import writer_lock

    model_family = registry.get(family)
    _check_fold(cfg, fold)
    layout = _current_caches(cfg, layout, "train", covis=True)
    cfg, source, overrides = tuned_config(cfg, layout, model_family)
    layout = dataclasses.replace(layout, cfg=cfg)
    ckpt = model_family.checkpoint(layout, fold)
    with writer_lock(ckpt, f"{family} fold {fold} of {layout.run_dir}", wait=False):
        result = model_family.train_fold(cfg, layout, fold)
    return dataclasses.replace(result, params_source=source, tuned_params=overrides)


def predict_test(
    cfg: TossConfig, fold: int | str, layout: Layout | None = None, family: str = "nn"
) -> TestLogitsResult:
    """Predict the test set with one trained fold of one family (fold FULL: its refit on every row);
    writes the fold's test logits."""
    from toss_core.artifacts import fold as artifacts
    from toss_core.data.reader import ShardedCache

    model_family = registry.get(family)
    _check_fold(cfg, fold, full_ok=True)
    layout = _current_caches(cfg, layout, covis=True)
    started = time.perf_counter()
    artifacts.verify_model(layout, fold, family, model_family.checkpoint(layout, fold))
    logits, lineage = model_family.predict_test(cfg, layout, fold)
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


def refit(cfg: TossConfig, family: str, layout: Layout | None = None) -> RefitResult:
    """cv.refit = full: train `family` once on every training row, for the mean of the epochs / boosting
    rounds its folds selected, and predict the test set with it."""
    from toss_core.artifacts import fold as artifacts

    model_family = registry.get(family)
    layout = _current_caches(cfg, layout, covis=True)  # it trains on train and predicts test: both current
    started = time.perf_counter()
    sizes = artifacts.selected_sizes(layout, family, cfg.cv.n_splits)
    size = max(1, round(sum(sizes) / len(sizes)))
    model_family.refit(cfg, layout, size)
    predicted = predict_test(cfg, FULL, layout, family)
    return RefitResult(
        family=family,
        size=size,
        fold_sizes=sizes,
        checkpoint=model_family.checkpoint(layout, FULL),
        test_logits=predicted.path,
        seconds=time.perf_counter() - started,
    )


def ensemble(cfg: TossConfig, layout: Layout | None = None) -> EnsembleResult:
    """Combine the saved fold-wise test logits of every enabled family; calibrator fitted on OOF logits."""
    from toss_core.post import ensemble as post_ensemble

    layout = _current_caches(cfg, layout, covis=True)
    return post_ensemble.build_ensemble(cfg, layout, registry.enabled_names(cfg))


def write_submission(cfg: TossConfig, layout: Layout | None = None) -> SubmissionResult:
    """Write runs/<exp_name>/submission.csv (ID,clicked), validated before it is renamed into place."""
    from toss_core.post import submission

    return submission.write_submission(cfg, _current_caches(cfg, layout, covis=True))


def diagnose(cfg: TossConfig, layout: Layout | None = None) -> DiagnosticsResult:
    """Per-fold and OOF metrics, reliability diagram, histogram and a Markdown report."""
    from toss_core.post import diagnostics

    return diagnostics.diagnose(cfg, layout or Layout(cfg), registry.enabled_names(cfg))


def prepare(cfg: TossConfig, layout: Layout | None = None) -> None:
    """Everything the models train on: raw data, caches, folds and (when enabled) co-visitation features."""
    layout = layout or Layout(cfg)
    prepare_raw(cfg, layout)
    build_caches(cfg, layout)
    assign_folds(cfg, layout)
    if cfg.features.covis.enabled:
        build_covis(cfg, layout)


def run_all(cfg: TossConfig, layout: Layout | None = None) -> DiagnosticsResult:
    """The whole chain for users without Dagster: the same steps the asset graph runs, in order."""
    registry.check(cfg)  # an unknown family or searched key fails before the data are touched
    layout = layout or Layout(cfg)
    prepare(cfg, layout)
    for family in registry.tuned(cfg):
        tune(cfg, family.name, layout)
    for family in registry.enabled(cfg):
        for fold in range(cfg.cv.n_splits):
            train_fold(cfg, fold, layout, family.name)
            predict_test(cfg, fold, layout, family.name)
        if cfg.cv.refit == "full":
            refit(cfg, family.name, layout)
    ensemble(cfg, layout)
    sub = write_submission(cfg, layout)
    log.info("submission written: %s", sub.path)
    return diagnose(cfg, layout)
