"""Inference on a shard cache: rebuild a model from its checkpoint and compute true-prior logits.

`predict_test` is the network family's test prediction (family.py exposes it to the pipeline).
Logits stay on the device until a pass ends (one host sync per pass); test rows are streamed, since
they are read once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import ValidationError

from toss_core.artifacts.fold import Lineage, file_digest
from toss_core.config import TossConfig
from toss_core.data.lineage import check_model_inputs
from toss_core.data.reader import ShardedCache
from toss_core.features.fold_rates import fold_dense, reads_nested
from toss_core.layout import Layout
from toss_core.spec import FeatureSpec
from toss_core.train import checkpoint
from toss_core.train.batches import BatchSource, feature_fields
from toss_core.train.feeds import ResidentFeed, StreamFeed
from toss_core.train.paths import NAME, checkpoint_path
from toss_core.train.runtime import amp_dtype, autocast, resolve_device, torch_runtime
from toss_core.util.errors import ArtifactError


def load_checkpoint(
    path: str | Path, device: torch.device | str = "cpu"
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The model of a fold checkpoint in eval mode on `device` (EMA weights when the run evaluated with
    them and saved them), and the checkpoint dict. ArtifactError when the file is missing."""
    from toss_core.models import build_model

    ckpt = checkpoint.load(Path(path), "cpu")
    try:
        cfg = TossConfig.model_validate(ckpt["config"])
    except ValidationError as exc:
        raise ArtifactError(
            f"checkpoint {path} was written by an older toss (its saved config no longer validates: "
            f"{exc.errors()[0]['loc']}): retrain the fold (`toss train --fold K`)"
        ) from None
    model = build_model(FeatureSpec.from_dict(ckpt["spec"]), cfg)
    use_ema = cfg.train.ema.eval_with_ema and ckpt.get("ema_state") is not None
    model.load_state_dict(ckpt["ema_state"] if use_ema else ckpt["model_state"])
    return model.to(device).eval(), ckpt


def stream_feed(
    cache: ShardedCache, dense_cache: ShardedCache | None, spec: FeatureSpec, device: torch.device | str
) -> StreamFeed:
    """Batches of `cache` (and the aligned co-visitation cache) streamed to `device`, of the fields a
    model built from `spec` reads."""
    return StreamFeed(
        BatchSource(cache, feature_fields(spec, cache.fields), dense_cache), torch.device(device)
    )


@torch.no_grad()
def predict_logits(
    model: torch.nn.Module,
    feed: ResidentFeed | StreamFeed,
    rows: np.ndarray,
    batch_size: int,
    device: torch.device | str,
    logit_offset: float,
    *,
    amp_dtype: torch.dtype | None = None,
) -> np.ndarray:
    """Logits (raw model logits + logit_offset, i.e. true-prior log-odds) of `rows` of the feed's cache,
    in sorted row order."""
    device = torch.device(device)
    ids = torch.from_numpy(np.sort(np.asarray(rows, dtype=np.int64))).to(feed.index_device)
    was_training = model.training
    model.eval()
    out = torch.empty(ids.numel(), device=device)
    start = 0
    for batch in feed.iterate(ids.split(batch_size)):
        batch.pop("label", None)
        with autocast(device, amp_dtype):
            logits = model(batch).float()
        out[start : start + logits.shape[0]] = logits
        start += logits.shape[0]
    model.train(was_training)
    return out.cpu().numpy() + np.float32(logit_offset)


def predict_test(cfg: TossConfig, layout: Layout, fold: int | str) -> tuple[np.ndarray, Lineage]:
    """True-prior test logits [n_test] of one neural fold and the lineage of its checkpoint; the
    checkpoint's caches are verified against the current ones before any prediction work starts."""
    path = checkpoint_path(layout, fold)
    device = resolve_device(cfg.runtime.device)
    model, ckpt = load_checkpoint(path, device)
    spec = FeatureSpec.from_dict(ckpt["spec"])
    covis = ckpt["covis_fingerprint"] if spec.dense_cols else None
    inputs = check_model_inputs(layout, f"nn fold {fold} ({path})", ckpt["cache_fingerprint"], covis)
    lineage = Lineage(NAME, fold, ckpt["cache_fingerprint"], covis, file_digest(path))
    nested = reads_nested(cfg, NAME)
    with torch_runtime(cfg):
        logits = predict_logits(
            model,
            stream_feed(inputs.test, fold_dense(inputs.dense, fold, nested=nested), spec, device),
            np.arange(inputs.test.n_rows),
            cfg.train.eval_batch_size,
            device,
            float(ckpt["logit_offset"]),
            amp_dtype=amp_dtype(cfg.runtime.amp, device),
        )
    return logits, lineage
