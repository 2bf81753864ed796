"""The CatBoost family as a registry Family. Light on import: CatBoost loads only when a method runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from toss_core.catboost.paths import NAME, checkpoint_path
from toss_core.config import ParamRange

if TYPE_CHECKING:
    import numpy as np

    from toss_core.artifacts.fold import Lineage
    from toss_core.config import TossConfig
    from toss_core.families.base import EpochCallback
    from toss_core.layout import Layout
    from toss_core.util.results import FoldResult


class CatBoostFamily:
    name = NAME
    title = "CatBoost"
    kind = "catboost"
    takes_gpu_slot = True  # task_type GPU on a CUDA device; on CPU the slot gives a fair share of cores
    packages: tuple[str, ...] = ("toss_core.catboost", "toss_core.tabular")
    tunable_sections: tuple[str, ...] = ("catboost",)

    def default_space(self) -> dict[str, ParamRange]:
        # Around CatBoost's defaults (depth 6, l2_leaf_reg 3, random_strength 1, bagging_temperature 1).
        return {
            "catboost.learning_rate": ParamRange(low=0.02, high=0.3, log=True),
            "catboost.depth": ParamRange(low=4, high=10),
            "catboost.params.l2_leaf_reg": ParamRange(low=0.5, high=30.0, log=True),
            "catboost.params.random_strength": ParamRange(low=0.1, high=10.0, log=True),
            "catboost.params.bagging_temperature": ParamRange(low=0.0, high=1.0),
        }

    def shaping_keys(self) -> tuple[str, ...]:
        return ("catboost",)

    def settle(self, cfg: TossConfig, layout: Layout) -> TossConfig:
        """Nothing to settle: CatBoost makes no choice by trial."""
        return cfg

    def checkpoint(self, layout: Layout, fold: int | str) -> Path:
        return checkpoint_path(layout, fold)

    def train_fold(
        self, cfg: TossConfig, layout: Layout, fold: int, on_epoch: EpochCallback | None = None
    ) -> FoldResult:
        """`on_epoch` is not used: a CatBoost trial reports its final value only (CatBoost stops early on
        its own loss, and runs no user callback on GPU)."""
        from toss_core.catboost.train import train_fold

        return train_fold(cfg, layout, fold)

    def predict_test(self, cfg: TossConfig, layout: Layout, fold: int | str) -> tuple[np.ndarray, Lineage]:
        from toss_core.catboost.predict import predict_test

        return predict_test(cfg, layout, fold)

    def refit(self, cfg: TossConfig, layout: Layout, size: int) -> Lineage:
        from toss_core.catboost.train import refit

        return refit(cfg, layout, size)


CATBOOST = CatBoostFamily()
