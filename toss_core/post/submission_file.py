"""Step 2's file format, `ID,clicked`: read, validate, write atomically, score against a truth.

A file is valid when its header is exactly `ID,clicked`, every ID is present and unique, every
prediction is a finite number in [0, 1], and (when the expected IDs are known) its IDs are exactly the
test file's. A file is validated before it is renamed into place, so a submission on disk is always
complete and well-formed; every problem found is reported in one DataError that says what is wrong and
how often. The submission step (post.submission) and the blend of two files (post.submission_blend)
both write through here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from toss_core.scoring.metrics import evaluate
from toss_core.util.atomic import atomic_path
from toss_core.util.errors import DataError

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
    p = read_submission(path, expected_ids, name)["clicked"].to_numpy()
    return {"n_rows": p.size, "mean": float(p.mean()), "min": float(p.min()), "max": float(p.max())}


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
