"""The CatBoost view of the shared design matrix: every categorical (ids included) is a native
cat_feature, so CatBoost's ordered target statistics and its feature combinations see them; numerics,
null masks, the sequence length and the co-visitation features are numeric columns."""

from __future__ import annotations

from typing import Any

import numpy as np

from toss_core.data.reader import ShardedCache
from toss_core.features.covis import label_derived
from toss_core.features.fold_rates import has_nested_rates
from toss_core.tabular.design import DesignPlan, iter_design
from toss_core.tabular.inputs import dense_cols


def plan_for(cache: ShardedCache, dense: ShardedCache | None, *, nested: bool) -> DesignPlan:
    """All categoricals native (no id encoding: CatBoost's ordered target statistics are its own), and the
    co-visitation columns; the click rates (target_rate, id_rate, cross_rate) only when CatBoost reads them
    nested per fold model (`nested`: features.covis.nested_rates names it, and the features hold them).
    Read out of the training row's own fold alone they still hold the validation fold's labels, and
    CatBoost turned them into an optimistic OOF (Score 0.02-0.04 above test on Frappe and a synthetic
    seed); nested, they help it on synthetic seed 21 (100k rows, 3 folds: test Score 0.3505 -> 0.3584, AUC
    0.751 -> 0.765) and cost it on Frappe (0.9701 -> 0.9683 AUC), so by default it reads neither."""
    columns = dense_cols(dense)
    keep = columns if nested and has_nested_rates(dense) else [c for c in columns if not label_derived(c)]
    return DesignPlan.build(cache.spec, cache.fields, columns, keep_dense=keep)


def _pool(plan: DesignPlan, cats: np.ndarray, nums: np.ndarray, labels: np.ndarray | None) -> Any:
    """A catboost.Pool over column-major arrays (one contiguous row per feature): the native
    categoricals as int32 (CatBoost refuses float categoricals), the rest float32. The frame takes the
    arrays as its columns without copying them."""
    import catboost
    import pandas as pd

    names = plan.feature_names
    n_cat = len(plan.native_cols)
    columns = {name: cats[j] for j, name in enumerate(names[:n_cat])}
    columns |= {name: nums[j] for j, name in enumerate(names[n_cat:])}
    frame = pd.DataFrame(columns, copy=False)
    return catboost.Pool(frame, label=labels, cat_features=list(range(n_cat)))


def pool(plan: DesignPlan, block: np.ndarray, labels: np.ndarray | None = None) -> Any:
    """A catboost.Pool over a block of design rows (prediction, block by block)."""
    n_cat = len(plan.native_cols)
    return _pool(plan, block[:, :n_cat].T.astype(np.int32), np.ascontiguousarray(block[:, n_cat:].T), labels)


def cache_pool(
    plan: DesignPlan, cache: ShardedCache, rows: np.ndarray, dense: ShardedCache | None, labels: np.ndarray
) -> Any:
    """The training or validation Pool of `rows` (sorted global ids), filled from the shards block by
    block straight into the frame's columns: no float matrix of every row (4 bytes a value) sits beside
    the frame and CatBoost's own copy, which at 5M Toss rows x 200 features is 4 GB less at the peak."""
    n_cat = len(plan.native_cols)
    cats = np.empty((n_cat, len(rows)), dtype=np.int32)
    nums = np.empty((len(plan.feature_names) - n_cat, len(rows)), dtype=np.float32)
    for a, b, block in iter_design(plan, cache, rows, None, None, dense):
        cats[:, a:b] = block[:, :n_cat].T
        nums[:, a:b] = block[:, n_cat:].T
    return _pool(plan, cats, nums, labels)
