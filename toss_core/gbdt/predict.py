"""Test prediction of the LightGBM family, shard by shard."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from toss_core.artifacts.fold import Lineage, file_digest
from toss_core.config import TossConfig
from toss_core.data.lineage import check_model_inputs
from toss_core.features.fold_rates import fold_dense, reads_nested
from toss_core.gbdt.paths import NAME
from toss_core.gbdt.train import FORMAT, model_paths
from toss_core.layout import Layout
from toss_core.tabular.design import DesignPlan, iter_design
from toss_core.tabular.encoding import IdEncoder
from toss_core.tabular.inputs import cpu_threads, dense_cols
from toss_core.util.errors import ArtifactError
from toss_core.util.omp import load_lightgbm


def load_sidecar(layout: Layout, fold: int | str) -> dict[str, Any]:
    """The fold's sidecar; ArtifactError when the model or the sidecar is missing or foreign."""
    model_path, sidecar_path, _ = model_paths(layout, fold)
    for p in (model_path, sidecar_path):
        if not p.is_file():
            raise ArtifactError(
                f"gbdt model of fold {fold} is missing ({p}); run `toss train --family gbdt --fold {fold}`"
            )
    meta = json.loads(sidecar_path.read_text())
    if meta.get("format") != FORMAT:
        raise ArtifactError(f"{sidecar_path}: format {meta.get('format')!r}, expected {FORMAT!r}")
    return meta


def predict_test(cfg: TossConfig, layout: Layout, fold: int | str) -> tuple[np.ndarray, Lineage]:
    """Raw-margin test logits [n_test] of one fold's booster, built shard by shard, and its lineage; the
    booster's caches are verified against the current ones before any prediction work starts."""
    load_lightgbm()
    import lightgbm as lgb

    meta = load_sidecar(layout, fold)
    model_path, _, enc_path = model_paths(layout, fold)
    plan = DesignPlan.from_dict(meta["plan"])
    covis = meta["covis_fingerprint"] if plan.dense_cols else None
    inputs = check_model_inputs(layout, f"gbdt fold {fold} ({model_path})", meta["cache_fingerprint"], covis)
    plan.check_cache(inputs.test.spec, dense_cols(inputs.dense), str(layout.test_cache))
    encoder = None if meta["encoder"] is None else IdEncoder.load(enc_path, meta["encoder"])
    booster = lgb.Booster(model_file=str(model_path))
    threads = cpu_threads(cfg)
    out = np.empty(inputs.test.n_rows, dtype=np.float32)
    # this fold model's click rates of the test rows
    dense = fold_dense(inputs.dense, fold, nested=reads_nested(cfg, NAME))
    for a, b, block in iter_design(plan, inputs.test, None, encoder, None, dense):
        out[a:b] = booster.predict(block, raw_score=True, num_threads=threads)
    return out, Lineage(NAME, fold, meta["cache_fingerprint"], covis, file_digest(model_path))
