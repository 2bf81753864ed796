"""Co-visitation feature build time on a synthetic cache (demo size by default).

    nice .venv/bin/python -m bench.covis_speed --config cfgs/demo.yaml --root /tmp/covis_bench --repeats 3

Prepares the raw data, caches and folds once (reused on later runs), then times `build_covis_features`
from scratch `repeats` times (median reported) and once more as a reuse; prints a Markdown table with the
process's peak RSS (run it twice: the second run reuses the data and caches, so the peak is the build's).

    nice .venv/bin/python -m bench.covis_speed --vocab 65536 1000000 --rows 200000

instead fits the co-visitation statistics alone on random sequences over vocabularies of those sizes
(uniform tokens: the most distinct pairs per row, the sparse structures' worst case) and prints the fit
time, the traced peak of allocations (tracemalloc sees NumPy's and SciPy's arrays) and the non-zeros kept.
"""

from __future__ import annotations

import argparse
import logging
import resource
import shutil
import statistics
import time
from pathlib import Path

from toss_core import steps
from toss_core.config import TossConfig, load_config
from toss_core.context import RunContext
from toss_core.features.covis import build_covis_features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="cfgs/demo.yaml")
    parser.add_argument("--root", default="/tmp/covis_bench")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--vocab", type=int, nargs="+", default=None, help="accumulator-only mode")
    parser.add_argument("--rows", type=int, default=200_000, help="rows of the --vocab mode")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.vocab:
        vocab_sizes(load_config(args.config, args.overrides), args.vocab, args.rows)
        return

    cfg = load_config(args.config, args.overrides)
    ctx = RunContext.from_config(cfg, Path(args.root))
    layout = ctx.layout
    steps.prepare_raw(ctx)
    steps.build_caches(ctx)
    steps.assign_folds(ctx)

    from toss_core.data.reader import ShardedCache

    n_train = ShardedCache(layout.train_cache).n_rows
    n_test = ShardedCache(layout.test_cache).n_rows
    times = []
    for _ in range(args.repeats):
        shutil.rmtree(layout.covis_train.parent, ignore_errors=True)
        start = time.perf_counter()
        result = build_covis_features(cfg, layout)
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    reused = build_covis_features(cfg, layout)
    reuse_s = time.perf_counter() - start
    assert reused.reused, "second build with the same inputs must reuse the caches"

    median = statistics.median(times)
    rows = n_train + n_test
    runs = ", ".join(f"{t:.2f}" for t in times)
    label = " ".join([args.config, *args.overrides])
    print(
        f"| config | train rows | test rows | features | build s (median of {args.repeats}) | rows/s "
        "| reuse s | peak RSS MB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"| {label} | {n_train:,} | {n_test:,} | {len(result.feature_names)} | {median:.2f} ({runs}) "
        f"| {rows / median:,.0f} | {reuse_s:.3f} | {peak_mb:,.0f} |"
    )


def vocab_sizes(cfg: TossConfig, sizes: list[int], rows: int) -> None:
    """Fit time and traced peak memory of the co-visitation statistics on random sequences per vocabulary."""
    import tracemalloc

    import numpy as np

    from toss_core.features.cooc import CovisAccumulator

    cov, max_len = cfg.features.covis, cfg.sequence.max_len
    chunk = max(256, (1 << 20) // max_len)  # the feature build's row chunks
    print("| vocabulary | rows × max_len | fit s | traced peak MB | dense V×V float64 MB | covis nnz |")
    print("|---:|---|---:|---:|---:|---:|")
    for vocab in sizes:
        rng = np.random.default_rng(0)
        tracemalloc.start()
        start = time.perf_counter()
        acc = CovisAccumulator(vocab + 2, cov.window, cov.recency_tau, cov.weights)
        for lo in range(0, rows, chunk):
            n = min(chunk, rows - lo)
            acc.add(rng.integers(2, vocab + 2, (n, max_len), dtype=np.int32), rng.integers(1, max_len + 1, n))
        model = acc.finish(cov.top_n)
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
        dense = (vocab + 2) ** 2 * 8 / 1e6
        print(
            f"| {vocab:,} | {rows:,} × {max_len} | {seconds:.1f} | {peak:,.0f} | {dense:,.0f} "
            f"| {model.covis.nnz:,} |"
        )


if __name__ == "__main__":
    main()
