"""Upper limits of the keys that size memory or time (or make training diverge), the lower limits the
schema cannot state, and the valid range of every seed.

The schema's own bounds say what a key means (a batch has at least one row); these say what a machine
can hold: `train.batch_size=1e12` or `model.emb_dim=1e8` would otherwise be accepted and fail deep in
PyTorch with a traceback about terabytes, after the caches were built. Each limit sits far above any
sensible setting (ten to a thousand times the full-size configs), so it refuses only absurd values, and
the error names the key, the limit and what was found.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

SEED_MAX = 2**31 - 1  # LightGBM and NumPy take a non-negative 32-bit seed

# key (dotted path; `*` = every entry of a mapping or list) → largest value accepted
CEILINGS: dict[str, int | float] = {
    "data.synthetic.train_rows": 2_000_000_000,
    "data.synthetic.seq_len_scale": 100.0,  # x 450 tokens: sequences of 45k tokens on average
    "data.synthetic.test_rows": 2_000_000_000,
    "data.synthetic.chunk_rows": 100_000_000,
    "data.shard_rows": 100_000_000,
    "data.shard_mb": 1 << 20,  # a terabyte of decoded input per shard
    "data.hash_buckets": 1 << 26,
    "data.hash_buckets.*": 1 << 26,
    "sequence.max_len": 1 << 17,
    "sequence.max_token": 2**31 - 4,  # token t is stored as int32 id t + 1, with two ids reserved
    "sequence.top_k": 1 << 17,
    "sequence.recent_k": 1 << 17,
    "sequence.attn_dim": 1 << 14,
    "sequence.tfm.n_layers": 64,
    "sequence.tfm.n_heads": 1024,
    "sequence.tfm.ffn_hidden": 1 << 17,
    "model.emb_dim": 1 << 14,
    "model.cat_embedding_dims.*": 1 << 14,
    "model.numeric_bins": 1 << 16,
    "model.dense_bins": 1 << 16,
    "model.field_dim": 1 << 14,
    "model.interaction_layers": 64,
    "model.qnn_alpha.heads": 1024,
    "model.qnn_alpha.rank": 1024,
    "model.qnn_alpha.proj_dim": 1 << 14,
    "model.mlp_hidden.*": 1 << 17,
    "model.qnn_alpha.se_reduction": 1 << 14,
    "train.batch_size": 1 << 22,
    "train.eval_batch_size": 1 << 22,
    "train.lr_base_batch": 1 << 22,
    "train.epochs": 10_000,
    "train.max_steps_per_epoch": 1_000_000_000,
    "train.warmup_epochs": 10_000,
    "train.lr": 10.0,  # AdamW diverges long before; an inf or 1e15 rate fails only after an epoch
    "train.weight_decay": 10.0,
    "model.emb_l2": 1000.0,
    "model.qnn_alpha.aux_head_weight": 1000.0,
    "runtime.num_threads": 4096,
    "cv.n_splits": 100,
    "calibration.iters": 100_000,
    "features.covis.window": 1 << 14,
    "features.covis.top_n": 1 << 14,
    "features.covis.last_k": 1 << 14,
    "gbdt.num_boost_round": 10_000_000,
    "gbdt.early_stopping_rounds": 10_000_000,
    "gbdt.te_inner_folds": 100,
    "catboost.iterations": 10_000_000,
    "catboost.early_stopping_rounds": 10_000_000,
    "tune.n_trials": 1_000_000,
}
# keys without a lower bound in the schema (a union with a mapping, or an optional width)
FLOORS: dict[str, int] = {
    "data.hash_buckets": 2,  # id 0 is null/unknown: one more id is the least a column can use
    "data.hash_buckets.*": 2,
    "sequence.attn_dim": 1,
}
SEEDS = ("seed", "data.synthetic.seed", "tune.seed")
# tokens of one training batch (batch_size x max_len): the DARE embeddings of a batch scale with it
BATCH_TOKENS_MAX = 1 << 31


def _values(node: Any, parts: list[str], path: str) -> list[tuple[str, Any]]:
    """(dotted key, value) of every value the pattern `parts` reaches in the config node."""
    if not parts:
        return [(path, node)]
    head, rest = parts[0], parts[1:]
    if head == "*" and isinstance(node, (dict, list)):
        items = node.items() if isinstance(node, dict) else enumerate(node)
        return [v for k, child in items for v in _values(child, rest, f"{path}.{k}")]
    if isinstance(node, BaseModel) and head in type(node).model_fields:
        return _values(getattr(node, head), rest, f"{path}.{head}" if path else head)
    return []  # an int where a mapping may stand (data.hash_buckets): the other pattern checks it


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def limit_problems(cfg: BaseModel) -> list[str]:
    """Every key above its ceiling or below its floor, every seed outside 0..SEED_MAX, and a batch of
    too many tokens."""
    problems = []
    for pattern, ceiling in CEILINGS.items():
        for key, value in _values(cfg, pattern.split("."), ""):
            if _number(value) and value > ceiling:
                problems.append(f"{key} = {value} is above the limit {ceiling}")
    for pattern, floor in FLOORS.items():
        for key, value in _values(cfg, pattern.split("."), ""):
            if _number(value) and value < floor:
                problems.append(f"{key} = {value} is below the least useful value {floor}")
    for pattern in SEEDS:
        for key, value in _values(cfg, pattern.split("."), ""):
            if isinstance(value, int) and not 0 <= value <= SEED_MAX:
                problems.append(f"{key} = {value} must lie in 0..{SEED_MAX} (a 32-bit seed)")
    seq, batch = cfg.sequence, cfg.train.batch_size  # type: ignore[attr-defined]
    if seq.col is not None and batch * seq.max_len > BATCH_TOKENS_MAX:
        problems.append(
            f"train.batch_size x sequence.max_len = {batch} x {seq.max_len} tokens per batch is above the "
            f"limit {BATCH_TOKENS_MAX}: lower one of them"
        )
    return problems
