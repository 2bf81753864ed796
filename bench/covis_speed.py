"""Co-visitation feature build time on a synthetic cache (demo size by default).

    nice .venv/bin/python -m bench.covis_speed --config cfgs/demo.yaml --root /tmp/covis_bench --repeats 3

Prepares the raw data, caches and folds once (reused on later runs), then times `build_covis_features`
from scratch `repeats` times (median reported) and once more as a reuse. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import statistics
import time
from pathlib import Path

from toss_core import steps
from toss_core.config import load_config
from toss_core.features.covis import build_covis_features
from toss_core.layout import Layout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="cfgs/demo.yaml")
    parser.add_argument("--root", default="/tmp/covis_bench")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    cfg = load_config(args.config, args.overrides)
    layout = Layout(cfg, root=Path(args.root))
    steps.prepare_raw(cfg, layout)
    steps.build_caches(cfg, layout)
    steps.assign_folds(cfg, layout)

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
        "| reuse s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {label} | {n_train:,} | {n_test:,} | {len(result.feature_names)} | {median:.2f} ({runs}) "
        f"| {rows / median:,.0f} | {reuse_s:.3f} |"
    )


if __name__ == "__main__":
    main()
