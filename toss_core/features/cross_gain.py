"""What a crossed click rate adds to the click rates of its two columns: the test that keeps an auto cross.

Why this test: a pair's rate carries something new only where the click depends on the pair, not on each
column alone. On Frappe an app's clicks depend on the country and the cost tier it is used in (+0.046 and
+0.013 balanced log-likelihood per row), while on the synthetic Toss schema every id acts additively, so
its crosses with the hour or the inventory add next to nothing (at most 0.0008, never 3 standard errors
clear of 0, on three sets) and would only cost time and noise. Recurrence or a
column hierarchy (covis.cross_verdict) cannot see the difference; this measure can.

It is read off the pair's fitted per-fold table, with no pass over the rows: every (pair, fold) cell holds
its rows and clicks, the out-of-fold rates of the pair and of each column follow from sums over the other
folds (the columns' own tables are the pair table summed over the other column), and two small logistic
regressions over the cells, weighted as the metric weighs the classes, give the balanced log-likelihood
per row with and without the pair's rate, each fitted on the other folds' cells and scored on the fold's.
Their difference is the gain; its standard error keeps small data's noise from passing for a cross.
Over MAX_GAIN_PAIRS distinct pairs (an id of a million values crossed with the hour) the two fits see and
score the cells of a seeded random subsample of the pairs, while every rate still reads the whole table:
time and memory stay bounded, the same table gives the same answer, and the error widens honestly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toss_core.features.target import TargetTable

_EPS = 1e-6  # rates are clipped away from 0 and 1 before their logit
_NEWTON_STEPS = 50  # at most; a few reach the optimum of these smooth, nearly quadratic likelihoods
# Above this many distinct pairs the fits see a seeded random subsample of this many pairs (measured by
# bench/cross_gain_speed.py, BENCHMARKS.md "Id × context crosses"): uncapped, the gain took 9 s and 0.4 GB
# per million pairs on the 2-core box (91 s and 4 GB at 10M); a million keep its standard error near 0.00015
# at ~2 rows per pair, so a gain at covis.MIN_CROSS_GAIN (0.001) still stands 6 of them clear of 0.
MAX_GAIN_PAIRS = 1_000_000
_SAMPLE_SEED = 0


def _oof_rates(counts: np.ndarray, clicks: np.ndarray, prior: np.ndarray, smoothing: float) -> np.ndarray:
    """[m, F] the rate a row of fold f reads for each key: the other folds' statistics, smoothed towards
    the other folds' click rate `prior` [F] (as TargetTable.rates does)."""
    other_n = counts.sum(axis=1, keepdims=True) - counts
    other_c = clicks.sum(axis=1, keepdims=True) - clicks
    return (other_c + smoothing * prior) / (other_n + smoothing)


def scored_pairs(n_pairs: int) -> np.ndarray:
    """The rows of the pair table whose cells the fits see and score, sorted: all of them up to
    MAX_GAIN_PAIRS, beyond it a seeded uniform draw of that many, so one table always gives one answer."""
    if n_pairs <= MAX_GAIN_PAIRS:
        return np.arange(n_pairs)
    return np.sort(np.random.default_rng(_SAMPLE_SEED).choice(n_pairs, MAX_GAIN_PAIRS, replace=False))


def _columns(keys: np.ndarray, second_cardinality: int) -> tuple[np.ndarray, np.ndarray]:
    """Each key's first and second column value (keys are first * second_cardinality + second)."""
    return np.divmod(keys, np.int64(second_cardinality))


def _summed(values: np.ndarray, per_key: np.ndarray, n_values: int) -> np.ndarray:
    """[n_values, F] per-fold sums of `per_key` [m, F] over the keys of each value."""
    return np.column_stack([np.bincount(values, per_key[:, f], n_values) for f in range(per_key.shape[1])])


def _column_tables(table: TargetTable, second_cardinality: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per-fold counts and clicks [values, F] of the first and of the second column: the WHOLE pair table
    summed over the other column, MAX_GAIN_PAIRS pairs at a time: no vector as long as the table is made."""
    n_folds = table.counts.shape[1]
    sizes = (int(table.keys.max()) // second_cardinality + 1, second_cardinality)
    tables = [(np.zeros((n, n_folds)), np.zeros((n, n_folds))) for n in sizes]
    for start in range(0, len(table.keys), MAX_GAIN_PAIRS):
        block = slice(start, start + MAX_GAIN_PAIRS)
        for column, values in zip(tables, _columns(table.keys[block], second_cardinality), strict=True):
            for total, per_key in zip(column, (table.counts[block], table.clicks[block]), strict=True):
                total += _summed(values, per_key, len(total))
    return tables


def oof_rates(
    table: TargetTable, pairs: np.ndarray, second_cardinality: int, smoothing: float
) -> tuple[np.ndarray, ...]:
    """[len(pairs), F] out-of-fold rates of the pair, its first and its second column for the given rows of
    the table. Each column's rates read the WHOLE table, whichever pairs are asked for: a subsample changes
    which cells are scored, never a rate. Memory: the columns' [values, F] tables and [len(pairs), F]."""
    other_rows = table.fold_rows.sum() - table.fold_rows
    other_clicks = table.fold_clicks.sum() - table.fold_clicks
    prior = np.divide(other_clicks, other_rows, out=np.zeros_like(other_rows), where=other_rows > 0)
    rates = [_oof_rates(table.counts[pairs], table.clicks[pairs], prior, smoothing)]
    columns = _columns(table.keys[pairs], second_cardinality)
    for (col_n, col_c), values in zip(_column_tables(table, second_cardinality), columns, strict=True):
        rates.append(_oof_rates(col_n[values], col_c[values], prior, smoothing))
    return tuple(rates)


def _logit(rate: np.ndarray) -> np.ndarray:
    r = np.clip(rate, _EPS, 1.0 - _EPS)
    return np.log(r / (1.0 - r))


def _fitted(design: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """The logistic weights that maximise Σ pos·log σ(z) + neg·log(1−σ(z)) over the cells, z = design·w:
    Newton's method (a handful of steps for these three or four weights, each halved until the
    likelihood rises), a whisper of ridge keeping it defined when two columns coincide."""

    def loglik(w: np.ndarray) -> float:
        z = design @ w
        return float(-(pos * np.logaddexp(0.0, -z) + neg * np.logaddexp(0.0, z)).sum())

    w = np.zeros(design.shape[1])
    current = loglik(w)
    ridge = 1e-9 * float((pos + neg).sum()) * np.eye(design.shape[1])
    for _ in range(_NEWTON_STEPS):
        p = 0.5 * (1.0 + np.tanh(0.5 * (design @ w)))  # σ(z) without overflow
        grad = design.T @ (pos * (1.0 - p) - neg * p)
        hess = (design * ((pos + neg) * p * (1.0 - p))[:, None]).T @ design + ridge
        step = np.linalg.solve(hess, grad)
        for _halving in range(30):
            trial = loglik(w + step)
            if trial >= current:
                break
            step = step / 2.0
        else:
            break
        w, gained, current = w + step, trial - current, trial
        if gained <= 1e-10 * max(abs(current), 1.0):
            break
    return w


@dataclass(frozen=True)
class CrossGain:
    """Balanced log-likelihood per row that a pair's rate adds, and the standard error of that mean, over
    the rows of the pairs it scored: `pairs_scored` of the table's `pairs` (all up to MAX_GAIN_PAIRS)."""

    per_row: float
    stderr: float
    pairs_scored: int
    pairs: int

    def clears(self, floor: float, z: float) -> bool:
        """At least `floor`, and `z` standard errors above nothing (small data is noisy, not informative)."""
        return self.per_row >= floor and self.per_row >= z * self.stderr


def _log_probs(design: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log σ(z) and log(1−σ(z)) per cell, z = design·w."""
    z = design @ w
    return -np.logaddexp(0.0, -z), -np.logaddexp(0.0, z)


def cross_gain(table: TargetTable, second_cardinality: int, smoothing: float) -> CrossGain:
    """What the pair's out-of-fold rate adds to a logistic model of its two columns' out-of-fold rates
    (keys are first * second_cardinality + second). Both models are cross-fitted over the folds (fitted
    on the other folds' cells, scored on the fold's), so a pair that holds only noise scores about 0 or
    below; the standard error treats rows as independent draws. Over MAX_GAIN_PAIRS pairs the cells are
    those of a seeded subsample of the pairs (the rates still read the whole table), so memory beyond the
    table is O((MAX_GAIN_PAIRS + the columns' values) × F) and the error is the subsample's. One fold:
    nothing to score, 0."""
    n_pairs, n_folds = table.counts.shape
    all_rows = float(table.counts.sum())
    rate = float(table.clicks.sum()) / all_rows if all_rows else 0.0
    if n_folds < 2 or rate in (0.0, 1.0):
        return CrossGain(0.0, 0.0, 0, n_pairs)
    sample = scored_pairs(n_pairs)
    counts, clicks = table.counts[sample], table.clicks[sample]
    pair, first, second = (_logit(r) for r in oof_rates(table, sample, second_cardinality, smoothing))
    w_pos, w_neg = 0.5 / rate, 0.5 / (1.0 - rate)  # the metric's class weights: each class counts half
    total = second_moment = 0.0
    for fold in range(n_folds):
        in_fold = np.zeros(counts.shape, dtype=bool)
        in_fold[:, fold] = True
        scored, fitted_on = in_fold & (counts > 0), ~in_fold & (counts > 0)
        n_clicks, n_rest = clicks[scored], counts[scored] - clicks[scored]
        logs = []
        for columns in ((first, second, pair), (first, second)):
            train = np.column_stack([*(c[fitted_on] for c in columns), np.ones(int(fitted_on.sum()))])
            w = _fitted(train, w_pos * clicks[fitted_on], w_neg * (counts - clicks)[fitted_on])
            held = np.column_stack([*(c[scored] for c in columns), np.ones(int(scored.sum()))])
            logs.append(_log_probs(held, w))
        (with_pos, with_neg), (without_pos, without_neg) = logs
        d_pos, d_neg = w_pos * (with_pos - without_pos), w_neg * (with_neg - without_neg)  # per row
        total += float((n_clicks * d_pos + n_rest * d_neg).sum())
        second_moment += float((n_clicks * d_pos**2 + n_rest * d_neg**2).sum())
    rows = float(counts.sum())
    return CrossGain(total / rows, float(np.sqrt(second_moment)) / rows, len(sample), n_pairs)
