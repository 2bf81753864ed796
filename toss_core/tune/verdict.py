"""A study's best parameters against the defaults: a fold the search never saw is trained both ways,
and the fold models train with the tuned parameters only where they score higher there.

Why: the best of n trials on the searched folds is the largest of n noisy values, so its lead there is
biased upwards, and no threshold on it is calibrated. On Frappe CatBoost's best of twelve trials led its
defaults on the searched fold by 0.0001, and the fold models trained with it lost 0.0011 test Score; on
synthetic seed 23 LightGBM's best led there by only 1.3 bootstrap sd and gained 0.0018. On a fold the
search never saw the lead is an unbiased estimate, and its sign picked the test's side for all four
families measured (BENCHMARKS.md, "Tuning on Frappe"). The check fold is the first fold outside
tune.folds (the config refuses tune.folds that hold every fold). The two trainings use the study's base
config (the trials' base) and the best trial's overrides on top of it, write into scratch directories
beside the trials', and are removed. The verdict is saved in the tuned file with the trial it judged, so
a rerun that leaves the best trial where it was does not train again.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from typing import Any

import numpy as np

from toss_core.config import TossConfig
from toss_core.families.base import Family
from toss_core.layout import Layout
from toss_core.scoring.score_gap import score_gap
from toss_core.tune.space import apply_params

log = logging.getLogger("toss")

ARMS = ("defaults", "tuned")


def against_defaults(
    cfg: TossConfig, layout: Layout, family: Family, overrides: dict[str, Any], best_trial: int
) -> dict[str, Any]:
    """Train the check fold with the defaults and with `overrides`; the gap, its spread and the verdict."""
    base = family.settle(cfg, layout)
    fold = check_fold(cfg)
    configs = dict(zip(ARMS, (base, apply_params(base, overrides, f"tune trial {best_trial}")), strict=True))
    log.info(
        "tune %s: trial %d against the defaults on fold %d, which the search did not see (two trainings "
        "of the fold; the tuned parameters are used where they score higher)",
        family.name, best_trial, fold,
    )  # fmt: skip
    validation: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for arm, arm_cfg in configs.items():
        out = layout.tune_check_dir(family.name, arm)
        arm_layout = dataclasses.replace(layout, cfg=arm_cfg, output_dir=out)
        try:
            family.train_fold(arm_cfg, arm_layout, fold)
            with np.load(arm_layout.oof_path(fold, family.name)) as npz:
                validation[arm] = (npz["label"].astype(np.float64), npz["logit"].astype(np.float64))
        finally:
            shutil.rmtree(out, ignore_errors=True)
    labels = validation["defaults"][0]
    gap, spread = score_gap(labels, validation["defaults"][1], validation["tuned"][1], seed=cfg.seed)
    use = gap > 0.0
    log.info(
        "tune %s: trial %d %+.5f Score_cal over the defaults on fold %d (bootstrap sd %.5f): %s",
        family.name, best_trial, gap, fold, spread,
        "the fold models train with it" if use else "the fold models keep the config's parameters",
    )  # fmt: skip
    return {
        "trial": best_trial,
        "fold": fold,
        "gap": gap,
        "bootstrap_sd": spread,
        "use_tuned": use,
    }


def check_fold(cfg: TossConfig) -> int:
    """The first fold outside tune.folds: the search never scored a trial on it."""
    return min(set(range(cfg.cv.n_splits)) - set(cfg.tune.folds))
