"""The raw-data step: generate the synthetic Toss-schema files, or validate the user's Parquet.

Validation reads only Parquet footers (schema, row counts), never the data, so it is instant on the
10M-row competition files. `file_fingerprint` is the cheap identity of an input file that caches and
the Dagster sensor compare; `resolve_numeric_columns` is the one rule for which columns are numeric,
shared with the cache builder so both always agree.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from toss_core import synth
from toss_core.config import TossConfig
from toss_core.data.stats import cat_kind
from toss_core.layout import Layout
from toss_core.util.errors import DataError
from toss_core.util.results import RawResult

log = logging.getLogger("toss")

_FOOTER_TAIL = 8  # 4-byte little-endian footer length + b"PAR1"


def file_fingerprint(path: str | Path) -> str:
    """sha256 of the file size and the Parquet footer (schema, row groups, column offsets, sizes and
    statistics): changes whenever the content does, costs two small reads whatever the file size."""
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as f:
        if size < 2 * _FOOTER_TAIL:
            raise DataError(f"{path}: not a Parquet file ({size} bytes)")
        f.seek(size - _FOOTER_TAIL)
        tail = f.read(_FOOTER_TAIL)
        if tail[4:] != b"PAR1":
            raise DataError(f"{path}: not a Parquet file (no PAR1 magic at the end)")
        footer_len = int.from_bytes(tail[:4], "little")
        if footer_len + _FOOTER_TAIL > size:
            raise DataError(f"{path}: corrupt Parquet footer (length {footer_len} > file size {size})")
        f.seek(size - _FOOTER_TAIL - footer_len)
        footer = f.read(footer_len)
    digest = hashlib.sha256(str(size).encode() + b"\0" + footer)
    return digest.hexdigest()[:32]


def resolve_numeric_columns(cfg: TossConfig, schema_names: list[str]) -> list[str]:
    """Numeric columns, in file order: data.num_cols_explicit if given, else every column matching any
    data.num_patterns (regex search) that is not a cat column, the label, the id or the sequence."""
    d = cfg.data
    if d.num_cols_explicit is not None:
        return list(d.num_cols_explicit)
    excluded = {*d.cat_cols, d.label_col, d.id_col, cfg.sequence.col}
    patterns = [re.compile(p) for p in d.num_patterns]
    return [c for c in schema_names if c not in excluded and any(p.search(c) for p in patterns)]


def _is_numeric(t: pa.DataType) -> bool:
    return (
        pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_decimal(t)
    )


def _is_string(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _kind_ok(role: str, t: pa.DataType) -> tuple[bool, str]:
    """Whether a column of arrow type t can play `role`, and what that role expects."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    if role == "label":
        return _is_numeric(t), "0/1 numbers (int, float or bool)"
    if role == "sequence":
        return _is_string(t), "a string of comma-separated integer tokens"
    if role == "numeric":
        return _is_numeric(t) or _is_string(t), "numbers or strings holding numbers"
    return _is_numeric(t) or _is_string(t), "strings or numbers"  # cat, id


def _read_schema(path: Path) -> tuple[pa.Schema | None, int, list[str]]:
    """(arrow schema, rows, problems) from the footer alone."""
    if not path.is_file():
        return None, 0, [f"{path}: file not found"]
    try:
        pf = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as exc:
        return None, 0, [f"{path}: not a readable Parquet file ({exc})"]
    return pf.schema_arrow, pf.metadata.num_rows, []


def check_raw_schema(path: str | Path, cfg: TossConfig, kind: str) -> list[str]:
    """Problems of one raw file (kind = train | test) against the configured column roles; [] if fine.

    Checks existence, row count > 0, presence and type of the label (train), id (test), categorical,
    sequence and numeric columns. Reads only the footer."""
    if kind not in ("train", "test"):
        raise ValueError(f"kind must be 'train' or 'test', got {kind!r}")
    path = Path(path)
    schema, n_rows, problems = _read_schema(path)
    if schema is None:
        return problems
    if n_rows == 0:
        problems.append(f"{path}: has 0 rows")
    d = cfg.data
    names = schema.names
    roles: list[tuple[str, str]] = [(c, "cat") for c in d.cat_cols]
    if kind == "train":
        roles.insert(0, (d.label_col, "label"))
    else:
        roles.insert(0, (d.id_col, "id"))
    if cfg.sequence.col is not None:
        roles.append((cfg.sequence.col, "sequence"))
    numeric = resolve_numeric_columns(cfg, names)
    if d.num_cols_explicit is None and not numeric:
        problems.append(
            f"{path}: no column matches data.num_patterns {d.num_patterns} "
            f"(columns: {names[:12]}{' …' if len(names) > 12 else ''})"
        )
    roles += [(c, "numeric") for c in numeric]
    for col, role in roles:
        if col not in names:
            problems.append(f"{path}: missing {role} column '{col}'")
            continue
        t = schema.field(col).type
        ok, expected = _kind_ok(role, t)
        if not ok:
            problems.append(f"{path}: {role} column '{col}' has type {t}, expected {expected}")
    return problems


def check_pair(cfg: TossConfig, layout: Layout) -> None:
    """DataError when a categorical column has a string type in one file and a numeric type in the
    other: "1.0" and 1.0 would be different values, and almost every test row would be unseen."""
    train, test = pq.read_schema(layout.train_path), pq.read_schema(layout.test_path)
    for col in cfg.data.cat_cols:
        if col in train.names and col in test.names:
            t_train, t_test = train.field(col).type, test.field(col).type
            if cat_kind(t_train) != cat_kind(t_test):
                raise DataError(
                    f"categorical column '{col}' is {t_train} in {layout.train_path} but {t_test} in "
                    f"{layout.test_path}: store it with one type in both files (e.g. cast both to string)"
                )


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def check_values(path: Path, cfg: TossConfig, kind: str) -> None:
    """Reads one column before a build, so bad labels (train) or ids (test) stop it before the first
    row is cached: labels 0/1 and non-null; ids non-null and unique. DataError names file, column, row."""
    col = cfg.data.label_col if kind == "train" else cfg.data.id_col
    values = pq.read_table(path, columns=[col]).column(col).combine_chunks()
    if values.null_count:
        row = _first(~values.is_valid().to_numpy(zero_copy_only=False))
        raise DataError(f"{path}: column '{col}' row {row} is null ({values.null_count} null rows)")
    if kind == "train":
        y = values.cast(pa.float64()).to_numpy(zero_copy_only=False)
        bad = (y != 0) & (y != 1)
        if bad.any():
            row = _first(bad)
            raise DataError(f"{path}: label column '{col}' row {row} is {y[row]!r}: labels must be 0 or 1")
        _check_classes(path, col, int(y.sum()), y.size, cfg.cv.n_splits)
        return
    dup = pl.from_arrow(values).is_duplicated().to_numpy()
    if dup.any():
        row = _first(dup)
        raise DataError(
            f"{path}: id column '{col}' is not unique: {values[row]} appears more than once "
            f"(first at row {row})"
        )


def _check_classes(path: Path, col: str, positives: int, n: int, n_splits: int) -> None:
    """Both classes, each in at least cv.n_splits rows: every fold then trains and validates on clicks
    and non-clicks (found here, not as a NaN metric after the first fold trained)."""
    for name, count in (("1 (click)", positives), ("0 (no click)", n - positives)):
        if count < n_splits:
            raise DataError(
                f"{path}: label column '{col}' has {count} rows of class {name} in {n} rows: each of the "
                f"cv.n_splits = {n_splits} folds needs both classes (at least {n_splits} rows of each)"
            )


def _synthetic_dir(layout: Layout) -> Path:
    out_dir = layout.train_path.parent
    expected = {
        "data.train_path": (layout.train_path, out_dir / synth.FILE_NAMES["train"]),
        "data.test_path": (layout.test_path, out_dir / synth.FILE_NAMES["test"]),
    }
    for key, (got, want) in expected.items():
        if got != want:
            raise DataError(
                f"{key} = {got}: with data.source = synthetic the generator writes {want}; "
                f"set {key} to that path"
            )
    return out_dir


def _generate_or_reuse(cfg: TossConfig, layout: Layout) -> tuple[bool, dict[str, float]]:
    """(generated, oracle metrics): regenerate unless synth_meta.json vouches for the same params."""
    s = cfg.data.synthetic
    out_dir = _synthetic_dir(layout)
    params = synth.synth_params(s.train_rows, s.test_rows, s.seed, s.seq_len_scale)
    meta = synth.matching_meta(out_dir, params)
    if meta is not None:
        log.info("synthetic data in %s matches the config: reused", out_dir)
        return False, meta["oracle"]
    summary = synth.generate(out_dir, s.train_rows, s.test_rows, s.seed, s.chunk_rows, s.seq_len_scale)
    return True, summary.oracle


def prepare_raw(cfg: TossConfig, layout: Layout) -> RawResult:
    """Generate (or reuse) the synthetic files, or validate the user's; DataError lists every problem."""
    generated, oracle = False, None
    if cfg.data.source == "synthetic":
        generated, oracle = _generate_or_reuse(cfg, layout)
    train, test = layout.train_path, layout.test_path
    problems = check_raw_schema(train, cfg, "train") + check_raw_schema(test, cfg, "test")
    if not problems:
        train_num = resolve_numeric_columns(cfg, pq.ParquetFile(train).schema_arrow.names)
        test_names = set(pq.ParquetFile(test).schema_arrow.names)
        problems += [
            f"{test}: missing numeric column '{c}' (present in {train})"
            for c in train_num
            if c not in test_names
        ]
    if problems:
        raise DataError("raw data problems:\n  " + "\n  ".join(problems))
    check_pair(cfg, layout)
    truth = layout.truth_path
    return RawResult(
        train_path=train,
        test_path=test,
        train_rows=pq.ParquetFile(train).metadata.num_rows,
        test_rows=pq.ParquetFile(test).metadata.num_rows,
        generated=generated,
        train_fingerprint=file_fingerprint(train),
        test_fingerprint=file_fingerprint(test),
        truth_path=truth if truth.is_file() else None,
        oracle=oracle,
    )
