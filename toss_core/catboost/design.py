"""The CatBoost view of the shared design matrix: every categorical (ids included) is a native
cat_feature, so CatBoost's ordered target statistics and its feature combinations see them; numerics,
null masks, the sequence length and the co-visitation features are numeric columns."""

from __future__ import annotations

from typing import Any

import numpy as np

from toss_core.data.reader import ShardedCache
from toss_core.tabular.design import DesignPlan
from toss_core.tabular.inputs import dense_cols


def plan_for(cache: ShardedCache, dense: ShardedCache | None) -> DesignPlan:
    """All categoricals native (no id encoding: CatBoost's own statistics are computed out of order)."""
    return DesignPlan.build(cache.spec, cache.fields, dense_cols(dense))


def pool(plan: DesignPlan, block: np.ndarray, labels: np.ndarray | None = None) -> Any:
    """A catboost.Pool over design rows: the leading native-categorical columns as int32 categoricals
    (CatBoost refuses float categoricals), the rest float32."""
    import catboost
    import pandas as pd

    names = plan.feature_names
    n_cat = len(plan.native_cols)
    frame = pd.DataFrame(block, columns=names, copy=False)
    if n_cat:
        frame = frame.astype(dict.fromkeys(names[:n_cat], np.int32))
    return catboost.Pool(frame, label=labels, cat_features=list(range(n_cat)))
