"""Memory that follows the shard, not the file: the streamed steps at 1× and 2× the rows.

`toss build-cache` (the test file's precheck, the train and the test cache) runs in its own process on
Toss-like rows (~2.6 KB of sequence text each) at N and 2N rows; its peak RSS may grow by at most half
of what N more rows of decoded input weigh (allocator noise on a busy machine reached a third of it). A
build that held the file, or its parsed sequences, would grow by at least that whole amount. The byte
bound on read batches is checked on its own: wide rows get batches of fewer rows than data.shard_rows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import SMOKE

from toss_core.data.cache_write import batch_rows
from toss_core.synth.writer import generate

N_ROWS = 40_000


def _decoded_bytes_per_row(path: Path) -> float:
    meta = pq.ParquetFile(path).metadata
    size = sum(
        meta.row_group(g).column(i).total_uncompressed_size
        for g in range(meta.num_row_groups)
        for i in range(meta.row_group(g).num_columns)
    )
    return size / meta.num_rows


def _build_peak_mb(data: Path, work: Path) -> float:
    """Peak RSS (MB) of `toss build-cache` over data/train.parquet and data/test.parquet."""
    sets = [
        "data.source=parquet",
        f"data.train_path={data / 'train.parquet'}",
        f"data.test_path={data / 'test.parquet'}",
        f"data.cache_dir={work / 'cache'}",
        "data.shard_rows=5000",
        "sequence.max_len=512",
    ]
    argv = [sys.executable, "-m", "toss_core.cli", "-q", "build-cache", "--cfg", str(SMOKE)]
    argv += [x for s in sets for x in ("--set", s)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    err = proc.stderr.read() if proc.stderr else ""
    _, status, usage = os.wait4(proc.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, err
    manifest = json.loads((work / "cache" / "train" / "manifest.json").read_text())
    assert max(s["rows"] for s in manifest["shards"]) <= 5000  # streamed in shards, as configured
    return usage.ru_maxrss / 1024


@pytest.mark.slow
def test_build_cache_peak_memory_does_not_follow_the_rows(tmp_path):
    peaks = {}
    for rows in (N_ROWS, 2 * N_ROWS):
        data = tmp_path / f"data_{rows}"
        generate(data, rows, rows // 4, seed=3, chunk_rows=10_000)
        peaks[rows] = _build_peak_mb(data, tmp_path / f"work_{rows}")
    per_row = _decoded_bytes_per_row(tmp_path / f"data_{N_ROWS}" / "train.parquet")
    added_mb = 1.25 * N_ROWS * per_row / 1e6  # N more train rows and N/4 more test rows, decoded
    assert per_row > 2000  # Toss-like rows, so the margin below is a real amount of memory
    growth = peaks[2 * N_ROWS] - peaks[N_ROWS]
    assert growth < 0.5 * added_mb, f"peak RSS {peaks} MB grew by {growth:.0f} MB for {added_mb:.0f} MB more"


def test_wide_rows_get_batches_bounded_in_bytes(tmp_path):
    path = tmp_path / "wide.parquet"
    text = "1," * 500  # ~1 KB per row
    pq.write_table(pa.table({"seq": [text] * 2000, "x": list(range(2000))}), path, use_dictionary=False)
    assert batch_rows(path, ["x"], 1000, 64 << 10) == 1000  # narrow columns: the row cap decides
    rows = batch_rows(path, ["seq"], 1000, 64 << 10)
    assert 50 <= rows <= 70  # 64 KB of ~1 KB rows
    assert batch_rows(path, ["seq"], 10, 64 << 10) == 10
