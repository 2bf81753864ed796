"""Learning-rate schedule: the peak rate for the batch size (train.lr_scaling), a linear warm-up over
train.warmup_epochs (fractional), then an exponential decay by train.lr_decay per epoch.

Why exponential decay and not cosine or reduce-on-plateau: the network trains until its validation Score
stops improving (train.early_stop_patience), so the last epoch is not known when training starts, and a
cosine, which must know it, would be stretched over a cap that is rarely reached. A reduce-on-plateau
schedule reacts to the validation rows, so a refit on every row (cv.refit = full), which has none, could
not repeat it. A decay fixed per epoch needs neither: epoch N trains under the same rates whatever the cap,
a refit for the N epochs the folds selected repeats the folds' first N epochs exactly, and raising the cap
of a resumed fold continues the same curve.

Expressed as a LambdaLR multiplier so its state is an ordinary scheduler state_dict (resumable).
"""

from __future__ import annotations

import math

import torch

from toss_core.config import TrainConfig


def peak_lr(tc: TrainConfig) -> float:
    """train.lr at train.lr_base_batch rows per step, scaled to train.batch_size by train.lr_scaling:
    x sqrt(B / base) keeps the update noise of Adam-type optimisers about constant, x B / base keeps
    the per-row step of SGD (linear)."""
    ratio = tc.batch_size / tc.lr_base_batch
    return tc.lr * {"none": 1.0, "sqrt": math.sqrt(ratio), "linear": ratio}[tc.lr_scaling]


def lr_multiplier(step: int, warmup_steps: int, steps_per_epoch: int, decay: float) -> float:
    """Multiplier of the peak rate at optimiser step `step` (0-based): the warm-up ramp, then
    decay ** (epochs since the warm-up ended), smooth across steps."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    return decay ** ((step - warmup_steps) / max(steps_per_epoch, 1))


def warmup_decay(
    optimizer: torch.optim.Optimizer, steps_per_epoch: int, warmup_epochs: float, decay: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """Scheduler stepped once per optimiser step."""
    warmup = round(warmup_epochs * steps_per_epoch)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_multiplier(s, warmup, steps_per_epoch, decay)
    )
