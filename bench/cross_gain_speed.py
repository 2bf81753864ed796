"""Time and memory of an auto cross's gain (features.cross_gain) against the number of distinct pairs.

Each size gets a synthetic pair table shaped like an id × context cross at scale: a skewed id (Zipf-like
weights over P/4 values) crossed with a 24-value column, most pairs seen 1 to 3 times, their rows spread
over the folds at random, clicks at about 2% from additive effects plus a small pair effect. The table is
built in a fresh process per size; there `cross_gain` runs --repeats times (median seconds), then once
more under tracemalloc, whose peak is what the gain allocated beyond the table (NumPy reports its arrays to
it); the process's peak RSS covers the table and everything else too.

    .venv/bin/python -m bench.cross_gain_speed --pairs 100000 1000000 3000000 10000000 --repeats 3
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import statistics
import time
import tracemalloc

import numpy as np

from toss_core.features.cross_gain import cross_gain
from toss_core.features.target import TargetTable

SECOND_CARD = 25  # the context column: values 1..24, as an hour would be
SMOOTHING = 20.0  # features.covis.target_smoothing's default


def _pair_keys(rng: np.random.Generator, n_pairs: int) -> np.ndarray:
    """n_pairs distinct sorted keys first * SECOND_CARD + second, the first drawn with skewed weights."""
    n_ids = max(n_pairs // 4, 1)
    weights = 1.0 / np.arange(10, n_ids + 10) ** 0.8
    keys = np.zeros(0, np.int64)
    while keys.size < n_pairs:
        draw = 2 * (n_pairs - keys.size)
        first = rng.choice(n_ids, size=draw, p=weights / weights.sum()) + 1
        keys = np.union1d(keys, first * SECOND_CARD + rng.integers(1, SECOND_CARD, draw))
    return np.sort(rng.choice(keys, n_pairs, replace=False))


def synthetic_table(n_pairs: int, n_folds: int, seed: int = 0) -> TargetTable:
    """A pair table of n_pairs keys: 1 + Geometric rows each (mostly 1 to 3), clicks ~2%."""
    rng = np.random.default_rng(seed)
    keys = _pair_keys(rng, n_pairs)
    first, second = keys // SECOND_CARD, keys % SECOND_CARD
    logit = -4.2 + rng.normal(0.0, 0.8, first.max() + 1)[first] + np.linspace(-0.5, 0.5, SECOND_CARD)[second]
    logit += rng.normal(0.0, 1.0, n_pairs)  # what only the pair knows
    per_pair = rng.geometric(0.55, n_pairs)
    pair_of_row = np.repeat(np.arange(n_pairs), per_pair)
    cell = pair_of_row * n_folds + rng.integers(0, n_folds, pair_of_row.size)
    label = rng.random(pair_of_row.size) < 1.0 / (1.0 + np.exp(-logit[pair_of_row]))
    counts = np.bincount(cell, minlength=n_pairs * n_folds).astype(np.float64).reshape(n_pairs, n_folds)
    clicks = np.bincount(cell, label, minlength=n_pairs * n_folds).reshape(n_pairs, n_folds)
    return TargetTable(keys, counts, clicks, counts.sum(axis=0), clicks.sum(axis=0))


def _measure(n_pairs: int, n_folds: int, repeats: int) -> dict[str, float]:
    """In a fresh process: median seconds of cross_gain, its traced peak (MB) and the process's peak RSS."""
    table = synthetic_table(n_pairs, n_folds)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        gain = cross_gain(table, SECOND_CARD, SMOOTHING)
        seconds.append(time.perf_counter() - start)
    tracemalloc.start()
    cross_gain(table, SECOND_CARD, SMOOTHING)
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "rows": float(table.counts.sum()),
        "seconds": statistics.median(seconds),
        "traced_mb": traced_peak / 2**20,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "table_mb": (table.counts.nbytes + table.clicks.nbytes + table.keys.nbytes) / 2**20,
        "gain": gain.per_row,
        "stderr": gain.stderr,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, nargs="+", default=[100_000, 1_000_000, 3_000_000, 10_000_000])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(
        "| pairs | rows | table MB | median s | gain's traced peak MB | process peak RSS MB | gain ± stderr |"
    )
    print("|---:|---:|---:|---:|---:|---:|---|")
    spawn = multiprocessing.get_context("spawn")
    for n_pairs in args.pairs:
        with spawn.Pool(1) as pool:
            m = pool.apply(_measure, (n_pairs, args.folds, args.repeats))
        print(
            f"| {n_pairs:,} | {m['rows']:,.0f} | {m['table_mb']:,.0f} | {m['seconds']:.2f} "
            f"| {m['traced_mb']:,.0f} | {m['rss_mb']:,.0f} | {m['gain']:.5f} ± {m['stderr']:.5f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
