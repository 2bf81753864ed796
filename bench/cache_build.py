"""Train-cache build vs a bare Polars pass over the same file: time, throughput, ratio, peak RSS.

    nice .venv/bin/python -m bench.cache_build --work /tmp/toss_bench --sizes 200000 2000000 \
        --seq-len-scale 0.25 --max-len 64 --shard-rows 50000 --repeats 3 --md bench/results/cache.md

Synthetic Toss-schema train files are generated once per size (reused while synth_meta.json matches).
Every measurement runs in a fresh subprocess so its peak RSS (ru_maxrss) is its own:
- build:  toss_core.data.cache.build_cache(kind="train"), use_cache off: fits the vocabularies and
          statistics, writes all shards, checksums and the manifest.
- polars: the baseline, pl.scan_parquet over the same columns, `seq` cut to its last max_len tokens as
          int32 (str.split -> list.tail -> cast), collected with the streaming engine.
Runs alternate (polars, build, polars, build, ...) after one untimed read that warms the page cache;
medians are reported. ratio = median build seconds / median polars seconds (lower is better); CPU s is
user + system time of the measuring process (whole process: imports included), less sensitive than wall
time to other load on the machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _child(mode: str, train: Path, cache_dir: Path, max_len: int, shard_rows: int) -> dict[str, float]:
    """One timed measurement in this (fresh) process."""
    import polars as pl

    from toss_core.config import load_config
    from toss_core.data.cache import build_cache
    from toss_core.data.raw import resolve_numeric_columns
    from toss_core.layout import Layout

    overrides = [
        "data.source=parquet",
        f"data.train_path={train}",
        f"data.test_path={train.with_name('test.parquet')}",
        f"data.cache_dir={cache_dir}",
        f"data.shard_rows={shard_rows}",
        f"sequence.max_len={max_len}",
        "data.use_cache=false",
    ]
    cfg = load_config(REPO / "cfgs" / "smoke.yaml", overrides)
    start = time.perf_counter()
    if mode == "build":
        rows = build_cache(cfg, Layout(cfg), "train").n_rows
    else:
        names = list(pl.read_parquet_schema(train))
        num = resolve_numeric_columns(cfg, names)
        seq = pl.col("seq").str.split(",").list.tail(max_len).cast(pl.List(pl.Int32))
        frame = (
            pl.scan_parquet(train)
            .select(*cfg.data.cat_cols, *num, cfg.data.label_col, seq)
            .collect(engine="streaming")
        )
        rows = frame.height
    seconds = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "seconds": seconds,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "rows": rows,
        "rss_mb": usage.ru_maxrss / 1024,
    }


def _measure(mode: str, train: Path, cache_dir: Path, args: argparse.Namespace) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", mode, "--train", str(train), "--cache-dir", str(cache_dir)]
    cmd += ["--max-len", str(args.max_len), "--shard-rows", str(args.shard_rows)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _data(work: Path, rows: int, seq_len_scale: float) -> Path:
    from toss_core import synth

    out = work / f"data_{rows}"
    params = synth.synth_params(rows, 1000, 1, seq_len_scale)
    if synth.matching_meta(out, params) is None:
        synth.generate(out, rows, 1000, seed=1, chunk_rows=100_000, seq_len_scale=seq_len_scale)
    return out / "train.parquet"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/toss_bench"))
    parser.add_argument("--sizes", type=int, nargs="+", default=[200_000, 2_000_000])
    parser.add_argument("--seq-len-scale", type=float, default=0.25)
    parser.add_argument("--max-len", type=int, default=64)
    parser.add_argument("--shard-rows", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--md", type=Path, default=None, help="also write the table to this Markdown file")
    parser.add_argument("--child", choices=["build", "polars"], help=argparse.SUPPRESS)
    parser.add_argument("--train", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.train, args.cache_dir, args.max_len, args.shard_rows)))
        return

    lines = [
        f"seq_len_scale={args.seq_len_scale} (median seq ≈ {450 * args.seq_len_scale:.0f} tokens), "
        f"max_len={args.max_len}, shard_rows={args.shard_rows}, repeats={args.repeats} (medians)",
        "",
        "| rows | MB on disk | polars s | build s | polars rows/s | build rows/s | ratio build/polars "
        "| polars CPU s | build CPU s | polars peak RSS MB | build peak RSS MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for rows in args.sizes:
        train = _data(args.work, rows, args.seq_len_scale)
        train.read_bytes()  # warm the page cache once, untimed
        runs: dict[str, list[dict[str, float]]] = {"polars": [], "build": []}
        for _ in range(args.repeats):
            for mode in runs:
                runs[mode].append(_measure(mode, train, args.work / f"cache_{rows}", args))
                print(mode, rows, runs[mode][-1], flush=True)
        sec = {m: statistics.median(r["seconds"] for r in runs[m]) for m in runs}
        rss = {m: statistics.median(r["rss_mb"] for r in runs[m]) for m in runs}
        cpu = {m: statistics.median(r["cpu_s"] for r in runs[m]) for m in runs}
        ratio = sec["build"] / sec["polars"]
        lines.append(
            f"| {rows:,} | {train.stat().st_size / 1e6:,.0f} | {sec['polars']:.2f} | {sec['build']:.2f} "
            f"| {rows / sec['polars']:,.0f} | {rows / sec['build']:,.0f} | {ratio:.2f} "
            f"| {cpu['polars']:.1f} | {cpu['build']:.1f} | {rss['polars']:,.0f} | {rss['build']:,.0f} |"
        )
    table = "\n".join(lines)
    print(table)
    if args.md:
        args.md.parent.mkdir(parents=True, exist_ok=True)
        args.md.write_text(table + "\n")


if __name__ == "__main__":
    main()
