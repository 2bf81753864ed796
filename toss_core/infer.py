"""The submission step: calibrated test probabilities + test IDs → runs/<exp_name>/submission.csv.

The predictions come from the ensemble step (layout.test_pred_path, rows in test-cache order) and the
IDs from the test cache's `id` field. The file is validated against the IDs of the test Parquet itself
before it is renamed into place, so a submission on disk is always complete and well-formed.
"""

from __future__ import annotations

import json
import logging

import numpy as np

from toss_core.config import TossConfig
from toss_core.errors import ArtifactError
from toss_core.layout import Layout
from toss_core.results import SubmissionResult
from toss_core.submission import write_submission_csv

log = logging.getLogger("toss")

PREVIEW_ROWS = 5


def _expected_ids(cfg: TossConfig, layout: Layout, cache_ids: np.ndarray) -> np.ndarray:
    """IDs of the test Parquet (the ground truth for validation); the cache's when the file is gone."""
    import polars as pl

    if not layout.test_path.is_file():
        return cache_ids
    return pl.scan_parquet(layout.test_path).select(pl.col(cfg.data.id_col).cast(pl.String)).collect()[:, 0]


def _checked_predictions(layout: Layout, test_fingerprint: str, n_rows: int) -> np.ndarray:
    if not (layout.test_pred_path.is_file() and layout.ensemble_path.is_file()):
        raise ArtifactError(
            f"test predictions {layout.test_pred_path} or {layout.ensemble_path} are missing: "
            "run the ensemble step first (`toss infer`)"
        )
    made_for = json.loads(layout.ensemble_path.read_text())["fingerprints"]["test_cache"]
    if made_for != test_fingerprint:
        raise ArtifactError(
            f"{layout.test_pred_path} was made for test cache {made_for}, but {layout.test_cache} is "
            f"{test_fingerprint}: rerun the ensemble step"
        )
    pred = np.load(layout.test_pred_path)
    if pred.shape != (n_rows,):
        raise ArtifactError(f"{layout.test_pred_path} holds {pred.shape} predictions for {n_rows} test rows")
    return pred


def write_submission(cfg: TossConfig, layout: Layout) -> SubmissionResult:
    """Write and validate submission.csv; with the synthetic truth present, also score it."""
    from toss_core.data.reader import ShardedCache
    from toss_core.metrics import score_submission

    test = ShardedCache(layout.test_cache)
    ids = test.read_field("id").astype(str)
    pred = _checked_predictions(layout, test.fingerprint, ids.size)
    summary = write_submission_csv(layout.submission_path, ids, pred, _expected_ids(cfg, layout, ids))
    preview = [
        {"ID": str(i), "clicked": float(p)}
        for i, p in zip(ids[:PREVIEW_ROWS], pred[:PREVIEW_ROWS], strict=True)
    ]
    test_metrics = None
    if layout.truth_path.is_file():
        test_metrics = {
            k: float(v) for k, v in score_submission(layout.submission_path, layout.truth_path).items()
        }
        log.info("submission: test Score %.5f against %s", test_metrics["Score"], layout.truth_path)
    return SubmissionResult(
        path=layout.submission_path,
        n_rows=summary["n_rows"],
        mean_prediction=summary["mean"],
        preview=preview,
        test_metrics=test_metrics,
    )
