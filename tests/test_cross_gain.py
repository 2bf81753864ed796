"""features.cross_gain: what a pair's click rate adds to its two columns' rates, read off its table."""

from __future__ import annotations

import numpy as np
import pytest

from toss_core.features.covis import MIN_CROSS_GAIN, MIN_CROSS_Z
from toss_core.features.cross_gain import cross_gain
from toss_core.features.target import TargetAccumulator, TargetTable

CARD = 13  # the second column's cardinality (values 1..12)


def _table(first: np.ndarray, second: np.ndarray, label: np.ndarray, folds: np.ndarray) -> TargetTable:
    acc = TargetAccumulator(int(folds.max()) + 1)
    acc.add((first * CARD + second)[:, None], label.astype(np.float32), folds)
    return acc.finish()


def _draw(n: int, logit_of, seed: int, n_folds: int = 5) -> TargetTable:
    rng = np.random.default_rng(seed)
    first, second = rng.integers(1, 40, n), rng.integers(1, CARD, n)
    label = rng.random(n) < 1.0 / (1.0 + np.exp(-logit_of(first, second)))
    return _table(first, second, label, rng.integers(0, n_folds, n))


def test_a_click_that_follows_the_pair_clears_the_bar() -> None:
    gain = cross_gain(_draw(20_000, lambda a, b: np.where((a + b) % 3 == 0, 1.5, -1.5), seed=1), CARD, 20.0)
    assert gain.per_row > 0.05 and gain.clears(MIN_CROSS_GAIN, MIN_CROSS_Z)


def test_columns_that_act_alone_add_nothing_as_a_pair() -> None:
    """Additive effects (the synthetic Toss schema's ids): each column's rate already holds them."""
    effects_a, effects_b = np.linspace(-1.5, 1.5, 40), np.linspace(-1.0, 1.0, CARD)
    table = _draw(20_000, lambda a, b: effects_a[a] + effects_b[b] - 1.0, seed=2)
    gain = cross_gain(table, CARD, 20.0)
    assert abs(gain.per_row) < MIN_CROSS_GAIN and not gain.clears(MIN_CROSS_GAIN, MIN_CROSS_Z)


@pytest.mark.parametrize("seed", range(5))
def test_small_noisy_data_is_not_taken_for_a_cross(seed: int) -> None:
    """600 rows at a 3% click rate: the gain itself wanders past the floor, its standard error with it."""
    gain = cross_gain(_draw(600, lambda a, b: np.full(a.shape, -3.5), seed=seed, n_folds=2), CARD, 20.0)
    assert not gain.clears(MIN_CROSS_GAIN, MIN_CROSS_Z)


def test_one_fold_has_nothing_out_of_fold_to_score() -> None:
    table = _draw(2_000, lambda a, b: np.where((a + b) % 3 == 0, 1.5, -1.5), seed=3, n_folds=1)
    gain = cross_gain(table, CARD, 20.0)
    assert (gain.per_row, gain.stderr) == (0.0, 0.0)
