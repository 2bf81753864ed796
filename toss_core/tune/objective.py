"""One trial: the sampled overrides on top of the config, the tuned folds trained into the trial's own
directory, the mean calibrated validation Score returned.

A family that trains in stages (the network's epochs) reports each stage's Score_cal of the first tuned
fold and is pruned there (its epoch callback raises StopTraining, turned into optuna.TrialPruned here).
The tree families report the final value only (see their Family.train_fold).
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from typing import Any

import numpy as np

from toss_core.config import TossConfig
from toss_core.families.base import EpochCallback, Family
from toss_core.families.registry import search_space
from toss_core.layout import Layout
from toss_core.tune.space import apply_params, suggest
from toss_core.util.errors import StopTraining

log = logging.getLogger("toss")

METRIC = "Score_cal"


class Objective:
    """Callable for study.optimize: trains the folds of tune.folds with one trial's parameters."""

    def __init__(self, cfg: TossConfig, layout: Layout, family: Family):
        # decided once under the study's base config, not again in every trial (Family.settle)
        self.cfg, self.layout, self.family = family.settle(cfg, layout), layout, family
        self.space = search_space(cfg, family)

    def __call__(self, trial: Any) -> float:
        import optuna

        params = suggest(trial, self.space)
        cfg = apply_params(self.cfg, params, f"tune trial {trial.number}")
        out = self.layout.trial_dir(self.family.name, trial.number)
        layout = dataclasses.replace(self.layout, cfg=cfg, output_dir=out)
        scores = []
        try:
            for i, fold in enumerate(cfg.tune.folds):
                on_epoch = _pruning(trial) if i == 0 else None
                result = self.family.train_fold(cfg, layout, fold, on_epoch)
                scores.append(result.metrics[METRIC])
                trial.set_user_attr(f"fold_{fold}", result.metrics[METRIC])
        except StopTraining as exc:
            raise optuna.TrialPruned(str(exc)) from None
        finally:
            shutil.rmtree(out, ignore_errors=True)
        return float(np.mean(scores))


def _pruning(trial: Any) -> EpochCallback:
    def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
        trial.report(metrics[METRIC], epoch)
        if trial.should_prune():
            raise StopTraining(f"trial {trial.number} pruned after epoch {epoch + 1}")

    return on_epoch
