"""Writing the synthetic files: Parquet row groups of a fixed size, test IDs, the meta file that vouches
for a complete generation, and `generate`, the entry point.

Files written into `out_dir`: train.parquet (TOSS_COLUMNS), test.parquet (TEST_COLUMNS: `ID` first,
TEST_0000000…, no label), test_truth.parquet (ID, clicked, p_true) and synth_meta.json (parameters,
oracle metrics, generator version; written last, so its presence means the files are complete).
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from toss_core.scoring.metrics import prior_only_score, sigmoid
from toss_core.synth.click import SPLIT_TEST, SPLIT_TRAIN, Block, click_model, iter_blocks
from toss_core.synth.oracle import oracle_metrics
from toss_core.synth.schema import (
    AGE_VALUES,
    CAT_COLUMNS,
    DOW_VALUES,
    GENDER_VALUES,
    GENERATOR_VERSION,
    HOUR_VALUES,
    INVENTORY_VALUES,
    NUM_COLUMNS,
    TEST_SCHEMA,
    TRAIN_SCHEMA,
    TRUTH_SCHEMA,
    VOCAB_SIZE,
)
from toss_core.util.atomic import atomic_path, write_json
from toss_core.util.errors import DataError
from toss_core.util.progress import Progress

log = logging.getLogger("toss")


def _token_bytes() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lookup tables for join_tokens: each vocabulary token as one uint32 holding its digits padded
    with commas, its digit count, and for k = 0..4 a uint32 whose first k bytes are 1 (a byte mask)."""
    text = [str(v) for v in range(VOCAB_SIZE + 1)]
    table = np.frombuffer("".join(s.ljust(4, ",") for s in text).encode(), np.uint32)
    masks = np.frombuffer(bytes([int(i < k) for k in range(5) for i in range(4)]), np.uint32)
    return table, np.array([len(s) for s in text], np.uint8), masks


_TOKEN_WORDS, _TOKEN_DIGITS, _BYTE_MASKS = _token_bytes()


def join_tokens(tokens: np.ndarray, lengths: np.ndarray) -> pa.StringArray:
    """Comma-joined strings from a flat token array and per-row lengths (≥ 1), built as one byte
    buffer: every token contributes its digits plus a comma unless it ends its row."""
    ends = np.cumsum(lengths)
    nbytes = _TOKEN_DIGITS[tokens] + np.uint8(1)
    nbytes[ends - 1] -= np.uint8(1)
    data = _TOKEN_WORDS[tokens].view(np.uint8)[_BYTE_MASKS[nbytes].view(np.bool_)]
    row_bytes = np.add.reduceat(nbytes, ends - lengths, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(row_bytes)]).astype(np.int32)
    return pa.StringArray.from_buffers(lengths.size, pa.py_buffer(offsets), pa.py_buffer(data))


_VALUES = {
    "gender": pa.array(GENDER_VALUES),
    "age_group": pa.array(AGE_VALUES),
    "inventory_id": pa.array(INVENTORY_VALUES),
    "day_of_week": pa.array(DOW_VALUES),
    "hour": pa.array(HOUR_VALUES),
}


def _feature_arrays(b: Block) -> dict[str, pa.Array]:
    cols: dict[str, pa.Array] = {}
    for c in CAT_COLUMNS:
        cols[c] = _VALUES[c].take(pa.array(b.cat_idx[c], mask=b.null.get(c)))
    cols["seq"] = join_tokens(b.tokens, b.lengths)
    for c in NUM_COLUMNS:
        cols[c] = pa.array(b.num[c].astype(np.float32), mask=b.null.get(c))
    return cols


def _test_ids(start: int, n: int) -> pa.Array:
    digits = pc.utf8_lpad(pc.cast(pa.array(np.arange(start, start + n)), pa.string()), width=7, padding="0")
    return pc.binary_join_element_wise("TEST_", digits, "")


class _ChunkedWriter:
    """Parquet writer whose row groups hold exactly `chunk_rows` rows (the last one fewer)."""

    def __init__(self, path: Path, schema: pa.Schema, chunk_rows: int):
        self.schema = schema
        self.chunk_rows = chunk_rows
        self.writer = pq.ParquetWriter(path, schema, compression="zstd")
        self.buffer: list[pa.Table] = []
        self.buffered = 0

    def add(self, columns: dict[str, pa.Array]) -> None:
        self.buffer.append(pa.Table.from_pydict(columns, schema=self.schema))
        self.buffered += self.buffer[-1].num_rows
        while self.buffered >= self.chunk_rows:
            self._flush(self.chunk_rows)

    def _flush(self, rows: int) -> None:
        table = pa.concat_tables(self.buffer)
        self.writer.write_table(table.slice(0, rows), row_group_size=rows)
        rest = table.slice(rows)
        self.buffer, self.buffered = ([rest] if rest.num_rows else []), rest.num_rows

    def __enter__(self) -> _ChunkedWriter:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None and self.buffered:
            self._flush(self.buffered)
        self.writer.close()


META_NAME = "synth_meta.json"
FILE_NAMES = {"train": "train.parquet", "test": "test.parquet", "truth": "test_truth.parquet"}


@dataclass
class SynthSummary:
    train_path: Path
    test_path: Path
    truth_path: Path
    meta_path: Path
    train_rows: int
    test_rows: int
    click_rate_train: float
    click_rate_test: float
    oracle: dict[str, float]
    prior_score: float
    intercept: float
    seconds: float
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}


def synth_params(train_rows: int, test_rows: int, seed: int, seq_len_scale: float) -> dict[str, Any]:
    """What determines the content of the files (chunk_rows does not): reuse iff these match."""
    return {
        "generator_version": GENERATOR_VERSION,
        "train_rows": int(train_rows),
        "test_rows": int(test_rows),
        "seed": int(seed),
        "seq_len_scale": float(seq_len_scale),
    }


def read_meta(out_dir: Path) -> dict[str, Any] | None:
    """The synth_meta.json of a generated directory, or None if there is none (or it is unreadable)."""
    path = Path(out_dir) / META_NAME
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def matching_meta(out_dir: Path, params: dict[str, Any]) -> dict[str, Any] | None:
    """The meta of an existing, complete generation with exactly these params, else None."""
    meta = read_meta(out_dir)
    if meta is None or meta.get("params") != params:
        return None
    for name, size in meta.get("file_bytes", {}).items():
        path = Path(out_dir) / name
        if not path.is_file() or path.stat().st_size != size:
            return None
    return meta


def refuse_foreign_files(out_dir: Path) -> None:
    """The generator only ever replaces files it wrote: a train/test/truth file in `out_dir` that no
    synth_meta.json vouches for is the user's data, so generating there is refused (DataError)."""
    meta = read_meta(out_dir) or {}
    ours = set(meta.get("file_bytes", {}))
    foreign = [name for name in FILE_NAMES.values() if (out_dir / name).exists() and name not in ours]
    if foreign:
        raise DataError(
            f"{out_dir / foreign[0]} exists and was not written by toss's generator: refusing to generate "
            "synthetic data over it. For your own Parquet set data.source: parquet; for synthetic data "
            "point data.train_path / data.test_path at another folder"
        )


def generate(
    out_dir: Path,
    train_rows: int,
    test_rows: int,
    seed: int = 0,
    chunk_rows: int = 200_000,
    seq_len_scale: float = 1.0,
) -> SynthSummary:
    """Write train/test/test_truth Parquet and synth_meta.json into out_dir (memory: one chunk)."""
    if train_rows <= 0 or test_rows <= 0 or chunk_rows <= 0 or seq_len_scale <= 0:
        raise ValueError(
            f"train_rows, test_rows, chunk_rows and seq_len_scale must be positive, got "
            f"{train_rows}, {test_rows}, {chunk_rows}, {seq_len_scale}"
        )
    start_time = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    refuse_foreign_files(out_dir)  # the old meta stays until the new one replaces it: a killed run's
    # files are still vouched as ours (their sizes no longer match it, so the next run regenerates)
    params = synth_params(train_rows, test_rows, seed, seq_len_scale)
    p, intercept = click_model(seed, seq_len_scale)
    paths = {k: out_dir / name for k, name in FILE_NAMES.items()}
    clicks = {"train": 0, "test": 0}
    with ExitStack() as files:
        tmp = {k: files.enter_context(atomic_path(path)) for k, path in paths.items()}
        progress = Progress("synthetic train", train_rows)
        with _ChunkedWriter(tmp["train"], TRAIN_SCHEMA, chunk_rows) as train:
            for _, rng, block in iter_blocks(p, seed, SPLIT_TRAIN, train_rows, seq_len_scale):
                y = (rng.random(block.n) < sigmoid(block.eta + intercept)).astype(np.int32)
                train.add({**_feature_arrays(block), "clicked": pa.array(y)})
                clicks["train"] += int(y.sum())
                progress.update(block.n)
        progress = Progress("synthetic test", test_rows)
        with (
            _ChunkedWriter(tmp["test"], TEST_SCHEMA, chunk_rows) as test,
            _ChunkedWriter(tmp["truth"], TRUTH_SCHEMA, chunk_rows) as truth,
        ):
            for start, rng, block in iter_blocks(p, seed, SPLIT_TEST, test_rows, seq_len_scale):
                p_true = sigmoid(block.eta + intercept)
                y = (rng.random(block.n) < p_true).astype(np.int32)
                ids = _test_ids(start, block.n)
                test.add({"ID": ids, **_feature_arrays(block)})
                truth.add({"ID": ids, "clicked": pa.array(y), "p_true": pa.array(p_true)})
                clicks["test"] += int(y.sum())
                progress.update(block.n)
    oracle = oracle_metrics(paths["truth"])
    truth_y = pq.read_table(paths["truth"], columns=["clicked"])["clicked"].to_numpy()
    summary = SynthSummary(
        train_path=paths["train"],
        test_path=paths["test"],
        truth_path=paths["truth"],
        meta_path=out_dir / META_NAME,
        train_rows=train_rows,
        test_rows=test_rows,
        click_rate_train=clicks["train"] / train_rows,
        click_rate_test=clicks["test"] / test_rows,
        oracle=oracle,
        prior_score=prior_only_score(truth_y),
        intercept=intercept,
        seconds=time.perf_counter() - start_time,
        params=params,
    )
    meta = {
        **summary.to_dict(),
        "chunk_rows": chunk_rows,
        "file_bytes": {name: paths[k].stat().st_size for k, name in FILE_NAMES.items()},
    }
    write_json(summary.meta_path, meta)
    log.info(
        "synthetic data in %s: %d train / %d test rows, click rate %.4f, oracle Score %.4f (%.1fs)",
        out_dir, train_rows, test_rows, summary.click_rate_train, oracle["Score"], summary.seconds,
    )  # fmt: skip
    return summary
