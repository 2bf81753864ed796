"""Step 2 of post/, the submission step: the ensemble's calibrated test probabilities → submission.csv.

It takes the calibrated test probabilities of the ensemble step (layout.test_pred_path, rows in
test-cache order) and the IDs of the test cache's `id` field, refuses predictions made from other
models or another test cache than the ones on disk now, and writes `ID,clicked` through
post.submission_file, which validates the file before it is renamed into place. With a truth file
present (the generator's), the written file is also scored.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import polars as pl

from toss_core.artifacts.fold import fold_models
from toss_core.config import TossConfig
from toss_core.layout import Layout
from toss_core.post.submission_file import score_submission, write_submission_csv
from toss_core.util.errors import ArtifactError
from toss_core.util.results import SubmissionResult

log = logging.getLogger("toss")

PREVIEW_ROWS = 5


def _expected_ids(cfg: TossConfig, layout: Layout, cache_ids: np.ndarray) -> np.ndarray | pl.Series:
    """IDs of the test Parquet (the ground truth for validation); the cache's when the file is gone."""

    if not layout.test_path.is_file():
        return cache_ids
    return pl.scan_parquet(layout.test_path).select(pl.col(cfg.data.id_col).cast(pl.String)).collect()[:, 0]


def _checked_predictions(cfg: TossConfig, layout: Layout, test_fingerprint: str, n_rows: int) -> np.ndarray:
    if not (layout.test_pred_path.is_file() and layout.ensemble_path.is_file()):
        raise ArtifactError(
            f"test predictions {layout.test_pred_path} or {layout.ensemble_path} are missing: "
            "run the ensemble step first (`toss ensemble`)"
        )
    ensemble = json.loads(layout.ensemble_path.read_text())
    _check_models_current(layout, ensemble, cfg.cv.n_splits)
    made_for = ensemble["fingerprints"]["test_cache"]
    if made_for != test_fingerprint:
        raise ArtifactError(
            f"{layout.test_pred_path} was made for test cache {made_for}, but {layout.test_cache} is "
            f"{test_fingerprint}: rerun the ensemble step"
        )
    pred = np.load(layout.test_pred_path)
    if pred.shape != (n_rows,):
        raise ArtifactError(f"{layout.test_pred_path} holds {pred.shape} predictions for {n_rows} test rows")
    return pred


def _check_models_current(layout: Layout, ensemble: dict, n_splits: int) -> None:
    """The ensemble's predictions must come from the fold models on disk now: a fold retrained after the
    ensemble step would otherwise be submitted with its old test predictions."""
    built_from = ensemble["fingerprints"]["models"]
    now = fold_models(layout, ensemble["families"], n_splits)
    changed = sorted(k for k, digest in built_from.items() if now.get(k) != digest)
    if changed:
        raise ArtifactError(
            f"{layout.ensemble_path} was built from other models than the ones on disk now "
            f"({', '.join(changed)} retrained or removed since): rerun the ensemble step (`toss ensemble`)"
        )


def write_submission(cfg: TossConfig, layout: Layout) -> SubmissionResult:
    """Write and validate submission.csv; with the synthetic truth present, also score it."""
    from toss_core.data.reader import ShardedCache

    test = ShardedCache(layout.test_cache)
    ids = test.read_field("id").astype(str)
    pred = _checked_predictions(cfg, layout, test.fingerprint, ids.size)
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
