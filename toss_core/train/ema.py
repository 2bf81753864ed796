"""Exponential moving average of model weights, evaluated instead of the raw weights when configured.

torch.optim.swa_utils does the work: an `AveragedModel` holds the average in a full copy of the model
(so evaluation and checkpointing use an ordinary module, `EMA.module`) and keeps its buffers in sync,
and `get_ema_multi_avg_fn` lerps every parameter in one foreach kernel. What it lacks is a warm-up:
early in training the decay is min(decay, (1 + n) / (10 + n)) after n updates, since with the default
0.999 and a few hundred steps per fold a fixed decay would leave the average stuck near the random
initial weights. The copy counts as the first average (the shadow starts at the model's weights), so
the first update already blends, with decay 0.1.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


def ema_decay(decay: float, updates: int) -> float:
    """Effective decay after `updates` previous updates."""
    return min(decay, (1.0 + updates) / (10.0 + updates))


class EMA:
    """Shadow copy of a model: shadow = d * shadow + (1 - d) * weights after each optimiser step."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.updates = 0
        self._averaged = AveragedModel(model, multi_avg_fn=self._lerp)
        self._averaged.n_averaged.fill_(1)  # the copy is the first average: never overwrite it with a copy
        self.module = self._averaged.module.eval()
        self.module.requires_grad_(False)

    def _lerp(
        self,
        shadow: tuple[torch.Tensor, ...] | list[torch.Tensor],
        current: tuple[torch.Tensor, ...] | list[torch.Tensor],
        n: torch.Tensor | int,
    ) -> None:
        """AveragedModel's multi_avg_fn: one EMA step with the decay warmed up to this update."""
        get_ema_multi_avg_fn(ema_decay(self.decay, self.updates))(shadow, current, n)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self._averaged.update_parameters(model)
        self.updates += 1

    def state_dict(self) -> dict:
        return {"module": self.module.state_dict(), "updates": self.updates, "decay": self.decay}

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["module"])
        self.updates = int(state["updates"])
        self.decay = float(state["decay"])
