"""LightGBM's binned training Dataset, streamed from the shards: no float matrix of every training row.

LightGBM bins each feature from a sample of `bin_construct_sample_cnt` rows (200k by default) and then
stores one small bin index per row and feature. Built from a float32 matrix, the fold would hold that
matrix (4 bytes per value: 6.8 GB for 8.5M Toss rows x 200 features) beside the bins (1 byte per value)
while LightGBM constructs. Here the bins come from the design rows of the same-sized sample, and every
training row is then pushed through them in blocks (lightgbm.Sequence), so the peak is the bins plus
one block. With no more rows than the sample, the sample is every row and the bins are the ones the
matrix would give.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from toss_core.data.reader import ShardedCache
from toss_core.tabular.design import DesignPlan, build_matrix
from toss_core.tabular.encoding import IdEncoder
from toss_core.util.omp import load_lightgbm

if TYPE_CHECKING:
    import lightgbm as lgb

BLOCK_ROWS = 65_536  # design rows per pushed block: ~50 MB at 200 features
DEFAULT_SAMPLE = 200_000  # LightGBM's bin_construct_sample_cnt default


def _design_rows(
    plan: DesignPlan,
    cache: ShardedCache,
    rows: np.ndarray,
    encoder: IdEncoder | None,
    oof_te: np.ndarray | None,
    dense: ShardedCache | None,
) -> lgb.Sequence:
    """A lightgbm.Sequence over the design rows of `rows` (sorted), built block by block on demand."""
    load_lightgbm()
    import lightgbm as lgb

    class DesignRows(lgb.Sequence):
        batch_size = BLOCK_ROWS

        def __len__(self) -> int:
            return len(rows)

        def __getitem__(self, idx: int | slice | list[int]) -> np.ndarray:
            if isinstance(idx, (int, np.integer)):
                return self._block(slice(int(idx), int(idx) + 1))[0]
            return self._block(idx)

        def _block(self, part: slice | list[int]) -> np.ndarray:
            te = None if oof_te is None else oof_te[part]
            return build_matrix(plan, cache, rows[part], encoder, te, dense)

    return DesignRows()


def training_dataset(
    plan: DesignPlan,
    params: dict[str, Any],
    cache: ShardedCache,
    rows: np.ndarray,
    labels: np.ndarray,
    encoder: IdEncoder | None,
    oof_te: np.ndarray | None,
    dense: ShardedCache | None,
    seed: int,
) -> lgb.Dataset:
    """The constructed, binned lgb.Dataset of `rows` (sorted global ids; `labels` and `oof_te` aligned
    with them)."""
    load_lightgbm()
    import lightgbm as lgb

    names, cats = plan.feature_names, plan.categorical_features
    n_sample = min(len(rows), int(params.get("bin_construct_sample_cnt", DEFAULT_SAMPLE)))
    pick = np.sort(np.random.default_rng(seed).choice(len(rows), n_sample, replace=False))
    sample = build_matrix(plan, cache, rows[pick], encoder, None if oof_te is None else oof_te[pick], dense)
    bins = lgb.Dataset(sample, labels[pick], feature_name=names, categorical_feature=cats, params=params)
    bins.construct()
    del sample
    if n_sample == len(rows):
        return bins  # the sample is every row: these are the training rows' bins
    data = _design_rows(plan, cache, rows, encoder, oof_te, dense)
    return lgb.Dataset(
        data, labels, reference=bins, feature_name=names, categorical_feature=cats, params=params
    ).construct()
