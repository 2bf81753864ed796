"""One trial: the sampled overrides on top of the config, the tuned folds trained into the trial's own
directory, the mean calibrated validation Score returned.

Network trials report each epoch's Score_cal of the first tuned fold and are pruned there (the train
loop's epoch callback raises StopTraining, turned into optuna.TrialPruned here). LightGBM trials report
the final value only: Optuna's LightGBMPruningCallback follows LightGBM's own eval metric
(binary_logloss, minimised) and refuses it in a study that maximises Score_cal.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from typing import Any

import numpy as np

from toss_core.config import TossConfig
from toss_core.layout import Layout
from toss_core.tune.space import apply_params, family_space, suggest
from toss_core.util.errors import StopTraining
from toss_core.util.results import FoldResult

log = logging.getLogger("toss")

METRIC = "Score_cal"


class Objective:
    """Callable for study.optimize: trains the folds of tune.folds with one trial's parameters."""

    def __init__(self, cfg: TossConfig, layout: Layout, family: str):
        self.cfg, self.layout, self.family = cfg, layout, family
        self.space = family_space(cfg, family)

    def __call__(self, trial: Any) -> float:
        import optuna

        params = suggest(trial, self.space)
        cfg = apply_params(self.cfg, params, f"tune trial {trial.number}")
        out = self.layout.trial_dir(self.family, trial.number)
        layout = dataclasses.replace(self.layout, cfg=cfg, output_dir=out)
        scores = []
        try:
            for i, fold in enumerate(cfg.tune.folds):
                result = self._train(cfg, layout, fold, trial if i == 0 else None)
                scores.append(result.metrics[METRIC])
                trial.set_user_attr(f"fold_{fold}", result.metrics[METRIC])
        except StopTraining as exc:
            raise optuna.TrialPruned(str(exc)) from None
        finally:
            shutil.rmtree(out, ignore_errors=True)
        return float(np.mean(scores))

    def _train(self, cfg: TossConfig, layout: Layout, fold: int, trial: Any | None) -> FoldResult:
        """One fold of the family; `trial` given: report every epoch and stop when the pruner says so."""
        if self.family == "gbdt":
            from toss_core.gbdt.train import train_fold

            return train_fold(cfg, layout, fold)
        from toss_core.train.loop import train_fold

        return train_fold(cfg, layout, fold, on_epoch=None if trial is None else _pruning(trial))


def _pruning(trial: Any):
    def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
        trial.report(metrics[METRIC], epoch)
        if trial.should_prune():
            raise StopTraining(f"trial {trial.number} pruned after epoch {epoch + 1}")

    return on_epoch
