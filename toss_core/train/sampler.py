"""Which training rows form each batch: a plain shuffle, or a balanced sampler with a prior correction.

The order is drawn with a torch.Generator on the device the model trains on, seeded from (seed, fold,
epoch), so an epoch's batches do not depend on how the rows reach the model: the device-resident and
the streaming data paths (train/feeds.py) train on the same rows in the same order for a seed.

Every batch has train.batch_size rows (one static shape, what CUDA graphs need): a plain epoch's last
batch is filled up with rows of weight 0, so the weighted loss (train/losses.py) and its gradients are
those of the real rows alone. Each batch's row ids are sorted (its rows and weights together), so a
streaming gather walks each memory-mapped shard forward.

The balanced sampler fills every batch with a fixed fraction of positives (sampler.pos_fraction): one
epoch is one pass over the negatives, positives are recycled as often as needed. A model trained on that
prior predicts log-odds shifted by logit(pos_fraction) - logit(true prior); `prior_logit_offset` is the
correction added to its raw logits so that probabilities again refer to the true training prior.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from toss_core.config import SamplerConfig
from toss_core.scoring.metrics import logit


@dataclass(frozen=True)
class EpochBatches:
    """One epoch: row ids [steps, batch_size] (int64) and their loss weights [steps, batch_size] (1 for a
    real row, 0 for a row that only fills the last batch up), both on the sampler's device."""

    ids: torch.Tensor
    weights: torch.Tensor

    def __len__(self) -> int:
        return self.ids.shape[0]


def prior_logit_offset(sampler: SamplerConfig, train_prior: float) -> float:
    """Added to raw logits to undo the sampler's prior; 0 for an unbalanced sampler."""
    if sampler.type != "balanced":
        return 0.0
    return float(logit(train_prior) - logit(sampler.pos_fraction))


def positives_per_batch(sampler: SamplerConfig, batch_size: int) -> int:
    """Positives in every balanced batch: round(pos_fraction * batch_size), at least one of each class."""
    return min(max(round(sampler.pos_fraction * batch_size), 1), batch_size - 1)


def epoch_generator(seed: int, fold_index: int, epoch: int, device: torch.device) -> torch.Generator:
    """The generator of one epoch's order on `device`, seeded from (seed, fold, epoch) alone, so a
    resumed fold draws the same batches."""
    state = np.random.SeedSequence([seed, fold_index, epoch]).generate_state(1, np.uint64)[0]
    return torch.Generator(device=device).manual_seed(int(state) & (2**63 - 1))


def _cycled(rows: torch.Tensor, count: int, gen: torch.Generator) -> torch.Tensor:
    """`count` rows drawn as consecutive fresh permutations of `rows` (each row once per cycle)."""
    reps = math.ceil(count / rows.numel())
    perms = [rows[torch.randperm(rows.numel(), generator=gen, device=rows.device)] for _ in range(reps)]
    return torch.cat(perms)[:count]


def epoch_batches(
    rows: torch.Tensor, labels: torch.Tensor, sampler: SamplerConfig, batch_size: int, gen: torch.Generator
) -> EpochBatches:
    """The batches of one epoch; `rows` (int64 row ids) and `labels` are aligned and on gen's device.

    A plain epoch is one shuffle of all rows, the last batch filled up with zero-weight rows; a balanced
    epoch has round(pos_fraction * batch_size) positives in every batch and no filler.
    """
    if sampler.type == "balanced":
        positive = labels > 0.5
        pos, neg = rows[positive], rows[~positive]
        n_pos = positives_per_batch(sampler, batch_size)
        if pos.numel() == 0 or neg.numel() == 0:
            raise ValueError("the balanced sampler needs both positive and negative training rows")
        steps = max(math.ceil(neg.numel() / (batch_size - n_pos)), 1)
        neg_ids = _cycled(neg, steps * (batch_size - n_pos), gen).view(steps, -1)
        pos_ids = _cycled(pos, steps * n_pos, gen).view(steps, -1)
        ids = torch.cat([pos_ids, neg_ids], dim=1)
        weights = torch.ones(ids.shape, device=ids.device)
    else:
        steps = max(math.ceil(rows.numel() / batch_size), 1)
        order = rows[torch.randperm(rows.numel(), generator=gen, device=rows.device)]
        filler = order[torch.arange(steps * batch_size - order.numel(), device=rows.device) % order.numel()]
        ids = torch.cat([order, filler]).view(steps, batch_size)
        weights = (torch.arange(ids.numel(), device=ids.device) < order.numel()).float().view(steps, -1)
    ids, perm = ids.sort(dim=1)
    return EpochBatches(ids, weights.gather(1, perm))


def steps_per_epoch(n_rows: int, n_pos: int, sampler: SamplerConfig, batch_size: int) -> int:
    """Number of batches `epoch_batches` yields, known before the epoch (for the schedule)."""
    if sampler.type == "balanced":
        per_batch = positives_per_batch(sampler, batch_size)
        return max(math.ceil((n_rows - n_pos) / (batch_size - per_batch)), 1)
    return max(math.ceil(n_rows / batch_size), 1)


def capped(batches: EpochBatches, max_steps: int | None) -> EpochBatches:
    """The first `max_steps` batches of an epoch (train.max_steps_per_epoch): the epoch's order is a fresh
    random draw, so a capped epoch trains on a fresh random share of the rows."""
    if max_steps is None or len(batches) <= max_steps:
        return batches
    return EpochBatches(batches.ids[:max_steps], batches.weights[:max_steps])
