"""Inference on a shard cache: rebuild a model from its checkpoint and compute true-prior logits.

`predict_test` is the neural family's face to the test-prediction step (gbdt/predict.py has the same).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import ValidationError

from toss_core.config import TossConfig
from toss_core.data.lineage import check_model_inputs
from toss_core.layout import Layout
from toss_core.post.artifacts import Lineage, file_digest
from toss_core.spec import FeatureSpec
from toss_core.train import checkpoint
from toss_core.train.batches import BatchSource, feature_fields, prefetched, to_tensors
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
    use_ema = cfg.ema.eval_with_ema and ckpt.get("ema_state") is not None
    model.load_state_dict(ckpt["ema_state"] if use_ema else ckpt["model_state"])
    return model.to(device).eval(), ckpt


@torch.no_grad()
def predict_logits(
    model: torch.nn.Module,
    cache,
    dense_cache,
    batch_size: int,
    device: torch.device | str,
    logit_offset: float,
    *,
    spec: FeatureSpec | None = None,
    rows: np.ndarray | None = None,
    amp_dtype: torch.dtype | None = None,
) -> np.ndarray:
    """Logits (raw model logits + logit_offset, i.e. true-prior log-odds) for `rows` of `cache` (all rows
    in cache order by default). `spec` limits the fields read to those the model uses; by default every
    feature field of the cache is read."""
    device = torch.device(device)
    rows = (
        np.arange(cache.n_rows, dtype=np.int64) if rows is None else np.sort(np.asarray(rows, dtype=np.int64))
    )
    spec = spec or FeatureSpec.from_manifest(cache.manifest)
    source = BatchSource(cache, feature_fields(spec, cache.fields), dense_cache)
    was_training = model.training
    model.eval()
    out = np.empty(rows.size, dtype=np.float32)
    chunks = [rows[i : i + batch_size] for i in range(0, rows.size, batch_size)]
    start = 0
    for arrays in prefetched(source, chunks, depth=2):
        with autocast(device, amp_dtype):
            logits = model(to_tensors(arrays, device)).float()
        n = logits.shape[0]
        out[start : start + n] = logits.cpu().numpy()
        start += n
    model.train(was_training)
    return out + np.float32(logit_offset)


def predict_test(cfg: TossConfig, layout: Layout, fold: int | str) -> tuple[np.ndarray, Lineage]:
    """True-prior test logits [n_test] of one neural fold and the lineage of its checkpoint; the
    checkpoint's caches are verified against the current ones before any prediction work starts."""
    path = layout.checkpoint(fold)
    device = resolve_device(cfg.device)
    model, ckpt = load_checkpoint(path, device)
    spec = FeatureSpec.from_dict(ckpt["spec"])
    covis = ckpt["covis_fingerprint"] if spec.dense_cols else None
    inputs = check_model_inputs(layout, f"nn fold {fold} ({path})", ckpt["cache_fingerprint"], covis)
    lineage = Lineage("nn", fold, ckpt["cache_fingerprint"], covis, file_digest(path))
    with torch_runtime(cfg):
        logits = predict_logits(
            model,
            inputs.test,
            inputs.dense,
            cfg.train.eval_batch_size,
            device,
            float(ckpt["logit_offset"]),
            spec=spec,
            amp_dtype=amp_dtype(cfg.amp, device),
        )
    return logits, lineage
