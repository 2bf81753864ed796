"""The LightGBM family as a registry Family. Light on import: LightGBM loads only when a method runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from toss_core.config import ParamRange
from toss_core.gbdt.paths import NAME, checkpoint_path

if TYPE_CHECKING:
    import numpy as np

    from toss_core.artifacts.fold import Lineage
    from toss_core.config import TossConfig
    from toss_core.families.base import EpochCallback
    from toss_core.layout import Layout
    from toss_core.util.results import FoldResult


class LightGBMFamily:
    name = NAME
    title = "LightGBM"
    kind = "lightgbm"
    takes_gpu_slot = True  # no GPU, but the slot gives parallel folds their fair share of the cores
    packages: tuple[str, ...] = ("toss_core.gbdt", "toss_core.tabular")
    tunable_sections: tuple[str, ...] = ("gbdt",)

    def default_space(self) -> dict[str, ParamRange]:
        # Around the LightGBM defaults (gbdt/params.py) and LightGBM's own ordinary settings (31 leaves,
        # 20 rows per leaf, little smoothing), which did better on a public CTR set (issue 12).
        return {
            "gbdt.params.learning_rate": ParamRange(low=0.01, high=0.2, log=True),
            "gbdt.params.num_leaves": ParamRange(low=7, high=255, log=True),
            "gbdt.params.min_data_in_leaf": ParamRange(low=10, high=1000, log=True),
            "gbdt.params.feature_fraction": ParamRange(low=0.2, high=1.0),
            "gbdt.params.bagging_fraction": ParamRange(low=0.5, high=1.0),
            "gbdt.params.lambda_l2": ParamRange(low=1e-3, high=100.0, log=True),
            "gbdt.params.cat_smooth": ParamRange(low=1.0, high=100.0, log=True),
            "gbdt.params.min_data_per_group": ParamRange(low=10, high=500, log=True),
            "gbdt.id_encoding": ParamRange(choices=["auto", "native", "target", "frequency"]),
        }

    def shaping_keys(self) -> tuple[str, ...]:
        return ("gbdt",)

    def settle(self, cfg: TossConfig, layout: Layout) -> TossConfig:
        """Nothing to settle: LightGBM's id trial (gbdt.id_encoding auto) is one of the choices its search
        samples (gbdt.id_encoding is in its space), so each trial decides under its own parameters."""
        return cfg

    def checkpoint(self, layout: Layout, fold: int | str) -> Path:
        return checkpoint_path(layout, fold)

    def train_fold(
        self, cfg: TossConfig, layout: Layout, fold: int, on_epoch: EpochCallback | None = None
    ) -> FoldResult:
        """`on_epoch` is not used: Optuna's LightGBM pruning follows LightGBM's own loss, which a study
        that maximises Score_cal cannot take, so a LightGBM trial reports its final value only."""
        from toss_core.gbdt.train import train_fold

        return train_fold(cfg, layout, fold)

    def predict_test(self, cfg: TossConfig, layout: Layout, fold: int | str) -> tuple[np.ndarray, Lineage]:
        from toss_core.gbdt.predict import predict_test

        return predict_test(cfg, layout, fold)

    def refit(self, cfg: TossConfig, layout: Layout, size: int) -> Lineage:
        from toss_core.gbdt.train import refit

        return refit(cfg, layout, size)


LIGHTGBM = LightGBMFamily()
