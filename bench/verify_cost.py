"""Cost of the default shard verification (data.verify: full) against one training epoch of the demo.

    nice .venv/bin/python -m bench.verify_cost --config cfgs/demo.yaml --root /tmp/verify_bench

Prepares the demo's raw data, caches, folds and co-visitation features once (reused on later runs).
Then: (1) the crc32 pass over every shard file a network fold reads (the model's fields of the train
cache and the co-visitation features), with the files in the page cache as training finds them; (2) one
epoch of fold 0 with data.verify=quick, its training time taken from the log's rows/s; (3) the same fold
with data.verify=full, for the end-to-end difference (noisy on a shared machine). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import csv
import logging
import time
from pathlib import Path

import numpy as np

from toss_core import steps
from toss_core.config import TossConfig, load_config
from toss_core.context import RunContext
from toss_core.data.integrity import crc_file
from toss_core.data.reader import ShardedCache
from toss_core.layout import Layout
from toss_core.train.batches import feature_fields, model_spec


def _files(cfg: TossConfig, layout: Layout) -> list[Path]:
    """Every shard file a network fold of this config reads."""
    cache = ShardedCache(layout.train_cache)
    dense = ShardedCache(layout.covis_train) if cfg.features.covis.enabled else None
    names = [*feature_fields(model_spec(cfg, cache, dense), cache.fields), "label"]
    files = [cache.root / s["files"][n]["path"] for s in cache.manifest["shards"] for n in names]
    if dense is not None:
        files += [dense.root / f["path"] for s in dense.manifest["shards"] for f in s["files"].values()]
    return files


def _fold_seconds(ctx: RunContext, verify: str) -> tuple[float, float]:
    """(wall seconds of a one-epoch fold 0, seconds of its training pass from the logged rows/s)."""
    cfg = ctx.cfg
    ctx = ctx.with_config(cfg.model_copy(update={"data": cfg.data.model_copy(update={"verify": verify})}))
    layout = ctx.layout
    started = time.perf_counter()
    steps.train_fold(ctx, "nn", 0)
    wall = time.perf_counter() - started
    with (layout.run_dir / "train_log_fold_0.csv").open() as fh:
        rows = [r for r in csv.DictReader(fh) if r["rows_per_s"]]
    folds = np.load(layout.folds_path)
    return wall, float(np.sum(folds != 0)) / float(rows[-1]["rows_per_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="cfgs/demo.yaml")
    parser.add_argument("--root", default="/tmp/verify_bench")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    cfg = load_config(args.config, [*args.overrides, "train.epochs=1", "families=[nn]"])
    ctx = RunContext.from_config(cfg, Path(args.root))
    layout = ctx.layout
    steps.prepare(ctx)

    files = _files(cfg, layout)
    for path in files:
        path.read_bytes()  # warm: training reads these pages right after the check
    started = time.perf_counter()
    for path in files:
        crc_file(path)
    crc_s = time.perf_counter() - started
    n_bytes = sum(p.stat().st_size for p in files)

    quick_wall, epoch_s = _fold_seconds(ctx, "quick")
    full_wall, _ = _fold_seconds(ctx, "full")
    print("| measure | value |\n| --- | --- |")
    print(f"| shard files a fold reads | {len(files)} files, {n_bytes / 1e6:.1f} MB |")
    print(f"| crc32 of them (data.verify: full) | {crc_s:.3f} s ({n_bytes / 1e9 / crc_s:.2f} GB/s) |")
    print(f"| training pass of one epoch, fold 0 (from rows/s) | {epoch_s:.1f} s |")
    print(f"| crc / epoch | {100 * crc_s / epoch_s:.2f} % |")
    print(f"| one-epoch fold 0 wall, quick / full | {quick_wall:.1f} s / {full_wall:.1f} s |")


if __name__ == "__main__":
    main()
