"""Training one fold of the neural model (DARE + QNN-α or an MLP head) on the shard cache.

AdamW with warm-up + a per-epoch decay (train/schedule.py; the peak rate scaled by train.lr_scaling), gradient
clipping, AMP on CUDA, optional torch.compile (CUDA graphs with compile_mode reduce-overhead), EMA weights,
early stopping on the validation Score, and an optional balanced sampler whose prior shift is undone by
`logit_offset` (stored in the checkpoint and already added to the OOF logits, which are therefore
log-odds at the true training prior). After every epoch the whole training state is saved to
resume_path(layout, fold), so an interrupted fold continues from its last finished epoch; the file
is deleted when the fold finishes.

The data path (train/feeds.py) holds the fold's rows on the device when they fit (train.data_on_device)
or streams them from the memory-mapped cache; the batch order is drawn on the device either way
(train/sampler.py), so both paths train on the same rows in the same order. A step never waits for the
device: the loss is summed on it and read back every logging.verbose_steps steps and at the epoch's end.

Epochs are numbered from 1 wherever a person reads them: log lines, the CSV `epoch` column and
FoldResult.best_epoch (the Dagster metadata, equal to the epochs a refit trains for); the 0-based index
stays internal (FoldState, the on_epoch callback, the checkpoint's best_epoch).

Validation metrics: the OOF logits sit at the ~2% base rate, where WLL is poor by construction; the
calibration step moves them to the 50:50 prior WLL rewards. So "AP/WLL/Score/AUC" (used for early
stopping, and comparable with metrics.prior_only_score) are measured after the Bayes prior shift
base rate → 0.5 (metrics.prior_shift); "WLL_raw/Score_raw" are those of the uncorrected OOF logits.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict

import numpy as np
import torch

from toss_core.artifacts.fold import SELECTED, Lineage, file_digest, save_oof
from toss_core.config import TossConfig
from toss_core.data.folds import FOLD_KEYS, fold_keys
from toss_core.layout import Layout
from toss_core.scoring.fold_metrics import fold_metrics
from toss_core.train import checkpoint
from toss_core.train.ema import EMA
from toss_core.train.feeds import choose_feed
from toss_core.train.fold_data import FoldData, FoldState, bin_sample, training_id_counts, warn_unseen_ids
from toss_core.train.id_trial import TRIAL_FOLD, settle_id_embedding, without_trial
from toss_core.train.logs import EPOCH_METRICS, FoldLog
from toss_core.train.losses import batch_loss
from toss_core.train.paths import NAME, checkpoint_path, resume_path, tb_dir, train_log_path
from toss_core.train.predict import predict_logits
from toss_core.train.runtime import amp_dtype, autocast, resolve_device, seed_everything, torch_runtime
from toss_core.train.sampler import (
    EpochBatches,
    capped,
    epoch_batches,
    epoch_generator,
    prior_logit_offset,
    steps_per_epoch,
)
from toss_core.train.schedule import peak_lr, warmup_decay
from toss_core.util.errors import StopTraining
from toss_core.util.progress import Progress
from toss_core.util.results import FoldResult

log = logging.getLogger("toss")

TRAINING_KEYS = (
    "seed",
    "sequence",
    "model",
    *FOLD_KEYS,
    "train.sampler",
    "train.ema",
    "features",
    "train.batch_size",
    "train.lr",
    "train.lr_scaling",
    "train.lr_base_batch",
    "train.weight_decay",
    "train.warmup_epochs",
    "train.lr_decay",
    "train.max_steps_per_epoch",
    "train.grad_clip_norm",
    "train.select_metric",
)
"""Config keys (sections or dotted keys) that shape a neural fold's weights: a resume state saved under
other values is discarded. They decide the training rows, the features, the initial weights, the batch
order, the optimiser, the schedule, the EMA, and which epoch is best
(select_metric, train.ema.eval_with_ema).
Left out on purpose, so that changing them keeps the finished epochs:
- `data`: what changes the cache (its input file and shaping keys) is in the cache fingerprint, which
  the identity hashes too; the other data keys (paths, use_cache) do not change what is trained;
- how the run executes, not what it computes (runtime.*, train.eval_batch_size, train.data_on_device,
  train.device_memory_share): float rounding at most;
- train.epochs and train.early_stop_patience, which only decide when to stop (the schedule does not depend
  on them): the epochs run so far are those any larger cap or patience runs, and a smaller one stops at
  once with the same best epoch;
- logging, calibration, ensemble and gbdt, which no training step reads.
`runtime.amp` is replaced by the autocast dtype it yields on the device (none on CPU), also in the identity.
"""
# Called after each epoch's validation with (epoch, metrics); raising StopTraining ends the fold there
# without writing a model (how a tuning trial is pruned, without the train layer knowing the tuner).
EpochCallback = Callable[[int, dict[str, float]], None]


def train_fold(
    cfg: TossConfig, layout: Layout, fold: int, on_epoch: EpochCallback | None = None
) -> FoldResult:
    """Train fold `fold` (validation = rows whose saved fold id is `fold`); write checkpoint, OOF, logs."""
    with torch_runtime(cfg):
        return FoldTrainer(cfg, layout, fold).run(on_epoch)


def settle_ids(cfg: TossConfig, layout: Layout, data: FoldData | None = None) -> TossConfig:
    """cfg with model.embed_id_cols, model.emb_l2 and model.dense_bins auto made explicit
    (train/id_trial.py: evidence, then a validation trial whose arms train as folds of this loop); `data`:
    a fold's loaded data, else the trial fold's."""
    if cfg.model.embed_id_cols != "auto":
        return without_trial(cfg)
    d = data if data is not None else FoldData(cfg, layout, TRIAL_FOLD)
    return settle_id_embedding(cfg, layout, d.spec, d.labels, _shaping_fingerprint(cfg), _arm_outputs)


def _shaping_fingerprint(cfg: TossConfig) -> str:
    """Fingerprint of the settings that shape a fold's weights (TRAINING_KEYS and the fold keys in use)."""
    return cfg.section_fingerprint(*TRAINING_KEYS, *fold_keys(cfg)[len(FOLD_KEYS) :])


def _arm_outputs(cfg: TossConfig, layout: Layout, fold: int) -> tuple[np.ndarray, np.ndarray]:
    """The validation labels and logits of one trial arm: a whole fold trained into the arm's own layout.
    Its finished state stays behind as the fold's resume state, so the winning arm can become the fold
    itself (id_trial promotes it) instead of the fold training a third time."""
    trainer = FoldTrainer(cfg, layout, fold)
    result = trainer.run()
    save_resume_state(trainer)
    with np.load(result.oof_path) as oof:
        return oof["label"], oof["logit"]


class FoldTrainer:
    """One fold's model, optimiser, schedule, EMA and resumable state; `run` trains it to the end."""

    def __init__(self, cfg: TossConfig, layout: Layout, fold: int | str, head: str | None = None):
        """`head` overrides cfg.model.head (the benchmark's DCN-v2 baseline); fold FULL is the refit."""
        from toss_core.models import build_model

        self.cfg, self.layout, self.fold, tc = cfg, layout, fold, cfg.train
        self.seed_index = fold if isinstance(fold, int) else cfg.cv.n_splits  # seeds and batch order
        self.started = time.perf_counter()
        self.device = resolve_device(cfg.runtime.device)
        self.amp = amp_dtype(cfg.runtime.amp, self.device)
        self.data = d = FoldData(cfg, layout, fold)
        self.cfg = cfg = settle_ids(cfg, layout, d)  # saved in the checkpoint
        self.feed = choose_feed(cfg, d.source, self.device)
        self.rows = torch.from_numpy(d.train_rows).to(self.device)  # what the sampler draws from
        self.row_labels = torch.from_numpy(d.train_labels).to(self.device)
        self.offset = prior_logit_offset(cfg.train.sampler, d.train_prior)
        n_pos = int((d.train_labels > 0.5).sum())
        full = steps_per_epoch(d.train_rows.size, n_pos, tc.sampler, tc.batch_size)
        self.steps_per_epoch = min(full, tc.max_steps_per_epoch or full)

        seed_everything(cfg.seed + self.seed_index)
        self.model = build_model(d.spec, cfg, head).to(self.device)
        if self.model.binned_inputs:  # a resumed fold's load_state_dict below restores its own edges
            sample = bin_sample(d, self.model.binned_inputs, cfg.seed + self.seed_index)
            self.model.fit_bins({key: torch.from_numpy(v).to(self.device) for key, v in sample.items()})
        if cfg.model.id_min_count > 1:  # likewise: the id mapping is a buffer of the saved state
            self.model.keep_frequent_ids(training_id_counts(d), cfg.model.id_min_count)
        warn_unseen_ids(cfg, d.spec, fold)
        self.ema = EMA(self.model, cfg.train.ema.decay) if cfg.train.ema.enabled else None
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(),
            lr=peak_lr(tc),
            weight_decay=tc.weight_decay,
            fused=self.device.type == "cuda",  # one kernel for the whole update
        )
        self.scheduler = warmup_decay(self.optimizer, self.steps_per_epoch, tc.warmup_epochs, tc.lr_decay)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp == torch.float16)
        payload = [
            _shaping_fingerprint(cfg),
            str(self.amp),
            fold,
            head,
            d.cache.fingerprint,
            d.covis_fingerprint,
        ]
        self.identity = hashlib.sha256(json.dumps(payload).encode()).hexdigest()[:16]
        self.state = self._resume()
        loss = batch_loss(cfg, self.model)
        rt = cfg.runtime
        self.loss = torch.compile(loss, mode=rt.compile_mode, dynamic=False) if rt.compile else loss
        # CUDA graphs recycle their outputs: each optimiser step starts a new generation of them
        graphs = rt.compile and rt.compile_mode == "reduce-overhead"
        self.graph_steps = graphs and self.device.type == "cuda"
        self.log = FoldLog(
            cfg.logging,
            train_log_path(layout, fold),
            tb_dir(layout, fold),
            self.state.log_rows,
            self.state.step,
        )
        remaining = (tc.epochs - self.state.epoch) * self.steps_per_epoch * tc.batch_size
        self.progress = Progress(f"fold {fold}", remaining, every_s=math.inf)

    # ---- the loop ---------------------------------------------------------------------------------
    def run(self, on_epoch: EpochCallback | None = None) -> FoldResult:
        """Train to the last epoch or early stop; `on_epoch` may stop it by raising StopTraining."""
        d, tc, st = self.data, self.cfg.train, self.state
        log.info(
            "fold %s: %d train rows (prior %.4f), %d validation rows, %d steps/epoch, device %s, amp %s, "
            "logit offset %.3f",
            self.fold,
            d.train_rows.size,
            d.train_prior,
            d.val_rows.size,
            self.steps_per_epoch,
            self.device,
            self.amp,
            self.offset,
        )
        while st.epoch < tc.epochs and st.bad_epochs < tc.early_stop_patience:
            epoch = st.epoch
            loss, rows_per_s = self.train_epoch(epoch)
            logits, metrics = self.validate()
            st.epoch += 1
            score = metrics[tc.select_metric]
            if score > st.best_score:
                st.best_score, st.best_epoch, st.bad_epochs = score, epoch, 0
                st.best_metrics = metrics
                st.best_model = checkpoint.cpu_state(self.model)
                st.best_ema = checkpoint.cpu_state(self.ema.module) if self.ema is not None else None
                st.best_logits = torch.from_numpy(logits)
            else:
                st.bad_epochs += 1
            lr = self.scheduler.get_last_lr()[0]
            scores = {k: metrics[k] for k in EPOCH_METRICS}
            self.log.add(
                {
                    "epoch": epoch + 1,
                    "step": st.step,
                    "loss": loss,
                    "lr": lr,
                    **scores,
                    "rows_per_s": rows_per_s,
                }
            )
            self.log.flush()
            log.info(
                "fold %s epoch %d/%d: AP %.5f WLL %.5f Score %.5f Score_cal %.5f (best %s %.5f @ epoch %d) "
                "| %.0f rows/s",
                self.fold,
                epoch + 1,
                tc.epochs,
                metrics["AP"],
                metrics["WLL"],
                metrics["Score"],
                metrics["Score_cal"],
                tc.select_metric,
                st.best_score,
                st.best_epoch + 1,
                rows_per_s,
            )
            if on_epoch is not None:
                self._call(on_epoch, epoch, metrics)
            if st.epoch < tc.epochs and st.bad_epochs < tc.early_stop_patience:
                save_resume_state(self)
        return self.finish()

    def _call(self, on_epoch: EpochCallback, epoch: int, metrics: dict[str, float]) -> None:
        """Run the epoch callback; when it stops the fold, close the logs and drop the resume state."""
        try:
            on_epoch(epoch, metrics)
        except StopTraining:
            log.info("fold %d: stopped after epoch %d by the epoch callback", self.fold, epoch + 1)
            self.log.close()
            resume_path(self.layout, self.fold).unlink(missing_ok=True)
            raise

    def epoch_batches(self, epoch: int) -> EpochBatches:
        """The batches of epoch `epoch` (0-based), drawn on the device from (seed, fold, epoch)."""
        gen = epoch_generator(self.cfg.seed, self.seed_index, epoch, self.device)
        tc = self.cfg.train
        return capped(
            epoch_batches(self.rows, self.row_labels, tc.sampler, tc.batch_size, gen),
            tc.max_steps_per_epoch,
        )

    def train_epoch(self, epoch: int) -> tuple[float, float]:
        """One pass of the sampler; returns (mean loss, training rows/s)."""
        return self.train_batches(self.epoch_batches(epoch), epoch)

    def train_batches(self, batches: EpochBatches, epoch: int) -> tuple[float, float]:
        """Optimiser steps over `batches`; returns (mean loss, rows/s)."""
        st = self.state
        self.model.train()
        start = time.perf_counter()
        epoch_loss, window, window_n = 0.0, torch.zeros((), device=self.device), 0
        ids = batches.ids.to(self.feed.index_device)  # the streaming path gathers on the host
        for batch, weights in zip(self.feed.iterate(ids), batches.weights, strict=True):
            target = batch.pop("label")
            self.step(batch, target, weights, window)
            window_n += 1
            self.progress.update(target.shape[0])
            if st.step % self.cfg.logging.verbose_steps == 0:
                epoch_loss += self._report(epoch, window.item(), window_n)
                window.zero_()
                window_n = 0
        epoch_loss += window.item()  # also waits for queued device work, so the rate below is honest
        return epoch_loss / len(batches), ids.numel() / max(time.perf_counter() - start, 1e-9)

    def step(
        self,
        batch: dict[str, torch.Tensor],
        target: torch.Tensor,
        weights: torch.Tensor,
        loss_acc: torch.Tensor,
    ) -> None:
        """One optimiser step (AMP, clipping, schedule, EMA) on the rows' weighted loss (filler rows weigh
        0); adds the loss to `loss_acc` without a sync."""
        if self.graph_steps:
            torch.compiler.cudagraph_mark_step_begin()
        with autocast(self.device, self.amp):
            loss = self.loss(batch, target, weights)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.cfg.train.grad_clip_norm:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.train.grad_clip_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update(self.model)
        self.state.step += 1
        loss_acc += loss.detach()

    def _report(self, epoch: int, loss_sum: float, n: int) -> float:
        """CSV/TensorBoard row and a progress line every logging.verbose_steps steps; returns loss_sum."""
        st = self.state
        lr = self.scheduler.get_last_lr()[0]
        self.log.add(
            {
                "epoch": epoch + 1,
                "step": st.step,
                "loss": loss_sum / n,
                "lr": lr,
                "rows_per_s": self.progress.rate,
            }
        )
        best = f"{st.best_score:.5f}" if st.best_epoch >= 0 else "n/a"
        extra = (
            f"epoch {epoch + 1}/{self.cfg.train.epochs} loss {loss_sum / n:.4f} lr {lr:.2e} best Score {best}"
        )
        log.info(self.progress.line(extra))
        return loss_sum

    def validate(self) -> tuple[np.ndarray, dict[str, float]]:
        """True-prior logits of the validation rows (EMA weights when train.ema.eval_with_ema) and their
        metrics."""
        d = self.data
        ema = self.ema if self.cfg.train.ema.eval_with_ema else None
        logits = predict_logits(
            ema.module if ema is not None else self.model,
            self.feed,
            d.val_rows,
            self.cfg.train.eval_batch_size,
            self.device,
            self.offset,
            amp_dtype=self.amp,
        )
        return logits, fold_metrics(d.val_labels, logits, d.train_prior)

    # ---- outputs ----------------------------------------------------------------------------------
    def finish(self) -> FoldResult:
        """Write OOF and checkpoint of the best epoch, close the logs, drop the resume state."""
        from toss_core.scoring.metrics import prior_only_score

        d, st, layout = self.data, self.state, self.layout
        metrics = {
            **st.best_metrics,
            "n": float(d.val_rows.size),
            "pos_rate": float(d.val_labels.mean()),
            SELECTED: float(st.best_epoch + 1),
        }
        if st.best_model is None or st.best_logits is None:
            raise RuntimeError(f"fold {self.fold} finished without a validated epoch: nothing to save")
        lineage = self.save_model(st.best_model, st.best_ema, st.best_metrics, st.best_epoch)
        oof_path = save_oof(layout, lineage, d.val_rows, st.best_logits.numpy(), d.val_labels, metrics)
        return FoldResult(
            fold=self.fold,
            family=NAME,
            checkpoint=checkpoint_path(layout, self.fold),
            oof_path=oof_path,
            metrics=metrics,
            prior_score=float(prior_only_score(d.val_labels)),
            best_epoch=st.best_epoch + 1,
            seconds=time.perf_counter() - self.started,
        )

    def save_model(
        self,
        model_state: dict[str, torch.Tensor],
        ema_state: dict[str, torch.Tensor] | None,
        metrics: dict[str, float],
        best_epoch: int,
    ) -> Lineage:
        """Write the checkpoint, close the logs, drop the resume state; the lineage of the saved model."""
        d, layout = self.data, self.layout
        ckpt = {
            "model_state": model_state,
            "ema_state": ema_state,
            "config": self.cfg.model_dump(mode="json"),
            "spec": d.spec.to_dict(),
            "logit_offset": float(self.offset),
            "best_metrics": metrics,
            "best_epoch": best_epoch,
            "cache_fingerprint": d.cache.fingerprint,
            "covis_fingerprint": d.covis_fingerprint,
            "fold": self.fold,
            "train_prior": d.train_prior,
        }
        checkpoint.save(checkpoint_path(layout, self.fold), ckpt)
        self.log.close()
        resume_path(layout, self.fold).unlink(missing_ok=True)
        covis = d.covis_fingerprint if d.spec.dense_cols else None
        return Lineage(
            NAME, self.fold, d.cache.fingerprint, covis, file_digest(checkpoint_path(layout, self.fold))
        )

    def _resume(self) -> FoldState:
        """Load the resume state into model, optimiser, ... when it belongs to this run; else start fresh."""
        path = resume_path(self.layout, self.fold)
        if not path.is_file():
            return FoldState()
        saved = checkpoint.load(path, "cpu")
        if saved.get("identity") != self.identity:
            log.info("fold %s: %s was saved under another config or cache; starting afresh", self.fold, path)
            path.unlink()
            return FoldState()
        self.model.load_state_dict(saved["model"])
        if self.ema is not None and saved["ema"] is not None:
            self.ema.load_state_dict(saved["ema"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        self.scaler.load_state_dict(saved["scaler"])
        torch.set_rng_state(saved["rng_torch"])
        if saved["rng_cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(saved["rng_cuda"])
        state = FoldState(**saved["state"])
        tc = self.cfg.train
        if state.epoch >= tc.epochs or state.bad_epochs >= tc.early_stop_patience:
            log.info(
                "fold %s: %s holds this fold's finished training (best epoch %d, e.g. the id trial's "
                "winning arm); writing its model without training",
                self.fold, path, state.best_epoch + 1,
            )  # fmt: skip
        else:
            log.info(
                "fold %s: resuming after epoch %d (step %d) from %s", self.fold, state.epoch, state.step, path
            )
        return state


def save_resume_state(trainer: FoldTrainer) -> None:
    """Everything needed to continue after the epoch just finished (written atomically)."""
    payload = {
        "identity": trainer.identity,
        "state": asdict(trainer.state),
        "model": trainer.model.state_dict(),
        "ema": trainer.ema.state_dict() if trainer.ema is not None else None,
        "optimizer": trainer.optimizer.state_dict(),
        "scheduler": trainer.scheduler.state_dict(),
        "scaler": trainer.scaler.state_dict(),
        "rng_torch": torch.get_rng_state(),
        "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    checkpoint.save(resume_path(trainer.layout, trainer.fold), payload)
