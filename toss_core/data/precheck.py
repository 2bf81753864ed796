"""The test file's values checked before the train cache is built, so a bad test file stops the work
while it is still cheap.

The test cache applies statistics fitted on train, so it can only be built second; without this pass a
non-numeric test column or a malformed test sequence would surface after the whole train cache was
built. One streamed pass over the test file reads only the columns that can fail (numeric columns
stored as strings, the sequence, the query-token columns) in batches of at most data.shard_rows rows and
PRECHECK_BYTES of decoded input, with the same parsers the build uses. Cost: one read of those test
columns (the test file is the smaller one).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from toss_core.config import TossConfig
from toss_core.data.cache_write import _batches, _fail, _numeric, _query_tokens, batch_rows
from toss_core.data.raw import check_raw_schema, resolve_numeric_columns
from toss_core.data.seqparse import SeqParseError, parse_sequences
from toss_core.util.errors import DataError

# decoded bytes per precheck batch: nothing is kept between batches, so small batches cost only their
# count, and the pass stays far below the build's own peak (measured on the Toss-size test file: 5.7 GB
# at 500k-row batches before this bound; BENCHMARKS.md, "Toss scale")
PRECHECK_BYTES = 64 << 20


def check_test_file(cfg: TossConfig, train_path: Path, test_path: Path) -> None:
    """DataError naming the test file, column and row of the first problem the test build would hit."""
    problems = check_raw_schema(test_path, cfg, "test")
    if problems:
        raise DataError("; ".join(problems) + " (checked before the train cache is built)")
    train_num = resolve_numeric_columns(cfg, pq.ParquetFile(train_path).schema_arrow.names)
    schema = pq.ParquetFile(test_path).schema_arrow
    missing = [c for c in train_num if c not in schema.names]
    if missing:
        raise DataError(f"{test_path}: missing numeric column(s) {missing} that {train_path} has")
    strings = [c for c in train_num if not _plain_number(schema.field(c).type)]
    seq = cfg.sequence.col
    cols = strings + list(cfg.sequence.query_same_vocab) + ([seq] if seq is not None else [])
    if not cols:
        return
    cols = list(dict.fromkeys(cols))
    rows = batch_rows(test_path, cols, cfg.data.shard_rows, PRECHECK_BYTES)
    for row0, batch in _batches(test_path, cols, rows):
        _numeric(batch, strings, test_path, row0)
        for col in cfg.sequence.query_same_vocab:
            _query_tokens(batch, col, test_path, row0)
        if seq is not None:
            try:
                parse_sequences(batch.column(seq), cfg.sequence.max_len)
            except SeqParseError as exc:
                raise _fail(test_path, seq, row0, f"row {row0 + exc.row}: {exc.reason}") from exc


def _plain_number(t: pa.DataType) -> bool:
    """A column stored as numbers needs no value check (a cast to float32 cannot fail)."""
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)


def check_truth(cfg: TossConfig, test_path: Path, truth_path: Path) -> None:
    """A truth file beside the test file (test_truth.parquet, scored at submit and in diagnostics)
    holds the ID and label columns and a label for every test ID: checked before the build, not found at
    submit after every model trained."""
    if not truth_path.is_file():
        return
    id_col, label_col = cfg.data.id_col, cfg.data.label_col
    try:
        names = pq.ParquetFile(truth_path).schema_arrow.names
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"{truth_path}: not a readable Parquet file ({exc})") from exc
    missing = [c for c in (id_col, label_col) if c not in names]
    if missing:
        raise DataError(f"{truth_path}: missing column(s) {missing} of the truth beside {test_path}")
    test_ids = pc.cast(pq.read_table(test_path, columns=[id_col]).column(id_col), pa.string())
    truth_ids = pc.cast(pq.read_table(truth_path, columns=[id_col]).column(id_col), pa.string())
    unknown = pc.sum(pc.invert(pc.is_in(test_ids, value_set=truth_ids.combine_chunks()))).as_py() or 0
    if unknown:
        raise DataError(
            f"{truth_path}: {unknown} of {len(test_ids)} IDs of {test_path} have no truth there: the truth "
            "file belongs to another test file; replace or remove it"
        )
