"""The network family (DARE + QNN-α, or the MLP / DCN-v2 heads) as a registry Family.

Light on import: torch and the training loop load only when a method runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from toss_core.config import ParamRange
from toss_core.train.paths import NAME, checkpoint_path

if TYPE_CHECKING:
    import numpy as np

    from toss_core.artifacts.fold import Lineage
    from toss_core.config import TossConfig
    from toss_core.families.base import EpochCallback
    from toss_core.layout import Layout
    from toss_core.util.results import FoldResult


class NetworkFamily:
    name = NAME
    title = "DARE + QNN-α"
    kind = "pytorch"
    takes_gpu_slot = True
    packages: tuple[str, ...] = ("toss_core.train", "toss_core.models")
    tunable_sections: tuple[str, ...] = ("model", "sequence", "train")

    def default_space(self) -> dict[str, ParamRange]:
        # Around the network defaults (train.lr 2e-3, emb_dim 16, dropout 0.1): early stopping picks the
        # epochs, the per-epoch decay of the rate shapes how fast it gets there, and the embedding
        # regularisers are searched because none won on every data set as a fixed default.
        return {
            "train.lr": ParamRange(low=3e-4, high=1e-2, log=True),
            "train.weight_decay": ParamRange(low=1e-7, high=1e-3, log=True),
            "train.batch_size": ParamRange(choices=[512, 1024, 2048]),
            "model.emb_dim": ParamRange(choices=[8, 16, 32]),
            "model.head_dropout": ParamRange(low=0.0, high=0.3),
            "train.lr_decay": ParamRange(low=0.3, high=0.9),
            "model.emb_l2": ParamRange(choices=[0.0, 0.001, 0.01, 0.1]),
            "model.id_min_count": ParamRange(choices=[1, 5, 20]),
            "model.emb_dropout": ParamRange(low=0.0, high=0.3),
        }

    def shaping_keys(self) -> tuple[str, ...]:
        """Only the keys that shape the weights (train.loop.TRAINING_KEYS): threads, device, compile mode
        and eval batch size change how a trial runs, not its value."""
        from toss_core.train.loop import TRAINING_KEYS

        return TRAINING_KEYS

    def settle(self, cfg: TossConfig, layout: Layout) -> TossConfig:
        """model.embed_id_cols auto decided (train/id_trial.py) and written into cfg."""
        from toss_core.train.loop import settle_ids
        from toss_core.train.runtime import torch_runtime

        with torch_runtime(cfg):
            return settle_ids(cfg, layout)

    def checkpoint(self, layout: Layout, fold: int | str) -> Path:
        return checkpoint_path(layout, fold)

    def train_fold(
        self, cfg: TossConfig, layout: Layout, fold: int, on_epoch: EpochCallback | None = None
    ) -> FoldResult:
        from toss_core.train.loop import train_fold

        return train_fold(cfg, layout, fold, on_epoch=on_epoch)

    def predict_test(self, cfg: TossConfig, layout: Layout, fold: int | str) -> tuple[np.ndarray, Lineage]:
        from toss_core.train.predict import predict_test

        return predict_test(cfg, layout, fold)

    def refit(self, cfg: TossConfig, layout: Layout, size: int) -> Lineage:
        from toss_core.train.refit import refit

        return refit(cfg, layout, size)


NETWORK = NetworkFamily()
