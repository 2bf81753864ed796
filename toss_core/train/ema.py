"""Exponential moving average of model weights, evaluated instead of the raw weights when configured.

The average lives in a full copy of the model, so evaluation and checkpointing use an ordinary module.
Early in training the decay is warmed up as min(decay, (1 + n) / (10 + n)) after n updates: with the
default 0.999 and a few hundred steps per fold, a fixed decay would leave the average stuck near the
random initial weights.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def ema_decay(decay: float, updates: int) -> float:
    """Effective decay after `updates` previous updates."""
    return min(decay, (1.0 + updates) / (10.0 + updates))


class EMA:
    """Shadow copy of a model: shadow = d * shadow + (1 - d) * weights after each optimiser step."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.updates = 0
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        d = ema_decay(self.decay, self.updates)
        self.updates += 1
        shadow = [p for p in self.module.parameters()]
        current = [p.detach() for p in model.parameters()]
        torch._foreach_lerp_(shadow, current, 1.0 - d)
        for b_shadow, b in zip(self.module.buffers(), model.buffers(), strict=True):
            b_shadow.copy_(b)

    def state_dict(self) -> dict:
        return {"module": self.module.state_dict(), "updates": self.updates, "decay": self.decay}

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["module"])
        self.updates = int(state["updates"])
        self.decay = float(state["decay"])
