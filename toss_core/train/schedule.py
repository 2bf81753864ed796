"""Learning-rate schedule: the peak rate for the batch size (train.lr_scaling), a linear warm-up over
train.warmup_epochs (fractional), then cosine decay.

Expressed as a LambdaLR multiplier so its state is an ordinary scheduler state_dict (resumable).
"""

from __future__ import annotations

import math

import torch

from toss_core.config import TrainConfig

MIN_LR_RATIO = 0.01  # the cosine ends at 1% of the peak rate rather than 0, so the last steps still learn


def peak_lr(tc: TrainConfig) -> float:
    """train.lr at train.lr_base_batch rows per step, scaled to train.batch_size by train.lr_scaling:
    x sqrt(B / base) keeps the update noise of Adam-type optimisers about constant, x B / base keeps
    the per-row step of SGD (linear)."""
    ratio = tc.batch_size / tc.lr_base_batch
    return tc.lr * {"none": 1.0, "sqrt": math.sqrt(ratio), "linear": ratio}[tc.lr_scaling]


def lr_multiplier(step: int, warmup_steps: int, total_steps: int) -> float:
    """Multiplier of the peak rate at optimiser step `step` (0-based)."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(total_steps - warmup_steps, 1)
    progress = min(max(step - warmup_steps, 0) / span, 1.0)
    return MIN_LR_RATIO + (1.0 - MIN_LR_RATIO) * 0.5 * (1.0 + math.cos(math.pi * progress))


def warmup_cosine(
    optimizer: torch.optim.Optimizer, steps_per_epoch: int, epochs: int, warmup_epochs: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """Scheduler stepped once per optimiser step."""
    total = steps_per_epoch * epochs
    warmup = min(round(warmup_epochs * steps_per_epoch), total)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_multiplier(s, warmup, total))
