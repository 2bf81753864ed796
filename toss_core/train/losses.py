"""The training loss as a weighted mean over rows, so zero-weight filler rows change nothing.

Every batch has one shape (train/sampler.py fills the last one up with rows of weight 0); the loss is
Σ w·ℓ / Σ w over per-row terms ℓ. QNN-α's self-ensemble loss is a batch mean of per-row terms;
torch.func.vmap evaluates the model's own definition row by row (vectorised), so the weighted loss and its
gradients equal those of the real rows alone. The embedding L2 term reads the tables, not the rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from toss_core.config import TossConfig

if TYPE_CHECKING:
    from toss_core.models.wrapper import CTRModel

Forward = Callable[[dict[str, torch.Tensor]], torch.Tensor]
RowLoss = Callable[[Forward, dict[str, torch.Tensor], torch.Tensor], torch.Tensor]


def row_loss(cfg: TossConfig) -> RowLoss:
    """Per-row loss [B]: QNN-α's self-ensemble loss (two dropout passes) when configured, else BCE."""
    weight = cfg.model.qnn_alpha.aux_head_weight
    if cfg.model.head == "qnn_alpha" and weight > 0:
        from toss_core.models.qnn_alpha import self_ensemble_loss

        per_row = torch.func.vmap(lambda a, b, y: self_ensemble_loss(a[None], b[None], y[None], weight))
        return lambda fwd, batch, y: per_row(fwd(batch).float(), fwd(batch).float(), y)
    return lambda fwd, batch, y: F.binary_cross_entropy_with_logits(fwd(batch).float(), y, reduction="none")


def weighted_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Σ w·v / Σ w (no host sync)."""
    return (values * weights).sum() / weights.sum()


BatchLoss = Callable[[dict[str, torch.Tensor], torch.Tensor, torch.Tensor], torch.Tensor]


def batch_loss(cfg: TossConfig, model: CTRModel) -> BatchLoss:
    """(batch, target, weights) -> the step's loss: the weighted per-row loss plus model.emb_l2 times the
    embedding tables' penalty (it reads no row, so filler rows cannot change it). One function, so
    torch.compile takes the forward passes and the loss as one graph (one CUDA graph with compile_mode
    reduce-overhead)."""
    per_row, l2 = row_loss(cfg), cfg.model.emb_l2
    if isinstance(l2, str):
        raise ValueError("model.emb_l2 auto must be settled (train.loop.settle_ids) before a loss is built")

    def loss(batch: dict[str, torch.Tensor], target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        value = weighted_mean(per_row(model, batch, target), weights)
        penalty = model.embedding_penalty() if l2 > 0 else None
        return value if penalty is None else value + l2 * penalty

    return loss
