"""Test prediction of the CatBoost family, shard by shard."""

from __future__ import annotations

import numpy as np

from toss_core.artifacts.fold import Lineage, file_digest
from toss_core.catboost.design import pool
from toss_core.catboost.paths import NAME, checkpoint_path
from toss_core.catboost.train import load_sidecar
from toss_core.config import TossConfig
from toss_core.data.lineage import check_model_inputs
from toss_core.features.fold_rates import fold_dense, reads_nested
from toss_core.layout import Layout
from toss_core.tabular.design import DesignPlan, iter_design
from toss_core.tabular.inputs import cpu_threads, dense_cols


def predict_test(cfg: TossConfig, layout: Layout, fold: int | str) -> tuple[np.ndarray, Lineage]:
    """Raw-margin test logits [n_test] of one fold's model and its lineage; the model's caches are verified
    against the current ones before any prediction work starts."""
    import catboost

    meta = load_sidecar(layout, fold)
    path = checkpoint_path(layout, fold)
    plan = DesignPlan.from_dict(meta["plan"])
    covis = meta["covis_fingerprint"] if plan.dense_cols else None
    inputs = check_model_inputs(layout, f"catboost fold {fold} ({path})", meta["cache_fingerprint"], covis)
    plan.check_cache(inputs.test.spec, dense_cols(inputs.dense), str(layout.test_cache))
    model = catboost.CatBoostClassifier()
    model.load_model(str(path), format="cbm")
    out = np.empty(inputs.test.n_rows, dtype=np.float32)
    # this fold model's click rates of the test rows
    dense = fold_dense(inputs.dense, fold, nested=reads_nested(cfg, NAME))
    for a, b, block in iter_design(plan, inputs.test, None, None, None, dense):
        out[a:b] = model.predict(
            pool(plan, block), prediction_type="RawFormulaVal", thread_count=cpu_threads(cfg)
        )
    return out, Lineage(NAME, fold, meta["cache_fingerprint"], covis, file_digest(path))
