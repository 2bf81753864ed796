"""features.cross_gain: what a pair's click rate adds to its two columns' rates, read off its table."""

from __future__ import annotations

import numpy as np
import pytest

from toss_core.features import cross_gain as cross_gain_mod
from toss_core.features.covis import MIN_CROSS_GAIN, MIN_CROSS_Z, CrossField, TargetField, cross_verdict
from toss_core.features.cross_gain import cross_gain, oof_rates, scored_pairs
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


# The cap at work, small: ~23,600 distinct pairs (1,999 first values × 12 second, ~4 rows each), 2,000 scored.
CAP = 2_000
N_FIRST = 2_000


def _many_pairs(logit_of, seed: int) -> TargetTable:
    rng = np.random.default_rng(seed)
    first, second = rng.integers(1, N_FIRST, 100_000), rng.integers(1, CARD, 100_000)
    label = rng.random(first.size) < 1.0 / (1.0 + np.exp(-logit_of(first, second)))
    return _table(first, second, label, rng.integers(0, 5, first.size))


def _pair_driven(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.where((a + b) % 3 == 0, 1.5, -1.5)


@pytest.fixture
def capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cross_gain_mod, "MAX_GAIN_PAIRS", CAP)


@pytest.mark.usefixtures("capped")
def test_over_the_cap_a_pair_driven_click_still_clears_and_an_additive_one_does_not() -> None:
    effects_a, effects_b = np.linspace(-1.5, 1.5, N_FIRST), np.linspace(-1.0, 1.0, CARD)
    driven = cross_gain(_many_pairs(_pair_driven, seed=4), CARD, 20.0)
    additive = cross_gain(_many_pairs(lambda a, b: effects_a[a] + effects_b[b] - 1.0, seed=5), CARD, 20.0)
    assert driven.pairs > 20_000 and driven.pairs_scored == additive.pairs_scored == CAP
    assert driven.per_row > 0.05 and driven.clears(MIN_CROSS_GAIN, MIN_CROSS_Z)
    assert not additive.clears(MIN_CROSS_GAIN, MIN_CROSS_Z)


def test_the_subsample_estimates_the_full_gain_within_its_error(monkeypatch: pytest.MonkeyPatch) -> None:
    table = _many_pairs(_pair_driven, seed=6)
    full = cross_gain(table, CARD, 20.0)
    monkeypatch.setattr(cross_gain_mod, "MAX_GAIN_PAIRS", CAP)
    sub = cross_gain(table, CARD, 20.0)
    assert (full.pairs_scored, sub.pairs_scored) == (full.pairs, CAP)
    assert sub.stderr > full.stderr  # fewer rows scored: an honestly wider error
    assert abs(sub.per_row - full.per_row) < 3.0 * sub.stderr


@pytest.mark.usefixtures("capped")
def test_the_same_table_gives_the_same_gain() -> None:
    table = _many_pairs(_pair_driven, seed=7)
    assert cross_gain(table, CARD, 20.0) == cross_gain(table, CARD, 20.0)
    np.testing.assert_array_equal(scored_pairs(len(table.keys)), scored_pairs(len(table.keys)))


def _whole_table_rates(table: TargetTable, values: np.ndarray) -> np.ndarray:
    """[m, F] each pair's out-of-fold rate of one of its columns (`values` per pair), from every pair."""
    n, c = (np.zeros((values.max() + 1, table.counts.shape[1])) for _ in range(2))
    np.add.at(n, values, table.counts)
    np.add.at(c, values, table.clicks)
    prior = (table.fold_clicks.sum() - table.fold_clicks) / (table.fold_rows.sum() - table.fold_rows)
    return ((c.sum(axis=1, keepdims=True) - c + 20.0 * prior) / (n.sum(axis=1, keepdims=True) - n + 20.0))[
        values
    ]


@pytest.mark.usefixtures("capped")
def test_the_sampled_pairs_read_their_columns_rates_off_the_whole_table() -> None:
    """Each first value has ~12 pairs in the table and ~1 in the sample: its rate from the sample alone
    would be its one pair's, so the two differ wherever the pair, not the column, drives the click."""
    table = _many_pairs(_pair_driven, seed=8)
    sample = scored_pairs(len(table.keys))
    _, first_rate, second_rate = oof_rates(table, sample, CARD, 20.0)
    for got, values in ((first_rate, table.keys // CARD), (second_rate, table.keys % CARD)):
        np.testing.assert_allclose(got, _whole_table_rates(table, values)[sample], rtol=1e-12)
    alone = TargetTable(
        table.keys[sample], table.counts[sample], table.clicks[sample], table.fold_rows, table.fold_clicks
    )
    from_sample_alone = _whole_table_rates(alone, alone.keys // CARD)
    assert np.abs(first_rate - from_sample_alone).max() > 0.05  # the case tells the two apart


@pytest.mark.usefixtures("capped")
def test_the_decision_says_when_it_scored_a_subsample() -> None:
    cross = CrossField(TargetField("user", 0, N_FIRST), TargetField("hour", 1, CARD))
    keep, why = cross_verdict(_many_pairs(_pair_driven, seed=9), cross, 20.0)
    assert keep and f"(on {CAP:,} of " in why
