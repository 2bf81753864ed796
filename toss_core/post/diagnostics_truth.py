"""Step 3a of post/ (read by the diagnostics step): the test labels of a data set that has them.

The generator's test_truth.parquet, or a user's, in test-cache row order: what diagnostics and the
benchmarks score test predictions against."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from toss_core.config import TossConfig
from toss_core.data.reader import ShardedCache
from toss_core.layout import Layout
from toss_core.util.errors import DataError


@dataclass(frozen=True)
class TestTruth:
    labels: np.ndarray  # [n_test] float64, test-cache order
    p_true: np.ndarray | None  # [n_test] the planted click probability (synthetic data only)


def load_test_truth(cfg: TossConfig, layout: Layout) -> TestTruth | None:
    """The truth joined to the test cache's IDs; None when there is no truth file.

    DataError when the file lacks the ID or label column, or a test ID has no truth."""
    path = layout.truth_path
    if not path.is_file():
        return None
    id_col, label_col = cfg.data.id_col, cfg.data.label_col
    try:
        truth = pl.read_parquet(path)
    except pl.exceptions.PolarsError as exc:
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from exc
    missing = [c for c in (id_col, label_col) if c not in truth.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; found {truth.columns}")
    ids = pl.DataFrame({id_col: ShardedCache(layout.test_cache).read_field("id").astype(str)})
    joined = ids.join(
        truth.with_columns(pl.col(id_col).cast(pl.String)), on=id_col, how="left", maintain_order="left"
    )
    n_missing = joined[label_col].null_count()
    if n_missing:
        raise DataError(f"{path}: {n_missing} test IDs of {layout.test_cache} have no truth")
    p_true = joined["p_true"].to_numpy() if "p_true" in joined.columns else None
    return TestTruth(joined[label_col].to_numpy().astype(np.float64), p_true)


def require_test_truth(cfg: TossConfig, layout: Layout) -> TestTruth:
    """The truth, for a caller that exists to score test predictions (the benchmarks): none is an error."""
    truth = load_test_truth(cfg, layout)
    if truth is None:
        raise DataError(
            f"{layout.truth_path}: no test labels to score against (the synthetic generator writes them; "
            f"for your own data, a Parquet with {cfg.data.id_col} and {cfg.data.label_col})"
        )
    return truth
