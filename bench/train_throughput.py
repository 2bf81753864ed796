"""Training and inference throughput (rows/s) of the demo model against an MLP head and DCN-v2.

The three models train through the real training code (toss_core.train.loop.FoldTrainer: cache
gathers, prefetch thread, AdamW, clipping, EMA, the self-ensemble loss for QNN-α) on the same batches
of a synthetic cache built from the demo config, for a fixed number of steps after a warm-up; inference
is predict_logits over validation rows. Each number is the median of --repeats runs; ratios are against
the demo model (DARE + QNN-α). Co-visitation features are off, so all three read the same inputs.

    nice .venv/bin/python -m bench.train_throughput              # CPU: fp32, no-prefetch, bf16
    .venv/bin/python -m bench.train_throughput --device cuda     # GPU: fp32, no-prefetch, AMP, +compile

With --md the table replaces its section of a Markdown file (bench/results/train.md).
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

from toss_core import steps
from toss_core.config import load_config
from toss_core.layout import Layout
from toss_core.train.loop import FoldTrainer
from toss_core.train.predict import predict_logits
from toss_core.train.runtime import torch_runtime
from toss_core.train.sampler import epoch_batches

REPO = Path(__file__).resolve().parents[1]

MODELS = {"demo (DARE + QNN-α)": None, "MLP head": "mlp", "DCN-v2": "dcnv2"}


def write_section(path: Path, name: str, text: str) -> None:
    """Replace (or append) the block between <!-- name --> markers of a Markdown file."""
    begin, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    block = f"{begin}\n{text.rstrip()}\n{end}\n"
    old = path.read_text() if path.is_file() else "# Training benchmarks\n\n"
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        new = head + block + rest.split(end, 1)[1].lstrip("\n")
    else:
        new = old.rstrip() + "\n\n" + block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new)


def bench_overrides(args: argparse.Namespace, run_root: Path) -> list[str]:
    """Demo config on a synthetic set of --rows rows (own data and cache dirs, run dir in a temp dir)."""
    tag = f"bench_{args.rows}"
    return [
        f"data.synthetic.train_rows={args.rows}",
        "data.synthetic.test_rows=1000",
        f"data.train_path=data/{tag}/train.parquet",
        f"data.test_path=data/{tag}/test.parquet",
        f"data.cache_dir=cache/{tag}",
        f"logging.log_dir={run_root}",
        "logging.tb=false",
        "logging.csv_log=false",
        "logging.verbose_steps=1000000",
        "features.covis.enabled=false",
        f"device={args.device}",
        f"train.batch_size={args.batch_size}",
        *([f"train.num_threads={args.threads}"] if args.threads else []),
        *args.set,
    ]


def prepare(config: str, overrides: list[str]) -> Layout:
    cfg = load_config(REPO / config, overrides)
    layout = Layout(cfg, root=REPO)
    steps.prepare_raw(cfg, layout)
    steps.build_caches(cfg, layout)
    steps.assign_folds(cfg, layout)
    return layout


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(base: list[str], head: str | None, column: dict, args: argparse.Namespace) -> tuple[float, float]:
    """Median (train rows/s, inference rows/s) of one model under one column's settings."""
    overrides = [f"amp={str(column['amp']).lower()}", f"use_compile={str(column['compile']).lower()}"]
    cfg = load_config(REPO / args.config, [*base, *overrides])
    train_rates, infer_rates = [], []
    with torch_runtime(cfg):
        trainer = FoldTrainer(cfg, Layout(cfg, root=REPO), 0, head)
        if column.get("cpu_bf16"):
            trainer.amp = torch.bfloat16
        trainer.prefetch = column.get("prefetch", trainer.prefetch)
        d = trainer.data
        rng = np.random.default_rng(0)
        batches = epoch_batches(d.train_rows, d.train_labels, cfg.sampler, cfg.train.batch_size, rng)
        need = args.warmup + args.steps
        batches = np.concatenate([batches] * (need // len(batches) + 1))[:need]
        infer_rows = d.val_rows[: args.infer_rows]

        def infer(rows: np.ndarray) -> None:
            bs, dev = cfg.train.eval_batch_size, trainer.device
            predict_logits(
                trainer.model, d.cache, None, bs, dev, 0.0, spec=d.spec, rows=rows, amp_dtype=trainer.amp
            )

        trainer.train_batches(batches[: args.warmup], 0)  # warm-up (and compilation)
        infer(infer_rows[: cfg.train.eval_batch_size])
        for _ in range(args.repeats):
            _, rate = trainer.train_batches(batches[args.warmup :], 0)
            train_rates.append(rate)
            _sync(trainer.device)
            start = time.perf_counter()
            infer(infer_rows)
            _sync(trainer.device)
            infer_rates.append(infer_rows.size / (time.perf_counter() - start))
    return statistics.median(train_rates), statistics.median(infer_rates)


def columns(device: str) -> list[tuple[str, dict]]:
    if device == "cuda":
        return [
            ("fp32", {"amp": False, "compile": False}),
            ("fp32, no prefetch", {"amp": False, "compile": False, "prefetch": 0}),
            ("AMP", {"amp": True, "compile": False}),
            ("AMP + compile", {"amp": True, "compile": True}),
        ]
    return [
        ("fp32", {"amp": False, "compile": False}),
        ("fp32, no prefetch", {"amp": False, "compile": False, "prefetch": 0}),
        ("bf16 autocast", {"amp": False, "compile": False, "cpu_bf16": True}),
    ]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", default="cfgs/demo.yaml")
    p.add_argument("--rows", type=int, default=30_000, help="synthetic train rows of the benchmark cache")
    p.add_argument("--steps", type=int, default=12, help="timed training steps per repeat")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--infer-rows", type=int, default=8192)
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--threads", type=int, default=None, help="train.num_threads (default: torch's)")
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
        results: dict[str, dict[str, tuple[float, float]]] = {}
        for name in args.models:
            results[name] = {}
            for col_name, col in cols:
                results[name][col_name] = measure(base_overrides, MODELS[name], col, args)
                print(
                    f"{name:22s} {col_name:18s} train {results[name][col_name][0]:>10,.0f} rows/s   "
                    f"infer {results[name][col_name][1]:>10,.0f} rows/s",
                    flush=True,
                )

    device = (
        torch.cuda.get_device_name(0) if args.device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    )
    base, c = results[args.models[0]], layout.cfg
    lines = [
        f"## Throughput ({args.device}: {device}; batch {c.train.batch_size})",
        "",
        f"`python -m bench.train_throughput {shlex.join(sys.argv[1:])}` — {args.config} "
        f"(seq max_len {c.sequence.max_len}, top_k {c.sequence.top_k}), {args.rows:,}-row synthetic cache, "
        f"batch {c.train.batch_size}, {args.steps} timed steps after {args.warmup} warm-up, median of "
        f"{args.repeats}; inference = predict_logits on {args.infer_rows:,} validation rows "
        f"(batch {c.train.eval_batch_size}). Inference always prefetches and is never compiled, so its "
        "no-prefetch and + compile columns repeat fp32 and AMP (a measure of the noise). "
        "Ratios are against the first model in the same column.",
        "",
        "| model | "
        + " | ".join(f"train rows/s ({c})" for c, _ in cols)
        + " | "
        + " | ".join(f"infer rows/s ({c})" for c, _ in cols)
        + " |",
        "|---" * (1 + 2 * len(cols)) + "|",
    ]
    for name in args.models:
        train = [f"{results[name][c][0]:,.0f} (×{results[name][c][0] / base[c][0]:.2f})" for c, _ in cols]
        infer = [f"{results[name][c][1]:,.0f} (×{results[name][c][1] / base[c][1]:.2f})" for c, _ in cols]
        lines.append(f"| {name} | " + " | ".join(train + infer) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.md:
        write_section(args.md, f"throughput-{args.device}-b{args.batch_size}", text)


if __name__ == "__main__":
    main()
