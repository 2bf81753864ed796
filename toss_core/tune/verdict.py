"""A study's best parameters against the defaults: the first tuned fold is trained both ways, and the
fold models train with the tuned parameters only where they lead clearly (toss_core.scoring.score_gap).

Why: the best of n trials on one fold is the largest of n noisy values, so it looks better than it is.
On Frappe CatBoost's best of twelve trials led its defaults' fold by 0.0001 (0.4 sd), and the fold
models trained with it lost 0.0011 test Score; LightGBM's best led by 0.0031 (3.6 sd) and gained 0.0004
(BENCHMARKS.md, "Tuning on Frappe"). The two trainings use the study's base config (the trials' base) and
the best trial's overrides on top of it, write into scratch directories beside the trials', and are
removed. The verdict is saved in the tuned file with the trial it judged, so a rerun that leaves the
best trial where it was does not train again.
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
from toss_core.scoring.score_gap import CLEAR_BY, leads_clearly, score_gap
from toss_core.tune.space import apply_params

log = logging.getLogger("toss")

ARMS = ("defaults", "tuned")


def against_defaults(
    cfg: TossConfig, layout: Layout, family: Family, overrides: dict[str, Any], best_trial: int
) -> dict[str, Any]:
    """Train cfg.tune.folds[0] with the defaults and with `overrides`; the gap, its spread and the verdict."""
    base = family.settle(cfg, layout)
    fold = cfg.tune.folds[0]
    configs = dict(zip(ARMS, (base, apply_params(base, overrides, f"tune trial {best_trial}")), strict=True))
    log.info(
        "tune %s: trial %d against the defaults on fold %d (two trainings of the fold; the tuned parameters "
        "are used only with a lead of %g bootstrap sd)",
        family.name, best_trial, fold, CLEAR_BY,
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
    use = leads_clearly(gap, spread)
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
        "clear_by": CLEAR_BY,
        "use_tuned": use,
    }
