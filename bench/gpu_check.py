"""The prepared GPU check of the training core (issue 15): `bash bench/gpu_check.sh`, under 5 minutes.

Builds a synthetic shard cache at cfgs/dare_qnn_next.yaml dimensions (the Toss columns, sequence
max_len 256, random values: throughput only, no quality) straight through the cache writer, then for
batch 8,192 / 32,768 / 65,536 trains fold 0 through FoldTrainer with the data on the device, bf16 autocast
and torch.compile in reduce-overhead mode (CUDA graphs), and reports training rows/s, the time a
10.7M-row epoch would take, peak GPU memory and inference rows/s (predict_logits over validation rows).
The learning rate follows the config's train.lr_scaling rule. A section of BENCHMARKS.md is replaced
with the table.

    bash bench/gpu_check.sh                       # needs CUDA: "gpu_check: no CUDA device" otherwise
    bash bench/gpu_check.sh --dry-run --md /tmp/x.md   # CPU, tiny sizes, no compile: checks the script
"""

from __future__ import annotations

import argparse
import logging
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bench.markdown import write_section
from bench.model_throughput import make_spec
from toss_core.config import TossConfig, load_config
from toss_core.data.folds import assign_folds
from toss_core.data.reader import ShardWriter
from toss_core.layout import Layout
from toss_core.train.loop import FoldTrainer
from toss_core.train.predict import predict_logits
from toss_core.train.runtime import torch_runtime
from toss_core.train.sampler import EpochBatches

REPO = Path(__file__).resolve().parents[1]
TOSS_ROWS = 10_704_179  # rows of the real Toss train set: what one epoch is


def write_cache(root: Path, rows: int, max_len: int, vocab: int, shard_rows: int, seed: int = 0) -> None:
    """A train cache of `rows` random Toss-shaped rows (2% positives) written by the project's writer."""
    spec = make_spec(max_len, vocab)
    rng = np.random.default_rng(seed)
    with ShardWriter(root, "train") as writer:
        for start in range(0, rows, shard_rows):
            n = min(shard_rows, rows - start)
            seq_len = rng.integers(0, max_len + 1, n, dtype=np.int32)
            tokens = rng.integers(1, vocab, (n, max_len), dtype=np.int32)
            writer.add(
                {
                    "cat": np.stack(
                        [rng.integers(0, c, n, dtype=np.int32) for c in spec.cat_cardinalities], 1
                    ),
                    "num": rng.standard_normal((n, len(spec.num_cols)), dtype=np.float32),
                    "isna": (rng.random((n, len(spec.isna_cols))) < 0.02).astype(np.uint8),
                    "seq": np.where(np.arange(max_len) < seq_len[:, None], tokens, 0).astype(np.int32),
                    "seq_len": seq_len,
                    "label": (rng.random(n) < 0.02).astype(np.float32),
                }
            )
        columns = {
            "cat": spec.cat_cols,
            "num": spec.num_cols,
            "isna": spec.isna_cols,
            "seq": "seq",
            "qtok": [],
        }
        writer.commit(
            {
                "columns": {**columns, "label": "clicked", "id": None},
                "cat_cardinalities": spec.cat_cardinalities,
                "seq_vocab_size": vocab,
                "max_len": max_len,
                "fingerprint": {"cache": f"gpu-check-{rows}-{max_len}-{seed}"},
            }
        )


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(cfg: TossConfig, layout: Layout, args: argparse.Namespace) -> dict[str, float]:
    """Training rows/s (median of --repeats runs of --steps steps after --warmup), peak memory, inference
    rows/s of one batch size."""
    with torch_runtime(cfg):
        trainer = FoldTrainer(cfg, layout, 0)
        dev = trainer.device
        epoch = trainer.epoch_batches(0)
        need = args.warmup + args.steps
        reps = need // len(epoch) + 1
        ids, weights = epoch.ids.repeat(reps, 1)[:need], epoch.weights.repeat(reps, 1)[:need]
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(dev)
        start = time.perf_counter()
        trainer.train_batches(EpochBatches(ids[: args.warmup], weights[: args.warmup]), 0)  # + compile
        warm_s = time.perf_counter() - start
        timed = EpochBatches(ids[args.warmup :], weights[args.warmup :])
        rates = [trainer.train_batches(timed, 0)[1] for _ in range(args.repeats)]
        rows = trainer.data.val_rows[: args.infer_rows]
        model, bs = (
            trainer.ema.module if trainer.ema is not None else trainer.model,
            cfg.train.eval_batch_size,
        )

        def infer() -> float:
            _sync(dev)
            start = time.perf_counter()
            predict_logits(model, trainer.feed, rows, bs, dev, 0.0, amp_dtype=trainer.amp)
            return rows.size / (time.perf_counter() - start)

        infer()  # warm-up
        infer_rate = statistics.median(infer() for _ in range(args.repeats))
        peak = torch.cuda.max_memory_allocated(dev) if dev.type == "cuda" else 0
        return {
            "train": statistics.median(rates),
            "infer": infer_rate,
            "peak_gib": peak / 2**30,
            "warm_s": warm_s,
        }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", default="cfgs/dare_qnn_next.yaml")
    p.add_argument("--rows", type=int, default=1_500_000, help="rows of the synthetic cache")
    p.add_argument("--max-len", type=int, default=256)
    p.add_argument("--batches", default="8192,32768,65536", help="comma list of batch sizes")
    p.add_argument("--steps", type=int, default=20, help="timed steps per repeat")
    p.add_argument("--warmup", type=int, default=5, help="steps before timing (compilation, CUDA graphs)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--infer-rows", type=int, default=262_144)
    p.add_argument("--md", type=Path, default=REPO / "BENCHMARKS.md", help="file whose section is replaced")
    p.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes, no compile: checks the script")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.dry_run:
        args.rows, args.max_len, args.batches, args.steps, args.warmup = 3000, 16, "256,512", 2, 1
        args.repeats, args.infer_rows = 1, 1024
    elif not torch.cuda.is_available():
        sys.exit(
            "gpu_check: no CUDA device (run it on a GPU machine, or --dry-run to check the script on CPU)"
        )
    device = "cpu" if args.dry_run else "cuda"
    results = {}
    with tempfile.TemporaryDirectory(prefix="toss_gpu_check_") as tmp:
        overrides = [
            f"data.cache_dir={tmp}/cache",
            f"runs_dir={tmp}/runs",
            "logging.tb=false",
            "logging.csv_log=false",
            "logging.verbose_steps=1000000",
            "features.covis.enabled=false",
            f"runtime.device={device}",
            f"sequence.max_len={args.max_len}",
            "runtime.amp=true",
            f"runtime.compile={str(not args.dry_run).lower()}",
            "runtime.compile_mode=reduce-overhead",
            "train.data_on_device=true",
        ]
        cfg = load_config(REPO / args.config, overrides)
        layout = Layout(cfg, root=REPO)
        start = time.perf_counter()
        write_cache(layout.train_cache, args.rows, args.max_len, vocab=500, shard_rows=cfg.data.shard_rows)
        assign_folds(cfg, layout)
        build_s = time.perf_counter() - start
        print(
            f"gpu_check: {args.rows:,}-row cache at max_len {args.max_len} built in {build_s:.1f} s",
            flush=True,
        )
        for batch in [int(b) for b in args.batches.split(",")]:
            bcfg = load_config(REPO / args.config, [*overrides, f"train.batch_size={batch}"])
            r = results[batch] = measure(bcfg, layout, args)
            print(
                f"gpu_check: batch {batch:>6,}: train {r['train']:>12,.0f} rows/s, "
                f"{TOSS_ROWS:,}-row epoch {TOSS_ROWS / r['train']:.1f} s, infer {r['infer']:>12,.0f} rows/s, "
                f"peak {r['peak_gib']:.1f} GiB, warm-up {r['warm_s']:.1f} s",
                flush=True,
            )
    name = torch.cuda.get_device_name(0) if device == "cuda" else "CPU (dry run)"
    amp = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if device == "cuda" else "off on CPU"
    compiled = "no compile" if args.dry_run else "torch.compile reduce-overhead (CUDA graphs)"
    lines = [
        f"## GPU check of the training core ({name})",
        "",
        f"`bash bench/gpu_check.sh {shlex.join(sys.argv[1:])}` — {args.config} dimensions, sequence "
        f"max_len {args.max_len}, a {args.rows:,}-row synthetic cache (built in {build_s:.0f} s), fold 0; "
        f"data on the device, AMP ({amp}), {compiled}; "
        f"{args.steps} timed steps after {args.warmup} warm-up, median of {args.repeats}; inference = "
        f"predict_logits on {args.infer_rows:,} validation rows (batch {cfg.train.eval_batch_size}). "
        f"lr follows train.lr_scaling={cfg.train.lr_scaling} from lr_base_batch {cfg.train.lr_base_batch}.",
        "",
        "| batch | train rows/s | 10.7M-row epoch | infer rows/s | infer / train | peak GPU memory "
        "| warm-up |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for batch, r in results.items():
        lines.append(
            f"| {batch:,} | {r['train']:,.0f} | {TOSS_ROWS / r['train']:.1f} s | {r['infer']:,.0f} | "
            f"{r['infer'] / r['train']:.1f} | {r['peak_gib']:.1f} GiB | {r['warm_s']:.1f} s |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    write_section(args.md, "gpu-check", text)


if __name__ == "__main__":
    main()
