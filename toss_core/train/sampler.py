"""Which training rows form each batch: a plain shuffle, or a balanced sampler with a prior correction.

The balanced sampler fills every batch with a fixed fraction of positives (sampler.pos_fraction): one
epoch is one pass over the negatives, positives are recycled as often as needed. A model trained on that
prior predicts log-odds shifted by logit(pos_fraction) - logit(true prior); `prior_logit_offset` is the
correction added to its raw logits so that probabilities again refer to the true training prior.
"""

from __future__ import annotations

import math

import numpy as np

from toss_core.config import SamplerConfig
from toss_core.scoring.metrics import logit


def prior_logit_offset(sampler: SamplerConfig, train_prior: float) -> float:
    """Added to raw logits to undo the sampler's prior; 0 for an unbalanced sampler."""
    if sampler.type != "balanced":
        return 0.0
    return float(logit(train_prior) - logit(sampler.pos_fraction))


def positives_per_batch(sampler: SamplerConfig, batch_size: int) -> int:
    """Positives in every balanced batch: round(pos_fraction * batch_size), at least one of each class."""
    return min(max(round(sampler.pos_fraction * batch_size), 1), batch_size - 1)


def _cycled(rows: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` rows drawn as consecutive fresh permutations of `rows` (each row once per cycle)."""
    reps = math.ceil(count / rows.size)
    return np.concatenate([rng.permutation(rows) for _ in range(reps)])[:count]


def epoch_batches(
    rows: np.ndarray, labels: np.ndarray, sampler: SamplerConfig, batch_size: int, rng: np.random.Generator
) -> np.ndarray:
    """The batches of one epoch as a [steps, batch_size] array of row ids (last plain batch padded by reuse).

    `labels` are aligned with `rows`. A plain epoch is a shuffle of all rows; a balanced epoch has
    round(pos_fraction * batch_size) positives in every batch.
    """
    if sampler.type == "balanced":
        positive = labels > 0.5
        pos, neg = rows[positive], rows[~positive]
        n_pos = positives_per_batch(sampler, batch_size)
        if pos.size == 0 or neg.size == 0:
            raise ValueError("the balanced sampler needs both positive and negative training rows")
        steps = max(math.ceil(neg.size / (batch_size - n_pos)), 1)
        neg_ids = _cycled(neg, steps * (batch_size - n_pos), rng).reshape(steps, -1)
        pos_ids = _cycled(pos, steps * n_pos, rng).reshape(steps, -1)
        return np.concatenate([pos_ids, neg_ids], axis=1)
    steps = max(math.ceil(rows.size / batch_size), 1)
    return _cycled(rows, steps * batch_size, rng).reshape(steps, batch_size)


def steps_per_epoch(n_rows: int, n_pos: int, sampler: SamplerConfig, batch_size: int) -> int:
    """Number of batches `epoch_batches` yields, known before the epoch (for the schedule)."""
    if sampler.type == "balanced":
        per_batch = positives_per_batch(sampler, batch_size)
        return max(math.ceil((n_rows - n_pos) / (batch_size - per_batch)), 1)
    return max(math.ceil(n_rows / batch_size), 1)
