"""Speed and memory of the synthetic generator, and of its sequence-string builder against Arrow's.

    nice .venv/bin/python -m bench.synth_speed --train-rows 200000 --test-rows 40000 --out /tmp/synth_bench

Prints a Markdown table: wall and CPU seconds, rows per CPU-second (train + test rows; CPU time is the
fair number on a shared machine), peak RSS, file sizes, click rate and oracle Score; then the time to
join one block's tokens with `join_tokens` (one byte buffer) and with pyarrow (`ListArray` of token
strings + `binary_join`), medians of --repeats runs.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from toss_core import synth
from toss_core.synth import click, schema


def _arrow_join(tokens: np.ndarray, lengths: np.ndarray) -> pa.Array:
    offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32))
    strings = pc.cast(pa.array(tokens.astype(np.int32)), pa.string())
    return pc.binary_join(pa.ListArray.from_arrays(offsets, strings), ",")


def _median_seconds(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-rows", type=int, default=200_000)
    ap.add_argument("--test-rows", type=int, default=40_000)
    ap.add_argument("--seq-len-scale", type=float, default=1.0)
    ap.add_argument("--chunk-rows", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path("/tmp/synth_bench"))
    args = ap.parse_args()

    cpu0 = time.process_time()
    s = synth.generate(args.out, args.train_rows, args.test_rows, 0, args.chunk_rows, args.seq_len_scale)
    cpu = time.process_time() - cpu0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = args.train_rows + args.test_rows
    mb = {k: Path(getattr(s, f"{k}_path")).stat().st_size / 2**20 for k in ("train", "test")}
    print("| rows (train/test) | seq_len_scale | chunk_rows | wall s | CPU s | rows/CPU-s | peak RSS MB | "
          "train MB | test MB | click rate | oracle Score | prior Score |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {args.train_rows}/{args.test_rows} | {args.seq_len_scale} | {args.chunk_rows} | {s.seconds:.1f} "
        f"| {cpu:.1f} | {rows / cpu:,.0f} | {rss_mb:,.0f} | {mb['train']:.0f} | {mb['test']:.0f} | "
        f"{s.click_rate_train:.4f} | {s.oracle['Score']:.4f} | {s.prior_score:.4f} |"
    )

    p = click.draw_params(0)
    lengths, tokens = click.draw_sequences(p, np.random.default_rng(0), schema.BLOCK_ROWS, args.seq_len_scale)
    assert synth.join_tokens(tokens, lengths).equals(_arrow_join(tokens, lengths))
    ours = _median_seconds(lambda: synth.join_tokens(tokens, lengths), args.repeats)
    arrow = _median_seconds(lambda: _arrow_join(tokens, lengths), args.repeats)
    print(f"\n| seq join of {schema.BLOCK_ROWS} rows ({tokens.size:,} tokens) | median s | tokens/s |")
    print("|---|---|---|")
    print(f"| join_tokens (byte buffer) | {ours:.3f} | {tokens.size / ours:,.0f} |")
    print(f"| pyarrow cast + binary_join | {arrow:.3f} | {tokens.size / arrow:,.0f} |")
    print(f"| ratio arrow / ours | {arrow / ours:.1f}x | |")


if __name__ == "__main__":
    main()
