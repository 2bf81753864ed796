"""Training and inference throughput (rows/s) of the demo model against an MLP head and DCN-v2, with the
data path's cost measured beside the model's.

The models train through the real training code (toss_core.train.loop.FoldTrainer: the sampler, the
data path of train.data_on_device, AdamW, clipping, EMA, the self-ensemble loss for QNN-α) on a
synthetic cache built from the demo config. Per column (data path, precision, compile) and repeat:
- whole loop: FoldTrainer.train_batches over --steps real batches after --warmup (gathers included);
- model only: FoldTrainer.step --steps times on one batch gathered beforehand (no data path at all);
- inference: predict_logits over --infer-rows validation rows through the same data path.
Each number is the median of --repeats; "loop / model" is the share of the model's speed the whole loop
keeps (1 - the data path's share of a step). Co-visitation features are off, so all models read the same
inputs.

    nice .venv/bin/python -m bench.train_throughput --models "demo (DARE + QNN-α)"   # CPU
    .venv/bin/python -m bench.train_throughput --device cuda --batch-size 8192    # GPU: + AMP, compile

With --md the table replaces its section of a Markdown file (bench/results/train.md).
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bench.markdown import write_section
from toss_core import steps
from toss_core.config import load_config
from toss_core.context import RunContext
from toss_core.layout import Layout
from toss_core.train.loop import FoldTrainer
from toss_core.train.predict import predict_logits
from toss_core.train.runtime import torch_runtime
from toss_core.train.sampler import EpochBatches

REPO = Path(__file__).resolve().parents[1]

MODELS = {"demo (DARE + QNN-α)": None, "MLP head": "mlp", "DCN-v2": "dcnv2"}


def bench_overrides(args: argparse.Namespace, run_root: Path) -> list[str]:
    """Demo config on a synthetic set of --rows rows (own data and cache dirs, run dir in a temp dir)."""
    tag = f"bench_{args.rows}"
    return [
        f"data.synthetic.train_rows={args.rows}",
        "data.synthetic.test_rows=1000",
        f"data.train_path=data/{tag}/train.parquet",
        f"data.test_path=data/{tag}/test.parquet",
        f"data.cache_dir=cache/{tag}",
        f"runs_dir={run_root}",
        "logging.tb=false",
        "logging.csv_log=false",
        "logging.verbose_steps=1000000",
        "features.covis.enabled=false",
        f"runtime.device={args.device}",
        f"train.batch_size={args.batch_size}",
        *([f"runtime.num_threads={args.threads}"] if args.threads else []),
        *args.set,
    ]


def prepare(config: str, overrides: list[str]) -> Layout:
    cfg = load_config(REPO / config, overrides)
    ctx = RunContext.from_config(cfg, REPO)
    steps.prepare_raw(ctx)
    steps.build_caches(ctx)
    steps.assign_folds(ctx)
    return ctx.layout


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(base: list[str], head: str | None, column: dict, args: argparse.Namespace) -> dict[str, float]:
    """Median rows/s of one model under one column's settings: whole loop, model only, inference."""
    overrides = [
        f"runtime.amp={str(column['amp']).lower()}",
        f"runtime.compile={str(column['compile']).lower()}",
        f"train.data_on_device={str(column['resident']).lower()}",
        *(["runtime.compile_mode=reduce-overhead"] if column["compile"] else []),
    ]
    cfg = load_config(REPO / args.config, [*base, *overrides])
    rates: dict[str, list[float]] = {"loop": [], "model": [], "infer": []}
    with torch_runtime(cfg):
        trainer = FoldTrainer(cfg, Layout(cfg, root=REPO), 0, head)
        d, dev, bs = trainer.data, trainer.device, cfg.train.batch_size
        epoch = trainer.epoch_batches(0)
        need = args.warmup + args.steps
        reps = need // len(epoch) + 1
        ids, weights = epoch.ids.repeat(reps, 1)[:need], epoch.weights.repeat(reps, 1)[:need]
        warm, timed = (
            EpochBatches(ids[: args.warmup], weights[: args.warmup]),
            EpochBatches(ids[args.warmup :], weights[args.warmup :]),
        )
        batch = next(iter(trainer.feed.iterate(ids[:1].to(trainer.feed.index_device))))
        target, one = batch.pop("label"), weights[0]
        infer_rows = d.val_rows[: args.infer_rows]

        def infer(rows: np.ndarray) -> None:
            predict_logits(
                trainer.model, trainer.feed, rows, cfg.train.eval_batch_size, dev, 0.0, amp_dtype=trainer.amp
            )

        trainer.train_batches(warm, 0)  # warm-up (and compilation)
        infer(infer_rows[: cfg.train.eval_batch_size])
        for _ in range(args.repeats):
            rates["loop"].append(trainer.train_batches(timed, 0)[1])
            acc = torch.zeros((), device=dev)
            _sync(dev)
            start = time.perf_counter()
            for _ in range(args.steps):
                trainer.step(batch, target, one, acc)
            acc.item()
            rates["model"].append(args.steps * bs / (time.perf_counter() - start))
            _sync(dev)
            start = time.perf_counter()
            infer(infer_rows)
            rates["infer"].append(infer_rows.size / (time.perf_counter() - start))
    return {k: statistics.median(v) for k, v in rates.items()}


def columns(device: str) -> list[tuple[str, dict]]:
    plain = {"amp": False, "compile": False}
    cols = [
        ("streaming, fp32", {**plain, "resident": False}),
        ("resident, fp32", {**plain, "resident": True}),
    ]
    if device == "cuda":
        cols += [
            ("resident, AMP", {"amp": True, "compile": False, "resident": True}),
            ("resident, AMP + CUDA graphs", {"amp": True, "compile": True, "resident": True}),
        ]
    return cols


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", default="cfgs/demo.yaml")
    p.add_argument("--rows", type=int, default=30_000, help="synthetic train rows of the benchmark cache")
    p.add_argument("--steps", type=int, default=12, help="timed training steps per repeat")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--infer-rows", type=int, default=8192)
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--threads", type=int, default=None, help="runtime.num_threads (default: torch's)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--models", nargs="*", default=list(MODELS), help="subset of: " + ", ".join(MODELS))
    p.add_argument("--set", action="append", default=[], help="extra config override, repeatable")
    p.add_argument("--md", type=Path, default=None, help="Markdown file whose throughput section is replaced")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory() as run_root:
        base_overrides = bench_overrides(args, Path(run_root))
        layout = prepare(args.config, base_overrides)
        cols = columns(args.device)
        results: dict[str, dict[str, dict[str, float]]] = {}
        for name in args.models:
            results[name] = {}
            for col_name, col in cols:
                r = results[name][col_name] = measure(base_overrides, MODELS[name], col, args)
                print(
                    f"{name:22s} {col_name:28s} loop {r['loop']:>10,.0f}  model {r['model']:>10,.0f}  "
                    f"ratio {r['loop'] / r['model']:.2f}  infer {r['infer']:>10,.0f} rows/s",
                    flush=True,
                )

    device = torch.cuda.get_device_name(0) if args.device == "cuda" else f"CPU, {os.cpu_count()} cores"
    c = layout.cfg
    lines = [
        f"## Throughput ({args.device}: {device}; batch {c.train.batch_size})",
        "",
        f"`python -m bench.train_throughput {shlex.join(sys.argv[1:])}` — {args.config} "
        f"(seq max_len {c.sequence.max_len}, top_k {c.sequence.top_k}), {args.rows:,}-row synthetic cache, "
        f"batch {c.train.batch_size}, {args.steps} timed steps after {args.warmup} warm-up, median of "
        f"{args.repeats}. Whole loop = FoldTrainer.train_batches (data path included); model only = "
        "FoldTrainer.step on one batch gathered beforehand; inference = predict_logits on "
        f"{args.infer_rows:,} validation rows (batch {c.train.eval_batch_size}) through the same data path.",
        "",
        "| model | data path | train rows/s (whole loop) | train rows/s (model only) | loop / model "
        "| infer rows/s |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name in args.models:
        for col_name, _ in cols:
            r = results[name][col_name]
            lines.append(
                f"| {name} | {col_name} | {r['loop']:,.0f} | {r['model']:,.0f} | "
                f"**{r['loop'] / r['model']:.2f}** | {r['infer']:,.0f} |"
            )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.md:
        write_section(args.md, f"throughput-{args.device}-b{args.batch_size}", text)


if __name__ == "__main__":
    main()
