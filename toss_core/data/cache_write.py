"""The cache build loop: stream a Parquet file into NPY shards (contract: toss_core.spec).

The Parquet file is read once, in record batches of data.shard_rows rows (fewer when they would hold
more than data.shard_mb of decoded input), each of which becomes one shard, so peak memory follows the
shard size, not the file size.
Train: the pass writes provisional cat ids (first-seen order) and raw numerics while it accumulates the
vocabularies and imputation statistics; a sweep over the just-written NPY shards (small fields, page
cache) then maps the ids to their final values, imputes, and adds the null masks. Test: one pass with
everything fitted taken from the TRAIN manifest. The directory only appears, manifest last, when the
whole build succeeded (ShardWriter).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from toss_core.config import DataConfig, TossConfig
from toss_core.data.reader import MANIFEST, ShardWriter
from toss_core.data.seqparse import MAX_DIGITS, SeqParseError, parse_sequences
from toss_core.data.seqvocab import OOV_ID, SeqVocab
from toss_core.data.shaping import shaping_config
from toss_core.data.stats import CatAccumulator, CatEncoder, NumericStats, cat_kind
from toss_core.util.errors import DataError
from toss_core.util.progress import Progress

log = logging.getLogger("toss")

_DEFAULT_BUCKETS = int(DataConfig.model_fields["hash_buckets"].default)
_ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, ValueError)


def _buckets(cfg: TossConfig, col: str) -> int:
    hb = cfg.data.hash_buckets
    n = hb.get(col, _DEFAULT_BUCKETS) if isinstance(hb, dict) else hb
    if n < 2:
        raise DataError(
            f"data.hash_buckets for column '{col}' is {n}: need at least 2 (id 0 is null/unknown)"
        )
    return int(n)


@dataclass
class Plan:
    """What one build reads, and what it maps values with."""

    kind: str
    path: Path
    out_dir: Path
    n_rows: int
    cat_cols: list[str]
    num_cols: list[str]
    qtok_cols: list[str]
    seq_col: str | None
    max_len: int
    label_col: str | None
    id_col: str | None
    fingerprint: dict[str, str]
    encoders: list[CatEncoder] = field(default_factory=list)
    fill: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    isna_idx: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    max_token: int | None = None  # sequence.max_token: train tokens above it become OOV
    vocab: SeqVocab | None = None  # raw token -> compact id (train: grown by the pass; test: train's)
    oov_tokens: int = 0  # tokens (sequence and query columns) mapped to the OOV id
    stats_extra: dict[str, Any] = field(default_factory=dict)

    @property
    def read_cols(self) -> list[str]:
        cols = [*self.cat_cols, *self.num_cols, *self.qtok_cols]
        cols += [c for c in (self.seq_col, self.label_col, self.id_col) if c is not None]
        return list(dict.fromkeys(cols))

    def seq_vocab(self) -> SeqVocab:
        """The vocabulary, made empty on first use (a cache with no sequence nor query column keeps it so)."""
        if self.vocab is None:
            self.vocab = SeqVocab(max_token=self.max_token)
        return self.vocab


def _fail(path: Path, col: str, row0: int, what: str) -> DataError:
    return DataError(f"{path}: column '{col}' (rows from {row0}): {what}")


def _record_batches(path: Path, cols: list[str], rows: int) -> Iterator[pa.RecordBatch]:
    """Batches of exactly `rows` rows (the last may be shorter), read one row group at a time.

    One reader per row group: a single PyArrow reader over the whole file keeps memory growing with
    every row group it passes (measured: +1 batch per batch on PyArrow 26), which would make peak
    memory follow the file size."""
    pf = pq.ParquetFile(path)
    pending: list[pa.RecordBatch] = []
    have = 0
    for group in range(pf.num_row_groups):
        for batch in pf.iter_batches(batch_size=rows, row_groups=[group], columns=cols):
            while batch.num_rows:
                take = min(rows - have, batch.num_rows)
                pending.append(batch.slice(0, take))
                have += take
                batch = batch.slice(take)
                if have == rows:
                    yield pending[0] if len(pending) == 1 else pa.concat_batches(pending)
                    pending, have = [], 0
    if pending:
        yield pending[0] if len(pending) == 1 else pa.concat_batches(pending)


def batch_rows(path: Path, cols: list[str], max_rows: int, max_bytes: int) -> int:
    """Rows per read batch: at most `max_rows`, and few enough that one batch of `cols` holds about
    `max_bytes` of decoded data (the footer's uncompressed sizes per row). A row count alone would let
    wide rows (Toss: ~2.6 KB of sequence text each) make a batch of gigabytes, several times over once
    the next batch is prefetched and the current one parsed."""
    meta = pq.ParquetFile(path).metadata
    wanted = set(cols)
    size = 0
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for i in range(group.num_columns):
            chunk = group.column(i)
            if chunk.path_in_schema.split(".")[0] in wanted:
                size += chunk.total_uncompressed_size
    per_row = max(size / max(meta.num_rows, 1), 1.0)
    return max(1, min(max_rows, int(max_bytes // per_row)))


def _batches(path: Path, cols: list[str], rows: int) -> Iterator[tuple[int, pa.RecordBatch]]:
    """(first row, batch) over the file; unreadable data becomes a DataError naming the file.

    The next batch is decoded on a worker thread (PyArrow releases the GIL) while the caller encodes
    the current one: at most two batches are alive, so memory stays bounded by the shard size."""
    batches = _record_batches(path, cols, rows)
    row0 = 0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="toss-parquet") as pool:
        pending = pool.submit(next, batches, None)
        while True:
            try:
                batch = pending.result()
            except (OSError, pa.ArrowException) as exc:
                raise DataError(f"{path}: cannot read columns {cols} near row {row0}: {exc}") from exc
            if batch is None:
                return
            pending = pool.submit(next, batches, None)
            yield row0, batch
            row0 += batch.num_rows


def _numeric(batch: pa.RecordBatch, cols: list[str], path: Path, row0: int) -> tuple[np.ndarray, np.ndarray]:
    """Column-major (float32 [k, n] values, bool [k, n] missing = null, NaN or infinite)."""
    values = np.empty((len(cols), batch.num_rows), dtype=np.float32)
    for j, col in enumerate(cols):
        arr = batch.column(col)
        if arr.type != pa.float32():
            try:
                arr = pc.cast(arr, pa.float32())
            except _ARROW_ERRORS as exc:
                raise _fail(path, col, row0, f"expected numbers, found {arr.type} values: {exc}") from exc
        values[j] = arr.to_numpy(zero_copy_only=False)
    return values, ~np.isfinite(values)


def _query_tokens(batch: pa.RecordBatch, col: str, path: Path, row0: int) -> np.ndarray:
    """A query column in the sequence vocabulary, as raw tokens: token + 1, null -> 0."""
    try:
        arr = pc.cast(batch.column(col), pa.float64())
    except _ARROW_ERRORS as exc:
        raise _fail(path, col, row0, f"expected integer tokens: {exc}") from exc
    v = arr.to_numpy(zero_copy_only=False)
    ok = np.isnan(v) | ((v >= 0) & (v < 10**MAX_DIGITS) & (v == np.floor(v)))
    if not ok.all():
        bad = int(np.flatnonzero(~ok)[0])
        raise _fail(path, col, row0, f"row {row0 + bad}: {v[bad]!r} is not a non-negative integer token")
    return np.where(np.isnan(v), 0, v + 1).astype(np.int32)


# ---------------------------------------------------------------------------------------------- fitting
@dataclass
class _TrainFit:
    """What the train pass accumulates: distinct cat values and numeric statistics."""

    cats: list[CatAccumulator]
    stats: NumericStats

    @classmethod
    def start(cls, plan: Plan, cfg: TossConfig) -> _TrainFit:
        schema = pq.ParquetFile(plan.path).schema_arrow
        return cls(
            cats=[CatAccumulator(c, cat_kind(schema.field(c).type)) for c in plan.cat_cols],
            stats=NumericStats(len(plan.num_cols), median=cfg.data.impute_strategy == "median"),
        )


def _finish_train(plan: Plan, cfg: TossConfig, fit: _TrainFit, writer: ShardWriter) -> None:
    """Fit ids and statistics, then rewrite each shard's cat/num fields with them and add the masks."""
    stats = fit.stats
    refine = stats.start_refine() if stats.hist is not None else []
    if refine:  # exact median: the columns whose median bin was guessed wrong, read back from the shards
        log.info("train cache: second look at %d numeric column(s) for the exact median", len(refine))
        for i in range(writer.n_shards):
            num = writer.load(i, "num")
            for j in refine:
                stats.refine(j, num[:, j])
    fitted = [acc.fit(_buckets(cfg, acc.column)) for acc in fit.cats]
    plan.encoders = [enc for enc, _ in fitted]
    plan.fill = stats.fill_values(cfg.data.impute_strategy)
    isna = stats.missing > 0 if cfg.data.add_isna_mask else np.zeros(len(plan.num_cols), bool)
    plan.isna_idx = np.flatnonzero(isna)
    plan.stats_extra = {
        "numeric": {
            "strategy": cfg.data.impute_strategy,
            "fill": plan.fill.tolist(),
            "mean": stats.means().tolist(),
            "observed": stats.count.tolist(),
            "missing": stats.missing.tolist(),
        }
    }
    progress = Progress("train cache: applying fitted ids and statistics", plan.n_rows)
    for i in range(writer.n_shards):
        cat = np.array(writer.load(i, "cat"))
        for j, (_, lut) in enumerate(fitted):
            cat[:, j] = lut[cat[:, j]]
        num = np.array(writer.load(i, "num"))
        missing = ~np.isfinite(num)
        arrays = {"cat": cat}
        if len(plan.isna_idx):
            arrays["isna"] = missing[:, plan.isna_idx].astype(np.uint8)
        np.copyto(num, np.broadcast_to(plan.fill, num.shape), where=missing)
        arrays["num"] = num
        writer.rewrite(i, arrays)
        progress.update(len(num))


def from_train_manifest(plan: Plan, train: dict[str, Any], train_dir: Path) -> None:
    cols = train["columns"]
    plan.encoders = [CatEncoder.from_dict(c, train["cat_encoders"][c]) for c in cols["cat"]]
    plan.fill = np.asarray(train["numeric"]["fill"], dtype=np.float32)
    plan.isna_idx = np.asarray([cols["num"].index(c) for c in cols["isna"]], dtype=np.int64)
    plan.vocab = SeqVocab.load(train_dir, train.get("seq_vocab"))
    plan.stats_extra = {
        "numeric": {"strategy": train["numeric"]["strategy"], "fill": train["numeric"]["fill"]}
    }


# ---------------------------------------------------------------------------------------------- writing
def _token_ids(plan: Plan, raw: np.ndarray) -> np.ndarray:
    """Raw tokens -> compact vocabulary ids (toss_core.data.seqvocab), OOV ones counted: the train pass
    adds the tokens it meets, so the vocabulary and the embedding tables sized by it follow the distinct
    tokens seen, never the largest token value; test tokens unseen in train become the OOV id."""
    ids, n_oov = plan.seq_vocab().encode(raw, grow=plan.kind == "train")
    plan.oov_tokens += n_oov
    return ids


def _encode(
    plan: Plan,
    batch: pa.RecordBatch,
    row0: int,
    unseen: np.ndarray,
    fit: _TrainFit | None,
    pool: ThreadPoolExecutor,
) -> dict[str, np.ndarray]:
    """One record batch -> the arrays of one shard (train: provisional cat ids and raw numerics).

    The sequence is parsed on `pool` while this thread encodes the other columns (NumPy releases the
    GIL in its loops), so the two biggest jobs of a shard share the cores."""
    n = batch.num_rows
    out: dict[str, np.ndarray] = {}
    seq_col, seq_job = plan.seq_col, None
    if seq_col is not None:
        seq_job = pool.submit(parse_sequences, batch.column(seq_col), plan.max_len)
    cat = np.zeros((n, len(plan.cat_cols)), dtype=np.int32)
    for j, col in enumerate(plan.cat_cols):
        arr = batch.column(col)
        try:
            cat[:, j] = fit.cats[j].provisional_ids(arr) if fit else plan.encoders[j].encode(arr)
        except _ARROW_ERRORS as exc:
            raise _fail(plan.path, col, row0, f"unreadable as a category: {exc}") from exc
        if not fit:
            unseen[j] += int(
                np.count_nonzero((cat[:, j] == 0) & arr.is_valid().to_numpy(zero_copy_only=False))
            )
    out["cat"] = cat
    values, missing = _numeric(batch, plan.num_cols, plan.path, row0)  # column-major: cheap per column
    if fit:
        fit.stats.update(values, missing)
    else:
        if len(plan.isna_idx):
            out["isna"] = np.ascontiguousarray(missing[plan.isna_idx].astype(np.uint8).T)
        np.copyto(values, np.broadcast_to(plan.fill[:, None], values.shape), where=missing)
    out["num"] = np.ascontiguousarray(values.T)  # rows for the cache: one transposing copy
    if seq_col is not None and seq_job is not None:
        try:
            parsed = seq_job.result()
        except SeqParseError as exc:
            raise _fail(plan.path, seq_col, row0, f"row {row0 + exc.row}: {exc.reason}") from exc
        out.update(seq=_token_ids(plan, parsed.ids), seq_len=parsed.seq_len, seq_len_raw=parsed.seq_len_raw)
    if plan.qtok_cols:
        raw = np.stack([_query_tokens(batch, c, plan.path, row0) for c in plan.qtok_cols], axis=1)
        out["qtok"] = _token_ids(plan, raw)
    if plan.label_col is not None:
        label = batch.column(plan.label_col)
        if label.null_count:
            raise _fail(plan.path, plan.label_col, row0, f"{label.null_count} null labels (expected 0/1)")
        out["label"] = pc.cast(label, pa.float32()).to_numpy(zero_copy_only=False)
    if plan.id_col is not None:
        ids = batch.column(plan.id_col)
        if ids.null_count:
            raise _fail(plan.path, plan.id_col, row0, f"{ids.null_count} null ids")
        out["id"] = pc.cast(ids, pa.string()).to_numpy(zero_copy_only=False).astype(str)
    return out


def write_cache(plan: Plan, cfg: TossConfig) -> tuple[Path, int, int]:
    """Stream the file into shards; returns (manifest path, shards, bytes)."""
    fit = _TrainFit.start(plan, cfg) if plan.kind == "train" else None
    unseen = np.zeros(len(plan.cat_cols), dtype=np.int64)
    progress = Progress(f"{plan.kind} cache", plan.n_rows)
    with (
        ShardWriter(plan.out_dir, plan.kind) as writer,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="toss-seq") as pool,
    ):
        rows = batch_rows(plan.path, plan.read_cols, cfg.data.shard_rows, cfg.data.shard_mb << 20)
        for row0, batch in _batches(plan.path, plan.read_cols, rows):
            writer.add(_encode(plan, batch, row0, unseen, fit, pool))
            progress.update(batch.num_rows)
        if fit is not None:
            _finish_train(plan, cfg, fit, writer)
        if plan.oov_tokens:
            log.warning(
                "%s cache: %d sequence token(s) became the out-of-vocabulary id %d (%s)",
                plan.kind,
                plan.oov_tokens,
                OOV_ID,
                "above sequence.max_token: raise or unset it to keep them"
                if plan.kind == "train"
                else "never seen in train",
            )
        if fit is None:
            _warn_unseen(plan, unseen)
        extra = _manifest_extra(plan, cfg, unseen)
        if plan.kind == "train":
            extra["seq_vocab"] = plan.seq_vocab().save(writer.tmp_dir)
            writer.bytes += (writer.tmp_dir / extra["seq_vocab"]["path"]).stat().st_size
        writer.commit(extra)
        progress.finish(f"{writer.n_shards} shards, {writer.bytes / 1e6:,.0f} MB")
        return plan.out_dir / MANIFEST, writer.n_shards, writer.bytes


def _warn_unseen(plan: Plan, unseen: np.ndarray) -> None:
    """A test cat column most of whose rows hold values train never had: the models see one unknown id
    there (train and test disagree on the column's encoding or meaning), so say so by name."""
    for encoder, count in zip(plan.encoders, unseen, strict=True):
        if plan.n_rows and count > plan.n_rows / 2:
            log.warning(
                "test cache: column '%s' of %s: %d of %d test rows hold values never seen in train "
                "(they all map to the unknown id); check that the column means the same in both files",
                encoder.column, plan.path, int(count), plan.n_rows,
            )  # fmt: skip


def _manifest_extra(plan: Plan, cfg: TossConfig, unseen: np.ndarray) -> dict[str, Any]:
    num = plan.num_cols
    extra: dict[str, Any] = {
        "columns": {
            "cat": plan.cat_cols,
            "num": num,
            "isna": [num[i] for i in plan.isna_idx],
            "qtok": plan.qtok_cols,
            "seq": plan.seq_col,
            "label": plan.label_col,
            "id": plan.id_col,
        },
        "cat_cardinalities": [e.cardinality for e in plan.encoders],
        "collisions": {e.column: e.collisions for e in plan.encoders},
        "unseen_rows": {e.column: int(u) for e, u in zip(plan.encoders, unseen, strict=True)},
        "max_len": plan.max_len if plan.seq_col is not None else 0,
        "seq_oov_id": OOV_ID,
        "seq_vocab_size": plan.seq_vocab().vocab_size,
        "seq_oov_tokens": plan.oov_tokens,
        "fingerprint": plan.fingerprint,
        "source": {"path": str(plan.path), "rows": plan.n_rows},
        "shaping_config": shaping_config(cfg),
        **plan.stats_extra,
    }
    if plan.kind == "train":
        extra["cat_encoders"] = {e.column: e.to_dict() for e in plan.encoders}
    return extra
