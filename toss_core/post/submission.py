"""Submission files (`ID,clicked`): the submission step, the format's reader and writer, and scoring.

The step (`write_submission`) takes the calibrated test probabilities of the ensemble step
(layout.test_pred_path, rows in test-cache order) and the IDs of the test cache's `id` field. A file is
valid when its header is exactly `ID,clicked`, every ID is present and unique, every prediction is a
finite number in [0, 1], and (when the expected IDs are known) its IDs are exactly the test file's; it
is validated before it is renamed into place, so a submission on disk is always complete and
well-formed. Every problem found is reported in one DataError that says what is wrong and how often.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import polars as pl

from toss_core.artifacts.fold import fold_models
from toss_core.config import TossConfig
from toss_core.layout import Layout
from toss_core.scoring.metrics import evaluate
from toss_core.util.atomic import atomic_path
from toss_core.util.errors import ArtifactError, DataError
from toss_core.util.results import SubmissionResult

log = logging.getLogger("toss")

HEADER = ("ID", "clicked")
N_EXAMPLES = 3


def examples(values: pl.Series) -> str:
    head = values.head(N_EXAMPLES).to_list()
    return ", ".join(repr(v) for v in head) + (", …" if values.len() > N_EXAMPLES else "")


def id_difference(got: pl.Series, expected: pl.Series) -> tuple[pl.Series, pl.Series]:
    """(expected IDs missing from `got`, IDs of `got` not expected), each in its own file order."""
    return expected.filter(~expected.is_in(got.implode())), got.filter(~got.is_in(expected.implode()))


def _problems(frame: pl.DataFrame, expected_ids: pl.Series | None) -> list[str]:
    problems = []
    ids, raw = frame["ID"], frame["clicked"]
    if ids.null_count():
        problems.append(f"{ids.null_count()} rows without an ID")
    present = ids.drop_nulls()
    dup = present.filter(present.is_duplicated()).unique(maintain_order=True)
    if dup.len():
        surplus = present.len() - present.n_unique()
        problems.append(f"{dup.len()} duplicated IDs, {surplus} surplus rows (e.g. {examples(dup)})")
    values = raw.cast(pl.Float64, strict=False)
    unparsed = raw.filter(values.is_null())
    if unparsed.len():
        problems.append(f"{unparsed.len()} missing or non-numeric predictions (e.g. {examples(unparsed)})")
    p = values.drop_nulls().to_numpy()
    n_nonfinite = int((~np.isfinite(p)).sum())
    if n_nonfinite:
        problems.append(f"{n_nonfinite} non-finite predictions (NaN or inf)")
    finite = p[np.isfinite(p)]
    n_out = int(((finite < 0.0) | (finite > 1.0)).sum())
    if n_out:
        problems.append(
            f"{n_out} predictions outside [0, 1] (range [{finite.min():.6g}, {finite.max():.6g}])"
        )
    if expected_ids is not None:
        missing, extra = id_difference(ids.drop_nulls(), expected_ids)
        if missing.len():
            problems.append(f"{missing.len()} test IDs missing (e.g. {examples(missing)})")
        if extra.len():
            problems.append(f"{extra.len()} IDs not in the test file (e.g. {examples(extra)})")
    return problems


def read_submission(
    path: str | Path, expected_ids: np.ndarray | pl.Series | None = None, name: str | None = None
) -> pl.DataFrame:
    """A validated submission as a frame with `ID` (str) and `clicked` (float64); DataError otherwise.

    `expected_ids`: the test file's IDs; when given, the file must hold exactly these IDs (any order).
    `name`: how messages call the file (default: its path).
    """
    path = Path(path)
    name = name or str(path)
    if not path.is_file():
        raise DataError(f"submission {name} not found")
    try:
        with open(path, encoding="utf-8-sig") as fh:
            header = fh.readline().rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise DataError(f"{name}: not a text CSV (byte {exc.start} is not UTF-8)") from None
    if tuple(header.split(",")) != HEADER:
        raise DataError(f"{name}: header must be '{','.join(HEADER)}', found '{header}'")
    try:
        frame = pl.read_csv(path, schema={"ID": pl.String, "clicked": pl.String}, encoding="utf8-lossy")
    except pl.exceptions.PolarsError as exc:
        raise DataError(f"{name}: not a two-column CSV: {str(exc).splitlines()[0]}") from exc
    expected = None if expected_ids is None else pl.Series("ID", expected_ids, dtype=pl.String)
    problems = _problems(frame, expected)
    if problems:
        raise DataError(f"{name}: invalid submission ({frame.height} rows): " + "; ".join(problems))
    return frame.with_columns(pl.col("clicked").cast(pl.Float64))


def validate_submission(
    path: str | Path, expected_ids: np.ndarray | pl.Series | None = None, name: str | None = None
) -> dict:
    """Check a submission file (see module doc); returns its row count and prediction range."""
    p = read_submission(path, expected_ids, name)["clicked"]
    return {"n_rows": p.len(), "mean": float(p.mean()), "min": float(p.min()), "max": float(p.max())}


def write_submission_csv(
    path: str | Path, ids: np.ndarray, probs: np.ndarray, expected_ids: np.ndarray | pl.Series | None
) -> dict:
    """Write `ID,clicked` to a temporary file, validate it, and only then rename it onto `path`."""
    ids, probs = np.asarray(ids), np.asarray(probs, dtype=np.float64)
    if ids.shape != probs.shape:
        raise DataError(f"{path}: {ids.size} IDs but {probs.size} predictions")
    frame = pl.DataFrame({"ID": pl.Series(ids, dtype=pl.String), "clicked": probs})
    with atomic_path(path) as tmp:
        frame.write_csv(tmp)
        summary = validate_submission(tmp, expected_ids, name=f"{path} (not written)")
    return summary


def score_submission(sub_csv: str | Path, truth_parquet: str | Path) -> dict[str, float]:
    """Score a submission CSV (ID,clicked) against a truth Parquet (ID, clicked), joined on ID.

    Errors name the file and count the missing, extra and duplicated IDs and the bad predictions."""
    sub_csv, truth_parquet = Path(sub_csv), Path(truth_parquet)
    for path in (sub_csv, truth_parquet):
        if not path.is_file():
            raise ValueError(f"{path}: file not found")
    try:
        sub = pl.read_csv(sub_csv, schema_overrides={"ID": pl.Utf8})
    except pl.exceptions.PolarsError as exc:
        raise ValueError(f"{sub_csv}: not a readable CSV ({exc})") from exc
    try:
        truth = pl.read_parquet(truth_parquet)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise ValueError(
            f"{truth_parquet}: not a readable Parquet file ({str(exc).splitlines()[0]}); "
            "--truth takes a Parquet with ID and clicked"
        ) from None
    for path, frame in ((sub_csv, sub), (truth_parquet, truth)):
        missing = [c for c in ("ID", "clicked") if c not in frame.columns]
        if missing:
            raise ValueError(f"{path}: missing column(s) {missing}; found {frame.columns}")
    n_dup = sub.height - sub["ID"].n_unique()
    if n_dup:
        raise ValueError(f"{sub_csv}: {n_dup} duplicated ID rows")
    try:
        pred = sub["clicked"].cast(pl.Float64).to_numpy()
    except pl.exceptions.InvalidOperationError as exc:
        raise ValueError(f"{sub_csv}: column 'clicked' is not numeric ({sub['clicked'].dtype})") from exc
    n_bad = int((~np.isfinite(pred)).sum())
    if n_bad:
        raise ValueError(f"{sub_csv}: {n_bad} non-finite predictions in 'clicked'")
    n_out = int(((pred < 0.0) | (pred > 1.0)).sum())
    if n_out:
        raise ValueError(f"{sub_csv}: {n_out} predictions in 'clicked' outside [0, 1]")
    truth_ids, sub_ids = truth.select("ID"), sub.select("ID")
    n_missing = truth_ids.join(sub_ids, on="ID", how="anti").height
    n_extra = sub_ids.join(truth_ids, on="ID", how="anti").height
    if n_missing or n_extra:
        raise ValueError(
            f"{sub_csv}: IDs do not match {truth_parquet}: {n_missing} missing, {n_extra} extra "
            f"({sub.height} rows submitted, {truth.height} expected)"
        )
    joined = truth.select("ID", pl.col("clicked").alias("y")).join(
        sub.select("ID", pl.col("clicked").cast(pl.Float64).alias("p")), on="ID", how="inner"
    )
    out = evaluate(joined["y"].to_numpy(), joined["p"].to_numpy())
    return {**out, "n": joined.height}


# ---- the submission step ----------------------------------------------------------------------------
PREVIEW_ROWS = 5


def _expected_ids(cfg: TossConfig, layout: Layout, cache_ids: np.ndarray) -> np.ndarray:
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
