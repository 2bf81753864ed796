"""The network's training step at 1k vs 1M item ids: does its cost follow the vocabulary?

The model is built from a real cache's feature spec with the sequence vocabulary replaced by V tokens
(the DARE attention and representation tables, and the query tokens that share them, get V rows); one
real batch of the cache gets its tokens redrawn uniformly over the V ids, so every step touches as many
distinct rows as a real batch would. Each step is the training core's own: the weighted loss
(train.losses.batch_loss), backward, gradient clipping, AdamW and the EMA update, in the config's order
(train/loop.py FoldTrainer.step). Medians over --repeats of --steps steps, the vocabularies alternating.

    nice .venv/bin/python -m bench.vocab_cost --vocab 1000 1000000 --md bench/results/vocab_cost.md
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from bench.markdown import write_section
from toss_core import steps
from toss_core.config import TossConfig, load_config
from toss_core.context import RunContext
from toss_core.data.reader import ShardedCache
from toss_core.models import build_model
from toss_core.spec import FeatureSpec
from toss_core.train.ema import EMA
from toss_core.train.id_trial import without_trial
from toss_core.train.losses import batch_loss
from toss_core.train.predict import stream_feed

REPO = Path(__file__).resolve().parents[1]


PHASES = ("forward + backward", "clip", "AdamW", "EMA")


def _step_seconds(
    cfg: TossConfig, spec: FeatureSpec, batch: dict[str, torch.Tensor], target: torch.Tensor, n_steps: int
) -> dict[str, float]:
    """Seconds per optimiser step of a fresh model for `spec`, by phase, after two warm-up steps."""
    torch.manual_seed(cfg.seed)
    model = build_model(spec, cfg)
    loss_fn = batch_loss(without_trial(cfg), model)  # emb_l2 auto: 0, as where no id trial runs
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    ema = EMA(model, cfg.train.ema.decay) if cfg.train.ema.enabled else None
    weights = torch.ones_like(target)
    spent = dict.fromkeys(PHASES, 0.0)

    def timed(phase: str, fn: Callable[[], object]) -> None:
        start = time.perf_counter()
        fn()
        spent[phase] += time.perf_counter() - start

    def forward_backward() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss_fn(batch, target, weights).backward()

    def step() -> None:
        timed("forward + backward", forward_backward)
        if cfg.train.grad_clip_norm:
            clip = cfg.train.grad_clip_norm
            timed("clip", lambda: torch.nn.utils.clip_grad_norm_(model.parameters(), clip))
        timed("AdamW", optimizer.step)
        if ema is not None:
            timed("EMA", lambda: ema.update(model))

    model.train()
    for _ in range(2):
        step()
    spent = dict.fromkeys(PHASES, 0.0)
    for _ in range(n_steps):
        step()
    return {phase: sec / n_steps for phase, sec in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cfg", type=Path, default=REPO / "cfgs" / "demo.yaml")
    parser.add_argument("--set", action="append", default=[], help="config override, repeatable")
    parser.add_argument("--vocab", type=int, nargs="+", default=[1_000, 1_000_000])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--md", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="toss-vocab-") as tmp:
        overrides = [
            "data.synthetic.train_rows=20000",
            "data.synthetic.test_rows=2000",
            f"data.cache_dir={tmp}/cache",
            f"runs_dir={tmp}/runs",
            "features.covis.enabled=false",
            "runtime.device=cpu",
            *args.set,
        ]
        cfg = load_config(args.cfg, overrides)
        ctx = RunContext.from_config(cfg, root=Path(tmp))
        steps.prepare_raw(ctx)
        steps.build_caches(ctx)
        cache = ShardedCache(ctx.layout.train_cache)
        base = FeatureSpec.from_manifest(cache.manifest)
        feed = stream_feed(cache, None, base, "cpu")
        batch = next(iter(feed.iterate([torch.arange(cfg.train.batch_size)])))
        target = torch.from_numpy(cache.read_field("label")[: cfg.train.batch_size].astype("float32"))
        torch.set_num_threads(cfg.runtime.num_threads or max(torch.get_num_threads(), 1))
        seconds: dict[int, list[dict[str, float]]] = {v: [] for v in args.vocab}
        for _ in range(args.repeats):
            for vocab in args.vocab:
                spec = dataclasses.replace(base, seq_vocab_size=vocab)
                redrawn = dict(batch)
                for field in ("seq", "qtok"):
                    if field in batch:
                        tokens = torch.randint(1, vocab, batch[field].shape)
                        redrawn[field] = torch.where(batch[field] > 0, tokens, batch[field])
                seconds[vocab].append(_step_seconds(cfg, spec, redrawn, target, args.steps))
                print(vocab, {k: f"{v * 1e3:.0f} ms" for k, v in seconds[vocab][-1].items()}, flush=True)
    med = {v: {ph: statistics.median(r[ph] for r in runs) for ph in PHASES} for v, runs in seconds.items()}
    total = {v: sum(m.values()) for v, m in med.items()}
    first = total[args.vocab[0]]
    lines = [
        f"{args.cfg.name}, batch {cfg.train.batch_size}, emb_dim {cfg.model.emb_dim}, {args.steps} steps × "
        f"{args.repeats} repeats (medians), CPU threads {torch.get_num_threads()}",
        "",
        "| item vocabulary | ms per step | " + " | ".join(f"{ph} ms" for ph in PHASES) + " | rows/s "
        "| step cost vs the first |",
        "|---:|---:|" + "---:|" * len(PHASES) + "---:|---:|",
    ]
    for vocab in args.vocab:
        phases = " | ".join(f"{med[vocab][ph] * 1e3:.1f}" for ph in PHASES)
        lines.append(
            f"| {vocab:,} | {total[vocab] * 1e3:.1f} | {phases} | {cfg.train.batch_size / total[vocab]:,.0f} "
            f"| {total[vocab] / first:.2f}× |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.md:
        write_section(args.md, "vocab-cost", text)


if __name__ == "__main__":
    main()
