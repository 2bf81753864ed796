"""The steps of the pipeline, one function each, shared by the `toss` CLI and the Dagster assets.

Each step takes the config (and a fold where it applies), does its work through one toss_core module,
and returns a small result with paths and metrics. `run_all` calls them in order; each Dagster asset
calls exactly one of them. So the chain is written once and the CLI and the UI cannot drift apart.
"""

from __future__ import annotations

import logging
from pathlib import Path

from toss_core.config import TossConfig
from toss_core.layout import Layout
from toss_core.util.results import (
    CacheResult,
    CovisResult,
    DiagnosticsResult,
    EnsembleResult,
    FoldResult,
    FoldsResult,
    RawResult,
    SubmissionResult,
)

log = logging.getLogger("toss")


def prepare_raw(cfg: TossConfig, layout: Layout | None = None) -> RawResult:
    """Generate the synthetic Parquet (data.source = synthetic) or validate the user's Parquet."""
    from toss_core.data.raw import prepare_raw as _prepare

    return _prepare(cfg, layout or Layout(cfg))


def build_cache(cfg: TossConfig, kind: str, layout: Layout | None = None) -> CacheResult:
    """Stream one Parquet file (kind = train | test) into the NPY shard cache, or reuse a matching one."""
    from toss_core.data.cache import build_cache as _build

    return _build(cfg, layout or Layout(cfg), kind)


def build_caches(cfg: TossConfig, layout: Layout | None = None) -> list[CacheResult]:
    """Train cache first: the test cache applies the statistics fitted on train."""
    layout = layout or Layout(cfg)
    return [build_cache(cfg, "train", layout), build_cache(cfg, "test", layout)]


def assign_folds(cfg: TossConfig, layout: Layout | None = None) -> FoldsResult:
    """Compute the fold of every training row once and persist it, so every later step agrees."""
    from toss_core.data.folds import assign_folds as _assign

    return _assign(cfg, layout or Layout(cfg))


def build_covis(cfg: TossConfig, layout: Layout | None = None) -> CovisResult:
    """Co-visitation, sequence and out-of-fold target statistics, shard-aligned with the caches."""
    from toss_core.features.covis import build_covis_features

    return build_covis_features(cfg, layout or Layout(cfg))


def train_fold(cfg: TossConfig, fold: int, layout: Layout | None = None, family: str = "nn") -> FoldResult:
    """Train one fold of one model family; writes its checkpoint, OOF logits and test logits."""
    layout = layout or Layout(cfg)
    if not 0 <= fold < cfg.cv.n_splits:
        raise ValueError(f"fold {fold} is outside 0..{cfg.cv.n_splits - 1} (cv.n_splits = {cfg.cv.n_splits})")
    if family == "nn":
        from toss_core.train.loop import train_fold as _train
    elif family == "gbdt":
        from toss_core.gbdt.train import train_fold as _train
    else:
        raise ValueError(f"unknown model family '{family}', expected nn or gbdt")
    return _train(cfg, layout, fold)


def enabled_families(cfg: TossConfig) -> list[str]:
    return ["nn", *(["gbdt"] if cfg.gbdt.enabled else [])]


def ensemble(cfg: TossConfig, layout: Layout | None = None) -> EnsembleResult:
    """Combine fold-wise test logits of every enabled family and fit the calibrator on OOF logits."""
    from toss_core.post.ensemble import build_ensemble

    return build_ensemble(cfg, layout or Layout(cfg), enabled_families(cfg))


def write_submission(cfg: TossConfig, layout: Layout | None = None) -> SubmissionResult:
    """Write runs/<exp_name>/submission.csv (ID,clicked), validated before it is renamed into place."""
    from toss_core.post.submission import write_submission as _write

    return _write(cfg, layout or Layout(cfg))


def diagnose(cfg: TossConfig, layout: Layout | None = None) -> DiagnosticsResult:
    """Per-fold and OOF metrics, reliability diagram, histogram and a Markdown report."""
    from toss_core.post.diagnostics import diagnose as _diagnose

    return _diagnose(cfg, layout or Layout(cfg))


def run_all(cfg: TossConfig, layout: Layout | None = None) -> DiagnosticsResult:
    """The whole chain for users without Dagster: the same steps the asset graph runs, in order."""
    layout = layout or Layout(cfg)
    prepare_raw(cfg, layout)
    build_caches(cfg, layout)
    assign_folds(cfg, layout)
    if cfg.features.covis.enabled:
        build_covis(cfg, layout)
    for family in enabled_families(cfg):
        for fold in range(cfg.cv.n_splits):
            train_fold(cfg, fold, layout, family)
    ensemble(cfg, layout)
    sub = write_submission(cfg, layout)
    log.info("submission written: %s", sub.path)
    return diagnose(cfg, layout)


def describe(layout: Layout) -> dict[str, Path]:
    """The artifact paths a user looks for, for `toss paths` and the README."""
    return {
        "train_cache": layout.train_cache,
        "test_cache": layout.test_cache,
        "run_dir": layout.run_dir,
        "submission": layout.submission_path,
        "diagnostics": layout.diagnostics_dir,
    }
