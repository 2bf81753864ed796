"""Model-only throughput (rows/s of forward + backward) of the CTR model variants, plus GPU sanity checks.

Synthetic tensors shaped like the Toss data (8 categorical columns with Toss-like cardinalities, the
109 Toss numeric columns by name, an 85-column null mask, 10 co-visitation features, a token sequence
of --max-len), no data loading: this isolates what the model itself costs. Variants differ in
model.numeric_fields, head and pair_grouping; ratios are against the first row (DARE + QNN-α as
configured). Before timing, each variant is checked
for finite logits and padding invariance (random ids at padded positions must not change eval logits).

    nice .venv/bin/python -m bench.model_throughput --config cfgs/demo.yaml --batch 1024 --max-len 128 \
        --threads 1
    python -m bench.model_throughput --config cfgs/dare_qnn_next.yaml --device cuda --batch 4096 --max-len 512
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from toss_core.config import load_config
from toss_core.models import build_model
from toss_core.spec import FeatureSpec
from toss_core.synth import NUM_COLUMNS
from toss_core.train.runtime import autocast

REPO = Path(__file__).resolve().parents[1]

CAT = {
    "gender": 3,
    "age_group": 9,
    "inventory_id": 19,
    "day_of_week": 8,
    "hour": 25,
    "l_feat_14": 3300,
    "l_feat_12": 5100,
    "l_feat_11": 1600,
}
VARIANTS = [
    ("DARE + QNN-α (config)", [], None),
    ("QNN-α numeric_fields=per_column", ["model.numeric_fields=per_column"], None),
    ("QNN-α pair_grouping=field", ["model.qnn_alpha.pair_grouping=field"], None),
    ("QNN-α proj_dim=8", ["model.qnn_alpha.proj_dim=8"], None),
    ("QNN-α proj_dim=4", ["model.qnn_alpha.proj_dim=4"], None),
    ("MLP head", [], "mlp"),
    ("DCN-v2 head", [], "dcnv2"),
]


def make_spec(max_len: int, vocab: int) -> FeatureSpec:
    num_cols = [c for c in NUM_COLUMNS if c not in CAT]
    return FeatureSpec(
        cat_cols=list(CAT),
        cat_cardinalities=list(CAT.values()),
        num_cols=num_cols,
        isna_cols=[c for c in num_cols if c.startswith(("feat_", "history_"))],
        seq_col="seq",
        seq_vocab_size=vocab,
        max_len=max_len,
        dense_cols=[f"covis_{i}" for i in range(10)],
    )


def make_batch(spec: FeatureSpec, n: int, device: torch.device) -> dict[str, torch.Tensor]:
    seq_len = torch.randint(0, spec.max_len + 1, (n,))
    seq = torch.randint(1, spec.seq_vocab_size, (n, spec.max_len)) * (
        torch.arange(spec.max_len) < seq_len[:, None]
    )
    batch = {
        "cat": torch.stack([torch.randint(0, c, (n,)) for c in spec.cat_cardinalities], 1),
        "num": torch.randn(n, len(spec.num_cols)) * 30,
        "isna": torch.randint(0, 2, (n, len(spec.isna_cols))).float(),
        "dense": torch.rand(n, len(spec.dense_cols)),
        "seq": seq,
        "seq_len": seq_len,
    }
    return {k: v.to(device) for k, v in batch.items()}


def check(model: torch.nn.Module, batch: dict[str, torch.Tensor], amp: torch.dtype | None) -> float:
    """Max |logit change| when padded positions get random ids (must be ~0); raises on non-finite logits."""
    model.eval()
    with torch.no_grad(), autocast(batch["seq"].device, amp):
        base = model(batch).float()
        pad = torch.arange(batch["seq"].shape[1], device=base.device) >= batch["seq_len"][:, None]
        noisy = dict(batch, seq=torch.where(pad, torch.randint_like(batch["seq"], 1, 50), batch["seq"]))
        moved = (model(noisy).float() - base).abs().max().item()
    if not torch.isfinite(base).all():
        raise RuntimeError("non-finite logits")
    model.train()
    return moved


def time_steps(
    step: Callable[[dict[str, torch.Tensor]], None],
    batch: dict[str, torch.Tensor],
    iters: int,
    device: torch.device,
) -> float:
    """Median seconds of one forward + backward over `iters` runs after two warm-ups."""
    times = []
    for i in range(iters + 2):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        step(batch)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= 2:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", default="cfgs/demo.yaml")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--max-len", type=int, default=128)
    parser.add_argument("--vocab", type=int, default=500)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--modes", default="fp32", help="comma list of fp32, bf16, fp16, bf16+compile")
    parser.add_argument("--set", action="append", default=[], help="config override for every variant")
    parser.add_argument("--threads", type=int, help="torch threads (1 = steadier on a shared machine)")
    parser.add_argument("--only", type=int, default=len(VARIANTS), help="run the first N variants")
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    spec = make_spec(args.max_len, args.vocab)
    batch = make_batch(spec, args.batch, device)
    print(
        f"device={device} ({torch.cuda.get_device_name() if device.type == 'cuda' else 'cpu'}), "
        f"threads={torch.get_num_threads()}, config={args.config} {args.set}, batch={args.batch}, "
        f"max_len={args.max_len}"
    )
    print("| variant | mode | fields | params | ms / step | steps/s | rows/s | ratio | pad max Δlogit |")
    print("|---|---|---|---|---|---|---|---|---|")
    base: dict[str, float] = {}
    for name, overrides, head in VARIANTS[: args.only]:
        cfg = load_config(REPO / args.config, [*args.set, *overrides])
        for mode in args.modes.split(","):
            torch.manual_seed(0)
            model = build_model(spec, cfg, head).to(device).train()
            n_params = sum(p.numel() for p in model.parameters())
            amp = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(mode.split("+")[0])
            fwd = torch.compile(model) if mode.endswith("+compile") else model

            def step(
                b: dict[str, torch.Tensor],
                fwd: Callable[[dict[str, torch.Tensor]], torch.Tensor] = fwd,
                amp: torch.dtype | None = amp,
            ) -> None:
                with autocast(device, amp):
                    loss = fwd(b).float().mean()
                loss.backward()

            moved = check(model, batch, amp)
            seconds = time_steps(step, batch, args.iters, device)
            base.setdefault(mode, seconds)
            print(
                f"| {name} | {mode} | {model.n_fields} | {n_params / 1e6:.2f}M | {seconds * 1e3:.1f} "
                f"| {1 / seconds:.2f} | {args.batch / seconds:,.0f} | {base[mode] / seconds:.2f} "
                f"| {moved:.1e} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
