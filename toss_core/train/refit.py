"""cv.refit = full for the neural family: one model trained on every training row.

It trains for the epochs its folds selected (no validation rows are left to stop on), with the same
config, schedule and EMA as a fold: the schedule depends only on the epoch reached (train.lr_decay), so
its N epochs run under exactly the rates of a fold's first N. It saves the final weights as fold
layout.FULL; test prediction then goes through the family's usual predict_test.
"""

from __future__ import annotations

import logging

from toss_core.artifacts.fold import Lineage
from toss_core.config import TossConfig
from toss_core.layout import FULL, Layout
from toss_core.train import checkpoint
from toss_core.train.loop import FoldTrainer, save_resume_state
from toss_core.train.runtime import torch_runtime

log = logging.getLogger("toss")


def refit(cfg: TossConfig, layout: Layout, epochs: int) -> Lineage:
    """Train on every row for `epochs` epochs (resumable like a fold); returns the saved model's lineage."""
    cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"epochs": epochs})})
    with torch_runtime(cfg):
        trainer = FoldTrainer(cfg, layout, FULL)
        st = trainer.state
        log.info("nn refit: %d rows, %d epochs", trainer.data.train_rows.size, epochs)
        while st.epoch < epochs:
            loss, rows_per_s = trainer.train_epoch(st.epoch)
            trainer.log.add({"epoch": st.epoch + 1, "step": st.step, "loss": loss, "rows_per_s": rows_per_s})
            trainer.log.flush()
            st.epoch += 1
            log.info("nn refit epoch %d/%d: loss %.5f | %.0f rows/s", st.epoch, epochs, loss, rows_per_s)
            if st.epoch < epochs:
                save_resume_state(trainer)
        ema = checkpoint.cpu_state(trainer.ema.module) if trainer.ema is not None else None
        return trainer.save_model(checkpoint.cpu_state(trainer.model), ema, {}, epochs - 1)
